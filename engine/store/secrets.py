"""Secrets every process on every host must share — the key that signs sessions and form tokens — kept in the
database, so that hosts without a shared disk (or shared configuration) agree on them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import bindparam, select

from .database import Store
from .tables import SECRETS

READ = select(SECRETS.c.value).where(SECRETS.c.name == bindparam("name"))


class SharedSecrets:
    """Named secrets: the first process to ask for one sets it, every later one reads the same."""

    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self.store, self.clock = store, clock
        self._insert = store.upsert(SECRETS, ("name",))  # a secret is set once: the first proposal wins

    def get(self, name: str, proposal: str) -> str:
        """The secret called ``name``; ``proposal`` becomes it if none was set yet."""
        with self.store.begin() as conn:
            conn.execute(self._insert, {"name": name, "value": proposal, "created_at": self.clock()})
            return str(conn.execute(READ, {"name": name}).scalar_one())
