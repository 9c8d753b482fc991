"""Task-list filters a person saves under a name, kept on the server per person (they follow the person
from the counter's PC to the tablet on site)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from ..errors import Forbidden, FormValidationError, NotFound
from ..store import Store
from ..store.tables import SAVED_FILTERS as FILTERS
from .accounts import Accounts

FILTER_KEYS = ("scope", "status", "process", "node", "q")
"""What a task list is filtered by (the task list's query arguments)."""
MAX_FILTERS = 20
MAX_NAME = 30


@dataclass(frozen=True)
class SavedFilterInfo:
    """A named task-list filter."""

    id: int
    name: str
    query: Mapping[str, str]


class SavedFilters:
    """Saving, listing and deleting a person's task-list filters."""

    def __init__(self, store: Store, accounts: Accounts, clock: Callable[[], datetime]) -> None:
        self.store, self.accounts, self.clock = store, accounts, clock

    def save(self, by: str, name: str, query: Mapping[str, Any]) -> SavedFilterInfo:
        """Keep the current filter under a name (the same name again replaces it)."""
        name = " ".join(name.split())
        if not name:
            raise FormValidationError("请为筛选条件起个名字", {"name": "请填写名称"})
        if len(name) > MAX_NAME:
            raise FormValidationError(f"名称不能超过 {MAX_NAME} 个字", {"name": f"不能超过 {MAX_NAME} 个字"})
        kept = {k: str(query[k]).strip()[:100] for k in FILTER_KEYS if query.get(k) not in (None, "")}
        if not kept:
            raise FormValidationError("当前没有可保存的筛选条件", {"name": "请先设置筛选条件"})
        body = json.dumps(kept, ensure_ascii=False, sort_keys=True)
        with self.store.begin() as conn:
            self.accounts.roles_of(conn, by)
            existing = conn.execute(select(FILTERS.c.id).where(FILTERS.c.username == by, FILTERS.c.name == name)
                                    .with_for_update()).scalar_one_or_none()
            if existing is not None:
                conn.execute(update(FILTERS).where(FILTERS.c.id == existing).values(query=body))
                return SavedFilterInfo(existing, name, kept)
            count = len(conn.execute(select(FILTERS.c.id).where(FILTERS.c.username == by)).all())
            if count >= MAX_FILTERS:
                raise FormValidationError(f"最多保存 {MAX_FILTERS} 个筛选条件，请先删除不用的",
                                          {"name": f"最多保存 {MAX_FILTERS} 个"})
            new_id = conn.execute(insert(FILTERS).returning(FILTERS.c.id), {
                "username": by, "name": name, "query": body, "created_at": self.clock()}).scalar_one()
        return SavedFilterInfo(new_id, name, kept)

    def of(self, username: str) -> list[SavedFilterInfo]:
        """A person's saved filters, by name."""
        with self.store.read() as conn:
            rows = conn.execute(select(FILTERS).where(FILTERS.c.username == username)
                                .order_by(FILTERS.c.name)).all()
        return [SavedFilterInfo(r.id, r.name, json.loads(r.query)) for r in rows]

    def delete(self, filter_id: int, by: str) -> None:
        """Delete one of my saved filters."""
        with self.store.begin() as conn:
            owner = conn.execute(select(FILTERS.c.username).where(FILTERS.c.id == filter_id)).scalar_one_or_none()
            if owner is None:
                raise NotFound(f"筛选条件不存在：{filter_id}")
            if owner != by:
                raise Forbidden("只能删除自己保存的筛选条件")
            conn.execute(delete(FILTERS).where(FILTERS.c.id == filter_id))
