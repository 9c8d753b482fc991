"""The case lifecycle in the web UI and the API: offered only to those who may, refused with the reason kept next to
its field, shown on the application page, the task page and the customer's progress page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from cli.demo import Scenario, drive
from engine import Engine, StepResult

from tests.conftest import Staff
from tests.web.test_api import Channel, conforms, spec  # noqa: F401  (spec: the fixture)
from tests.web.test_tasks import field_error, flashes

Actor = Callable[[str], Staff]


def waiting(engine: Engine, scenario: Scenario, steps: int) -> StepResult:
    last = None
    for last in drive(engine, scenario, steps):
        pass
    assert last is not None
    return last


def page_of(user: Staff, app_no: str) -> str:
    response = user.get(f"/applications/{app_no}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def offered(page: str) -> set[str]:
    """The lifecycle actions a page offers."""
    forms = set(re.findall(r'action="/applications/[^/"]+/(suspend|resume|withdraw|terminate|retry)"', page))
    if re.search(r'href="/applications/[^/"]+/correct"', page):
        forms.add("correct")
    return forms


@pytest.mark.parametrize("user,actions", [
    ("marketing", {"suspend", "withdraw", "terminate", "correct"}),
    ("manager1", {"suspend", "withdraw"}),
    ("frontdesk", {"withdraw"}),
    ("auditor", set()),
])
def test_each_person_is_offered_what_the_engine_lets_them_do(engine: Engine, staff: Actor,
                                                             scenarios: dict[str, Scenario], user: str,
                                                             actions: set[str]) -> None:
    app_no = waiting(engine, scenarios["hv_solo"], 1).app_no
    page = page_of(staff(user), app_no)
    assert offered(page) == actions
    assert ('id="lifecycle"' in page) == bool(actions)


def test_a_suspension_without_a_reason_is_refused_next_to_the_reason_then_made(
        engine: Engine, staff: Actor, client: Staff, scenarios: dict[str, Scenario]) -> None:
    result = waiting(engine, scenarios["hv_solo"], 1)
    manager = staff("manager1")
    response = manager.post(f"/applications/{result.app_no}/suspend", {"reason": "   "})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "请填写原因" in field_error(page, "reason")
    assert '<details class="action" open>' in page  # the form stays open
    too_long = manager.post(f"/applications/{result.app_no}/suspend", {"reason": "暂" * 600})
    assert too_long.status_code == 400 and "暂" * 600 in too_long.get_data(as_text=True)  # kept as typed
    assert engine.application(result.app_no).status == "running"

    response = manager.post(f"/applications/{result.app_no}/suspend", {"reason": "客户申请暂缓：厂房规划调整"})
    assert response.status_code == 302 and any("已暂停办理" in m for m in flashes(manager))
    page = page_of(manager, result.app_no)
    assert "已暂停" in page and "客户申请暂缓：厂房规划调整" in page and offered(page) == {"resume", "withdraw"}
    task = result.ready_tasks[0]
    task_page = manager.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "申请已暂停" in task_page and 'disabled title=申请已暂停' in task_page
    # the customer sees it, with the reason
    progress = client.post("/progress", {"app_no": result.app_no, "phone_tail": "5678"})
    text = progress.get_data(as_text=True)
    assert "暂停办理" in text and "客户申请暂缓：厂房规划调整" in text and "暂停中" in text

    assert manager.post(f"/applications/{result.app_no}/resume", {"reason": ""}).status_code == 302
    assert engine.application(result.app_no).status == "running"
    timeline = page_of(manager, result.app_no)
    assert "kind-suspended" in timeline and "kind-resumed" in timeline


def test_a_withdrawal_at_the_desk_ends_the_case_everywhere(engine: Engine, staff: Actor, client: Staff,
                                                          scenarios: dict[str, Scenario]) -> None:
    result = waiting(engine, scenarios["hv_solo"], 2)
    desk = staff("frontdesk")
    assert desk.post(f"/applications/{result.app_no}/withdraw", {"reason": "客户来电撤回：项目取消"}).status_code == 302
    page = page_of(staff("marketing"), result.app_no)
    assert "已撤销" in page and "客户来电撤回：项目取消" in page and offered(page) == set()
    assert "申请已撤销，没有待办环节" in page and "未办理即关闭（申请已撤销）" in page
    gone = staff("marketing").get(f"/tasks/{result.ready_tasks[0].id}")
    assert gone.status_code == 409 and "已取消" in gone.get_data(as_text=True)
    progress = client.post("/progress", {"app_no": result.app_no, "phone_tail": "5678"})
    assert "您的申请已撤销" in progress.get_data(as_text=True)
    assert staff("frontdesk").post(f"/applications/{result.app_no}/terminate", {"reason": "x"}).status_code == 403


def test_a_correction_page_edits_a_value_with_its_own_input_and_names_it_in_the_timeline(
        engine: Engine, staff: Actor, scenarios: dict[str, Scenario]) -> None:
    result = waiting(engine, scenarios["hv_solo"], 2)  # the plan is drafted: single supply
    supervisor = staff("marketing")
    listing = supervisor.get(f"/applications/{result.app_no}/correct").get_data(as_text=True)
    assert "供电方式" in listing and "拟定供电方案" in listing and "单电源" in listing and ">single<" not in listing
    form = supervisor.get(f"/applications/{result.app_no}/correct?field=supply_mode").get_data(as_text=True)
    assert 'name="supply_mode" value="dual"' in form and 'value="single" checked' in form
    # dual supply needs a backup line this plan lacks: refused next to the value, the reason kept
    refused = supervisor.post(f"/applications/{result.app_no}/correct",
                              {"field": "supply_mode", "supply_mode": "dual", "reason": "方案批准为双电源"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "方案批准为双电源" in page
    assert "备用电源" in field_error(page, "supply_mode") or "双电源" in field_error(page, "supply_mode")
    ok = supervisor.post(f"/applications/{result.app_no}/correct",
                         {"field": "contact_phone", "contact_phone": "13900005678", "reason": "客户换号"})
    assert ok.status_code == 302 and engine.application(result.app_no).data["contact_phone"] == "13900005678"
    timeline = page_of(supervisor, result.app_no)
    assert "联系电话：13812345678 → 13900005678；原因：客户换号" in timeline
    assert staff("manager1").get(f"/applications/{result.app_no}/correct").status_code == 403


def test_a_case_in_error_is_repaired_from_its_page(engine: Engine, staff: Actor,
                                                   scenarios: dict[str, Scenario]) -> None:
    broken = engine.start("hv", {**scenarios["hv_solo"].start, "preferred_manager": "nobody"}, "frontdesk")
    supervisor = staff("marketing")
    page = page_of(supervisor, broken.app_no)
    assert "流程异常" in page and "重试出错环节" in page and "处理办法" in page
    form = supervisor.get(f"/applications/{broken.app_no}/correct?field=preferred_manager").get_data(as_text=True)
    assert "客户经理 王芳" in form  # the manager is chosen by name
    assert supervisor.post(f"/applications/{broken.app_no}/correct", {
        "field": "preferred_manager", "preferred_manager": "manager2", "reason": "客户指定王芳"}).status_code == 302
    assert supervisor.post(f"/applications/{broken.app_no}/retry", {}).status_code == 302
    app = engine.application(broken.app_no)
    assert app.status == "running" and app.open_tasks[0].assignee == "manager2"


# ----------------------------------------------------------------------------- the API


@pytest.fixture
def channel(app: Flask, engine: Engine) -> Callable[[str], Channel]:
    return lambda username: Channel(app.test_client(), engine.create_api_token(username, "网上国网", by="admin"))


def test_the_api_takes_every_lifecycle_action_as_documented(engine: Engine, channel: Callable[[str], Channel],
                                                            scenarios: dict[str, Scenario],
                                                            spec: dict[str, Any]) -> None:
    app_no = waiting(engine, scenarios["hv_solo"], 1).app_no
    manager, supervisor = channel("manager1"), channel("marketing")
    suspended = manager.post(f"/applications/{app_no}/suspend", {"reason": "客户暂缓"})
    assert suspended.status_code == 200
    conforms(spec, "CaseAction", suspended.get_json())
    assert suspended.get_json()["status_name"] == "已暂停"
    shown = manager.get(f"/applications/{app_no}").get_json()
    conforms(spec, "Application", shown)
    assert (shown["status"], shown["status_reason"], shown["status_changed_by"]) == ("suspended", "客户暂缓", "manager1")
    assert manager.post(f"/applications/{app_no}/suspend", {"reason": "again"}).status_code == 409
    assert manager.post(f"/applications/{app_no}/resume", {}).get_json()["status"] == "running"
    fields = supervisor.get(f"/applications/{app_no}/fields")
    conforms(spec, "CorrectableFields", fields.get_json())
    assert {"name": "capacity_kva", "title": "申请容量（kVA）", "step": "受理信息", "value": 800,
            "form": "hv_accept.json"} in fields.get_json()["items"]
    corrected = supervisor.post(f"/applications/{app_no}/corrections",
                                {"field": "capacity_kva", "value": 900, "reason": "现场核定 900 kVA"})
    conforms(spec, "CaseAction", corrected.get_json())
    assert (corrected.get_json()["before"], corrected.get_json()["after"]) == (800, 900)
    bad = supervisor.post(f"/applications/{app_no}/corrections",
                          {"field": "capacity_kva", "value": "九百", "reason": "x"})
    assert bad.status_code == 400 and "应为数字" in bad.get_json()["error"]["fields"]["value"]
    assert manager.post(f"/applications/{app_no}/corrections",
                        {"field": "capacity_kva", "value": 1000, "reason": "x"}).status_code == 403
    assert manager.post(f"/applications/{app_no}/terminate", {"reason": "x"}).status_code == 403
    missing = supervisor.post(f"/applications/{app_no}/terminate", {})
    assert missing.status_code == 400 and "reason" in missing.get_json()["error"]["fields"]
    ended = supervisor.post(f"/applications/{app_no}/terminate", {"reason": "客户失联"})
    assert ended.get_json()["status"] == "terminated"
    assert supervisor.post(f"/applications/{app_no}/retry").status_code == 409
    assert engine.verify_audit(app_no).intact and engine.replay(app_no, by="auditor").verified


def test_the_auditors_replay_names_corrections_and_endings_and_verifies(engine: Engine, staff: Actor,
                                                                        scenarios: dict[str, Scenario]) -> None:
    app_no = waiting(engine, scenarios["hv_solo"], 2).app_no
    engine.correct(app_no, "contact_name", "赵六", "客户更换联系人", by="marketing")
    engine.withdraw(app_no, "客户撤回", by="frontdesk")
    auditor = staff("auditor")
    page = auditor.get(f"/audit/{app_no}").get_data(as_text=True)
    assert "✔ 重放核验通过" in page
    steps = auditor.get(f"/audit/{app_no}/replay.json").get_json()["steps"]
    assert [(s["kind_label"], s["title"]) for s in steps[-2:]] == [("更正", "更正数据"), ("撤销", "撤销申请")]
    assert steps[-2]["data"]["contact_name"] == "赵六" and all(s["matches"] for s in steps)
