"""Two people complete the same task at the same moment: exactly one succeeds, the other is told who did it,
and the audit chain stays intact — with two processes each holding its own Engine, and with two HTTP clients
against the real server."""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from engine import BaozhuangError, Conflict, Engine
from cli.demo import Scenario

from tests.live import LiveServer
from tests.reliability.conftest import API

ROUNDS = 30
HTTP_ROUNDS = 15
RACERS = ("frontdesk", "frontdesk2")


def _fixed_now() -> datetime:
    return datetime(2026, 11, 23, 10, 0, 0)


def _racer(database_url: str, documents: str, username: str, task_ids: list[str], data: dict[str, Any],
           barrier: Any, results: Any) -> None:
    """One process: its own Engine; for every task wait at the barrier, then try to complete it."""
    engine = Engine({"database_url": database_url, "documents_dir": documents}, clock=_fixed_now)
    try:
        for task_id in task_ids:
            barrier.wait(timeout=120)
            try:
                engine.complete(task_id, username, data)
                outcome: tuple[str, str] = ("ok", "")
            except Conflict as exc:
                outcome = ("conflict", exc.message)
            except BaozhuangError as exc:
                outcome = (type(exc).__name__, exc.message)
            except Exception as exc:  # noqa: BLE001  - reported to the parent, which fails the test with it
                outcome = ("crash", repr(exc))
            results.put((task_id, username, *outcome))
    finally:
        engine.dispose()


def start_applications(engine: Engine, scenario: Scenario, count: int) -> list[tuple[str, str]]:
    """``count`` LV applications waiting at their first task, unclaimed: [(app_no, task_id)]."""
    out = []
    for _ in range(count):
        result = engine.start("lv", scenario.start, "frontdesk")
        (task,) = result.ready_tasks
        assert task.role == "front_desk" and task.assignee is None and task.claimed_by is None
        out.append((result.app_no, task.id))
    return out


def assert_one_completion_each(engine: Engine, started: list[tuple[str, str]], node: str) -> None:
    """Every application: chain intact, replay matches, the raced task completed exactly once."""
    for app_no, _ in started:
        verdict = engine.verify_audit(app_no)
        assert verdict.intact, verdict
        info = engine.application(app_no)
        completions = [e for e in info.history if e.kind == "task.completed" and e.node_id == node]
        assert len(completions) == 1, (app_no, completions)
        assert [t.node_id for t in info.open_tasks].count(node) == 0
    for app_no, _ in started[:5]:  # replay is slower; a sample proves the recorded inputs re-execute
        report = engine.replay(app_no, by="auditor")
        assert report.verified, report.message


@pytest.fixture
def racers(engine: Engine) -> tuple[str, str]:
    engine.create_user("frontdesk2", "柜台受理员 钱多", ["front_desk"], "baozhuang")
    return RACERS


def test_two_processes_completing_one_task_get_one_success_and_one_conflict_every_time(
        engine: Engine, racers: tuple[str, str], scenarios: dict[str, Scenario]) -> None:
    scenario = scenarios["lv_residential"]
    started = start_applications(engine, scenario, ROUNDS)
    task_ids = [task_id for _, task_id in started]
    data = dict(scenario.steps[0].data)
    node = scenario.steps[0].node

    ctx = multiprocessing.get_context("spawn")  # never fork a process holding database connections
    barrier, results = ctx.Barrier(len(racers)), ctx.Queue()
    procs = [ctx.Process(target=_racer, args=(engine.config.database_url, str(engine.config.documents_dir), user,
                                              task_ids, data, barrier, results)) for user in racers]
    for proc in procs:
        proc.start()
    outcomes: dict[str, list[tuple[str, str, str]]] = {task_id: [] for task_id in task_ids}
    deadline = time.monotonic() + 180
    try:
        received = 0
        while received < ROUNDS * len(racers):
            try:
                task_id, user, kind, message = results.get(timeout=1)
            except queue.Empty:
                dead = [p.exitcode for p in procs if not p.is_alive()]
                assert not dead and time.monotonic() < deadline, f"a racer stopped early: exit codes {dead}"
                continue
            outcomes[task_id].append((user, kind, message))
            received += 1
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
    assert all(proc.exitcode == 0 for proc in procs)

    for task_id, seen in outcomes.items():
        kinds = sorted(kind for _, kind, _ in seen)
        assert kinds == ["conflict", "ok"], (task_id, seen)
        winner = next(user for user, kind, _ in seen if kind == "ok")
        loser_message = next(message for _, kind, message in seen if kind == "conflict")
        assert f"已由{engine.user(winner).display_name}于" in loser_message, loser_message
        assert engine.task(task_id).completed_by == winner
    assert_one_completion_each(engine, started, node)


def test_two_http_clients_completing_one_task_get_200_and_409(
        engine: Engine, racers: tuple[str, str], scenarios: dict[str, Scenario], live_server: LiveServer) -> None:
    scenario = scenarios["lv_residential"]
    started = start_applications(engine, scenario, HTTP_ROUNDS)
    tokens = {user: engine.create_api_token(user, "并发测试", by="admin") for user in racers}
    body = {"data": dict(scenario.steps[0].data)}
    live_server.start()

    barrier = threading.Barrier(len(racers))
    statuses: dict[str, list[tuple[str, int, Any]]] = {task_id: [] for _, task_id in started}
    lock = threading.Lock()

    def race(user: str) -> None:
        for _, task_id in started:
            barrier.wait(timeout=120)
            status, answer = live_server.request("POST", f"{API}/tasks/{task_id}/complete", body, tokens[user])
            with lock:
                statuses[task_id].append((user, status, answer))

    threads = [threading.Thread(target=race, args=(user,)) for user in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    live_server.stop()

    for task_id, seen in statuses.items():
        assert sorted(status for _, status, _ in seen) == [200, 409], (task_id, seen)
        winner = next(user for user, status, _ in seen if status == 200)
        conflict = next(answer for _, status, answer in seen if status == 409)
        assert f"已由{engine.user(winner).display_name}于" in conflict["error"]["message"], conflict
    assert_one_completion_each(engine, started, scenario.steps[0].node)
