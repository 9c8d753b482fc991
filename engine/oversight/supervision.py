"""Read-only figures for supervision (监管看板).

Every function takes its :class:`Sources` (the store, the clock and the working calendar) and reads with
SQLAlchemy Core;
nothing here writes.  Counting is done in SQL (GROUP BY over indexed columns); durations, percentiles and
lags are worked out in Python over rows limited by a period, because medians and date arithmetic are not
portable SQL.  The queries marked EXPENSIVE scan every work item or application of the period: keep the
period bounded (the dashboard caps it at :data:`MAX_PERIOD_DAYS`).
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, case, func, or_, select

from ..vocabulary import SHIPPED, EventKind
from ..store import Store
from ..store.tables import APPS, CLOCKS, EVENTS, ITEMS, NOTIFICATIONS, SNAPSHOTS
from ..timelimits.calendar import CalendarNotCovered, WorkingCalendar
from .figures import (
    LATE_LIST_LIMIT,
    late_list,
    median_and_p90,
    median_lag,
    open_counts,
    period_figures,
    reconcile_open_counts,
)
from ..vocabulary import ContactSource


class Sources(Protocol):
    """What the figures are read from."""

    store: Store

    def now(self) -> datetime: ...

    def calendar(self) -> WorkingCalendar: ...

MAX_PERIOD_DAYS = 400
"""The longest period a dashboard may ask for: the per-row queries below stay bounded."""

DUE_STATES: dict[str, str] = {
    "on_time": "时限内",
    "due_soon": "临期（1个工作日内）",
    "overdue": "已超期",
    "no_limit": "无时限",
    "clock_stopped": "客户办理中（停表）",
}
"""How an open task stands against its time limit, in the order the dashboard shows them."""


FOLLOW_UP_NODES = ("hv_follow_up",)
"""The 回访 nodes whose completed form carries ``satisfaction_score`` (1–5)."""

SATISFACTION_FIELD = "satisfaction_score"
CLERK_SOURCE = ContactSource.CLERK  # a first contact only the clerk attests
SLOWEST_COUNT = 5


# ----------------------------------------------------------------------------- periods and measures


@dataclass(frozen=True)
class Period:
    """From the start of ``first`` to the end of ``last`` (whole days, both included)."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        """The first instant of the period."""
        return datetime.combine(self.first, datetime.min.time())

    @property
    def end(self) -> datetime:
        """The first instant after the period."""
        return datetime.combine(self.last + timedelta(days=1), datetime.min.time())

    @classmethod
    def last_days(cls, today: date, days: int = 90) -> "Period":
        """The ``days`` days up to and including today."""
        return cls(today - timedelta(days=days - 1), today)


@dataclass(frozen=True)
class DurationMeasure:
    """How long a step took, in the unit the dashboard reports: calendar hours unless a working calendar
    is given (then working days, the unit of the time limits)."""

    unit: str
    between: Callable[[datetime, datetime], float]


CALENDAR_HOURS = DurationMeasure("小时", lambda start, end: max(0.0, (end - start).total_seconds() / 3600))


def working_days(calendar: WorkingCalendar) -> DurationMeasure:
    """Durations in working days of the official calendar (fractions of a working day count)."""
    return DurationMeasure("工作日", lambda start, end: max(0.0, calendar.working_days_between(start, end)))


def due_soon_before(calendar: WorkingCalendar, now: datetime) -> datetime:
    """An open task due before this moment is 临期: the same time on the next working day."""
    try:
        return datetime.combine(calendar.next_workday(now.date()), now.time())
    except CalendarNotCovered:
        return now + timedelta(days=1)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) by linear interpolation between closest ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# ----------------------------------------------------------------------------- result types


@dataclass(frozen=True)
class OpenNode:
    """The open tasks of one node, counted by how they stand against their time limit."""

    process_key: str
    node_id: str
    node_name: str
    counts: Mapping[str, int]

    @property
    def total(self) -> int:
        """All open tasks of the node."""
        return sum(self.counts.values())


@dataclass(frozen=True)
class NodeDuration:
    """How long one node's completed tasks took (ready → completed) over the period."""

    process_key: str
    node_id: str
    node_name: str
    count: int
    median: float
    p90: float


@dataclass(frozen=True)
class NodeOnTime:
    """How many of one node's completed tasks that had a time limit met it."""

    process_key: str
    node_id: str
    node_name: str
    with_limit: int
    on_time: int

    @property
    def rate(self) -> float | None:
        """The share completed on or before the due time (None without limited tasks)."""
        return self.on_time / self.with_limit if self.with_limit else None


@dataclass(frozen=True)
class EndToEnd:
    """Applications of one variant finished in the period: on time only if none of its policy clocks (时限)
    missed its limit."""

    process_key: str
    finished: int
    with_limit: int
    on_time: int

    @property
    def rate(self) -> float | None:
        """The share of finished applications with clocks where every clock met its limit."""
        return self.on_time / self.with_limit if self.with_limit else None


@dataclass(frozen=True)
class Satisfaction:
    """The 回访 scores given in the period."""

    count: int
    average: float | None
    distribution: Mapping[int, int]


@dataclass(frozen=True)
class LateEntry:
    """An application recorded later than the customer first applied (体外循环 suspicion), and the evidence of
    when the customer applied (engine.vocabulary.ContactSource: the channel, the customer, or only the clerk)."""

    app_no: str
    process_key: str
    created_by: str
    first_contact_at: datetime
    created_at: datetime
    lag_hours: float
    lag_days: int = 0  # working days from the first contact to the acceptance
    source: str | None = None


@dataclass(frozen=True)
class AcceptorPattern:
    """One acceptor's applications in the period and how often they were entered late."""

    username: str
    applications: int
    late: int
    median_lag_hours: float
    others_share: float | None  # None when nobody else accepted anything: nothing to compare with
    flagged: bool
    median_lag_days: float = 0.0
    evidence: Mapping[str, int] = field(default_factory=dict)  # late applications by evidence source
    unconfirmed: int = 0  # applications whose first contact only the clerk attests

    @property
    def share(self) -> float:
        """The share of this acceptor's applications entered later than the limit."""
        return self.late / self.applications if self.applications else 0.0


@dataclass(frozen=True)
class LateEntryRule:
    """When an acceptor's pattern is flagged: enough applications, several late ones, and a late share far
    above the rest of the office (both in points and as a multiple)."""

    min_applications: int = 3
    min_late: int = 2
    min_excess: float = 0.3
    min_ratio: float = 2.0

    def flags(self, applications: int, late: int, others_share: float | None) -> bool:
        """Whether these figures are unusual (never without colleagues to compare with)."""
        if others_share is None or applications < self.min_applications or late < self.min_late:
            return False
        share = late / applications
        return share - others_share >= self.min_excess and share >= self.min_ratio * others_share


@dataclass(frozen=True)
class LateEntryReport:
    """体外循环: applications accepted more than ``limit`` (in working days: its days count as working days)
    after first contact, and per-acceptor patterns."""

    limit: timedelta
    considered: int
    late: tuple[LateEntry, ...]
    office_share: float
    acceptors: tuple[AcceptorPattern, ...]


@dataclass(frozen=True)
class FlowCount:
    """How often a sequence flow was taken in the period."""

    process_key: str
    flow_id: str
    count: int


@dataclass(frozen=True)
class Dashboard:
    """Everything the supervision dashboard shows for one period and variant."""

    period: Period
    process_key: str | None
    generated_at: datetime
    duration_unit: str
    open_nodes: tuple[OpenNode, ...]
    durations: tuple[NodeDuration, ...]
    on_time: tuple[NodeOnTime, ...]
    end_to_end: tuple[EndToEnd, ...]
    satisfaction: Satisfaction
    late_entries: LateEntryReport
    slowest: tuple[NodeDuration, ...] = field(default=())
    flows: tuple[FlowCount, ...] = field(default=())  # kept figures only: the live scan has no trails to follow


# ----------------------------------------------------------------------------- queries


def open_tasks_by_due_state(engine: Sources, process_key: str | None = None,
                            now: datetime | None = None) -> list[OpenNode]:
    """Open tasks now, per node and due state: one GROUP BY over the ready rows (index on status). A task
    is 临期 once the time-limit sweep has warned about it, or when it is due within one working day."""
    now = now or engine.now()
    soon = due_soon_before(engine.calendar(), now)
    state = case((ITEMS.c.clock_stopped.is_(True), "clock_stopped"), (ITEMS.c.due_at.is_(None), "no_limit"),
                 (ITEMS.c.due_at < now, "overdue"),
                 (or_(ITEMS.c.warned_at.is_not(None), ITEMS.c.due_at < soon), "due_soon"),
                 else_="on_time").label("state")
    q = (select(ITEMS.c.process_key, ITEMS.c.node_id, func.min(ITEMS.c.node_name), state, func.count())
         .where(ITEMS.c.status == "ready").group_by(ITEMS.c.process_key, ITEMS.c.node_id, state))
    if process_key:
        q = q.where(ITEMS.c.process_key == process_key)
    counts: dict[tuple[str, str], dict[str, int]] = {}
    names: dict[tuple[str, str], str] = {}
    with engine.store.reading() as s:
        for key, node_id, name, due_state, n in s.connection().execute(q):
            counts.setdefault((key, node_id), dict.fromkeys(DUE_STATES, 0))[due_state] = int(n)
            names[(key, node_id)] = name
    nodes = [OpenNode(key, node_id, names[(key, node_id)], c) for (key, node_id), c in counts.items()]
    return sorted(nodes, key=lambda n: (n.process_key, -n.total, n.node_name))


def _completed_items(engine: Sources, period: Period, process_key: str | None) -> list[Any]:
    """EXPENSIVE: every task completed in the period (five columns each), for durations and on-time rates."""
    columns = [ITEMS.c.process_key, ITEMS.c.node_id, ITEMS.c.node_name, ITEMS.c.created_at,
               ITEMS.c.completed_at, ITEMS.c.due_at, ITEMS.c.clock_stopped]
    conditions = [ITEMS.c.status == "completed", ITEMS.c.created_at < period.end,
                  ITEMS.c.completed_at >= period.start, ITEMS.c.completed_at < period.end]
    if process_key:
        conditions.append(ITEMS.c.process_key == process_key)
    q = select(*columns).where(and_(*conditions))
    with engine.store.reading() as s:
        return list(s.connection().execute(q))


def node_durations(rows: Iterable[Any], measure: DurationMeasure = CALENDAR_HOURS) -> list[NodeDuration]:
    """Median and 90th percentile of ready → completed per node (rows from the completed-items query)."""
    spans: dict[tuple[str, str], list[float]] = defaultdict(list)
    names: dict[tuple[str, str], str] = {}
    for r in rows:
        key = (r.process_key, r.node_id)
        spans[key].append(measure.between(r.created_at, r.completed_at))
        names[key] = r.node_name
    out = [NodeDuration(k[0], k[1], names[k], len(v), statistics.median(v), percentile(v, 90))
           for k, v in spans.items()]
    return sorted(out, key=lambda d: (d.process_key, d.node_name))


def node_on_time(rows: Iterable[Any]) -> list[NodeOnTime]:
    """Per node: completed tasks that had a limit, and those completed on or before it (clock-stopped
    customer steps are not held to a limit)."""
    limited: dict[tuple[str, str], int] = defaultdict(int)
    met: dict[tuple[str, str], int] = defaultdict(int)
    names: dict[tuple[str, str], str] = {}
    for r in rows:
        key = (r.process_key, r.node_id)
        names[key] = r.node_name
        if r.due_at is None or r.clock_stopped:
            limited.setdefault(key, 0)
            continue
        limited[key] += 1
        met[key] += r.completed_at <= r.due_at
    out = [NodeOnTime(k[0], k[1], names[k], limited[k], met[k]) for k in limited]
    return sorted(out, key=lambda n: (n.process_key, n.node_name))


def end_to_end_on_time(engine: Sources, period: Period, process_key: str | None = None) -> list[EndToEnd]:
    """Per variant, the applications finished in the period and those none of whose policy clocks (时限, the
    way the regulations count) missed its limit: one GROUP BY per application over its measured clock rounds
    (EXPENSIVE: scans the period's finished applications). Node due dates are internal targets: not here."""
    limited = func.count(CLOCKS.c.id)
    late = func.sum(case((CLOCKS.c.status == "missed", 1), else_=0))
    join_on = and_(CLOCKS.c.application_id == APPS.c.id, CLOCKS.c.status.in_(("met", "missed")),
                   CLOCKS.c.kind == "limit")
    q = (select(APPS.c.process_key, limited, late)
         .select_from(APPS.outerjoin(CLOCKS, join_on))
         .where(APPS.c.status == "completed", APPS.c.completed_at >= period.start, APPS.c.completed_at < period.end)
         .group_by(APPS.c.id, APPS.c.process_key))
    if process_key:
        q = q.where(APPS.c.process_key == process_key)
    tally: dict[str, list[int]] = {}
    with engine.store.reading() as s:
        for key, n_limited, n_late in s.connection().execute(q):
            t = tally.setdefault(key, [0, 0, 0])
            t[0] += 1
            if n_limited:
                t[1] += 1
                t[2] += not n_late
    return [EndToEnd(k, *t) for k, t in sorted(tally.items(), key=lambda kv: _variant_order(kv[0]))]


def satisfaction(engine: Sources, period: Period, process_key: str | None = None) -> Satisfaction:
    """回访 scores of the follow-up tasks completed in the period, read from their task.completed events
    (found through the application index of the audit table, then matched by task id)."""
    q = (select(EVENTS.c.payload)
         .select_from(ITEMS.join(EVENTS, and_(EVENTS.c.application_id == ITEMS.c.application_id,
                                              EVENTS.c.task_id == ITEMS.c.id, EVENTS.c.kind == EventKind.TASK_COMPLETED)))
         .where(ITEMS.c.node_id.in_(FOLLOW_UP_NODES), ITEMS.c.status == "completed",
                ITEMS.c.completed_at >= period.start, ITEMS.c.completed_at < period.end))
    if process_key:
        q = q.where(ITEMS.c.process_key == process_key)
    scores: list[int] = []
    with engine.store.reading() as s:
        for (payload,) in s.connection().execute(q):
            value = (json.loads(payload).get("data") or {}).get(SATISFACTION_FIELD)
            if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5:
                scores.append(value)
    distribution = {score: scores.count(score) for score in range(1, 6)}
    return Satisfaction(len(scores), statistics.fmean(scores) if scores else None, distribution)


def late_entries(engine: Sources, period: Period, limit: timedelta = timedelta(days=1),
                 process_key: str | None = None, rule: LateEntryRule = LateEntryRule()) -> LateEntryReport:
    """体外循环: applications accepted in the period whose recorded acceptance lagged the customer's first
    contact by more than ``limit`` — counted in working days (``limit``'s days are working days) — each with the
    evidence of the first contact (the channel's clock, the customer's confirmation, or only the clerk's word),
    and each acceptor's share of such applications against the rest of the office (EXPENSIVE: reads the
    period's applications, by the created_at index)."""
    q = (select(APPS.c.app_no, APPS.c.process_key, APPS.c.created_by, APPS.c.first_contact_at, APPS.c.created_at,
                APPS.c.first_contact_source)
         .where(APPS.c.created_at >= period.start, APPS.c.created_at < period.end,
                APPS.c.first_contact_at.is_not(None)))
    if process_key:
        q = q.where(APPS.c.process_key == process_key)
    with engine.store.reading() as s:
        rows = list(s.connection().execute(q))
    calendar = engine.calendar()
    limit_days = limit.total_seconds() / 86400
    lags: dict[str, list[int]] = defaultdict(list)
    hours: dict[str, list[float]] = defaultdict(list)
    evidence: dict[str, Counter[str]] = defaultdict(Counter)
    unconfirmed: Counter[str] = Counter()
    late: list[LateEntry] = []
    for r in rows:
        lag_hours = max(0.0, (r.created_at - r.first_contact_at).total_seconds() / 3600)
        try:
            lag = calendar.working_days_after(r.first_contact_at.date(), r.created_at.date())
        except CalendarNotCovered:
            lag = max(0, (r.created_at.date() - r.first_contact_at.date()).days)
        lags[r.created_by].append(lag)
        hours[r.created_by].append(lag_hours)
        source = r.first_contact_source or CLERK_SOURCE
        unconfirmed[r.created_by] += source == CLERK_SOURCE
        if lag > limit_days:
            late.append(LateEntry(r.app_no, r.process_key, r.created_by, r.first_contact_at, r.created_at, lag_hours,
                                  lag, source))
            evidence[r.created_by][source] += 1
    total, total_late = len(rows), len(late)
    acceptors = []
    for username, values in lags.items():
        n, n_late = len(values), sum(v > limit_days for v in values)
        others, others_late = total - n, total_late - n_late
        others_share = others_late / others if others else None
        acceptors.append(AcceptorPattern(username, n, n_late, statistics.median(hours[username]), others_share,
                                         rule.flags(n, n_late, others_share), float(statistics.median(values)),
                                         dict(evidence[username]), unconfirmed[username]))
    acceptors.sort(key=lambda a: (not a.flagged, -a.share, a.username))
    late.sort(key=lambda e: (-e.lag_days, -e.lag_hours, e.app_no))
    return LateEntryReport(limit, total, tuple(late), total_late / total if total else 0.0, tuple(acceptors))


def dashboard(engine: Sources, period: Period, process_key: str | None = None,
              late_limit: timedelta = timedelta(days=1), measure: DurationMeasure | None = None) -> Dashboard:
    """Every figure of the supervision dashboard for one period and (optionally) one variant. Durations are
    in working days; where the calendar does not cover the period, in calendar hours (the unit says which)."""
    rows = _completed_items(engine, period, process_key)
    measure = measure or working_days(engine.calendar())
    try:
        durations = node_durations(rows, measure)
    except CalendarNotCovered:
        measure = CALENDAR_HOURS
        durations = node_durations(rows, measure)
    slowest = sorted(durations, key=lambda d: -d.median)[:SLOWEST_COUNT]
    return Dashboard(
        period=period, process_key=process_key, generated_at=engine.now(), duration_unit=measure.unit,
        open_nodes=tuple(open_tasks_by_due_state(engine, process_key)),
        durations=tuple(durations), on_time=tuple(node_on_time(rows)),
        end_to_end=tuple(end_to_end_on_time(engine, period, process_key)),
        satisfaction=satisfaction(engine, period, process_key),
        late_entries=late_entries(engine, period, late_limit, process_key), slowest=tuple(slowest))


# ----------------------------------------------------------------------------- precomputed views

SNAPSHOT_VARIANTS = ("", *SHIPPED)
"""The default views the worker precomputes: the last :data:`SNAPSHOT_PERIOD_DAYS` days, all and each variant."""
SNAPSHOT_PERIOD_DAYS = 90
SNAPSHOT_LATE_LIMIT = timedelta(days=1)
SNAPSHOT_MAX_AGE = timedelta(minutes=15)
"""A precomputed view older than this is not shown: the page computes the figures itself."""
SNAPSHOT_REFRESH_AFTER = timedelta(minutes=5)
"""The worker recomputes the views when the newest is older than this."""
RECONCILE_AFTER = timedelta(minutes=5)
"""The worker checks the kept open-task counts against the open work items this often."""


def snapshot_key(period: Period, process_key: str | None, late_limit: timedelta) -> str:
    """The key of a precomputed view: its period, variant and 体外循环 limit."""
    return f"{period.first.isoformat()}/{period.last.isoformat()}/{process_key or '*'}/{late_limit.total_seconds():g}"


def refresh_snapshots(engine: Sources, today: date | None = None, force: bool = False) -> int:
    """Recompute the default views (the EXPENSIVE queries, once per view) and store them; returns how many
    were written (none while the newest is younger than :data:`SNAPSHOT_REFRESH_AFTER`, unless forced)."""
    now = engine.now()
    period = Period.last_days(today or now.date(), SNAPSHOT_PERIOD_DAYS)
    if not force:
        with engine.store.reading() as s:
            newest = s.connection().execute(select(func.max(SNAPSHOTS.c.generated_at))).scalar()
        if newest is not None and now - newest < SNAPSHOT_REFRESH_AFTER:
            return 0
    written = 0
    for variant in SNAPSHOT_VARIANTS:
        figures = dashboard(engine, period, variant or None, SNAPSHOT_LATE_LIMIT)
        key = snapshot_key(period, variant or None, SNAPSHOT_LATE_LIMIT)
        body = json.dumps(_snapshot_json(figures), ensure_ascii=False, separators=(",", ":"))
        with engine.store.transaction() as s:
            conn = s.connection()
            conn.execute(SNAPSHOTS.delete().where(SNAPSHOTS.c.key == key))
            conn.execute(SNAPSHOTS.insert().values(key=key, generated_at=figures.generated_at, body=body))
        written += 1
    with engine.store.transaction() as s:  # views of earlier days are never asked for again
        s.connection().execute(SNAPSHOTS.delete().where(SNAPSHOTS.c.generated_at < now - SNAPSHOT_MAX_AGE * 4))
    return written


def cached_dashboard(engine: Sources, period: Period, process_key: str | None = None,
                     late_limit: timedelta = timedelta(days=1), max_age: timedelta = SNAPSHOT_MAX_AGE) -> Dashboard:
    """The dashboard from the worker's precomputed view when there is a fresh one for exactly this period,
    variant and limit; otherwise added up from the figures kept per day (:func:`kept_dashboard`). Open tasks
    always come from the kept counts."""
    key = snapshot_key(period, process_key, late_limit)
    with engine.store.reading() as s:
        row = s.connection().execute(select(SNAPSHOTS.c.generated_at, SNAPSHOTS.c.body)
                                     .where(SNAPSHOTS.c.key == key)).one_or_none()
    if row is None or engine.now() - row.generated_at > max_age:
        return kept_dashboard(engine, period, process_key, late_limit)
    figures = _snapshot_from_json(json.loads(row.body))
    return replace(figures, open_nodes=tuple(kept_open_tasks(engine, process_key)))


# ----------------------------------------------------------------------------- from the kept figures


def warning_window_end(calendar: WorkingCalendar, now: datetime, lead_days: int = 1) -> date:
    """The last day on which an open task can be 临期 now: the day of :func:`due_soon_before`, moved on by
    the working days of the warning lead beyond one (a task due later cannot have been warned yet)."""
    day = due_soon_before(calendar, now).date()
    for _ in range(max(0, lead_days - 1)):
        try:
            day = calendar.next_workday(day)
        except CalendarNotCovered:
            day += timedelta(days=1)
    return day


def kept_open_tasks(engine: Sources, process_key: str | None = None, now: datetime | None = None,
                    lead_days: int = 1) -> list[OpenNode]:
    """Open tasks per node and due state from the counts kept as steps commit, by the day each falls due: those
    due before today are overdue, with no work item read. Only the limited tasks due from today to the last day
    of the warning window (a few days' worth) are read from the work items, by the due-date index, where their
    exact due time and warning decide; the other limited ones due today or later are 时限内.

    A due date changed outside a step (a direct edit) moves a task between overdue and 时限内 here until the
    worker's check repairs the counts (:func:`engine.oversight.figures.reconcile_open_counts`); the totals per
    node stay right."""
    now = now or engine.now()
    calendar = engine.calendar()
    last = warning_window_end(calendar, now, lead_days)
    soon = due_soon_before(calendar, now)
    counts: dict[tuple[str, str], dict[str, int]] = {}
    names: dict[tuple[str, str], str] = {}
    later: dict[tuple[str, str], int] = defaultdict(int)  # limited, due today or later (kept)

    def count(key: str, node_id: str, name: str, state: str, n: int) -> None:
        counts.setdefault((key, node_id), dict.fromkeys(DUE_STATES, 0))[state] += n
        names[(key, node_id)] = name or names.get((key, node_id), node_id)

    state = case((ITEMS.c.due_at < now, "overdue"), (or_(ITEMS.c.warned_at.is_not(None), ITEMS.c.due_at < soon),
                                                      "due_soon"), else_="on_time").label("state")
    window = (select(ITEMS.c.process_key, ITEMS.c.node_id, func.min(ITEMS.c.node_name), state, func.count())
              .where(ITEMS.c.status == "ready", ITEMS.c.due_at >= datetime.combine(now.date(), datetime.min.time()),
                     ITEMS.c.due_at < datetime.combine(last + timedelta(days=1), datetime.min.time()),
                     ITEMS.c.clock_stopped.is_not(True))
              .group_by(ITEMS.c.process_key, ITEMS.c.node_id, state))
    if process_key:
        window = window.where(ITEMS.c.process_key == process_key)
    with engine.store.read() as conn:
        for kept in open_counts(conn, now.date(), process_key):
            if kept.state == "limited":
                later[(kept.process_key, kept.node_id)] += kept.count
                count(kept.process_key, kept.node_id, kept.node_name, "on_time", 0)
            else:
                count(kept.process_key, kept.node_id, kept.node_name, kept.state, kept.count)
        for key, node_id, name, due_state, n in conn.execute(window):
            count(key, node_id, name, due_state, int(n))
            later[(key, node_id)] -= int(n)  # what is left of the later ones is due after the window
    for (key, node_id), n in later.items():
        counts[(key, node_id)]["on_time"] += max(0, n)
    nodes = [OpenNode(key, node_id, names[(key, node_id)], c) for (key, node_id), c in counts.items()
             if sum(c.values())]
    return sorted(nodes, key=lambda n: (n.process_key, -n.total, n.node_name))


def clerk_attested(conn: Any, period: Period, process_key: str | None = None) -> Counter[str]:
    """Per acceptor, the applications of the period whose first contact only the clerk attests (one grouped
    count over the created_at index)."""
    q = (select(APPS.c.created_by, func.count())
         .where(APPS.c.created_at >= period.start, APPS.c.created_at < period.end,
                APPS.c.first_contact_at.is_not(None),
                or_(APPS.c.first_contact_source.is_(None), APPS.c.first_contact_source == CLERK_SOURCE))
         .group_by(APPS.c.created_by))
    if process_key:
        q = q.where(APPS.c.process_key == process_key)
    return Counter({who: int(n) for who, n in conn.execute(q)})


def kept_dashboard(engine: Sources, period: Period, process_key: str | None = None,
                   late_limit: timedelta = timedelta(days=1), rule: LateEntryRule = LateEntryRule()) -> Dashboard:
    """The dashboard for any period from the figures kept per day (no scan of work items or applications):
    counts are exact; medians and 90th percentiles come from 5 %-wide histogram buckets (within 2.5 %); the
    体外循环 limit counts in working days as the scan does: only applications that lagged more than the limit's
    days in hours can have (a working-day lag > N needs more than N×24 hours), so those few are read and
    counted, and at most :data:`LATE_LIST_LIMIT` late entries are listed."""
    limit_days = late_limit.total_seconds() / 86400
    with engine.store.read() as conn:
        figures = period_figures(conn, period.first, period.last, process_key)
        candidates = late_list(conn, period.start, period.end, 24 * limit_days, process_key)
        unconfirmed = clerk_attested(conn, period, process_key)
    calendar = engine.calendar()
    late_rows: list[LateEntry] = []
    late_by: Counter[str] = Counter()
    evidence: dict[str, Counter[str]] = defaultdict(Counter)
    lags: dict[tuple[date, date], int] = {}  # a year's candidates span only some thousands of day pairs
    for r in candidates:
        days = (r.first_contact_at.date(), r.created_at.date())
        lag = lags.get(days, -1)
        if lag < 0:
            try:
                lag = calendar.working_days_after(*days)
            except CalendarNotCovered:
                lag = max(0, (days[1] - days[0]).days)
            lags[days] = lag
        if lag > limit_days:
            late_by[r.created_by] += 1
            evidence[r.created_by][r.first_contact_source or CLERK_SOURCE] += 1
            late_rows.append(LateEntry(r.app_no, r.process_key, r.created_by, r.first_contact_at, r.created_at,
                                       r.lag_hours, lag, r.first_contact_source or CLERK_SOURCE))
    late_rows.sort(key=lambda e: (-e.lag_days, -e.lag_hours, e.app_no))
    working = all(sum(c for c, _ in n.workdays.values()) == n.done for n in figures.nodes)
    unit = "工作日" if working else CALENDAR_HOURS.unit
    durations = sorted((NodeDuration(n.process_key, n.node_id, n.name, n.done,
                                     *median_and_p90(n.workdays if working else n.hours)) for n in figures.nodes),
                       key=lambda d: (d.process_key, d.node_name))
    on_time = sorted((NodeOnTime(n.process_key, n.node_id, n.name, n.limited, n.on_time) for n in figures.nodes),
                     key=lambda n: (n.process_key, n.node_name))
    end_to_end = [EndToEnd(k, *t) for k, t in sorted(figures.finished.items(), key=lambda kv: _variant_order(kv[0]))]
    scored = sum(figures.scores.values())
    average = sum(s * n for s, n in figures.scores.items()) / scored if scored else None
    total = sum(figures.accepted.values())
    total_late = sum(late_by.values())
    acceptors = []
    for who, n in figures.accepted.items():
        others, others_late = total - n, total_late - late_by[who]
        others_share = others_late / others if others else None
        acceptors.append(AcceptorPattern(who, n, late_by[who], median_lag(figures.lags.get(who, {})), others_share,
                                         rule.flags(n, late_by[who], others_share),
                                         evidence=dict(evidence[who]), unconfirmed=unconfirmed[who]))
    acceptors.sort(key=lambda a: (not a.flagged, -a.share, a.username))
    late = tuple(late_rows[:LATE_LIST_LIMIT])
    report = LateEntryReport(late_limit, total, late, total_late / total if total else 0.0, tuple(acceptors))
    return Dashboard(
        period=period, process_key=process_key, generated_at=engine.now(), duration_unit=unit,
        open_nodes=tuple(kept_open_tasks(engine, process_key)), durations=tuple(durations), on_time=tuple(on_time),
        end_to_end=tuple(end_to_end), satisfaction=Satisfaction(scored, average, dict(figures.scores)),
        late_entries=report, slowest=tuple(sorted(durations, key=lambda d: -d.median)[:SLOWEST_COUNT]),
        flows=tuple(FlowCount(k, f, n) for (k, f), n in sorted(figures.flows.items()) if n))


def _snapshot_json(d: Dashboard) -> dict[str, Any]:
    """A dashboard as JSON-ready values (dates, datetimes and the limit as text and seconds)."""
    late = d.late_entries
    return {
        "period": [d.period.first.isoformat(), d.period.last.isoformat()], "process_key": d.process_key,
        "generated_at": d.generated_at.isoformat(), "duration_unit": d.duration_unit,
        "open_nodes": [[n.process_key, n.node_id, n.node_name, dict(n.counts)] for n in d.open_nodes],
        "durations": [asdict(x) for x in d.durations], "on_time": [asdict(x) for x in d.on_time],
        "end_to_end": [asdict(x) for x in d.end_to_end], "slowest": [asdict(x) for x in d.slowest],
        "satisfaction": [d.satisfaction.count, d.satisfaction.average,
                         [[k, v] for k, v in d.satisfaction.distribution.items()]],
        "late_entries": {
            "limit": late.limit.total_seconds(), "considered": late.considered, "office_share": late.office_share,
            "late": [[e.app_no, e.process_key, e.created_by, e.first_contact_at.isoformat(), e.created_at.isoformat(),
                      e.lag_hours, e.lag_days, e.source] for e in late.late],
            "acceptors": [asdict(a) for a in late.acceptors]},
        "flows": [[f.process_key, f.flow_id, f.count] for f in d.flows],
    }


def _snapshot_from_json(body: Mapping[str, Any]) -> Dashboard:
    """The inverse of :func:`_snapshot_json`."""
    late = body["late_entries"]
    count, average, distribution = body["satisfaction"]
    return Dashboard(
        period=Period(date.fromisoformat(body["period"][0]), date.fromisoformat(body["period"][1])),
        process_key=body["process_key"], generated_at=datetime.fromisoformat(body["generated_at"]),
        duration_unit=body["duration_unit"],
        open_nodes=tuple(OpenNode(k, n, name, counts) for k, n, name, counts in body["open_nodes"]),
        durations=tuple(NodeDuration(**x) for x in body["durations"]),
        on_time=tuple(NodeOnTime(**x) for x in body["on_time"]),
        end_to_end=tuple(EndToEnd(**x) for x in body["end_to_end"]),
        satisfaction=Satisfaction(count, average, {int(k): v for k, v in distribution}),
        late_entries=LateEntryReport(
            timedelta(seconds=late["limit"]), late["considered"],
            tuple(LateEntry(no, key, by, datetime.fromisoformat(first), datetime.fromisoformat(created), *rest)
                  for no, key, by, first, created, *rest in late["late"]),
            late["office_share"], tuple(AcceptorPattern(**a) for a in late["acceptors"])),
        slowest=tuple(NodeDuration(**x) for x in body["slowest"]),
        flows=tuple(FlowCount(k, f, n) for k, f, n in body.get("flows", ())))


def _variant_order(process_key: str) -> tuple[int, str]:
    """HV first (its end-to-end figure matters most), then LV, PV, anything else."""
    order = {"hv": 0, "lv": 1, "pv": 2}
    return order.get(process_key, 9), process_key


__all__ = [
    "CALENDAR_HOURS", "DUE_STATES", "due_soon_before", "working_days", "AcceptorPattern", "Dashboard", "DurationMeasure", "EndToEnd",
    "FlowCount",
    "LateEntry", "LateEntryReport", "LateEntryRule", "NodeDuration", "NodeOnTime", "OpenNode", "Period",
    "cached_dashboard", "refresh_snapshots", "snapshot_key", "kept_dashboard", "kept_open_tasks",
    "Satisfaction", "dashboard", "end_to_end_on_time", "late_entries",
    "node_durations", "node_on_time", "open_tasks_by_due_state", "percentile",
    "satisfaction", "Supervision",
]


class Supervision:
    """The dashboard's figures over one engine's store, clock and calendar."""

    def __init__(self, store: Store, clock: Callable[[], datetime], calendar: Callable[[], WorkingCalendar],
                 warning_lead_days: int = 1) -> None:
        self.store, self._clock, self._calendar = store, clock, calendar
        self.warning_lead_days = warning_lead_days
        self._reconciled_at: datetime | None = None

    def now(self) -> datetime:
        """The engine's clock."""
        return self._clock()

    def calendar(self) -> WorkingCalendar:
        """The working calendar."""
        return self._calendar()

    def dashboard(self, period: Period, process_key: str | None = None, late_limit: timedelta = timedelta(days=1),
                  measure: DurationMeasure | None = None) -> Dashboard:
        """Every figure of the dashboard for a period, computed now."""
        return dashboard(self, period, process_key, late_limit, measure)

    def cached_dashboard(self, period: Period, process_key: str | None = None,
                         late_limit: timedelta = timedelta(days=1), max_age: timedelta = SNAPSHOT_MAX_AGE) -> Dashboard:
        """The dashboard from the worker's snapshot while it is fresh, else computed now."""
        return cached_dashboard(self, period, process_key, late_limit, max_age)

    def refresh_snapshots(self, today: date | None = None, force: bool = False) -> int:
        """Recompute the default views the worker keeps (see refresh_snapshots)."""
        return refresh_snapshots(self, today, force)

    def reconcile_open_counts(self, force: bool = False) -> int | None:
        """Repair the kept open-task counts from the open work items (see figures.reconcile_open_counts) when
        the last check is older than :data:`RECONCILE_AFTER` (or ``force``): how many were wrong, None if not
        checked now. The worker calls it on every round."""
        now = self.now()
        if not force and self._reconciled_at is not None and now - self._reconciled_at < RECONCILE_AFTER:
            return None
        wrong = reconcile_open_counts(self.store)
        self._reconciled_at = now
        return wrong

    def open_tasks_by_due_state(self, process_key: str | None = None, now: datetime | None = None) -> list[OpenNode]:
        """Open tasks per node by how they stand against their limits (counted over the work items)."""
        return open_tasks_by_due_state(self, process_key, now)

    def kept_dashboard(self, period: Period, process_key: str | None = None,
                       late_limit: timedelta = timedelta(days=1)) -> Dashboard:
        """The dashboard for any period from the figures kept per day (see kept_dashboard)."""
        return kept_dashboard(self, period, process_key, late_limit)

    def kept_open_tasks(self, process_key: str | None = None, now: datetime | None = None) -> list[OpenNode]:
        """Open tasks per node and due state from the kept counts."""
        return kept_open_tasks(self, process_key, now, self.warning_lead_days)
