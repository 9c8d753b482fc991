"""The supervision figures kept per day as steps commit, so that a dashboard for any period adds up rows
instead of scanning work items (5–15 s at a million applications), and open tasks are counted, not scanned.

Three tables (migration 0014):

* ``daily_figures`` — per day, variant, subject (a node; ``''`` for the application; an acceptor for entry
  lags) and figure, a count, and for durations and lags a histogram bucket:

  ======== ======== ============================================================
  figure   bucket   counts
  ======== ======== ============================================================
  done     0        tasks of the node completed that day
  limited  0        … of which had a time limit (clock not stopped)
  on_time  0        … of which were completed by their due time
  hours    duration ready → completed in calendar hours (:func:`bucket_of`)
  workdays duration the same in working days (only where the calendar covers it)
  m_hours  duration ``hours`` and ``workdays`` again per month (``day``: its first day), for long periods
  m_workd… duration
  finished 0        applications completed that day (subject ``''``)
  e2e_lim  0        … of which had a limited node;  ``e2e_ok``: every limited node on time
  score    1–5      回访 satisfaction scores given that day
  accepted 0        applications with a first-contact time accepted that day (subject: acceptor)
  lag      hours    … by the whole hours (rounded up) between first contact and acceptance
  ======== ======== ============================================================

* ``open_task_counts`` — open tasks per node, with or without a limit, clock stopped or not;
* ``entry_lags`` — each application accepted after its first contact, for the list of the longest lags.

Durations come back as the median and 90th percentile of a histogram whose buckets are 5 % wide (a
bucket reports the mean of its values: within 2.5 % of the exact figure, exact where a bucket holds one
value); counts are exact. :class:`FigureHook` keeps them as steps commit
(one sorted batch per step, so that concurrent steps lock rows in one order); :func:`backfill` fills them
once for a database that had applications before (``init``), and :func:`kept_dashboard` reads them.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, and_, case, false, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from ..casework.hooks import ClosedTask, OpeningTask, StepContext, StepHook
from ..store import Store
from ..store.tables import APPS, CLOCKS, DAILY, ENTRY_LAGS, EVENTS, ITEMS, OPEN_COUNTS
from ..timelimits.calendar import CalendarNotCovered, WorkingCalendar
from ..vocabulary import AppStatus, EventKind, TaskStatus

RATIO = 1.05
SCALE = 100.0
MAX_LAG_HOURS = 24 * 400
FOLLOW_UP_NODES = ("hv_follow_up",)
SATISFACTION_FIELD = "satisfaction_score"
LATE_LIST_LIMIT = 200
"""The dashboard lists at most this many late entries (the longest lags first); the counts cover all."""

DAILY_KEY = ("day", "process_key", "subject", "figure", "bucket")
HISTOGRAMS = ("hours", "workdays")
MONTH_HISTOGRAMS = ("m_hours", "m_workdays")
"""The same histograms per month (``day`` is the month's first day), for the months a period covers whole."""
OPEN_KEY = ("process_key", "node_id", "has_limit", "clock_stopped")


def bucket_of(value: float) -> int:
    """The histogram bucket of a duration (hours or working days): 5 % wide above 0.01."""
    return int(math.floor(math.log1p(max(0.0, value) * SCALE) / math.log(RATIO)))


def bucket_value(bucket: int) -> float:
    """The middle of a bucket (what a percentile falling in it reports)."""
    low = (RATIO ** bucket - 1) / SCALE
    high = (RATIO ** (bucket + 1) - 1) / SCALE
    return (low + high) / 2


def histogram_percentile(histogram: Mapping[int, tuple[int, float]], q: float) -> float:
    """The q-th percentile (0–100, ranks as :func:`engine.oversight.supervision.percentile`) of a histogram of
    bucket → (count, sum of values): a rank falling in a bucket reads the mean of its values (exact when
    they are all one value, within the bucket's 5 % otherwise)."""
    total = sum(n for n, _ in histogram.values())
    if not total:
        raise ValueError("percentile of no values")
    rank = (total - 1) * q / 100

    def at(position: int) -> float:
        seen = 0
        for bucket in sorted(histogram):
            n, value_sum = histogram[bucket]
            seen += n
            if position < seen:
                return value_sum / n if n else bucket_value(bucket)
        return bucket_value(max(histogram))

    low, high = math.floor(rank), math.ceil(rank)
    return at(low) + (at(high) - at(low)) * (rank - low)


def lag_bucket(hours: float) -> int:
    """Whole hours, rounded up (a lag of 24.0 h is 24; 24.1 h is 25), capped."""
    return min(MAX_LAG_HOURS, max(0, math.ceil(hours - 1e-9)))


# ----------------------------------------------------------------------------- counting


class Tally:
    """The increments of one step (or one backfill batch), merged by key before they are written."""

    def __init__(self) -> None:
        self.daily: dict[tuple[Any, ...], list[Any]] = {}
        self.open: dict[tuple[Any, ...], list[Any]] = {}
        self.lags: list[dict[str, Any]] = []

    def add(self, day: date, process_key: str, subject: str, figure: str, bucket: int = 0, n: int = 1,
            name: str = "", value: float = 0.0) -> None:
        """Count ``n`` more of a daily figure (of ``value`` each, for a histogram's bucket)."""
        entry = self.daily.setdefault((day, process_key, subject, figure, bucket), [0, name, 0.0])
        entry[0] += n
        entry[2] += value * n

    def opened(self, process_key: str, node_id: str, due_at: datetime | None, stopped: bool, n: int = 1,
               name: str = "") -> None:
        """An open task more (or fewer, ``n`` < 0) at a node."""
        key = (process_key, node_id, due_at is not None, bool(stopped))
        entry = self.open.setdefault(key, [0, name])
        entry[0] += n
        entry[1] = entry[1] or name

    def completed(self, calendar: WorkingCalendar | None, process_key: str, node_id: str, name: str,
                  created_at: datetime, completed_at: datetime, due_at: datetime | None, stopped: bool) -> None:
        """A task completed: its node's counts, on-time and duration buckets on the day it was completed."""
        day = completed_at.date()
        self.add(day, process_key, node_id, "done", name=name)
        if due_at is not None and not stopped:
            self.add(day, process_key, node_id, "limited", name=name)
            if completed_at <= due_at:
                self.add(day, process_key, node_id, "on_time", name=name)
        hours = max(0.0, (completed_at - created_at).total_seconds() / 3600)
        month = day.replace(day=1)
        self.add(day, process_key, node_id, "hours", bucket_of(hours), name=name, value=hours)
        self.add(month, process_key, node_id, "m_hours", bucket_of(hours), name=name, value=hours)
        if calendar is not None:
            try:
                days = max(0.0, calendar.working_days_between(created_at, completed_at))
            except CalendarNotCovered:
                return
            self.add(day, process_key, node_id, "workdays", bucket_of(days), name=name, value=days)
            self.add(month, process_key, node_id, "m_workdays", bucket_of(days), name=name, value=days)

    def finished(self, day: date, process_key: str, limited: int, late: int) -> None:
        """An application completed; on time end to end when it had limits and none was missed."""
        self.add(day, process_key, "", "finished")
        if limited:
            self.add(day, process_key, "", "e2e_lim")
            if not late:
                self.add(day, process_key, "", "e2e_ok")

    def accepted(self, application_id: int, app_no: str, process_key: str, created_by: str,
                 first_contact_at: datetime | None, created_at: datetime) -> None:
        """An application accepted: how long after the customer's first contact."""
        if first_contact_at is None:
            return
        hours = max(0.0, (created_at - first_contact_at).total_seconds() / 3600)
        self.add(created_at.date(), process_key, created_by, "accepted")
        self.add(created_at.date(), process_key, created_by, "lag", lag_bucket(hours))
        if hours > 0:
            self.lags.append({"application_id": application_id, "app_no": app_no, "process_key": process_key,
                              "created_by": created_by, "first_contact_at": first_contact_at,
                              "created_at": created_at, "lag_hours": hours})

    def write(self, conn: Connection) -> None:
        """Add everything to the tables: open counts first, then daily figures, each in key order."""
        if self.open:
            _upsert(conn, OPEN_COUNTS, OPEN_KEY, [
                dict(zip(OPEN_KEY, key), count=v[0], node_name=v[1]) for key, v in sorted(self.open.items())
                if v[0]])
        if self.daily:
            _upsert(conn, DAILY, DAILY_KEY, [
                dict(zip(DAILY_KEY, key), count=v[0], name=v[1], total=v[2]) for key, v in sorted(self.daily.items())
                if v[0]])
        if self.lags:
            conn.execute(ENTRY_LAGS.insert(), self.lags)
        self.daily, self.open, self.lags = {}, {}, []


def _upsert(conn: Connection, table: Table, keys: Sequence[str], rows: list[dict[str, Any]]) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE SET count = count + excluded.count (and the total likewise), on
    SQLite and PostgreSQL."""
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table)
    added = {"count": table.c.count + stmt.excluded.count}
    if "total" in table.c:
        added["total"] = table.c.total + stmt.excluded.total
    stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_=added)
    conn.execute(stmt, rows)


CLOSED_ITEMS = select(ITEMS.c.id, ITEMS.c.process_key, ITEMS.c.node_id, ITEMS.c.node_name, ITEMS.c.status,
                      ITEMS.c.created_at, ITEMS.c.completed_at, ITEMS.c.due_at, ITEMS.c.clock_stopped)


class FigureHook(StepHook):
    """Keeps the figures as steps commit: tasks opened and closed, applications accepted and finished."""

    def __init__(self, calendar: Callable[[], WorkingCalendar]) -> None:
        self.calendar = calendar

    def step_done(self, step: StepContext, opened: Sequence[OpeningTask], closed: Sequence[ClosedTask]) -> None:
        status, inputs = step.status, step.inputs
        tally = Tally()
        conn = step.conn
        for o in opened:
            item = o.item
            tally.opened(item["process_key"], item["node_id"], item.get("due_at"), bool(item.get("clock_stopped")),
                         name=item["node_name"])
        if closed:
            calendar = self._calendar()
            rows = conn.execute(CLOSED_ITEMS.where(ITEMS.c.id.in_([c.id for c in closed]))).all()
            for r in rows:
                tally.opened(r.process_key, r.node_id, r.due_at, bool(r.clock_stopped), -1)
                if r.status == TaskStatus.COMPLETED and r.completed_at is not None:
                    tally.completed(calendar, r.process_key, r.node_id, r.node_name, r.created_at, r.completed_at,
                                    r.due_at, bool(r.clock_stopped))
                    score = inputs.get(SATISFACTION_FIELD)
                    if (r.node_id in FOLLOW_UP_NODES and isinstance(score, int) and not isinstance(score, bool)
                            and 1 <= score <= 5):
                        tally.add(r.completed_at.date(), r.process_key, r.node_id, "score", score)
        if not closed and _is_start(conn, step):  # an acceptance closes nothing
            app = conn.execute(select(APPS.c.id, APPS.c.app_no, APPS.c.process_key, APPS.c.created_by,
                                      APPS.c.first_contact_at, APPS.c.created_at)
                               .where(APPS.c.id == step.application_id)).one()
            tally.accepted(app.id, app.app_no, app.process_key, app.created_by, app.first_contact_at, app.created_at)
        if status == AppStatus.COMPLETED:
            limited, late = _end_to_end(conn, step.application_id)
            key = conn.execute(select(APPS.c.process_key).where(APPS.c.id == step.application_id)).scalar_one()
            tally.finished(step.now.date(), key, limited, late)
        tally.write(conn)

    def _calendar(self) -> WorkingCalendar | None:
        return self.calendar()


def _is_start(conn: Connection, step: StepContext) -> bool:
    """Whether this step accepted the application (it has no audit event yet: the step's own come after)."""
    return conn.execute(select(APPS.c.audit_seq).where(APPS.c.id == step.application_id)).scalar_one() == 0


def _end_to_end(conn: Connection, application_id: int) -> tuple[int, int]:
    """How many of an application's policy-clock rounds were measured against a limit, and how many of those
    missed it (the regulations' counting; node due dates are internal targets and do not count here)."""
    row = conn.execute(select(func.count(CLOCKS.c.id), MISSED).where(
        CLOCKS.c.application_id == application_id, *MEASURED)).one()
    return int(row[0] or 0), int(row[1] or 0)


MEASURED = (CLOCKS.c.status.in_(("met", "missed")), CLOCKS.c.kind == "limit")
"""The clock rounds an application's end-to-end on-time figure reads: limits that were met or missed."""
MISSED = func.sum(case((CLOCKS.c.status == "missed", 1), else_=0))


# ----------------------------------------------------------------------------- filling once


FLUSH_EVERY = 20_000


def backfill(store: Store, calendar: Callable[[], WorkingCalendar],
             progress: Callable[[str], None] | None = None, recount: bool = False) -> bool:
    """Fill the kept figures from the work items and applications already there (one pass over them), unless
    they hold anything already (``recount``: count everything again from scratch); True if they were filled.
    For databases older than migration 0014, and for benchmark databases filled without steps."""
    with store.begin() as conn:
        if recount:
            for table in (DAILY, OPEN_COUNTS, ENTRY_LAGS):
                conn.execute(table.delete())
        elif any(conn.execute(select(t).limit(1)).first() is not None for t in (DAILY, OPEN_COUNTS, ENTRY_LAGS)):
            return False
        if conn.execute(select(APPS.c.id).limit(1)).first() is None:
            return False
        tally = Tally()
        cal = calendar()
        seen = 0

        def tick() -> None:
            nonlocal seen
            seen += 1
            if seen % FLUSH_EVERY == 0:
                tally.write(conn)
                if progress is not None:
                    progress(f"  figures: {seen:,} rows counted")

        for r in conn.execute(CLOSED_ITEMS.where(ITEMS.c.status == TaskStatus.READY)
                              .execution_options(yield_per=FLUSH_EVERY)):
            tally.opened(r.process_key, r.node_id, r.due_at, bool(r.clock_stopped), name=r.node_name)
            tick()
        for r in conn.execute(CLOSED_ITEMS.where(ITEMS.c.status == TaskStatus.COMPLETED,
                                                 ITEMS.c.completed_at.is_not(None))
                              .execution_options(yield_per=FLUSH_EVERY)):
            tally.completed(cal, r.process_key, r.node_id, r.node_name, r.created_at, r.completed_at, r.due_at,
                            bool(r.clock_stopped))
            tick()
        finished = (select(APPS.c.process_key, APPS.c.completed_at, func.count(CLOCKS.c.id), MISSED)
                    .select_from(APPS.outerjoin(CLOCKS, and_(CLOCKS.c.application_id == APPS.c.id, *MEASURED)))
                    .where(APPS.c.status == AppStatus.COMPLETED, APPS.c.completed_at.is_not(None))
                    .group_by(APPS.c.id, APPS.c.process_key, APPS.c.completed_at))
        for key, completed_at, n_limited, n_late in conn.execute(finished.execution_options(yield_per=FLUSH_EVERY)):
            tally.finished(completed_at.date(), key, int(n_limited or 0), int(n_late or 0))
            tick()
        for a in conn.execute(select(APPS.c.id, APPS.c.app_no, APPS.c.process_key, APPS.c.created_by,
                                     APPS.c.first_contact_at, APPS.c.created_at)
                              .where(APPS.c.first_contact_at.is_not(None)).execution_options(yield_per=FLUSH_EVERY)):
            tally.accepted(a.id, a.app_no, a.process_key, a.created_by, a.first_contact_at, a.created_at)
            tick()
        scores = (select(ITEMS.c.process_key, ITEMS.c.node_id, ITEMS.c.completed_at, EVENTS.c.payload)
                  .select_from(ITEMS.join(EVENTS, and_(EVENTS.c.application_id == ITEMS.c.application_id,
                                                       EVENTS.c.task_id == ITEMS.c.id,
                                                       EVENTS.c.kind == EventKind.TASK_COMPLETED)))
                  .where(ITEMS.c.node_id.in_(FOLLOW_UP_NODES), ITEMS.c.status == TaskStatus.COMPLETED))
        for key, node_id, completed_at, payload in conn.execute(scores):
            value = (json.loads(payload).get("data") or {}).get(SATISFACTION_FIELD)
            if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5:
                tally.add(completed_at.date(), key, node_id, "score", value)
        tally.write(conn)
    return True


# ----------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class NodeFigures:
    """One node's kept figures over a period."""

    process_key: str
    node_id: str
    name: str
    done: int
    limited: int
    on_time: int
    hours: Mapping[int, tuple[int, float]]  # bucket → (tasks, sum of their hours)
    workdays: Mapping[int, tuple[int, float]]


@dataclass(frozen=True)
class PeriodFigures:
    """Every kept figure of a period (and variant), added up from its days."""

    nodes: tuple[NodeFigures, ...]
    finished: Mapping[str, tuple[int, int, int]]  # variant → finished, with a limit, on time end to end
    scores: Mapping[int, int]
    accepted: Mapping[str, int]  # acceptor → applications with a first contact time
    lags: Mapping[str, Mapping[int, int]]  # acceptor → whole hours → applications


def whole_months(first: date, last: date) -> tuple[list[date], list[tuple[date, date]]]:
    """The months lying wholly inside ``first``…``last`` (by their first day), and the day ranges left over."""
    start = first if first.day == 1 else (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    months: list[date] = []
    month = start
    while True:
        following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
        if following - timedelta(days=1) > last:
            break
        months.append(month)
        month = following
    if not months:
        return [], [(first, last)]
    edges = []
    if first < months[0]:
        edges.append((first, months[0] - timedelta(days=1)))
    after = (months[-1].replace(day=28) + timedelta(days=4)).replace(day=1)
    if after <= last:
        edges.append((after, last))
    return months, edges


def period_figures(conn: Connection, first: date, last: date, process_key: str | None = None) -> PeriodFigures:
    """Add up the kept figures of the days from ``first`` to ``last`` (one GROUP BY over the period's rows).
    Duration histograms are read per month for the months the period covers whole, per day for the rest:
    a year's period reads a few hundred thousand rows at a million applications, not millions."""
    months, edges = whole_months(first, last)
    by_day = or_(*(and_(DAILY.c.day >= a, DAILY.c.day <= b) for a, b in edges)) if edges else false()
    cond = [DAILY.c.day >= first.replace(day=1), DAILY.c.day <= last,
            or_(and_(DAILY.c.figure.not_in(HISTOGRAMS + MONTH_HISTOGRAMS), DAILY.c.day >= first),
                and_(DAILY.c.figure.in_(HISTOGRAMS), by_day),
                and_(DAILY.c.figure.in_(MONTH_HISTOGRAMS), DAILY.c.day.in_(months) if months else false()))]
    if process_key:
        cond.append(DAILY.c.process_key == process_key)
    q = (select(DAILY.c.process_key, DAILY.c.subject, DAILY.c.figure, DAILY.c.bucket, func.sum(DAILY.c.count),
                func.max(DAILY.c.name), func.sum(DAILY.c.total))
         .where(*cond).group_by(DAILY.c.process_key, DAILY.c.subject, DAILY.c.figure, DAILY.c.bucket))
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    histograms: dict[tuple[str, str, str], dict[int, tuple[int, float]]] = defaultdict(dict)
    names: dict[tuple[str, str], str] = {}
    finished: dict[str, list[int]] = {}
    scores: dict[int, int] = dict.fromkeys(range(1, 6), 0)
    accepted: dict[str, int] = defaultdict(int)
    lags: dict[str, dict[int, int]] = defaultdict(dict)
    for key, subject, figure, bucket, n, name, value_sum in conn.execute(q):
        n = int(n or 0)
        if figure in ("done", "limited", "on_time"):
            counts[(key, subject)][figure] += n
            names[(key, subject)] = name or names.get((key, subject), subject)
        elif figure in HISTOGRAMS + MONTH_HISTOGRAMS:
            measure = figure.removeprefix("m_")
            count_, total_ = histograms[(key, subject, measure)].get(bucket, (0, 0.0))
            histograms[(key, subject, measure)][bucket] = (count_ + n, total_ + float(value_sum or 0.0))
        elif figure in ("finished", "e2e_lim", "e2e_ok"):
            f = finished.setdefault(key, [0, 0, 0])
            f[("finished", "e2e_lim", "e2e_ok").index(figure)] += n
        elif figure == "score" and 1 <= bucket <= 5:
            scores[bucket] += n
        elif figure == "accepted":
            accepted[subject] += n
        elif figure == "lag":
            lags[subject][bucket] = lags[subject].get(bucket, 0) + n
    nodes = tuple(NodeFigures(k, s, names.get((k, s), s), c["done"], c["limited"], c["on_time"],
                              histograms.get((k, s, "hours"), {}), histograms.get((k, s, "workdays"), {}))
                  for (k, s), c in counts.items() if c["done"])
    return PeriodFigures(nodes, {k: (f[0], f[1], f[2]) for k, f in finished.items()}, scores, dict(accepted),
                         {k: dict(v) for k, v in lags.items()})


def late_list(conn: Connection, start: datetime, end: datetime, limit_hours: float,
              process_key: str | None = None) -> list[Any]:
    """The applications of a period accepted more than ``limit_hours`` after first contact, longest lag first,
    with the evidence of the first contact (only those: entries are kept for lagging applications)."""
    q = (select(ENTRY_LAGS, APPS.c.first_contact_source)
         .join(APPS, APPS.c.id == ENTRY_LAGS.c.application_id)
         .where(ENTRY_LAGS.c.created_at >= start, ENTRY_LAGS.c.created_at < end,
                ENTRY_LAGS.c.lag_hours > limit_hours)
         .order_by(ENTRY_LAGS.c.lag_hours.desc(), ENTRY_LAGS.c.app_no))
    if process_key:
        q = q.where(ENTRY_LAGS.c.process_key == process_key)
    return list(conn.execute(q))


@dataclass(frozen=True)
class OpenCount:
    """Kept open tasks of one node, with or without a time limit, clock stopped or not."""

    process_key: str
    node_id: str
    node_name: str
    has_limit: bool
    clock_stopped: bool
    count: int


def open_counts(conn: Connection, process_key: str | None = None) -> list[OpenCount]:
    """The kept open-task counts (rows with none left are skipped)."""
    q = select(OPEN_COUNTS).where(OPEN_COUNTS.c.count != 0)
    if process_key:
        q = q.where(OPEN_COUNTS.c.process_key == process_key)
    return [OpenCount(r.process_key, r.node_id, r.node_name, bool(r.has_limit), bool(r.clock_stopped), int(r._mapping["count"]))
            for r in conn.execute(q)]


def median_and_p90(histogram: Mapping[int, tuple[int, float]]) -> tuple[float, float]:
    """The median and 90th percentile of a duration histogram."""
    return histogram_percentile(histogram, 50), histogram_percentile(histogram, 90)


def median_lag(histogram: Mapping[int, int]) -> float:
    """The median of whole-hour lags (each application counts as the whole hours of its bucket)."""
    total = sum(histogram.values())
    if not total:
        return 0.0

    def at(position: int) -> float:
        seen = 0
        for hours in sorted(histogram):
            seen += histogram[hours]
            if position < seen:
                return float(hours)
        return float(max(histogram))

    return (at((total - 1) // 2) + at(total // 2)) / 2


__all__ = ["FigureHook", "NodeFigures", "OpenCount", "PeriodFigures", "Tally", "backfill", "bucket_of",
           "bucket_value", "histogram_percentile", "late_list", "lag_bucket", "median_and_p90", "median_lag",
           "open_counts", "period_figures"]

