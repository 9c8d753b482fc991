"""The policy clocks (时限) on the pages: the application page, the task list sorted by risk, the office's limits,
re-issuing an expired plan, the customer's forecast and application date, and the API."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from flask import Flask

from cli.demo import Scenario, actor_for, do_field_work
from engine import Engine

from tests.conftest import Clock, Staff

Actor = Callable[[str], Staff]


def visible(html: str) -> str:
    """The text a person reads (tags and attributes stripped)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_application_page_lists_its_clocks_and_the_first_contact_evidence(
        engine: Engine, clock: Clock, scenarios: dict[str, Scenario], staff: Actor) -> None:
    clock.now = datetime(2026, 12, 28, 9, 0)  # 15 working days reach into 2027: a provisional calendar
    app_no = engine.start("hv", scenarios["hv_solo"].start, "frontdesk").app_no
    clock.advance(days=1)
    page = staff("manager1").get(f"/applications/{app_no}")
    assert page.status_code == 200
    text = visible(page.get_data(as_text=True))
    assert "时限" in text and "供电方案答复" in text and "1 / 15 个工作日" in text
    deadline = engine.clocks(app_no).clocks[0].deadline
    assert f"{deadline:%Y-%m-%d} （暂定日历）" in text and "计时中" in text
    assert "客户首次申请： 2025-03-03 09:15 · 依据：受理员录入（未经客户确认）" in text
    for raw in ("plan_reply", "clerk", "running", "frontdesk"):
        assert raw not in text


def test_the_task_list_sorts_by_risk_and_refuses_an_unknown_order(
        engine: Engine, clock: Clock, scenarios: dict[str, Scenario], staff: Actor) -> None:
    scenario = scenarios["lv_residential"]
    old = engine.start("lv", scenario.start, "frontdesk")  # accepted first …
    clock.advance(minutes=5)
    new = engine.start("lv", scenario.start, "frontdesk")
    clock.advance(days=9)  # … both past their 5 working days end to end
    with engine.store.begin() as conn:  # the worker's stored forecasts: the newer one is the riskier
        from engine import tables

        for app_no, risk in ((old.app_no, 0.3), (new.app_no, 0.9)):
            conn.execute(tables.CLOCKS.update().where(tables.CLOCKS.c.app_no == app_no)
                         .values(risk=risk, forecast_days=3.0, forecast_at=clock.now))
    clerk = staff("frontdesk")
    by_created = clerk.get("/?scope=pool").get_data(as_text=True)
    by_risk = clerk.get("/?scope=pool&sort=risk").get_data(as_text=True)

    def order(html: str) -> list[str]:
        return re.findall(r'href="/applications/(LV\d+)"', html)

    assert order(by_created) == [old.app_no, new.app_no]
    assert order(by_risk) == [new.app_no, old.app_no]
    assert "超期风险高（90%）" in by_risk and "已超时" in visible(by_risk)
    assert 'value="risk" selected' in by_risk
    refused = clerk.get("/?sort=age")
    assert refused.status_code == 400 and "未知的排序方式" in refused.get_data(as_text=True)


def test_the_office_sets_a_limit_sees_it_logged_and_bad_entries_are_refused_at_the_field(
        engine: Engine, scenarios: dict[str, Scenario], staff: Actor) -> None:
    engine.start("hv", scenarios["hv_joint_review"].start, "frontdesk")
    supervisor = staff("marketing")
    page = supervisor.get("/clocks/limits").get_data(as_text=True)
    assert "单电源 15 个工作日，双电源 30 个工作日" in page and "supply_mode ==" not in page

    bad = supervisor.post("/clocks/limits", {"clock_choice": "hv|plan_reply", "supply_mode": "dual",
                                             "limit_value": "abc", "reason": "试行"})
    assert bad.status_code == 400
    html = bad.get_data(as_text=True)
    assert "时限必须是整数" in html and 'value="试行"' in html  # the message at the field, the form kept
    assert engine.clock_overrides() == []

    done = supervisor.post("/clocks/limits", {"clock_choice": "hv|plan_reply", "supply_mode": "dual",
                                              "limit_value": "25", "reason": "本单位服务承诺"})
    assert done.status_code == 302
    page = supervisor.get(done.headers["Location"]).get_data(as_text=True)
    assert "已保存本单位时限" in page and "本单位服务承诺" in page and "营销部 陈静" in page
    assert re.search(r"高压</td><td>供电方案答复</td>\s*<td>全部</td>\s*<td>双电源</td>", page)

    auditor = staff("auditor").get("/clocks/limits").get_data(as_text=True)
    assert "本单位服务承诺" in auditor and 'id="override-form"' not in auditor
    assert staff("auditor").post("/clocks/limits", {"clock_choice": "hv|plan_reply", "limit_value": "3",
                                                    "reason": "x"}).status_code == 403
    assert staff("manager1").get("/clocks/limits").status_code == 403


def test_an_expired_plan_is_reissued_from_the_application_page(
        engine: Engine, clock: Clock, scenarios: dict[str, Scenario], staff: Actor) -> None:
    scenario = scenarios["lv_non_residential_works"]
    result = engine.start("lv", scenario.start, "frontdesk")
    for step in scenario.steps[:2]:
        task = next(t for t in result.ready_tasks if t.node_id == step.node)
        do_field_work(engine, task.id, actor_for(engine, task.role, task.assignee))
        result = engine.complete(task.id, actor_for(engine, task.role, task.assignee), step.data)
    manager = next(t for t in result.ready_tasks if t.node_id == "lv_completion_request").assignee or "manager1"
    clock.advance(days=120)  # more than three months: the plan has lapsed
    page = staff(manager).get(f"/applications/{result.app_no}").get_data(as_text=True)
    assert "已过期" in page and "重新答复供电方案（有效期重新起算）" in page
    assert "重新答复供电方案" not in staff("metering").get(f"/applications/{result.app_no}").get_data(as_text=True)
    assert staff("metering").post(f"/clocks/{result.app_no}/renew/plan_validity").status_code == 403
    person = staff(manager)
    done = person.post(f"/clocks/{result.app_no}/renew/plan_validity")
    assert done.status_code == 302
    page = person.get(done.headers["Location"]).get_data(as_text=True)
    assert "已重新答复供电方案" in page and "有效" in visible(page)


def _progress(client: Staff, app_no: str, digits: str) -> str:
    return client.post("/progress", {"app_no": app_no, "phone_tail": digits}).get_data(as_text=True)


def test_the_customer_sees_when_to_expect_the_answer_and_confirms_the_application_date(
        engine: Engine, clock: Clock, scenarios: dict[str, Scenario], client: Staff) -> None:
    start = {**scenarios["lv_non_residential"].start, "contact_phone": "13900002468"}
    app_no = engine.start("lv", start, "frontdesk").app_no  # Mon 23 Nov 2026
    html = _progress(client, app_no, "2468")
    text = visible(html)
    assert "供电方案答复" in text and "按规定 7 个工作日内答复" in text  # no history yet: the rule itself, with the milestone under way
    assert "应于 2026-12-02 前完成" in text and "确认您的申请日期" in text

    later = client.post("/progress/first-contact", {"app_no": app_no, "phone_tail": "2468",
                                                     "first_contact_on": "2026-11-24"})
    assert later.status_code == 400
    body = later.get_data(as_text=True)
    assert "是将来的日期" in body and 'value="2026-11-24"' in body and "供电方案答复" in body
    assert engine.clocks(app_no).first_contact.source == "clerk"
    wrong = client.post("/progress/first-contact", {"app_no": app_no, "phone_tail": "0000",
                                                    "first_contact_on": "2026-11-20"})
    assert "未查询到匹配的申请" in wrong.get_data(as_text=True)
    ok = client.post("/progress/first-contact", {"app_no": app_no, "phone_tail": "2468",
                                                 "first_contact_on": "2026-11-19"})
    assert ok.status_code == 200 and "已记录您的申请日期" in ok.get_data(as_text=True)
    evidence = engine.clocks(app_no).first_contact
    assert (evidence.source, evidence.at, evidence.lag_days) == ("customer_page", datetime(2026, 11, 19), 2)
    after = _progress(client, app_no, "2468")
    assert "您确认的申请日期：2026-11-19" in after and 'id="first-contact-form"' not in after
    assert "2468" not in after  # the digits typed are never echoed


def test_the_api_reports_clocks_and_records_a_reply_to_the_acceptance_notice(
        app: Flask, engine: Engine, scenarios: dict[str, Scenario]) -> None:
    token = engine.create_api_token("frontdesk", "短信平台", by="admin")
    headers = {"Authorization": f"Bearer {token}"}
    api = app.test_client()
    created = api.post("/api/v1/applications", headers=headers,
                       json={"process": "lv", "data": scenarios["lv_residential"].start})
    assert created.status_code == 201
    app_no = created.get_json()["app_no"]
    body = api.get(f"/api/v1/applications/{app_no}/clocks", headers=headers).get_json()
    assert body["first_contact"]["source"] == "api"  # the channel's own clock, whatever was typed
    assert [c["key"] for c in body["clocks"]] == ["end_to_end"] and body["clocks"][0]["limit"] == 5
    refused = api.post(f"/api/v1/applications/{app_no}/first-contact", headers=headers, json={"date": "2026-11-20"})
    assert refused.status_code == 409  # the channel's time is never replaced

    counter = engine.start("lv", scenarios["lv_residential"].start, "frontdesk").app_no
    late = api.post(f"/api/v1/applications/{counter}/first-contact", headers=headers, json={"date": "2027-01-05"})
    assert late.status_code == 400 and "first_contact_on" in late.get_json()["error"]["fields"]
    reply = api.post(f"/api/v1/applications/{counter}/first-contact", headers=headers, json={"date": "2026-11-20"})
    assert reply.status_code == 200
    assert reply.get_json() == {"app_no": counter, "first_contact_at": "2026-11-20T00:00:00",
                                "source": "customer_reply"}
    history = engine.application(counter).history
    assert [e.actor for e in history if e.kind == "first_contact.confirmed"] == ["frontdesk"]
    assert api.post("/api/v1/applications/LV20990101000001/first-contact", headers=headers,
                    json={"date": "2026-11-20"}).status_code == 404


def test_a_dashboard_shows_clock_rates_and_the_soonest_deadlines(
        engine: Engine, clock: Clock, scenarios: dict[str, Scenario], staff: Actor) -> None:
    app_no = engine.start("lv", scenarios["lv_residential"].start, "frontdesk").app_no
    clock.advance(days=2)
    page = staff("marketing").get("/supervision/").get_data(as_text=True)
    assert 'id="clock-expiring"' in page and f'href="/applications/{app_no}#clocks"' in page
    assert "低压办电全程（国家目标）" in page and "剩 3 个工作日" in page
    body = staff("marketing").get("/supervision/data.json").get_json()
    assert body["clocks"]["expiring"][0]["app_no"] == app_no
    assert body["clocks"]["open"][0]["counts"]["on_time"] == 1
