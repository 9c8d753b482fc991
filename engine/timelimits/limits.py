"""Time limits (办电时限): a task's limit and due date, and the sweep that warns before it and escalates after it.

A user task's limit in working days is its node's ``timeLimit`` property (a safe expression over the
application data), unless the office overrides it (``time_limit_overrides``). A node where the customer
is acting (``clock=customer``) has no limit: the utility's clock stops there.

The sweep may run in several workers at once. Each warning and escalation is claimed with a conditional
UPDATE (``... WHERE warned_at IS NULL``) in the same transaction as its notification rows and audit
event, so exactly one worker sends it; delivery through the Notifier happens after the commit.
"""

from __future__ import annotations

import time as monotonic_time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, delete, func, insert, select, update

from handlers.notify import Notifier

from ..kernel import expressions
from ..casework.audit import PendingEvent
from ..config import EngineConfig
from ..errors import ExpressionError, Forbidden, NotFound
from ..kernel.loading import NodeInfo
from ..vocabulary import ROLES
from ..store.models import CalendarDay, CalendarYear, Notification, Store, WorkItem
from ..results import NotificationInfo, SentNotice, SweepResult
from .calendar import MAX_REST_RUN, EnteredDay, WorkingCalendar, YearStatus, parse_schedule

SUPERVISOR_ROLE = "marketing"  # 营销部: receives every escalation
CALENDAR_TTL_SECONDS = 60.0  # another process may import a year: re-read the entered days this often

ITEMS = cast(Table, WorkItem.__table__)
NOTIFICATIONS = cast(Table, Notification.__table__)
CAL_DAYS = cast(Table, CalendarDay.__table__)
CAL_YEARS = cast(Table, CalendarYear.__table__)


@dataclass(frozen=True)
class TaskLimit:
    """What a task that just became ready gets: its limit, due moment, whether the clock is stopped."""

    days: int | None
    due_at: datetime | None
    clock_stopped: bool
    problem: str | None = None


def task_limit(node: NodeInfo | None, node_id: str, data: Mapping[str, Any], overrides: Mapping[str, int],
               calendar: WorkingCalendar, ready_at: datetime) -> TaskLimit:
    """The limit of a task becoming ready now: the office override, else the node's timeLimit expression."""
    props = node.properties if node is not None else {}
    if props.get("clock") == "customer":
        return TaskLimit(None, None, True)
    if node_id in overrides:
        days: Any = overrides[node_id]
    else:
        source = (props.get("timeLimit") or "").strip()
        if not source:
            return TaskLimit(None, None, False)
        try:
            days = expressions.evaluate(source, data)
        except ExpressionError as exc:
            return TaskLimit(None, None, False, f"时限表达式 {source!r} 无法计算：{exc.message}")
        if not isinstance(days, int) or isinstance(days, bool) or days < 0:
            return TaskLimit(None, None, False, f"时限表达式 {source!r} 的结果 {days!r} 不是非负整数工作日")
    return TaskLimit(days, calendar.add_working_days(ready_at, days), False)


class CalendarSource:
    """The working calendar with the administrator's entries, re-read from the database now and then."""

    def __init__(self, store: Store, ttl: float = CALENDAR_TTL_SECONDS) -> None:
        self.store, self.ttl = store, ttl
        self._calendar: WorkingCalendar | None = None
        self._loaded = 0.0

    def get(self, conn: Connection | None = None) -> WorkingCalendar:
        """The current calendar (entries at most ``ttl`` seconds old); pass the connection of an open
        transaction to read through it (SQLite allows one writer: a second session would wait on it)."""
        if self._calendar is None or monotonic_time.monotonic() - self._loaded > self.ttl:
            if conn is not None:
                self._calendar = self._load(conn)
            else:
                with self.store.reading() as s:
                    self._calendar = self._load(s.connection())
            self._loaded = monotonic_time.monotonic()
        return self._calendar

    @staticmethod
    def _load(conn: Connection) -> WorkingCalendar:
        entered = [EnteredDay(r.day, r.workday, r.name, r.entered_by, r.entered_at)
                   for r in conn.execute(select(CAL_DAYS))]
        years = [int(y) for y in conn.execute(select(CAL_YEARS.c.year)).scalars()]
        return WorkingCalendar(entered, years)

    def invalidate(self) -> None:
        """Forget the cached entries (after an import)."""
        self._calendar = None

    def import_year(self, raw: object, by: str, now: datetime) -> YearStatus:
        """Replace a year's entered days with an official schedule and mark the year confirmed."""
        year, days = parse_schedule(raw)
        with self.store.transaction() as s:
            conn = s.connection()
            conn.execute(delete(CAL_DAYS).where(CAL_DAYS.c.day >= date(year, 1, 1), CAL_DAYS.c.day <= date(year, 12, 31)))
            conn.execute(insert(CAL_DAYS), [{"day": d.day, "workday": d.workday, "name": d.name, "entered_by": by,
                                              "entered_at": now} for d in days])
            conn.execute(delete(CAL_YEARS).where(CAL_YEARS.c.year == year))
            conn.execute(insert(CAL_YEARS), {"year": year, "entered_by": by, "entered_at": now})
        self.invalidate()
        return self.get().year_status(year)


class TimeLimits:
    """The sweep and the notifications of the time limits, over the engine's store."""

    def __init__(self, store: Store, config: EngineConfig, calendars: CalendarSource, notifier: Notifier,
                 clock: Callable[[], datetime],
                 audit_only: Callable[[Connection, int, PendingEvent], None],
                 roles_of: Callable[[Connection, str], list[str]]) -> None:
        self.store, self.config, self.calendars, self.notifier = store, config, calendars, notifier
        self.clock, self.audit_only, self.roles_of = clock, audit_only, roles_of

    def sweep(self, now: datetime | None = None) -> SweepResult:
        """Warn the tasks that reached their warning point and escalate those past their due moment."""
        now = now or self.clock()
        calendar = self.calendars.get()
        lead = self.config.warning_lead_working_days
        # A warning falls at most lead × (longest run of rest days) calendar days before the due date.
        horizon = now + timedelta(days=(lead + 1) * MAX_REST_RUN)
        with self.store.reading() as s:
            candidates = s.connection().execute(
                select(ITEMS.c.id, ITEMS.c.due_at, ITEMS.c.warned_at, ITEMS.c.escalated_at)
                .where(ITEMS.c.status == "ready", ITEMS.c.due_at.is_not(None), ITEMS.c.due_at <= horizon,
                       ITEMS.c.escalated_at.is_(None))
                .order_by(ITEMS.c.due_at, ITEMS.c.id)).all()
        warnings = escalations = 0
        sent: list[SentNotice] = []
        for item_id, due_at, warned_at, _ in candidates:
            if now > due_at:
                kind = "escalation"
            elif warned_at is None and now >= calendar.subtract_working_days(due_at, lead):
                kind = "warning"
            else:
                continue
            notices = self._claim(item_id, kind, now)
            if not notices:
                continue  # another worker got there first, or the task was completed meanwhile
            if kind == "warning":
                warnings += 1
            else:
                escalations += 1
            for notice in notices:
                self.notifier.send(notice.recipient, notice.message)
            sent.extend(notices)
        return SweepResult(warnings, escalations, tuple(sent))

    def _claim(self, item_id: str, kind: str, now: datetime) -> list[SentNotice]:
        """Take one warning or escalation for this worker and write it; [] if someone else already did."""
        if kind == "warning":
            claim = (update(ITEMS).where(ITEMS.c.id == item_id, ITEMS.c.status == "ready",
                                         ITEMS.c.warned_at.is_(None), ITEMS.c.escalated_at.is_(None))
                     .values(warned_at=now))
        else:
            # An escalation also settles the warning: a warning after the escalation would be noise.
            claim = (update(ITEMS).where(ITEMS.c.id == item_id, ITEMS.c.status == "ready",
                                         ITEMS.c.escalated_at.is_(None))
                     .values(escalated_at=now, warned_at=func.coalesce(ITEMS.c.warned_at, now)))
        with self.store.transaction() as s:
            conn = s.connection()
            if conn.execute(claim).rowcount != 1:
                return []
            item = dict(conn.execute(select(ITEMS).where(ITEMS.c.id == item_id)).mappings().one())
            holder = item["claimed_by"] or item["assignee"]
            recipients: list[tuple[str | None, str | None]] = [(holder, None) if holder else (None, item["role"])]
            if kind == "escalation" and (None, SUPERVISOR_ROLE) not in recipients:
                recipients.append((None, SUPERVISOR_ROLE))
            message = _message(kind, item, holder)
            conn.execute(insert(NOTIFICATIONS), [
                {"username": user, "role": role, "app_no": item["app_no"], "task_id": item["id"], "kind": kind,
                 "message": message, "created_at": now, "read_at": None} for user, role in recipients])
            targets = [user if user else f"role:{role}" for user, role in recipients]
            self.audit_only(conn, item["application_id"], PendingEvent(
                "task.warned" if kind == "warning" else "task.escalated", "system", now,
                {"task": item["id"], "due_at": item["due_at"].isoformat(), "time_limit_days": item["time_limit_days"],
                 "to": targets}, item["node_id"], item["id"]))
        return [SentNotice(kind, item["app_no"], item["id"], target, message) for target in targets]

    def notifications(self, username: str, unread_only: bool = False, limit: int = 50) -> list[NotificationInfo]:
        """A person's notifications: addressed to them, or to one of their roles; newest first."""
        with self.store.reading() as s:
            conn = s.connection()
            roles = self.roles_of(conn, username)
            cond: list[Any] = [(NOTIFICATIONS.c.username == username) | NOTIFICATIONS.c.role.in_(roles)]
            if unread_only:
                cond.append(NOTIFICATIONS.c.read_at.is_(None))
            rows = conn.execute(select(NOTIFICATIONS).where(*cond)
                                .order_by(NOTIFICATIONS.c.created_at.desc(), NOTIFICATIONS.c.id.desc())
                                .limit(max(1, min(limit, 500)))).mappings().all()
        return [NotificationInfo(r["id"], r["kind"], r["app_no"], r["task_id"], r["message"], r["created_at"],
                                 r["read_at"]) for r in rows]

    def mark_read(self, notification_id: int, username: str) -> None:
        """Mark a notification read (one addressed to a role is then read for everyone in that role)."""
        with self.store.transaction() as s:
            conn = s.connection()
            roles = self.roles_of(conn, username)
            row = conn.execute(select(NOTIFICATIONS).where(NOTIFICATIONS.c.id == notification_id)).mappings().one_or_none()
            if row is None:
                raise NotFound(f"通知不存在：{notification_id}")
            if row["username"] != username and (row["role"] is None or row["role"] not in roles):
                raise Forbidden("只能处理发给自己或本角色的通知")
            conn.execute(update(NOTIFICATIONS).where(NOTIFICATIONS.c.id == notification_id,
                                                     NOTIFICATIONS.c.read_at.is_(None)).values(read_at=self.clock()))


def _message(kind: str, item: Mapping[str, Any], holder: str | None) -> str:
    who = holder or f"「{ROLES.get(item['role'], item['role'])}」待认领"
    limit = f"时限 {item['time_limit_days']} 个工作日" if item["time_limit_days"] is not None else "时限"
    due = f"{item['due_at']:%Y-%m-%d %H:%M}"
    if kind == "warning":
        return (f"【时限预警】申请 {item['app_no']}（{item['customer_name']}）环节「{item['node_name']}」"
                f"{limit}，将于 {due} 到期，请抓紧办理。办理人：{who}")
    return (f"【超期督办】申请 {item['app_no']}（{item['customer_name']}）环节「{item['node_name']}」"
            f"已超过{limit}（{due} 到期），办理人：{who}，请营销部督办。")
