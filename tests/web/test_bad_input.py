"""Every bad input of issue 15, through the API and the web form: a 4xx with a Chinese message next to the field,
the form kept, and nothing created or changed. Never a 500."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from werkzeug.datastructures import MultiDict

from cli.demo import Scenario, actor_for, do_field_work, drive
from engine import Engine, TaskInfo

from tests.conftest import Staff
from tests.web.test_tasks import as_form, field_error

Actor = Callable[[str], Staff]
API = "/api/v1"
CHINESE = re.compile(r"[\u4e00-\u9fff]")


class Channel:
    """An API client with one user's token; bodies may be sent as raw bytes, as a careless client writes them."""

    def __init__(self, app: Flask, engine: Engine, user: str) -> None:
        self.client = app.test_client()
        self.headers = {"Authorization": f"Bearer {engine.create_api_token(user, '测试渠道', by='admin')}"}

    def post(self, path: str, body: Any) -> Any:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode("ascii")  # "\ud800" escaped as JSON does
        return self.client.post(API + path, data=raw, content_type="application/json", headers=self.headers)


@pytest.fixture
def channel(app: Flask, engine: Engine) -> Callable[[str], Channel]:
    return lambda user: Channel(app, engine, user)


def state(engine: Engine, app_no: str | None = None) -> tuple[Any, ...]:
    """What a refused request must leave as it was: how many applications, and one application's data, history
    and documents."""
    count = engine.search_applications(per_page=1).total
    if app_no is None:
        return (count,)
    app = engine.application(app_no)
    return count, json.dumps(app.data, sort_keys=True, default=str), len(app.history), app.documents, app.status


def api_field_error(response: Any, field: str, status: int = 400) -> str:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:400])
    error = response.get_json()["error"]
    assert CHINESE.search(error["message"])
    assert field in error.get("fields", {}), error
    return str(error["fields"][field])


def at(engine: Engine, scenario: Scenario, node: str) -> TaskInfo:
    for result in drive(engine, scenario):
        task = next((t for t in result.ready_tasks if t.node_id == node), None)
        if task is not None:
            do_field_work(engine, task.id, actor_for(engine, task.role, task.assignee))
            return task
    raise AssertionError(node)


def data_of(scenario: Scenario, node: str) -> dict[str, Any]:
    return dict(next(s.data for s in scenario.steps if s.node == node))


def accept_page(clerk: Staff, variant: str, form: dict[str, Any]) -> tuple[int, str]:
    response = clerk.post(f"/accept?variant={variant}", form)
    return response.status_code, response.get_data(as_text=True)


# ----------------------------------------------------------------------------- text that is not text


def test_a_lone_surrogate_is_refused_at_its_field_on_accept_and_complete(
        channel: Callable[[str], Channel], engine: Engine, scenarios: dict[str, Scenario]) -> None:
    desk = channel("frontdesk")
    before = state(engine)
    start = {**scenarios["hv_solo"].start, "customer_name": "\ud800abc"}
    assert "代理字符" in api_field_error(desk.post("/applications", {"process": "hv", "data": start}), "customer_name")
    assert state(engine) == before
    task = at(engine, scenarios["hv_solo"], "hv_site_survey_solo")
    before = state(engine, task.app_no)
    survey = {**data_of(scenarios["hv_solo"], "hv_site_survey_solo"), "survey_findings": "良好\udfff"}
    response = channel("manager1").post(f"/tasks/{task.id}/complete", {"data": survey})
    assert "代理字符" in api_field_error(response, "survey_findings")
    assert state(engine, task.app_no) == before


def test_bytes_that_are_not_utf8_are_refused_at_their_field_in_the_web_form(
        staff: Actor, engine: Engine, scenarios: dict[str, Scenario]) -> None:
    clerk = staff("frontdesk")
    form = as_form(scenarios["hv_solo"].start)
    pairs = [("csrf_token", clerk.csrf_token())] + [(k, v) for k, value in form.items() if k != "customer_name"
                                                    for v in (value if isinstance(value, list) else [value])]
    body = "&".join(f"{quote(k)}={quote(v)}" for k, v in pairs) + "&customer_name=%FF%FE%FD"
    before = state(engine)
    response = clerk.client.post("/accept?variant=hv", data=body.encode("ascii"),
                                 content_type="application/x-www-form-urlencoded")
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "不是有效的 UTF-8" in field_error(page, "customer_name")
    assert 'value="王建国"' in page  # the rest of the form kept
    assert state(engine) == before
    # the API refuses the same bytes as invalid JSON text
    raw = json.dumps({"process": "hv", "data": scenarios["hv_solo"].start}).encode().replace(
        b'"\\u6c5f', b'"\xff\xfe\xfd', 1)
    response = Channel(clerk.client.application, engine, "frontdesk").post("/applications", raw)
    assert response.status_code == 400 and CHINESE.search(response.get_json()["error"]["message"])
    assert state(engine) == before


def test_a_nul_is_refused_at_its_field_with_the_form_kept(staff: Actor, channel: Callable[[str], Channel],
                                                          engine: Engine, scenarios: dict[str, Scenario]) -> None:
    before = state(engine)
    status, page = accept_page(staff("frontdesk"), "hv", as_form({**scenarios["hv_solo"].start,
                                                                   "customer_name": "江南\x00精密"}))
    assert status == 400 and "空字符" in field_error(page, "customer_name")
    assert 'value="王建国"' in page and 'value="江南精密"' in page  # kept, without the NUL no page can carry
    response = channel("frontdesk").post("/applications", {"process": "hv", "data": {
        **scenarios["hv_solo"].start, "address": "苏州\x00"}})
    assert "空字符" in api_field_error(response, "address")
    assert state(engine) == before


def test_a_huge_name_is_refused_without_being_echoed_back_in_full(staff: Actor, channel: Callable[[str], Channel],
                                                                  engine: Engine,
                                                                  scenarios: dict[str, Scenario]) -> None:
    before = state(engine)
    status, page = accept_page(staff("frontdesk"), "hv", as_form({**scenarios["hv_solo"].start,
                                                                   "customer_name": "x" * 10_000_000}))
    assert status == 400 and "不能超过 100 个字符" in field_error(page, "customer_name")
    assert len(page.encode("utf-8")) < 200_000  # the input gets back at most what it takes, not 10 MB
    response = channel("frontdesk").post("/applications", {"process": "hv", "data": {
        **scenarios["hv_solo"].start, "customer_name": "x" * 10_000_000}})
    assert "不能超过 100 个字符" in api_field_error(response, "customer_name")
    assert len(response.get_data()) < 10_000
    assert state(engine) == before


def test_a_post_beyond_the_size_limit_says_so_without_blaming_a_file(staff: Actor, engine: Engine,
                                                                     scenarios: dict[str, Scenario]) -> None:
    clerk = staff("frontdesk")
    form = as_form({**scenarios["hv_solo"].start, "address": "x" * (31 * 1024 * 1024)})
    response = clerk.post("/accept?variant=hv", form)
    page = response.get_data(as_text=True)
    assert response.status_code == 413
    assert "提交的内容过大" in page and "未上传文件" in page and "上传的文件过大" not in page
    assert state(engine) == (0,)


# ----------------------------------------------------------------------------- numbers and dates


def test_a_capacity_of_1_followed_by_400_zeros_is_refused_at_its_field(
        staff: Actor, channel: Callable[[str], Channel], engine: Engine, scenarios: dict[str, Scenario]) -> None:
    before = state(engine)
    huge = "1" + "0" * 400
    raw = json.dumps({"process": "hv", "data": {**scenarios["hv_solo"].start, "capacity_kva": 0}}).replace(
        '"capacity_kva": 0', f'"capacity_kva": {huge}').encode()
    assert "数值过大" in api_field_error(channel("frontdesk").post("/applications", raw), "capacity_kva")
    status, page = accept_page(staff("frontdesk"), "hv", as_form({**scenarios["hv_solo"].start, "capacity_kva": huge}))
    assert status == 400 and "数值过大" in field_error(page, "capacity_kva")
    assert state(engine) == before


def test_a_date_time_that_is_not_one_is_refused(staff: Actor, channel: Callable[[str], Channel], engine: Engine,
                                                scenarios: dict[str, Scenario]) -> None:
    before = state(engine)
    response = channel("frontdesk").post("/applications", {"process": "hv", "data": {
        **scenarios["hv_solo"].start, "first_contact_at": "yesterday"}})
    assert "格式应为日期时间" in api_field_error(response, "first_contact_at")
    status, page = accept_page(staff("frontdesk"), "hv", as_form({**scenarios["hv_solo"].start,
                                                                   "first_contact_at": "yesterday"}))
    assert status == 400 and "日期时间" in field_error(page, "first_contact_at")
    assert state(engine) == before


def test_a_first_contact_in_the_future_is_refused(staff: Actor, channel: Callable[[str], Channel], engine: Engine,
                                                  scenarios: dict[str, Scenario]) -> None:
    before = state(engine)
    response = channel("frontdesk").post("/applications", {"process": "hv", "data": {
        **scenarios["hv_solo"].start, "first_contact_at": "2026-11-30T09:00:00+08:00"}})
    assert "不能晚于当前时间" in api_field_error(response, "first_contact_at")
    status, page = accept_page(staff("frontdesk"), "hv", as_form({**scenarios["hv_solo"].start,
                                                                   "first_contact_at": "2026-11-30T09:00"}))
    assert status == 400 and "不能晚于当前时间" in field_error(page, "first_contact_at")
    assert 'value="2026-11-30T09:00"' in page  # kept as typed
    assert state(engine) == before


# ----------------------------------------------------------------------------- impossible applications


@pytest.mark.parametrize("name,changes,field,message", [
    ("lv_residential", {"capacity_kw": 500}, "capacity_kw", "居民两步办电上限"),
    ("hv_solo", {"capacity_kva": 1_000_000_000}, "capacity_kva", "合理上限"),
    ("pv_380v", {"capacity_kw": 800}, "connection_voltage", "单个并网点上限 400 kW"),
    ("hv_solo", {"dedicated_line": True}, "dedicated_line", "4000 kVA"),
])
def test_an_impossible_application_is_a_field_error_at_acceptance_and_nothing_is_created(
        staff: Actor, channel: Callable[[str], Channel], engine: Engine, scenarios: dict[str, Scenario],
        name: str, changes: dict[str, Any], field: str, message: str) -> None:
    scenario = scenarios[name]
    before = state(engine)
    response = channel("frontdesk").post("/applications", {"process": scenario.process,
                                                            "data": {**scenario.start, **changes}})
    assert message in api_field_error(response, field)
    status, page = accept_page(staff("frontdesk"), scenario.process, as_form({**scenario.start, **changes}))
    assert status == 400 and message in field_error(page, field)
    assert state(engine) == before


@pytest.mark.parametrize("name,node,changes,field,message", [
    ("hv_solo", "hv_draft_supply_plan", {"supply_mode": "dual", "backup_source_line": None}, "backup_source_line",
     "必须填写备用电源线路"),
    ("hv_solo", "hv_reply_supply_plan", {"plan_valid_until": "2025-03-01"}, "plan_valid_until", "应晚于答复日期"),
    ("hv_solo", "hv_completion_inspection", {"completion_inspected_on": "2025-05-01"}, "completion_inspected_on",
     "不早于竣工报验时间"),
    ("lv_non_residential_works", "lv_completion_inspection", {"completion_inspected_on": "2025-03-19"},
     "completion_inspected_on", "不早于竣工报验时间"),
])
def test_an_impossible_step_is_refused_at_its_field_and_the_case_is_unchanged(
        staff: Actor, channel: Callable[[str], Channel], engine: Engine, scenarios: dict[str, Scenario],
        name: str, node: str, changes: dict[str, Any], field: str, message: str) -> None:
    scenario = scenarios[name]
    task = at(engine, scenario, node)
    actor = actor_for(engine, task.role, task.assignee)
    data = {**data_of(scenario, node), **changes}
    before = state(engine, task.app_no)
    assert message in api_field_error(channel(actor).post(f"/tasks/{task.id}/complete", {"data": data}), field)
    response = staff(actor).post(f"/tasks/{task.id}", as_form(data), content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and message in field_error(page, field)
    assert state(engine, task.app_no) == before and engine.task(task.id).status == "ready"


def test_a_pv_project_over_its_points_limit_never_sits_in_error(channel: Callable[[str], Channel], engine: Engine,
                                                                 scenarios: dict[str, Scenario]) -> None:
    # it used to be accepted, then sat in 异常 with no task in anybody's list
    response = channel("frontdesk").post("/applications", {"process": "pv", "data": {
        **scenarios["pv_380v"].start, "capacity_kw": 800}})
    assert response.status_code == 400
    assert engine.search_applications(status="error").total == 0 and state(engine) == (0,)


# ----------------------------------------------------------------------------- uploads


def test_an_executable_renamed_pdf_is_not_kept_as_a_completion_report(staff: Actor, engine: Engine,
                                                                      scenarios: dict[str, Scenario]) -> None:
    task = at(engine, scenarios["hv_solo"], "hv_completion_request")
    form = as_form({"completion_requested_at": "2025-06-02T10:00",
                    "completion_documents": ["test_reports", "constructor_qualification"]})
    form["doc:completion_report"] = (io.BytesIO(b"MZ\x90\x00\x03\x00\x00\x00PE\x00\x00"), "竣工报告.pdf",
                                     "application/pdf")
    before = state(engine, task.app_no)
    response = staff("manager1").post(f"/tasks/{task.id}", form, content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "文件内容不是 PDF" in field_error(page, "completion_report")
    assert state(engine, task.app_no) == before
    # a real PDF named .jpg is kept as what it is
    form["doc:completion_report"] = (io.BytesIO(b"%PDF-1.7\n%report\n"), "竣工报告.jpg", "image/jpeg")
    assert staff("manager1").post(f"/tasks/{task.id}", form, content_type="multipart/form-data").status_code == 302
    (kept,) = engine.application(task.app_no).documents
    assert (kept.media_type, kept.filename) == ("application/pdf", "竣工报告.pdf")


def test_a_field_posted_twice_with_different_values_is_refused_at_the_field(
        engine: Engine, staff: Callable[[str], Staff], scenarios: dict[str, Scenario]) -> None:
    # the page sends the customer type once (chosen in the first step); a crafted post adds a second, different one
    clerk = staff("frontdesk")
    start = next(s.start for s in scenarios.values() if s.process == "pv")
    before = len(engine.applications())
    pairs = [("csrf_token", clerk.csrf_token()), ("customer_type", str(start["customer_type"]))]
    for key, value in as_form(start).items():
        pairs.extend((key, item) for item in (value if isinstance(value, list) else [value]))
    page = clerk.client.post("/accept?variant=pv", data=MultiDict([*pairs, ("customer_type", "\x00")]))
    assert page.status_code == 400
    assert "客户类别：提交了多个不同的值" in page.get_data(as_text=True)
    assert len(engine.applications()) == before
