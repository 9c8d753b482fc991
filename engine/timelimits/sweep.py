"""The time-limit sweep: warn a task's holder before its due moment and escalate to 营销部 after it.

The sweep may run in several workers at once. Each warning and escalation is claimed with a conditional
UPDATE (``... WHERE warned_at IS NULL``) in the same transaction as its notification rows and audit
event, so exactly one worker sends it; delivery through the Notifier happens after the commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select, update

from handlers.notify import Notifier

from ..casework.accounts import names_of
from ..casework.audit import PendingEvent
from ..casework.delegation import substitute_of
from ..config import EngineConfig
from ..errors import Forbidden, NotFound
from ..results import NotificationInfo, SentNotice, SweepResult
from ..store import Store
from ..store.tables import ITEMS, NOTIFICATIONS
from ..vocabulary import ROLES, SUPERVISOR_ROLE, SYSTEM, EventKind, TaskStatus
from .calendar import MAX_REST_RUN, CalendarSource


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
                .where(ITEMS.c.status == TaskStatus.READY, ITEMS.c.due_at.is_not(None), ITEMS.c.due_at <= horizon,
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
            claim = (update(ITEMS).where(ITEMS.c.id == item_id, ITEMS.c.status == TaskStatus.READY,
                                         ITEMS.c.warned_at.is_(None), ITEMS.c.escalated_at.is_(None))
                     .values(warned_at=now))
        else:
            # An escalation also settles the warning: a warning after the escalation would be noise.
            claim = (update(ITEMS).where(ITEMS.c.id == item_id, ITEMS.c.status == TaskStatus.READY,
                                         ITEMS.c.escalated_at.is_(None))
                     .values(escalated_at=now, warned_at=func.coalesce(ITEMS.c.warned_at, now)))
        with self.store.transaction() as s:
            conn = s.connection()
            if conn.execute(claim).rowcount != 1:
                return []
            item = dict(conn.execute(select(ITEMS).where(ITEMS.c.id == item_id)).mappings().one())
            holder = item["claimed_by"] or item["assignee"]
            recipients: list[tuple[str | None, str | None]] = [(holder, None) if holder else (None, item["role"])]
            deputy = substitute_of(conn, holder, now) if holder else None
            if deputy:  # the holder is on leave: the colleague standing in hears of it too
                recipients.append((deputy, None))
            if kind == "escalation" and (None, SUPERVISOR_ROLE) not in recipients:
                recipients.append((None, SUPERVISOR_ROLE))
            # the message names the holder as people know them, not by their login name
            message = _message(kind, item, names_of(conn, [holder]).get(holder) if holder else None)
            conn.execute(insert(NOTIFICATIONS), [
                {"username": user, "role": role, "app_no": item["app_no"], "task_id": item["id"], "kind": kind,
                 "message": message, "created_at": now, "read_at": None} for user, role in recipients])
            targets = [user if user else f"role:{role}" for user, role in recipients]
            self.audit_only(conn, item["application_id"], PendingEvent(
                EventKind.TASK_WARNED if kind == "warning" else EventKind.TASK_ESCALATED, SYSTEM, now,
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

    def unread_count(self, username: str, roles: Iterable[str]) -> int:
        """How many notifications addressed to a person or one of their roles are unread: one COUNT over the
        (username, read_at) and (role, read_at) indexes."""
        addressed = or_(NOTIFICATIONS.c.username == username, NOTIFICATIONS.c.role.in_(list(roles)))
        with self.store.read() as conn:
            return int(conn.execute(select(func.count()).select_from(NOTIFICATIONS)
                                    .where(addressed, NOTIFICATIONS.c.read_at.is_(None))).scalar_one())

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
