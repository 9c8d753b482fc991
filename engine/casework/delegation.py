"""Substitutes during leave (委托): a person on leave names a colleague who, for that period, sees the
tasks assigned to or claimed by them and works them in the colleague's own name.

Nothing is moved: a task keeps its assignee, and who may work it is decided when someone acts — by
:func:`stand_in_refusal` — from the periods in force at that moment. So a task that arrives during the leave
goes to the substitute, and once the leave is over (or cancelled) it is the absent person's alone again.
The audit event of a completion records the substitute as its actor and whom they stood in for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from ..errors import Conflict, Forbidden, FormValidationError, NotFound
from ..store import Store
from ..store.tables import SUBSTITUTIONS as SUBS
from ..store.tables import USERS
from ..vocabulary import ROLES, SUPERVISOR_ROLE
from .accounts import Accounts, names_of
from .permissions import TaskHolder, refusal

MAX_LEAVE_DAYS = 366
"""A substitution longer than a year is a reorganisation, not leave: reassign the work instead."""

ABSENTEES = (select(SUBS.c.username).where(SUBS.c.substitute == bindparam("substitute"),
                                           SUBS.c.ends_at > bindparam("now"), SUBS.c.starts_at <= bindparam("now"),
                                           SUBS.c.cancelled_at.is_(None)))
SUBSTITUTE = (select(SUBS.c.substitute).where(SUBS.c.username == bindparam("username"),
                                              SUBS.c.ends_at > bindparam("now"), SUBS.c.starts_at <= bindparam("now"),
                                              SUBS.c.cancelled_at.is_(None)))


@dataclass(frozen=True)
class SubstitutionInfo:
    """One period of leave and its substitute; ``last_day`` is the last day of leave (inclusive)."""

    id: int
    username: str
    substitute: str
    first_day: date
    last_day: date
    reason: str
    created_by: str
    created_at: datetime
    cancelled_by: str | None
    cancelled_at: datetime | None

    def in_force(self, now: datetime) -> bool:
        """Whether the substitute stands in at this moment."""
        return self.cancelled_at is None and self.first_day <= now.date() <= self.last_day

    def state(self, now: datetime) -> str:
        """已取消, 生效中, 未开始 or 已结束."""
        if self.cancelled_at is not None:
            return "已取消"
        if now.date() > self.last_day:
            return "已结束"
        return "生效中" if now.date() >= self.first_day else "未开始"


def absentees(conn: Connection, substitute: str, now: datetime) -> list[str]:
    """The colleagues this person substitutes for at this moment."""
    return list(conn.execute(ABSENTEES, {"substitute": substitute, "now": now}).scalars())


def substitute_of(conn: Connection, username: str, now: datetime) -> str | None:
    """Who stands in for this person at this moment (None when they are not on leave)."""
    return conn.execute(SUBSTITUTE, {"username": username, "now": now}).scalars().first()


def stand_in_refusal(conn: Connection, task: TaskHolder, username: str, roles: Iterable[str], now: datetime,
                     *, claimed_counts: bool = True) -> tuple[str | None, str | None]:
    """Why this person may not work on the task (None if they may), and whom they would act for: the task's
    holder when that holder is on leave with this person as substitute (None when it is their own task).
    The people a refusal names are named by their display names."""
    roles = list(roles)
    if refusal(task, username, roles, claimed_counts=claimed_counts) is None:
        return None, None
    away = absentees(conn, username, now)
    if away and refusal(task, username, roles, claimed_counts=claimed_counts, stands_in_for=away) is None:
        holder = task.claimed_by if claimed_counts and task.claimed_by in away else task.assignee
        return None, holder
    names = names_of(conn, (task.assignee, task.claimed_by))
    return refusal(task, username, roles, claimed_counts=claimed_counts, stands_in_for=away, names=names), None


class Delegation:
    """Setting, cancelling and listing substitutes."""

    def __init__(self, store: Store, accounts: Accounts, clock: Callable[[], datetime]) -> None:
        self.store, self.accounts, self.clock = store, accounts, clock

    def set(self, username: str, substitute: str, first_day: date, last_day: date, reason: str,
            by: str) -> SubstitutionInfo:
        """Name a substitute for a period of leave (both days included): the person themselves, or 营销部 for
        anyone. FormValidationError lists every problem by field; a period overlapping another is a conflict."""
        reason = reason.strip()
        now = self.clock()
        errors: dict[str, str] = {}
        if last_day < first_day:
            errors["last_day"] = "结束日期不能早于开始日期"
        elif last_day < now.date():
            errors["last_day"] = "结束日期已过"
        elif (last_day - first_day).days + 1 > MAX_LEAVE_DAYS:
            errors["last_day"] = f"一次委托不超过 {MAX_LEAVE_DAYS} 天；长期调整请由营销部改派任务"
        if len(reason) > 500:
            errors["reason"] = "不能超过 500 个字符"
        if substitute == username:
            errors["substitute"] = "不能委托给自己"
        with self.store.begin() as conn:
            actor = self.accounts.active_user(conn, by)
            if by != username and SUPERVISOR_ROLE not in actor.roles:
                raise Forbidden(f"只能为自己设置委托（「{ROLES[SUPERVISOR_ROLE]}」可为任何人设置）")
            absent = self.accounts.active_user(conn, username)
            deputy = conn.execute(select(USERS).where(USERS.c.username == substitute)).one_or_none()
            if deputy is None or not deputy.active:
                errors.setdefault("substitute", "请选择在岗的同事")
            elif not set(absent.roles) & set(deputy.roles.split(",")):
                wanted = "、".join(ROLES.get(r, r) for r in absent.roles)
                errors.setdefault("substitute", f"代理人须与被代理人同岗（{wanted}）")
            if errors:
                raise FormValidationError("委托未保存：" + "；".join(errors.values()), errors)
            starts, ends = datetime.combine(first_day, time.min), datetime.combine(last_day + timedelta(days=1),
                                                                                    time.min)
            overlapping = conn.execute(select(SUBS.c.id).where(
                SUBS.c.username == username, SUBS.c.cancelled_at.is_(None), SUBS.c.starts_at < ends,
                SUBS.c.ends_at > starts)).first()
            if overlapping is not None:
                raise Conflict(f"{absent.display_name}在该期间已有委托，请先取消原委托")
            new_id = conn.execute(insert(SUBS).returning(SUBS.c.id), {
                "username": username, "substitute": substitute, "starts_at": starts, "ends_at": ends,
                "reason": reason, "created_by": by, "created_at": now, "cancelled_by": None,
                "cancelled_at": None}).scalar_one()
        return self.get(new_id)

    def cancel(self, substitution_id: int, by: str) -> SubstitutionInfo:
        """End a substitution now (the person is back early, or it was set by mistake): their own, or 营销部."""
        now = self.clock()
        with self.store.begin() as conn:
            row = conn.execute(select(SUBS).where(SUBS.c.id == substitution_id).with_for_update()).one_or_none()
            if row is None:
                raise NotFound(f"委托不存在：{substitution_id}")
            actor = self.accounts.active_user(conn, by)
            if by not in (row.username, row.substitute) and SUPERVISOR_ROLE not in actor.roles:
                raise Forbidden("只能取消自己的委托")
            if row.cancelled_at is not None or row.ends_at <= now:
                raise Conflict("该委托已取消或已结束")
            conn.execute(update(SUBS).where(SUBS.c.id == substitution_id).values(cancelled_by=by, cancelled_at=now))
        return self.get(substitution_id)

    def get(self, substitution_id: int) -> SubstitutionInfo:
        """One substitution."""
        with self.store.read() as conn:
            row = conn.execute(select(SUBS).where(SUBS.c.id == substitution_id)).one_or_none()
        if row is None:
            raise NotFound(f"委托不存在：{substitution_id}")
        return _info(row)

    def periods(self, username: str | None = None, *, current_only: bool = True) -> list[SubstitutionInfo]:
        """Substitutions a person set or stands in for (None: everyone's), newest first; by default only those
        not yet over or cancelled."""
        q = select(SUBS)
        if username is not None:
            q = q.where((SUBS.c.username == username) | (SUBS.c.substitute == username))
        if current_only:
            q = q.where(SUBS.c.cancelled_at.is_(None), SUBS.c.ends_at > self.clock())
        with self.store.read() as conn:
            rows = conn.execute(q.order_by(SUBS.c.starts_at.desc(), SUBS.c.id.desc()).limit(200)).all()
        return [_info(r) for r in rows]

    def absentees(self, substitute: str) -> list[str]:
        """The colleagues this person substitutes for now."""
        with self.store.read() as conn:
            return absentees(conn, substitute, self.clock())

    def substitutes(self, usernames: Iterable[str]) -> Mapping[str, str]:
        """Who stands in now for each of these people that is on leave."""
        wanted = sorted(set(usernames))
        if not wanted:
            return {}
        now = self.clock()
        with self.store.read() as conn:
            rows = conn.execute(select(SUBS.c.username, SUBS.c.substitute).where(
                SUBS.c.username.in_(wanted), SUBS.c.starts_at <= now, SUBS.c.ends_at > now,
                SUBS.c.cancelled_at.is_(None))).all()
        return {r.username: r.substitute for r in rows}


def _info(r: Any) -> SubstitutionInfo:
    return SubstitutionInfo(r.id, r.username, r.substitute, r.starts_at.date(),
                            (r.ends_at - timedelta(days=1)).date(), r.reason, r.created_by, r.created_at,
                            r.cancelled_by, r.cancelled_at)
