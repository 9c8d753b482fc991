"""The customer's own view of an application (办事公开): where it stands, with dates, and nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from ..store import Store
from ..store.tables import APPS, ITEMS
from ..vocabulary import ENDED, AppStatus



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
    status: str = AppStatus.RUNNING
    status_name: str = "办理中"
    # suspended, withdrawn or terminated: on which day, and the reason staff recorded (told to the customer)
    status_on: date | None = None
    status_reason: str | None = None


def public_progress(store: Store, app_no: str) -> PublicProgress | None:
    """The customer's view of one application (None if there is no such application): one indexed read of
    the application row and one of its tasks."""
    with store.read() as conn:
        app = conn.execute(select(APPS.c.id, APPS.c.created_at, APPS.c.completed_at, APPS.c.status,
                                  APPS.c.status_reason, APPS.c.status_changed_at)
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
    held = app.status in (AppStatus.SUSPENDED, *ENDED)
    return PublicProgress(app.created_at.date(), tuple(finished), () if app.status in ENDED else current,
                          app.completed_at.date() if app.status == "completed" and app.completed_at else None,
                          app.status, PUBLIC_STATUS.get(app.status, "办理中"),
                          app.status_changed_at.date() if held and app.status_changed_at else None,
                          app.status_reason if held else None)


PUBLIC_STATUS = {AppStatus.RUNNING: "办理中", AppStatus.ERROR: "办理中", AppStatus.COMPLETED: "已办结",
                 AppStatus.SUSPENDED: "暂停办理", AppStatus.WITHDRAWN: "已撤销", AppStatus.TERMINATED: "已终止"}
"""How the customer reads a status: an internal error is no concern of theirs — the case is in hand."""
