"""Field work through the browser: the dispatcher books a survey appointment on the board, the field worker
reports arrival and finish from 现场作业, the survey can then be submitted, and the callback appears for
customer service."""

from __future__ import annotations

from datetime import date

from engine.fieldwork.jobs import DEFAULT_CAPACITY
from pathlib import Path

from tests.browser.conftest import LiveServer, Person
from tests.browser.flow import PATHS, _reader, assert_clean, fill_form, flash_text, open_tasks, start_with_cli, submit


def test_dispatcher_books_worker_checks_in_and_out_and_the_callback_appears(
        person: Person, live_server: LiveServer, tmp_path: Path) -> None:
    app_no = start_with_cli(live_server, tmp_path, "hv_solo", customer_name="现场作业测试电子有限公司")
    task = open_tasks(live_server, app_no)["hv_site_survey_solo"]
    page = person.page
    calendar = _reader(live_server).calendar()
    tomorrow = calendar.next_workday(date.today())  # rest days have no capacity

    def remaining_and_capacity() -> tuple[int, int]:
        person.go(f"/fieldwork/?from={tomorrow.isoformat()}")
        left, total = page.locator(f'#capacity td[data-cell="XZ/{tomorrow.isoformat()}/survey"]').inner_text().split("/")
        return int(left), int(total)

    # the worker cannot submit the survey yet: the page says why and the button is off
    person.login(task.actor)
    person.go(f"/tasks/{task.id}")
    assert page.locator("#field-job").get_attribute("data-status") == "waiting"
    assert page.locator("form.task-form button[type=submit]").is_disabled()

    # the dispatcher books it from the board
    person.login("fielddispatch")
    before = remaining_and_capacity()
    while before[0] == 0:  # other tests on this server may have booked the day full: the next working day
        tomorrow = calendar.next_workday(tomorrow)
        before = remaining_and_capacity()
    assert before[1] == DEFAULT_CAPACITY["rural"]["survey"] and before[0] > 0
    person.go("/")
    page.get_by_role("link", name="派工调度").click()
    row = page.locator(f'#waiting tr[data-job-id="{task.id}"]')
    assert app_no in row.inner_text()
    person.shot("fw-01-dispatch-board")
    row.get_by_role("link", name="预约派工").click()
    form = page.locator("#book form")
    form.locator("select[name=station]").select_option("XZ")
    form.locator("input[name=day]").fill(tomorrow.isoformat())
    form.locator("select[name=mode]").select_option("window")
    form.locator("input[name=start]").fill("09:00")
    form.locator("input[name=end]").fill("11:00")
    form.locator("input[name=contact_name]").fill("陈经理")
    form.locator("input[name=contact_phone]").fill("13700001111")
    person.shot("fw-02-booking-form")
    response = submit(person, form, "确认预约")
    assert response.status == 302, page.locator(".form-errors").all_inner_texts()
    assert "已预约" in flash_text(person)
    assert page.locator("#appointment").inner_text().startswith("限时")
    assert_clean(person, "job page after booking")
    assert remaining_and_capacity() == (before[0] - 1, before[1])  # one slot of the rural station taken

    # the worker reports arrival and finish from 现场作业
    person.login(task.actor)
    page.get_by_role("link", name="现场作业").click()
    page.locator(f'tr[data-job-id="{task.id}"]').get_by_role("link", name="到达现场").click()
    report = page.locator("#report form")
    report.locator("textarea[name=note]").fill("已到达，客户电工在场")
    assert submit(person, report, "到达现场").status == 302
    report = page.locator("#report form")
    report.locator("textarea[name=note]").fill("勘查完成，具备供电条件")
    assert submit(person, report, "作业结束").status == 302
    assert "回访已生成" in flash_text(person)
    kinds = page.locator("#history tr[data-kind]").evaluate_all("rows => rows.map(r => r.dataset.kind)")
    assert kinds == ["created", "scheduled", "checked_in", "checked_out"]
    person.shot("fw-03-job-finished")

    # now the survey can be submitted
    page.get_by_role("link", name="办理「现场勘查（客户经理）」").click()
    assert page.locator("#field-job").get_attribute("data-status") == "finished"
    task_form = page.locator("form.task-form")
    fill_form(task_form, dict(PATHS["hv_solo"]["steps"][0][1]))
    assert submit(person, task_form, "提交办理").status == 302
    assert "hv_site_survey_solo" not in open_tasks(live_server, app_no)

    # the callback appears for customer service
    person.login("service")
    page.get_by_role("link", name="作业回访").click()
    row = page.locator("tr[data-callback-id]", has_text=app_no)
    assert row.count() == 1 and "现场勘查" in row.inner_text()
    person.shot("fw-04-callbacks")
    row.get_by_role("link", name="回访").click()
    form = page.locator("#record form")
    form.get_by_label("已联系上").check()
    form.get_by_label("满意", exact=True).check()
    assert submit(person, form, "保存回访").status == 302
    assert "回访已记录" in flash_text(person)
    assert_clean(person, "callbacks after recording")
