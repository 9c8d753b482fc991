"""The daily handling of tasks around the steps themselves: 催办 (hurry an open task), 转办 (hand my task to a
colleague of its role), 抄送 (copy a decision to colleagues), and claiming, releasing or reassigning many
tasks at once.

Each action is one transaction that writes what it did into the application's hash-chained audit trail and
leaves the people concerned a notification (the same list the time-limit warnings go to); the notifier
hears of it once the transaction has committed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from handlers.notify import Notifier

from ..definitions.versions import Definitions
from ..errors import BaozhuangError, Conflict, Forbidden, FormValidationError, InvalidInput, NotFound
from ..results import TaskInfo
from ..store import Store
from ..store.tables import APPS, EVENTS, ITEMS, NOTIFICATIONS, USERS
from ..vocabulary import ROLES, SUPERVISOR_ROLE, EventKind, Role, TaskStatus
from .accounts import Accounts, names_of
from .audit import PendingEvent, append_only
from .decisions import summary
from .delegation import absentees, substitute_of
from .hooks import StepHook
from .rows import already_done, find_item, task_info

NOTICE_KINDS: Mapping[str, str] = {"urge": "催办", "transfer": "转办", "copy": "抄送"}
"""The notifications task work leaves, by kind, with their Chinese names."""
URGE_INTERVAL = timedelta(hours=1)
"""One person urges one task at most once in this interval: a second reminder within the hour is noise."""
MAX_NOTE = 500
MAX_COPIES = 20
MAX_BULK = 200


@dataclass(frozen=True)
class BulkResult:
    """What a bulk action did: the tasks it changed, and for each task it could not change, why."""

    done: tuple[TaskInfo, ...]
    refused: tuple[tuple[str, str], ...]  # (task id, the reason in Chinese)


def case_managers(conn: Connection, application_id: int) -> set[str]:
    """The customer managers who own an application: whoever holds or held its customer-manager tasks."""
    rows = conn.execute(select(ITEMS.c.assignee, ITEMS.c.claimed_by, ITEMS.c.completed_by).where(
        ITEMS.c.application_id == application_id, ITEMS.c.role == Role.CUSTOMER_MANAGER)).all()
    return {who for row in rows for who in row if who}


class TaskWork:
    """催办, 转办, 抄送 and bulk actions over the engine's store."""

    def __init__(self, store: Store, accounts: Accounts, definitions: Definitions, notifier: Notifier,
                 clock: Callable[[], datetime], hooks: Sequence[StepHook]) -> None:
        self.store, self.accounts, self.definitions = store, accounts, definitions
        self.notifier, self.clock, self.hooks = notifier, clock, tuple(hooks)

    # ----------------------------------------------------------------- 催办

    def urge(self, task_id: str, by: str, note: str = "") -> TaskInfo:
        """Hurry an open task: 营销部, or a customer manager who owns the case. Its holder (and their substitute
        while they are on leave) or, if nobody holds it, everyone of its role gets a notification."""
        note = _note(note)
        now = self.clock()
        with self.store.begin() as conn:
            item = find_item(conn, task_id, lock=True)
            if item["status"] != TaskStatus.READY:
                raise Conflict(already_done(item, names_of(conn, [item["completed_by"]])))
            roles = self.accounts.roles_of(conn, by)
            if SUPERVISOR_ROLE not in roles and not (Role.CUSTOMER_MANAGER in roles
                                                      and by in case_managers(conn, item["application_id"])):
                raise Forbidden(f"只有「{ROLES[SUPERVISOR_ROLE]}」或本申请的客户经理可以催办")
            holder = item["claimed_by"] or item["assignee"]
            if holder == by:
                raise InvalidInput("这是您自己手上的任务，无需催办")
            recent = conn.execute(select(EVENTS.c.at).where(
                EVENTS.c.application_id == item["application_id"], EVENTS.c.kind == EventKind.TASK_URGED,
                EVENTS.c.task_id == item["id"], EVENTS.c.actor == by, EVENTS.c.at > now - URGE_INTERVAL)).first()
            if recent is not None:
                raise Conflict(f"您已于 {recent.at:%H:%M} 催办过该任务，一小时内不再重复催办")
            names = names_of(conn, [by, holder])
            waited = _waited(item["created_at"], now)
            message = (f"【催办】{names.get(by, by)}催办：申请 {item['app_no']}（{item['customer_name']}）"
                       f"环节「{item['node_name']}」已等待{waited}，请尽快办理" + (f"。{note}" if note else ""))
            recipients = self._holders(conn, holder, item["role"], now)
            self._notify(conn, recipients, item, "urge", message, now)
            append_only(conn, item["application_id"], PendingEvent(
                EventKind.TASK_URGED, by, now, {"task": item["id"], "to": _targets(recipients), "note": note},
                item["node_id"], item["id"]))
        self._send(recipients, message)
        return task_info(item)

    # ----------------------------------------------------------------- 转办

    def transfer(self, task_id: str, to_user: str, by: str, reason: str) -> TaskInfo:
        """Hand a task I hold (or hold for a colleague on leave) to a colleague who has its role, saying why."""
        reason = reason.strip()
        if not reason:
            raise FormValidationError("转办须说明原因", {"reason": "请填写转办原因"})
        if len(reason) > MAX_NOTE:
            raise FormValidationError(f"转办原因不能超过 {MAX_NOTE} 个字符", {"reason": f"不能超过 {MAX_NOTE} 个字符"})
        now = self.clock()
        with self.store.begin() as conn:
            item = find_item(conn, task_id, lock=True)
            if item["status"] != TaskStatus.READY:
                raise Conflict(already_done(item, names_of(conn, [item["completed_by"]])))
            holder = item["claimed_by"] or item["assignee"]
            if holder is None:
                raise Forbidden("该任务尚无人认领：请先认领再转办")
            if holder != by and holder not in absentees(conn, by, now):
                raise Forbidden("只能转办自己手上的任务（或您代理的同事的任务）")
            target = conn.execute(select(USERS.c.roles, USERS.c.active, USERS.c.display_name)
                                  .where(USERS.c.username == to_user)).one_or_none()
            if target is None or not target.active:
                raise FormValidationError("请选择在岗的同事", {"to": "请选择在岗的同事"})
            if to_user in (by, holder):
                raise FormValidationError("请选择另一位同事", {"to": "不能转办给任务现在的办理人"})
            if item["role"] not in target.roles.split(","):
                role = ROLES.get(item["role"], item["role"])
                raise FormValidationError(f"{target.display_name}没有「{role}」角色，不能接手该任务",
                                          {"to": f"须为「{role}」同事"})
            conn.execute(update(ITEMS).where(ITEMS.c.id == item["id"]).values(
                assignee=to_user, claimed_by=None, claimed_at=None))
            for hook in self.hooks:
                hook.task_reassigned(conn, item["id"], holder, to_user)
            names = names_of(conn, [by])
            message = (f"【转办】{names.get(by, by)}将申请 {item['app_no']}（{item['customer_name']}）"
                       f"环节「{item['node_name']}」转给您办理。原因：{reason}")
            recipients = [(to_user, None)]
            self._notify(conn, recipients, item, "transfer", message, now)
            append_only(conn, item["application_id"], PendingEvent(
                EventKind.TASK_TRANSFERRED, by, now, {"task": item["id"], "from": holder, "to": to_user,
                                                      "reason": reason}, item["node_id"], item["id"]))
        self._send(recipients, message)
        return task_info({**item, "assignee": to_user, "claimed_by": None, "claimed_at": None})

    # ----------------------------------------------------------------- 抄送

    def copy(self, task_id: str, to_users: Iterable[str], by: str, note: str = "") -> TaskInfo:
        """Copy a completed task's decision to colleagues: whoever completed it, 营销部, or the case's
        customer manager. Each colleague gets a notification with the decision in words."""
        note = _note(note)
        wanted = sorted({u.strip() for u in to_users if u and u.strip()})
        if not wanted:
            raise FormValidationError("请选择抄送给谁", {"to": "请选择抄送给谁"})
        if len(wanted) > MAX_COPIES:
            raise FormValidationError(f"一次最多抄送 {MAX_COPIES} 人", {"to": f"一次最多抄送 {MAX_COPIES} 人"})
        now = self.clock()
        with self.store.begin() as conn:
            item = find_item(conn, task_id, lock=True)
            if item["status"] != TaskStatus.COMPLETED:
                raise Conflict(f"任务「{item['node_name']}」尚未办结，办结后才能抄送其结论")
            roles = self.accounts.roles_of(conn, by)
            if by != item["completed_by"] and SUPERVISOR_ROLE not in roles and \
                    by not in case_managers(conn, item["application_id"]):
                raise Forbidden("只有办理人、营销部或本申请的客户经理可以抄送该环节的结论")
            active = {r.username for r in conn.execute(select(USERS.c.username).where(
                USERS.c.username.in_(wanted), USERS.c.active.is_(True)))}
            if set(wanted) - active:
                raise FormValidationError("抄送对象须为在岗同事", {"to": "抄送对象须为在岗同事"})
            if by in wanted:
                raise FormValidationError("不能抄送给自己", {"to": "不能抄送给自己"})
            decision = self._decision(conn, item)
            names = names_of(conn, [by, item["completed_by"]])
            message = (f"【抄送】{names.get(by, by)}抄送：申请 {item['app_no']}（{item['customer_name']}）"
                       f"环节「{item['node_name']}」已由{names.get(item['completed_by'] or '', '他人')}办结"
                       + (f"，{decision}" if decision else "") + (f"。附言：{note}" if note else ""))
            recipients: list[tuple[str | None, str | None]] = [(u, None) for u in wanted]
            self._notify(conn, recipients, item, "copy", message, now)
            append_only(conn, item["application_id"], PendingEvent(
                EventKind.TASK_COPIED, by, now, {"task": item["id"], "to": wanted, "note": note},
                item["node_id"], item["id"]))
        self._send(recipients, message)
        return task_info(item)

    # ----------------------------------------------------------------- bulk

    def bulk(self, action: Callable[[str], TaskInfo], task_ids: Iterable[str]) -> BulkResult:
        """Apply one action (claim, release, reassign) to each task in its own transaction: the ones that can
        be changed are, and every one that cannot is listed with the reason (taken by a colleague meanwhile…)."""
        ids = list(dict.fromkeys(t.strip() for t in task_ids if t and t.strip()))
        if not ids:
            raise InvalidInput("请先勾选任务")
        if len(ids) > MAX_BULK:
            raise InvalidInput(f"一次最多处理 {MAX_BULK} 项任务")
        done: list[TaskInfo] = []
        refused: list[tuple[str, str]] = []
        for task_id in ids:
            try:
                done.append(action(task_id))
            except BaozhuangError as exc:  # reported back, task by task: nothing is swallowed
                refused.append((task_id, exc.message))
        return BulkResult(tuple(done), tuple(refused))

    # ----------------------------------------------------------------- reading

    def urged(self, task_ids: Iterable[str]) -> Mapping[str, datetime]:
        """When each of these tasks was last urged (tasks never urged are left out)."""
        ids = list(task_ids)
        if not ids:
            return {}
        with self.store.read() as conn:
            rows = conn.execute(select(NOTIFICATIONS.c.task_id, NOTIFICATIONS.c.created_at).where(
                NOTIFICATIONS.c.task_id.in_(ids), NOTIFICATIONS.c.kind == "urge")).all()
        latest: dict[str, datetime] = {}
        for row in rows:
            if row.task_id not in latest or row.created_at > latest[row.task_id]:
                latest[row.task_id] = row.created_at
        return latest

    def may_urge(self, app_no: str, username: str) -> bool:
        """Whether this person may urge the open tasks of an application (pages ask before offering it)."""
        with self.store.read() as conn:
            roles = self.accounts.roles_of(conn, username)
            if SUPERVISOR_ROLE in roles:
                return True
            app_id = conn.execute(select(APPS.c.id).where(APPS.c.app_no == app_no)).scalar_one_or_none()
            if app_id is None:
                raise NotFound(f"申请不存在：{app_no}")
            return Role.CUSTOMER_MANAGER in roles and username in case_managers(conn, app_id)

    # ----------------------------------------------------------------- helpers

    def _holders(self, conn: Connection, holder: str | None, role: str,
                 now: datetime) -> list[tuple[str | None, str | None]]:
        """Whom a notice about a task goes to: its holder and their substitute, or everyone of its role."""
        if holder is None:
            return [(None, role)]
        recipients: list[tuple[str | None, str | None]] = [(holder, None)]
        deputy = substitute_of(conn, holder, now)
        if deputy:
            recipients.append((deputy, None))
        return recipients

    def _notify(self, conn: Connection, recipients: Sequence[tuple[str | None, str | None]],
                item: Mapping[str, Any], kind: str, message: str, now: datetime) -> None:
        conn.execute(insert(NOTIFICATIONS), [
            {"username": user, "role": role, "app_no": item["app_no"], "task_id": item["id"], "kind": kind,
             "message": message, "created_at": now, "read_at": None} for user, role in recipients])

    def _send(self, recipients: Sequence[tuple[str | None, str | None]], message: str) -> None:
        for target in _targets(recipients):
            self.notifier.send(target, message)

    def _decision(self, conn: Connection, item: Mapping[str, Any]) -> str:
        """The completed task's decision in words, from what was submitted (its audit event)."""
        payload = conn.execute(select(EVENTS.c.payload).where(
            EVENTS.c.application_id == item["application_id"], EVENTS.c.kind == EventKind.TASK_COMPLETED,
            EVENTS.c.task_id == item["id"])).scalar_one_or_none()
        if payload is None:
            return ""
        data = json.loads(payload).get("data", {})
        version_id = conn.execute(select(APPS.c.version_id).where(APPS.c.id == item["application_id"])).scalar_one()
        form = self.definitions.diagram(conn, version_id).form_for(item["node_id"])
        return summary(form, data)


def _note(note: str) -> str:
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise FormValidationError(f"附言不能超过 {MAX_NOTE} 个字符", {"note": f"不能超过 {MAX_NOTE} 个字符"})
    return note


def _targets(recipients: Iterable[tuple[str | None, str | None]]) -> list[str]:
    return [user if user else f"role:{role}" for user, role in recipients]


def _waited(since: datetime, now: datetime) -> str:
    minutes = max(0, int((now - since).total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours = rest // 60
    if days:
        return f" {days} 天{hours} 小时" if hours else f" {days} 天"
    return f" {hours} 小时" if hours else f" {max(1, minutes)} 分钟"
