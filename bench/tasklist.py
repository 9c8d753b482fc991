"""Benchmark: task lists and search with tens of thousands of open tasks (indexed queries only).

Fills a fresh SQLite database with N applications and their open work items by bulk insert (no
workflows are run: the task list never touches them), then times engine.task_page for the queries
the UI makes. Prints p50 and p95 per query.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from engine import Engine, tables
from cli.demo import create_demo_users

NODES = {
    "hv": [("hv_site_survey_solo", "现场勘查（客户经理）", "customer_manager"),
           ("hv_plan_approval", "供电方案审批", "marketing"), ("hv_install_meter", "装表", "metering")],
    "lv": [("lv_sign_simple", "受理签约确认", "front_desk"), ("lv_construct_connect", "施工接电", "metering")],
    "pv": [("pv_site_survey", "现场勘查", "customer_manager"), ("pv_grid_connection", "并网运行", "dispatch")],
}
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"


def fill(engine: Engine, count: int) -> None:
    """Bulk-insert applications and one open work item each."""
    rng = random.Random(7)
    start = datetime(2026, 1, 1)
    with engine.store.begin() as conn:
        versions = {v.process_key: v.id for v in conn.execute(select(tables.VERSIONS))}
        apps, items = [], []
        for i in range(1, count + 1):
            key = rng.choice(("hv", "lv", "lv", "pv"))
            created = start + timedelta(minutes=7 * i)
            customer = f"{rng.choice(SURNAMES)}{rng.choice(SURNAMES)}{'实业有限公司' if key == 'hv' else ''}{i}"
            app_no = f"{key.upper()}{created:%Y%m%d}{i:06d}"
            apps.append({"id": i, "app_no": app_no, "process_key": key, "version_id": versions[key],
                         "status": "running", "customer_name": customer, "customer_type": "x", "created_by": "bench",
                         "created_at": created, "updated_at": created, "completed_at": None,
                         "first_contact_at": None, "revision": 1, "wf_meta": "{}", "error_message": None,
                         "audit_seq": 0, "audit_head": ""})
            node, name, role = rng.choice(NODES[key])
            manager = rng.choice(("manager1", "manager2"))
            items.append({"id": f"{i:08d}-0000-4000-8000-000000000000", "application_id": i, "app_no": app_no,
                          "process_key": key, "customer_name": customer, "node_id": node, "node_name": name,
                          "role": role, "form": "", "assignee": manager if role == "customer_manager" else None,
                          "claimed_by": rng.choice((None, None, None, "metering")) if role == "metering" else None,
                          "claimed_at": None, "status": "ready", "created_at": created, "completed_at": None,
                          "completed_by": None, "due_at": None})
        conn.execute(insert(tables.APPS), apps)
        conn.execute(insert(tables.ITEMS), items)


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> None:
    """Fill and measure."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=50_000, help="open tasks")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine({"database_url": f"sqlite:///{Path(tmp) / 'tasks.db'}", "documents_dir": Path(tmp) / "d"})
        engine.init_schema()
        engine.deploy_shipped()
        create_demo_users(engine)
        t0 = time.perf_counter()
        fill(engine, args.n)
        engine.optimize()
        print(f"{args.n:,} open tasks inserted in {time.perf_counter() - t0:.1f} s\n")
        # manager1 is on leave: manager2 stands in, and sees both managers' open tasks in "mine"
        today = engine.now().date()
        engine.set_substitute("manager1", "manager2", today, today + timedelta(days=7), "bench", by="marketing")
        queries: dict[str, Callable[[], Any]] = {
            "pool, metering (first page)": lambda: engine.task_page("metering", scope="pool"),
            "pool, manager1 (only unassigned)": lambda: engine.task_page("manager1", scope="pool"),
            "mine, manager1 (first page)": lambda: engine.task_page("manager1", scope="mine"),
            "mine, manager2 standing in": lambda: engine.task_page("manager2", scope="mine"),
            "all, supervisor, page 200": lambda: engine.task_page("marketing", scope="all", page=200),
            "all, filter lv + node": lambda: engine.task_page("marketing", scope="all", process_key="lv",
                                                               node_id="lv_construct_connect"),
            "search by application number": lambda: engine.task_page("marketing", scope="all",
                                                                      search="LV20260101000001"),
            "search by customer name part": lambda: engine.task_page("marketing", scope="all", search="王李"),
        }
        print(f"{'query':<34} {'p50 ms':>8} {'p95 ms':>8}  rows/total")
        medians: dict[str, float] = {}
        for label, query in queries.items():
            page = query()
            p50, p95 = timed(query, args.repeat)
            medians[label] = p50
            print(f"{label:<34} {p50:8.2f} {p95:8.2f}  {len(page.items)}/{page.total:,}")
        ratio = medians["mine, manager2 standing in"] / medians["mine, manager1 (first page)"]
        print(f"\nmine as a substitute / mine as oneself (p50, same run): {ratio:.2f}")
        engine.dispose()


if __name__ == "__main__":
    main()
