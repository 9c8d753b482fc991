"""Web throughput: concurrent clients completing tasks through the JSON API of the production server.

    python -m bench.web --db postgresql+psycopg://postgres@127.0.0.1:55433/web --workers 3 --clients 16

Starts ``baozhuang serve --workers N`` (waitress processes on one port) against the database, creates
applications through the engine, then for ``--duration`` seconds every client (a thread with one keep-alive
connection and the API tokens of the demo users) walks its applications' scenario paths, completing each
ready task with the data of ``processes/paths.json``.  ``--racers`` pairs of clients fire every completion
twice at the same moment: one must succeed and the other get 409 (counted apart as expected conflicts).
Prints completions per second, latency p50/p95 and every other status.  The diagrams are deployed without
their field-job and meeting marks (bench.population.deploy_without_site_work): dispatch is not measured.

What is measured is printed with the figures: the database's durability settings (PostgreSQL's ``fsync``,
``synchronous_commit``, ``full_page_writes``; ``scripts/pg.sh`` turns them off for tests unless started with
``BAOZHUANG_PG_DURABLE=1``), how the clients' connections are spread over the server processes, and how much
the database grew per completion.  Clients start only once every server process answers, and their keep-alive
connections are spread over the processes as a balancer in front of them would (on one host the processes
share a listening socket and the first one awake would take every waiting connection); this reads which
process holds each connection from /proc (Linux).
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

    def probe(self, pids: list[int]) -> int | None:
        """One request on the connection; the server process that answered it (None if none did)."""
        try:
            self.conn.request("GET", "/api/v1/openapi.json")
            self.conn.getresponse().read()
        except (http.client.HTTPException, OSError):
            return None
        return connection_owner(self.port, self.conn.sock.getsockname()[1], pids)

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


def server_processes(server_pid: int, workers: int, timeout: float = 120) -> list[int]:
    """The worker processes of ``baozhuang serve`` (its children; itself when it serves alone), once all forked."""
    if workers == 1:
        return [server_pid]
    deadline = time.perf_counter() + timeout
    while True:
        try:
            children = [int(pid) for pid in Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()]
        except OSError:
            children = []
        if len(children) >= workers:
            return children
        if time.perf_counter() > deadline:
            raise SystemExit(f"only {len(children)} of {workers} server processes started")
        time.sleep(0.05)


def connection_owner(server_port: int, client_port: int, pids: list[int]) -> int | None:
    """Which server process holds the server side of the connection from ``client_port`` (from /proc)."""
    wanted = (f"0100007F:{server_port:04X}", f"0100007F:{client_port:04X}")
    inode = None
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if (fields[1], fields[2]) == wanted:
                inode = fields[9]
                break
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return pid
        except OSError:
            continue
    return None


def spread_connections(port: int, tokens: Mapping[str, str], count: int, pids: list[int]) -> tuple[list[Api], Counter[int]]:
    """``count`` keep-alive connections, each answered once, no process holding more than its share."""
    share = -(-count // len(pids))
    held: Counter[int] = Counter()
    apis: list[Api] = []
    tries = 0
    while len(apis) < count:
        tries += 1
        api = Api(port, tokens)
        owner = api.probe(pids)
        if owner is not None and (held[owner] < share or tries > 50 * count):
            held[owner] += 1
            apis.append(api)
        else:
            api.conn.close()
    return apis, held


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """CPU time (user + system) each process has used so far, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return used


def database_processes(engine: Engine) -> list[int]:
    """The PostgreSQL backends serving this database now (none on SQLite)."""
    if engine.store.sa_engine.dialect.name != "postgresql":
        return []
    with engine.store.read() as conn:
        return [int(pid) for pid in conn.exec_driver_sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()").scalars()]


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two readings (a process that appeared in between counts from zero)."""
    return sum(used - before.get(pid, 0.0) for pid, used in after.items())


def wait_for_every_process(port: int, tokens: Mapping[str, str], pids: list[int], timeout: float = 120) -> None:
    """Return once every server process has answered a request."""
    seen: set[int] = set()
    deadline = time.perf_counter() + timeout
    while seen != set(pids):
        if time.perf_counter() > deadline:
            raise SystemExit(f"server processes {sorted(set(pids) - seen)} never answered")
        api = Api(port, tokens)
        owner = api.probe(pids)
        if owner is not None:
            seen.add(owner)
        api.conn.close()
        time.sleep(0.01)


def next_task(work: Work) -> dict[str, Any] | None:
    """The ready task the scenario's next step completes (None when the path is done)."""
    if work.step >= len(work.scenario.steps):
        return None
    node = work.scenario.steps[work.step].node
    return next((t for t in work.ready if t["node_id"] == node), None)


def client(api: Api, twin: Api | None, works: "queue.Queue[Work]", deadline: float, tally: Tally,
           engine: Engine) -> None:
    """Walk applications until the deadline; a racing client (with a twin connection) sends each completion
    twice at once."""
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
    print(f"database: {durability(engine)}")
    port = free_port()
    server = start_server(args.db, port, args.workers, args.threads)
    try:
        pids = server_processes(server.pid, args.workers)
        wait_for_every_process(port, tokens, pids)
        apis, held = spread_connections(port, tokens, args.clients + args.racers, pids)
        print("connections per server process: " + " / ".join(str(held[pid]) for pid in pids))
        tallies = [Tally() for _ in range(args.clients)]
        twins = apis[args.clients:]
        size_before = database_size(engine)
        server_cpu, database_cpu = cpu_seconds(pids), cpu_seconds(database_processes(engine))
        client_cpu = time.process_time()
        deadline = time.perf_counter() + args.duration
        threads = [threading.Thread(target=client, args=(apis[i], twins[i] if i < args.racers else None, works,
                                                         deadline, tallies[i], engine))
                   for i in range(args.clients)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        spent = {"server": cpu_spent(server_cpu, cpu_seconds(pids)),
                 "database": cpu_spent(database_cpu, cpu_seconds(database_processes(engine))),
                 "clients": time.process_time() - client_cpu}
        grown = database_size(engine) - size_before
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    report(tallies, elapsed, args)
    completions = sum(t.completions for t in tallies)
    if completions:
        print(f"database growth: {grown / 1024 / 1024:,.1f} MiB during the run, {grown / completions:,.0f} bytes per "
              "completion (table and index files, row versions not yet vacuumed included)")
        per = {k: v / completions * 1000 for k, v in spent.items()}
        total = sum(per.values())
        cores = os.cpu_count() or 1
        print(f"CPU per completion: {total:.1f} ms — server {per['server']:.1f}, database {per['database']:.1f}, "
              f"clients {per['clients']:.1f} (all of {cores} cores for this alone: about {cores * 1000 / total:,.0f} "
              "completions/s; the figure above is what the run got on the machine as shared)")
    engine.dispose()


def durability(engine: Engine) -> str:
    """The database's durability settings, as the server reports them."""
    with engine.store.read() as conn:
        if engine.store.sa_engine.dialect.name == "postgresql":
            settings = {name: conn.exec_driver_sql(f"SHOW {name}").scalar()
                        for name in ("fsync", "synchronous_commit", "full_page_writes")}
            durable = settings == {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
            note = "durable" if durable else "NOT durable: a crash may lose acknowledged commits"
            return "PostgreSQL " + ", ".join(f"{k}={v}" for k, v in settings.items()) + f" ({note})"
        names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
        return f"SQLite synchronous={names.get(int(conn.exec_driver_sql('PRAGMA synchronous').scalar() or 0))}"


def database_size(engine: Engine) -> int:
    """Bytes the database takes on disk (PostgreSQL: the database's files; SQLite: its pages)."""
    with engine.store.read() as conn:
        if engine.store.sa_engine.dialect.name == "postgresql":
            return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one())
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
        return int(pages) * int(conn.exec_driver_sql("PRAGMA page_size").scalar_one())


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
