"""Comments on an application: remarks among staff, a few of them marked to be shown to the customer on the
progress page (办事公开). Each comment is also an event in the application's hash-chained audit trail."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from ..errors import FormValidationError
from ..store import Store
from ..store.tables import APPS, COMMENTS
from ..vocabulary import EventKind
from .accounts import Accounts
from .audit import PendingEvent, append_only
from .rows import app_by_number

MAX_COMMENT = 2000


@dataclass(frozen=True)
class CommentInfo:
    """One comment; ``public`` ones the customer sees."""

    id: int
    app_no: str
    author: str
    body: str
    public: bool
    created_at: datetime


class Comments:
    """Writing and reading comments."""

    def __init__(self, store: Store, accounts: Accounts, clock: Callable[[], datetime]) -> None:
        self.store, self.accounts, self.clock = store, accounts, clock

    def add(self, app_no: str, body: str, by: str, public: bool = False) -> CommentInfo:
        """Remark on an application (staff who work cases); ``public``: shown to the customer as well."""
        body = body.strip()
        if not body:
            raise FormValidationError("留言内容不能为空", {"body": "请填写留言内容"})
        if len(body) > MAX_COMMENT:
            raise FormValidationError(f"留言不能超过 {MAX_COMMENT} 个字符", {"body": f"不能超过 {MAX_COMMENT} 个字符"})
        now = self.clock()
        with self.store.begin() as conn:
            self.accounts.roles_of(conn, by)  # who may comment is checked at the engine's door (Action.COMMENT)
            app = app_by_number(conn, app_no, lock=True)
            new_id = conn.execute(insert(COMMENTS).returning(COMMENTS.c.id), {
                "application_id": app.id, "author": by, "body": body, "public": bool(public),
                "created_at": now}).scalar_one()
            append_only(conn, app.id, PendingEvent(EventKind.APPLICATION_COMMENTED, by, now,
                                                   {"comment": new_id, "body": body, "public": bool(public)}))
        return CommentInfo(new_id, app.app_no, by, body, bool(public), now)

    def of(self, app_no: str, *, public_only: bool = False) -> list[CommentInfo]:
        """An application's comments, oldest first (only those shown to the customer, if asked)."""
        q = (select(COMMENTS, APPS.c.app_no).join(APPS, APPS.c.id == COMMENTS.c.application_id)
             .where(APPS.c.app_no == app_no.strip()))
        if public_only:
            q = q.where(COMMENTS.c.public.is_(True))
        with self.store.read() as conn:
            rows = conn.execute(q.order_by(COMMENTS.c.created_at, COMMENTS.c.id)).all()
        return [_info(r) for r in rows]


def _info(r: Any) -> CommentInfo:
    return CommentInfo(r.id, r.app_no, r.author, r.body, bool(r.public), r.created_at)
