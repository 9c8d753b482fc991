"""Checking the audit trail of many applications at once: every hash chain, streamed in batches.

The chain check itself lives in :func:`engine.casework.audit.verify`; this module only walks applications in id
order, a batch per read session, so that checking a whole database keeps memory flat.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy import func, select

from ..casework import audit
from ..errors import NotFound
from ..results import AuditVerdict
from ..store import Store
from ..store.models import Application
from ..store.tables import APPS
DEFAULT_BATCH = 200

Progress = Callable[[int, int], Any]


def verify_chains(store: Store, app_nos: Iterable[str] | None = None,
                  progress: Progress | None = None, *, batch_size: int = DEFAULT_BATCH) -> Iterator[AuditVerdict]:
    """Check the hash chain of every application (id order), or of the given ones; unknown numbers raise
    NotFound before anything is checked. ``progress(done, total)`` is called after each application."""
    wanted = _unique(app_nos) if app_nos is not None else None
    with store.reading() as s:
        if wanted is None:
            total = int(s.execute(select(func.count()).select_from(APPS)).scalar_one())
        else:
            known = _known_numbers(s, wanted)
            missing = [n for n in wanted if n not in known]
            if missing:
                raise NotFound(f"申请不存在：{'、'.join(missing)}")
            total = len(wanted)
    return _walk(store, wanted, total, progress, max(1, batch_size))


def _walk(store: Store, wanted: list[str] | None, total: int, progress: Progress | None,
          batch_size: int) -> Iterator[AuditVerdict]:
    done = 0
    if wanted is not None:
        for start in range(0, len(wanted), batch_size):
            chunk = wanted[start:start + batch_size]
            with store.reading() as s:
                by_no = {a.app_no: a for a in s.scalars(select(Application).where(Application.app_no.in_(chunk)))}
                checks = [audit.verify(s, by_no[n]) for n in chunk]
            for check in checks:
                done += 1
                yield check
                if progress:
                    progress(done, total)
        return
    last_id = 0
    while True:
        with store.reading() as s:
            apps = list(s.scalars(select(Application).where(Application.id > last_id)
                                  .order_by(Application.id).limit(batch_size)))
            if not apps:
                return
            checks = [audit.verify(s, a) for a in apps]
            last_id = apps[-1].id
        for check in checks:
            done += 1
            yield check
            if progress:
                progress(done, max(total, done))


def _unique(app_nos: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(n.strip().upper() for n in app_nos if n.strip()))


def _known_numbers(s: Any, app_nos: list[str]) -> set[str]:
    known: set[str] = set()
    for start in range(0, len(app_nos), 500):
        known.update(s.scalars(select(APPS.c.app_no).where(APPS.c.app_no.in_(app_nos[start:start + 500]))))
    return known
