"""Task lists: a person's tasks, the pool of their roles, every task for supervisors — plain indexed queries."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, or_, select

from ..errors import Forbidden, InvalidInput
from ..results import TaskInfo, TaskPage
from ..store import Store
from ..store.namesearch import name_contains
from ..store.tables import CLOCKS, ITEMS
from ..vocabulary import ROLES, SUPERVISOR_ROLE, TaskStatus
from .accounts import Accounts
from .delegation import absentees
from .rows import task_info

APP_NO_LIKE = re.compile(r"[A-Z]{2}\d{4,14}")
ORDERS = ("created", "risk")
# The highest risk of missing a limit among the application's counting clocks (the forecast the worker stores).
APPLICATION_RISK = (select(func.max(CLOCKS.c.risk)).where(CLOCKS.c.application_id == ITEMS.c.application_id,
                                                          CLOCKS.c.status.in_(("running", "paused")))
                    .correlate(ITEMS).scalar_subquery())


class Worklist:
    """Who has what to do."""

    def __init__(self, store: Store, accounts: Accounts, clock: Callable[[], datetime] = datetime.now) -> None:
        self.store, self.accounts, self.clock = store, accounts, clock

    def tasks(self, *, role: str | None = None, user: str | None = None, status: str = TaskStatus.READY,
              process_key: str | None = None, app_no: str | None = None, limit: int = 100,
              offset: int = 0) -> list[TaskInfo]:
        """Task rows by role, user (assigned to or claimed by, or unclaimed of their roles), status."""
        with self.store.read() as conn:
            cond = [ITEMS.c.status == status]
            if role:
                cond.append(ITEMS.c.role == role)
            if user:
                roles = self.accounts.roles_of(conn, user)
                holders = [user, *absentees(conn, user, self.clock())]
                cond.append(ITEMS.c.assignee.in_(holders) | ITEMS.c.claimed_by.in_(holders) |
                            (ITEMS.c.assignee.is_(None) & ITEMS.c.claimed_by.is_(None) & ITEMS.c.role.in_(roles)))
            if process_key:
                cond.append(ITEMS.c.process_key == process_key)
            if app_no:
                cond.append(ITEMS.c.app_no == app_no)
            rows = conn.execute(select(ITEMS).where(*cond).order_by(ITEMS.c.created_at, ITEMS.c.id)
                                .limit(limit).offset(offset)).mappings().all()
        return [task_info(r) for r in rows]

    def page(self, user: str, *, scope: str = "pool", status: str = TaskStatus.READY, process_key: str | None = None,
             node_id: str | None = None, search: str | None = None, page: int = 1, per_page: int = 20,
             order: str = "created") -> TaskPage:
        """One page of a person's task list: 'mine' (claimed by or assigned to me, or to a colleague on leave I
        stand in for), 'pool' (tasks of my roles nobody holds) or 'all' (supervisors); filtered, searched,
        counted — indexed queries only. ``order``: 'created' (first come, first served) or 'risk' (the
        application most likely to miss a policy clock first)."""
        if order not in ORDERS:
            raise InvalidInput(f"未知的排序方式：{order}（created 按受理顺序，risk 按超期风险）")
        page, per_page = max(1, page), min(max(1, per_page), 200)
        with self.store.read() as conn:
            roles = self.accounts.roles_of(conn, user)
            cond = [ITEMS.c.status == status]
            if scope == "mine":
                # Each OR term carries the status so that each can use its own (person, status) index. The open
                # tasks of a colleague on leave are mine too while I stand in for them.
                holders = [user, *(absentees(conn, user, self.clock()) if status == TaskStatus.READY else ())]
                cond = [or_(*(((ITEMS.c.claimed_by == h) & (ITEMS.c.status == status)) |
                              ((ITEMS.c.assignee == h) & (ITEMS.c.status == status)) for h in holders))]
            elif scope == "pool":
                # Unclaimed and unassigned only: a task assigned to me is in "mine", not offered again here.
                cond += [ITEMS.c.claimed_by.is_(None), ITEMS.c.role.in_(roles), ITEMS.c.assignee.is_(None)]
            elif scope == "all":
                if SUPERVISOR_ROLE not in roles:
                    raise Forbidden(f"只有「{ROLES[SUPERVISOR_ROLE]}」可以查看全部任务")
            else:
                raise InvalidInput(f"未知的任务范围：{scope}（mine、pool 或 all）")
            if process_key:
                cond.append(ITEMS.c.process_key == process_key)
            if node_id:
                cond.append(ITEMS.c.node_id == node_id)
            if search and search.strip():
                term = search.strip()
                if APP_NO_LIKE.fullmatch(term.upper()):
                    prefix = term.upper()  # a range, not LIKE, so that the app_no index serves it on every database
                    cond += [ITEMS.c.app_no >= prefix, ITEMS.c.app_no < prefix + "~"]
                else:
                    cond.append(name_contains(ITEMS.c.customer_name, term, conn.dialect.name))
            total = conn.execute(select(func.count()).select_from(ITEMS).where(*cond)).scalar_one()
            ordering = ((APPLICATION_RISK.desc().nulls_last(), ITEMS.c.created_at, ITEMS.c.id) if order == "risk"
                        else (ITEMS.c.created_at, ITEMS.c.id))
            rows = conn.execute(select(ITEMS).where(*cond).order_by(*ordering)
                                .limit(per_page).offset((page - 1) * per_page)).mappings().all()
        return TaskPage(tuple(task_info(r) for r in rows), int(total), page, per_page)
