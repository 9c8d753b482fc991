"""What the engine did in a step is recorded with the input that caused it — its task moves, only what happened
— and replay compares it; trails written in the earlier form (a separate engine.transitions event per step)
still replay."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import delete, insert, select, text, update

from engine import GENESIS, Engine, event_hash
from engine.kernel.canonical import canonical
from engine.store.tables import APPS, EVENTS
from cli.demo import drive, load_scenarios

from tests.conftest import PROCESSES

SCENARIOS = {s.name: s for s in load_scenarios(PROCESSES / "paths.json")}
PREDICTIONS = {"MAYBE", "LIKELY", "FUTURE"}


def finished(engine: Engine, name: str, steps: int | None = None) -> str:
    last = None
    for last in drive(engine, SCENARIOS[name], steps):
        pass
    assert last is not None
    return last.app_no


def trail(engine: Engine, app_no: str) -> list[Any]:
    with engine.store.sa_engine.connect() as conn:
        return conn.execute(select(EVENTS).join(APPS, APPS.c.id == EVENTS.c.application_id)
                            .where(APPS.c.app_no == app_no).order_by(EVENTS.c.seq)).all()


def rewrite(engine: Engine, app_no: str, events: list[dict[str, Any]]) -> None:
    """Replace an application's trail with these events, chained afresh (as a trail of that form was written)."""
    with engine.store.sa_engine.begin() as conn:
        app_id = conn.execute(select(APPS.c.id).where(APPS.c.app_no == app_no)).scalar_one()
        conn.execute(delete(EVENTS).where(EVENTS.c.application_id == app_id))
        head = GENESIS
        for seq, ev in enumerate(events, start=1):
            payload = canonical(ev["payload"])
            digest = event_hash(head, seq, ev["at"], ev["actor"], ev["kind"], ev["node_id"], ev["task_id"], payload)
            conn.execute(insert(EVENTS), {**ev, "application_id": app_id, "seq": seq, "payload": payload,
                                          "prev_hash": head, "hash": digest})
            head = digest
        conn.execute(update(APPS).where(APPS.c.id == app_id).values(audit_seq=len(events), audit_head=head))


def test_a_step_records_what_happened_with_its_input(engine: Engine) -> None:
    app_no = finished(engine, "hv_solo", 3)
    events = trail(engine, app_no)
    assert not [e for e in events if e.kind == "engine.transitions"]
    completed = [json.loads(e.payload) | {"node": e.node_id} for e in events if e.kind == "task.completed"]
    assert len(completed) == 3
    for payload in completed:
        moves = payload["moves"]
        assert payload["node"] in moves["READY>COMPLETED"]
        assert not [m for m in moves if m.split(">")[1] in PREDICTIONS]  # no guesses about the future
        assert all(isinstance(name, str) for names in moves.values() for name in names)
    started = json.loads(events[0].payload)
    assert "hv_site_survey_solo" in started["moves"]["NEW>READY"]


def test_a_trail_in_the_earlier_form_still_replays(engine: Engine) -> None:
    app_no = finished(engine, "hv_design_review_sendback")
    earlier: list[dict[str, Any]] = []
    pending: dict[str, Any] | None = None
    for e in trail(engine, app_no):
        payload = json.loads(e.payload)
        if pending is not None and e.kind != "service.called":
            earlier.append(pending)  # the earlier form: after the input and its handler calls
            pending = None
        if "moves" in payload:
            changes = [[name, *move.split(">"), str(uuid.uuid4())]
                       for move, names in payload.pop("moves").items() for name in names]
            changes.append(["hv_some_prediction", "NEW", "LIKELY", str(uuid.uuid4())])  # every change, guesses too
            pending = {"at": e.at, "actor": e.actor, "kind": "engine.transitions", "node_id": None, "task_id": None,
                       "payload": {"changes": changes}}
        earlier.append({"at": e.at, "actor": e.actor, "kind": e.kind, "node_id": e.node_id, "task_id": e.task_id,
                        "payload": payload})
    if pending is not None:
        earlier.append(pending)
    rewrite(engine, app_no, earlier)
    stored = trail(engine, app_no)
    assert [e.kind for e in stored].count("engine.transitions") == len(SCENARIOS["hv_design_review_sendback"].steps) + 1
    assert not any('"moves"' in e.payload for e in stored)
    assert engine.verify_audit(app_no).intact
    report = engine.replay(app_no, by="auditor")
    assert report.verified, report.message


def test_a_move_taken_out_of_the_record_is_caught(engine: Engine) -> None:
    app_no = finished(engine, "lv_residential")
    events = trail(engine, app_no)
    victim = next(e for e in events if e.kind == "task.completed")
    payload = json.loads(victim.payload)
    payload["moves"]["READY>COMPLETED"].remove(victim.node_id)
    if not payload["moves"]["READY>COMPLETED"]:
        del payload["moves"]["READY>COMPLETED"]
    with engine.store.sa_engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET payload = :p WHERE id = :i"),
                     {"p": json.dumps(payload, ensure_ascii=False), "i": victim.id})
    verdict = engine.verify_audit(app_no)
    assert not verdict.intact and verdict.first_bad_seq == victim.seq
    report = engine.replay(app_no, by="auditor")
    assert not report.verified
    assert "重放有而记录没有" in report.message and victim.node_id in report.message
