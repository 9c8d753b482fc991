"""Benchmark: what persisting a step costs next to the engine itself, measured side by side in one run.

Run with ``make bench`` (or ``.venv/bin/python -m bench.run``). Prints medians and, for each target, its
ratio; no pass/fail. The machines this runs on are shared and noisy: the runs of what is compared are
interleaved (one of each in turn), and the load average is printed before and after.

1. The HV path ``hv_solo`` (13 user tasks, 14 transactions): raw SpiffWorkflow in memory (our script
   engine and handlers, no database: ``Engine.scenario_runner``) against the facade on SQLite as shipped
   (WAL, ``synchronous=FULL``: every commit on disk before it is answered), and the same with
   ``synchronous=NORMAL`` to show what durability costs. Target: persisted ≤ 2 × raw.
2. Accepting an application: a raw start (validate, run to the first wait) against ``Engine.start``.
   Target ≤ 3 × raw.
3. Database growth per user task on the HV path, audit trail included (SQLite's own page accounting).
   Target ≤ 2 KB.
4. A step after 50 design-review send-back loops against a step after one, with the workflow cached and
   reloaded from the database each step; SpiffWorkflow's own step cost (which walks its whole task tree)
   is measured apart, in memory. Target ≤ 1.3.

Like ``baozhuang serve``, the benchmark moves what start-up built out of the garbage collector's way
(``cli.main.settle``) before it measures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

import handlers
from bench.population import deploy_without_site_work
from cli.demo import Scenario, Step, actor_for, create_demo_users, load_scenarios
from cli.main import settle
from engine import Engine, ScenarioRunner, StepResult

REPO = Path(__file__).resolve().parent.parent
PROCESSES = REPO / "processes"
SQLITE_DURABILITY = ("FULL", "NORMAL")


def light_registry() -> dict[str, handlers.Operator]:
    """The real rules, but contract generation replaced by a stub (isolates engine + storage cost)."""
    reg = dict(handlers.build_registry())

    def generate_contract(ctx: handlers.HandlerContext, contract_kind: str) -> dict[str, Any]:
        return {"kind": contract_kind, "title": contract_kind, "documents": {}}

    reg["generate_contract"] = handlers.Operator("generate_contract", generate_contract, ("contract_kind",), (), "合同")
    return reg


def load() -> str:
    """The load average, for the record."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} on {os.cpu_count()} cores"


def facade_engine(folder: Path, registry: Mapping[str, handlers.Operator], synchronous: str = "FULL") -> Engine:
    """An engine on a fresh SQLite file: shipped processes (without site-work marks), demo users. The
    shipped durability is FULL; ``NORMAL`` is set here, for comparison only."""
    folder.mkdir(parents=True, exist_ok=True)
    engine = Engine({"database_url": f"sqlite:///{folder / 'bench.db'}", "documents_dir": folder / "docs",
                     "max_loop_iterations": 500}, registry=registry)
    if synchronous != "FULL":
        @event.listens_for(engine.store.sa_engine, "connect")
        def _durability(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute(f"PRAGMA synchronous={synchronous}")
    engine.init_schema()
    engine.deploy_shipped()
    create_demo_users(engine)
    # The in-memory run has no dispatcher: compare like with like (a step's cost, not the site work around it).
    deploy_without_site_work(engine)
    return engine


def synchronous_of(engine: Engine) -> str:
    """SQLite's synchronous setting as a connection of the engine reports it."""
    with engine.store.read() as conn:
        value = conn.exec_driver_sql("PRAGMA synchronous").scalar()
    return {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(int(value or 0), str(value))


def in_memory_run(runner: ScenarioRunner, scenario: Scenario) -> float:
    """One instance on raw SpiffWorkflow in memory: seconds."""
    t0 = time.perf_counter()
    outcome = runner.run(scenario.start, [(step.node, step.data) for step in scenario.steps])
    elapsed = time.perf_counter() - t0
    assert outcome.completed, f"in-memory run did not complete: {outcome.problem}"
    return elapsed


def complete_next(engine: Engine, result: StepResult, step: Step) -> StepResult:
    """Complete the scenario step's task among the ready ones."""
    task = next(t for t in result.ready_tasks if t.node_id == step.node)
    return engine.complete(task.id, actor_for(engine, task.role, task.assignee), step.data)


def facade_run(engine: Engine, scenario: Scenario, per_step: Callable[[], None] | None = None) -> float:
    """One instance through the facade, each step its own transaction: seconds."""
    t0 = time.perf_counter()
    result = engine.start(scenario.process, scenario.start, "frontdesk")
    for step in scenario.steps:
        result = complete_next(engine, result, step)
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


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


# ----------------------------------------------------------------------------- 1. the HV path


def hv_path(label: str, n: int, registry: Mapping[str, handlers.Operator], scenario: Scenario, tmp: Path) -> None:
    """Raw, FULL, NORMAL and FULL reloading every step, interleaved instance by instance."""
    engines = {sync: facade_engine(tmp / f"{label[:3]}-{sync}", registry, sync) for sync in SQLITE_DURABILITY}
    shipped = engines["FULL"]
    assert synchronous_of(shipped) == "FULL" and synchronous_of(engines["NORMAL"]) == "NORMAL"
    runner = shipped.scenario_runner(scenario.process)  # the same diagram, in memory only
    for _ in range(3):  # warm caches (parse, compiled expressions, validators)
        in_memory_run(runner, scenario)
        for engine in engines.values():
            facade_run(engine, scenario)
    settle()  # as baozhuang serve does once started
    raw: list[float] = []
    timed: dict[str, list[float]] = {"FULL": [], "NORMAL": [], "reload": []}
    for i in range(n):
        raw.append(in_memory_run(runner, scenario))
        timed["FULL"].append(facade_run(shipped, scenario))
        timed["NORMAL"].append(facade_run(engines["NORMAL"], scenario))
        if i % 2 == 0:
            timed["reload"].append(facade_run(shipped, scenario, shipped.forget_cached_workflows))
    for engine in engines.values():
        engine.dispose()
    m = median_ms(raw)
    full, normal, reload = (median_ms(timed[k]) for k in ("FULL", "NORMAL", "reload"))
    commits = len(scenario.steps) + 1
    print(f"  {label}: raw SpiffWorkflow {m:6.2f} ms")
    print(f"    persisted, synchronous=FULL (shipped)   {full:7.2f} ms   ratio {full / m:5.2f}   (target ≤ 2)")
    print(f"    persisted, synchronous=NORMAL           {normal:7.2f} ms   ratio {normal / m:5.2f}   "
          f"→ FULL costs {full - normal:+.2f} ms, {(full - normal) / commits:+.2f} ms per commit")
    print(f"    persisted, FULL, reloaded every step    {reload:7.2f} ms   ratio {reload / m:5.2f}")


# ----------------------------------------------------------------------------- 2. starting


def starts(n: int, registry: Mapping[str, handlers.Operator], scenario: Scenario, tmp: Path) -> None:
    """A raw start against a persisted one, interleaved."""
    engines = {sync: facade_engine(tmp / f"start-{sync}", registry, sync) for sync in SQLITE_DURABILITY}
    runner = engines["FULL"].scenario_runner(scenario.process)
    settle()  # as baozhuang serve does once started
    timed: dict[str, list[float]] = {"raw": [], "FULL": [], "NORMAL": []}
    for i in range(n + 5):
        t0 = time.perf_counter()
        runner.accept(scenario.start)
        raw = time.perf_counter() - t0
        persisted = {}
        for sync, engine in engines.items():
            t0 = time.perf_counter()
            engine.start(scenario.process, scenario.start, "frontdesk")
            persisted[sync] = time.perf_counter() - t0
        if i >= 5:  # the first few warm the caches
            timed["raw"].append(raw)
            for sync, seconds in persisted.items():
                timed[sync].append(seconds)
    for engine in engines.values():
        engine.dispose()
    raw_ms, full, normal = (median_ms(timed[k]) for k in ("raw", "FULL", "NORMAL"))
    print(f"  raw start (validate, run to the first wait) {raw_ms:6.2f} ms")
    print(f"    Engine.start, synchronous=FULL (shipped)   {full:6.2f} ms   ratio {full / raw_ms:5.2f}   (target ≤ 3)")
    print(f"    Engine.start, synchronous=NORMAL           {normal:6.2f} ms   ratio {normal / raw_ms:5.2f}")


# ----------------------------------------------------------------------------- 3. growth


def database_growth(registry: Mapping[str, handlers.Operator], scenario: Scenario, instances: int, tmp: Path) -> None:
    """Bytes the database grows by per user task, by table (indexes counted with their table)."""
    engine = facade_engine(tmp / "growth", registry)

    def sizes() -> dict[str, int]:
        with engine.store.read() as conn:
            pages = conn.execute(text("SELECT name, SUM(pgsize - unused) FROM dbstat GROUP BY name")).all()
            owners: dict[str, str] = {row.name: row.tbl_name
                                      for row in conn.execute(text("SELECT name, tbl_name FROM sqlite_master"))}
        out: dict[str, int] = {}
        for name, used in pages:
            table = owners.get(name, name)
            out[table] = out.get(table, 0) + int(used or 0)
        return out

    def rows() -> dict[str, int]:
        with engine.store.read() as conn:
            return {t: int(conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one())
                    for t in ("wf_tasks", "audit_events", "work_items")}

    facade_run(engine, scenario)
    before, rows_before = sizes(), rows()
    for _ in range(instances):
        facade_run(engine, scenario)
    after, rows_after = sizes(), rows()
    engine.dispose()
    tasks = instances * len(scenario.steps)
    growth = {t: (after.get(t, 0) - before.get(t, 0)) / tasks for t in after}
    total = sum(growth.values())
    parts = sorted(((b, t) for t, b in growth.items() if b >= 1), reverse=True)
    print(f"  {total:,.0f} bytes per user task (target ≤ 2,048; ratio {total / 2048:.2f}), {instances} instances of "
          f"{scenario.name}, tables with their indexes:")
    print("    " + ", ".join(f"{t} {b:,.0f}" for b, t in parts))
    print("    rows per user task: " + ", ".join(f"{t} {(rows_after[t] - rows_before[t]) / tasks:.2f}"
                                           for t in rows_after))


# ----------------------------------------------------------------------------- 4. long histories


def drive_to_loop(engine: Engine, base: Scenario, loops: int, extra: int) -> tuple[StepResult, list[Step]]:
    """An application taken through ``loops`` send-back loops; the next ``2 × extra`` loop steps."""
    scenario = with_loops(base, loops + extra)
    first = next(i for i, s in enumerate(scenario.steps) if s.node == "hv_design_review")
    result = engine.start(scenario.process, scenario.start, "frontdesk")
    for step in scenario.steps[:first + 2 * loops]:
        result = complete_next(engine, result, step)
    return result, list(scenario.steps[first + 2 * loops:first + 2 * loops + 2 * extra])


def loop_steps(registry: Mapping[str, handlers.Operator], base: Scenario, tmp: Path, apps: int, extra: int = 3,
               depths: tuple[int, int] = (1, 50)) -> None:
    """The cost of one loop step at two depths of history, cached and reloaded, interleaved; SpiffWorkflow's
    own, in memory, for the very same steps of the same path."""
    engine = facade_engine(tmp / "loops", registry)
    runner = engine.scenario_runner(base.process)
    settle()  # as baozhuang serve does once started
    timed: dict[tuple[str, int], list[float]] = {(mode, d): [] for mode in ("cached", "reloaded") for d in depths}
    raw: dict[int, list[float]] = {d: [] for d in depths}
    first = next(i for i, s in enumerate(base.steps) if s.node == "hv_design_review")
    for round_ in range(apps + 1):
        for depth in depths:
            for mode in ("cached", "reloaded"):
                result, todo = drive_to_loop(engine, base, depth, extra)
                for step in todo:
                    if mode == "reloaded":
                        engine.forget_cached_workflows()  # another process served the previous step
                    t0 = time.perf_counter()
                    result = complete_next(engine, result, step)
                    if round_:
                        timed[(mode, depth)].append(time.perf_counter() - t0)
            scenario = with_loops(base, depth + extra)
            outcome = runner.run(scenario.start, [(s.node, s.data) for s in scenario.steps])
            assert outcome.completed, outcome.problem
            if round_:
                raw[depth].extend(outcome.step_seconds[first + 2 * depth:first + 2 * (depth + extra)])
    engine.dispose()
    low, high = depths
    spiff = {d: median_ms(raw[d]) for d in depths}
    print(f"  SpiffWorkflow alone, in memory: {spiff[low]:.2f} ms per loop step after {low} loop(s), "
          f"{spiff[high]:.2f} ms after {high} (ratio {spiff[high] / spiff[low]:.2f}: its own walks of the task tree)")
    for mode in ("cached", "reloaded"):
        a, b = median_ms(timed[(mode, low)]), median_ms(timed[(mode, high)])
        ours_a, ours_b = a - spiff[low], b - spiff[high]
        print(f"    persisted, {mode:<8}: {a:6.2f} ms after {low}, {b:6.2f} ms after {high}   ratio {b / a:5.2f} "
              f"(target ≤ 1.3);  beyond SpiffWorkflow's own {ours_a:5.2f} → {ours_b:5.2f} ms, ratio {ours_b / ours_a:5.2f}")


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=30, help="instances per measurement of the HV path")
    parser.add_argument("--loop-apps", type=int, default=6, help="applications per depth in the loop measurement")
    args = parser.parse_args()
    scenarios = {s.name: s for s in load_scenarios(PROCESSES / "paths.json")}
    hv = scenarios["hv_solo"]
    print(f"{load()} (before)\n")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        print(f"1. HV path {hv.name} ({len(hv.steps)} user tasks, {len(hv.steps) + 1} transactions), median of {args.n}:")
        hv_path("rules only (contract stubbed)", args.n, light_registry(), hv, tmp)
        hv_path("all handlers (DOCX contract)", max(10, args.n // 3), handlers.build_registry(), hv, tmp)
        print(f"\n2. Accepting an application ({hv.name}), median of {args.n}:")
        starts(args.n, light_registry(), hv, tmp)
        print("\n3. Database growth:")
        database_growth(light_registry(), hv, 10, tmp)
        print(f"\n4. A design-review loop step after 1 and after 50 loops, median over {args.loop_apps} applications:")
        loop_steps(light_registry(), scenarios["hv_design_review_sendback"], tmp, args.loop_apps)
    print(f"\n{load()} (after)")


if __name__ == "__main__":
    main()
