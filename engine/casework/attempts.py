"""Attempt limits for the customer progress page (办事公开): slow a guesser down, never lock a customer out.

A customer looks an application up with its number and the last four digits of the contact phone; someone
guessing digits must not get far, and must not be able to shut the customer out of their own application
either (ten wrong guesses used to refuse everyone, right answers too, for fifteen minutes).

Attempts are counted per client address and per application number (:class:`AttemptPolicy`). The first few
of each in a while are free; after that each new attempt must wait a back-off that doubles with every
further failure and stops at a short cap — two minutes for an address, thirty seconds for an application.
A guesser at one address is soon held to one try every two minutes, guessing one number from many addresses
to one try every thirty seconds (10,000 combinations of four digits: days), while a customer whose number is
being guessed waits at most half a minute and is answered then. A failure is forgotten once its key has been
quiet for the window.

The counts live in the database (``attempt_limits``), so every web process on every host applies the same
limits. Each attempt is counted before it is checked, under the keys' row locks, so that a burst of parallel
requests cannot slip past the limit together; a right answer takes its count back.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from math import ceil
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, update

from ..store import Store
from ..store.tables import ATTEMPTS


@dataclass(frozen=True)
class AttemptPolicy:
    """How one kind of key is limited."""

    free: int  # failures in a row before attempts must wait
    first_wait: timedelta  # the wait after ``free`` failures; doubles with each further one
    longest_wait: timedelta  # the cap: never a lock-out
    window: timedelta  # failures are forgotten once the key has been quiet this long

    def wait_after(self, failures: int) -> timedelta | None:
        """How long the next attempt must wait after this many failures (None: it need not)."""
        if failures < self.free:
            return None
        doublings = min(failures - self.free, 30)
        return min(self.first_wait * (2 ** doublings), self.longest_wait)


ADDRESS = AttemptPolicy(free=5, first_wait=timedelta(seconds=2), longest_wait=timedelta(minutes=2),
                        window=timedelta(minutes=15))
"""One client address: a guesser working through numbers or digits."""
APPLICATION = AttemptPolicy(free=5, first_wait=timedelta(seconds=1), longest_wait=timedelta(seconds=30),
                            window=timedelta(minutes=15))
"""One application number, from whatever addresses: guessing spread over many."""

SELECT_LOCKED = (select(ATTEMPTS).where(ATTEMPTS.c.key.in_(bindparam("keys", expanding=True)))
                 .order_by(ATTEMPTS.c.key).with_for_update())
SAVE = (update(ATTEMPTS).where(ATTEMPTS.c.key == bindparam("k"))
        .values(failures=bindparam("failures"), first_failed_at=bindparam("first"),
                last_failed_at=bindparam("last"), blocked_until=bindparam("until")))


@dataclass(frozen=True)
class Attempt:
    """The outcome of asking to try: allowed, or how many seconds to wait."""

    wait_seconds: int  # 0: go ahead


class AttemptLimits:
    """Counting attempts per key in the database."""

    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self.store, self.clock = store, clock
        self._ensure = store.upsert(ATTEMPTS, ("key",))

    def attempt(self, keys: Sequence[tuple[str, AttemptPolicy]]) -> Attempt:
        """Ask to try under these keys: refused with the wait if any key must still wait; otherwise the attempt
        is counted as a failure until :meth:`succeeded` takes it back."""
        now = self.clock()
        policies = dict(keys)
        with self.store.begin() as conn:
            rows = self._locked(conn, policies, now)
            waits = [row.blocked_until - now for row in rows.values()
                     if row.blocked_until is not None and row.blocked_until > now]
            if waits:
                return Attempt(max(1, ceil(max(waits).total_seconds())))
            for key, row in rows.items():
                policy = policies[key]
                quiet = row.failures == 0 or now - row.last_failed_at >= policy.window
                failures = 1 if quiet else row.failures + 1
                wait = policy.wait_after(failures)
                conn.execute(SAVE, {"k": key, "failures": failures, "first": now if quiet else row.first_failed_at,
                                    "last": now, "until": now + wait if wait else None})
        return Attempt(0)

    def succeeded(self, keys: Sequence[tuple[str, AttemptPolicy]]) -> None:
        """The attempt was right: take its count back (failures before it still count)."""
        now = self.clock()
        policies = dict(keys)
        with self.store.begin() as conn:
            for key, row in self._locked(conn, policies, now).items():
                failures = max(0, row.failures - 1)
                wait = policies[key].wait_after(failures)
                conn.execute(SAVE, {"k": key, "failures": failures, "first": row.first_failed_at,
                                    "last": row.last_failed_at, "until": row.last_failed_at + wait if wait else None})

    def _locked(self, conn: Connection, policies: dict[str, AttemptPolicy], now: datetime) -> dict[str, Any]:
        """The keys' rows, locked; a key seen for the first time gets its row (and keys quiet for longer than
        their window are dropped then: the table holds only keys tried lately)."""
        keys = sorted(policies)
        rows = {row.key: row for row in conn.execute(SELECT_LOCKED, {"keys": keys})}
        new = [key for key in keys if key not in rows]
        if new:
            conn.execute(self._ensure, [{"key": key, "failures": 0, "first_failed_at": now, "last_failed_at": now,
                                         "blocked_until": None} for key in new])
            rows.update((row.key, row) for row in conn.execute(SELECT_LOCKED, {"keys": new}))
            horizon = now - max(p.window for p in policies.values())
            conn.execute(delete(ATTEMPTS).where(ATTEMPTS.c.last_failed_at < horizon, ATTEMPTS.c.key.not_in(keys),
                                                ATTEMPTS.c.blocked_until.is_(None) | (ATTEMPTS.c.blocked_until < now)))
        return rows


PLAIN = re.compile(r"[0-9A-Za-z.:_-]{1,64}")


def plain_key(text: str) -> str:
    """Text as it can be stored in a key: itself when plain, else a digest (whatever was typed: NUL, emoji…)."""
    if PLAIN.fullmatch(text):
        return text
    return "#" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def progress_keys(client_address: str, app_no: str) -> list[tuple[str, AttemptPolicy]]:
    """The keys a lookup on the customer progress page is counted under: the client's address, the number."""
    return [(f"address:{plain_key(client_address)}", ADDRESS), (f"application:{plain_key(app_no)}", APPLICATION)]
