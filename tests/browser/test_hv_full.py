"""A whole high-voltage application through the browser: 受理 at the counter, then every step by the person
who holds it, contract and meter in parallel, to power-on, archiving and the follow-up visit."""

from __future__ import annotations

from tests.browser.conftest import LiveServer, Person
from tests.browser.flow import (
    DISPLAY_NAMES,
    PATHS,
    accept_through_ui,
    assert_clean,
    diagram_shot,
    do_task,
    finish_site_work,
    open_tasks,
    wait_for_diagram,
)


def test_hv_application_from_acceptance_to_the_end(person: Person, live_server: LiveServer) -> None:
    path = PATHS["hv_solo"]
    page = person.page

    person.login("frontdesk")
    app_no = accept_through_ui(person, "hv", path["start"], shot="hv-01-acceptance-form")
    assert_clean(person, "acceptance")
    assert page.locator(".badge.status-running").inner_text() == "进行中"

    parallel_seen = False
    tasks = open_tasks(live_server, app_no)
    for index, (node_id, data) in enumerate(path["steps"]):
        assert node_id in tasks, f"step {index}: expected {node_id} open, open: {sorted(tasks)}"
        task = tasks[node_id]
        if node_id == "hv_draft_contract":
            # the fork: drafting the contract and installing the meter wait at the same time
            assert set(tasks) == {"hv_draft_contract", "hv_install_meter"}, sorted(tasks)
            parallel_seen = True
        if node_id == "hv_sign_contract":
            assert set(tasks) == {"hv_sign_contract", "hv_install_meter"}, sorted(tasks)
        if node_id == "hv_install_meter":
            assert set(tasks) == {"hv_install_meter"}, "power-on must wait for the meter"
        shots = {}
        if node_id == "hv_draft_supply_plan":
            shots = {"list_shot": "hv-02-task-list", "form_shot": "hv-03-task-form-supply-plan"}
        if node_id == "hv_install_meter":
            shots = {"list_shot": "hv-05-task-list-metering"}
        finish_site_work(live_server, task)
        do_task(person, app_no, task, data, **shots)

        # the application page names who holds what is open next
        waiting = page.locator("section.card", has=page.locator("h2", has_text="待办环节"))
        tasks = open_tasks(live_server, app_no)
        for following in tasks.values():
            row = waiting.locator("tr", has_text=following.node_name)
            assert row.count() == 1, f"{following.node_name} not listed as open"
            if following.holder:
                assert DISPLAY_NAMES[following.holder] in row.inner_text()
            else:
                assert "待认领" in row.inner_text()

        if node_id == "hv_completion_inspection":
            wait_for_diagram(person)
            assert page.locator("#diagram .djs-element.active").count() == 2  # contract and meter
            person.shot("hv-04-application-diagram-parallel")
            diagram_shot(person, "hv-04b-diagram-parallel")
            assert_clean(person, "application page with the diagram")
    assert parallel_seen

    # the end: 已办结, nothing open, the diagram all completed, the data entered on the way shown
    assert tasks == {}
    person.go(f"/applications/{app_no}")
    assert page.locator(".badge.status-completed").inner_text() == "已办结"
    assert "已办结，没有待办环节" in page.locator("main").inner_text()
    wait_for_diagram(person)
    assert page.locator("#diagram .djs-element.completed").count() >= len(path["steps"])
    assert page.locator("#diagram .djs-element.active").count() == 0
    assert page.locator("#diagram .djs-element.taken").count() > 0
    text = page.locator("main").inner_text()
    for value in ("江南精密机械有限公司", "110kV星湖变 10kV星湖线", "3300001234567", "GY-2025-000123", "客户满意"):
        assert value in text, value
    assert "审计链完整" in text
    contracts = page.locator("table.app-docs tr", has_text="合同")
    assert contracts.count() >= 1 and contracts.first.get_by_role("link", name="下载 DOCX").count() == 1
    person.shot("hv-06-application-completed")
    diagram_shot(person, "hv-06b-diagram-completed")
    assert_clean(person, "final application page")
