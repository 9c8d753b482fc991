"""Web throughput: concurrent clients completing tasks through the JSON API of the production server.

    python -m bench.web --db postgresql+psycopg://postgres@127.0.0.1:55433/web --workers 3 --clients 16

Starts ``baozhuang serve --workers N`` (waitress processes on one port) against the database, creates
applications through the engine, then for ``--duration`` seconds every client (a thread with one keep-alive
connection and the API tokens of the demo users) walks its applications' scenario paths, completing each
ready task with the data of ``processes/paths.json``.  ``--racers`` pairs of clients fire every completion
twice at the same moment: one must succeed and the other get 409 (counted apart as expected conflicts).
Prints completions per second, latency p50/p95 and every other status.  The diagrams are deployed without
their field-job and meeting marks (bench.population.deploy_without_site_work): dispatch is not measured.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import Engine
from cli.demo import DEMO_USERS, Scenario, actor_for, load_scenarios

from bench.population import deploy_without_site_work
from bench.scale import open_engine

REPO = Path(__file__).resolve().parent.parent
TARGET_PER_SECOND = 200.0


@dataclass
class Work:
    """One application and where it stands on its scenario."""

    scenario: Scenario
    ready: list[dict[str, Any]]
    step: int = 0


@dataclass
class Tally:
    """What one client saw."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    completions: int = 0
    races: int = 0
    race_conflicts: int = 0
    bad_races: int = 0
    errors: list[str] = field(default_factory=list)


class Api:
    """One keep-alive HTTP connection to the server."""

    def __init__(self, port: int, tokens: Mapping[str, str]) -> None:
        self.port, self.tokens = port, tokens
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def complete(self, task_id: str, user: str, data: Mapping[str, Any]) -> tuple[int, Any, float]:
        """POST the completion; status, decoded body, seconds."""
        body = json.dumps({"data": data}, ensure_ascii=False).encode("utf-8")
        headers = {"Authorization": f"Bearer {self.tokens[user]}", "Content-Type": "application/json"}
        t0 = time.perf_counter()
        try:
            self.conn.request("POST", f"/api/v1/tasks/{task_id}/complete", body, headers)
            response = self.conn.getresponse()
            raw = response.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            return 0, None, time.perf_counter() - t0
        elapsed = time.perf_counter() - t0
        try:
            return response.status, json.loads(raw), elapsed
        except ValueError:
            return response.status, raw[:200], elapsed


def next_task(work: Work) -> dict[str, Any] | None:
    """The ready task the scenario's next step completes (None when the path is done)."""
    if work.step >= len(work.scenario.steps):
        return None
    node = work.scenario.steps[work.step].node
    return next((t for t in work.ready if t["node_id"] == node), None)


def client(port: int, tokens: Mapping[str, str], works: "queue.Queue[Work]", deadline: float, tally: Tally,
           engine: Engine, racing: bool) -> None:
    """Walk applications until the deadline; a racing client sends each completion twice at once."""
    api, twin = Api(port, tokens), Api(port, tokens) if racing else None
    work: Work | None = None
    while time.perf_counter() < deadline:
        if work is None:
            try:
                work = works.get_nowait()
            except queue.Empty:
                tally.errors.append("ran out of prepared applications")
                return
        task = next_task(work)
        if task is None:
            work = None
            continue
        user = actor_for(engine, task["role"], task.get("assignee"))
        data = work.scenario.steps[work.step].data
        if twin is None:
            status, body, seconds = api.complete(task["id"], user, data)
            outcomes = [(status, body, seconds)]
        else:
            outcomes = race(api, twin, task["id"], user, data)
        for status, body, seconds in outcomes:
            tally.statuses[status] += 1
            if status == 200:
                tally.latencies.append(seconds)
                tally.completions += 1
                work.ready, work.step = body["ready_tasks"], work.step + 1
            elif status != 409 and len(tally.errors) < 5:
                tally.errors.append(f"{status} {str(body)[:200]}")
        if twin is not None:
            tally.races += 1
            codes = sorted(s for s, _, _ in outcomes)
            if codes == [200, 409]:
                tally.race_conflicts += 1
            else:
                tally.bad_races += 1
        if not any(s == 200 for s, _, _ in outcomes):
            work = None  # something went wrong with this application: leave it


def race(api: Api, twin: Api, task_id: str, user: str, data: Mapping[str, Any]) -> list[tuple[int, Any, float]]:
    """The same completion from two connections at the same moment."""
    barrier = threading.Barrier(2)
    results: list[tuple[int, Any, float]] = []

    def fire(conn: Api) -> None:
        barrier.wait()
        results.append(conn.complete(task_id, user, data))

    other = threading.Thread(target=fire, args=(twin,))
    other.start()
    fire(api)
    other.join()
    return results


def prepare(engine: Engine, count: int) -> "queue.Queue[Work]":
    """Accept ``count`` applications (round-robin over every scenario) through the engine."""
    scenarios = load_scenarios(REPO / "processes" / "paths.json")
    works: queue.Queue[Work] = queue.Queue()
    for i in range(count):
        scenario = scenarios[i % len(scenarios)]
        result = engine.start(scenario.process, scenario.start, "frontdesk")
        ready = [{"id": t.id, "node_id": t.node_id, "role": t.role, "assignee": t.assignee}
                 for t in result.ready_tasks]
        works.put(Work(scenario, ready))
    return works


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, port: int, workers: int, threads: int) -> subprocess.Popen[bytes]:
    """``baozhuang serve`` in its own process group; returns once it answers."""
    script = Path(sys.executable).parent / "baozhuang"
    log = open(REPO / "instance" / "bench-web-server.log", "wb")  # waitress's queue-depth warnings go there
    proc = subprocess.Popen([str(script), "--db", url, "serve", "--port", str(port), "--workers", str(workers),
                             "--threads", str(threads)], stdout=log, stderr=log, start_new_session=True)
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start")


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=os.environ.get("BAOZHUANG_BENCH_WEB_DB"),
                        help="SQLAlchemy URL, PostgreSQL for several workers (default: BAOZHUANG_BENCH_WEB_DB)")
    # 3 × 6 on 2 cores: each process has its own GIL, so a third keeps both cores busy while the threads of
    # another wait for the database (median 218/s against 203/s for 2 × 8, runs interleaved; see README)
    parser.add_argument("--workers", type=int, default=3, help="server processes")
    parser.add_argument("--threads", type=int, default=6, help="threads per server process")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (including racers)")
    parser.add_argument("--racers", type=int, default=2, help="clients that send every completion twice at once")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument("--applications", type=int, default=None,
                        help="applications prepared before the run (default: enough for the duration)")
    args = parser.parse_args()
    if not args.db:
        raise SystemExit("give --db (or BAOZHUANG_BENCH_WEB_DB), e.g. postgresql+psycopg://user@127.0.0.1/bench")
    engine = open_engine(args.db)
    deploy_without_site_work(engine)
    tokens = {user: engine.create_api_token(user, "bench", by="admin") for user, _, _ in DEMO_USERS}
    count = args.applications or int(args.clients * args.duration * 3)
    t0 = time.perf_counter()
    works = prepare(engine, count)
    print(f"{count:,} applications prepared in {time.perf_counter() - t0:.1f} s")
    port = free_port()
    server = start_server(args.db, port, args.workers, args.threads)
    try:
        tallies = [Tally() for _ in range(args.clients)]
        deadline = time.perf_counter() + args.duration
        threads = [threading.Thread(target=client, args=(port, tokens, works, deadline, tallies[i], engine,
                                                         i < args.racers)) for i in range(args.clients)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    report(tallies, elapsed, args)
    engine.dispose()


def report(tallies: list[Tally], elapsed: float, args: argparse.Namespace) -> None:
    """Print the totals."""
    latencies = sorted(x * 1000 for t in tallies for x in t.latencies)
    statuses: Counter[int] = Counter()
    for t in tallies:
        statuses.update(t.statuses)
    completions = sum(t.completions for t in tallies)
    races = sum(t.races for t in tallies)
    race_conflicts = sum(t.race_conflicts for t in tallies)
    bad_races = sum(t.bad_races for t in tallies)
    unexpected = {s: n for s, n in statuses.items() if s not in (200, 409)}
    rate = completions / elapsed
    print(f"{args.workers} server processes × {args.threads} threads, {args.clients} clients "
          f"({args.racers} racing), {elapsed:.1f} s")
    print(f"completions: {completions:,}  ({rate:.0f}/s; target {TARGET_PER_SECOND:.0f}/s, ratio {rate / TARGET_PER_SECOND:.2f})")
    if latencies:
        p95 = latencies[max(0, int(len(latencies) * 0.95 + 0.5) - 1)]
        print(f"latency of a successful completion: p50 {statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms")
    print(f"races: {races:,}, of which one success + one 409: {race_conflicts:,}, otherwise: {bad_races:,}")
    print(f"409 conflicts (expected, from races): {statuses.get(409, 0):,}")
    print(f"other statuses: {unexpected or 'none'}")
    for t in tallies:
        for e in t.errors[:3]:
            print(f"  e.g. {e}")


if __name__ == "__main__":
    main()
