"""Opening by URL what is not yours: another role's task, a task assigned to a colleague, the counter's 受理."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.browser.conftest import LiveServer, Person
from tests.browser.flow import DISPLAY_NAMES, PATHS, assert_clean, open_tasks, start_with_cli

_METERING_LINE = re.compile(r"^\s+(\S+)\s+(\S+)\s+.*（lv_construct_connect）\s+角色 metering\s", re.MULTILINE)


def _forbidden_page(person: Person, path: str) -> str:
    response = person.go(path)
    assert response.status == 403, f"{path}: HTTP {response.status}"
    page = person.page
    assert page.locator("h1").inner_text() == "403 · 您没有权限进行此操作"
    assert page.locator("form.task-form, form.accept-form").count() == 0
    return page.locator(".error-card .message").inner_text()


def test_another_roles_task_by_url_is_403(person: Person, live_server: LiveServer, tmp_path: Path) -> None:
    path = PATHS["lv_residential"]
    app_no = start_with_cli(live_server, tmp_path, "lv_residential", customer_name="越权测试")
    sign = open_tasks(live_server, app_no)["lv_sign_simple"]
    data_file = tmp_path / "sign.json"
    data_file.write_text(json.dumps(path["steps"][0][1]))
    live_server.cli("complete", sign.id, "--as", sign.actor, "--data", str(data_file))
    # the metering task's id, read as the metering queue lists it
    ids = [m.group(1) for m in _METERING_LINE.finditer(live_server.cli("tasks", "--role", "metering", "--limit", "500"))
           if m.group(2) == app_no]
    assert len(ids) == 1, ids
    task_id = ids[0]

    person.login("manager1")
    message = _forbidden_page(person, f"/tasks/{task_id}")
    assert message == "任务「施工接电」属于「计量」，您没有该角色", message  # no login name on the page
    person.shot("forbidden-01-other-roles-task")
    # a POST (submitting the form anyway) is refused as well, and nothing is done
    token = person.page.locator("input[name=csrf_token]").first.input_value()  # the logout form's
    response = person.page.request.post(f"{live_server.url}/tasks/{task_id}", max_redirects=0,
                                        form={"csrf_token": token, **PATHS["lv_residential"]["steps"][1][1]})
    assert response.status == 403, response.status
    assert "lv_construct_connect" in open_tasks(live_server, app_no)
    assert_clean(person, "403 page")

    # the metering staff do get the form at the same address
    person.login("metering")
    response = person.go(f"/tasks/{task_id}")
    assert response.status == 200
    assert person.page.locator("form.task-form [name=meter_no]").count() == 1


def test_a_task_assigned_to_a_colleague_is_403(person: Person, live_server: LiveServer, tmp_path: Path) -> None:
    app_no = start_with_cli(live_server, tmp_path, "hv_solo", customer_name="指派越权测试有限公司")
    task = open_tasks(live_server, app_no)["hv_site_survey_solo"]
    assert task.holder in ("manager1", "manager2")
    colleague = "manager2" if task.holder == "manager1" else "manager1"

    person.login(colleague)
    message = _forbidden_page(person, f"/tasks/{task.id}")
    assert message == f"任务「现场勘查（客户经理）」已指派给{DISPLAY_NAMES[task.holder]}", message
    assert_clean(person, "403 page")


def test_accept_is_for_the_front_desk_only(person: Person) -> None:
    for user in ("manager1", "metering"):
        person.login(user)
        assert person.page.get_by_role("link", name="受理新申请").count() == 0
        _forbidden_page(person, "/accept")
        _forbidden_page(person, "/accept?variant=hv&customer_type=enterprise")
    person.shot("forbidden-02-accept")
    assert_clean(person, "403 pages")

    person.login("frontdesk")
    response = person.go("/accept")
    assert response.status == 200
    assert person.page.locator("form.variant").count() >= 2
