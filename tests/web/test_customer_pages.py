"""The customer's side through its pages: the firms list and the complaint form on the progress page, the
firms list 营销部 keeps, the independent 回访 of 客户服务, complaints and reports, the dashboard and the
application page — each for the role that uses it, with errors next to the fields and no raw codes."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from cli.demo import DEMO_FIRMS, DEMO_USERS, Scenario, drive
from engine import (
    COMPLAINT_CHANNELS,
    COMPLAINT_KINDS,
    COMPLAINT_TOPICS,
    FIRM_KINDS,
    ROLES,
    Answers,
    Engine,
    Filing,
)
from engine.customers.notices import EVENT_NAMES

from tests.conftest import Clock, Staff


def visible_text(html: str) -> str:
    """What a person reads: no tags, scripts or styles; white space collapsed."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def section(html: str, element_id: str) -> str:
    """The visible text of one element (a <section id=…>) of a page."""
    match = re.search(rf'<section[^>]*id="{element_id}".*?</section>', html, flags=re.S)
    assert match, f"no #{element_id}"
    return visible_text(match.group(0))


def finished(engine: Engine, clock: Clock, scenario: Scenario) -> str:
    last = None
    for last in drive(engine, scenario):
        clock.advance(hours=2)
    assert last is not None and last.status == "completed"
    return last.app_no


@pytest.fixture
def powered_on(engine: Engine, clock: Clock, scenarios: dict[str, Any]) -> str:
    """An HV application of manager1 run to the end: its independent 回访 waits for 客户服务."""
    return finished(engine, clock, scenarios["hv_solo"])


def look_up(client: Staff, app_no: str, digits: str = "5678") -> str:
    response = client.post("/progress", {"app_no": app_no, "phone_tail": digits})
    assert response.status_code == 200
    return response.get_data(as_text=True)


# ----------------------------------------------------------------------------- the customer


def test_the_progress_page_shows_five_firms_of_each_kind_in_rotation_and_the_right_to_choose(
        client: Staff, powered_on: str, clock: Clock) -> None:
    text = section(look_up(client, powered_on), "firms")
    assert "不指定" in text and "自主选择" in text
    shown = {}
    for kind in FIRM_KINDS:
        names = [name for k, name, _, _ in DEMO_FIRMS if k == kind]
        shown[kind] = [n for n in names if n in text]
        assert len(shown[kind]) == 5
    clock.advance(days=1)
    tomorrow = section(look_up(client, powered_on), "firms")

    def first_designer(page_text: str) -> str:
        return min(shown["design"] + [n for k, n, _, _ in DEMO_FIRMS if k == "design" and n in page_text],
                   key=lambda n: page_text.find(n) if n in page_text else len(page_text))

    assert first_designer(text) != first_designer(tomorrow)  # the next day another firm comes first


def test_a_customer_files_a_complaint_after_looking_the_application_up(client: Staff, powered_on: str,
                                                                       engine: Engine) -> None:
    look_up(client, powered_on)
    bad = client.post("/progress/complaint", {"app_no": powered_on, "kind": "complaint", "topic": "",
                                              "content": "慢"})
    assert bad.status_code == 400
    html = bad.get_data(as_text=True)
    assert "请选择反映的问题" in section(html, "complaint") and "至少 5 个字" in section(html, "complaint")
    assert 'value="complaint" checked' in html  # what was typed is kept
    assert engine.complaints(reader="auditor") == []
    done = client.post("/progress/complaint", {"app_no": powered_on, "kind": "complaint", "topic": "time_limit",
                                               "content": "答复供电方案比承诺晚了两天"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/progress#filed")
    page = client.get("/progress").get_data(as_text=True)
    cases = engine.complaints(reader="auditor")
    assert len(cases) == 1 and cases[0].channel == "progress_page" and cases[0].routed_to == "marketing"
    assert f"已登记：编号 {cases[0].case_no}" in visible_text(page)
    assert cases[0].case_no in section(page, "complaint") and "处理中" in section(page, "complaint")
    assert "progress_page" not in visible_text(page) and "marketing" not in visible_text(page)
    assert "答复供电方案" not in visible_text(client.get("/progress").get_data(as_text=True))  # shown once


def test_filing_needs_a_lookup_of_that_very_application_first(client: Staff, powered_on: str, engine: Engine,
                                                              clock: Clock, scenarios: dict[str, Any]) -> None:
    form = {"app_no": powered_on, "kind": "report", "topic": "improper", "content": "有人要求吃请才肯装表"}
    assert client.post("/progress/complaint", form).status_code == 400  # never looked up
    other = finished(engine, clock, scenarios["lv_residential"])
    look_up(client, other)
    assert client.post("/progress/complaint", form).status_code == 400  # looked up another one
    clock.advance(minutes=31)
    look_up(client, powered_on)
    clock.advance(minutes=31)
    refused = client.post("/progress/complaint", form)  # too long ago
    assert refused.status_code == 400 and "请先重新查询" in refused.get_data(as_text=True)
    assert engine.complaints(reader="auditor") == []


# ----------------------------------------------------------------------------- 营销部: the firms list


def test_marketing_keeps_the_firms_list_and_others_only_read_it(staff: Callable[[str], Staff],
                                                                engine: Engine) -> None:
    marketing = staff("marketing")
    page = marketing.get("/firms/").get_data(as_text=True)
    assert "加入名录" in page and all(name in page for _, name, _, _ in DEMO_FIRMS)
    bad = marketing.post("/firms/", {"kind": "design", "name": "", "qualification": "", "phone": "x"})
    assert bad.status_code == 400
    errors = section(bad.get_data(as_text=True), "add-firm")
    assert "请填写单位名称" in errors and "请填写资质" in errors and "联系电话应为" in errors
    assert marketing.post("/firms/", {"kind": "design", "name": "新设计院", "qualification": "电力行业丙级",
                                      "phone": ""}).status_code == 302
    added = next(f for f in engine.firms("design") if f.name == "新设计院")
    assert marketing.post(f"/firms/{added.id}", {"action": "withdraw", "reason": ""}).status_code == 400
    assert marketing.post(f"/firms/{added.id}", {"action": "withdraw", "reason": "资质过期"}).status_code == 302
    history = visible_text(marketing.get(f"/firms/{added.id}").get_data(as_text=True))
    assert "移出名录" in history and "资质过期" in history and "营销部 陈静（主管）" in history
    front = staff("frontdesk")
    listed = front.get("/firms/").get_data(as_text=True)
    assert "加入名录" not in listed and "新设计院" not in listed  # withdrawn firms are not shown to others
    assert front.post("/firms/", {"kind": "design", "name": "冒名单位", "qualification": "甲级"}).status_code == 403
    assert [f for f in engine.firms(include_withdrawn=True) if f.name == "冒名单位"] == []


# ----------------------------------------------------------------------------- 客户服务: the independent 回访


def test_customer_service_makes_the_independent_follow_up(staff: Callable[[str], Staff], engine: Engine,
                                                          powered_on: str) -> None:
    service = staff("service")
    listed = visible_text(service.get("/followups/").get_data(as_text=True))
    assert powered_on in listed and "客户经理 李强" in listed and "城区供电所" in listed
    follow_up = engine.follow_up_of(powered_on)
    assert follow_up is not None
    bad = service.post(f"/followups/{follow_up.id}", {"reached": "yes", "satisfaction": "", "nominated": "yes"})
    assert bad.status_code == 400
    errors = section(bad.get_data(as_text=True), "record")
    assert "请选择客户的满意程度" in errors and "请记录客户所说的情况" in errors
    assert engine.follow_up(follow_up.id).status == "open"
    done = service.post(f"/followups/{follow_up.id}", {"reached": "yes", "satisfaction": "4", "nominated": "no",
                                                       "improper": "no", "remarks": "客户称服务很好"})
    assert done.status_code == 302
    assert (engine.follow_up(follow_up.id).status, engine.follow_up(follow_up.id).satisfaction) == ("done", 4)
    assert staff("manager1").get("/followups/").status_code == 403  # the case's manager has no access


def test_a_manager_who_also_does_customer_service_cannot_follow_up_their_own_case(
        staff: Callable[[str], Staff], engine: Engine, clock: Clock, scenarios: dict[str, Any]) -> None:
    engine.create_user("lihua", "客户经理兼客服 李华", ["customer_manager", "customer_service"], "baozhuang")
    scenario = scenarios["hv_solo"]
    app_no = finished(engine, clock, Scenario(scenario.name, scenario.title, scenario.process,
                                              {**scenario.start, "preferred_manager": "lihua"}, scenario.steps))
    follow_up = engine.follow_up_of(app_no)
    assert follow_up is not None and follow_up.assignee == "service"
    lihua = staff("lihua")
    assert follow_up.app_no not in lihua.get("/followups/?list=pool").get_data(as_text=True)
    page = lihua.get(f"/followups/{follow_up.id}").get_data(as_text=True)
    assert 'id="not-yours"' in page and 'id="record"' not in page
    refused = lihua.post(f"/followups/{follow_up.id}", {"reached": "yes", "satisfaction": "5", "nominated": "no",
                                                        "improper": "no"})
    assert refused.status_code == 403 and "未经办该申请" in refused.get_data(as_text=True)
    assert engine.follow_up(follow_up.id).status == "open"


# ----------------------------------------------------------------------------- complaints and reports


def test_staff_record_a_hotline_report_that_only_the_auditors_read_in_full(
        staff: Callable[[str], Staff], engine: Engine, powered_on: str) -> None:
    service = staff("service")
    bad = service.post("/complaints/new", {"app_no": powered_on, "channel": "", "kind": "report", "topic": "improper",
                                           "content": "x"})
    assert bad.status_code == 400 and "请选择来电渠道" in bad.get_data(as_text=True)
    assert "至少 5 个字" in bad.get_data(as_text=True)
    form = {"app_no": powered_on, "channel": "hotline_95598", "kind": "report", "topic": "improper",
            "content": "装表人员暗示要好处费", "reporter_name": "周先生", "reporter_phone": "13600001111"}
    assert service.post("/complaints/new", form).status_code == 302
    case = engine.complaints(reader="auditor")[0]
    marketing = staff("marketing")
    assert marketing.get(f"/complaints/{case.case_no}").status_code == 403
    assert case.case_no not in marketing.get("/complaints/").get_data(as_text=True)
    auditor = staff("auditor")
    full = visible_text(auditor.get(f"/complaints/{case.case_no}").get_data(as_text=True))
    assert "周先生" in full and "13600001111" in full and "装表人员暗示要好处费" in full
    hidden = visible_text(service.get(f"/complaints/{case.case_no}").get_data(as_text=True))
    assert "周先生" not in hidden and "已保密（仅稽查可见）" in hidden
    assert auditor.post(f"/complaints/{case.case_no}", {"answer": "已立案核查"}).status_code == 302
    assert engine.complaint(case.case_no, reader="auditor").status == "answered"


def test_marketing_answers_a_complaint_and_the_wrong_department_cannot(staff: Callable[[str], Staff],
                                                                       engine: Engine, powered_on: str) -> None:
    case = engine.file_complaint(powered_on, Filing("complaint", "attitude", "电话一直没人接"))
    assert staff("auditor").post(f"/complaints/{case.case_no}", {"answer": "越权答复"}).status_code == 403
    marketing = staff("marketing")
    assert marketing.post(f"/complaints/{case.case_no}", {"answer": ""}).status_code == 400
    assert marketing.post(f"/complaints/{case.case_no}", {"answer": "已提醒客户经理及时接听"}).status_code == 302
    shown = visible_text(marketing.get(f"/complaints/{case.case_no}").get_data(as_text=True))
    assert "已答复" in shown and "已提醒客户经理及时接听" in shown and "营销部 陈静（主管）" in shown


# ----------------------------------------------------------------------------- supervision, the application page


def test_the_dashboard_shows_follow_ups_per_office_and_manager_and_the_cases(
        staff: Callable[[str], Staff], engine: Engine, powered_on: str) -> None:
    follow_up = engine.follow_up_of(powered_on)
    assert follow_up is not None
    engine.record_follow_up(follow_up.id, Answers(True, 2, True, "有人推荐施工队", False, ""), by="service")
    for role in ("marketing", "auditor"):
        html = staff(role).get("/supervision/").get_data(as_text=True)
        follow_ups = section(html, "independent-follow-ups")
        assert "按供电所" in follow_ups and "城区供电所" in follow_ups
        assert "按客户经理" in follow_ups and "客户经理 李强" in follow_ups
        assert re.search(r"反映有人指定单位 1 件", follow_ups)
        cases = section(html, "complaint-counts")
        assert "举报（保密）" in cases and "投诉" in cases


def test_the_application_page_shows_what_the_customer_was_told(staff: Callable[[str], Staff], engine: Engine,
                                                               powered_on: str) -> None:
    engine.deliver_notices()
    case = engine.file_complaint(powered_on, Filing("complaint", "attitude", "电话一直没人接"))
    engine.answer_complaint(case.case_no, "已处理", by="marketing")
    manager = section(staff("manager1").get(f"/applications/{powered_on}").get_data(as_text=True), "customer-side")
    for name in ("受理通知", "补充资料通知", "合同签订通知", "送电通知（含安全用电提示）"):
        assert name in manager
    assert "已发送" in manager and "待回访" in manager
    assert "投诉举报答复" not in manager  # sent to whoever filed: the auditors' to know
    assert "投诉举报答复" in section(staff("auditor").get(f"/applications/{powered_on}").get_data(as_text=True),
                                   "customer-side")


# ----------------------------------------------------------------------------- no raw codes


CODES = sorted({*(u for u, _, _ in DEMO_USERS), *ROLES, *EVENT_NAMES, *COMPLAINT_KINDS, *COMPLAINT_TOPICS,
                *COMPLAINT_CHANNELS, *FIRM_KINDS, "customer", "queued", "sending", "sent", "failed", "open", "done",
                "answered", "cancelled", "None", "True", "False"})


def raw_codes(text: str) -> list[str]:
    return [code for code in CODES if re.search(rf"(?<![A-Za-z0-9_]){re.escape(code)}(?![A-Za-z0-9_])", text)]


def test_no_page_of_the_customers_side_shows_a_raw_code_or_username(
        client: Staff, staff: Callable[[str], Staff], engine: Engine, powered_on: str) -> None:
    follow_up = engine.follow_up_of(powered_on)
    assert follow_up is not None
    engine.record_follow_up(follow_up.id, Answers(True, 1, True, "有人推荐施工队", True, "要求吃饭"), by="service")
    complaint = engine.file_complaint(powered_on, Filing("complaint", "attitude", "电话一直没人接"))
    engine.answer_complaint(complaint.case_no, "已处理", by="marketing")
    engine.deliver_notices()
    report = engine.complaints(reader="auditor", kind="report")[0]
    firm = engine.firms()[0]
    pages = {
        "marketing": ["/firms/", f"/firms/{firm.id}", "/followups/?list=done", f"/followups/{follow_up.id}",
                      "/complaints/", "/complaints/?list=answered", f"/complaints/{complaint.case_no}",
                      "/complaints/new"],
        "auditor": ["/followups/?list=done", "/complaints/?kind=report", f"/complaints/{report.case_no}"],
        "service": ["/followups/", "/followups/?list=pool", "/followups/?list=done", f"/followups/{follow_up.id}",
                    "/complaints/", "/complaints/new"],
        "frontdesk": ["/firms/"],
    }
    found: dict[str, list[str]] = {}
    for username, urls in pages.items():
        person = staff(username)
        for url in urls:
            response = person.get(url)
            assert response.status_code == 200, (username, url)
            html = response.get_data(as_text=True)
            main = re.search(r"<main.*</main>", html, flags=re.S)
            assert main
            if raw_codes(visible_text(main.group(0))):
                found[f"{username} {url}"] = raw_codes(visible_text(main.group(0)))
        for sections, url in ((("independent-follow-ups", "complaint-counts"), "/supervision/"),
                              (("customer-side",), f"/applications/{powered_on}")):
            if username in ("marketing", "auditor") or url.startswith("/applications"):
                html = person.get(url).get_data(as_text=True)
                for element in sections:
                    if raw_codes(section(html, element)):
                        found[f"{username} {url}#{element}"] = raw_codes(section(html, element))
    public = look_up(client, powered_on)
    main = re.search(r"<main.*</main>", public, flags=re.S)
    assert main
    if raw_codes(visible_text(main.group(0))):
        found["customer /progress"] = raw_codes(visible_text(main.group(0)))
    assert found == {}
