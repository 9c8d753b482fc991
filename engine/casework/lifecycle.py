"""The case lifecycle: what staff do to a case besides working its tasks — each one transaction, audited.

    暂停 suspend   running or in error → suspended: nothing moves, the clocks pause (hooks: application_paused)
    恢复 resume    suspended → the status it had (running, or error)   (hooks: application_resumed)
    撤销 withdraw  the customer withdrew: the workflow is cancelled, open tasks and site jobs close
    终止 terminate 营销部 ends the case with a reason: likewise          (hooks: tasks_closed, application_ended)
    更正 correct   a supervisor corrects one recorded value with a reason: checked by the rules of the form that
                   defines the field, put where the process goes on from (runtime.correct_data), the audit
                   event records before and after; repair of a case in error is a correction, then a retry

Who may is decided at the facade (``@requires``). Withdrawals, terminations and corrections are inputs of the
workflow (vocabulary.INPUT_KINDS): replay applies them as they were applied live, so a case's history keeps
verifying. Suspending and resuming leave the workflow untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from ..definitions.versions import Definitions
from ..errors import Conflict, FormValidationError, InvalidInput
from ..kernel.forms import FormDefinition
from ..kernel.loading import ParsedDiagram
from ..kernel.runtime import cancel_workflow, correct_data
from ..results import CaseAction, CorrectableField
from ..store import Store
from ..store.tables import APPS, ITEMS
from ..vocabulary import APP_STATUS_NAMES, ENDED, AppStatus, EventKind
from . import audit
from .audit import PendingEvent
from .hooks import StepHook
from .rows import AppRow, app_by_number
from .steps import Steps, parse_time

MAX_REASON = 500
STEP_OF_START = "受理信息"
# The application row keeps a copy of these (task lists, search, supervision): a correction updates the copy.
MIRRORED = ("customer_name", "customer_type", "first_contact_at")


class Lifecycle:
    """Suspend, resume, withdraw, terminate and correct cases (the caller checked who may)."""

    def __init__(self, store: Store, steps: Steps, definitions: Definitions, clock: Callable[[], datetime],
                 hooks: Sequence[StepHook]) -> None:
        self.store, self.steps, self.definitions, self.clock = store, steps, definitions, clock
        self.hooks = tuple(hooks)

    # ----------------------------------------------------------------- suspend and resume

    def suspend(self, app_no: str, reason: Any, by: str) -> CaseAction:
        """暂停: nothing moves until the case is resumed; its clocks pause."""
        text = _reason(reason)
        with self.store.begin() as conn:
            app = app_by_number(conn, app_no, lock=True)
            if app.status not in (AppStatus.RUNNING, AppStatus.ERROR):
                raise Conflict(f"申请 {app.app_no} {_status(app.status)}，不能暂停（只有进行中或异常的申请可以暂停）")
            now = self.clock()
            event = PendingEvent(EventKind.APPLICATION_SUSPENDED, by, now, {"reason": text, "from": app.status})
            self._save(conn, app, AppStatus.SUSPENDED, [event], now, by, text, resume_status=app.status)
            for hook in self.hooks:
                hook.application_paused(conn, app.id, now, text)
        return CaseAction(app.app_no, EventKind.APPLICATION_SUSPENDED, AppStatus.SUSPENDED, text, now, by)

    def resume(self, app_no: str, note: Any, by: str) -> CaseAction:
        """恢复: a suspended case goes on from where it stood (running, or in error)."""
        text = _reason(note, required=False)
        with self.store.begin() as conn:
            app = app_by_number(conn, app_no, lock=True)
            if app.status != AppStatus.SUSPENDED:
                raise Conflict(f"申请 {app.app_no} {_status(app.status)}，不是暂停状态，无需恢复")
            held = conn.execute(select(APPS.c.resume_status, APPS.c.status_changed_at)
                                .where(APPS.c.id == app.id)).one()
            status = held.resume_status if held.resume_status in (AppStatus.RUNNING, AppStatus.ERROR) \
                else AppStatus.RUNNING
            now = self.clock()
            payload: dict[str, Any] = {"reason": text, "to": status}
            if held.status_changed_at is not None:
                payload["suspended_at"] = held.status_changed_at.isoformat()
            event = PendingEvent(EventKind.APPLICATION_RESUMED, by, now, payload)
            self._save(conn, app, status, [event], now, by, text or None, resume_status=None)
            for hook in self.hooks:
                hook.application_resumed(conn, app.id, now)
        return CaseAction(app.app_no, EventKind.APPLICATION_RESUMED, status, text, now, by)

    # ----------------------------------------------------------------- ending a case

    def withdraw(self, app_no: str, reason: Any, by: str) -> CaseAction:
        """撤销: the customer withdrew the application."""
        return self._end(app_no, reason, by, AppStatus.WITHDRAWN, EventKind.APPLICATION_WITHDRAWN)

    def terminate(self, app_no: str, reason: Any, by: str) -> CaseAction:
        """终止: the case ends here, for the reason given."""
        return self._end(app_no, reason, by, AppStatus.TERMINATED, EventKind.APPLICATION_TERMINATED)

    def _end(self, app_no: str, reason: Any, by: str, status: str, kind: str) -> CaseAction:
        text = _reason(reason)
        with self.store.begin() as conn:
            app = app_by_number(conn, app_no, lock=True)
            if app.status not in (AppStatus.RUNNING, AppStatus.ERROR, AppStatus.SUSPENDED):
                raise Conflict(f"申请 {app.app_no} {_status(app.status)}，不能{'撤销' if status == AppStatus.WITHDRAWN else '终止'}")
            diagram = self.definitions.diagram(conn, app.version_id)
            live = self.steps.checkout(conn, app, diagram)
            try:
                cancel_workflow(live.wf)
                now = self.clock()
                events = [PendingEvent(kind, by, now, {"reason": text, "from": app.status})]
                # the one write path: cancelled user tasks close their work items, hooks free their site jobs
                self.steps.persist(conn, app, diagram, live, events, by, outcome=(status, None))
                for hook in self.hooks:
                    hook.application_ended(conn, app.id, now, status)
                conn.execute(update(APPS).where(APPS.c.id == app.id).values(
                    status_reason=text, status_changed_at=now, status_changed_by=by, resume_status=None))
            except BaseException:
                live.wf = None  # half-cancelled in memory: never reuse it
                raise
        self.steps.checkin(app.id, live)
        return CaseAction(app.app_no, kind, status, text, now, by)

    # ----------------------------------------------------------------- correcting recorded data

    def correctable(self, app_no: str) -> tuple[CorrectableField, ...]:
        """The recorded values of a case that may be corrected: every field a form of its version defines and
        the case holds, with the step that entered it."""
        with self.store.read() as conn:
            app = app_by_number(conn, app_no)
            diagram = self.definitions.diagram(conn, app.version_id)
            data = self._current_data(conn, app, diagram)
        fields: dict[str, CorrectableField] = {}
        for step, form in _forms_in_order(diagram):
            for name in form.fields:
                if name in data and name not in fields:
                    fields[name] = CorrectableField(name, form.label(name), step, data[name], form.name)
        return tuple(fields.values())

    def correct(self, app_no: str, field: Any, value: Any, reason: Any, by: str) -> CaseAction:
        """更正 one recorded value; FormValidationError (by input: field, value, reason) if it may not be."""
        text = _reason(reason)
        if not isinstance(field, str) or not field.strip():
            raise FormValidationError("请选择要更正的字段", {"field": "请选择要更正的字段"})
        field = field.strip()
        with self.store.begin() as conn:
            app = app_by_number(conn, app_no, lock=True)
            if app.status in ENDED:
                raise Conflict(f"申请 {app.app_no} {_status(app.status)}，不能再更正")
            diagram = self.definitions.diagram(conn, app.version_id)
            forms = [form for _, form in _forms_in_order(diagram) if field in form.fields]
            if not forms:
                raise FormValidationError(f"没有可更正的字段「{field[:40]}」", {"field": "本申请的表单中没有这个字段"})
            title = forms[0].label(field)
            live = self.steps.checkout(conn, app, diagram)
            now = self.clock()
            try:
                data = dict(live.wf.last_task.data) if live.wf.last_task is not None else {}
                if field not in data:
                    raise FormValidationError(f"「{title}」尚未填写，不能更正",
                                              {"field": f"「{title}」尚未填写，请在对应环节填写"})
                before = data[field]
                if before == value and type(before) is type(value):
                    raise FormValidationError("新值与原值相同，无需更正", {"value": f"{title}：新值与原值相同"})
                context = diagram.form_context(data, now, self.steps.config.policy)
                problems = list(dict.fromkeys(p for form in forms for p in form.check_value(field, value, context)))
                if problems:
                    raise FormValidationError(f"更正无效：{'；'.join(problems)}", {"value": "；".join(problems)})
            except InvalidInput:
                self.steps.checkin(app.id, live)  # nothing was changed: the workflow in memory is the stored one
                raise
            try:
                touched = correct_data(live.wf, field, value)
                event = PendingEvent(EventKind.APPLICATION_CORRECTED, by, now, {
                    "field": field, "title": title, "before": before, "after": value, "reason": text})
                self.steps.persist(conn, app, diagram, live, [event], by, outcome=(app.status, app.error_message),
                                   touched=touched)
                self._mirror(conn, app, field, value)
            except BaseException:
                live.wf = None
                raise
        self.steps.checkin(app.id, live)
        return CaseAction(app.app_no, EventKind.APPLICATION_CORRECTED, app.status, text, now, by, field, title,
                          before, value)

    # ----------------------------------------------------------------- helpers

    def _current_data(self, conn: Connection, app: AppRow, diagram: ParsedDiagram) -> dict[str, Any]:
        live = self.steps.load(conn, app, diagram)
        return dict(live.wf.last_task.data) if live.wf.last_task is not None else {}

    def _save(self, conn: Connection, app: AppRow, status: str, events: list[PendingEvent], now: datetime,
              by: str, reason: str | None, resume_status: str | None) -> None:
        """The new status and the audit events, the revision checked (a step taken meanwhile wins: Conflict)."""
        audit.append(conn, app, events)
        changed = conn.execute(update(APPS).where(APPS.c.id == app.id, APPS.c.revision == app.revision).values(
            status=status, updated_at=now, audit_seq=app.audit_seq, audit_head=app.audit_head,
            revision=app.revision + 1, status_reason=reason, status_changed_at=now, status_changed_by=by,
            resume_status=resume_status)).rowcount
        if changed != 1:
            raise Conflict("申请已被他人同时修改，请刷新后重试")
        app.revision += 1
        app.status = status

    @staticmethod
    def _mirror(conn: Connection, app: AppRow, field: str, value: Any) -> None:
        """Keep the application row's copies of corrected values (and the task lists' customer name) in step."""
        if field not in MIRRORED:
            return
        if field == "first_contact_at":
            conn.execute(update(APPS).where(APPS.c.id == app.id).values(first_contact_at=parse_time(value)))
            return
        conn.execute(update(APPS).where(APPS.c.id == app.id).values({field: str(value or "")}))
        if field == "customer_name":
            conn.execute(update(ITEMS).where(ITEMS.c.application_id == app.id).values(customer_name=str(value)))


def _forms_in_order(diagram: ParsedDiagram) -> list[tuple[str, FormDefinition]]:
    """The acceptance form, then each step's form in diagram order, with the step's name."""
    out: list[tuple[str, FormDefinition]] = []
    if diagram.start_form and diagram.start_form in diagram.forms:
        out.append((STEP_OF_START, diagram.forms[diagram.start_form]))
    for node in diagram.nodes.values():
        if node.kind != "startEvent" and node.form and node.form in diagram.forms:
            out.append((node.name, diagram.forms[node.form]))
    return out


def _status(status: str) -> str:
    return APP_STATUS_NAMES.get(status, status)


def _reason(value: Any, required: bool = True) -> str:
    """A reason as given (trimmed), or FormValidationError next to the reason input."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise FormValidationError("原因应为文字", {"reason": "原因应为文字"})
    text = value.strip()
    problem = None
    if required and not text:
        problem = "请填写原因（将记入审计记录，并告知客户）"
    elif len(text) > MAX_REASON:
        problem = f"原因不能超过 {MAX_REASON} 个字（现有 {len(text)} 个）"
    elif "\x00" in text or any("\ud800" <= ch <= "\udfff" for ch in text):
        problem = "原因含有无效字符（空字符或不成对的代理字符）"
    if problem:
        raise FormValidationError(problem, {"reason": problem})
    return text
