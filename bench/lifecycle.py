"""Benchmark: what the case lifecycle and the forms' business rules cost, next to what a step costs.

Run with ``.venv/bin/python -m bench.lifecycle``. Prints medians and ratios measured side by side in one run,
no pass/fail:

* one submission validated by its form, without and with the business check the form names (``x-check``);
* on SQLite, per action: completing a task (the yardstick), 暂停, 恢复, 更正, 撤销;
* replaying a case whose history holds a correction and a withdrawal vs one that does not.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.population import deploy_without_site_work
from bench.run import PROCESSES, light_registry
from cli.demo import Scenario, actor_for, create_demo_users, load_scenarios
from engine import Engine, FormDefinition

PLAIN_KEYS = ("x-check",)


def bench_engine(tmp: Path) -> Engine:
    """An engine on a fresh SQLite file: the shipped processes without site-work marks (no dispatcher here)."""
    engine = Engine({"database_url": f"sqlite:///{tmp / 'bench.db'}", "documents_dir": tmp / "docs"},
                    registry=light_registry())
    engine.init_schema()
    engine.deploy_shipped()
    create_demo_users(engine)
    engine.create_user("bench", "基准测试", ["analyst"], "bench")
    deploy_without_site_work(engine)
    return engine


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(action: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    action()
    return time.perf_counter() - t0


def validation(engine: Engine, scenario: Scenario, rounds: int) -> None:
    """The acceptance and plan forms, without and with their named business check."""
    start = engine.start_form("hv")
    assert start is not None
    _, by_node = engine.application_forms(engine.start("hv", scenario.start, "frontdesk").app_no)
    plan_form = by_node["hv_draft_supply_plan"]
    plan_data = next(s.data for s in scenario.steps if s.node == "hv_draft_supply_plan")
    print("one submission validated (median of", rounds, "):")
    for form, data in ((start, scenario.start), (plan_form, plan_data)):
        plain = FormDefinition(form.name + "#unchecked",
                               {k: v for k, v in form.schema.items() if k not in PLAIN_KEYS})
        for candidate in (plain, form):
            candidate.validate(data)  # compile and cache the validator first
        schema_only = [timed(lambda: plain.validate(data)) for _ in range(rounds)]
        full = [timed(lambda: form.validate(data)) for _ in range(rounds)]
        s, f = median_ms(schema_only), median_ms(full)
        print(f"  {form.name:<28} without its x-check {s:6.3f} ms   with it {f:6.3f} ms   (ratio {f / s:4.2f})")


def actions(engine: Engine, scenario: Scenario, n: int) -> tuple[list[str], list[str]]:
    """n cases two steps in; each takes a step, then is suspended, resumed, corrected and withdrawn."""
    times: dict[str, list[float]] = {k: [] for k in ("complete", "suspend", "resume", "correct", "withdraw")}
    ended, plain = [], []
    for i in range(n):
        result = engine.start("hv", scenario.start, "frontdesk")
        for step in scenario.steps[:2]:
            task = next(t for t in result.ready_tasks if t.node_id == step.node)
            result = engine.complete(task.id, actor_for(engine, task.role, task.assignee), step.data)
        task = result.ready_tasks[0]
        step = scenario.steps[2]
        times["complete"].append(timed(lambda: engine.complete(task.id, "marketing", step.data)))
        if i % 2:
            plain.append(result.app_no)
            continue
        app_no = result.app_no
        times["suspend"].append(timed(lambda: engine.suspend(app_no, "客户申请暂缓", by="marketing")))
        times["resume"].append(timed(lambda: engine.resume(app_no, "", by="marketing")))
        times["correct"].append(timed(lambda: engine.correct(app_no, "contact_name", f"联系人{i}", "客户更换联系人",
                                                           by="marketing")))
        times["withdraw"].append(timed(lambda: engine.withdraw(app_no, "客户撤回", by="marketing")))
        ended.append(app_no)
    base = median_ms(times["complete"])
    print(f"\nper action on SQLite (median of {len(times['suspend'])}):")
    for name, samples in times.items():
        print(f"  {name:<9} {median_ms(samples):7.2f} ms   (ratio to completing a task {median_ms(samples) / base:4.2f})")
    return ended, plain


def replays(engine: Engine, ended: list[str], plain: list[str]) -> None:
    def replay_all(apps: list[str]) -> list[float]:
        out = []
        for app_no in apps:
            t0 = time.perf_counter()
            report = engine.replay(app_no, by="auditor")
            out.append(time.perf_counter() - t0)
            assert report.verified, report.message
        return out

    with_actions, without = replay_all(ended), replay_all(plain)
    a, b = median_ms(with_actions), median_ms(without)
    print(f"\nreplay (verified) of a case: with a correction and a withdrawal {a:6.2f} ms, without {b:6.2f} ms "
          f"(ratio {a / b:4.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30, help="cases per measurement")
    args = parser.parse_args()
    scenario = next(s for s in load_scenarios(PROCESSES / "paths.json") if s.name == "hv_solo")
    with tempfile.TemporaryDirectory() as tmp:
        engine = bench_engine(Path(tmp))
        validation(engine, scenario, 2000)
        ended, plain = actions(engine, scenario, args.n * 2)
        replays(engine, ended, plain)
        engine.dispose()


if __name__ == "__main__":
    main()
