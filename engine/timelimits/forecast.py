"""The remaining-time forecast: how many working days an open policy clock still needs, and the risk it misses.

It learns from the clock rounds that finished — of the same variant and clock — where the time went: for every
step a round passed through, how long the round still took from the moment that step became ready (its
working days, the customer's time left out) and how long the step itself took. An open clock is then
forecast from where it stands: for each step open now, the finished rounds that passed the same step and were
still in it after as long as this one has been (the same path so far, so a 会审 is compared with 会审s and a
send-back with send-backs), the median of what they still took, and the share of them that would end over
the limit from here. With fewer than :data:`MIN_SAMPLES` such rounds it falls back to every round through that
step, then to the clock's median total less the days already used (the naive baseline, which
``bench/forecast.py`` measures the forecast against).

:class:`Forecaster` is pure (rounds in, forecasts out); :class:`Forecasts` reads the history from the store,
keeps a trained forecaster for a while, and writes each open clock's forecast for the task list to sort by.
"""

from __future__ import annotations

import math
import statistics
import threading
import time as monotonic_time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from ..store import Store
from ..store.tables import CLOCKS, ITEMS
from .calendar import CalendarNotCovered, CalendarSource, WorkingCalendar
from .clocks import MET, MISSED, OPEN, Pause, load_pauses, used_days

MIN_SAMPLES = 5
HISTORY_ROUNDS = 5000  # the newest finished rounds learned from
TRAINED_FOR_SECONDS = 600.0
REFRESH_AFTER = timedelta(minutes=10)  # an open clock's stored forecast is renewed when older than this
REFRESH_BATCH = 5000


@dataclass(frozen=True)
class Visit:
    """A task of the application: its step, when it became ready and when it was done (None: still open)."""

    node_id: str
    ready_at: datetime
    done_at: datetime | None


@dataclass(frozen=True)
class Round:
    """One round of one clock: finished (to learn from) or open (to forecast)."""

    process_key: str
    clock_key: str
    started_at: datetime
    stopped_at: datetime | None
    pauses: tuple[Pause, ...]
    visits: tuple[Visit, ...]
    limit: int | None
    app_no: str = ""


@dataclass(frozen=True)
class Forecast:
    """Expected working days to the clock's stop, the chance of missing its limit, and what it rests on."""

    remaining_days: float
    risk: float | None
    samples: int
    basis: str  # step (rounds through the open step) | clock (the clock's rounds) | none

    @property
    def remaining(self) -> float | None:
        """The expected working days, None when there is no history to expect anything from."""
        return None if math.isnan(self.remaining_days) else self.remaining_days

    @property
    def days(self) -> int:
        """The whole working days to promise (at least one while the clock runs)."""
        return max(1, math.ceil(self.remaining_days - 1e-9))


BASIS_NAMES = {"step": "同一环节的历史工单", "clock": "同类时限的历史工单", "none": "无历史数据"}


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


class Forecaster:
    """Forecasts from finished rounds (pure: give it rounds, ask it about an open round at a moment)."""

    def __init__(self, calendar: WorkingCalendar, history: Iterable[Round], min_samples: int = MIN_SAMPLES) -> None:
        self.calendar, self.min_samples = calendar, min_samples
        self.totals: dict[tuple[str, str], list[int]] = defaultdict(list)
        self.steps: dict[tuple[str, str, str], list[tuple[int, int]]] = defaultdict(list)
        self.rounds = 0
        for r in history:
            if r.stopped_at is None:
                continue
            try:
                self._learn(r)
            except CalendarNotCovered:
                continue
            self.rounds += 1

    def _learn(self, r: Round) -> None:
        assert r.stopped_at is not None
        stop, pauses = r.stopped_at, r.pauses
        self.totals[(r.process_key, r.clock_key)].append(used_days(self.calendar, r.started_at, stop, pauses))
        for v in r.visits:
            ready = max(v.ready_at, r.started_at)
            if ready > stop or (v.done_at is not None and v.done_at < r.started_at):
                continue
            done = min(v.done_at or stop, stop)
            dwell = used_days(self.calendar, ready, done, pauses)
            remaining = used_days(self.calendar, ready, stop, pauses)
            self.steps[(r.process_key, r.clock_key, v.node_id)].append((dwell, remaining))

    def baseline(self, r: Round, now: datetime) -> float | None:
        """The naive forecast: the clock's median total less what is used already."""
        totals = self.totals.get((r.process_key, r.clock_key))
        if not totals:
            return None
        return max(0.0, _median(totals) - used_days(self.calendar, r.started_at, now, r.pauses))

    def forecast(self, r: Round, now: datetime) -> Forecast | None:
        """Where an open round is going, seen at ``now`` (None without any history of its clock)."""
        used = used_days(self.calendar, r.started_at, now, r.pauses)
        outcomes: list[tuple[float, float | None, int]] = []
        for v in r.visits:
            if v.ready_at > now or (v.done_at is not None and v.done_at <= now):
                continue
            samples = self.steps.get((r.process_key, r.clock_key, v.node_id), [])
            spent = used_days(self.calendar, max(v.ready_at, r.started_at), now, r.pauses)
            still = [rem - spent for dwell, rem in samples if dwell >= spent]
            if len(still) < self.min_samples:
                still = [rem - spent for _, rem in samples]
            if len(still) < self.min_samples:
                continue
            ahead = [max(0.0, float(x)) for x in still]
            outcomes.append((_median(ahead), self._risk(used, ahead, r.limit), len(ahead)))
        if outcomes:
            remaining = max(o[0] for o in outcomes)
            risks = [o[1] for o in outcomes if o[1] is not None]
            return Forecast(remaining, max(risks) if risks else None, min(o[2] for o in outcomes), "step")
        totals = self.totals.get((r.process_key, r.clock_key), [])
        if not totals:
            return None
        later = [float(t) for t in totals if t >= used] or [float(max(totals))]
        ahead = [t - used for t in later]
        return Forecast(max(0.0, _median(ahead)), self._risk(used, ahead, r.limit), len(ahead), "clock")

    @staticmethod
    def _risk(used: int, ahead: Sequence[float], limit: int | None) -> float | None:
        """The share of comparable rounds that would end over the limit from here (lightly smoothed)."""
        if limit is None:
            return None
        if used > limit:
            return 1.0
        misses = sum(used + x > limit for x in ahead)
        return (misses + 0.5) / (len(ahead) + 1)


def rounds_of(conn: Connection, clock_rows: Sequence[Any]) -> list[Round]:
    """Rounds (with every task of their applications) for policy_clocks rows."""
    visits: dict[int, list[Visit]] = defaultdict(list)
    ids = sorted({r.application_id for r in clock_rows})
    for at in range(0, len(ids), 500):
        chunk = ids[at:at + 500]
        for app_id, node_id, ready, done in conn.execute(
                select(ITEMS.c.application_id, ITEMS.c.node_id, ITEMS.c.created_at, ITEMS.c.completed_at)
                .where(ITEMS.c.application_id.in_(chunk), ITEMS.c.status.in_(("ready", "completed")))):
            visits[app_id].append(Visit(node_id, ready, done))
    return [Round(r.process_key, r.clock_key, r.started_at, r.stopped_at, tuple(load_pauses(r.pauses)),
                  tuple(visits.get(r.application_id, ())), r.limit_value, r.app_no) for r in clock_rows]


def history(conn: Connection, limit: int = HISTORY_ROUNDS) -> list[Round]:
    """The newest finished rounds of every limit clock (met or missed; ended ones measure nothing)."""
    rows = conn.execute(select(CLOCKS).where(CLOCKS.c.status.in_((MET, MISSED)), CLOCKS.c.kind == "limit")
                        .order_by(CLOCKS.c.stopped_at.desc()).limit(limit)).all()
    return rounds_of(conn, rows)


class Forecasts:
    """A forecaster trained on the store's history (retrained now and then), and the stored forecasts."""

    def __init__(self, store: Store, calendars: CalendarSource, clock: Callable[[], datetime],
                 ttl: float = TRAINED_FOR_SECONDS) -> None:
        self.store, self.calendars, self.clock, self.ttl = store, calendars, clock, ttl
        self._trained: Forecaster | None = None
        self._at = 0.0
        self._lock = threading.Lock()

    def forecaster(self, conn: Connection | None = None) -> Forecaster:
        """The trained forecaster (trained again once it is older than ``ttl`` seconds)."""
        with self._lock:
            current = self._trained if monotonic_time.monotonic() - self._at <= self.ttl else None
        if current is None:
            if conn is not None:
                current = Forecaster(self.calendars.get(conn), history(conn))
            else:
                with self.store.read() as reading:
                    current = Forecaster(self.calendars.get(reading), history(reading))
            with self._lock:
                self._trained, self._at = current, monotonic_time.monotonic()
        return current

    def history(self, limit: int = HISTORY_ROUNDS) -> list[Round]:
        """The finished rounds the forecaster learns from (newest first), with the tasks of their applications."""
        with self.store.read() as conn:
            return history(conn, limit)

    def forget(self) -> None:
        """Train again on the next question (the history changed a lot: a test, a benchmark)."""
        with self._lock:
            self._trained = None

    def for_rows(self, conn: Connection, rows: Sequence[Any], now: datetime) -> dict[int, Forecast | None]:
        """The forecast of each open clock row, by row id."""
        model = self.forecaster(conn)
        out: dict[int, Forecast | None] = {}
        for row, r in zip(rows, rounds_of(conn, rows)):
            try:
                out[row.id] = model.forecast(r, now) if row.status in OPEN else None
                if out[row.id] is None and row.status in OPEN and r.limit is not None \
                        and used_days(model.calendar, r.started_at, now, r.pauses) > r.limit:
                    out[row.id] = Forecast(math.nan, 1.0, 0, "none")  # already over: no history needed
            except CalendarNotCovered:
                out[row.id] = None
        return out

    def refresh(self, now: datetime | None = None, batch: int = REFRESH_BATCH, force: bool = False) -> int:
        """Store fresh forecasts on the open clocks whose forecast is missing or old; returns how many."""
        now = now or self.clock()
        with self.store.read() as conn:  # learning and forecasting read only: no write lock held meanwhile
            q = select(CLOCKS).where(CLOCKS.c.status.in_(OPEN), CLOCKS.c.kind == "limit")
            if not force:
                q = q.where((CLOCKS.c.forecast_at.is_(None)) | (CLOCKS.c.forecast_at < now - REFRESH_AFTER))
            rows = conn.execute(q.order_by(CLOCKS.c.forecast_at.is_not(None), CLOCKS.c.forecast_at).limit(batch)).all()
            if not rows:
                return 0
            forecasts = self.for_rows(conn, rows, now)
        with self.store.begin() as conn:
            conn.execute(update(CLOCKS).where(CLOCKS.c.id == bindparam("row_id")).values(
                forecast_days=bindparam("days"), risk=bindparam("risk"), forecast_at=bindparam("at")),
                [{"row_id": row.id, "days": f.remaining if f else None, "risk": f.risk if f else None,
                  "at": now} for row in rows for f in (forecasts.get(row.id),)])
        return len(rows)

