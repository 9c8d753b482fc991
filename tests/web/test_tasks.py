"""The task list, claiming and handing on, and the task page: forms, validation, uploads, permissions."""

from __future__ import annotations

import io
import re
from typing import Any, Callable

from werkzeug.datastructures import MultiDict

from engine import Engine, TaskInfo
from cli.demo import Scenario, actor_for, do_field_work, drive
from webui import formdata
from webui.tasks import waited

from tests.conftest import Clock, Staff

Actor = Callable[[str], Staff]


def reach(engine: Engine, scenario: Scenario, node: str) -> TaskInfo:
    """Drive a scenario until a task of the node is ready (its site work, if any, done), and return it."""
    for result in drive(engine, scenario):
        for task in result.ready_tasks:
            if task.node_id == node:
                do_field_work(engine, task.id, actor_for(engine, task.role, task.assignee))
                return task
    raise AssertionError(f"{scenario.name} never reaches {node}")


def row_ids(page: str) -> list[str]:
    return re.findall(r'<tr data-task-id="([^"]+)"', page)


def field_error(page: str, field: str) -> str:
    match = re.search(rf'<div class="field-error" data-field="{re.escape(field)}"[^>]*>([^<]*)</div>', page)
    assert match, f"no error shown next to {field}"
    return match.group(1)


def as_form(data: dict[str, Any]) -> dict[str, Any]:
    """Typed scenario data as a browser posts it: strings, a list for a checklist's ticked values."""
    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value)

    return {key: [text(v) for v in value] if isinstance(value, list) else text(value) for key, value in data.items()}


def flashes(user: Staff) -> list[str]:
    with user.client.session_transaction() as session:
        return [message for _, message in session.get("_flashes", [])]


# ----------------------------------------------------------------------------- the list


def test_pool_lists_the_unclaimed_tasks_of_my_role_only(engine: Engine, scenarios: dict[str, Scenario],
                                                       staff: Actor) -> None:
    task = reach(engine, scenarios["lv_residential"], "lv_sign_simple")
    page = staff("frontdesk").get("/?scope=pool").get_data(as_text=True)
    assert row_ids(page) == [task.id]
    assert f'href="/applications/{task.app_no}"' in page
    assert "张伟" in page and "低压" in page and "受理签约确认" in page and "共 <strong>1</strong> 条" in page
    assert row_ids(staff("manager1").get("/?scope=pool").get_data(as_text=True)) == []


def test_default_tab_is_mine_when_i_hold_tasks_else_the_pool(engine: Engine, scenarios: dict[str, Scenario],
                                                              staff: Actor) -> None:
    assigned = reach(engine, scenarios["hv_solo"], "hv_site_survey_solo")  # assigned to manager1
    mine = staff("manager1").get("/").get_data(as_text=True)
    assert re.search(r'class="tab active">我的任务', mine) and row_ids(mine) == [assigned.id]
    other = staff("manager2").get("/").get_data(as_text=True)
    assert re.search(r'class="tab active">待认领', other) and row_ids(other) == []


def test_all_tasks_are_for_the_supervisor_only(engine: Engine, scenarios: dict[str, Scenario],
                                               staff: Actor) -> None:
    hv = reach(engine, scenarios["hv_solo"], "hv_site_survey_solo")
    lv = reach(engine, scenarios["lv_residential"], "lv_sign_simple")
    assert set(row_ids(staff("marketing").get("/?scope=all").get_data(as_text=True))) == {hv.id, lv.id}
    assert staff("manager1").get("/?scope=all").status_code == 403
    assert "全部任务" not in staff("manager1").get("/").get_data(as_text=True)


def test_filters_and_search_narrow_the_list(engine: Engine, scenarios: dict[str, Scenario], staff: Actor) -> None:
    hv = reach(engine, scenarios["hv_solo"], "hv_site_survey_solo")
    lv = reach(engine, scenarios["lv_residential"], "lv_sign_simple")
    pv = reach(engine, scenarios["pv_380v"], "pv_site_survey")
    boss = staff("marketing")
    assert row_ids(boss.get("/?scope=all&process=lv").get_data(as_text=True)) == [lv.id]
    assert row_ids(boss.get("/?scope=all&node=pv_site_survey").get_data(as_text=True)) == [pv.id]
    assert row_ids(boss.get("/?scope=all&q=江南精密").get_data(as_text=True)) == [hv.id]
    assert row_ids(boss.get(f"/?scope=all&q={lv.app_no}").get_data(as_text=True)) == [lv.id]
    page = boss.get("/?scope=all").get_data(as_text=True)
    assert '<option value="pv_site_survey">现场勘查</option>' in page  # the node filter offers the steps listed
    assert "没有符合条件的任务" in boss.get("/?scope=all&q=不存在的客户").get_data(as_text=True)
    assert boss.get("/?scope=all&process=xx").status_code == 400


def test_completed_tasks_are_listed_with_who_did_them(engine: Engine, scenarios: dict[str, Scenario],
                                                      staff: Actor) -> None:
    task = reach(engine, scenarios["lv_residential"], "lv_sign_simple")
    engine.complete(task.id, "frontdesk", scenarios["lv_residential"].steps[0].data)
    page = staff("frontdesk").get("/?scope=mine&status=completed").get_data(as_text=True)
    assert row_ids(page) == [task.id] and "柜台受理员 张敏" in page and "办结" in page


def test_pages_of_twenty_with_totals(engine: Engine, scenarios: dict[str, Scenario], staff: Actor,
                                     clock: Clock) -> None:
    ids = []
    for _ in range(23):
        ids.append(engine.start("lv", scenarios["lv_residential"].start, "frontdesk").ready_tasks[0].id)
        clock.advance(minutes=1)  # oldest first
    clerk = staff("frontdesk")
    first = clerk.get("/?scope=pool").get_data(as_text=True)
    second = clerk.get("/?scope=pool&page=2").get_data(as_text=True)
    assert row_ids(first) == ids[:20] and row_ids(second) == ids[20:]
    assert "共 <strong>23</strong> 条，第 1 / 2 页" in first and 'href="/?page=2&amp;scope=pool' in first
    assert '<span class="current" aria-current="page">2</span>' in second


def test_waiting_time_is_shown_in_days_and_hours_beside_the_policy_clock(
        engine: Engine, scenarios: dict[str, Scenario], staff: Actor, clock: Clock) -> None:
    reach(engine, scenarios["lv_residential"], "lv_sign_simple")  # timeLimit 5 working days from Mon 23 Nov
    clock.advance(days=2, hours=3)
    page = staff("frontdesk").get("/?scope=pool").get_data(as_text=True)
    assert "2天3小时" in page
    # the list speaks of the clock the regulations count (低压 end to end: 5 working days from acceptance) …
    assert "低压办电全程（国家目标）" in page and "剩 3 个工作日" in page and "截止 2026-11-30" in page
    # … and shows the node's own due date only as its internal target
    assert "环节目标 11-30 23:59" in page and "已超时" not in page
    assert waited(clock.now, clock.now) == "刚刚"


# ----------------------------------------------------------------------------- claim, release, reassign


def test_claim_and_release_come_back_with_a_message(engine: Engine, scenarios: dict[str, Scenario],
                                                    staff: Actor) -> None:
    task = reach(engine, scenarios["lv_residential"], "lv_sign_simple")
    clerk = staff("frontdesk")
    claimed = clerk.post(f"/tasks/{task.id}/claim", {"next": "/?scope=pool"})
    assert claimed.status_code == 302 and claimed.headers["Location"] == "/?scope=pool"
    assert engine.task(task.id).claimed_by == "frontdesk" and "已认领「受理签约确认」" in flashes(clerk)[-1]
    assert "释放" in clerk.get("/?scope=mine").get_data(as_text=True)
    released = clerk.post(f"/tasks/{task.id}/release", {"next": "//evil.example/"})
    assert released.status_code == 302 and released.headers["Location"] == "/"
    assert engine.task(task.id).claimed_by is None and "任务回到待认领" in flashes(clerk)[-1]


def test_supervisor_reassigns_to_a_person_of_the_role(engine: Engine, scenarios: dict[str, Scenario],
                                                      staff: Actor) -> None:
    task = reach(engine, scenarios["hv_solo"], "hv_site_survey_solo")
    boss = staff("marketing")
    page = boss.get("/?scope=all").get_data(as_text=True)
    assert f'action="/tasks/{task.id}/reassign"' in page and '<option value="manager2">客户经理 王芳</option>' in page
    response = boss.post(f"/tasks/{task.id}/reassign", {"to": "manager2", "next": "/?scope=all"})
    assert response.status_code == 302 and engine.task(task.id).assignee == "manager2"
    assert "改派给 客户经理 王芳" in flashes(boss)[-1]


def test_only_the_supervisor_may_reassign(engine: Engine, scenarios: dict[str, Scenario], staff: Actor) -> None:
    task = reach(engine, scenarios["hv_solo"], "hv_site_survey_solo")
    assert "reassign" not in staff("manager1").get("/").get_data(as_text=True)
    assert staff("manager1").post(f"/tasks/{task.id}/reassign", {"to": "manager2"}).status_code == 403
    assert engine.task(task.id).assignee == "manager1"


# ----------------------------------------------------------------------------- the task page


def test_task_page_renders_the_form_from_its_definition(engine: Engine, scenarios: dict[str, Scenario],
                                                       staff: Actor) -> None:
    scenario = scenarios["hv_solo"]
    task = reach(engine, scenario, "hv_draft_supply_plan")
    page = staff("manager1").get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "拟定供电方案" in page and task.app_no in page and "江南精密机械有限公司" in page
    assert '<label for="f-supply_voltage_kv" class="field-label required">供电电压（kV）</label>' in page
    assert re.search(r'<select id="f-supply_voltage_kv" name="supply_voltage_kv">.*?<option value="10"[^>]*>10kV</option>',
                     page, re.S)
    assert re.search(r'name="transformer_count" type="number" step="1"', page)
    assert re.search(r'name="transformer_capacity_kva" type="number" step="any"', page)
    assert '<textarea id="f-plan_notes" name="plan_notes"' in page  # maxLength 2000
    assert 'class="field-label">备用电源线路</label>' in page  # nullable: no required mark
    # the earlier data, with Chinese labels from the acceptance and the survey
    assert "申请容量（kVA）" in page and "勘查意见" in page and "现场具备接入条件" in page


def test_task_page_offers_yes_no_radios_and_file_inputs(engine: Engine, scenarios: dict[str, Scenario],
                                                        staff: Actor) -> None:
    manager = staff("manager1")
    confirm = reach(engine, scenarios["hv_solo"], "hv_customer_confirm_plan")
    page = manager.get(f"/tasks/{confirm.id}").get_data(as_text=True)
    assert re.search(r'<select id="f-plan_confirmed" name="plan_confirmed".*?<option value="true">是</option>'
                     r'\s*<option value="false">否</option>', page, re.S)
    assert 'name="plan_confirmed_on" type="date"' in page
    request = reach(engine, scenarios["hv_team"], "hv_completion_request")
    assert request.assignee  # the office spreads work: whoever got this application
    page = staff(request.assignee).get(f"/tasks/{request.id}").get_data(as_text=True)
    assert 'type="file" name="doc:completion_report" accept=".pdf,.jpg,.jpeg,.png,.docx"' in page
    assert '<label for="doc-completion_report" class="field-label required">竣工报告</label>' in page
    assert '<label for="doc-safety_tools_list" class="field-label">' in page
    assert 'type="checkbox" name="completion_documents" value="test_reports"> 电气设备交接试验报告' in page
    assert 'name="completion_requested_at" type="datetime-local"' in page
    assert 'enctype="multipart/form-data"' in page


def test_radios_for_short_choices(engine: Engine, scenarios: dict[str, Scenario], staff: Actor) -> None:
    task = reach(engine, scenarios["hv_solo"], "hv_plan_approval")
    page = staff("marketing").get(f"/tasks/{task.id}").get_data(as_text=True)
    assert re.search(r'type="radio" name="plan_approval_result" value="pass"', page)


def test_a_valid_submission_completes_the_task(engine: Engine, scenarios: dict[str, Scenario],
                                               staff: Actor) -> None:
    scenario = scenarios["hv_solo"]
    task = reach(engine, scenario, "hv_site_survey_solo")
    manager = staff("manager1")
    response = manager.post(f"/tasks/{task.id}", as_form(scenario.steps[0].data))
    assert response.status_code == 302 and response.headers["Location"] == f"/applications/{task.app_no}"
    assert engine.task(task.id).status == "completed"
    data = engine.application(task.app_no).data
    assert data["load_confirmed"] == 800 and data["survey_date"] == "2025-03-05"
    assert "「现场勘查（客户经理）」已办理" in flashes(manager)


def test_an_invalid_submission_is_shown_again_with_errors_next_to_fields(
        engine: Engine, scenarios: dict[str, Scenario], staff: Actor) -> None:
    task = reach(engine, scenarios["hv_solo"], "hv_site_survey_solo")
    response = staff("manager1").post(f"/tasks/{task.id}", {"survey_findings": "线路不远，可以接入",
                                                             "load_confirmed": "-5", "survey_date": "2025-13-40"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "日期" in field_error(page, "survey_date")
    assert field_error(page, "load_confirmed") == "核定容量：必须大于 0"
    assert "线路不远，可以接入" in page and 'value="-5"' in page  # what was typed is kept
    assert engine.task(task.id).status == "ready"


def test_required_fields_left_empty_say_so(engine: Engine, scenarios: dict[str, Scenario], staff: Actor) -> None:
    task = reach(engine, scenarios["hv_solo"], "hv_site_survey_solo")
    response = staff("manager1").post(f"/tasks/{task.id}", {"survey_findings": "", "load_confirmed": ""})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and field_error(page, "survey_date") == "勘查日期：必填"
    assert engine.task(task.id).status == "ready"


def test_a_number_that_is_not_a_number_is_a_400(engine: Engine, scenarios: dict[str, Scenario],
                                                staff: Actor) -> None:
    scenario = scenarios["hv_solo"]
    task = reach(engine, scenario, "hv_site_survey_solo")
    response = staff("manager1").post(f"/tasks/{task.id}", as_form({**scenario.steps[0].data, "load_confirmed": "abc"}))
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and field_error(page, "load_confirmed") == "核定容量：请输入数字"
    assert 'value="abc"' in page and engine.task(task.id).status == "ready"


def test_another_role_may_neither_open_nor_submit_a_task(engine: Engine, scenarios: dict[str, Scenario],
                                                          staff: Actor) -> None:
    scenario = scenarios["hv_solo"]
    task = reach(engine, scenario, "hv_site_survey_solo")
    survey = staff("survey")
    assert survey.get(f"/tasks/{task.id}").status_code == 403
    assert survey.post(f"/tasks/{task.id}", as_form(scenario.steps[0].data)).status_code == 403
    other_manager = staff("manager2")  # right role, but the task is assigned to manager1
    assert other_manager.get(f"/tasks/{task.id}").status_code == 403
    assert engine.task(task.id).status == "ready"


def test_a_task_claimed_by_a_colleague_is_not_mine_to_do(engine: Engine, scenarios: dict[str, Scenario],
                                                          staff: Actor) -> None:
    task = reach(engine, scenarios["hv_solo"], "hv_plan_approval")
    engine.create_user("marketing2", "营销部 何军", ["marketing"], "baozhuang")
    engine.claim(task.id, "marketing")
    response = staff("marketing2").get(f"/tasks/{task.id}")
    assert response.status_code == 403 and "已被营销部 陈静（主管）认领" in response.get_data(as_text=True)


def test_completing_a_completed_task_is_a_conflict(engine: Engine, scenarios: dict[str, Scenario],
                                                   staff: Actor) -> None:
    scenario = scenarios["hv_solo"]
    task = reach(engine, scenario, "hv_site_survey_solo")
    manager = staff("manager1")
    do_field_work(engine, task.id, "manager1")
    engine.complete(task.id, "manager1", scenario.steps[0].data)
    response = manager.post(f"/tasks/{task.id}", as_form(scenario.steps[0].data))
    assert response.status_code == 409 and "已由" in response.get_data(as_text=True)
    assert manager.get(f"/tasks/{task.id}").status_code == 409


def test_an_upload_of_a_disallowed_type_is_refused(engine: Engine, scenarios: dict[str, Scenario],
                                                   staff: Actor) -> None:
    task = reach(engine, scenarios["hv_solo"], "hv_completion_request")
    form = as_form({"completion_requested_at": "2025-06-02T10:00",
                    "completion_documents": ["completion_report", "test_reports", "constructor_qualification"]})
    form["doc:safety_tools_list"] = (io.BytesIO(b"MZ\x90\x00"), "tool.exe", "application/x-msdownload")
    response = staff("manager1").post(f"/tasks/{task.id}", form, content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "文件内容不是 PDF" in field_error(page, "safety_tools_list")
    assert engine.task(task.id).status == "ready" and engine.application(task.app_no).documents == ()


def test_an_uploaded_document_is_kept_with_the_application(engine: Engine, scenarios: dict[str, Scenario],
                                                           staff: Actor) -> None:
    task = reach(engine, scenarios["hv_solo"], "hv_completion_request")
    form = as_form({"completion_requested_at": "2025-06-02T10:00",
                    "completion_documents": ["test_reports", "constructor_qualification"]})
    form["doc:completion_report"] = (io.BytesIO(b"%PDF-1.4 report"), "竣工报告.pdf", "application/pdf")
    response = staff("manager1").post(f"/tasks/{task.id}", form, content_type="multipart/form-data")
    assert response.status_code == 302
    app = engine.application(task.app_no)
    kept = [d for d in app.documents if d.kind == "upload:completion_report"]
    assert [(d.filename, d.media_type, d.size) for d in kept] == [("竣工报告.pdf", "application/pdf", 15)]
    assert app.data["completion_requested_at"] == "2025-06-02T10:00:00+08:00"  # Beijing time


def test_a_required_document_neither_uploaded_nor_ticked_is_asked_for(
        engine: Engine, scenarios: dict[str, Scenario], staff: Actor) -> None:
    task = reach(engine, scenarios["hv_solo"], "hv_completion_request")
    form = as_form({"completion_requested_at": "2025-06-02T10:00", "completion_documents": ["test_reports"]})
    response = staff("manager1").post(f"/tasks/{task.id}", form, content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and field_error(page, "completion_report") == "竣工报告：必须上传"
    assert engine.task(task.id).status == "ready"


# ----------------------------------------------------------------------------- formdata


def test_submitted_strings_become_typed_values() -> None:
    fields = [
        formdata.Field("n", "容量", "", "number", "number", True, False),
        formdata.Field("i", "台数", "", "integer", "integer", True, False),
        formdata.Field("b", "专线", "", "boolean", "boolean", True, False, (("true", "是"), ("false", "否"))),
        formdata.Field("s", "备用线路", "", "text", "string", True, True),
        formdata.Field("c", "已收资料", "", "checklist", "string", False, False, (("a", "甲"), ("b", "乙"))),
        formdata.Field("t", "时间", "", "datetime", "string", True, False),
    ]
    data, errors = formdata.parse(fields, MultiDict([("n", "1,200.5"), ("i", "３"), ("b", "false"), ("s", " "),
                                                     ("c", "a"), ("c", "b"), ("t", "2025-03-03T09:15")]))
    assert errors == {}
    assert data == {"n": 1200.5, "i": 3, "b": False, "s": None, "c": ["a", "b"], "t": "2025-03-03T09:15:00+08:00"}
    _, errors = formdata.parse(fields, MultiDict([("n", "inf"), ("i", "2.5"), ("b", "maybe"), ("t", "昨天")]))
    assert set(errors) == {"n", "i", "b", "t"} and errors["i"] == "台数：请输入整数"
