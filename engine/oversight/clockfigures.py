"""The dashboard's figures of the policy clocks (时限): how often each clock stopped within its limit, how long
it ran (median and 90th percentile, per variant), how the counting ones stand now, and which expire soonest.

Read-only, like :mod:`engine.oversight.supervision`. A clock that stopped in the period counts for the
application once: on time only if none of its rounds in the period missed. Rounds that ended unmeasured
(the process took a path without the clock's stop, the application was withdrawn) count for nothing.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select

from ..store import Store
from ..store.tables import APPS, CLOCKS
from ..timelimits.calendar import CalendarNotCovered, WorkingCalendar
from ..timelimits.clocks import MET, MISSED, OPEN, PAUSED, ClockInfo, clock_info
from .supervision import Period, due_soon_before, percentile

OPEN_STATES: Mapping[str, str] = {"on_time": "时限内", "due_soon": "临期", "overdue": "已超时", "paused": "暂停"}
"""How a counting clock stands now, in the order the dashboard shows them."""


@dataclass(frozen=True)
class ClockOnTime:
    """Applications whose clock stopped in the period, and those where it stopped within its limit."""

    process_key: str
    clock_key: str
    name: str
    applications: int
    on_time: int

    @property
    def rate(self) -> float | None:
        """The share that stopped within the limit."""
        return self.on_time / self.applications if self.applications else None


@dataclass(frozen=True)
class ClockDuration:
    """Working days a clock counted, over the rounds that stopped in the period."""

    process_key: str
    clock_key: str
    name: str
    count: int
    median: float
    p90: float
    limit: int | None  # the limit most of them had


@dataclass(frozen=True)
class ClockOpen:
    """The counting rounds of one clock now, by how they stand."""

    process_key: str
    clock_key: str
    name: str
    counts: Mapping[str, int]

    @property
    def total(self) -> int:
        """All counting rounds of the clock."""
        return sum(self.counts.values())


@dataclass(frozen=True)
class Expiring:
    """A running clock among those whose deadline comes first, with its application."""

    app_no: str
    process_key: str
    customer_name: str
    clock: ClockInfo


@dataclass(frozen=True)
class ClockFigures:
    """Every policy-clock figure of the dashboard for a period and (optionally) a variant."""

    period: Period
    process_key: str | None
    on_time: tuple[ClockOnTime, ...]
    durations: tuple[ClockDuration, ...]
    open: tuple[ClockOpen, ...]
    expiring: tuple[Expiring, ...]


def clock_figures(store: Store, calendar: WorkingCalendar, now: datetime, period: Period,
                  process_key: str | None = None, expiring: int = 10) -> ClockFigures:
    """The policy clocks' figures: stopped in the period (rates, durations), counting now (states, soonest)."""
    stopped = [CLOCKS.c.status.in_((MET, MISSED)), CLOCKS.c.kind == "limit",
               CLOCKS.c.stopped_at >= period.start, CLOCKS.c.stopped_at < period.end]
    counting = [CLOCKS.c.status.in_(OPEN), CLOCKS.c.kind == "limit"]
    if process_key:
        stopped.append(CLOCKS.c.process_key == process_key)
        counting.append(CLOCKS.c.process_key == process_key)
    with store.read() as conn:
        rounds = conn.execute(select(CLOCKS.c.process_key, CLOCKS.c.clock_key, CLOCKS.c.name, CLOCKS.c.application_id,
                                     CLOCKS.c.status, CLOCKS.c.used_days, CLOCKS.c.limit_value)
                              .where(and_(*stopped))).all()
        live = conn.execute(select(CLOCKS.c.process_key, CLOCKS.c.clock_key, CLOCKS.c.name, CLOCKS.c.status,
                                   CLOCKS.c.deadline, CLOCKS.c.warned_at).where(and_(*counting))).all()
        soonest = conn.execute(select(CLOCKS, APPS.c.customer_name).join(APPS, APPS.c.id == CLOCKS.c.application_id)
                               .where(and_(*counting), CLOCKS.c.status != PAUSED, CLOCKS.c.deadline.is_not(None))
                               .order_by(CLOCKS.c.deadline, CLOCKS.c.id).limit(expiring)).all()
    return ClockFigures(period, process_key, tuple(_on_time(rounds)), tuple(_durations(rounds)),
                        tuple(_open(live, calendar, now)),
                        tuple(Expiring(r.app_no, r.process_key, r.customer_name, clock_info(r, calendar, now))
                              for r in soonest))


def _names(rows: Any) -> dict[tuple[str, str], str]:
    return {(r.process_key, r.clock_key): r.name for r in rows}


def _order(key: tuple[str, str]) -> tuple[int, str]:
    return {"hv": 0, "lv": 1, "pv": 2}.get(key[0], 9), key[1]


def _on_time(rounds: Sequence[Any]) -> list[ClockOnTime]:
    verdicts: dict[tuple[str, str], dict[int, bool]] = defaultdict(dict)
    for r in rounds:
        apps = verdicts[(r.process_key, r.clock_key)]
        apps[r.application_id] = apps.get(r.application_id, True) and r.status == MET
    names = _names(rounds)
    return [ClockOnTime(k[0], k[1], names[k], len(v), sum(v.values()))
            for k, v in sorted(verdicts.items(), key=lambda kv: _order(kv[0]))]


def _durations(rounds: Sequence[Any]) -> list[ClockDuration]:
    spans: dict[tuple[str, str], list[float]] = defaultdict(list)
    limits: dict[tuple[str, str], Counter[int]] = defaultdict(Counter)
    for r in rounds:
        if r.used_days is not None:
            spans[(r.process_key, r.clock_key)].append(float(r.used_days))
        if r.limit_value is not None:
            limits[(r.process_key, r.clock_key)][r.limit_value] += 1
    names = _names(rounds)
    return [ClockDuration(k[0], k[1], names[k], len(v), statistics.median(v), percentile(v, 90),
                          limits[k].most_common(1)[0][0] if limits[k] else None)
            for k, v in sorted(spans.items(), key=lambda kv: _order(kv[0]))]


def _open(rows: Sequence[Any], calendar: WorkingCalendar, now: datetime) -> list[ClockOpen]:
    try:
        soon = due_soon_before(calendar, now)
    except CalendarNotCovered:
        soon = now
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for r in rows:
        if r.status == PAUSED:
            state = "paused"
        elif r.deadline is not None and r.deadline < now:
            state = "overdue"
        elif r.deadline is not None and (r.warned_at is not None or r.deadline < soon):
            state = "due_soon"
        else:
            state = "on_time"
        counts.setdefault((r.process_key, r.clock_key), dict.fromkeys(OPEN_STATES, 0))[state] += 1
    names = _names(rows)
    return [ClockOpen(k[0], k[1], names[k], c) for k, c in sorted(counts.items(), key=lambda kv: _order(kv[0]))]


class ClockFigureSource:
    """The figures over one engine's store, clock and calendar."""

    def __init__(self, store: Store, clock: Callable[[], datetime], calendar: Callable[[], WorkingCalendar]) -> None:
        self.store, self.clock, self.calendar = store, clock, calendar

    def figures(self, period: Period, process_key: str | None = None, expiring: int = 10) -> ClockFigures:
        """Every policy-clock figure for a period, computed now."""
        return clock_figures(self.store, self.calendar(), self.clock(), period, process_key, expiring)
