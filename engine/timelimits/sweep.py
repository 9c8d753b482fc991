"""The time-limit sweep: warn the people who can still act before a policy clock (时限) expires, and escalate
to 营销部 once it has.

The sweep speaks of the policy clocks (:mod:`engine.timelimits.clocks`), not of node due dates (those are
internal targets). A warning or escalation goes to the holder of each open task the utility is working on
(the person who claimed it or it is assigned to; else everyone of its role) and to 营销部, once each. The sweep
may run in several workers at once: each is claimed with a conditional UPDATE (``... WHERE warned_at IS NULL``)
in the same transaction as its notification rows and audit event, so exactly one worker sends it; delivery
through the Notifier happens after the commit.
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
from ..store.tables import APPS, CLOCKS, ITEMS, NOTIFICATIONS, USERS
from ..vocabulary import ROLES, SUPERVISOR_ROLE, SYSTEM, EventKind, TaskStatus
from .calendar import MAX_REST_RUN, CalendarSource
from .clocks import RUNNING, load_pauses, used_days


class TimeLimits:
    """The sweep and the notifications of the time limits, over the engine's store."""

    def __init__(self, store: Store, config: EngineConfig, calendars: CalendarSource, notifier: Notifier,
                 clock: Callable[[], datetime],
                 audit_only: Callable[[Connection, int, PendingEvent], None],
                 roles_of: Callable[[Connection, str], list[str]]) -> None:
        self.store, self.config, self.calendars, self.notifier = store, config, calendars, notifier
        self.clock, self.audit_only, self.roles_of = clock, audit_only, roles_of

    def sweep(self, now: datetime | None = None) -> SweepResult:
        """Warn on the clocks that reached their warning point and escalate those past their deadline."""
        now = now or self.clock()
        calendar = self.calendars.get()
        lead = self.config.warning_lead_working_days
        # A warning falls at most lead × (longest run of rest days) calendar days before the deadline.
        horizon = now + timedelta(days=(lead + 1) * MAX_REST_RUN)
        with self.store.read() as conn:
            candidates = conn.execute(
                select(CLOCKS.c.id, CLOCKS.c.deadline, CLOCKS.c.warned_at)
                .where(CLOCKS.c.status == RUNNING, CLOCKS.c.kind == "limit", CLOCKS.c.deadline.is_not(None),
                       CLOCKS.c.deadline <= horizon, CLOCKS.c.escalated_at.is_(None))
                .order_by(CLOCKS.c.deadline, CLOCKS.c.id)).all()
        warnings = escalations = 0
        sent: list[SentNotice] = []
        for clock_id, deadline, warned_at in candidates:
            if now > deadline:
                kind = "escalation"
            elif warned_at is None and now >= calendar.subtract_working_days(deadline, lead):
                kind = "warning"
            else:
                continue
            notices = self._claim(clock_id, kind, now)
            if not notices:
                continue  # another worker got there first, or the clock stopped or paused meanwhile
            if kind == "warning":
                warnings += 1
            else:
                escalations += 1
            for notice in notices:
                self.notifier.send(notice.recipient, notice.message)
            sent.extend(notices)
        return SweepResult(warnings, escalations, tuple(sent))

    def _claim(self, clock_id: int, kind: str, now: datetime) -> list[SentNotice]:
        """Take one warning or escalation for this worker and write it; [] if someone else already did."""
        if kind == "warning":
            claim = (update(CLOCKS).where(CLOCKS.c.id == clock_id, CLOCKS.c.status == RUNNING,
                                          CLOCKS.c.warned_at.is_(None), CLOCKS.c.escalated_at.is_(None))
                     .values(warned_at=now))
        else:
            # An escalation also settles the warning: a warning after the escalation would be noise.
            claim = (update(CLOCKS).where(CLOCKS.c.id == clock_id, CLOCKS.c.status == RUNNING,
                                          CLOCKS.c.escalated_at.is_(None))
                     .values(escalated_at=now, warned_at=func.coalesce(CLOCKS.c.warned_at, now)))
        with self.store.begin() as conn:
            if conn.execute(claim).rowcount != 1:
                return []
            clock = conn.execute(select(CLOCKS).where(CLOCKS.c.id == clock_id)).one()
            customer = conn.execute(select(APPS.c.customer_name).where(APPS.c.id == clock.application_id)).scalar()
            items = conn.execute(select(ITEMS.c.id, ITEMS.c.node_name, ITEMS.c.role, ITEMS.c.assignee,
                                        ITEMS.c.claimed_by)
                                 .where(ITEMS.c.application_id == clock.application_id,
                                        ITEMS.c.status == TaskStatus.READY, ITEMS.c.clock_stopped.is_not(True))
                                 .order_by(ITEMS.c.created_at, ITEMS.c.id)).all()
            recipients: dict[tuple[str | None, str | None], str] = {}  # (user, role) → task id
            for item in items:
                holder = item.claimed_by or item.assignee
                recipients.setdefault((holder, None) if holder else (None, item.role), item.id)
                deputy = substitute_of(conn, holder, now) if holder else None
                if deputy:  # the holder is on leave: the colleague standing in hears of it too
                    recipients.setdefault((deputy, None), item.id)
            recipients.setdefault((None, SUPERVISOR_ROLE), "")
            holders = [user for user, _ in recipients if user]
            names = {user: name for user, name in conn.execute(
                select(USERS.c.username, USERS.c.display_name).where(USERS.c.username.in_(holders)))}
            used = used_days(self.calendars.get(conn), clock.started_at, now, load_pauses(clock.pauses))
            steps = "、".join(f"「{i.node_name}」（{_holder_name(i, names)}）" for i in items) or "无"
            message = _message(kind, clock, customer or "", used, steps)
            conn.execute(insert(NOTIFICATIONS), [
                {"username": user, "role": role, "app_no": clock.app_no, "task_id": task_id, "kind": kind,
                 "message": message, "created_at": now, "read_at": None}
                for (user, role), task_id in recipients.items()])
            targets = [(user if user else f"role:{role}", task_id) for (user, role), task_id in recipients.items()]
            self.audit_only(conn, clock.application_id, PendingEvent(
                EventKind.CLOCK_WARNED if kind == "warning" else EventKind.CLOCK_ESCALATED, SYSTEM, now,
                {"clock": clock.clock_key, "name": clock.name, "round": clock.round,
                 "deadline": clock.deadline.isoformat(), "limit": clock.limit_value, "used_days": used,
                 "to": [t for t, _ in targets]}))
        return [SentNotice(kind, clock.app_no, task_id, target, message) for target, task_id in targets]

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


def _holder_name(item: Any, names: Mapping[str, str]) -> str:
    holder = item.claimed_by or item.assignee
    if holder:
        return names.get(holder, holder)
    return f"「{ROLES.get(item.role, item.role)}」待认领"


def _message(kind: str, clock: Any, customer: str, used: int, steps: str) -> str:
    """The text of a warning or an escalation about one clock."""
    due = f"{clock.deadline:%Y-%m-%d}" + ("（暂定日历）" if clock.provisional else "")
    limit = f"时限 {clock.limit_value} 个工作日"
    if kind == "warning":
        return (f"【时限预警】申请 {clock.app_no}（{customer}）「{clock.name}」{limit}，已用 {used} 个工作日，"
                f"将于 {due} 到期。当前环节：{steps}，请抓紧办理。")
    return (f"【超期督办】申请 {clock.app_no}（{customer}）「{clock.name}」已超过{limit}（{due} 到期，"
            f"已用 {used} 个工作日）。当前环节：{steps}，请营销部督办。")
