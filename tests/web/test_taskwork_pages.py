"""The task work in the pages: the pool tab, bulk actions, saved filters, 转办, 催办, 抄送, comments (one shown to
the customer), 委托代理, a sent-back task's banner and prefilled form, the boundary proposed by voltage, and the
field-work fixes (the customer's contact offered for a booking, a capacity form saved after an override)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any, Callable

from cli.demo import do_field_work, drive, load_scenarios
from engine import Appointment, Engine, EventKind

from tests.conftest import PROCESSES, Clock, Staff
from tests.web.test_tasks import as_form, field_error, reach, row_ids

Actor = Callable[[str], Staff]
SCENARIOS = {s.name: s for s in load_scenarios(PROCESSES / "paths.json")}


def run(engine: Engine, name: str, steps: int = 0) -> Any:
    last = None
    for last in drive(engine, SCENARIOS[name], stop_after=steps):
        pass
    return last


def open_task(engine: Engine, app_no: str, node_id: str) -> Any:
    return next(t for t in engine.application(app_no).open_tasks if t.node_id == node_id)


def input_value(page: str, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*value="([^"]*)"', page) or \
        re.search(rf'<textarea[^>]*name="{re.escape(name)}"[^>]*>([^<]*)</textarea>', page)
    assert match, f"no input {name}"
    return match.group(1)


# ----------------------------------------------------------------------------- the list


def test_the_pool_tab_does_not_repeat_my_assigned_tasks(engine: Engine, staff: Actor) -> None:
    survey = run(engine, "hv_solo").ready_tasks[0]
    manager = staff(survey.assignee)
    assert survey.id in row_ids(manager.get("/?scope=mine").get_data(as_text=True))
    assert survey.id not in row_ids(manager.get("/?scope=pool").get_data(as_text=True))


def test_ticked_tasks_are_claimed_together_and_the_one_taken_meanwhile_is_named(engine: Engine,
                                                                                 staff: Actor) -> None:
    ids = [run(engine, "lv_residential").ready_tasks[0].id for _ in range(3)]
    engine.create_user("frontdesk2", "柜台受理员 李娜", ["front_desk"], "pw")
    clerk = staff("frontdesk")
    page = clerk.get("/?scope=pool").get_data(as_text=True)
    assert page.count('class="pick"') == 3 and "批量认领" in page and "批量改派" not in page
    engine.claim(ids[2], "frontdesk2")  # a colleague is quicker with the third
    response = clerk.post("/tasks/bulk", {"action": "claim", "task": ids, "next": "/?scope=pool"})
    assert response.status_code == 302 and response.headers["Location"] == "/?scope=pool"
    assert [engine.task(i).claimed_by for i in ids] == ["frontdesk", "frontdesk", "frontdesk2"]
    mine = clerk.get("/?scope=mine").get_data(as_text=True)
    assert "已认领 2 项任务" in mine and "1 项未能认领：该任务已被柜台受理员 李娜认领" in mine
    boss = staff("marketing")
    assert "批量改派" in boss.get("/?scope=all").get_data(as_text=True)
    boss.post("/tasks/bulk", {"action": "reassign", "to": "frontdesk2", "task": ids[:2]})
    assert {engine.task(i).assignee for i in ids[:2]} == {"frontdesk2"}
    assert clerk.post("/tasks/bulk", {"action": "steal", "task": ids}).status_code == 400


def test_a_saved_filter_is_kept_for_its_owner_only(engine: Engine, staff: Actor) -> None:
    run(engine, "hv_solo")
    manager = staff("manager1")
    saved = manager.post("/filters", {"name": "高压勘查", "scope": "mine", "process": "hv",
                                      "node": "hv_site_survey_solo"})
    assert saved.status_code == 302 and "process=hv" in saved.headers["Location"]
    page = manager.get(saved.headers["Location"]).get_data(as_text=True)
    assert re.search(r'class="chip active"[^>]*>\s*<a href="[^"]*">高压勘查</a>', page)
    assert "高压勘查" not in staff("manager2").get("/").get_data(as_text=True)
    (kept,) = engine.filters("manager1")
    assert staff("manager2").post(f"/filters/{kept.id}/delete").status_code == 403
    assert manager.post(f"/filters/{kept.id}/delete").status_code == 302 and engine.filters("manager1") == []


# ----------------------------------------------------------------------------- 转办, 催办, 抄送, comments


def test_the_holder_transfers_a_task_from_its_page(engine: Engine, staff: Actor) -> None:
    survey = run(engine, "hv_solo").ready_tasks[0]
    holder = staff(survey.assignee)
    colleague = "manager2" if survey.assignee == "manager1" else "manager1"
    page = holder.get(f"/tasks/{survey.id}").get_data(as_text=True)
    assert 'id="transfer"' in page and f'value="{colleague}"' in page
    refused = holder.post(f"/tasks/{survey.id}/transfer", {"to": colleague, "reason": ""})
    assert refused.status_code == 302 and engine.task(survey.id).assignee == survey.assignee
    done = holder.post(f"/tasks/{survey.id}/transfer", {"to": colleague, "reason": "客户在其片区"})
    assert done.status_code == 302 and engine.task(survey.id).assignee == colleague
    notices = staff(colleague).get("/notices/").get_data(as_text=True)
    assert "转办" in notices and "客户在其片区" in notices
    assert staff("manager1" if colleague == "manager2" else "manager2").post(
        f"/tasks/{survey.id}/transfer", {"to": survey.assignee, "reason": "x"}).status_code == 403


def test_a_supervisor_urges_from_the_application_page(engine: Engine, staff: Actor) -> None:
    app = run(engine, "hv_solo")
    survey = app.ready_tasks[0]
    boss = staff("marketing")
    page = boss.get(f"/applications/{app.app_no}").get_data(as_text=True)
    assert f"/applications/{app.app_no}/tasks/{survey.id}/urge" in page
    assert boss.post(f"/applications/{app.app_no}/tasks/{survey.id}/urge", {"note": "客户来电"}).status_code == 302
    assert "已催办" in boss.get(f"/applications/{app.app_no}").get_data(as_text=True)
    notices = staff(survey.assignee).get("/notices/").get_data(as_text=True)
    assert "催办" in notices and "营销部 陈静（主管）催办" in notices and "客户来电" in notices
    assert "已催办" in staff(survey.assignee).get("/").get_data(as_text=True)
    other = staff("planning")
    assert "/urge" not in other.get(f"/applications/{app.app_no}").get_data(as_text=True)
    assert other.post(f"/applications/{app.app_no}/tasks/{survey.id}/urge").status_code == 403


def test_a_decision_is_copied_at_submit_and_from_the_application_page(engine: Engine, staff: Actor) -> None:
    approval = reach(engine, SCENARIOS["hv_solo"], "hv_plan_approval")
    boss = staff("marketing")
    data = as_form(dict(SCENARIOS["hv_solo"].steps[2].data))
    response = boss.post(f"/tasks/{approval.id}", {**data, "copy_to": ["dispatch", "archive"], "copy_note": "请知悉"})
    assert response.status_code == 302
    for who in ("dispatch", "archive"):
        notices = staff(who).get("/notices/").get_data(as_text=True)
        assert "抄送" in notices and "审批结论：通过" in notices and "请知悉" in notices
    again = boss.post(f"/applications/{approval.app_no}/copy", {"task": approval.id, "to": ["planning"]})
    assert again.status_code == 302 and "审批结论：通过" in engine.notifications("planning")[0].message
    bad = boss.post(f"/tasks/{open_task(engine, approval.app_no, 'hv_reply_supply_plan').id}",
                    {"copy_to": ["marketing"]})
    assert bad.status_code in (400, 403)


def test_a_public_comment_reaches_the_customers_progress_page(engine: Engine, staff: Actor, client: Staff) -> None:
    app = run(engine, "hv_solo")
    clerk = staff("frontdesk")
    clerk.post(f"/applications/{app.app_no}/comments", {"body": "内部：客户只接下午电话"})
    clerk.post(f"/applications/{app.app_no}/comments", {"body": "您的资料已收齐，请保持电话畅通", "public": "1"})
    page = clerk.get(f"/applications/{app.app_no}").get_data(as_text=True)
    assert "内部：客户只接下午电话" in page and "对客户公开" in page
    empty = clerk.post(f"/applications/{app.app_no}/comments", {"body": "  "})
    assert empty.status_code == 302 and len(engine.comments(app.app_no)) == 2
    assert staff("auditor").post(f"/applications/{app.app_no}/comments", {"body": "x"}).status_code == 403
    digits = SCENARIOS["hv_solo"].start["contact_phone"][-4:]
    progress = client.post("/progress", {"app_no": app.app_no, "phone_tail": digits}).get_data(as_text=True)
    assert "您的资料已收齐，请保持电话畅通" in progress and "内部" not in progress
    kinds = [e.kind for e in engine.application(app.app_no).history]
    assert kinds.count(EventKind.APPLICATION_COMMENTED) == 2


# ----------------------------------------------------------------------------- 委托代理


def test_a_substitute_is_set_on_the_page_and_works_the_absent_colleagues_task(engine: Engine, clock: Clock,
                                                                              staff: Actor) -> None:
    survey = run(engine, "hv_solo").ready_tasks[0]
    absent = staff(survey.assignee)
    deputy_name = "manager2" if survey.assignee == "manager1" else "manager1"
    today = clock.now.date()
    bad = absent.post("/delegation/", {"substitute": deputy_name, "first_day": today.isoformat(),
                                       "last_day": (today - timedelta(days=1)).isoformat(), "reason": "年休假"})
    page = bad.get_data(as_text=True)
    assert bad.status_code == 400 and field_error(page, "last_day") == "结束日期不能早于开始日期"
    assert 'value="年休假"' in page  # the form is kept
    good = absent.post("/delegation/", {"substitute": deputy_name, "first_day": today.isoformat(),
                                        "last_day": (today + timedelta(days=2)).isoformat(), "reason": "年休假"})
    assert good.status_code == 302
    deputy = staff(deputy_name)
    listing = deputy.get("/?scope=mine").get_data(as_text=True)
    assert survey.id in row_ids(listing) and "您正在代理" in listing and "代理</span>" in listing
    task_page = deputy.get(f"/tasks/{survey.id}")
    assert task_page.status_code == 200 and "您代理" in task_page.get_data(as_text=True)
    do_field_work(engine, survey.id, survey.assignee)
    done = deputy.post(f"/tasks/{survey.id}", as_form(dict(SCENARIOS["hv_solo"].steps[0].data)))
    assert done.status_code == 302 and engine.task(survey.id).completed_by == deputy_name
    (leave,) = engine.substitutions(survey.assignee)
    assert absent.post(f"/delegation/{leave.id}/cancel").status_code == 302
    assert engine.standing_in_for(deputy_name) == []
    assert staff("metering").post(f"/delegation/{leave.id}/cancel").status_code in (403, 409)


# ----------------------------------------------------------------------------- sent back, defaults


def test_a_sent_back_plan_opens_prefilled_under_a_banner(engine: Engine, staff: Actor) -> None:
    scenario = SCENARIOS["hv_joint_review_sendback"]
    app = run(engine, "hv_joint_review_sendback", steps=4)
    again = open_task(engine, app.app_no, "hv_draft_supply_plan")
    page = staff(again.assignee).get(f"/tasks/{again.id}").get_data(as_text=True)
    banner = page.index('id="sent-back"')
    assert banner < page.index('class="task-form"')  # at the top, before the form
    assert "供电方案会审（设计）退回修改" in page and "设计室 许晴" in page
    assert scenario.steps[3].data["joint_design_opinion"] in page
    assert input_value(page, "source_line") == scenario.steps[1].data["source_line"]


def test_the_first_plan_proposes_the_boundary_for_its_voltage_and_submits_without_typing_it(
        engine: Engine, staff: Actor) -> None:
    app = run(engine, "hv_solo", steps=1)
    plan = open_task(engine, app.app_no, "hv_draft_supply_plan")
    manager = staff(plan.assignee)
    page = manager.get(f"/tasks/{plan.id}").get_data(as_text=True)
    assert 'id="sent-back"' not in page
    assert input_value(page, "property_boundary") == "用户站外第一断路器或第一支持物"
    assert "用户站外第一基电杆" in page  # the 35 kV proposal, for the script to swap in
    data = {k: v for k, v in dict(SCENARIOS["hv_solo"].steps[1].data).items()
            if k not in ("property_boundary", "maintenance_duty")}
    posted = manager.post(f"/tasks/{plan.id}", {**as_form(data),
                                                "property_boundary": input_value(page, "property_boundary"),
                                                "maintenance_duty": input_value(page, "maintenance_duty")})
    assert posted.status_code == 302


# ----------------------------------------------------------------------------- field work


def test_a_booking_offers_the_contact_given_at_acceptance(engine: Engine, staff: Actor) -> None:
    survey = run(engine, "hv_solo").ready_tasks[0]
    page = staff("fielddispatch").get(f"/fieldwork/jobs/{survey.id}").get_data(as_text=True)
    start = SCENARIOS["hv_solo"].start
    assert input_value(page, "contact_name") == start["contact_name"]
    assert input_value(page, "contact_phone") == start["contact_phone"]


def test_the_capacity_form_saves_after_a_booking_beyond_capacity(engine: Engine, clock: Clock,
                                                                 staff: Actor) -> None:
    monday = date(2026, 11, 30)
    engine.field_work.set_capacity("CQ", monday, "survey", 1, "fielddispatch")
    first, second = run(engine, "hv_solo").ready_tasks[0], run(engine, "hv_solo").ready_tasks[0]
    booking = Appointment("CQ", monday, "fixed", "王先生", "13912345678", start=clock.now.time().replace(hour=10))
    engine.field_work.schedule(first.id, "fielddispatch", booking)
    engine.field_work.schedule(second.id, "fielddispatch", booking, override_reason="重点项目")
    head = staff("station1")
    page = head.get("/fieldwork/capacity/CQ?week=2026-11-30").get_data(as_text=True)
    assert input_value(page, "cap:2026-11-30:survey") == "1" and "超约 1" in page
    tag = re.search(r'<input type="number" min="(\d+)" max="200" name="cap:2026-11-30:survey" value="(\d+)"', page)
    assert tag and int(tag.group(1)) <= int(tag.group(2))  # the browser lets the form be submitted as it stands
    cells = {m.group(1): m.group(2) for m in re.finditer(r'<input type="number" min="\d+" max="200" '
                                                         r'name="(cap:[^"]+)" value="(\d+)"', page)}
    saved = head.post("/fieldwork/capacity/CQ?week=2026-11-30", {**cells, "cap:2026-12-01:survey": "8"})
    assert saved.status_code == 302
    assert engine.field_work.board(date(2026, 12, 1), 1).cell("CQ", date(2026, 12, 1), "survey").capacity == 8
    lowered = head.post("/fieldwork/capacity/CQ?week=2026-11-30", {**cells, "cap:2026-11-30:survey": "0"})
    assert lowered.status_code == 400 and "不能调低" in lowered.get_data(as_text=True)
    board = staff("fielddispatch").get("/fieldwork/?from=2026-11-30").get_data(as_text=True)
    cell = re.search(r'data-cell="CQ/2026-11-30/survey"[^>]*>([^<]+)<span class="over">([^<]+)<', board)
    assert cell and cell.groups() == ("0/1", "超约 1")
