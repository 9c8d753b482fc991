"""The customer's side in a real browser, as the people who use it: a customer follows an application and
files a complaint; 营销部 keeps the firms list and answers complaints; 客户服务 makes the independent 回访 after
power on; 稽查 reads and answers the report it raised; the customer manager sees what the customer was told."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from cli.demo import DEMO_WORK_PHONES, Scenario, drive, load_scenarios

from tests.browser.conftest import REPO, LiveServer, Person
from tests.browser.flow import _reader, assert_clean, flash_text, start_with_cli, submit

SCENARIOS = {s.name: s for s in load_scenarios(REPO / "processes" / "paths.json")}


def powered_on(server: LiveServer, customer_name: str) -> str:
    """An HV application of manager1 run to its end on the live database (the steps are not what is tested
    here); the worker then sends the notices it queued."""
    scenario: Scenario = SCENARIOS["hv_solo"]
    scenario = replace(scenario, start={**scenario.start, "customer_name": customer_name,
                                        "preferred_manager": "manager1"})
    last = None
    for last in drive(_reader(server), scenario):
        pass
    assert last is not None and last.status == "completed"
    server.cli("worker", "--once")
    return last.app_no


def look_up(person: Person, app_no: str, digits: str = "5678") -> Any:
    page = person.page
    page.context.clear_cookies()
    person.go("/progress")
    page.fill("input[name=app_no]", app_no)
    page.fill("input[name=phone_tail]", digits)
    with page.expect_navigation():
        page.get_by_role("button", name="查询").click()
    return page


def test_a_customer_follows_the_milestones_and_files_a_complaint(person: Person, live_server: LiveServer,
                                                                 tmp_path: Path) -> None:
    app_no = start_with_cli(live_server, tmp_path, "hv_solo", customer_name="进度查询测试机械有限公司")
    page = look_up(person, app_no)
    milestones = page.locator("#milestones li")
    assert [m.inner_text().split()[0] for m in milestones.all()] == ["申请受理", "供电方案答复", "竣工检验", "装表接电"]
    current = page.locator("#milestones li.milestone-current")
    assert "供电方案答复" in current.inner_text() and "办理时限 15 个工作日（自受理之日起）" in current.inner_text()
    assert "正在办理：现场勘查（客户经理）" in current.inner_text()
    manager = page.locator("#manager").inner_text()
    assert "李强" in manager and DEMO_WORK_PHONES["manager1"] in manager and "manager1" not in manager
    firms = page.locator("#firms")
    assert "不指定" in firms.inner_text()
    assert [firms.locator("ul.firm-list").nth(i).locator("li").count() for i in range(3)] == [5, 5, 5]
    person.shot("cs-01-progress")

    # a first try without choosing the topic: the message stands next to the field, what was typed stays
    form = page.locator("#complaint-form")
    form.get_by_label("投诉", exact=True).check()
    form.locator("textarea[name=content]").fill("供电方案迟迟没有答复，电话也打不通")
    response = submit(person, form, "提交")
    assert response.status == 400
    assert page.locator("#complaint .field-error").inner_text() == "请选择反映的问题"
    assert page.locator("#complaint-form textarea[name=content]").input_value() == "供电方案迟迟没有答复，电话也打不通"
    page.locator("#complaint-form select[name=topic]").select_option(label="办电超时限")
    response = submit(person, page.locator("#complaint-form"), "提交")
    assert response.status == 302
    filed = page.locator("#filed").inner_text()
    assert "已登记：编号 TS" in filed
    assert "处理中" in page.locator("#my-cases").inner_text()
    person.shot("cs-02-complaint-filed")
    assert_clean(person, "progress page")


def test_marketing_keeps_the_firms_list(person: Person, live_server: LiveServer) -> None:
    page = person.page
    person.login("marketing")
    page.get_by_role("link", name="单位名录").click()
    form = page.locator("#add-firm form")
    form.locator("select[name=kind]").select_option(label="施工单位")
    form.locator("input[name=name]").fill("浏览器测试电力安装有限公司")
    response = submit(person, form, "加入名录")
    assert response.status == 400
    assert "请填写资质" in page.locator("#add-firm").inner_text()
    assert page.locator("#add-firm input[name=name]").input_value() == "浏览器测试电力安装有限公司"
    page.locator("#add-firm input[name=qualification]").fill("承装（修、试）电力设施许可证 四级")
    assert submit(person, page.locator("#add-firm form"), "加入名录").status == 302
    assert "已加入名录：浏览器测试电力安装有限公司（施工单位）" in flash_text(person)
    row = page.locator("tr", has_text="浏览器测试电力安装有限公司")
    row.get_by_role("link", name="维护").click()
    listing = page.locator("#listing form")
    listing.locator("input[name=reason]").fill("资质证书已过期")
    assert submit(person, listing, "移出名录").status == 302
    history = page.locator("table.grid").last.inner_text()
    assert "移出名录" in history and "资质证书已过期" in history and "陈静" in history
    person.shot("cs-03-firm-history")
    assert_clean(person, "firm page")


def test_customer_service_follows_up_independently_and_the_auditors_take_the_report(
        person: Person, live_server: LiveServer) -> None:
    app_no = powered_on(live_server, "独立回访测试食品有限公司")
    page = person.page

    # the case's own manager sees what the customer was told, sent by the worker
    person.login("manager1")
    person.go(f"/applications/{app_no}")
    told = page.locator("#customer-notices").inner_text()
    assert "受理通知" in told and "送电通知（含安全用电提示）" in told and "已发送" in told
    assert "待回访" in page.locator("#follow-up-status").inner_text()

    person.login("service")
    page.get_by_role("link", name="独立回访").click()
    row = page.locator("tr", has_text=app_no)
    assert "客户经理 李强" in row.inner_text() and "客户服务 林娜" in row.inner_text()
    person.shot("cs-04-follow-ups")
    row.get_by_role("link", name="回访").click()
    form = page.locator("#record form")
    form.get_by_label("已联系上").check()
    form.get_by_label("一般").check()
    form.locator("input[name=nominated][value=no]").check()
    form.locator("input[name=improper][value=yes]").check()
    response = submit(person, form, "保存回访")
    assert response.status == 400  # "yes" needs what the customer said
    assert page.locator('#record .field-error').inner_text() == "请记录客户所说的情况"
    page.locator("#record textarea[name=improper_detail]").fill("装表时有人暗示要请吃饭")
    person.shot("cs-05-follow-up-form")
    assert submit(person, page.locator("#record form"), "保存回访").status == 302
    assert "回访已记录" in flash_text(person)

    # the report it raised: 稽查 sees who said it, and answers
    person.login("auditor")
    page.get_by_role("link", name="投诉举报").click()
    page.get_by_role("link", name="举报（保密）").click()
    row = page.locator("tr", has_text=app_no)
    assert "独立回访" in row.inner_text() and "稽查" in row.inner_text()
    row.get_by_role("link", name="查看").click()
    assert "装表时有人暗示要请吃饭" in page.locator("#content").inner_text()
    assert "13812345678" in page.locator("#reporter").inner_text()
    person.shot("cs-06-report")
    answer = page.locator("#answer-form form")
    answer.locator("textarea[name=answer]").fill("已立案核查，感谢您的监督。")
    assert submit(person, answer, "答复并办结").status == 302
    assert "已立案核查" in page.locator("#answer").inner_text()

    # 营销部 sees the results per office and per manager, and not the report itself
    person.login("marketing")
    page.get_by_role("link", name="监管看板").click()
    by_manager = page.locator("#follow-ups-by-manager").inner_text()
    assert "客户经理 李强" in by_manager
    assert "城区供电所" in page.locator("#follow-ups-by-office").inner_text()
    page.locator("#independent-follow-ups").scroll_into_view_if_needed()
    person.shot("cs-07-dashboard")
    person.go("/complaints/?kind=report")
    assert app_no not in page.locator("main").inner_text()
    assert_clean(person, "complaints as marketing")


def test_customer_service_records_a_hotline_complaint_and_marketing_answers_it(
        person: Person, live_server: LiveServer, tmp_path: Path) -> None:
    app_no = start_with_cli(live_server, tmp_path, "hv_solo", customer_name="热线投诉测试纺织有限公司")
    page = person.page
    person.login("service")
    page.get_by_role("link", name="投诉举报").click()
    page.get_by_role("link", name="登记来电投诉举报").click()
    form = page.locator("#complaint-form")
    form.locator("input[name=app_no]").fill(app_no)
    form.locator("select[name=channel]").select_option(label="95598 供电服务热线")
    form.get_by_label("投诉", exact=True).check()
    form.locator("select[name=topic]").select_option(label="服务态度")
    form.locator("textarea[name=content]").fill("营业厅工作人员解释不耐烦")
    form.locator("input[name=reporter_name]").fill("吴女士")
    assert submit(person, form, "登记").status == 302
    message = flash_text(person)
    assert "已登记投诉" in message and "转营销部" in message
    case_no = message.split("编号 ")[1].split("，")[0]

    person.login("marketing")
    person.go(f"/complaints/{case_no}")
    assert "已保密（仅稽查可见）" in page.locator("#reporter").inner_text()
    assert "吴女士" not in page.locator("main").inner_text()
    answer = page.locator("#answer-form form")
    answer.locator("textarea[name=answer]").fill("已对相关人员进行服务规范培训。")
    assert submit(person, answer, "答复并办结").status == 302
    assert "已答复" in page.locator("h1").inner_text()
    person.shot("cs-08-complaint-answered")
    assert_clean(person, "complaint page")
