"""A form sent back with its problems: the Chinese message next to the field, HTTP 400, what was typed kept;
corrected, it goes through."""

from __future__ import annotations

import re
from pathlib import Path

from tests.browser.conftest import LiveServer, Person
from tests.browser.flow import (
    PATHS,
    assert_clean,
    fill_form,
    finish_site_work,
    flash_text,
    open_acceptance,
    open_task,
    open_tasks,
    start_with_cli,
    submit,
)


def test_task_form_with_a_missing_and_a_bad_value_is_shown_again_then_corrected(
        person: Person, live_server: LiveServer, tmp_path: Path) -> None:
    app_no = start_with_cli(live_server, tmp_path, "hv_solo", customer_name="校验测试精工有限公司")
    task = open_tasks(live_server, app_no)["hv_site_survey_solo"]
    finish_site_work(live_server, task)
    good = dict(PATHS["hv_solo"]["steps"][0][1])  # survey_date, survey_findings, load_confirmed
    page = person.page

    person.login(task.actor)
    form = open_task(person, app_no, task)
    fill_form(form, {**good, "survey_findings": "", "load_confirmed": 0})  # 必填 emptied; capacity must be > 0
    response = submit(person, form, "提交办理")
    assert response.status == 400
    assert page.url.endswith(f"/tasks/{task.id}")
    assert "有 2 处需要修改" in page.locator(".form-errors").inner_text()
    findings_error = page.locator('.field-error[data-field="survey_findings"]')
    load_error = page.locator('.field-error[data-field="load_confirmed"]')
    assert findings_error.inner_text() == "勘查意见：必填"
    assert "核定容量" in load_error.inner_text() and "0" in load_error.inner_text()
    # each message sits with its own input
    assert page.locator(".field.has-error", has=page.locator("#f-survey_findings")).locator(".field-error").count() == 1
    assert page.locator(".field.has-error", has=page.locator("#f-load_confirmed")).locator(".field-error").count() == 1
    assert page.locator('.field-error[data-field="survey_date"]').count() == 0
    # what was typed is still there
    form = page.locator("form.task-form")
    assert form.locator("[name=survey_date]").input_value() == good["survey_date"]
    assert form.locator("[name=load_confirmed]").input_value() == "0"
    person.shot("validation-01-task-form-errors")
    assert_clean(person, "task page with errors")
    assert "hv_site_survey_solo" in open_tasks(live_server, app_no)  # nothing was saved

    fill_form(form, {"survey_findings": good["survey_findings"], "load_confirmed": good["load_confirmed"]})
    response = submit(person, form, "提交办理")
    assert response.status == 302
    assert f"「{task.node_name}」已办理" in flash_text(person)
    assert page.url.endswith(f"/applications/{app_no}")
    assert good["survey_findings"] in page.locator("main").inner_text()
    assert "hv_draft_supply_plan" in open_tasks(live_server, app_no)
    assert_clean(person, "application page after the correction")


def test_acceptance_without_an_identity_document_is_refused_then_accepted(person: Person) -> None:
    data = {**PATHS["hv_solo"]["start"], "customer_name": "一证受理测试有限公司",
            "documents_received": ["property_proof"]}  # a document, but no proof of identity
    page = person.page

    person.login("frontdesk")
    form = open_acceptance(person, "hv", data["customer_type"])
    fill_form(form, data)
    response = submit(person, form, "确认受理")
    assert response.status == 400
    assert re.search(r"/accept\?variant=hv", page.url)
    error = page.locator('.field-error[data-field="documents_received"]')
    assert "一证受理" in error.inner_text() and "营业执照" in error.inner_text()
    assert page.locator(".checklist-card.has-error").locator(".field-error").count() == 1
    assert page.locator(".field-error").count() == 1
    assert page.locator(".flash-success").count() == 0
    # the values typed and the box ticked are kept
    form = page.locator("form.accept-form")
    assert form.locator("[name=customer_name]").input_value() == "一证受理测试有限公司"
    assert form.locator("[name=contact_phone]").input_value() == data["contact_phone"]
    assert form.locator("[name=id_document_type]").input_value() == "business_licence"
    assert form.locator('input[name=documents_received][value="property_proof"]').is_checked()
    assert not form.locator('input[name=documents_received][value="business_licence"]').is_checked()
    person.shot("validation-02-acceptance-identity-error")
    assert_clean(person, "acceptance with errors")

    form.locator('input[name=documents_received][value="business_licence"]').check()
    response = submit(person, form, "确认受理")
    assert response.status == 302
    match = re.search(r"已受理，申请编号 (\S+)", flash_text(person))
    assert match, flash_text(person)
    assert page.locator(".app-no").inner_text() == match.group(1)
    assert "一证受理测试有限公司" in page.locator("h1").inner_text()
    assert_clean(person, "application page after acceptance")
