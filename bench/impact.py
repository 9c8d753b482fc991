"""Benchmark: the impact preview of the reform draft over a county office's recorded HV applications.

    python -m bench.impact --applications 100000          # the target: under 60 s on the 2-core machine

The database (``--db``; default a SQLite file under instance/bench/) is filled by :mod:`bench.population`
with every application's audit trail (clones of real runs through the engine, each with its own customer,
numbers, times and ids) when it holds fewer applications than asked for. Then the preview of the reform
draft (设计文件审查 and 中间检查 removed) runs over all of them, and, side by side, the same replay one
application at a time over a sample, to print the rate without sharing and the ratio.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from engine import Engine, tables
from cli.demo import create_demo_users

from bench.population import Plan, populate

REPO = Path(__file__).resolve().parent.parent
REFORM = REPO / "tests" / "engine" / "fixtures" / "hv_reform.bpmn"
TARGET_S = 60.0


def open_engine(url: str) -> Engine:
    """The engine on the benchmark database, schema current, processes deployed, demo users present."""
    engine = Engine({"database_url": url, "documents_dir": REPO / "instance" / "bench" / "documents"})
    engine.init_schema()
    engine.deploy_shipped()
    create_demo_users(engine)
    return engine


def main() -> None:
    """Fill if needed, then time the preview over everything and a one-by-one sample."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=os.environ.get("BAOZHUANG_BENCH_DB"))
    parser.add_argument("--applications", "-n", type=int, default=20_000, help="recorded HV applications")
    parser.add_argument("--sample", type=int, default=300, help="applications replayed one by one for the ratio")
    args = parser.parse_args()
    url = args.db or f"sqlite:///{REPO / 'instance' / 'bench' / f'impact-{args.applications}.db'}"
    (REPO / "instance" / "bench").mkdir(parents=True, exist_ok=True)
    engine = open_engine(url)
    apps = tables.APPS
    with engine.store.read() as conn:
        existing = conn.execute(select(func.count()).select_from(apps).where(apps.c.process_key == "hv")).scalar_one()
    if existing < args.applications:
        if existing:
            raise SystemExit(f"the database holds {existing:,} HV applications, fewer than {args.applications:,}")
        print(f"generating {args.applications:,} HV applications, every one with its audit trail:")
        t0 = time.perf_counter()
        populate(engine, Plan(args.applications, args.applications, variants={"hv": 1.0}),
                 datetime.now().replace(microsecond=0))
        print(f"generated in {time.perf_counter() - t0:.1f} s\n")
    with engine.store.read() as conn:
        hv = conn.execute(select(func.count()).select_from(apps).where(apps.c.process_key == "hv")).scalar_one()
        events = conn.execute(select(func.count()).select_from(tables.EVENTS)
                              .join(apps, apps.c.id == tables.EVENTS.c.application_id)
                              .where(apps.c.process_key == "hv")).scalar_one()
    print(f"{hv:,} recorded HV applications ({events:,} audit events) of every version and status\n")
    draft = REFORM.read_bytes()

    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] > 10 or done == total:
            last[0] = now
            print(f"  {done:,} / {total:,}  ({now - t0:.1f} s)")

    t0 = time.perf_counter()
    report = engine.impact_preview("hv", draft, progress=progress, by="analyst")
    whole = time.perf_counter() - t0
    print(f"\npreview of all {len(report.applications):,}: {whole:.1f} s "
          f"({report.replayed:,} replays; {report.changed_count:,} paths change)")
    for line in report.summary[:3]:
        print(f"  {line}")

    t1 = time.perf_counter()
    sample = engine.impact_preview("hv", draft, limit=args.sample, by="analyst")
    shared_rate = len(sample.applications) / (time.perf_counter() - t1)
    t2 = time.perf_counter()
    alone = engine.impact_preview("hv", draft, limit=args.sample, share=False, by="analyst")
    alone_rate = len(alone.applications) / (time.perf_counter() - t2)
    assert alone.applications == sample.applications, "grouped and one-by-one previews differ"
    print(f"\n{'scenario':<46} {'apps/s':>9} {'seconds for all':>16} {'target s':>9} {'ratio':>7}")
    print(f"{'preview, histories grouped (all)':<46} {len(report.applications) / whole:9.0f} {whole:16.1f} "
          f"{TARGET_S:9.0f} {whole / TARGET_S:7.2f}")
    print(f"{'preview, grouped, newest ' + str(args.sample):<46} {shared_rate:9.0f}")
    estimate = len(report.applications) / alone_rate
    print(f"{'every application replayed alone (sample)':<46} {alone_rate:9.0f} {estimate:16.1f} "
          f"{TARGET_S:9.0f} {estimate / TARGET_S:7.2f}")
    print(f"\ngrouping: {estimate / whole:.1f}x faster than one replay per application")
    engine.dispose()


if __name__ == "__main__":
    main()
