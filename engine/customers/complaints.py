"""投诉 and 举报: a customer's complaint, or a confidential report of misconduct, about one application.

A customer files one from the progress page (having shown the application number and the phone's last four
digits), or staff record one taken by 95598 or 12398, or the independent 回访 raises one (someone nominated
a designer or asked for something improper). Each gets a case number and a deadline in working days, and
goes to the department that answers it: complaints to 营销部, reports to 稽查 (seeds 000, 002: 建立举报和投诉
秘密渠道). Who filed a case (name and phone) is seen by 稽查 only — every other reader gets the case without
them, and reports themselves are listed to 稽查 only; the answer reaches the person who filed as a notice
(to the call-back number they left, or the application's registered phone), so nobody else needs to know who
they are. Filing and answering are events in the application's hash chain, which records neither the
reporter nor the content.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from handlers.notify import case_answer
from handlers.settings import PolicySettings

from ..casework.audit import PendingEvent
from ..casework.outbox import queue_notice
from ..casework.records import current_data
from ..errors import Conflict, Forbidden, FormValidationError, InvalidInput, NotFound
from ..store import Store
from ..store.tables import APPS, COMPLAINTS, SEQUENCES
from ..timelimits.calendar import WorkingCalendar
from ..vocabulary import CUSTOMER, ROLES, EventKind, Role

KINDS: Mapping[str, str] = {"complaint": "投诉", "report": "举报（保密）"}
TOPICS: Mapping[str, str] = {
    "time_limit": "办电超时限", "attitude": "服务态度", "charges": "收费问题",
    "nominated": "指定设计、施工或设备单位（三不指定）", "improper": "索要财物或不当要求（廉洁）",
    "information": "办事不公开、告知不清", "other": "其他",
}
CHANNELS: Mapping[str, str] = {"progress_page": "网上办事进度页", "hotline_95598": "95598 供电服务热线",
                               "hotline_12398": "12398 能源监管热线", "follow_up": "独立回访"}
STAFF_CHANNELS = ("hotline_95598", "hotline_12398")
STATUSES: Mapping[str, str] = {"open": "处理中", "answered": "已答复"}
ROUTES: Mapping[str, str] = {"complaint": Role.MARKETING, "report": Role.AUDITOR}
"""Who answers: complaints 营销部, reports 稽查."""
IDENTITY_ROLE = Role.AUDITOR
"""The only role that sees who filed a case."""
PREFIXES = {"complaint": "TS", "report": "JB"}
MAX_CONTENT = 2000
FILED_ONLINE = (select(COMPLAINTS).where(COMPLAINTS.c.app_no == bindparam("app_no"),
                                        COMPLAINTS.c.channel == "progress_page").order_by(COMPLAINTS.c.id))


@dataclass(frozen=True)
class CaseInfo:
    """A complaint or report as one reader may see it (``identity_hidden``: name and phone withheld)."""

    case_no: str
    app_no: str
    kind: str
    topic: str
    channel: str
    content: str
    reporter_name: str
    reporter_phone: str
    identity_hidden: bool
    routed_to: str
    status: str
    filed_by: str
    filed_at: datetime
    due_at: datetime
    answer: str
    answered_by: str | None
    answered_at: datetime | None
    overdue: bool

    @property
    def kind_name(self) -> str:
        """投诉 or 举报."""
        return KINDS.get(self.kind, self.kind)

    @property
    def topic_name(self) -> str:
        """What it is about, in Chinese."""
        return TOPICS.get(self.topic, self.topic)

    @property
    def channel_name(self) -> str:
        """How it came in, in Chinese."""
        return CHANNELS.get(self.channel, self.channel)

    @property
    def status_name(self) -> str:
        """Open or answered, in Chinese."""
        return STATUSES.get(self.status, self.status)

    @property
    def routed_name(self) -> str:
        """The department that answers it."""
        return ROLES.get(self.routed_to, self.routed_to)


@dataclass(frozen=True)
class Filing:
    """What is filed: the kind, the topic, the content, and (optionally) who files it and how to call back."""

    kind: str
    topic: str
    content: str
    reporter_name: str = ""
    reporter_phone: str = ""


def filing_from_form(form: Mapping[str, Any]) -> Filing:
    """A filing read from a form (strings); FormValidationError lists every problem, in Chinese, by field."""
    errors: dict[str, str] = {}
    kind = str(form.get("kind") or "").strip()
    if kind not in KINDS:
        errors["kind"] = "请选择投诉或举报"
    topic = str(form.get("topic") or "").strip()
    if topic not in TOPICS:
        errors["topic"] = "请选择反映的问题"
    content = str(form.get("content") or "").strip()
    if len(content) < 5:
        errors["content"] = "请具体说明情况（至少 5 个字）"
    elif len(content) > MAX_CONTENT:
        errors["content"] = f"不能超过 {MAX_CONTENT} 字"
    name = str(form.get("reporter_name") or "").strip()
    if len(name) > 64:
        errors["reporter_name"] = "不能超过 64 个字"
    phone = str(form.get("reporter_phone") or "").strip()
    if phone and not (7 <= len(phone) <= 20 and all(c.isdigit() or c in "+-() " for c in phone)):
        errors["reporter_phone"] = "联系电话应为 7–20 位数字（可含 + - 空格）"
    if errors:
        raise FormValidationError(f"有 {len(errors)} 处需要修改：" + "；".join(errors.values()), errors)
    return Filing(kind, topic, content, name, phone)


class Complaints:
    """Complaints and reports, over the engine's store."""

    def __init__(self, store: Store, clock: Callable[[], datetime],
                 calendar: Callable[[Connection | None], WorkingCalendar],
                 audit_only: Callable[[Connection, int, PendingEvent], None],
                 roles_of: Callable[[Connection, str], list[str]], policy: PolicySettings) -> None:
        self.store, self.clock, self.calendar = store, clock, calendar
        self.audit_only, self.roles_of, self.policy = audit_only, roles_of, policy

    # ----------------------------------------------------------------- filing

    def file_online(self, app_no: str, filing: Filing) -> CaseInfo:
        """A customer files on the progress page (the page has checked they know the application's number and
        phone); at most ``customer_cases_per_day`` a day per application."""
        now = self.clock()
        day_start = datetime.combine(now.date(), datetime.min.time())
        with self.store.begin() as conn:
            app = _application(conn, app_no)
            today = conn.execute(select(func.count()).select_from(COMPLAINTS).where(
                COMPLAINTS.c.application_id == app.id, COMPLAINTS.c.channel == "progress_page",
                COMPLAINTS.c.filed_at >= day_start)).scalar_one()
            if today >= self.policy.customer_cases_per_day:
                raise InvalidInput(f"该申请今天已在网上提交 {today} 件投诉或举报，请明天再提交，"
                                   f"或拨打 {self.policy.service_hotline} 供电服务热线")
            case_no = self.file_in(conn, app.id, app.app_no, filing, "progress_page", CUSTOMER, now)
        return self._get(case_no)

    def record(self, app_no: str, filing: Filing, channel: str, by: str) -> CaseInfo:
        """Staff record a complaint or report taken by a hotline (the facade checks the role)."""
        if channel not in STAFF_CHANNELS:
            raise FormValidationError("请选择来电渠道", {"channel": "请选择来电渠道"})
        now = self.clock()
        with self.store.begin() as conn:
            app = _application(conn, app_no)
            case_no = self.file_in(conn, app.id, app.app_no, filing, channel, by, now)
        return self._get(case_no)

    def file_in(self, conn: Connection, application_id: int, app_no: str, filing: Filing, channel: str,
                filed_by: str, now: datetime) -> str:
        """Write a case in the caller's transaction, with its deadline and an event in the application's chain;
        its case number."""
        days = (self.policy.report_reply_working_days if filing.kind == "report"
                else self.policy.complaint_reply_working_days)
        due = self.calendar(conn).add_working_days(now, days)
        case_no = _next_case_no(conn, filing.kind, now)
        conn.execute(insert(COMPLAINTS), {
            "case_no": case_no, "application_id": application_id, "app_no": app_no, "kind": filing.kind,
            "topic": filing.topic, "channel": channel, "content": filing.content, "reporter_name": filing.reporter_name,
            "reporter_phone": filing.reporter_phone, "routed_to": ROUTES[filing.kind], "status": "open",
            "filed_by": filed_by, "filed_at": now, "due_at": due, "answer": "", "answered_by": None,
            "answered_at": None})
        record: dict[str, Any] = {"case_no": case_no, "kind": filing.kind, "channel": channel,
                                  "routed_to": ROUTES[filing.kind], "due_at": due.isoformat()}
        if filing.kind == "complaint":
            record["topic"] = filing.topic
        self.audit_only(conn, application_id, PendingEvent(EventKind.COMPLAINT_FILED, filed_by, now, record))
        return case_no

    # ----------------------------------------------------------------- answering

    def answer(self, case_no: str, answer: str, by: str) -> CaseInfo:
        """The department the case went to answers it (营销部 a complaint, 稽查 a report)."""
        answer = answer.strip()
        if not answer:
            raise FormValidationError("请填写答复内容", {"answer": "请填写答复内容"})
        if len(answer) > MAX_CONTENT:
            raise FormValidationError(f"答复不能超过 {MAX_CONTENT} 字", {"answer": f"不能超过 {MAX_CONTENT} 字"})
        now = self.clock()
        with self.store.begin() as conn:
            row = conn.execute(select(COMPLAINTS).where(COMPLAINTS.c.case_no == case_no.strip())
                               .with_for_update()).mappings().one_or_none()
            if row is None:
                raise NotFound(f"投诉举报不存在：{case_no}")
            if row["routed_to"] not in self.roles_of(conn, by):
                raise Forbidden(f"该{KINDS[row['kind']]}由「{ROLES.get(row['routed_to'], row['routed_to'])}」答复")
            if row["status"] != "open":
                raise Conflict("该件已答复")
            conn.execute(update(COMPLAINTS).where(COMPLAINTS.c.id == row["id"]).values(
                status="answered", answer=answer, answered_by=by, answered_at=now))
            recipient = row["reporter_phone"] or (self._registered_phone(conn, row["application_id"])
                                                  if row["channel"] in ("progress_page", "follow_up") else "")
            if recipient:
                queue_notice(conn, row["application_id"], "case_answered", recipient,
                             case_answer(KINDS[row["kind"]][:2], row["case_no"], answer, self.policy.service_hotline),
                             now)
            self.audit_only(conn, row["application_id"], PendingEvent(
                EventKind.COMPLAINT_ANSWERED, by, now, {"case_no": row["case_no"], "late": now > row["due_at"],
                                                        "notified": bool(recipient)}))
        return self._get(case_no)

    @staticmethod
    def _registered_phone(conn: Connection, application_id: int) -> str:
        meta = conn.execute(select(APPS.c.wf_meta).where(APPS.c.id == application_id)).scalar_one()
        phone = current_data(conn, application_id, json.loads(meta)).get("contact_phone")
        return phone.strip() if isinstance(phone, str) else ""

    # ----------------------------------------------------------------- reading

    def case(self, case_no: str, reader: str) -> CaseInfo:
        """One case as this reader may see it: Forbidden for a report unless the reader is 稽查."""
        with self.store.read() as conn:
            roles = self.roles_of(conn, reader)
        info = self._get(case_no)
        if not _may_read(info.kind, info.routed_to, info.filed_by, reader, roles):
            raise Forbidden("举报件仅稽查可以查看" if info.kind == "report" else "只有营销部、稽查或登记人可以查看该投诉")
        return _as_seen_by(info, roles)

    def cases(self, reader: str, *, status: str | None = None, kind: str | None = None,
              app_no: str | None = None, overdue_only: bool = False, limit: int = 200) -> list[CaseInfo]:
        """The cases this reader may see (稽查 everything; 营销部 complaints; staff what they recorded),
        oldest deadline first."""
        now = self.clock()
        with self.store.read() as conn:
            roles = self.roles_of(conn, reader)
            q = select(COMPLAINTS)
            if IDENTITY_ROLE not in roles:
                visible = COMPLAINTS.c.filed_by == reader
                if Role.MARKETING in roles:
                    visible = visible | (COMPLAINTS.c.kind == "complaint")
                q = q.where(visible)
            if status:
                q = q.where(COMPLAINTS.c.status == status)
            if kind:
                q = q.where(COMPLAINTS.c.kind == kind)
            if app_no:
                q = q.where(COMPLAINTS.c.app_no == app_no.strip())
            if overdue_only:
                q = q.where(COMPLAINTS.c.status == "open", COMPLAINTS.c.due_at < now)
            rows = conn.execute(q.order_by(COMPLAINTS.c.status.desc(), COMPLAINTS.c.due_at, COMPLAINTS.c.id)
                                .limit(max(1, min(limit, 1000)))).mappings().all()
        return [_as_seen_by(_info(r, now), roles) for r in rows]

    def filed_online(self, app_no: str, conn: Connection) -> list[CaseInfo]:
        """What the customer filed on the progress page about an application (shown back to them there)."""
        rows = conn.execute(FILED_ONLINE, {"app_no": app_no.strip()}).mappings().all()
        now = self.clock()
        return [_info(r, now) for r in rows]

    def _get(self, case_no: str) -> CaseInfo:
        with self.store.read() as conn:
            row = conn.execute(select(COMPLAINTS).where(COMPLAINTS.c.case_no == case_no.strip())).mappings().one_or_none()
        if row is None:
            raise NotFound(f"投诉举报不存在：{case_no}")
        return _info(row, self.clock())


def _may_read(kind: str, routed_to: str, filed_by: str, reader: str, roles: Iterable[str]) -> bool:
    held = set(roles)
    if IDENTITY_ROLE in held or filed_by == reader:
        return True
    return kind == "complaint" and (routed_to in held or Role.MARKETING in held)


def _as_seen_by(info: CaseInfo, roles: Iterable[str]) -> CaseInfo:
    """The case without the name and phone of whoever filed it, unless the reader is 稽查."""
    if IDENTITY_ROLE in set(roles):
        return info
    return replace(info, reporter_name="", reporter_phone="", identity_hidden=bool(info.reporter_name
                                                                                   or info.reporter_phone))


def _application(conn: Connection, app_no: str) -> Any:
    row = conn.execute(select(APPS.c.id, APPS.c.app_no).where(APPS.c.app_no == app_no.strip().upper())).one_or_none()
    if row is None:
        raise FormValidationError(f"申请编号不存在：{app_no}", {"app_no": "申请编号不存在"})
    return row


def _next_case_no(conn: Connection, kind: str, now: datetime) -> str:
    """TS/JB + the day + a daily sequence, e.g. TS20261123000003."""
    key = f"case:{kind}:{now:%Y%m%d}"
    bump = (update(SEQUENCES).where(SEQUENCES.c.key == key).values(value=SEQUENCES.c.value + 1)
            .returning(SEQUENCES.c.value))
    bumped = conn.execute(bump).scalar()
    if bumped is None:
        try:
            with conn.begin_nested():
                conn.execute(insert(SEQUENCES), {"key": key, "value": 1})
            bumped = 1
        except IntegrityError:
            bumped = conn.execute(bump).scalar_one()
    return f"{PREFIXES[kind]}{now:%Y%m%d}{int(bumped):06d}"


def _info(r: Mapping[Any, Any], now: datetime) -> CaseInfo:
    return CaseInfo(r["case_no"], r["app_no"], r["kind"], r["topic"], r["channel"], r["content"], r["reporter_name"],
                    r["reporter_phone"], False, r["routed_to"], r["status"], r["filed_by"], r["filed_at"], r["due_at"],
                    r["answer"], r["answered_by"], r["answered_at"], r["status"] == "open" and now > r["due_at"])
