"""The customer's side on the supervision dashboard: independent 回访 results per office and per customer
manager, and complaints and reports with those past their deadline. Counted in SQL over indexed columns;
the tables are one row per application at most (回访) or far fewer (cases), so the live query stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select

from ..store import Store
from ..store.tables import COMPLAINTS, FOLLOW_UPS, STATIONS, USERS
from .complaints import KINDS


@dataclass(frozen=True)
class FollowUpGroup:
    """Independent 回访 results of one office or one manager over a period (and what is still open now)."""

    key: str | None
    name: str
    done: int
    reached: int
    satisfied: int  # 满意 or 非常满意
    dissatisfied: int  # 不满意 or 非常不满意
    score_sum: int
    nominated: int
    improper: int
    open: int
    overdue: int

    @property
    def average(self) -> float | None:
        """Mean satisfaction (1–5) of the calls that reached the customer."""
        return self.score_sum / self.reached if self.reached else None

    @property
    def satisfied_rate(self) -> float | None:
        """Share of reached customers satisfied or very satisfied."""
        return self.satisfied / self.reached if self.reached else None


@dataclass(frozen=True)
class CaseCounts:
    """Complaints or reports: filed in the period, and open, overdue, answered (late) among them; plus every
    open one past its deadline, whenever filed."""

    kind: str
    filed: int
    answered: int
    answered_late: int
    open: int
    overdue_now: int

    @property
    def kind_name(self) -> str:
        """投诉 or 举报."""
        return KINDS.get(self.kind, self.kind)


@dataclass(frozen=True)
class CustomerFigures:
    """The customer-side figures of one period."""

    first: datetime
    end: datetime
    total: FollowUpGroup
    by_office: tuple[FollowUpGroup, ...]
    by_manager: tuple[FollowUpGroup, ...]
    cases: tuple[CaseCounts, ...]


def customer_figures(store: Store, clock: Callable[[], datetime], start: datetime, end: datetime) -> CustomerFigures:
    """回访 results per office and per manager for follow-ups done in [start, end), open ones as of now; and the
    complaints and reports filed in the period."""
    now = clock()
    in_period = and_(FOLLOW_UPS.c.status == "done", FOLLOW_UPS.c.done_at >= start, FOLLOW_UPS.c.done_at < end)
    is_open = FOLLOW_UPS.c.status == "open"

    def measures() -> list[Any]:
        return [
            func.sum(case((in_period, 1), else_=0)),
            func.sum(case((and_(in_period, FOLLOW_UPS.c.reached.is_(True)), 1), else_=0)),
            func.sum(case((and_(in_period, FOLLOW_UPS.c.satisfaction >= 4), 1), else_=0)),
            func.sum(case((and_(in_period, FOLLOW_UPS.c.satisfaction <= 2), 1), else_=0)),
            func.sum(case((in_period, func.coalesce(FOLLOW_UPS.c.satisfaction, 0)), else_=0)),
            func.sum(case((and_(in_period, FOLLOW_UPS.c.nominated.is_(True)), 1), else_=0)),
            func.sum(case((and_(in_period, FOLLOW_UPS.c.improper.is_(True)), 1), else_=0)),
            func.sum(case((is_open, 1), else_=0)),
            func.sum(case((and_(is_open, FOLLOW_UPS.c.due_at < now), 1), else_=0)),
        ]

    relevant = in_period | is_open
    with store.read() as conn:
        total_row = conn.execute(select(*measures()).where(relevant)).one()
        offices = conn.execute(select(FOLLOW_UPS.c.office, *measures()).where(relevant)
                               .group_by(FOLLOW_UPS.c.office)).all()
        managers = conn.execute(select(FOLLOW_UPS.c.manager, *measures()).where(relevant)
                                .group_by(FOLLOW_UPS.c.manager)).all()
        station_names = dict(conn.execute(select(STATIONS.c.code, STATIONS.c.name)).all())
        people = dict(conn.execute(select(USERS.c.username, USERS.c.display_name)).all())
        filed = and_(COMPLAINTS.c.filed_at >= start, COMPLAINTS.c.filed_at < end)
        cases = conn.execute(select(
            COMPLAINTS.c.kind,
            func.sum(case((filed, 1), else_=0)),
            func.sum(case((and_(filed, COMPLAINTS.c.status == "answered"), 1), else_=0)),
            func.sum(case((and_(filed, COMPLAINTS.c.status == "answered",
                                COMPLAINTS.c.answered_at > COMPLAINTS.c.due_at), 1), else_=0)),
            func.sum(case((and_(filed, COMPLAINTS.c.status == "open"), 1), else_=0)),
            func.sum(case((and_(COMPLAINTS.c.status == "open", COMPLAINTS.c.due_at < now), 1), else_=0)),
        ).where(filed | (COMPLAINTS.c.status == "open")).group_by(COMPLAINTS.c.kind)).all()

    def group(key: str | None, name: str, row: Any) -> FollowUpGroup:
        return FollowUpGroup(key, name, *(int(v or 0) for v in row))

    by_kind = {r[0]: CaseCounts(r[0], *(int(v or 0) for v in r[1:])) for r in cases}
    return CustomerFigures(
        start, end, group(None, "合计", total_row),
        tuple(sorted((group(r[0], station_names.get(r[0], "未划分供电所") if r[0] else "未划分供电所", r[1:])
                      for r in offices), key=lambda g: g.name)),
        tuple(sorted((group(r[0], people.get(r[0], "未指派客户经理") if r[0] else "未指派客户经理", r[1:])
                      for r in managers), key=lambda g: g.name)),
        tuple(by_kind.get(kind, CaseCounts(kind, 0, 0, 0, 0, 0)) for kind in KINDS))
