"""Telling the customer (seed 004; 一次性告知): the notices sent at the moments a customer must know of, and
their delivery.

The moments, none of them known to the write path:

* acceptance (:meth:`StepHook.application_started`): 已受理, with the document checklist (received and still
  missing), the qualified firms list with the right to choose freely (三不指定), the customer manager's name
  and work phone; and, when required documents are missing, a separate 补充资料 notice listing them;
* a user task marked ``customerNotice=<event>`` becoming ready: the customer must act now (整改 after a failed
  review or inspection, a contract ready to sign) — the diagram says which task, the analyst can move it;
* the processes' own ``notify`` service tasks (方案答复, 送电 with safety advice and a contact number) queue
  theirs through the handler services.

Every notice is a row of the outbox (``customer_notices``) written in the step's transaction; :meth:`Notices.deliver`
(the worker, each round) hands the queued ones to the Notifier after the commit, each exactly once across
workers: a conditional UPDATE claims it first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from handlers.notify import NoticeFacts, Notifier, customer_notice
from handlers.settings import PolicySettings

from ..casework.hooks import ClosedTask, OpeningTask, StepContext, StepHook
from ..casework.outbox import QUEUED, queue_notice
from ..kernel.loading import Marker
from ..store import Store
from ..store.tables import APPS, CUSTOMER_NOTICES, USERS
from ..vocabulary import Role
from .firms import Firms

NOTICE = "customerNotice"
NOTICE_EVENTS: Mapping[str, str] = {
    "design_rectification": "通知客户修改设计（审查未通过）",
    "inspection_rectification": "通知客户整改（检验未通过）",
    "contract_ready": "通知客户签订合同",
    "documents_required": "通知客户补充资料",
}
"""The values a task's ``customerNotice`` marker may take: the message sent when the task becomes ready."""

MARKERS = (Marker(NOTICE, NOTICE_EVENTS, person_tasks_only=True, title="客户通知",
                  hint="该任务就绪时给客户发出的通知（短信等），如整改、签订合同"),)

EVENT_NAMES: Mapping[str, str] = {
    "application_accepted": "受理通知", "documents_required": "补充资料通知", "manager_assigned": "客户经理通知",
    "survey_scheduled": "勘查预约通知", "supply_plan_reply": "供电方案答复通知", "access_scheme_reply": "接入方案答复通知",
    "opinion_letter_issued": "接入电网意见函通知", "design_review_result": "设计审查结果通知",
    "design_rectification": "设计修改通知", "inspection_rectification": "整改通知", "inspection_passed": "检验合格通知",
    "contract_ready": "合同签订通知", "power_on": "送电通知（含安全用电提示）", "grid_connected": "并网通知（含安全用电提示）",
    "follow_up": "回访通知", "case_answered": "投诉举报答复",
}
CANCELLED = "cancelled"
STATUS_NAMES: Mapping[str, str] = {QUEUED: "待发送", "sending": "发送中", "sent": "已发送", "failed": "发送失败",
                                   CANCELLED: "未发送（申请已撤销或终止）"}
MAX_ATTEMPTS = 5
CONFIDENTIAL_EVENTS = ("case_answered",)
"""Notices whose recipient is whoever filed a complaint or report: their identity is 稽查's to know."""
CONFIDENTIAL_READER = Role.AUDITOR


@dataclass(frozen=True)
class CustomerNoticeInfo:
    """A notice to a customer, as staff see it on the application."""

    id: int
    app_no: str
    event: str
    recipient: str
    message: str
    status: str
    created_at: datetime
    sent_at: datetime | None
    channel: str | None
    attempts: int

    @property
    def event_name(self) -> str:
        """What the notice is, in Chinese."""
        return EVENT_NAMES.get(self.event, "客户通知")

    @property
    def status_name(self) -> str:
        """Where it stands, in Chinese."""
        return STATUS_NAMES.get(self.status, self.status)


MANAGER_CONTACT = select(USERS.c.display_name, USERS.c.work_phone).where(USERS.c.username == bindparam("username"))


def person_name(display_name: str) -> str:
    """A member of staff's name as a customer reads it: "客户经理 李强" → "李强" (the role is said elsewhere)."""
    parts = display_name.split()
    return parts[-1] if parts else display_name


def manager_of(conn: Connection, data: Mapping[str, Any]) -> tuple[str, str, str | None] | None:
    """The case's customer manager (username, name, work phone), from the application's data."""
    username = data.get("customer_manager")
    if not isinstance(username, str) or not username:
        return None
    row = conn.execute(MANAGER_CONTACT, {"username": username}).first()
    if row is None:
        return None
    return username, person_name(row.display_name), row.work_phone


def checklist(form_documents: Sequence[Mapping[str, Any]], data: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The documents received and the required ones still missing, by title, for this customer type."""
    customer_type = data.get("customer_type")
    received_keys = set(data.get("documents_received") or ())
    received, missing = [], []
    for doc in form_documents:
        kinds = doc.get("customerTypes")
        if kinds and customer_type not in kinds:
            continue
        title = str(doc.get("title", doc.get("key")))
        if doc.get("key") in received_keys:
            received.append(title)
        elif doc.get("required"):
            missing.append(title)
    return received, missing


class CustomerNoticeHook(StepHook):
    """Queues the notices of acceptance and of marked tasks in the step's own transaction."""

    def __init__(self, firms: Firms, policy: PolicySettings) -> None:
        self.firms, self.policy = firms, policy

    def step_done(self, step: StepContext, opened: Sequence[OpeningTask], closed: Sequence[ClosedTask]) -> None:
        if not step.accepted:
            return
        data = step.data
        recipient = _phone(data)
        if recipient is None:
            return
        form = step.diagram.forms.get(step.diagram.start_form) if step.diagram.start_form else None
        received, missing = checklist(form.documents if form else (), data)
        shown = self.firms.shown(step.application_id, step.conn)
        facts = self._facts(step, data, received=received, missing=missing,
                            firms={name: [f.name for f in firms] for name, firms in shown})
        queue_notice(step.conn, step.application_id, "application_accepted", recipient,
                     customer_notice("application_accepted", facts), step.now)
        if missing:
            queue_notice(step.conn, step.application_id, "documents_required", recipient,
                         customer_notice("documents_required", facts), step.now)

    def task_opening(self, step: StepContext, opening: OpeningTask) -> None:
        event = opening.node.properties.get(NOTICE) if opening.node is not None else None
        if event in NOTICE_EVENTS:
            opening.event["customer_notice"] = event  # the chain records that the customer was told

    def tasks_opened(self, step: StepContext, opened: Sequence[OpeningTask]) -> None:
        for o in opened:
            event = o.node.properties.get(NOTICE, "") if o.node is not None else ""
            recipient = _phone(o.data)
            if event not in NOTICE_EVENTS or recipient is None:
                continue
            facts = self._facts(step, o.data)
            queue_notice(step.conn, step.application_id, event, recipient, customer_notice(event, facts), step.now,
                         o.item["node_id"])

    def application_ended(self, conn: Connection, application_id: int, now: datetime, status: str) -> None:
        """A withdrawn or terminated case: its notices not yet sent would tell the customer of steps that no
        longer happen, so they are not sent (the answer to a complaint or report still goes to whoever filed it)."""
        conn.execute(update(CUSTOMER_NOTICES).where(CUSTOMER_NOTICES.c.application_id == application_id,
                                                    CUSTOMER_NOTICES.c.status == QUEUED,
                                                    CUSTOMER_NOTICES.c.event.not_in(CONFIDENTIAL_EVENTS))
                     .values(status=CANCELLED))

    def _facts(self, step: StepContext, data: Mapping[str, Any], **more: Any) -> NoticeFacts:
        manager = manager_of(step.conn, data)
        return NoticeFacts(str(data.get("customer_name") or "客户"), step.app_no, self.policy.service_hotline,
                           manager[1] if manager else "", (manager[2] or "") if manager else "", **more)


def _phone(data: Mapping[str, Any]) -> str | None:
    phone = data.get("contact_phone")
    return phone.strip() if isinstance(phone, str) and phone.strip() else None


class Notices:
    """Delivering queued notices and reading them back, over the engine's store."""

    def __init__(self, store: Store, notifier: Notifier, clock: Callable[[], datetime]) -> None:
        self.store, self.notifier, self.clock = store, notifier, clock

    def deliver(self, limit: int = 200) -> list[CustomerNoticeInfo]:
        """Hand the queued notices to the Notifier, oldest first, each claimed before it is sent so that two
        workers never send one twice; a channel that fails (OSError) is tried again on the next round, up to
        :data:`MAX_ATTEMPTS` times."""
        with self.store.read() as conn:
            ids = conn.execute(select(CUSTOMER_NOTICES.c.id).where(CUSTOMER_NOTICES.c.status == QUEUED)
                               .order_by(CUSTOMER_NOTICES.c.id).limit(limit)).scalars().all()
        sent = []
        for notice_id in ids:
            with self.store.begin() as conn:
                claimed = conn.execute(update(CUSTOMER_NOTICES).where(CUSTOMER_NOTICES.c.id == notice_id,
                                                                      CUSTOMER_NOTICES.c.status == QUEUED)
                                       .values(status="sending", attempts=CUSTOMER_NOTICES.c.attempts + 1)).rowcount
                if claimed != 1:
                    continue  # another worker has it
                row = conn.execute(select(CUSTOMER_NOTICES).where(CUSTOMER_NOTICES.c.id == notice_id)).mappings().one()
            try:
                channel = self.notifier.send(row["recipient"], row["message"])
            except OSError as exc:
                status = "failed" if row["attempts"] >= MAX_ATTEMPTS else QUEUED
                with self.store.begin() as conn:
                    conn.execute(update(CUSTOMER_NOTICES).where(CUSTOMER_NOTICES.c.id == notice_id)
                                 .values(status=status, error=str(exc)[:500]))
                continue
            now = self.clock()
            with self.store.begin() as conn:
                conn.execute(update(CUSTOMER_NOTICES).where(CUSTOMER_NOTICES.c.id == notice_id)
                             .values(status="sent", sent_at=now, channel=str(channel)[:32], error=None))
            sent.append(self._one(notice_id))
        return sent

    def queued(self) -> int:
        """How many notices wait to be sent."""
        with self.store.read() as conn:
            return int(conn.execute(select(func.count()).select_from(CUSTOMER_NOTICES)
                                    .where(CUSTOMER_NOTICES.c.status == QUEUED)).scalar_one())

    def of_application(self, app_no: str, reader_roles: Iterable[str]) -> list[CustomerNoticeInfo]:
        """Every notice to an application's customer, oldest first — the answers to complaints and reports
        (sent to whoever filed them) only to 稽查, who alone may know who filed."""
        q = _SELECT.where(APPS.c.app_no == app_no.strip())
        if CONFIDENTIAL_READER not in set(reader_roles):
            q = q.where(CUSTOMER_NOTICES.c.event.not_in(CONFIDENTIAL_EVENTS))
        with self.store.read() as conn:
            rows = conn.execute(q.order_by(CUSTOMER_NOTICES.c.id)).mappings().all()
        return [_info(r) for r in rows]

    def _one(self, notice_id: int) -> CustomerNoticeInfo:
        with self.store.read() as conn:
            return _info(conn.execute(_SELECT.where(CUSTOMER_NOTICES.c.id == notice_id)).mappings().one())


_SELECT = select(CUSTOMER_NOTICES, APPS.c.app_no).join(APPS, APPS.c.id == CUSTOMER_NOTICES.c.application_id)


def _info(r: Mapping[Any, Any]) -> CustomerNoticeInfo:
    return CustomerNoticeInfo(r["id"], r["app_no"], r["event"], r["recipient"], r["message"], r["status"],
                              r["created_at"], r["sent_at"], r["channel"], r["attempts"])
