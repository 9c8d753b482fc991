"""The supervision figures kept per day and per month as steps commit, so that a dashboard for any period adds up
a few index ranges of rows instead of scanning work items (5–15 s at a million applications), and open tasks are
counted, not scanned.

Three tables (migrations 0014, 0018):

* ``figure_counts`` — per span (``d`` a day; ``m`` a month, ``day`` being its first day), figure, day, variant,
  subject (a node, a sequence flow; ``''`` for the application; an acceptor for entry lags), a count, and for
  durations and lags a histogram bucket. Every figure is written for its day and for its month, so a period
  reads its whole months and only its other days day by day:

  ======== ======== ============================================================
  figure   bucket   counts
  ======== ======== ============================================================
  done     0        tasks of the node completed that day
  limited  0        … of which had a time limit (clock not stopped)
  on_time  0        … of which were completed by their due time
  hours    duration ready → completed in calendar hours (:func:`bucket_of`)
  workdays duration the same in working days (only where the calendar covers it)
  flow     0        times the sequence flow (subject) was taken that day
  finished 0        applications completed that day (subject ``''``)
  e2e_lim  0        … of which had a limited node;  ``e2e_ok``: every limited node on time
  score    1–5      回访 satisfaction scores given that day
  accepted 0        applications with a first-contact time accepted that day (subject: acceptor)
  lag      hours    … by the whole hours (rounded up) between first contact and acceptance
  ======== ======== ============================================================

* ``open_task_counts`` — open tasks per node, with or without a limit, clock stopped or not, and the day they
  fall due: the overdue ones are those due before today, counted without reading a work item;
* ``entry_lags`` — each application accepted after its first contact, for the list of the longest lags.

Durations come back as the median and 90th percentile of a histogram whose buckets are 5 % wide (a
bucket reports the mean of its values: within 2.5 % of the exact figure, exact where a bucket holds one
value); counts are exact. :class:`FigureHook` keeps them as steps commit
(one sorted batch per step, so that concurrent steps lock rows in one order); :func:`backfill` fills them
once for a database that had applications before (``init``), :func:`reconcile_open_counts` repairs open counts
that something outside a step changed, and :func:`kept_dashboard` reads them.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Date, String, Table, and_, bindparam, case, cast, func, select, text, type_coerce
from sqlalchemy.dialects import postgresql, sqlite

from ..casework.hooks import ClosedTask, OpeningTask, StepContext, StepHook
from ..kernel.loading import ParsedDiagram
from ..kernel.runtime import flows_recorded
from ..kernel.transitions import recorded_flows
from ..store import Store
from ..store.tables import APPS, CLOCKS, ENTRY_LAGS, EVENTS, FIGURES, ITEMS, OPEN_COUNTS, WF_TASKS
from ..timelimits.calendar import CalendarNotCovered, WorkingCalendar
from ..vocabulary import INPUT_KINDS, AppStatus, EventKind, TaskStatus

RATIO = 1.05
SCALE = 100.0
MAX_LAG_HOURS = 24 * 400
FOLLOW_UP_NODES = ("hv_follow_up",)
SATISFACTION_FIELD = "satisfaction_score"
LATE_LIST_LIMIT = 200
"""The dashboard lists at most this many late entries (the longest lags first); the counts cover all."""

FIGURE_KEY = ("span", "figure", "day", "process_key", "subject", "bucket")
DAY, MONTH = "d", "m"
HISTOGRAMS = ("hours", "workdays")
OPEN_KEY = ("process_key", "node_id", "has_limit", "clock_stopped", "due_day")
NO_DUE_DAY = date(1, 1, 1)
"""The due day kept for an open task without a time limit (or with its clock stopped)."""


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
        """Count ``n`` more of a figure on a day, and on its month (of ``value`` each, for a histogram's bucket)."""
        for key in ((DAY, figure, day, process_key, subject, bucket),
                    (MONTH, figure, day.replace(day=1), process_key, subject, bucket)):
            entry = self.daily.setdefault(key, [0, name, 0.0])
            entry[0] += n
            entry[2] += value * n

    def opened(self, process_key: str, node_id: str, due_at: datetime | None, stopped: bool, n: int = 1,
               name: str = "") -> None:
        """An open task more (or fewer, ``n`` < 0) at a node, by the day it falls due."""
        due_day = due_at.date() if due_at is not None and not stopped else NO_DUE_DAY
        key = (process_key, node_id, due_at is not None, bool(stopped), due_day)
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
        self.add(day, process_key, node_id, "hours", bucket_of(hours), name=name, value=hours)
        if calendar is not None:
            try:
                days = max(0.0, calendar.working_days_between(created_at, completed_at))
            except CalendarNotCovered:
                return
            self.add(day, process_key, node_id, "workdays", bucket_of(days), name=name, value=days)

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
            _upsert(conn, FIGURES, FIGURE_KEY, [
                dict(zip(FIGURE_KEY, key), count=v[0], name=v[1], total=v[2]) for key, v in sorted(self.daily.items())
                if v[0]])
        if self.lags:
            conn.execute(ENTRY_LAGS.insert(), self.lags)
        self.daily, self.open, self.lags = {}, {}, []


def _upsert(conn: Connection, table: Table, keys: Sequence[str], rows: list[dict[str, Any]]) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE SET count = count + excluded.count (and the total likewise), on
    SQLite and PostgreSQL. The statement is built once per dialect and table: building it (and its cache key)
    for every step cost more than running it."""
    if not rows:
        return
    conn.execute(_upsert_statement(conn.dialect.name, table, tuple(keys)), rows)


_UPSERTS: dict[tuple[str, str, tuple[str, ...]], Any] = {}


def _upsert_statement(dialect_name: str, table: Table, keys: tuple[str, ...]) -> Any:
    key = (dialect_name, table.name, keys)
    stmt = _UPSERTS.get(key)
    if stmt is None:
        dialect = postgresql if dialect_name == "postgresql" else sqlite
        insert = dialect.insert(table)
        added = {"count": table.c.count + insert.excluded.count}
        if "total" in table.c:
            added["total"] = table.c.total + insert.excluded.total
        stmt = _UPSERTS[key] = insert.on_conflict_do_update(index_elements=list(keys), set_=added)
    return stmt


CLOSED_ITEMS = select(ITEMS.c.id, ITEMS.c.process_key, ITEMS.c.node_id, ITEMS.c.node_name, ITEMS.c.status,
                      ITEMS.c.created_at, ITEMS.c.completed_at, ITEMS.c.due_at, ITEMS.c.clock_stopped)
CLOSED_BY_ID = CLOSED_ITEMS.where(ITEMS.c.id.in_(bindparam("ids", expanding=True)))


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
            rows = conn.execute(CLOSED_BY_ID, {"ids": [c.id for c in closed]}).all()
            for r in rows:
                tally.opened(r.process_key, r.node_id, r.due_at, bool(r.clock_stopped), -1)
                if r.status == TaskStatus.COMPLETED and r.completed_at is not None:
                    tally.completed(calendar, r.process_key, r.node_id, r.node_name, r.created_at, r.completed_at,
                                    r.due_at, bool(r.clock_stopped))
                    score = inputs.get(SATISFACTION_FIELD)
                    if (r.node_id in FOLLOW_UP_NODES and isinstance(score, int) and not isinstance(score, bool)
                            and 1 <= score <= 5):
                        tally.add(r.completed_at.date(), r.process_key, r.node_id, "score", score)
        if step.accepted:  # the acceptance (it closes nothing)
            app = conn.execute(ACCEPTED_APP, {"app_id": step.application_id}).one()
            tally.accepted(app.id, app.app_no, app.process_key, app.created_by, app.first_contact_at, app.created_at)
        for flow in step.flows:
            tally.add(step.now.date(), step.process_key, flow, "flow")
        if status == AppStatus.COMPLETED:
            limited, late = _end_to_end(conn, step.application_id)
            tally.finished(step.now.date(), step.process_key, limited, late)
        tally.write(conn)

    def _calendar(self) -> WorkingCalendar | None:
        return self.calendar()


def _end_to_end(conn: Connection, application_id: int) -> tuple[int, int]:
    """How many of an application's policy-clock rounds were measured against a limit, and how many of those
    missed it (the regulations' counting; node due dates are internal targets and do not count here)."""
    row = conn.execute(END_TO_END, {"app_id": application_id}).one()
    return int(row[0] or 0), int(row[1] or 0)


MEASURED = (CLOCKS.c.status.in_(("met", "missed")), CLOCKS.c.kind == "limit")
"""The clock rounds an application's end-to-end on-time figure reads: limits that were met or missed."""
MISSED = func.sum(case((CLOCKS.c.status == "missed", 1), else_=0))
END_TO_END = select(func.count(CLOCKS.c.id), MISSED).where(CLOCKS.c.application_id == bindparam("app_id"), *MEASURED)
ACCEPTED_APP = select(APPS.c.id, APPS.c.app_no, APPS.c.process_key, APPS.c.created_by, APPS.c.first_contact_at,
                      APPS.c.created_at).where(APPS.c.id == bindparam("app_id"))


# ----------------------------------------------------------------------------- filling once


FLUSH_EVERY = 20_000


def backfill(store: Store, calendar: Callable[[], WorkingCalendar],
             progress: Callable[[str], None] | None = None, recount: bool = False,
             diagram_of: Callable[[Connection, int], ParsedDiagram] | None = None) -> bool:
    """Fill the kept figures from the work items, applications and trails already there (one pass over them),
    unless they hold anything already (``recount``: count everything again from scratch); True if anything was
    filled. For databases older than migration 0014, and for benchmark databases filled without steps. The
    sequence flows taken are counted from the trails (``diagram_of`` gives each version's diagram) — also, once,
    for a database whose other figures were kept before flows were (migration 0018)."""
    kept = (FIGURES, OPEN_COUNTS, ENTRY_LAGS)
    with store.begin() as conn:
        if recount:
            for table in kept:
                conn.execute(table.delete())
        elif any(conn.execute(select(t).limit(1)).first() is not None for t in kept):
            if diagram_of is None or _flows_kept(conn):
                return False
            tally = Tally()
            counted = count_recorded_flows(conn, diagram_of, tally, progress)
            tally.write(conn)
            return counted > 0
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
        if diagram_of is not None:
            count_recorded_flows(conn, diagram_of, tally, progress)
            tally.write(conn)
    return True


def _flows_kept(conn: Connection) -> bool:
    return conn.execute(select(FIGURES.c.count).where(FIGURES.c.span == DAY, FIGURES.c.figure == "flow")
                        .limit(1)).first() is not None


FLOW_BATCH = 500


def count_recorded_flows(conn: Connection, diagram_of: Callable[[Connection, int], ParsedDiagram], tally: Tally,
                         progress: Callable[[str], None] | None = None) -> int:
    """Count the sequence flows every recorded trail took, on the days it took them; how many were counted.

    A step records the flows it took with its moves (``engine.kernel.transitions``): those are counted as the
    step counted them. A trail of the earlier form records every task state change with its task id in
    ``engine.transitions`` events; its flows are found over its stored tasks
    (:func:`engine.kernel.runtime.flows_recorded`, each task's node and parent read from its row in either
    stored form), on the diagram the application runs on now (a flow of its old version that the new one lacks
    is not counted)."""
    dialect = conn.dialect.name
    apps = conn.execute(select(APPS.c.id, APPS.c.process_key, APPS.c.version_id)
                        .where(APPS.c.audit_seq > 0).order_by(APPS.c.id)).all()
    counted = 0
    for start in range(0, len(apps), FLOW_BATCH):
        batch = apps[start:start + FLOW_BATCH]
        ids = [a.id for a in batch]
        recorded: dict[int, list[tuple[datetime, list[str]]]] = defaultdict(list)
        earlier: dict[int, list[tuple[datetime, list[Any]]]] = defaultdict(list)
        for app_id, kind, at, payload in conn.execute(
                select(EVENTS.c.application_id, EVENTS.c.kind, EVENTS.c.at, EVENTS.c.payload)
                .where(EVENTS.c.application_id.in_(ids), EVENTS.c.kind.in_(MOVE_KINDS))
                .order_by(EVENTS.c.application_id, EVENTS.c.seq)):
            fields = json.loads(payload)
            flows = recorded_flows(fields)
            if flows is not None:
                recorded[app_id].append((at, flows))
            elif kind == EventKind.ENGINE_TRANSITIONS and "changes" in fields:
                earlier[app_id].append((at, fields["changes"]))
        tasks = _stored_tasks(conn, list(earlier), dialect) if earlier else {}
        for a in batch:
            for at, flows in recorded[a.id]:
                for flow in flows:
                    tally.add(at.date(), a.process_key, flow, "flow")
                    counted += 1
            if not earlier[a.id] or not tasks.get(a.id):
                continue
            diagram = diagram_of(conn, a.version_id)
            for at, changes in earlier[a.id]:
                for flow in flows_recorded(diagram, tasks[a.id], changes):
                    tally.add(at.date(), a.process_key, flow, "flow")
                    counted += 1
        tally.write(conn)
        if progress is not None and (start // FLOW_BATCH) % 20 == 19:
            progress(f"  flows: {start + len(batch):,} trails counted")
    return counted


MOVE_KINDS = (*INPUT_KINDS, EventKind.ENGINE_TRANSITIONS)
"""The events that record a step's moves and flows: its input, or an ``engine.transitions`` event."""


def _stored_tasks(conn: Connection, ids: list[int], dialect: str) -> dict[int, dict[str, tuple[str, str | None]]]:
    """Each application's stored tasks: task id → its node and its parent's task id, from rows of either form
    (SpiffWorkflow's task dictionaries name the parent by task id, compact rows by its ``seq``)."""
    payload = WF_TASKS.c.payload
    rows = conn.execute(select(WF_TASKS.c.application_id, WF_TASKS.c.seq, WF_TASKS.c.task_id,
                               _json_field(payload, "task_spec", dialect), _json_field(payload, "parent", dialect),
                               _json_item(payload, 4, dialect), _json_item(payload, 0, dialect))
                        .where(WF_TASKS.c.application_id.in_(ids))).all()
    by_seq = {(r[0], r[1]): r[2] for r in rows}
    tasks: dict[int, dict[str, tuple[str, str | None]]] = defaultdict(dict)
    for app_id, _, task_id, spec, parent, compact_spec, parent_seq in rows:
        if compact_spec is not None:
            parent_id = by_seq.get((app_id, int(parent_seq))) if parent_seq is not None else None
            tasks[app_id][task_id] = (compact_spec, parent_id)
        else:
            tasks[app_id][task_id] = (spec or "", parent)
    return tasks


def _json_field(column: Any, key: str, dialect: str) -> Any:
    """A top-level text field of a JSON text column, read by the database (NULL for a JSON array)."""
    if dialect == "postgresql":
        return type_coerce(cast(column, postgresql.JSON).op("->>")(cast(key, String)), String)
    return type_coerce(func.json_extract(column, f"$.{key}"), String)


def _json_item(column: Any, index: int, dialect: str) -> Any:
    """An item of a JSON array text column, as text, read by the database (NULL for a JSON object)."""
    if dialect == "postgresql":
        return type_coerce(cast(column, postgresql.JSON).op("->>")(index), String)
    return type_coerce(func.json_extract(column, f"$[{index}]"), String)


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
    flows: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (variant, sequence flow) → times taken


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
    """Add up the kept figures of the days from ``first`` to ``last``: the month rows of the months it covers
    whole, the day rows of its other days — each one index range (span, figure…, day), grouped by the
    database. A year's period at a million applications reads some tens of thousands of rows, not millions."""
    months, edges = whole_months(first, last)
    ranges = [(MONTH, months[0], months[-1])] if months else []
    ranges += [(DAY, a, b) for a, b in edges]
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    histograms: dict[tuple[str, str, str], dict[int, tuple[int, float]]] = defaultdict(dict)
    names: dict[tuple[str, str], str] = {}
    finished: dict[str, list[int]] = {}
    scores: dict[int, int] = dict.fromkeys(range(1, 6), 0)
    accepted: dict[str, int] = defaultdict(int)
    lags: dict[str, dict[int, int]] = defaultdict(dict)
    flows: dict[tuple[str, str], int] = defaultdict(int)
    for span, a, b in ranges:
        cond = [FIGURES.c.span == span, FIGURES.c.figure.in_(READ_FIGURES), FIGURES.c.day >= a, FIGURES.c.day <= b]
        if process_key:
            cond.append(FIGURES.c.process_key == process_key)
        q = (select(FIGURES.c.process_key, FIGURES.c.subject, FIGURES.c.figure, FIGURES.c.bucket,
                    func.sum(FIGURES.c.count), func.max(FIGURES.c.name), func.sum(FIGURES.c.total))
             .where(*cond).group_by(FIGURES.c.figure, FIGURES.c.process_key, FIGURES.c.subject, FIGURES.c.bucket))
        for key, subject, figure, bucket, n, name, value_sum in conn.execute(q):
            n = int(n or 0)
            if figure in ("done", "limited", "on_time"):
                counts[(key, subject)][figure] += n
                names[(key, subject)] = name or names.get((key, subject), subject)
            elif figure in HISTOGRAMS:
                count_, total_ = histograms[(key, subject, figure)].get(bucket, (0, 0.0))
                histograms[(key, subject, figure)][bucket] = (count_ + n, total_ + float(value_sum or 0.0))
            elif figure == "flow":
                flows[(key, subject)] += n
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
                         {k: dict(v) for k, v in lags.items()}, dict(flows))


READ_FIGURES = ("done", "limited", "on_time", *HISTOGRAMS, "flow", "finished", "e2e_lim", "e2e_ok", "score",
                "accepted", "lag")


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
    """Kept open tasks of one node in one state: ``clock_stopped``, ``no_limit``, ``overdue`` (limited and due
    before today) or ``limited`` (due today or later: whether each is 临期 or overdue by now, its exact due time
    and warning decide)."""

    process_key: str
    node_id: str
    node_name: str
    state: str
    count: int


def open_counts(conn: Connection, today: date, process_key: str | None = None) -> list[OpenCount]:
    """The kept open-task counts per node and state (see :class:`OpenCount`), added up by the database."""
    state = case((OPEN_COUNTS.c.clock_stopped.is_(True), "clock_stopped"),
                 (OPEN_COUNTS.c.has_limit.is_(False), "no_limit"), (OPEN_COUNTS.c.due_day < today, "overdue"),
                 else_="limited")
    q = (select(OPEN_COUNTS.c.process_key, OPEN_COUNTS.c.node_id, func.max(OPEN_COUNTS.c.node_name), state,
                func.sum(OPEN_COUNTS.c.count))
         .where(OPEN_COUNTS.c.count != 0).group_by(OPEN_COUNTS.c.process_key, OPEN_COUNTS.c.node_id, state))
    if process_key:
        q = q.where(OPEN_COUNTS.c.process_key == process_key)
    return [OpenCount(key, node_id, name or node_id, str(st), int(n)) for key, node_id, name, st, n in conn.execute(q)]


def reconcile_open_counts(store: Store) -> int:
    """Make the kept open-task counts what the open work items say, and drop the rows counting none; returns how
    many counts were wrong. Steps keep them exact; this repairs what changed an open task outside a step (a
    direct edit, an action that does not tell the figures). It holds the counts' table while it counts, so no
    step adds to a count in between: a step that wrote its work items but not yet its counts waits and adds
    them after, to a count that does not include them yet."""
    stopped = func.coalesce(ITEMS.c.clock_stopped, False)
    limited = ITEMS.c.due_at.is_not(None)
    due = func.coalesce(_day_of(ITEMS.c.due_at, store.sa_engine.dialect.name), NO_DUE_DAY)
    actual_q = (select(ITEMS.c.process_key, ITEMS.c.node_id, limited, stopped, due, func.count(),
                       func.max(ITEMS.c.node_name))
                .where(ITEMS.c.status == TaskStatus.READY)
                .group_by(ITEMS.c.process_key, ITEMS.c.node_id, limited, stopped, due))
    with store.begin() as conn:
        if conn.dialect.name == "postgresql":  # SQLite: the transaction holds the write lock already
            conn.execute(text(f"LOCK TABLE {OPEN_COUNTS.name} IN SHARE ROW EXCLUSIVE MODE"))
        actual = {(r[0], r[1], bool(r[2]), bool(r[3]), _as_date(r[4])): (int(r[5]), r[6] or "")
                  for r in conn.execute(actual_q)}
        kept = {(r.process_key, r.node_id, bool(r.has_limit), bool(r.clock_stopped), r.due_day):
                int(r._mapping["count"]) for r in conn.execute(select(OPEN_COUNTS))}
        tally = Tally()
        wrong = 0
        for key in sorted(set(actual) | set(kept)):
            n, name = actual.get(key, (0, ""))
            if n != kept.get(key, 0):
                wrong += 1
                tally.open[key] = [n - kept.get(key, 0), name]
        tally.write(conn)
        conn.execute(OPEN_COUNTS.delete().where(OPEN_COUNTS.c.count == 0))
    return wrong


def _day_of(column: Any, dialect: str) -> Any:
    return cast(column, Date) if dialect == "postgresql" else type_coerce(func.date(column), Date)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


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


__all__ = ["FigureHook", "NO_DUE_DAY", "NodeFigures", "OpenCount", "PeriodFigures", "Tally", "backfill", "bucket_of",
           "bucket_value", "count_recorded_flows", "histogram_percentile", "late_list", "lag_bucket", "median_and_p90",
           "median_lag", "open_counts", "period_figures", "reconcile_open_counts"]

