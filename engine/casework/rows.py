"""Reading an application's and a task's rows: lookups casework shares, and their result types."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from ..errors import InvalidInput, NotFound
from ..results import TaskInfo
from ..store.tables import APPS, ITEMS

ITEM_BY_ID = select(ITEMS).where(ITEMS.c.id == bindparam("id"))
ITEM_BY_ID_LOCKED = ITEM_BY_ID.with_for_update()
APP_COLUMNS = (APPS.c.id, APPS.c.app_no, APPS.c.process_key, APPS.c.version_id, APPS.c.customer_name,
               APPS.c.status, APPS.c.revision, APPS.c.audit_seq, APPS.c.audit_head, APPS.c.wf_meta,
               APPS.c.error_message)
TASK_COLUMNS = ("id", "app_no", "process_key", "customer_name", "node_id", "node_name", "role", "form", "status",
                "assignee", "claimed_by", "created_at", "completed_at", "completed_by")
TASK_OPTIONAL = ("due_at", "time_limit_days", "warned_at", "escalated_at", "clock_stopped")


@dataclass
class AppRow:
    """The application row fields a step reads and writes (plain data, no ORM state)."""

    id: int
    app_no: str
    process_key: str
    version_id: int
    customer_name: str
    status: str
    revision: int
    audit_seq: int
    audit_head: str
    wf_meta: str
    error_message: str | None


def app_row(conn: Connection | Session, where: Any, lock: bool = False) -> AppRow:
    """The application matching a condition (locked for the transaction if asked); NotFound if none."""
    q = select(*APP_COLUMNS).where(where)
    if lock:
        q = q.with_for_update()
    row = conn.execute(q).one_or_none()
    if row is None:
        raise NotFound("申请不存在")
    return AppRow(*row)


def app_by_number(conn: Connection | Session, app_no: str, lock: bool = False) -> AppRow:
    """An application by its number; NotFound naming it if there is none."""
    try:
        return app_row(conn, APPS.c.app_no == app_no.strip(), lock)
    except NotFound:
        raise NotFound(f"申请不存在：{app_no}") from None


def find_item(conn: Connection | Session, task_id: str, lock: bool = False) -> dict[str, Any]:
    """A work item by its id or a unique prefix of at least six characters."""
    task_id = task_id.strip().lower()
    by_id = ITEM_BY_ID_LOCKED if lock else ITEM_BY_ID
    item = conn.execute(by_id, {"id": task_id}).mappings().one_or_none() if len(task_id) == 36 else None
    if item is None and 6 <= len(task_id) < 36:
        q = select(ITEMS).with_for_update() if lock else select(ITEMS)
        # autoescape: a % or _ in what was typed is a character, not a LIKE wildcard matching any task
        matches = conn.execute(q.where(ITEMS.c.id.startswith(task_id, autoescape=True)).limit(2)).mappings().all()
        if len(matches) > 1:
            raise InvalidInput(f"任务编号前缀 {task_id} 不唯一，请输入更长的编号")
        item = matches[0] if matches else None
    if item is None:
        raise NotFound(f"任务不存在：{task_id}")
    return dict(item)


def task_info(i: Any) -> TaskInfo:
    """A TaskInfo from a work item: a row, an ORM object or a mapping of its columns (the columns features
    add — due dates — may be missing from a row not written yet)."""
    if isinstance(i, Mapping):
        values = [i[name] for name in TASK_COLUMNS] + [i.get(name) for name in TASK_OPTIONAL]
    else:
        values = [getattr(i, name) for name in (*TASK_COLUMNS, *TASK_OPTIONAL)]
    values[-1] = bool(values[-1])
    return TaskInfo(*values)


def already_done(item: Mapping[str, Any], names: Mapping[str, str] | None = None) -> str:
    """Why a task can no longer be worked on, in Chinese (``names``: display names of the people it mentions)."""
    if item["status"] == "completed":
        when = f"{item['completed_at']:%Y-%m-%d %H:%M}" if item["completed_at"] else ""
        who = (names or {}).get(item["completed_by"] or "", "他人")
        return f"任务「{item['node_name']}」已由{who}于 {when} 办理完成"
    if item["status"] == "cancelled":
        return f"任务「{item['node_name']}」已取消（流程已转向，或申请已撤销、终止）"
    return f"任务「{item['node_name']}」已不在待办状态"
