"""The audit trail of many applications checked at once: tampering with any event is caught, where it happened.

Tampering is done the way an insider with database access would: SQL straight on ``audit_events``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from engine import Engine, NotFound
from engine.oversight.verification import verify_chains
from cli.demo import drive, load_scenarios

from tests.conftest import PROCESSES, Clock

SCENARIOS = {s.name: s for s in load_scenarios(PROCESSES / "paths.json")}
PATHS = {"lv_residential": None, "hv_solo": 4, "pv_380v": 3, "lv_non_residential": None, "hv_team": 2}
"""Scenario → how many user tasks to complete (None: to the end)."""


def run(engine: Engine, clock: Clock, name: str, stop_after: int | None = None) -> str:
    last = None
    for last in drive(engine, SCENARIOS[name], stop_after):
        clock.advance(minutes=30)
    assert last is not None
    return str(last.app_no)


@pytest.fixture
def apps(engine: Engine, clock: Clock) -> dict[str, str]:
    """Several applications along different paths: scenario name → application number."""
    return {name: run(engine, clock, name, stop) for name, stop in PATHS.items()}


def sql(engine: Engine, statement: str, **params: Any) -> Any:
    """Run SQL directly on the database, outside the engine (as a tamperer would): the rows read, or
    (for a change) asserting that exactly one row was changed."""
    with engine.store.sa_engine.begin() as conn:
        result = conn.execute(text(statement), params)
        if result.returns_rows:
            return result.all()
        assert result.rowcount == 1, f"{statement} changed {result.rowcount} rows"
        return None


def event_where(app_no: str, seq: int) -> dict[str, Any]:
    return {"app_no": app_no, "seq": seq}


APP_EVENT = "application_id = (SELECT id FROM applications WHERE app_no = :app_no) AND seq = :seq"


def seq_of(engine: Engine, app_no: str, kind: str) -> int:
    """The seq of the first event of a kind in an application's trail."""
    return next(e.seq for e in engine.application(app_no).history if e.kind == kind)


def broken(engine: Engine) -> dict[str, tuple[int | None, str]]:
    """Every application whose chain is not intact: number → (first bad seq, problem)."""
    return {v.app_no: (v.first_bad_seq, v.problem) for v in verify_chains(engine.store) if not v.intact}


def test_every_chain_of_untouched_applications_is_intact(engine: Engine, apps: dict[str, str]) -> None:
    verdicts = list(verify_chains(engine.store))
    assert [v.app_no for v in verdicts] == list(apps.values())  # id order = acceptance order
    assert all(v.intact and v.first_bad_seq is None for v in verdicts)
    assert {v.app_no: v.events for v in verdicts} == {n: len(engine.application(n).history) for n in apps.values()}


def test_changed_payload_is_reported_for_that_application_and_event_only(engine: Engine, apps: dict[str, str]) -> None:
    victim = apps["pv_380v"]
    seq = seq_of(engine, victim, "task.completed")
    payload = json.loads(sql(engine, f"SELECT payload FROM audit_events WHERE {APP_EVENT}",
                             **event_where(victim, seq))[0][0])
    field = next(iter(payload["data"]))
    payload["data"][field] = "事后改过"
    sql(engine, f"UPDATE audit_events SET payload = :payload WHERE {APP_EVENT}",
        payload=json.dumps(payload, ensure_ascii=False), **event_where(victim, seq))
    assert engine.application(victim).history[seq - 1].payload["data"][field] == "事后改过"
    assert broken(engine) == {victim: (seq, "事件内容已被修改")}
    assert engine.verify_audit(victim).first_bad_seq == seq  # the per-application check agrees


def test_deleted_middle_event_is_reported_at_its_seq(engine: Engine, apps: dict[str, str]) -> None:
    victim = apps["lv_residential"]
    seq = seq_of(engine, victim, "task.completed")
    sql(engine, f"DELETE FROM audit_events WHERE {APP_EVENT}", **event_where(victim, seq))
    assert broken(engine) == {victim: (seq, f"缺少第 {seq} 条事件")}


def test_deleted_last_event_is_reported(engine: Engine, apps: dict[str, str]) -> None:
    victim = apps["lv_non_residential"]
    last = engine.application(victim).history[-1].seq
    sql(engine, f"DELETE FROM audit_events WHERE {APP_EVENT}", **event_where(victim, last))
    assert broken(engine) == {victim: (last, "链尾事件缺失")}


def test_changed_actor_is_caught(engine: Engine, apps: dict[str, str]) -> None:
    victim = apps["hv_solo"]
    seq = seq_of(engine, victim, "task.completed")
    sql(engine, f"UPDATE audit_events SET actor = 'manager2' WHERE {APP_EVENT}", **event_where(victim, seq))
    assert broken(engine) == {victim: (seq, "事件内容已被修改")}


def test_changed_timestamp_is_caught(engine: Engine, apps: dict[str, str]) -> None:
    victim = apps["hv_team"]
    entry = next(e for e in engine.application(victim).history if e.kind == "task.completed")
    earlier = (entry.at - timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S.%f")
    sql(engine, f"UPDATE audit_events SET at = :at WHERE {APP_EVENT}", at=earlier, **event_where(victim, entry.seq))
    assert engine.application(victim).history[entry.seq - 1].at == entry.at - timedelta(days=3)
    assert broken(engine) == {victim: (entry.seq, "事件内容已被修改")}


def test_swapped_events_are_caught(engine: Engine, apps: dict[str, str]) -> None:
    victim = apps["lv_residential"]
    a, b = 3, 6
    sql(engine, f"UPDATE audit_events SET seq = -1 WHERE {APP_EVENT}", **event_where(victim, a))
    sql(engine, f"UPDATE audit_events SET seq = :a WHERE {APP_EVENT}", a=a, **event_where(victim, b))
    sql(engine, f"UPDATE audit_events SET seq = :b WHERE {APP_EVENT}", b=b, **event_where(victim, -1))
    assert broken(engine) == {victim: (a, "与前一条事件的链接不符")}


def test_only_the_given_applications_are_checked(engine: Engine, apps: dict[str, str]) -> None:
    wanted = [apps["hv_team"], apps["lv_residential"].lower()]
    assert [v.app_no for v in verify_chains(engine.store, wanted)] == [apps["hv_team"], apps["lv_residential"]]


def test_an_unknown_number_is_refused_before_anything_is_checked(engine: Engine, apps: dict[str, str]) -> None:
    with pytest.raises(NotFound, match="HV20990101000001"):
        verify_chains(engine.store, [apps["hv_solo"], "HV20990101000001"])


def test_applications_are_read_in_batches_as_verdicts_are_consumed(engine: Engine, clock: Clock,
                                                                    apps: dict[str, str]) -> None:
    seen: list[tuple[int, int]] = []
    verdicts = verify_chains(engine.store, progress=lambda done, total: seen.append((done, total)), batch_size=2)
    first = next(verdicts)
    assert first.app_no == apps["lv_residential"] and seen == []
    later = run(engine, clock, "lv_small_micro", 0)  # accepted after the walk began
    rest = list(verdicts)
    assert [v.app_no for v in rest][-1] == later  # read lazily: the newest application is still reached
    assert seen[:5] == [(i, 5) for i in range(1, 6)] and seen[-1] == (6, 6)
