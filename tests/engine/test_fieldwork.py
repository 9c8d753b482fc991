"""Field work: site tasks become field jobs the dispatcher books within station capacity; the worker checks
in and out; only then can the task be completed; a callback follows."""

from __future__ import annotations

import threading
from datetime import date, time
from pathlib import Path
from typing import Any

import pytest

from engine import Conflict, Engine, Forbidden, FormValidationError, InvalidInput
from engine.fieldwork.jobs import DEFAULT_CAPACITY, JOB_KINDS, Appointment, appointment_from_form
from cli.demo import actor_for, do_field_work, drive, load_scenarios

from tests.conftest import PROCESSES, Clock, make_engine

SCENARIOS = {s.name: s for s in load_scenarios(PROCESSES / "paths.json")}
TOMORROW = date(2026, 11, 24)  # the test clock starts on Monday 2026-11-23 09:00


def survey_task(engine: Engine, scenario: str = "hv_solo") -> Any:
    """Start an application and return its ready survey task (a site job)."""
    result = next(iter(drive(engine, SCENARIOS[scenario])))
    task = next(t for t in result.ready_tasks if "survey" in t.node_id)
    return task


def booking(station: str = "CQ", day: date = TOMORROW, **kw: Any) -> Appointment:
    return Appointment(station, day, kw.pop("mode", "fixed"), "王先生", "13912345678",
                       start=kw.pop("start", time(9, 30)), **kw)


def test_a_site_task_opens_a_waiting_field_job_and_cannot_be_completed_before_check_out(engine: Engine) -> None:
    task = survey_task(engine)
    job = engine.field_work.find(task.id)
    assert job is not None and job.status == "waiting" and job.kind == "survey" and job.worker == task.assignee
    data = SCENARIOS["hv_solo"].steps[0].data
    with pytest.raises(Conflict, match="现场作业待预约"):
        engine.complete(task.id, task.assignee, data)
    with pytest.raises(Conflict, match="尚未预约"):
        engine.field_work.check_in(task.id, task.assignee, "到了")
    engine.field_work.schedule(task.id, "fielddispatch", booking())
    with pytest.raises(Conflict, match="已预约"):
        engine.complete(task.id, task.assignee, data)
    engine.field_work.check_in(task.id, task.assignee, "已到达，客户在场")
    with pytest.raises(Conflict, match="现场作业中"):
        engine.complete(task.id, task.assignee, data)
    engine.field_work.check_out(task.id, task.assignee, "勘查完成")
    result = engine.complete(task.id, task.assignee, data)
    assert all(t.id != task.id for t in result.ready_tasks)
    history = [e.kind for e in engine.field_work.job_history(task.id)]
    assert history == ["created", "scheduled", "checked_in", "checked_out"]
    assert engine.verify_audit(task.app_no).intact
    recorded = [e.kind for e in engine.application(task.app_no).history if e.kind.startswith("fieldjob.")]
    assert recorded == ["fieldjob.scheduled", "fieldjob.checked_in", "fieldjob.checked_out"]


def test_only_the_dispatcher_books_and_only_the_assigned_worker_reports(engine: Engine) -> None:
    task = survey_task(engine)
    with pytest.raises(Forbidden):
        engine.field_work.schedule(task.id, "manager1", booking())
    engine.field_work.schedule(task.id, "fielddispatch", booking(worker="manager1"))
    other = "manager2" if task.assignee == "manager1" else "manager1"
    with pytest.raises(Forbidden):
        engine.field_work.check_in(task.id, other, "我来了")
    with pytest.raises(FormValidationError):
        engine.field_work.check_in(task.id, "manager1", "   ")


def test_scheduling_respects_capacity_and_an_override_is_recorded(engine: Engine) -> None:
    engine.field_work.set_capacity("CQ", TOMORROW, "survey", 1, "fielddispatch")
    first, second = survey_task(engine), survey_task(engine)
    engine.field_work.schedule(first.id, "fielddispatch", booking())
    assert engine.field_work.board(TOMORROW, 1).cell("CQ", TOMORROW, "survey").remaining == 0
    with pytest.raises(Conflict, match="约满"):
        engine.field_work.schedule(second.id, "fielddispatch", booking())
    assert engine.field_work.job(second.id).status == "waiting"  # nothing written
    job = engine.field_work.schedule(second.id, "fielddispatch", booking(), override_reason="重点项目，客户要求尽快")
    assert job.overbooked and job.status == "scheduled"
    cell = engine.field_work.board(TOMORROW, 1).cell("CQ", TOMORROW, "survey")
    assert (cell.capacity, cell.booked, cell.remaining, cell.over) == (1, 2, 0, 1)  # never a negative remainder
    event = engine.field_work.job_history(second.id)[-1]
    assert event.kind == "scheduled" and event.payload["override"] == "重点项目，客户要求尽快"


def test_a_rest_day_has_no_capacity_and_stations_declare_next_week(engine: Engine, clock: Clock) -> None:
    saturday = date(2026, 11, 28)
    board = engine.field_work.board(saturday, 1)
    assert board.cell("CQ", saturday, "survey").capacity == 0
    assert engine.field_work.board(TOMORROW, 1).cell("XZ", TOMORROW, "survey").capacity == \
        DEFAULT_CAPACITY["rural"]["survey"]
    next_monday = date(2026, 11, 30)
    changed = engine.field_work.set_capacities("CQ", {(next_monday, "survey"): 9, (next_monday, "connect"): 2},
                                               "station1")
    assert changed == 2
    assert engine.field_work.board(next_monday, 1).cell("CQ", next_monday, "survey").capacity == 9
    with pytest.raises(Forbidden):
        engine.field_work.set_capacities("XZ", {(next_monday, "survey"): 9}, "station1")  # not their station
    with pytest.raises(InvalidInput, match="明天及以后"):
        engine.field_work.set_capacities("CQ", {(date(2026, 11, 23), "survey"): 1}, "station1")


def test_capacity_cannot_go_below_what_is_booked(engine: Engine) -> None:
    task = survey_task(engine)
    engine.field_work.schedule(task.id, "fielddispatch", booking())
    with pytest.raises(InvalidInput, match="已预约 1 单"):
        engine.field_work.set_capacity("CQ", TOMORROW, "survey", 0, "station1")


def test_a_change_of_appointment_needs_a_reason_and_moves_the_booking(engine: Engine) -> None:
    task = survey_task(engine)
    engine.field_work.schedule(task.id, "fielddispatch", booking())
    later = date(2026, 11, 25)
    with pytest.raises(FormValidationError, match="原因"):
        engine.field_work.reschedule(task.id, "fielddispatch", booking(day=later), "  ")
    job = engine.field_work.reschedule(task.id, "fielddispatch",
                                       booking(day=later, mode="window", start=time(14), end=time(16)),
                                       "客户周二不在家")
    assert job.mode == "window" and job.day == later and job.half == "pm"
    board = engine.field_work.board(TOMORROW, 2)
    assert board.cell("CQ", TOMORROW, "survey").booked == 0 and board.cell("CQ", later, "survey").booked == 1
    event = engine.field_work.job_history(task.id)[-1]
    assert event.kind == "rescheduled" and event.reason == "客户周二不在家"
    assert event.payload["previous"]["day"] == TOMORROW.isoformat()


def test_a_job_not_checked_in_by_its_appointment_is_late(engine: Engine, clock: Clock) -> None:
    task = survey_task(engine)
    engine.field_work.schedule(task.id, "fielddispatch", booking())
    assert engine.field_work.late_jobs() == []
    clock.advance(days=1, hours=1)  # Tuesday 10:00, appointment was 09:30
    late = engine.field_work.late_jobs()
    assert [j.id for j in late] == [task.id] and late[0].late
    engine.field_work.check_in(task.id, task.assignee, "堵车，晚到半小时")
    assert engine.field_work.late_jobs() == []
    assert engine.field_work.job_history(task.id)[-1].payload["late"] is True


def test_an_appointment_already_past_is_refused(engine: Engine, clock: Clock) -> None:
    task = survey_task(engine)  # the clock says Monday 09:00
    with pytest.raises(FormValidationError, match="已过"):
        engine.field_work.schedule(task.id, "fielddispatch", booking(day=date(2026, 11, 23), start=time(8, 30)))
    assert engine.field_work.job(task.id).status == "waiting"
    booked = engine.field_work.schedule(task.id, "fielddispatch", booking(day=date(2026, 11, 23), start=time(10)))
    assert booked.status == "scheduled" and not booked.late


def test_booking_forms_are_read_with_every_problem_named() -> None:
    with pytest.raises(FormValidationError) as info:
        appointment_from_form({"mode": "window", "day": "2026-13-01", "start": "10:00", "end": "09:00",
                               "contact_phone": "abc"})
    assert set(info.value.field_errors) >= {"station", "day", "end", "contact_name", "contact_phone"}
    appt = appointment_from_form({"station": "CQ", "mode": "deadline", "day": "2026-11-24", "deadline": "2026-11-27",
                                  "contact_name": "李", "contact_phone": "0571-88886666"})
    assert appt.deadline == date(2026, 11, 27) and appt.mode == "deadline"


def test_check_out_opens_a_callback_and_raised_issues_stay_open_until_closed(engine: Engine) -> None:
    task = survey_task(engine)
    work = engine.field_work
    work.schedule(task.id, "fielddispatch", booking())
    work.check_in(task.id, task.assignee, "到达")
    work.check_out(task.id, task.assignee, "完成")
    [callback] = work.callbacks()
    assert callback.job_id == task.id and callback.status == "open"
    with pytest.raises(Forbidden):
        work.record_callback(callback.id, "manager1", True, True, "")
    not_reached = work.record_callback(callback.id, "service", False, None, "")
    assert not_reached.status == "open"  # call again
    with pytest.raises(FormValidationError, match="不满意"):
        work.record_callback(callback.id, "service", True, False, "")
    raised = work.record_callback(callback.id, "service", True, False, "勘查人员未说明下一步流程")
    assert raised.status == "issue_open" and [c.id for c in work.callbacks("issue_open")] == [callback.id]
    closed = work.close_callback(callback.id, "service", "客户经理已电话说明并致歉")
    assert closed.status == "closed" and work.callbacks() == []
    with pytest.raises(Conflict):
        work.close_callback(callback.id, "service", "again")
    assert engine.verify_audit(task.app_no).intact


def test_a_cancelled_site_task_gives_its_capacity_back(engine: Engine) -> None:
    # The hook the engine's step calls when the process moves past a site task without completing it.
    task = survey_task(engine)
    engine.field_work.schedule(task.id, "fielddispatch", booking())
    with engine.store.transaction() as s:
        engine.field_work.jobs_cancelled(s.connection(), [task.id], engine.now())
    assert engine.field_work.job(task.id).status == "cancelled"
    assert engine.field_work.board(TOMORROW, 1).cell("CQ", TOMORROW, "survey").booked == 0


def test_two_dispatchers_booking_the_last_slot_at_once_one_wins(tmp_path: Path, clock: Clock) -> None:
    first = make_engine(tmp_path, clock)
    tasks = [survey_task(first) for _ in range(2)]
    first.field_work.set_capacity("XZ", TOMORROW, "survey", 1, "fielddispatch")
    second = Engine(first.config, clock=clock)  # another process's engine on the same database
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def book(engine: Engine, task_id: str) -> None:
        barrier.wait()
        try:
            engine.field_work.schedule(task_id, "fielddispatch", booking("XZ"))
            outcomes.append("booked")
        except Conflict as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=book, args=(e, t.id)) for e, t in zip((first, second), tasks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes)[0] == "booked" and "约满" in sorted(outcomes)[1], outcomes
    assert first.field_work.board(TOMORROW, 1).cell("XZ", TOMORROW, "survey").booked == 1
    assert sorted(first.field_work.job(t.id).status for t in tasks) == ["scheduled", "waiting"]
    second.dispose()
    first.dispose()


def test_every_path_still_runs_with_its_site_work_done(engine: Engine) -> None:
    for name in ("hv_team", "lv_non_residential", "pv_10kv"):
        last = None
        for last in drive(engine, SCENARIOS[name]):
            pass
        assert last is not None and last.status == "completed", name
    jobs = engine.field_work.jobs(status="finished")
    assert {j.kind for j in jobs} == set(JOB_KINDS)
    assert len(engine.field_work.callbacks()) == len(jobs)
    assert actor_for(engine, "survey_team", None) == "survey"


def test_the_daily_summary_gathers_a_managers_day(engine: Engine, clock: Clock) -> None:
    done, booked = survey_task(engine), survey_task(engine)
    manager = booked.assignee
    do_field_work(engine, done.id, done.assignee)
    engine.complete(done.id, done.assignee, SCENARIOS["hv_solo"].steps[0].data)  # Monday
    engine.field_work.schedule(booked.id, "fielddispatch", booking())
    clock.advance(days=1)  # Tuesday 09:00
    summary = engine.field_work.daily_summary(done.assignee, TOMORROW)
    assert summary.since == date(2026, 11, 23)
    assert [(r["app_no"], r["node_name"]) for r in summary.finished] == [(done.app_no, done.node_name)]
    mine = engine.field_work.daily_summary(manager, TOMORROW)
    assert [j.id for j in mine.appointments] == [booked.id]
    clock.advance(hours=1)
    assert [j.id for j in engine.field_work.daily_summary(manager, TOMORROW).late_jobs] == [booked.id]
    stranger = engine.field_work.daily_summary("planning", TOMORROW)
    assert stranger.appointments == () and stranger.finished == ()


def test_a_reassigned_task_takes_its_site_work_to_the_new_person(engine: Engine) -> None:
    task = survey_task(engine)
    engine.field_work.schedule(task.id, "fielddispatch", booking())
    other = "manager2" if task.assignee == "manager1" else "manager1"
    engine.reassign(task.id, other, "marketing")
    assert engine.field_work.job(task.id).worker == other
    with pytest.raises(Forbidden):
        engine.field_work.check_in(task.id, task.assignee, "原来的人")
    assert engine.field_work.check_in(task.id, other, "接手后到达").status == "on_site"
