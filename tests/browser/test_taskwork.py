"""The staff's task work in the browser, each part as the role that uses it: the clerk's pool and bulk claim, a
manager's saved filter, 转办, 委托 to a colleague during leave, 营销部's 催办 and 抄送, a comment the customer
sees, a plan sent back by the joint review opening prefilled under a banner, the boundary proposed by voltage,
and the dispatcher's and station head's field-work fixes."""

from __future__ import annotations

from datetime import date, time, timedelta
from pathlib import Path

from engine import Appointment

from tests.browser.conftest import LiveServer, Person
from tests.browser.flow import (
    DISPLAY_NAMES,
    PATHS,
    assert_clean,
    drive_with_engine,
    fill_form,
    flash_text,
    open_tasks,
    server_engine,
    start_with_cli,
    submit,
)


def test_the_clerk_claims_several_pool_tasks_at_once_and_saves_the_filter(person: Person, live_server: LiveServer,
                                                                         tmp_path: Path) -> None:
    apps = [start_with_cli(live_server, tmp_path, "lv_residential", customer_name=f"批量认领测试{i}") for i in range(3)]
    ids = [open_tasks(live_server, a)["lv_sign_simple"].id for a in apps]
    page = person.page
    person.login("frontdesk")
    person.go("/?scope=pool&q=批量认领测试")
    for task_id in ids:
        page.locator(f'tr[data-task-id="{task_id}"] input.pick').check()
    assert page.locator("#selected-count").inner_text() == "3"
    person.shot("taskwork-01-bulk-claim")
    with page.expect_navigation():
        page.get_by_role("button", name="批量认领").click()
    assert "已认领 3 项任务" in flash_text(person)
    assert {server_engine(live_server).task(t).claimed_by for t in ids} == {"frontdesk"}
    # the pool no longer lists them; "mine" does
    person.go("/?scope=pool&q=批量认领测试")
    assert page.locator("tr[data-task-id]").count() == 0

    # keep this search as a named filter, and come back to it with one click
    person.go("/?scope=mine&q=批量认领测试")
    save = page.locator("#saved-filters form.save")
    save.locator("input[name=name]").fill("批量认领测试")
    with page.expect_navigation():
        save.get_by_role("button", name="保存当前筛选").click()
    person.go("/")
    page.locator("#saved-filters .chip a", has_text="批量认领测试").click()
    page.wait_for_url("**q=*")
    assert page.locator("tr[data-task-id]").count() == 3
    assert page.locator("#saved-filters .chip.active").count() == 1
    assert_clean(person, "task list with a saved filter")


def test_a_manager_transfers_a_task_to_a_colleague(person: Person, live_server: LiveServer, tmp_path: Path) -> None:
    app_no = start_with_cli(live_server, tmp_path, "hv_solo", customer_name="转办测试有限公司",
                            preferred_manager="manager1")
    task = open_tasks(live_server, app_no)["hv_site_survey_solo"]
    assert task.holder == "manager1"
    page = person.page
    person.login("manager1")
    person.go(f"/tasks/{task.id}")
    page.locator("details#transfer summary").click()
    form = page.locator("form.transfer-form")
    form.locator("select[name=to]").select_option(label=DISPLAY_NAMES["manager2"])
    form.locator("input[name=reason]").fill("本周驻点外出，客户在王芳片区")
    person.shot("taskwork-02-transfer")
    with page.expect_navigation():
        form.get_by_role("button", name="转办").click()
    assert f"转给{DISPLAY_NAMES['manager2']}办理" in flash_text(person)
    assert open_tasks(live_server, app_no)["hv_site_survey_solo"].holder == "manager2"

    person.login("manager2")
    assert page.locator("#nav-notices .nav-badge").count() == 1
    page.get_by_role("link", name="通知").click()
    row = page.locator("tr.kind-transfer", has_text=app_no)
    assert "本周驻点外出" in row.inner_text() and DISPLAY_NAMES["manager1"] in row.inner_text()
    assert_clean(person, "notices after a transfer")


def test_a_substitute_works_the_task_of_a_colleague_on_leave(person: Person, live_server: LiveServer,
                                                             tmp_path: Path) -> None:
    app_no = start_with_cli(live_server, tmp_path, "hv_solo", customer_name="委托代办测试有限公司",
                            preferred_manager="manager2")
    task = open_tasks(live_server, app_no)["hv_site_survey_solo"]
    page = person.page
    person.login("manager2")
    page.get_by_role("link", name="委托代理").click()
    form = page.locator("#new form")
    # a period that ends before it starts is refused next to the field, the form kept
    form.locator("select[name=substitute]").select_option(label=DISPLAY_NAMES["manager1"])
    form.locator("input[name=last_day]").fill((date.today() - timedelta(days=1)).isoformat())
    form.locator("input[name=reason]").fill("年休假")
    response = submit(person, form, "保存委托")
    assert response.status == 400
    assert page.locator('.field-error[data-field="last_day"]').inner_text() == "结束日期不能早于开始日期"
    assert page.locator("#new input[name=reason]").input_value() == "年休假"
    page.locator("#new input[name=last_day]").fill((date.today() + timedelta(days=2)).isoformat())
    response = submit(person, page.locator("#new form"), "保存委托")
    assert response.status == 302 and "由客户经理 李强代为办理" in flash_text(person)
    person.shot("taskwork-03-delegation")
    try:
        person.login("manager1")
        assert page.locator("#standing-in").count() == 1  # the list says whose work this is
        row = page.locator(f'tr[data-task-id="{task.id}"]')
        assert "代理" in row.inner_text() and DISPLAY_NAMES["manager2"] in row.inner_text()
        person.shot("taskwork-04-substitute-list")
        row.get_by_role("link", name="办理").click()
        page.wait_for_url(f"**/tasks/{task.id}")
        assert "您代理客户经理 王芳办理" in page.locator(".task-head").inner_text()
        assert_clean(person, "the absent colleague's task")
    finally:
        person.login("manager2")
        person.go("/delegation/")
        with page.expect_navigation():
            page.locator("#current tr", has_text=DISPLAY_NAMES["manager1"]).get_by_role("button", name="取消委托").click()
    assert server_engine(live_server).standing_in_for("manager1") == []


def test_marketing_urges_an_open_task_and_its_holder_is_told(person: Person, live_server: LiveServer,
                                                             tmp_path: Path) -> None:
    app_no = start_with_cli(live_server, tmp_path, "hv_solo", customer_name="催办测试有限公司",
                            preferred_manager="manager1")
    task = open_tasks(live_server, app_no)["hv_site_survey_solo"]
    page = person.page
    person.login("marketing")
    person.go(f"/applications/{app_no}")
    row = page.locator(f'tr[data-task-id="{task.id}"]')
    row.locator("input[name=note]").fill("客户来电催问勘查时间")
    with page.expect_navigation():
        row.get_by_role("button", name="催办").click()
    assert f"已催办「{task.node_name}」，已通知{DISPLAY_NAMES['manager1']}" in flash_text(person)
    assert "已催办" in page.locator(f'tr[data-task-id="{task.id}"]').inner_text()
    timeline = page.locator("table.timeline").inner_text()
    assert "催办「现场勘查（客户经理）」" in timeline and "客户来电催问勘查时间" in timeline
    person.shot("taskwork-05-urged")

    person.login("manager1")
    person.go("/notices/")
    notice = page.locator("tr.kind-urge", has_text=app_no).first
    assert "营销部 陈静（主管）催办" in notice.inner_text() and "客户来电催问勘查时间" in notice.inner_text()
    assert_clean(person, "notices with an urge")


def test_marketing_copies_its_approval_to_colleagues_when_submitting(person: Person, live_server: LiveServer) -> None:
    app_no = drive_with_engine(live_server, "hv_solo", 2, customer_name="抄送测试有限公司")
    task = open_tasks(live_server, app_no)["hv_plan_approval"]
    page = person.page
    person.login("marketing")
    person.go(f"/tasks/{task.id}")
    form = page.locator("form.task-form")
    fill_form(form, dict(PATHS["hv_solo"]["steps"][2][1]))
    page.locator("details.copy-on-submit summary").click()
    form.locator("select[name=copy_to]").select_option(label=[DISPLAY_NAMES["dispatch"], DISPLAY_NAMES["archive"]])
    form.locator("input[name=copy_note]").fill("请知悉审批结论")
    person.shot("taskwork-06-copy-on-submit")
    response = submit(person, form, "提交办理")
    assert response.status == 302
    assert "办理结果已抄送" in flash_text(person)
    person.login("dispatch")
    person.go("/notices/")
    notice = page.locator("tr.kind-copy", has_text=app_no).first
    assert "审批结论：通过" in notice.inner_text() and "请知悉审批结论" in notice.inner_text()
    with page.expect_navigation():
        notice.get_by_role("button", name="查看").click()
    assert page.url.endswith(f"/applications/{app_no}")  # a copied decision opens its application
    assert_clean(person, "application opened from a copy")


def test_a_comment_shown_to_the_customer_appears_on_the_progress_page(person: Person, live_server: LiveServer,
                                                                      tmp_path: Path) -> None:
    app_no = start_with_cli(live_server, tmp_path, "lv_residential", customer_name="留言测试")
    page = person.page
    person.login("frontdesk")
    person.go(f"/applications/{app_no}")
    comments = page.locator("#comments")
    comments.locator("textarea[name=body]").fill("内部：客户只接下午电话")
    with page.expect_navigation():
        comments.get_by_role("button", name="保存留言").click()
    comments = page.locator("#comments")
    comments.locator("textarea[name=body]").fill("您的资料已收齐，施工人员将在两个工作日内联系您")
    comments.locator("input[name=public]").check()
    with page.expect_navigation():
        comments.get_by_role("button", name="保存留言").click()
    assert "客户可在办事进度中看到" in flash_text(person)
    assert page.locator("#comments li.comment").count() == 2
    person.shot("taskwork-07-comments")

    page.context.clear_cookies()
    person.go("/progress")
    page.locator("input[name=app_no]").fill(app_no)
    page.locator("input[name=phone_tail]").fill(PATHS["lv_residential"]["start"]["contact_phone"][-4:])
    with page.expect_navigation():
        page.locator("main button[type=submit]").click()
    remarks = page.locator("#remarks").inner_text()
    assert "您的资料已收齐" in remarks and "内部" not in page.content()
    person.shot("taskwork-08-progress-remarks")


def test_a_plan_sent_back_by_the_joint_review_opens_prefilled_under_a_banner(person: Person,
                                                                             live_server: LiveServer) -> None:
    path = PATHS["hv_joint_review_sendback"]
    app_no = drive_with_engine(live_server, "hv_joint_review_sendback", 4, customer_name="会审退回测试有限公司")
    task = open_tasks(live_server, app_no)["hv_draft_supply_plan"]
    page = person.page
    person.login(task.actor)
    person.go(f"/tasks/{task.id}")
    banner = page.locator("#sent-back")
    assert banner.is_visible()
    assert banner.bounding_box()["y"] < page.locator("form.task-form").bounding_box()["y"]  # at the top
    text = banner.inner_text()
    # 发展策划 passed; 设计 refused, and its refusal is what the banner shows
    assert "供电方案会审（设计）退回修改" in text and DISPLAY_NAMES["design"] in text
    assert path["steps"][3][1]["joint_design_opinion"] in text
    first = path["steps"][1][1]
    assert page.locator("form.task-form input[name=source_line]").input_value() == first["source_line"]
    person.shot("taskwork-09-sent-back")
    # resubmitting what the page holds, with the change the review asked for, goes through
    fill_form(page.locator("form.task-form"), dict(path["steps"][4][1]))
    assert submit(person, page.locator("form.task-form"), "提交办理").status == 302
    assert_clean(person, "a sent-back plan resubmitted")


def test_the_first_plan_proposes_the_boundary_for_the_voltage_chosen(person: Person, live_server: LiveServer) -> None:
    app_no = drive_with_engine(live_server, "hv_solo", 1, customer_name="产权分界测试有限公司")
    task = open_tasks(live_server, app_no)["hv_draft_supply_plan"]
    page = person.page
    person.login(task.actor)
    person.go(f"/tasks/{task.id}")
    assert page.locator("#sent-back").count() == 0
    boundary = page.locator("form.task-form input[name=property_boundary]")
    duty = page.locator("form.task-form [name=maintenance_duty]")
    assert boundary.input_value() == "用户站外第一断路器或第一支持物"
    page.locator("form.task-form select[name=supply_voltage_kv]").select_option("35")
    assert boundary.input_value() == "用户站外第一基电杆" and "用户站外第一基电杆" in duty.input_value()
    page.locator("form.task-form select[name=supply_voltage_kv]").select_option("10")
    assert boundary.input_value() == "用户站外第一断路器或第一支持物"
    person.shot("taskwork-10-boundary-defaults")
    data = {k: v for k, v in PATHS["hv_solo"]["steps"][1][1].items() if k not in ("property_boundary",
                                                                                   "maintenance_duty")}
    fill_form(page.locator("form.task-form"), data)
    response = submit(person, page.locator("form.task-form"), "提交办理")
    assert response.status == 302, page.locator(".field-error").all_inner_texts()  # the first submit goes through


def test_the_dispatcher_gets_the_customers_contact_and_the_station_saves_after_an_override(
        person: Person, live_server: LiveServer, tmp_path: Path) -> None:
    engine = server_engine(live_server)
    app_no = start_with_cli(live_server, tmp_path, "hv_solo", customer_name="联系人测试有限公司")
    first = open_tasks(live_server, app_no)["hv_site_survey_solo"]
    page = person.page
    person.login("fielddispatch")
    person.go(f"/fieldwork/jobs/{first.id}")
    start = PATHS["hv_solo"]["start"]
    assert page.locator("#book input[name=contact_name]").input_value() == start["contact_name"]
    assert page.locator("#book input[name=contact_phone]").input_value() == start["contact_phone"]
    assert "CQ" not in page.locator("main").inner_text() and "XZ" not in page.locator("main").inner_text()

    # a Monday four weeks on, declared at one survey, booked twice (the second beyond capacity, with a reason)
    monday = date.today() + timedelta(days=28 - date.today().weekday())
    engine.field_work.set_capacity("CQ", monday, "survey", 1, "fielddispatch")
    second = open_tasks(live_server, start_with_cli(live_server, tmp_path, "hv_solo",
                                                    customer_name="超承载力测试有限公司"))["hv_site_survey_solo"]
    for job, reason in ((first, ""), (second, "重点项目，客户要求尽快")):
        booking = Appointment("CQ", monday, "fixed", "王建国", "13812345678", start=time(10))
        engine.field_work.schedule(job.id, "fielddispatch", booking, override_reason=reason)
    person.go(f"/fieldwork/?from={monday.isoformat()}")
    cell = page.locator(f'#capacity td[data-cell="CQ/{monday.isoformat()}/survey"]')
    assert cell.inner_text().split("\n") == ["0/1", "超约 1"]  # never a negative remainder
    person.shot("taskwork-11-capacity-board")

    person.login("station1")
    person.go(f"/fieldwork/capacity/CQ?week={monday.isoformat()}")
    page.locator(f'input[name="cap:{(monday + timedelta(days=1)).isoformat()}:survey"]').fill("7")
    with page.expect_navigation():
        page.get_by_role("button", name="保存承载力").click()
    assert "承载力已保存" in flash_text(person)
    assert engine.field_work.board(monday + timedelta(days=1), 1).cell(
        "CQ", monday + timedelta(days=1), "survey").capacity == 7
    assert_clean(person, "capacity saved after an override")
