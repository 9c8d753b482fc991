"""The independent 回访: one follow-up call per application after power on, made by 客户服务 and never by
anyone who handled the case (its customer manager above all), within a time limit.

It asks what a customer manager cannot ask about themselves (seed 001 廉洁; seeds 002, 003 三不指定): how
satisfied the customer is; whether anyone nominated their designer, builder or equipment supplier; whether
anyone asked for money, gifts or favours. Either "yes" raises a confidential report (举报) to 稽查 at once.
Results are counted per office (the manager's 供电所) and per manager on the dashboard.

Not the same as the two other calls in the system, and kept apart from them on purpose:

* the callback after each site job (``engine.fieldwork``, 作业回访): the dispatcher's desk tells the
  customer how the job went and notes what they raise — operational, job by job;
* HV's ``hv_follow_up`` user task: the customer manager's own closing call, part of the process and
  assigned to the manager — not independent, so its score is shown apart.

The follow-up opens in the step that completes a power-on task (the last milestone's, see
:mod:`.milestones`), assigned to the least-loaded 客户服务 member who has not handled the case.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, union, update

from handlers.settings import PolicySettings

from ..casework.audit import PendingEvent
from ..casework.hooks import ClosedTask, StepContext, StepHook
from ..errors import Conflict, Forbidden, FormValidationError, NotFound
from ..store import Store
from ..store.tables import APPS, FOLLOW_UPS, ITEMS, USERS
from ..timelimits.calendar import CalendarNotCovered, WorkingCalendar
from ..vocabulary import ROLES, EventKind, Role, TaskStatus
from .complaints import Complaints, Filing
from .milestones import power_on_nodes

FOLLOW_UP_ROLE = Role.CUSTOMER_SERVICE
SATISFACTION: Mapping[int, str] = {5: "非常满意", 4: "满意", 3: "一般", 2: "不满意", 1: "非常不满意"}
STATUSES: Mapping[str, str] = {"open": "待回访", "done": "已回访", "cancelled": "已取消"}
ALL_POWER_ON = frozenset().union(*(power_on_nodes(k) for k in ("hv", "lv", "pv")))


@dataclass(frozen=True)
class FollowUpInfo:
    """One follow-up, as 客户服务 and supervisors see it."""

    id: int
    app_no: str
    process_key: str
    customer_name: str
    contact_name: str
    contact_phone: str
    manager: str | None
    office: str | None
    assignee: str | None
    status: str
    opened_at: datetime
    due_at: datetime | None
    attempts: int
    last_attempt_at: datetime | None
    reached: bool | None
    satisfaction: int | None
    nominated: bool | None
    nominated_detail: str
    improper: bool | None
    improper_detail: str
    remarks: str
    done_by: str | None
    done_at: datetime | None
    overdue: bool

    @property
    def status_name(self) -> str:
        """Where it stands, in Chinese."""
        return STATUSES.get(self.status, self.status)

    @property
    def satisfaction_name(self) -> str:
        """The customer's answer, in Chinese."""
        return SATISFACTION.get(self.satisfaction or 0, "")


@dataclass(frozen=True)
class Answers:
    """What the call found. Not reached: the rest is empty and the follow-up stays open for another try."""

    reached: bool
    satisfaction: int | None = None
    nominated: bool | None = None
    nominated_detail: str = ""
    improper: bool | None = None
    improper_detail: str = ""
    remarks: str = ""


def answers_from_form(form: Mapping[str, Any]) -> Answers:
    """Answers read from a form (strings "yes"/"no", "1"–"5"); FormValidationError names each problem."""
    errors: dict[str, str] = {}

    def yes_no(name: str, message: str) -> bool | None:
        value = str(form.get(name) or "").strip()
        if value not in ("yes", "no"):
            errors[name] = message
            return None
        return value == "yes"

    def text(name: str) -> str:
        value = str(form.get(name) or "").strip()
        if len(value) > 2000:
            errors[name] = "不能超过 2000 字"
        return value

    reached = yes_no("reached", "请选择是否联系上客户")
    remarks = text("remarks")
    if not reached:
        if errors:
            raise FormValidationError("回访信息有误：" + "；".join(errors.values()), errors)
        return Answers(False, remarks=remarks)
    raw = str(form.get("satisfaction") or "").strip()
    satisfaction = int(raw) if raw.isdigit() and int(raw) in SATISFACTION else None
    if satisfaction is None:
        errors["satisfaction"] = "请选择客户的满意程度"
    nominated = yes_no("nominated", "请选择是否有人指定设计、施工或设备供应单位")
    nominated_detail = text("nominated_detail")
    if nominated and not nominated_detail:
        errors["nominated_detail"] = "请记录客户所说的情况（谁、指定了哪家单位）"
    improper = yes_no("improper", "请选择是否有人索要财物或提出不当要求")
    improper_detail = text("improper_detail")
    if improper and not improper_detail:
        errors["improper_detail"] = "请记录客户所说的情况"
    if errors:
        raise FormValidationError(f"回访信息有 {len(errors)} 处问题：" + "；".join(errors.values()), errors)
    return Answers(True, satisfaction, nominated, nominated_detail, improper, improper_detail, remarks)


class FollowUps:
    """Independent follow-ups, over the engine's store."""

    def __init__(self, store: Store, clock: Callable[[], datetime],
                 calendar: Callable[[Connection | None], WorkingCalendar],
                 audit_only: Callable[[Connection, int, PendingEvent], None],
                 roles_of: Callable[[Connection, str], list[str]], policy: PolicySettings,
                 complaints: Complaints) -> None:
        self.store, self.clock, self.calendar = store, clock, calendar
        self.audit_only, self.roles_of, self.policy, self.complaints = audit_only, roles_of, policy, complaints

    # ----------------------------------------------------------------- opening (from the step)

    def open(self, conn: Connection, application_id: int, data: Mapping[str, Any], now: datetime) -> None:
        """Open the application's follow-up (once), assigned to an eligible 客户服务 member."""
        if conn.execute(select(FOLLOW_UPS.c.id).where(FOLLOW_UPS.c.application_id == application_id)).first():
            return
        app = conn.execute(select(APPS.c.app_no, APPS.c.process_key, APPS.c.customer_name)
                           .where(APPS.c.id == application_id)).one()
        manager = data.get("customer_manager") if isinstance(data.get("customer_manager"), str) else None
        office = None
        if manager:
            office = conn.execute(select(USERS.c.station).where(USERS.c.username == manager)).scalar()
        excluded = handlers_of(conn, application_id) | ({manager} if manager else set())
        assignee = choose_assignee(candidates(conn), excluded, open_loads(conn))
        try:
            due: datetime | None = self.calendar(conn).add_working_days(now, self.policy.follow_up_working_days)
        except CalendarNotCovered:
            due = None
        conn.execute(insert(FOLLOW_UPS), {
            "application_id": application_id, "app_no": app.app_no, "process_key": app.process_key,
            "customer_name": app.customer_name, "contact_name": str(data.get("contact_name") or "")[:64],
            "contact_phone": str(data.get("contact_phone") or "")[:32], "manager": manager, "office": office,
            "assignee": assignee, "status": "open", "opened_at": now, "due_at": due, "attempts": 0,
            "last_attempt_at": None, "reached": None, "satisfaction": None, "nominated": None,
            "nominated_detail": "", "improper": None, "improper_detail": "", "remarks": "", "done_by": None,
            "done_at": None})

    def cancel(self, conn: Connection, application_id: int) -> None:
        """The case ended before its process did: an open follow-up is no longer made."""
        conn.execute(update(FOLLOW_UPS).where(FOLLOW_UPS.c.application_id == application_id,
                                              FOLLOW_UPS.c.status == "open").values(status="cancelled"))

    # ----------------------------------------------------------------- recording

    def record(self, follow_up_id: int, answers: Answers, by: str) -> FollowUpInfo:
        """Record a call. Refused to anyone who handled the case; "yes" to a nominated firm or an improper
        request files a confidential report to 稽查 in the same transaction."""
        now = self.clock()
        with self.store.begin() as conn:
            if FOLLOW_UP_ROLE not in self.roles_of(conn, by):
                raise Forbidden(f"独立回访需要「{ROLES[FOLLOW_UP_ROLE]}」角色")
            row = conn.execute(select(FOLLOW_UPS).where(FOLLOW_UPS.c.id == follow_up_id)
                               .with_for_update()).mappings().one_or_none()
            if row is None:
                raise NotFound(f"回访不存在：{follow_up_id}")
            if by == row["manager"] or by in handlers_of(conn, row["application_id"]):
                raise Forbidden("独立回访须由未经办该申请的客户服务人员进行：您经办过该申请，不能回访")
            if row["status"] != "open":
                raise Conflict(f"该回访{STATUSES.get(row['status'], row['status'])}")
            values: dict[str, Any] = {"attempts": row["attempts"] + 1, "last_attempt_at": now,
                                      "remarks": answers.remarks}
            if answers.reached:
                values.update(status="done", reached=True, satisfaction=answers.satisfaction,
                              nominated=answers.nominated, nominated_detail=answers.nominated_detail,
                              improper=answers.improper, improper_detail=answers.improper_detail, done_by=by,
                              done_at=now, assignee=row["assignee"] or by)
            else:
                values.update(reached=False, assignee=row["assignee"] or by)
            conn.execute(update(FOLLOW_UPS).where(FOLLOW_UPS.c.id == follow_up_id).values(**values))
            reports = []
            for flagged, topic, detail, what in (
                    (answers.nominated, "nominated", answers.nominated_detail, "客户反映有人指定设计、施工或设备单位"),
                    (answers.improper, "improper", answers.improper_detail, "客户反映有人索要财物或提出不当要求")):
                if flagged:
                    filing = Filing("report", topic, f"{what}：{detail}", row["contact_name"], row["contact_phone"])
                    reports.append(self.complaints.file_in(conn, row["application_id"], row["app_no"], filing,
                                                           "follow_up", by, now))
            self.audit_only(conn, row["application_id"], PendingEvent(
                EventKind.FOLLOW_UP_RECORDED, by, now, {
                    "follow_up": follow_up_id, "reached": answers.reached, "satisfaction": answers.satisfaction,
                    "nominated": answers.nominated, "improper": answers.improper, "reports": reports}))
        return self.follow_up(follow_up_id)

    # ----------------------------------------------------------------- reading

    def follow_up(self, follow_up_id: int) -> FollowUpInfo:
        """One follow-up."""
        with self.store.read() as conn:
            row = conn.execute(select(FOLLOW_UPS).where(FOLLOW_UPS.c.id == follow_up_id)).mappings().one_or_none()
        if row is None:
            raise NotFound(f"回访不存在：{follow_up_id}")
        return _info(row, self.clock())

    def of_application(self, app_no: str) -> FollowUpInfo | None:
        """An application's follow-up, if it has one."""
        with self.store.read() as conn:
            row = conn.execute(select(FOLLOW_UPS).where(FOLLOW_UPS.c.app_no == app_no.strip())).mappings().one_or_none()
        return _info(row, self.clock()) if row is not None else None

    def follow_ups(self, *, status: str | None = "open", assignee: str | None = None, unassigned: bool = False,
                   not_managed_by: str | None = None, overdue_only: bool = False,
                   limit: int = 200) -> list[FollowUpInfo]:
        """Follow-ups by status and assignee (``unassigned``: the pool), earliest deadline first."""
        now = self.clock()
        q = select(FOLLOW_UPS)
        if status:
            q = q.where(FOLLOW_UPS.c.status == status)
        if assignee:
            q = q.where(FOLLOW_UPS.c.assignee == assignee)
        if unassigned:
            q = q.where(FOLLOW_UPS.c.assignee.is_(None))
        if not_managed_by:
            q = q.where((FOLLOW_UPS.c.manager.is_(None)) | (FOLLOW_UPS.c.manager != not_managed_by))
        if overdue_only:
            q = q.where(FOLLOW_UPS.c.status == "open", FOLLOW_UPS.c.due_at < now)
        order = (FOLLOW_UPS.c.due_at, FOLLOW_UPS.c.id) if status == "open" else (FOLLOW_UPS.c.done_at.desc(),
                                                                                FOLLOW_UPS.c.id.desc())
        with self.store.read() as conn:
            rows = conn.execute(q.order_by(*order).limit(max(1, min(limit, 1000)))).mappings().all()
        return [_info(r, now) for r in rows]

    def counts(self) -> dict[str, int]:
        """How many follow-ups are open, overdue and done."""
        now = self.clock()
        with self.store.read() as conn:
            by_status: dict[str, int] = {status: int(n) for status, n in conn.execute(
                select(FOLLOW_UPS.c.status, func.count()).group_by(FOLLOW_UPS.c.status))}
            overdue = conn.execute(select(func.count()).select_from(FOLLOW_UPS).where(
                FOLLOW_UPS.c.status == "open", FOLLOW_UPS.c.due_at < now)).scalar_one()
        return {"open": int(by_status.get("open", 0)), "done": int(by_status.get("done", 0)), "overdue": int(overdue)}


def candidates(conn: Connection) -> list[str]:
    """Active 客户服务 members, by username."""
    rows = conn.execute(select(USERS.c.username, USERS.c.roles).where(USERS.c.active.is_(True))
                        .order_by(USERS.c.username)).all()
    return [r.username for r in rows if FOLLOW_UP_ROLE in r.roles.split(",")]


def handlers_of(conn: Connection, application_id: int) -> set[str]:
    """Everyone who held, claimed or completed a task of the application."""
    people = union(*(select(column.label("who")).where(ITEMS.c.application_id == application_id, column.is_not(None))
                     for column in (ITEMS.c.assignee, ITEMS.c.claimed_by, ITEMS.c.completed_by)))
    return {who for (who,) in conn.execute(people)}


def open_loads(conn: Connection) -> Mapping[str, int]:
    """Open follow-ups per assignee."""
    rows = conn.execute(select(FOLLOW_UPS.c.assignee, func.count()).where(
        FOLLOW_UPS.c.status == "open", FOLLOW_UPS.c.assignee.is_not(None)).group_by(FOLLOW_UPS.c.assignee))
    return {who: int(n) for who, n in rows}


def choose_assignee(people: Sequence[str], excluded: Iterable[str], loads: Mapping[str, int]) -> str | None:
    """The least-loaded eligible person (ties: the first by name, so that a re-run chooses the same); None
    when everyone of the role handled the case (the follow-up then waits in the pool for someone else)."""
    barred = set(excluded)
    eligible = [p for p in people if p not in barred]
    if not eligible:
        return None
    return min(eligible, key=lambda p: (loads.get(p, 0), p))


class FollowUpHook(StepHook):
    """Opens the application's independent follow-up in the step that completes a power-on task, and
    cancels an open one when the case is withdrawn or terminated."""

    def __init__(self, follow_ups: FollowUps) -> None:
        self.follow_ups = follow_ups

    def tasks_closed(self, step: StepContext, closed: Sequence[ClosedTask]) -> None:
        done = [c for c in closed if c.status == TaskStatus.COMPLETED and c.node_id in ALL_POWER_ON]
        if not done:
            return
        if any(c.node_id in power_on_nodes(step.process_key) for c in done):  # the step knows its process
            self.follow_ups.open(step.conn, step.application_id, step.data, step.now)

    def application_ended(self, conn: Connection, application_id: int, now: datetime, status: str) -> None:
        self.follow_ups.cancel(conn, application_id)


def _info(r: Mapping[Any, Any], now: datetime) -> FollowUpInfo:
    return FollowUpInfo(
        r["id"], r["app_no"], r["process_key"], r["customer_name"], r["contact_name"], r["contact_phone"], r["manager"],
        r["office"], r["assignee"], r["status"], r["opened_at"], r["due_at"], r["attempts"], r["last_attempt_at"],
        r["reached"], r["satisfaction"], r["nominated"], r["nominated_detail"], r["improper"], r["improper_detail"],
        r["remarks"], r["done_by"], r["done_at"], bool(r["status"] == "open" and r["due_at"] and now > r["due_at"]))
