"""Benchmark at a province's size: task lists, search, the supervision dashboard and audit verify over
N applications (default 20,000 for a quick run; ``--applications 1000000`` for the real figure).

    python -m bench.scale --db postgresql+psycopg://postgres@127.0.0.1:55433/scale --applications 1000000

The database (``--db`` or ``BAOZHUANG_BENCH_DB``; default a SQLite file under instance/bench/) is
filled by :mod:`bench.population` when it holds fewer applications than asked for (a filled one gets any
index an interrupted load left missing rebuilt, and fresh statistics), then every scenario
is timed: p50 and p95 over ``--repeat`` runs, and the p95 against its target (task list and search
p95 < 50 ms, dashboard < 1 s).  No pass/fail: the figures and ratios are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, func, select

from engine import Engine, Period, tables
from cli.demo import create_demo_users

from bench.population import BulkWriter, Plan, deploy_without_site_work, populate

REPO = Path(__file__).resolve().parent.parent
APPS, ITEMS = tables.APPS, tables.ITEMS
TARGET_LIST_MS = 50.0
TARGET_DASHBOARD_MS = 1000.0


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """p50 and p95 in milliseconds (after one warm-up call)."""
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95 + 0.5) - 1)]


def open_engine(url: str) -> Engine:
    """The engine on the benchmark database, schema current, processes deployed, demo users present."""
    engine = Engine({"database_url": url, "documents_dir": REPO / "instance" / "bench" / "documents"})
    engine.init_schema()
    engine.deploy_shipped()
    create_demo_users(engine)
    return engine


def samples(engine: Engine) -> dict[str, str]:
    """Real values to search for: an application number, a day's number prefix, name fragments, and the
    application with the longest verifiable audit chain."""
    with engine.store.reading() as s:
        conn = s.connection()
        count = conn.execute(select(func.count()).select_from(APPS)).scalar_one()
        middle = conn.execute(select(APPS.c.app_no, APPS.c.customer_name).order_by(APPS.c.id)
                              .offset(count // 2).limit(1)).one()
        person = conn.execute(select(APPS.c.customer_name).where(APPS.c.process_key == "lv")
                              .order_by(APPS.c.id.desc()).limit(1)).scalar_one()
        company = conn.execute(select(APPS.c.customer_name).where(APPS.c.process_key == "hv")
                               .order_by(APPS.c.id.desc()).limit(1)).scalar_one()
        chained = conn.execute(select(APPS.c.app_no).where(APPS.c.audit_seq > 0)
                               .order_by(APPS.c.audit_seq.desc(), APPS.c.id.desc()).limit(1)).scalar_one()
        ready_no = conn.execute(select(ITEMS.c.app_no).where(ITEMS.c.status == "ready")
                                .order_by(ITEMS.c.created_at.desc()).limit(1)).scalar_one()
    return {"app_no": middle.app_no, "day_prefix": middle.app_no[:10], "person": person[:2],
            "person3": person[:3] if len(person) >= 3 else person, "company": company[2:6], "audited": chained,
            "ready_no": ready_no}


def main() -> None:
    """Fill if needed, then print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=os.environ.get("BAOZHUANG_BENCH_DB"),
                        help="SQLAlchemy URL (default: BAOZHUANG_BENCH_DB or sqlite:///instance/bench/scale-N.db)")
    parser.add_argument("--applications", "-n", type=int, default=20_000, help="applications to generate")
    parser.add_argument("--full", type=int, default=None,
                        help="applications given workflow rows and audit chains (default: 1 in 500, at most 2,000)")
    parser.add_argument("--repeat", type=int, default=30, help="runs per list/search scenario")
    parser.add_argument("--dashboard-repeat", type=int, default=3, help="runs of the live dashboard scenarios")
    args = parser.parse_args()
    url = args.db or f"sqlite:///{REPO / 'instance' / 'bench' / f'scale-{args.applications}.db'}"
    engine = open_engine(url)
    with engine.store.reading() as s:
        existing = s.connection().execute(select(func.count()).select_from(APPS)).scalar_one()
    print(f"database: {engine.store.sa_engine.url.render_as_string(hide_password=True)}")
    if existing < args.applications:
        if existing:
            raise SystemExit(f"the database holds {existing:,} applications, fewer than {args.applications:,}: "
                             "give an empty database (or the number it was filled with)")
        full = args.full if args.full is not None else min(2_000, max(1, args.applications // 500))
        print(f"generating {args.applications:,} applications ({full:,} with workflow state and audit chain):")
        t0 = time.perf_counter()
        deploy_without_site_work(engine)
        populate(engine, Plan(args.applications, full), datetime.now().replace(microsecond=0))
        print(f"generated in {time.perf_counter() - t0:.1f} s\n")
    else:
        print(f"{existing:,} applications already there: checking indexes, then measuring")
        t0 = time.perf_counter()
        built = BulkWriter(engine).restore_indexes()
        print(f"  {built} indexes rebuilt, statistics refreshed in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        if engine.backfill_figures():  # a database filled before the figures were kept
            print(f"  supervision figures counted in {time.perf_counter() - t0:.1f} s")
        print()
    measure(engine, args.repeat, args.dashboard_repeat)
    engine.dispose()


def measure(engine: Engine, repeat: int, dashboard_repeat: int) -> None:
    """Time every scenario and print p50/p95 and p95/target."""
    with engine.store.reading() as s:
        conn = s.connection()
        apps = conn.execute(select(func.count()).select_from(APPS)).scalar_one()
        open_items = conn.execute(select(func.count()).select_from(ITEMS).where(ITEMS.c.status == "ready")).scalar_one()
        all_items = conn.execute(select(func.count()).select_from(ITEMS)).scalar_one()
    print(f"{apps:,} applications, {all_items:,} work items of which {open_items:,} open\n")
    sample = samples(engine)
    today = engine.now().date()
    quarter = Period.last_days(today, 90)
    lists: dict[str, Callable[[], Any]] = {
        "tasks: pool of metering": lambda: engine.task_page("metering", scope="pool"),
        "tasks: pool of customer_manager": lambda: engine.task_page("manager1", scope="pool"),
        "tasks: mine, manager1": lambda: engine.task_page("manager1", scope="mine"),
        "tasks: all (营销部), page 50": lambda: engine.task_page("marketing", scope="all", page=50),
        "tasks: all, hv + node filter": lambda: engine.task_page("marketing", scope="all", process_key="hv",
                                                                  node_id="hv_plan_approval"),
        "tasks: Engine.tasks(role=planning)": lambda: engine.tasks(role="planning", limit=20),
        "tasks: search by application no": lambda: engine.task_page("marketing", scope="all",
                                                                     search=sample["ready_no"]),
        f"tasks: search name「{sample['person']}」": lambda: engine.task_page("marketing", scope="all",
                                                                            search=sample["person"]),
        "search: application no": lambda: engine.search_applications(app_no=sample["app_no"]),
        f"search: number prefix {sample['day_prefix']}": lambda: engine.search_applications(app_no=sample["day_prefix"]),
        f"search: customer「{sample['person3']}」": lambda: engine.search_applications(customer=sample["person3"]),
        f"search: customer「{sample['person']}」": lambda: engine.search_applications(customer=sample["person"]),
        f"search: customer「{sample['company']}」": lambda: engine.search_applications(customer=sample["company"]),
        "search: customer + variant + status": lambda: engine.search_applications(
            customer=sample["company"], process_key="hv", status="running"),
    }
    live: dict[str, Callable[[], Any]] = {
        "dashboard live, 90 days, all variants": lambda: engine.supervision.dashboard(quarter),
        "dashboard live, 90 days, hv": lambda: engine.supervision.dashboard(quarter, "hv"),
    }
    year_ago = Period(today - timedelta(days=365), today - timedelta(days=336))
    kept: dict[str, Callable[[], Any]] = {
        "dashboard kept, 90 days, all variants": lambda: engine.supervision.kept_dashboard(quarter),
        "dashboard kept, 90 days, hv": lambda: engine.supervision.kept_dashboard(quarter, "hv"),
        "dashboard kept, 365 days, all variants": lambda: engine.supervision.kept_dashboard(
            Period.last_days(today, 365)),
        "dashboard kept, 30 days a year ago, lv": lambda: engine.supervision.kept_dashboard(year_ago, "lv"),
        "open tasks kept (+ warning window)": lambda: engine.supervision.kept_open_tasks(),
        "open tasks counted over work items": lambda: engine.supervision.open_tasks_by_due_state(),
    }
    precomputed: dict[str, Callable[[], Any]] = {
        "dashboard precomputed, all variants": lambda: engine.supervision.cached_dashboard(quarter),
        "dashboard precomputed, hv": lambda: engine.supervision.cached_dashboard(quarter, "hv"),
    }
    verify = {f"audit verify {sample['audited']}": lambda: engine.verify_audit(sample["audited"])}
    t0 = time.perf_counter()
    views = engine.supervision.refresh_snapshots(today, force=True)
    print(f"worker: {views} dashboard views precomputed in {time.perf_counter() - t0:.1f} s\n")
    print(f"{'scenario':<40} {'p50 ms':>9} {'p95 ms':>9} {'target':>8} {'p95/target':>11}  result")
    for group, target, runs in ((lists, TARGET_LIST_MS, repeat), (kept, TARGET_DASHBOARD_MS, repeat),
                                (precomputed, TARGET_DASHBOARD_MS, repeat),
                                (live, TARGET_DASHBOARD_MS, dashboard_repeat), (verify, None, repeat)):
        for label, fn in group.items():
            p50, p95 = timed(fn, runs)
            shown = describe(fn())
            ratio = f"{p95 / target:11.2f}" if target else f"{'':>11}"
            goal = f"{target:8.0f}" if target else f"{'–':>8}"
            print(f"{label:<40} {p50:9.1f} {p95:9.1f} {goal} {ratio}  {shown}")


def describe(result: Any) -> str:
    """A few words on what a scenario returned (so a fast but empty answer shows)."""
    if hasattr(result, "total") and hasattr(result, "items"):
        return f"{len(result.items)} of {result.total:,}"
    if isinstance(result, list):
        return f"{len(result)} rows"
    if hasattr(result, "open_nodes"):
        done = sum(d.count for d in result.durations)
        return f"{sum(n.total for n in result.open_nodes):,} open, {done:,} completed in period"
    if hasattr(result, "intact"):
        return f"{'intact' if result.intact else 'BROKEN'}, {result.events} events"
    return type(result).__name__


if __name__ == "__main__":
    main()
