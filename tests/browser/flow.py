"""What the browser tests do the way staff do it: accept an application, find a task in the task list, fill a
form field by field according to the input the page shows, submit, and read the result.

The only thing read outside the browser is which task is open and who holds it (from the database, as
`baozhuang show` prints it), to know whom to log in as — the rule is the engine's: a task with an assignee is done by that person, any other by
someone with the task's role (cli.demo.actor_for).
"""

from __future__ import annotations

import atexit
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from engine import Engine
from engine.config import load_config
from cli.demo import DEMO_USERS, do_field_work

from tests.browser.conftest import ARTIFACTS, REPO, LiveServer, Person

PATHS: dict[str, dict[str, Any]] = {p["key"]: p for p in json.loads((REPO / "processes" / "paths.json").read_text())}
DISPLAY_NAMES = {username: display for username, display, _ in DEMO_USERS}
BEIJING = timezone(timedelta(hours=8))

# Chromium reports a page served with an error status as a console error; the pages that are meant to be
# 400/403 are checked for their status, so that line is not a fault of the page.
_STATUS_LINE = re.compile(r"^Failed to load resource: the server responded with a status of (400|403)\b")


def page_errors(person: Person) -> list[str]:
    """Console errors and uncaught exceptions, without the line Chromium writes for an intended 4xx page."""
    return [e for e in person.console_errors if not _STATUS_LINE.match(e)]


def assert_clean(person: Person, where: str) -> None:
    errors = page_errors(person)
    assert errors == [], f"{where}: console errors {errors}"


# ----------------------------------------------------------------------------- filling a form


def _text(value: Any) -> str:
    """A value as an input holds it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _datetime_local(value: str) -> str:
    """'2025-06-02T10:00:00+08:00' → '2025-06-02T10:00' (Beijing time, what a datetime-local input takes)."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(BEIJING)
    return parsed.strftime("%Y-%m-%dT%H:%M")


def fill_field(form: Any, name: str, value: Any) -> str:
    """Set one field by its name the way a person would, according to the input found; returns the kind."""
    inputs = form.locator(f'[name="{name}"]')
    count = inputs.count()
    assert count, f"表单上没有字段 {name}"
    first = inputs.first
    tag = first.evaluate("e => e.tagName.toLowerCase()")
    kind = tag if tag != "input" else (first.get_attribute("type") or "text").lower()
    if kind == "select":
        if isinstance(value, bool):
            first.select_option(label="是" if value else "否")
        else:
            first.select_option(value=_text(value))
    elif kind == "radio":
        form.locator(f'input[type=radio][name="{name}"][value="{_text(value)}"]').check()
    elif kind == "checkbox":
        wanted = {_text(v) for v in (value or [])}
        boxes = form.locator(f'input[type=checkbox][name="{name}"]')
        offered = set()
        for i in range(boxes.count()):
            box = boxes.nth(i)
            key = box.get_attribute("value")
            offered.add(key)
            if key in wanted:
                box.check()
            else:
                box.uncheck()
        assert wanted <= offered, f"{name}: 清单上没有 {sorted(wanted - offered)}"
    elif kind == "hidden":
        assert first.input_value() == _text(value), f"{name}: 隐藏字段为 {first.input_value()!r}"
    elif kind == "datetime-local":
        first.fill(_datetime_local(value) if value else "")
    elif kind == "textarea" and isinstance(value, list):
        first.fill("\n".join(_text(v) for v in value))  # one item per line
    elif kind in ("text", "number", "date", "textarea", "search", "tel", "email"):
        first.fill(_text(value))
    else:
        raise AssertionError(f"{name}: 不认识的输入 {kind}")
    return kind


def fill_form(form: Any, data: dict[str, Any]) -> dict[str, str]:
    """Fill every field of data; returns name → input kind (to check the page offers the inputs expected)."""
    return {name: fill_field(form, name, value) for name, value in data.items()}


def submit(person: Person, form: Any, button: str) -> Any:
    """Click the form's submit button; the response to the POST (302 to the next page on success, 400 when the
    page comes back with the problems marked)."""
    with person.page.expect_response(lambda r: r.request.method == "POST" and r.request.resource_type == "document"
                                     ) as posted:
        form.get_by_role("button", name=button).click()
    person.page.wait_for_load_state()
    return posted.value


def flash_text(person: Person) -> str:
    return " ".join(person.page.locator(".flash").all_inner_texts())


# ----------------------------------------------------------------------------- accepting


def open_acceptance(person: Person, variant: str, customer_type: str) -> Any:
    """From the top bar: 受理新申请 → choose the business and customer type → the acceptance form."""
    page = person.page
    page.get_by_role("link", name="受理新申请").click()
    page.wait_for_url("**/accept")
    card = page.locator("form.variant", has=page.locator(f'input[name=variant][value="{variant}"]'))
    card.locator(f'input[name=customer_type][value="{customer_type}"]').check()
    card.get_by_role("button", name="下一步").click()
    page.wait_for_url(f"**/accept?variant={variant}*")
    form = page.locator("form.accept-form")
    form.wait_for()
    return form


def accept_through_ui(person: Person, variant: str, data: dict[str, Any], shot: str | None = None) -> str:
    """Front desk accepts an application by filling the form; returns the number the application page shows."""
    form = open_acceptance(person, variant, data["customer_type"])
    kinds = fill_form(form, data)
    assert kinds["documents_received"] == "checkbox" and kinds["customer_type"] == "hidden", kinds
    if shot:
        person.shot(shot)
    response = submit(person, form, "确认受理")
    assert response.status == 302, person.page.locator(".field-error").all_inner_texts()
    match = re.search(r"已受理，申请编号 (\S+)", flash_text(person))
    assert match, f"no acceptance message: {flash_text(person)!r}"
    app_no = match.group(1)
    assert person.page.locator(".app-no").inner_text() == app_no
    assert person.page.url.endswith(f"/applications/{app_no}")
    return app_no


def start_with_cli(server: LiveServer, tmp_path: Path, path_key: str, **changes: Any) -> str:
    """Accept an application without the browser (for tests not about acceptance); returns its number."""
    path = PATHS[path_key]
    data_file = tmp_path / f"{path_key}-start.json"
    data_file.write_text(json.dumps({**path["start"], **changes}, ensure_ascii=False))
    out = server.cli("start", path["variant"], "--data", str(data_file), "--as", "frontdesk")
    match = re.search(r"申请 (\S+)：状态", out)
    assert match, out
    return match.group(1)


# ----------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class OpenTask:
    """An open task: what the person doing it needs to know."""

    id: str
    node_id: str
    node_name: str
    role: str
    holder: str | None  # assignee or claimer

    @property
    def actor(self) -> str:
        """Who does it: its holder, else the demo user of its role (cli.demo.actor_for)."""
        if self.holder:
            return self.holder
        return next(u for u, _, roles in DEMO_USERS if self.role in roles)


_readers: dict[str, Engine] = {}


def _reader(server: LiveServer) -> Engine:
    """An engine on the live server's database, to read which tasks are open (what `baozhuang show` prints,
    without starting a process for every look) and to clear site work out of the way."""
    engine = _readers.get(server.db)
    if engine is None:
        engine = Engine(load_config({"database_url": server.db, "documents_dir": str(server.root / "documents")}))
        atexit.register(engine.dispose)
        _readers[server.db] = engine
    return engine


def open_tasks(server: LiveServer, app_no: str) -> dict[str, OpenTask]:
    """The application's open tasks by node id."""
    return {t.node_id: OpenTask(t.id, t.node_id, t.node_name, t.role, t.claimed_by or t.assignee)
            for t in _reader(server).application(app_no).open_tasks}


def find_in_task_list(person: Person, app_no: str, task: OpenTask, shot: str | None = None) -> Any:
    """In the task list, the tab where the task is (我的任务 if it is assigned to me, else 待认领), searched by
    the application number; returns the task's row."""
    page = person.page
    person.go("/")
    page.locator("nav.tabs a", has_text="我的任务" if task.holder else "待认领").click()
    page.wait_for_load_state()
    page.locator("form.filters input[name=q]").fill(app_no)
    page.locator("form.filters").get_by_role("button", name="查询").click()
    page.wait_for_url("**q=*")
    rows = page.locator(f'tr[data-task-id="{task.id}"]')
    assert rows.count() == 1, f"{task.node_name} of {app_no} not in {person.page.url}"
    row = rows.first
    assert app_no in row.inner_text() and task.node_name in row.inner_text()
    if task.holder:
        assert DISPLAY_NAMES[task.holder] in row.inner_text()
    if shot:
        person.shot(shot)
    return row


def open_task(person: Person, app_no: str, task: OpenTask, shot: str | None = None) -> Any:
    """Find the task in my list and click 办理; returns the task form."""
    row = find_in_task_list(person, app_no, task, shot)
    row.get_by_role("link", name="办理").click()
    person.page.wait_for_url(f"**/tasks/{task.id}")
    assert task.node_name in person.page.locator("h1").inner_text()
    form = person.page.locator("form.task-form")
    form.wait_for()
    return form


def do_task(person: Person, app_no: str, task: OpenTask, data: dict[str, Any], *, list_shot: str | None = None,
            form_shot: str | None = None) -> None:
    """Log in as whoever holds the task, open it from the task list, fill its form, submit, and land on the
    application page with the confirmation."""
    person.login(task.actor)
    form = open_task(person, app_no, task, list_shot)
    assert_clean(person, f"task page {task.node_id}")
    fill_form(form, data)
    if form_shot:
        person.shot(form_shot)
    response = submit(person, form, "提交办理")
    errors = person.page.locator(".field-error").all_inner_texts()
    assert response.status == 302, f"{task.node_id}: HTTP {response.status} {errors}"
    assert f"「{task.node_name}」已办理" in flash_text(person), flash_text(person)
    assert person.page.url.endswith(f"/applications/{app_no}")
    assert_clean(person, f"application page after {task.node_id}")


def finish_site_work(server: LiveServer, task: OpenTask) -> None:
    """Book, check in and check out a site task's field job (what the dispatcher and worker do on their
    own pages — tests/browser/test_fieldwork.py drives those pages; here it only clears the way)."""
    do_field_work(_reader(server), task.id, task.actor)


def run_path(person: Person, server: LiveServer, app_no: str, steps: list[list[Any]]) -> None:
    """Do a path's steps in order through the browser."""
    for node_id, data in steps:
        tasks = open_tasks(server, app_no)
        assert node_id in tasks, f"expected {node_id} open, open: {sorted(tasks)}"
        finish_site_work(server, tasks[node_id])
        do_task(person, app_no, tasks[node_id], data)


# ----------------------------------------------------------------------------- the application page


def wait_for_diagram(person: Person) -> None:
    """The bpmn-js diagram drawn, with at least one completed node marked."""
    page = person.page
    page.wait_for_selector("#diagram .djs-container")
    page.wait_for_selector("#diagram.diagram-ready .djs-element.completed")


def diagram_shot(person: Person, name: str) -> Path:
    """A screenshot of the diagram alone (the full-page shots make it small)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    person.page.locator("#diagram").screenshot(path=str(path))
    return path


def drive_with_engine(server: LiveServer, path_key: str, steps: int, **changes: Any) -> str:
    """Accept an application and do its first ``steps`` tasks without the browser (for tests about what comes
    after them), site work included; returns its number."""
    path = PATHS[path_key]
    engine = _reader(server)
    result = engine.start(path["variant"], {**path["start"], **changes}, "frontdesk")
    for node_id, data in path["steps"][:steps]:
        task = next(t for t in result.ready_tasks if t.node_id == node_id)
        actor = OpenTask(task.id, task.node_id, task.node_name, task.role, task.claimed_by or task.assignee).actor
        do_field_work(engine, task.id, actor)
        result = engine.complete(task.id, actor, data)
    return result.app_no


def server_engine(server: LiveServer) -> Engine:
    """The engine the tests read the live server's database with."""
    return _reader(server)
