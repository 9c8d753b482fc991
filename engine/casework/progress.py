"""The customer's own view of an application (办事公开): where it stands, with dates, and nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from ..store import Store
from ..store.tables import APPS, ITEMS



@dataclass(frozen=True)
class PublicStep:
    """A step as the customer sees it: its name and a date, nothing about who."""

    name: str
    on: date | None
    customer_acting: bool = False  # the step waits for the customer (the utility's clock is stopped)


@dataclass(frozen=True)
class PublicProgress:
    """Where an application stands, for the customer: finished steps with dates, current steps with their
    due dates.  Deliberately nothing else (no staff, no data, no ids)."""

    accepted_on: date
    finished: tuple[PublicStep, ...]
    current: tuple[PublicStep, ...]
    completed_on: date | None


def public_progress(store: Store, app_no: str) -> PublicProgress | None:
    """The customer's view of one application (None if there is no such application): one indexed read of
    the application row and one of its tasks."""
    with store.read() as conn:
        app = conn.execute(select(APPS.c.id, APPS.c.created_at, APPS.c.completed_at, APPS.c.status)
                           .where(APPS.c.app_no == app_no)).one_or_none()
        if app is None:
            return None
        items = conn.execute(select(ITEMS.c.node_name, ITEMS.c.status, ITEMS.c.completed_at, ITEMS.c.due_at,
                                    ITEMS.c.clock_stopped)
                             .where(ITEMS.c.application_id == app.id, ITEMS.c.status.in_(("ready", "completed")))
                             .order_by(ITEMS.c.created_at, ITEMS.c.completed_at)).all()
    finished = sorted((PublicStep(i.node_name, i.completed_at.date()) for i in items
                       if i.status == "completed" and i.completed_at is not None),
                      key=lambda step: step.on or date.min)
    current = tuple(PublicStep(i.node_name, i.due_at.date() if i.due_at else None, bool(i.clock_stopped))
                    for i in items if i.status == "ready")
    return PublicProgress(app.created_at.date(), tuple(finished), current,
                          app.completed_at.date() if app.status == "completed" and app.completed_at else None)
