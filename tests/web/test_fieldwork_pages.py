"""Field work pages: the dispatcher books from the board, the worker reports, customer service calls back,
stations declare capacity, the dispatch lists and the daily summary print; meetings decide in the browser."""

from __future__ import annotations

import re
from typing import Any, Callable

from engine import Engine
from cli.demo import do_field_work, drive, load_scenarios
from engine.fieldwork.jobs import appointment_from_form

from tests.conftest import PROCESSES, Staff

Actor = Callable[[str], Staff]
SCENARIOS = {s.name: s for s in load_scenarios(PROCESSES / "paths.json")}
BOOKING = {"action": "schedule", "station": "CQ", "day": "2026-11-24", "mode": "window", "start": "09:00",
           "end": "11:00", "contact_name": "王先生", "contact_phone": "13912345678"}


def survey(engine: Engine) -> Any:
    result = next(iter(drive(engine, SCENARIOS["hv_solo"])))
    return next(t for t in result.ready_tasks if t.node_id == "hv_site_survey_solo")


def test_the_dispatcher_books_a_waiting_job_from_the_board(engine: Engine, staff: Actor) -> None:
    task = survey(engine)
    dispatcher = staff("fielddispatch")
    board = dispatcher.get("/fieldwork/").get_data(as_text=True)
    assert f'data-job-id="{task.id}"' in board and "预约派工" in board
    assert 'data-cell="CQ/2026-11-24/survey"' in board
    response = dispatcher.post(f"/fieldwork/jobs/{task.id}", BOOKING)
    assert response.status_code == 302
    job = engine.field_work.job(task.id)
    assert job.status == "scheduled" and job.mode == "window" and job.contact_phone == "13912345678"
    board = dispatcher.get("/fieldwork/").get_data(as_text=True)
    cell = re.search(r'data-cell="CQ/2026-11-24/survey"[^>]*>([^<]+)<', board)
    assert cell and cell.group(1) == "5/6"


def test_a_bad_booking_is_a_400_with_chinese_reasons_and_nothing_saved(engine: Engine, staff: Actor) -> None:
    task = survey(engine)
    response = staff("fielddispatch").post(f"/fieldwork/jobs/{task.id}",
                                           {**BOOKING, "end": "08:00", "contact_phone": "电话"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "时段结束须晚于开始" in page and "联系电话" in page
    assert engine.field_work.job(task.id).status == "waiting"


def test_a_full_day_is_refused_with_409_until_an_override_reason_is_given(engine: Engine, staff: Actor) -> None:
    engine.field_work.set_capacity("CQ", engine.now().date().replace(day=24), "survey", 0, "fielddispatch")
    task = survey(engine)
    dispatcher = staff("fielddispatch")
    refused = dispatcher.post(f"/fieldwork/jobs/{task.id}", BOOKING)
    assert refused.status_code == 409 and "约满" in refused.get_data(as_text=True)
    accepted = dispatcher.post(f"/fieldwork/jobs/{task.id}", {**BOOKING, "override": "1",
                                                               "override_reason": "保电任务"})
    assert accepted.status_code == 302 and engine.field_work.job(task.id).overbooked


def test_others_cannot_book(engine: Engine, staff: Actor) -> None:
    task = survey(engine)
    assert staff("manager1").get("/fieldwork/").status_code == 403
    assert staff("manager1").post(f"/fieldwork/jobs/{task.id}", BOOKING).status_code == 403
    assert engine.field_work.job(task.id).status == "waiting"


def test_the_worker_checks_in_and_out_and_the_task_page_then_allows_completion(engine: Engine,
                                                                               staff: Actor) -> None:
    task = survey(engine)
    staff("fielddispatch").post(f"/fieldwork/jobs/{task.id}", BOOKING)
    worker = staff(task.assignee)
    page = worker.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'data-status="scheduled"' in page and "disabled" in page
    assert worker.get("/fieldwork/mine").get_data(as_text=True).count(task.id) >= 1
    assert worker.post(f"/fieldwork/jobs/{task.id}", {"action": "check_in", "note": ""}).status_code == 400
    assert worker.post(f"/fieldwork/jobs/{task.id}", {"action": "check_in", "note": "已到达"}).status_code == 302
    assert worker.post(f"/fieldwork/jobs/{task.id}", {"action": "check_in", "note": "again"}).status_code == 409
    assert worker.post(f"/fieldwork/jobs/{task.id}", {"action": "check_out", "note": "完成"}).status_code == 302
    page = worker.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'data-status="finished"' in page
    [callback] = engine.field_work.callbacks()
    assert callback.job_id == task.id


def test_customer_service_records_a_callback_and_closes_the_issue(engine: Engine, staff: Actor) -> None:
    task = survey(engine)
    do_field_work(engine, task.id, task.assignee)
    [callback] = engine.field_work.callbacks()
    service = staff("service")
    assert f'data-callback-id="{callback.id}"' in service.get("/callbacks/").get_data(as_text=True)
    bad = service.post(f"/callbacks/{callback.id}", {"action": "record", "reached": "yes", "satisfied": "no"})
    assert bad.status_code == 400 and "问题" in bad.get_data(as_text=True)
    assert service.post(f"/callbacks/{callback.id}", {"action": "record", "reached": "yes", "satisfied": "no",
                                                      "issues": "未告知停电时间"}).status_code == 302
    assert f'data-callback-id="{callback.id}"' in service.get("/callbacks/?list=issues").get_data(as_text=True)
    assert service.post(f"/callbacks/{callback.id}", {"action": "close", "note": "已电话告知"}).status_code == 302
    assert engine.field_work.callback(callback.id).status == "closed"
    assert staff("manager1").get("/callbacks/").status_code == 403


def test_a_station_declares_next_weeks_capacity(engine: Engine, staff: Actor) -> None:
    head = staff("station1")
    page = head.get("/fieldwork/capacity/CQ").get_data(as_text=True)
    assert 'name="cap:2026-11-30:survey"' in page
    assert head.post("/fieldwork/capacity/CQ?week=2026-11-30", {"cap:2026-11-30:survey": "10"}).status_code == 302
    assert engine.field_work.board(engine.now().date().replace(day=30), 1).cell(
        "CQ", engine.now().date().replace(day=30), "survey").capacity == 10
    bad = head.post("/fieldwork/capacity/CQ", {"cap:2026-11-30:survey": "十"})
    assert bad.status_code == 400 and "不是整数" in bad.get_data(as_text=True)
    assert head.get("/fieldwork/capacity/XZ").status_code == 200  # may look
    assert head.post("/fieldwork/capacity/XZ", {"cap:2026-11-30:survey": "1"}).status_code == 403


def test_the_half_day_dispatch_list_prints_the_stations_jobs(engine: Engine, staff: Actor) -> None:
    morning, afternoon = survey(engine), survey(engine)
    dispatcher = staff("fielddispatch")
    dispatcher.post(f"/fieldwork/jobs/{morning.id}", BOOKING)
    dispatcher.post(f"/fieldwork/jobs/{afternoon.id}", {**BOOKING, "mode": "fixed", "start": "14:30", "end": ""})
    am = dispatcher.get("/fieldwork/lists/CQ/2026-11-24/am").get_data(as_text=True)
    pm = dispatcher.get("/fieldwork/lists/CQ/2026-11-24/pm").get_data(as_text=True)
    assert morning.id in am and afternoon.id not in am and afternoon.id in pm and "window.print()" in am
    assert dispatcher.get("/fieldwork/lists/CQ/2026-11-24/noon").status_code == 400


def test_the_daily_summary_is_ones_own_unless_supervising(engine: Engine, staff: Actor) -> None:
    task = survey(engine)
    engine.field_work.schedule(task.id, "fielddispatch", appointment_from_form(
        {**BOOKING, "day": "2026-11-23", "start": "15:00", "end": "16:00"}))
    page = staff(task.assignee).get("/fieldwork/daily").get_data(as_text=True)
    assert f'data-job-id="{task.id}"' in page
    other = "manager2" if task.assignee == "manager1" else "manager1"
    assert staff(other).get(f"/fieldwork/daily?user={task.assignee}").status_code == 403
    assert f'data-job-id="{task.id}"' in staff("marketing").get(
        f"/fieldwork/daily?user={task.assignee}").get_data(as_text=True)


def test_a_meeting_page_decides_three_reviews_and_prints_minutes(engine: Engine, staff: Actor) -> None:
    reviews = []
    for _ in range(3):
        for result in drive(engine, SCENARIOS["hv_design_review_sendback"]):
            found = [t for t in result.ready_tasks if t.node_id == "hv_design_review"]
            if found:
                reviews.append(found[0])
                break
    chair = staff("planning")
    opened = chair.post("/meetings/", {"week": "2026-11-23"})
    assert opened.status_code == 302
    meeting_url = opened.headers["Location"]
    page = chair.get(meeting_url).get_data(as_text=True)
    items = dict(re.findall(r'data-item-id="(\d+)" data-app-no="([^"]+)"', page))
    assert sorted(items.values()) == sorted(t.app_no for t in reviews)
    form = {}
    for item_id in items:
        form[f"decision:{item_id}"] = "pass"
        form[f"opinion:{item_id}"] = "同意"
        form[f"documents:{item_id}"] = "1"
    assert chair.post(meeting_url, form).status_code == 302
    assert all(engine.task(t.id).status == "completed" for t in reviews)
    closed = chair.post(meeting_url, {"action": "close", "attendees": "刘洋，李强\n王芳", "notes": "无"})
    assert closed.status_code == 302
    minutes = chair.get(closed.headers["Location"]).get_data(as_text=True)
    assert "刘洋、李强、王芳" in minutes and minutes.count("通过") >= 3
    assert staff("auditor").get(closed.headers["Location"]).status_code == 200
    assert staff("metering").get("/meetings/").status_code == 403
