"""What the customer sees of their application (办事公开, 一口对外, 三不指定): the milestones they know with the
time limit of the one under way, their customer manager's name and work phone, the qualified firms they may
choose from, and the complaints they filed here. Nothing else: no staff usernames, no internal ids, no data.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, bindparam, select

from handlers.settings import PolicySettings

from ..casework.records import current_data
from ..store import Store
from ..store.tables import APPS, ITEMS
from ..timelimits.calendar import WorkingCalendar
from ..vocabulary import PROCESS_NAMES, AppStatus
from .complaints import CaseInfo, Complaints
from .firms import FirmInfo, Firms
from .milestones import ClockRound, MilestoneState, TaskRow, milestone_states, track_for, with_clocks
from .notices import manager_of


@dataclass(frozen=True)
class ManagerContact:
    """The one person a customer deals with (一口对外): name and work phone."""

    name: str
    phone: str | None


@dataclass(frozen=True)
class CustomerProgress:
    """The customer's view of one application."""

    app_no: str
    process_name: str
    accepted_on: date
    status: str
    completed_on: date | None
    milestones: tuple[MilestoneState, ...]
    manager: ManagerContact | None
    firms: tuple[tuple[str, tuple[FirmInfo, ...]], ...]
    cases: tuple[CaseInfo, ...]
    hotline: str

    @property
    def current(self) -> MilestoneState | None:
        """The milestone under way (None once the power is on)."""
        return next((m for m in self.milestones if m.state == "current"), None)

    @property
    def powered_on(self) -> bool:
        """Whether every milestone is done (the power is on)."""
        return bool(self.milestones) and all(m.state in ("done", "skipped") for m in self.milestones)


APP_BY_NUMBER = select(APPS.c.id, APPS.c.app_no, APPS.c.process_key, APPS.c.status, APPS.c.created_at,
                       APPS.c.completed_at, APPS.c.wf_meta).where(APPS.c.app_no == bindparam("app_no"))
TASKS_OF_APP = (select(ITEMS.c.node_id, ITEMS.c.node_name, ITEMS.c.status, ITEMS.c.created_at, ITEMS.c.completed_at,
                       ITEMS.c.due_at, ITEMS.c.clock_stopped)
                .where(ITEMS.c.application_id == bindparam("app_id")).order_by(ITEMS.c.created_at, ITEMS.c.id))
"""Built once: building a statement costs more than running it on SQLite (the page is looked up often)."""


def customer_progress(store: Store, calendar: Callable[[Connection | None], WorkingCalendar], firms: Firms,
                      complaints: Complaints, policy: PolicySettings, app_no: str,
                      now: datetime, clocks: Callable[[str], Sequence[ClockRound]] = lambda _: ()
                      ) -> CustomerProgress | None:
    """One application as its customer sees it (None if there is no such application), read in one snapshot;
    ``clocks`` gives the application's policy-clock rounds, which count the milestone under way."""
    with store.read() as conn:
        app = conn.execute(APP_BY_NUMBER, {"app_no": app_no.strip()}).one_or_none()
        if app is None:
            return None
        rows = [TaskRow(r.node_id, r.node_name, r.status, r.created_at, r.completed_at, r.due_at, bool(r.clock_stopped))
                for r in conn.execute(TASKS_OF_APP, {"app_id": app.id})]
        data = current_data(conn, app.id, json.loads(app.wf_meta))
        manager = manager_of(conn, data)
        cal = calendar(conn)
        shown = firms.shown(app.id + now.date().toordinal(), conn)
        cases = complaints.filed_online(app.app_no, conn)
    track = track_for(app.process_key, (r.node_id for r in rows))
    milestones = milestone_states(track, app.created_at, rows, data, lambda: cal, now) if track else ()
    if any(m.state == "current" and m.clock for m in milestones):
        milestones = with_clocks(milestones, clocks(app.app_no))
    completed = app.status == AppStatus.COMPLETED and app.completed_at is not None
    return CustomerProgress(
        app.app_no, PROCESS_NAMES.get(app.process_key, ""), app.created_at.date(), app.status,
        app.completed_at.date() if completed and app.completed_at else None, milestones,
        ManagerContact(manager[1], manager[2]) if manager else None, shown, tuple(cases), policy.service_hotline)
