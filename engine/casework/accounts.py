"""Staff accounts: users, their roles, passwords and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from ..errors import Conflict, Forbidden, InvalidInput, NotFound
from ..results import UserInfo
from ..store import Store
from ..store.tables import TOKENS, USERS
from ..vocabulary import ROLES, SYSTEM, SYSTEM_NAME
from .passwords import PasswordHasher
from .permissions import Action, action_refusal, may

ROLES_OF_USER = select(USERS.c.roles, USERS.c.active).where(USERS.c.username == bindparam("username"))
USER_BY_NAME = select(USERS).where(USERS.c.username == bindparam("username"))
USER_BY_TOKEN = (select(USERS.c.username, USERS.c.display_name, USERS.c.roles, USERS.c.active, USERS.c.station)
                 .join_from(TOKENS, USERS, TOKENS.c.username == USERS.c.username)
                 .where(TOKENS.c.token_hash == bindparam("digest"), TOKENS.c.revoked.is_(False),
                        USERS.c.active.is_(True)))


class Accounts:
    """Who works here, with which roles; login by password, other channels by token."""

    def __init__(self, store: Store, hasher: PasswordHasher, clock: Callable[[], datetime]) -> None:
        self.store, self.hasher, self.clock = store, hasher, clock

    def create_user(self, username: str, display_name: str, roles: Iterable[str], password: str,
                    station: str | None = None, work_phone: str | None = None) -> UserInfo:
        """Add a member of staff (field staff may belong to a station, 班所; a customer manager has a work
        phone customers may call)."""
        roles = tuple(roles)
        unknown = [r for r in roles if r not in ROLES]
        if unknown:
            raise InvalidInput(f"未知角色：{'、'.join(unknown)}（可用：{'、'.join(ROLES)}）")
        if not username.strip() or not password:
            raise InvalidInput("用户名和密码不能为空")
        work_phone = check_work_phone(work_phone)
        with self.store.begin() as conn:
            if conn.execute(USER_BY_NAME, {"username": username}).first() is not None:
                raise Conflict(f"用户 {username} 已存在")
            conn.execute(insert(USERS), {"username": username, "display_name": display_name,
                                         "password_hash": self.hasher.hash(password), "roles": ",".join(roles),
                                         "station": station, "active": True, "created_at": self.clock(),
                                         "work_phone": work_phone})
        return UserInfo(username, display_name, roles, True, station, work_phone)

    def set_work_phone(self, username: str, work_phone: str | None, by: str) -> UserInfo:
        """Record (or clear) the number customers may call a member of staff on (an administrator does it)."""
        work_phone = check_work_phone(work_phone)
        with self.store.begin() as conn:
            self.require(conn, by, Action.MANAGE_ACCOUNTS)
            self.active_user(conn, username)
            conn.execute(update(USERS).where(USERS.c.username == username).values(work_phone=work_phone))
            return self.active_user(conn, username)

    def user(self, username: str) -> UserInfo:
        """An active user; NotFound otherwise."""
        with self.store.read() as conn:
            return self.active_user(conn, username)

    def active_user(self, conn: Connection, username: str) -> UserInfo:
        """An active user, read on an open connection; NotFound otherwise."""
        row = conn.execute(USER_BY_NAME, {"username": username}).one_or_none()
        if row is None or not row.active:
            raise NotFound(f"用户不存在或已停用：{username}")
        return _user_info(row)

    def authenticate(self, username: str, password: str) -> UserInfo | None:
        """The user if the password is right and the account active, else None."""
        with self.store.read() as conn:
            row = conn.execute(USER_BY_NAME, {"username": username}).one_or_none()
        if row is None or not row.active or not self.hasher.check(row.password_hash, password):
            return None
        return _user_info(row)

    def users(self, role: str | None = None) -> list[UserInfo]:
        """Active staff, optionally only those with a role."""
        with self.store.read() as conn:
            rows = conn.execute(select(USERS).where(USERS.c.active.is_(True)).order_by(USERS.c.username)).all()
        users = [_user_info(r) for r in rows]
        return [u for u in users if role is None or role in u.roles]

    def display_names(self) -> dict[str, str]:
        """Username → display name of every account, former staff included (their names stay in histories)."""
        with self.store.read() as conn:
            return names_of(conn)

    def roles_of(self, conn: Connection, username: str) -> list[str]:
        """The roles of an active user (NotFound for an unknown or inactive one)."""
        row = conn.execute(ROLES_OF_USER, {"username": username}).one_or_none()
        if row is None or not row.active:
            raise NotFound(f"用户不存在或已停用：{username}")
        return row.roles.split(",")

    def require(self, conn: Connection, username: str, action: Action) -> UserInfo:
        """The acting user, if they exist, are active and may take the action; Forbidden otherwise."""
        user = self.active_user(conn, username)
        reason = action_refusal(user.display_name or username, user.roles, action)
        if reason:
            raise Forbidden(reason)
        return user

    def may(self, username: str, action: Action) -> bool:
        """Whether an active user may take the action (pages ask before offering it)."""
        with self.store.read() as conn:
            row = conn.execute(ROLES_OF_USER, {"username": username}).one_or_none()
        return row is not None and row.active and may(row.roles.split(","), action)

    def permit(self, username: str, action: Action) -> UserInfo:
        """:meth:`require` in a read of its own (for actions that write through another unit of work)."""
        with self.store.read() as conn:
            return self.require(conn, username, action)

    def create_api_token(self, username: str, name: str, by: str) -> str:
        """Issue a token for another channel to call the API as this user; only its hash is kept."""
        token = secrets.token_urlsafe(32)
        with self.store.begin() as conn:
            self.require(conn, by, Action.MANAGE_ACCOUNTS)
            self.roles_of(conn, username)
            conn.execute(insert(TOKENS), {"token_hash": hashlib.sha256(token.encode()).hexdigest(),
                                          "username": username, "name": name.strip() or "api",
                                          "created_at": self.clock(), "revoked": False})
        return token

    def user_for_token(self, token: str) -> UserInfo | None:
        """The active user a valid API token stands for."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        # Every API request asks this: one statement in autocommit, one round trip instead of four
        # (BEGIN, token, user, ROLLBACK); a revoked token or deactivated user still fails at once.
        with self.store.sa_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            row = conn.execute(USER_BY_TOKEN, {"digest": digest}).one_or_none()
        if row is None:
            return None
        return UserInfo(row.username, row.display_name, tuple(r for r in row.roles.split(",") if r), row.active,
                        row.station)


def names_of(conn: Connection, usernames: Iterable[str | None] | None = None) -> dict[str, str]:
    """Username → display name, for the given accounts (None: every account); the engine's own actor is 系统.
    Messages a person reads name people by these, never by their login names."""
    q = select(USERS.c.username, USERS.c.display_name)
    if usernames is not None:
        wanted = sorted({u for u in usernames if u})
        if not wanted:
            return {SYSTEM: SYSTEM_NAME}
        q = q.where(USERS.c.username.in_(wanted))
    names = {r.username: r.display_name or r.username for r in conn.execute(q)}
    names.setdefault(SYSTEM, SYSTEM_NAME)
    return names


def _user_info(r: Any) -> UserInfo:
    """A UserInfo from a users row."""
    return UserInfo(r.username, r.display_name, tuple(x for x in r.roles.split(",") if x), r.active, r.station,
                    r.work_phone)


WORK_PHONE = re.compile(r"^(1\d{10}|0\d{2,3}-?\d{7,8})(-\d{1,6})?$")
"""A mobile number, or a landline with its area code (and an extension)."""


def check_work_phone(value: str | None) -> str | None:
    """A work phone as stored (None when blank); InvalidInput unless it is a mobile or landline number."""
    phone = (value or "").strip()
    if not phone:
        return None
    if not WORK_PHONE.match(phone):
        raise InvalidInput(f"工作电话“{phone}”无效：应为手机号或带区号的固定电话（如 0512-65001234）")
    return phone
