"""Benchmark: raw in-memory SpiffWorkflow vs the persisted facade, and bytes written per step.

Run with ``make bench`` (or ``.venv/bin/python -m bench.run``). Prints medians and ratios; no
pass/fail — targets: facade/in-memory ≤ 2, bytes per step flat as the history grows.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event

import handlers
from bench.population import deploy_without_site_work
from cli.demo import Scenario, Step, actor_for, create_demo_users, load_scenarios
from engine import Engine, ScenarioRunner

REPO = Path(__file__).resolve().parent.parent
PROCESSES = REPO / "processes"


def light_registry() -> dict[str, handlers.Operator]:
    """The real rules, but contract generation replaced by a stub (isolates engine + storage cost)."""
    reg = dict(handlers.build_registry())

    def generate_contract(ctx: handlers.HandlerContext, contract_kind: str) -> dict[str, Any]:
        return {"kind": contract_kind, "title": contract_kind, "documents": {}}

    reg["generate_contract"] = handlers.Operator("generate_contract", generate_contract, ("contract_kind",), (), "合同")
    return reg


def in_memory_run(runner: ScenarioRunner, scenario: Scenario) -> float:
    """One instance on raw SpiffWorkflow in memory (our script engine and handlers, no database): seconds."""
    t0 = time.perf_counter()
    outcome = runner.run(scenario.start, [(step.node, step.data) for step in scenario.steps])
    elapsed = time.perf_counter() - t0
    assert outcome.completed, f"in-memory run did not complete: {outcome.problem}"
    return elapsed


class ByteCounter:
    """Counts the bytes of parameters sent with INSERT/UPDATE statements."""

    def __init__(self, engine: Engine) -> None:
        self.bytes = 0
        event.listen(engine.store.sa_engine, "before_cursor_execute", self._count)

    def _count(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if not statement.lstrip().upper().startswith(("INSERT", "UPDATE")):
            return
        rows = parameters if executemany else [parameters]
        for row in rows:
            values = row.values() if isinstance(row, Mapping) else row
            for value in values:
                if isinstance(value, (str, bytes)):
                    self.bytes += len(value.encode("utf-8") if isinstance(value, str) else value)
                elif value is not None:
                    self.bytes += 8


def facade_engine(tmp: Path, registry: Mapping[str, handlers.Operator]) -> Engine:
    engine = Engine({"database_url": f"sqlite:///{tmp / 'bench.db'}", "documents_dir": tmp / "docs",
                     "max_loop_iterations": 500}, registry=registry)
    engine.init_schema()
    engine.deploy_shipped()
    create_demo_users(engine)
    # The in-memory run has no dispatcher: compare like with like (a step's cost, not the site work around it).
    deploy_without_site_work(engine)
    return engine


def facade_run(engine: Engine, scenario: Scenario, per_step: Callable[[], None] | None = None) -> float:
    """One instance through the facade, each step its own transaction: seconds."""
    t0 = time.perf_counter()
    result = engine.start(scenario.process, scenario.start, "frontdesk")
    for step in scenario.steps:
        task = next(t for t in result.ready_tasks if t.node_id == step.node)
        result = engine.complete(task.id, actor_for(engine, task.role, task.assignee), step.data)
        if per_step:
            per_step()
    assert result.status == "completed", result
    return time.perf_counter() - t0


def with_loops(base: Scenario, loops: int) -> Scenario:
    """The design-review send-back path with the review ⇄ rectification loop run ``loops`` times."""
    steps = list(base.steps)
    first = next(i for i, s in enumerate(steps) if s.node == "hv_design_review")
    fail, rectify, passed = steps[first], steps[first + 1], steps[first + 2]
    assert rectify.node == "hv_design_rectify" and passed.node == "hv_design_review"
    looped = steps[:first] + [fail, rectify] * loops + steps[first + 2:]
    return Scenario(f"{base.name}x{loops}", base.title, base.process, base.start, tuple(Step(s.node, s.data) for s in looped))


def timing(label: str, n: int, registry: Mapping[str, handlers.Operator], scenario: Scenario) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = facade_engine(Path(tmp), registry)
        runner = engine.scenario_runner(scenario.process)  # the same diagram, in memory only
        for _ in range(3):
            in_memory_run(runner, scenario)  # warm caches (parse, compiled expressions, validators)
        mem = [in_memory_run(runner, scenario) for _ in range(n)]
        for _ in range(3):
            facade_run(engine, scenario)
        warm = [facade_run(engine, scenario) for _ in range(n)]
        cold = [facade_run(engine, scenario, engine.forget_cached_workflows) for _ in range(max(5, n // 4))]
        engine.dispose()
    m, w, c = (statistics.median(x) * 1000 for x in (mem, warm, cold))
    steps = len(scenario.steps) + 1
    print(f"{label:<34} in-memory {m:7.2f} ms   facade+SQLite {w:7.2f} ms  (ratio {w / m:4.2f})   "
          f"reload every step {c:7.2f} ms (ratio {c / m:4.2f})   [{steps} transactions]")


def bytes_per_step(registry: Mapping[str, handlers.Operator], base: Scenario) -> None:
    print("\nbytes written (INSERT/UPDATE parameters) on the design-review send-back path:")
    print(f"{'loops':>6} {'steps':>6} {'per instance':>14} {'mean/step':>10} {'first 5 loop steps':>20} {'last 5 loop steps':>19}")
    with tempfile.TemporaryDirectory() as tmp:
        engine = facade_engine(Path(tmp), registry)
        counter = ByteCounter(engine)
        for loops in (1, 10, 50):
            scenario = with_loops(base, loops)
            per_step: list[int] = []
            last = [counter.bytes]

            def record() -> None:
                per_step.append(counter.bytes - last[0])
                last[0] = counter.bytes

            start_bytes = counter.bytes
            facade_run(engine, scenario, record)
            total = counter.bytes - start_bytes
            first = next(i for i, s in enumerate(scenario.steps) if s.node == "hv_design_review")
            loop_steps = per_step[first:first + 2 * loops]
            head = statistics.mean(loop_steps[:5]) if loop_steps else 0
            tail = statistics.mean(loop_steps[-5:]) if loop_steps else 0
            print(f"{loops:>6} {len(scenario.steps) + 1:>6} {total:>14,} {total / (len(scenario.steps) + 1):>10,.0f} "
                  f"{head:>20,.0f} {tail:>19,.0f}")
        engine.dispose()


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=40, help="instances per measurement")
    args = parser.parse_args()
    scenarios = {s.name: s for s in load_scenarios(PROCESSES / "paths.json")}
    hv = scenarios["hv_solo"]
    print(f"HV instance = path hv_solo ({len(hv.steps)} user tasks); median of {args.n} instances\n")
    timing("rules only (contract stubbed)", args.n, light_registry(), hv)
    timing("all handlers (DOCX contract)", max(10, args.n // 4), handlers.build_registry(), hv)
    bytes_per_step(light_registry(), scenarios["hv_design_review_sendback"])


if __name__ == "__main__":
    main()
