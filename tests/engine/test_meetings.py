"""The weekly design-review meeting: waiting reviews gathered, decided at once, minutes kept."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from engine import Conflict, Engine, Forbidden, FormValidationError
from cli.demo import actor_for, drive, load_scenarios
from engine.fieldwork.meetings import Decision

from tests.conftest import PROCESSES

SCENARIOS = {s.name: s for s in load_scenarios(PROCESSES / "paths.json")}


def at_design_review(engine: Engine) -> Any:
    """Drive an HV application (with a design review on its path) until the review waits."""
    scenario = SCENARIOS["hv_design_review_sendback"]
    for result in drive(engine, scenario):
        for task in result.ready_tasks:
            if task.node_id == "hv_design_review":
                return task
    raise AssertionError("never reached the design review")


def test_a_meeting_decides_three_waiting_reviews_and_the_applications_move_on(engine: Engine) -> None:
    reviews = [at_design_review(engine) for _ in range(3)]
    meeting = engine.meetings.open(date(2026, 11, 25), "planning")
    assert meeting.week_start == date(2026, 11, 23)
    assert sorted(i.task_id for i in meeting.items) == sorted(t.id for t in reviews)
    ids = {i.task_id: i.id for i in meeting.items}
    outcomes = engine.meetings.decide(meeting.id, {
        ids[reviews[0].id]: Decision("pass", "图纸符合供电方案"),
        ids[reviews[1].id]: Decision("pass", "同意"),
        ids[reviews[2].id]: Decision("fail", "计量柜位置与方案不符，退回修改"),
    }, "planning")
    assert [o.error for o in outcomes] == [None, None, None]
    # passed: the customer builds on and will ask for the intermediate inspection; failed: the design goes back
    for task, expected in zip(reviews, ("hv_mid_inspection_request", "hv_mid_inspection_request",
                                        "hv_design_rectify")):
        assert engine.task(task.id).status == "completed"
        nodes = {t.node_id for t in engine.tasks(app_no=task.app_no)}
        assert expected in nodes, (task.app_no, nodes)
        completed = [e for e in engine.application(task.app_no).history
                     if e.kind == "task.completed" and e.task_id == task.id][0]
        assert completed.payload["meeting"] == meeting.id and completed.actor == "planning"
        assert engine.verify_audit(task.app_no).intact
    closed = engine.meetings.close(meeting.id, "planning", ["刘洋", "李强", "王芳"], "下周重点：两项中间检查")
    assert closed.status == "closed" and closed.attendees == ("刘洋", "李强", "王芳")
    decided = {i.task_id: (i.decision, i.opinion, i.decided_by) for i in closed.items}
    assert decided[reviews[2].id] == ("fail", "计量柜位置与方案不符，退回修改", "planning")
    assert [decided[t.id][0] for t in reviews[:2]] == ["pass", "pass"]
    with pytest.raises(Conflict):
        engine.meetings.decide(meeting.id, {closed.items[0].id: Decision("pass", "x")}, "planning")


def test_one_refused_item_does_not_undo_the_others(engine: Engine) -> None:
    first, second = at_design_review(engine), at_design_review(engine)
    meeting = engine.meetings.open(date(2026, 11, 23), "planning")
    items = {i.task_id: i.id for i in meeting.items}
    outcomes = engine.meetings.decide(meeting.id, {items[first.id]: Decision("pass", "同意"),
                                                   items[second.id]: Decision("fail", "   ")}, "planning")
    errors = {o.item_id: o.error for o in outcomes}
    assert errors[items[first.id]] is None and "审查意见" in (errors[items[second.id]] or "")
    assert engine.task(first.id).status == "completed" and engine.task(second.id).status == "ready"
    again = engine.meetings.meeting(meeting.id)
    assert {i.task_id: i.decision for i in again.items} == {first.id: "pass", second.id: None}
    assert [i.id for i in again.undecided] == [items[second.id]]


def test_a_review_finished_outside_the_meeting_is_not_decided_twice(engine: Engine) -> None:
    task = at_design_review(engine)
    meeting = engine.meetings.open(date(2026, 11, 23), "planning")
    data = {"design_documents": ["design_drawings", "designer_qualification"], "design_submitted_on": "2026-11-20",
            "design_review_result": "pass", "design_review_opinion": "会前已审"}
    engine.complete(task.id, actor_for(engine, task.role, task.assignee), data)
    [outcome] = engine.meetings.decide(meeting.id, {meeting.items[0].id: Decision("fail", "退回")}, "planning")
    assert outcome.error is not None
    assert engine.meetings.meeting(meeting.id).items[0].decision is None


def test_only_meeting_roles_run_meetings_and_one_open_meeting_per_week(engine: Engine) -> None:
    at_design_review(engine)
    with pytest.raises(Forbidden):
        engine.meetings.open(date(2026, 11, 23), "metering")
    meeting = engine.meetings.open(date(2026, 11, 23), "manager1")
    with pytest.raises(Conflict):
        engine.meetings.open(date(2026, 11, 26), "planning")
    with pytest.raises(FormValidationError):
        engine.meetings.close(meeting.id, "manager1", ["  "], "")
    [refused] = engine.meetings.decide(meeting.id, {meeting.items[0].id: Decision("pass", "同意")}, "metering")
    assert refused.error is not None and "会上决定" in refused.error
    with pytest.raises(Forbidden):
        engine.meetings.close(meeting.id, "metering", ["x"], "")
