"""Benchmark: what the customer's side costs.

* A whole application with and without the customer's step hooks (notices queued at acceptance and at marked
  tasks, the independent 回访 opened at power on): the HV path with a failed completion inspection
  (``hv_completion_rectify``: acceptance, missing documents, rectification, contract and power-on notices,
  a 回访) through the facade on SQLite, two engines built alike, runs interleaved; medians and the ratio.
* The progress page's data, per lookup: before — the application read to check the phone digits, then its
  step list (``public_progress``); now — the same plus ``customer_progress`` (milestones with the current
  one's limit, the manager, the firms in rotation, the customer's cases); p50/p95 over applications at every
  stage, measured alternately.
* Delivery of queued notices to a notifier that does nothing: notices per second (one claim and one mark,
  each its own transaction, per notice).

Run ``.venv/bin/python -m bench.customer [-n 20]``. Prints figures and ratios; no pass/fail.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.population import deploy_without_site_work
from bench.run import PROCESSES, facade_run, light_registry
from cli.demo import create_demo_users, drive, load_scenarios
from engine import Engine

CUSTOMER_HOOKS = {"CustomerNoticeHook", "FollowUpHook"}
"""The customer's side's step hooks, by class name (the bench reaches the engine through its facade only)."""


class Silent:
    """A notifier that sends nothing (delivery's own cost)."""

    def send(self, recipient: str, message: str) -> str:
        return "bench"


def facade_engine(tmp: Path) -> Engine:
    """A fresh SQLite database with the shipped processes, minus their site-work marks (no dispatcher here),
    the demo users and firms; notices go to a notifier that sends nothing."""
    engine = Engine({"database_url": f"sqlite:///{tmp / 'bench.db'}", "documents_dir": tmp / "docs"},
                    registry=light_registry(), notifier=Silent())
    engine.init_schema()
    engine.deploy_shipped()
    create_demo_users(engine)
    engine.create_user("bench", "基准测试", ["analyst"], "bench")  # deploys the diagrams without site work
    deploy_without_site_work(engine)
    return engine


def without_customer_hooks(engine: Engine) -> Engine:
    engine.steps.hooks = tuple(h for h in engine.steps.hooks if type(h).__name__ not in CUSTOMER_HOOKS)
    return engine


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def step_cost(n: int) -> None:
    scenarios = {s.name: s for s in load_scenarios(PROCESSES / "paths.json")}
    scenario = scenarios["hv_completion_rectify"]
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        with_hooks = facade_engine(Path(a))
        without = without_customer_hooks(facade_engine(Path(b)))
        for engine in (with_hooks, without):
            for _ in range(3):
                facade_run(engine, scenario)
        times: dict[str, list[float]] = {"with": [], "without": []}
        for _ in range(n):  # interleaved: the machine's drift hits both alike
            times["with"].append(facade_run(with_hooks, scenario))
            times["without"].append(facade_run(without, scenario))
        queued = with_hooks.queued_notices()
        follow_ups = len(with_hooks.follow_ups(limit=100_000))
        with_hooks.dispose()
        without.dispose()
    w, wo = (statistics.median(times[k]) * 1000 for k in ("with", "without"))
    transactions = len(scenario.steps) + 1
    print(f"HV path {scenario.name} ({transactions} transactions), median of {n} interleaved runs each:")
    print(f"  with the customer's hooks    {w:8.2f} ms   ({w / transactions:5.2f} ms per transaction)")
    print(f"  without them                 {wo:8.2f} ms   ({wo / transactions:5.2f} ms per transaction)")
    print(f"  ratio {w / wo:5.3f}; {queued // (n + 3)} notices queued and 1 回访 opened per application "
          f"({queued} and {follow_ups} in all)")


def progress_lookups(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = facade_engine(Path(tmp))
        app_nos = []
        for scenario in load_scenarios(PROCESSES / "paths.json"):
            for stop in range(0, len(scenario.steps) + 1, 3):  # every third stage of every path
                last = None
                for last in drive(engine, scenario, stop):
                    pass
                assert last is not None
                app_nos.append(last.app_no)
        for app_no in app_nos[:5]:
            engine.customer_progress(app_no)
            engine.public_progress(app_no)
        times: dict[str, list[float]] = {"before": [], "now": [], "customer": []}
        for _ in range(max(1, n // 10)):
            for app_no in app_nos:
                t0 = time.perf_counter()
                engine.application(app_no)
                engine.public_progress(app_no)
                t1 = time.perf_counter()
                engine.application(app_no)
                engine.public_progress(app_no)
                t2 = time.perf_counter()
                engine.customer_progress(app_no)
                t3 = time.perf_counter()
                times["before"].append((t1 - t0) * 1000)
                times["now"].append((t3 - t1) * 1000)
                times["customer"].append((t3 - t2) * 1000)
        engine.dispose()
    b, w, c = times["before"], times["now"], times["customer"]
    print(f"\nprogress page data over {len(app_nos)} applications at every stage ({len(b)} lookups each):")
    print(f"  before (application + step list)        p50 {pct(b, 50):6.2f} ms  p95 {pct(b, 95):6.2f} ms")
    print(f"  now (the same + customer_progress)      p50 {pct(w, 50):6.2f} ms  p95 {pct(w, 95):6.2f} ms   "
          f"(ratio of p50 {pct(w, 50) / pct(b, 50):4.2f})")
    print(f"  of which customer_progress              p50 {pct(c, 50):6.2f} ms  p95 {pct(c, 95):6.2f} ms")


def delivery(n: int) -> None:
    scenarios = {s.name: s for s in load_scenarios(PROCESSES / "paths.json")}
    with tempfile.TemporaryDirectory() as tmp:
        engine = facade_engine(Path(tmp))
        for _ in range(n * 5):
            engine.start("hv", scenarios["hv_solo"].start, "frontdesk")
        queued = engine.queued_notices()
        t0 = time.perf_counter()
        sent = engine.deliver_notices(limit=100_000)
        elapsed = time.perf_counter() - t0
        engine.dispose()
    assert len(sent) == queued
    print(f"\ndelivery of {queued} queued notices: {elapsed * 1000:.0f} ms, {queued / elapsed:,.0f} notices/s")


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=20, help="runs per measurement")
    args = parser.parse_args()
    step_cost(args.n)
    progress_lookups(args.n)
    delivery(args.n)


if __name__ == "__main__":
    main()
