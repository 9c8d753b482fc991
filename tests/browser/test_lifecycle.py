"""The case lifecycle in a real browser: suspend (refused without a reason, then made) and resume; the joint review
as a countersign whose refusal returns the plan with the reasons; the repair of a case in error by correcting its
data and retrying; a withdrawal the customer sees on the progress page."""

from __future__ import annotations

from pathlib import Path

from tests.browser.conftest import LiveServer, Person
from tests.browser.flow import (
    PATHS,
    assert_clean,
    do_task,
    finish_site_work,
    flash_text,
    open_tasks,
    run_path,
    start_with_cli,
    submit,
)


def test_suspend_is_refused_without_a_reason_then_made_and_resumed(person: Person, live_server: LiveServer,
                                                                     tmp_path: Path) -> None:
    app_no = start_with_cli(live_server, tmp_path, "hv_solo", customer_name="暂停测试机械有限公司")
    page = person.page
    person.login("manager1")
    person.go(f"/applications/{app_no}")
    page.locator("#lifecycle summary", has_text="暂停办理").click()
    form = page.locator("#lifecycle form[action$='/suspend']")
    response = submit(person, form, "确认暂停")
    assert response.status == 400
    assert "请填写原因" in page.locator('#lifecycle .field-error[data-field="reason"]').inner_text()
    form = page.locator("#lifecycle form[action$='/suspend']")
    assert form.is_visible()  # the form stays open with its message
    form.locator("textarea[name=reason]").fill("客户申请暂缓：厂房规划调整")
    person.shot("lifecycle-01-suspend-reason")
    response = submit(person, form, "确认暂停")
    assert response.status == 302 and "已暂停办理" in flash_text(person)
    assert page.locator(".badge.status-suspended").first.inner_text() == "已暂停"
    assert "客户申请暂缓：厂房规划调整" in page.locator(".app-hold").inner_text()
    person.shot("lifecycle-02-suspended")
    assert_clean(person, "suspended application page")

    survey = open_tasks(live_server, app_no)["hv_site_survey_solo"]
    person.login(survey.actor)  # the manager it went to (the one with the fewest open tasks)
    person.go(f"/tasks/{survey.id}")
    assert "申请已暂停" in page.locator(".task-hold").inner_text()
    assert page.get_by_role("button", name="提交办理").is_disabled()

    person.login("manager1")
    person.go(f"/applications/{app_no}")
    page.locator("#lifecycle summary", has_text="恢复办理").click()
    response = submit(person, page.locator("#lifecycle form[action$='/resume']"), "确认恢复")
    assert response.status == 302 and page.locator(".badge.big").inner_text() == "进行中"
    timeline = page.locator("table.timeline").inner_text()
    assert "暂停办理" in timeline and "恢复办理" in timeline


def test_a_refusal_in_the_joint_review_returns_the_plan_with_the_reasons(person: Person, live_server: LiveServer,
                                                                         tmp_path: Path) -> None:
    path = PATHS["hv_joint_review"]  # dual supply: planning, design and dispatch review the plan
    app_no = start_with_cli(live_server, tmp_path, "hv_joint_review", customer_name="会审测试电子有限公司")
    run_path(person, live_server, app_no, path["steps"][:2])  # survey, draft the plan
    tasks = open_tasks(live_server, app_no)
    assert {t.role for t in tasks.values()} == {"planning", "design", "dispatch"}
    do_task(person, app_no, tasks["hv_joint_review"], {"joint_review_result": "pass", "joint_review_opinion": "同意"})
    do_task(person, app_no, tasks["hv_joint_review_design"], {"joint_design_result": "pass",
                                                              "joint_design_opinion": "同意"})
    do_task(person, app_no, tasks["hv_joint_review_dispatch"], {"joint_dispatch_result": "reject",
                                                                "joint_dispatch_opinion": "备用电源须取自另一座变电站"})
    redraft = open_tasks(live_server, app_no)
    assert list(redraft) == ["hv_draft_supply_plan"]
    person.login(redraft["hv_draft_supply_plan"].actor)
    person.go(f"/tasks/{redraft['hv_draft_supply_plan'].id}")
    earlier = person.page.locator("aside.earlier").inner_text()
    assert "会审未通过" in earlier and "调度：备用电源须取自另一座变电站" in earlier
    # the form starts from the plan drafted before
    assert person.page.locator("form.task-form [name=source_line]").input_value() == path["steps"][1][1]["source_line"]
    person.shot("lifecycle-03-plan-returned-by-countersign")
    assert_clean(person, "redraft task page")


def test_a_case_in_error_is_corrected_and_retried_from_its_page(person: Person, live_server: LiveServer,
                                                                tmp_path: Path) -> None:
    app_no = start_with_cli(live_server, tmp_path, "hv_solo", customer_name="修复测试仪表有限公司",
                            preferred_manager="nobody")  # an unknown manager: the assignment fails
    page = person.page
    person.login("marketing")
    person.go(f"/applications/{app_no}")
    assert "流程异常" in page.locator(".app-error").inner_text()
    page.locator(".app-error a", has_text="更正").click()
    page.wait_for_url(f"**/applications/{app_no}/correct")
    page.locator("table.correctable tr", has_text="指定客户经理").get_by_role("link", name="更正 ›").click()
    form = page.locator("form.task-form")
    form.locator("label.choice", has_text="客户经理 王芳").locator("input[name=preferred_manager]").check()
    form.locator("textarea[name=reason]").fill("客户指定的客户经理为王芳")
    person.shot("lifecycle-04-correct-form")
    response = submit(person, form, "确认更正")
    assert response.status == 302 and "已更正「指定客户经理」" in flash_text(person)
    with page.expect_navigation():
        page.get_by_role("button", name="重试出错环节").click()
    assert "恢复办理" in flash_text(person) and page.locator(".badge.big").inner_text() == "进行中"
    assert "客户经理 王芳" in page.locator("section.card", has_text="待办环节").inner_text()
    assert "指定客户经理：nobody → 客户经理 王芳" in page.locator("table.timeline").inner_text()
    person.shot("lifecycle-05-repaired")
    assert_clean(person, "repaired application page")


def test_a_withdrawal_shows_on_the_customers_progress_page(person: Person, live_server: LiveServer,
                                                           tmp_path: Path) -> None:
    app_no = start_with_cli(live_server, tmp_path, "lv_non_residential", customer_name="撤销测试商行")
    survey = open_tasks(live_server, app_no)["lv_site_survey"]
    finish_site_work(live_server, survey)
    page = person.page
    person.login("frontdesk")
    person.go(f"/applications/{app_no}")
    page.locator("#lifecycle summary", has_text="撤销申请").click()
    form = page.locator("#lifecycle form[action$='/withdraw']")
    form.locator("textarea[name=reason]").fill("客户来电：项目取消，撤回申请")
    assert submit(person, form, "确认撤销").status == 302
    assert page.locator(".badge.big").inner_text() == "已撤销"
    page.context.clear_cookies()
    person.go("/progress")
    page.fill("input[name=app_no]", app_no)
    page.fill("input[name=phone_tail]", PATHS["lv_non_residential"]["start"]["contact_phone"][-4:])
    with page.expect_navigation():
        page.get_by_role("button", name="查询").click()
    hold = page.locator("#progress-hold").inner_text()
    assert "您的申请已撤销" in hold and "客户来电：项目取消，撤回申请" in hold
    assert page.locator(".progress-steps.current").count() == 0
    person.shot("lifecycle-06-progress-withdrawn")
    assert_clean(person, "progress page")
