"""Policy clocks (时限): each application's time limits counted the way the regulations count them.

A node's due date (:mod:`engine.timelimits.limits`) counts from the moment its task became ready: an internal
target. The regulations count from other moments — 供电方案答复 from acceptance, 设计文件审查 from the customer's
submission, 竣工检验 from the customer's request, 装表接电 from the later of passing inspection and signing —
and leave out the time the customer is acting. A *policy clock* says exactly that, in the diagram, so that an
analyst changes it with the diagram: one process-level property per clock,

    <bpmn:process id="hv" …>
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="policyClock.plan_reply"
            value="name: 供电方案答复; start: hv_start; stop: hv_reply_supply_plan;
                   limit: 30 if (supply_mode == 'dual' if supply_mode else dual_supply) else 15"/>

``name`` (Chinese), ``start`` and ``stop`` (node ids: the clock starts when the start event is reached — the
acceptance — or a user task is completed; ``a, b`` = either, ``a + b`` = once both are), ``limit`` (working
days, an expression over the application's data, where a variable not set yet reads as None, so the approved
plan's value wins once there is one), optional ``when`` (a start counts only if this holds), optional
``kind: validity`` for a validity period in months (the supply plan's), with ``guard`` nodes that may not be
completed once it has expired, and ``note``: the limit in words for the pages (单电源 15，双电源 30). A start met again after the clock stopped begins a new *round* (a resubmitted
design is reviewed within the limit again). A clock is paused while a ``clock=customer`` task is open (the
customer acting) and while the case is suspended (:meth:`PolicyClockHook.application_paused`).

Counting is in whole working days, as :meth:`WorkingCalendar.add_working_days` counts: the start day is day 0;
a pause excludes the working days after the day it began up to the day it ended (the day the customer comes
back is, like a start day, the customer's). The deadline is the end of the (limit + excluded)-th working day;
a clock stopped by then is met, else missed. An office may set its own limit per clock × variant × customer
type × supply mode (:class:`Override`); the most specific one wins over the diagram.
"""

from __future__ import annotations

import calendar as month_calendar
import json
import re
import threading
import time as monotonic_time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from ..casework.audit import PendingEvent
from ..casework.hooks import ClosedTask, OpeningTask, StepContext, StepHook
from ..errors import Conflict, ExpressionError
from ..kernel import expressions
from ..kernel.loading import PERSON_TASKS, Marker, NodeInfo, ParsedDiagram
from ..store.tables import CLOCK_OVERRIDES, CLOCKS, ITEMS
from ..vocabulary import SYSTEM, EventKind, TaskStatus
from .calendar import END_OF_DAY, CalendarNotCovered, WorkingCalendar

PREFIX = "policyClock."
KEY_FORMAT = re.compile(r"[a-z][a-z0-9_]{0,47}")
NODE_FORMAT = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
KINDS: Mapping[str, str] = {"limit": "办理时限", "validity": "有效期"}
FIELDS = ("name", "kind", "start", "stop", "limit", "when", "guard", "note")

RUNNING, PAUSED, MET, MISSED, ENDED = "running", "paused", "met", "missed", "ended"
OPEN = (RUNNING, PAUSED)
STATUS_NAMES: Mapping[str, str] = {RUNNING: "计时中", PAUSED: "暂停计时", MET: "按时完成", MISSED: "超时完成",
                                   ENDED: "未完成即终止"}
PAUSE_CUSTOMER, PAUSE_SUSPENDED = "customer", "suspended"
PAUSE_NAMES: Mapping[str, str] = {PAUSE_CUSTOMER: "客户办理中", PAUSE_SUSPENDED: "申请暂停"}
CUSTOMER_TYPE_FIELD = "customer_type"
SUPPLY_MODE_FIELD = "supply_mode"
APPLIED_DUAL_FIELD = "dual_supply"


# ----------------------------------------------------------------------------- definitions (in the diagram)


@dataclass(frozen=True)
class ClockDefinition:
    """One policy clock as a diagram defines it."""

    key: str
    name: str
    kind: str
    starts: tuple[tuple[str, ...], ...]  # alternatives, each a group that must all have happened
    stops: tuple[tuple[str, ...], ...]
    limit: str
    when: str | None = None
    guards: tuple[str, ...] = ()
    note: str = ""  # the limit in words, for people (单电源 15，双电源 30)

    @property
    def limit_text(self) -> str:
        """The limit as a person reads it: the note, a plain number, or where it comes from."""
        if self.note:
            return self.note
        if self.limit.strip().isdigit():
            return f"{self.limit.strip()} {self.unit}"
        return "按申请数据计算"

    @property
    def unit(self) -> str:
        """The unit its limit is in, as people say it."""
        return "个月" if self.kind == "validity" else "个工作日"

    @cached_property
    def start_nodes(self) -> frozenset[str]:
        """Every node whose event may start it."""
        return frozenset(n for group in self.starts for n in group)


def _split_top(text: str, separator: str) -> list[str]:
    """Split at a separator outside quotes."""
    parts, current, quote = [], [], ""
    for ch in text:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            current.append(ch)
        elif ch == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _events(text: str, what: str, problems: list[str]) -> tuple[tuple[str, ...], ...]:
    groups = []
    for alternative in _split_top(text, ","):
        members = tuple(m.strip() for m in alternative.split("+"))
        if not all(members) or not all(NODE_FORMAT.fullmatch(m) for m in members):
            problems.append(f"{what}“{alternative.strip()}”应为节点 id，多个用逗号（任一）或加号（全部）分隔")
            continue
        groups.append(members)
    if not groups:
        problems.append(f"{what}不能为空")
    return tuple(groups)


def parse_clock(name: str, value: str) -> tuple[ClockDefinition | None, list[str]]:
    """A clock definition from its property, or None with every problem (Chinese) found in it."""
    key = name[len(PREFIX):]
    problems: list[str] = []
    where = f"时限 {name}"
    if not KEY_FORMAT.fullmatch(key):
        problems.append(f"{where}：时限标识“{key}”只能由小写字母、数字和下划线组成，以字母开头")
    fields: dict[str, str] = {}
    for part in _split_top(value, ";"):
        if not part.strip():
            continue
        label, colon, text = part.partition(":")
        label = label.strip().lower()
        if not colon or label not in FIELDS:
            problems.append(f"{where}：无法识别“{part.strip()}”（可用：{'、'.join(FIELDS)}，写作 名称: 值，用分号分隔）")
        elif label in fields:
            problems.append(f"{where}：{label} 重复")
        else:
            fields[label] = text.strip()
    for required in ("name", "start", "stop", "limit"):
        if not fields.get(required):
            problems.append(f"{where}：缺少 {required}")
    kind = fields.get("kind") or "limit"
    if kind not in KINDS:
        problems.append(f"{where}：kind 只能是 {'、'.join(KINDS)}（{'、'.join(KINDS.values())}）")
    starts = _events(fields.get("start", ""), f"{where}：start ", problems) if fields.get("start") else ()
    stops = _events(fields.get("stop", ""), f"{where}：stop ", problems) if fields.get("stop") else ()
    guards: tuple[str, ...] = ()
    if fields.get("guard"):
        if kind != "validity":
            problems.append(f"{where}：只有有效期（kind: validity）才能设置 guard")
        guards = tuple(g for group in _events(fields["guard"], f"{where}：guard ", problems) for g in group)
    for label in ("limit", "when"):
        source = fields.get(label)
        if source:
            problems.extend(f"{where}：{label} 表达式 {source!r} 不允许：{p}" for p in expressions.check(source))
    if problems:
        return None, problems
    return ClockDefinition(key, fields["name"], kind, starts, stops, fields["limit"], fields.get("when") or None,
                           guards, fields.get("note", "")), []


def check_clock(name: str, value: str, nodes: Mapping[str, NodeInfo]) -> list[str]:
    """The deploy gate's check of one clock property: its syntax, its expressions and every node it names."""
    definition, problems = parse_clock(name, value)
    if definition is None:
        return problems
    where = f"时限 {name}"
    out = []
    for label, groups in (("start", definition.starts), ("stop", definition.stops)):
        for group in groups:
            for node_id in group:
                node = nodes.get(node_id)
                if node is None:
                    out.append(f"{where}：{label} 引用了不存在的节点 {node_id}")
                elif node.kind == "startEvent":
                    if label == "stop":
                        out.append(f"{where}：开始事件 {node_id} 不能作为 stop")
                    elif len(group) > 1:
                        out.append(f"{where}：开始事件 {node_id} 只能单独作为 start，不能与其他节点相加")
                elif node.kind not in PERSON_TASKS:
                    out.append(f"{where}：{label} 的节点 {node_id}（{node.name}）必须是人工任务或开始事件")
    for node_id in definition.guards:
        node = nodes.get(node_id)
        if node is None:
            out.append(f"{where}：guard 引用了不存在的节点 {node_id}")
        elif node.kind not in PERSON_TASKS:
            out.append(f"{where}：guard 的节点 {node_id}（{node.name}）必须是人工任务")
    return out


MARKERS = (Marker(PREFIX, process_check=check_clock, title="政策时限（流程级）",
                  hint="name: 名称; start: 起算环节; stop: 止算环节; limit: 工作日数或按申请数据计算"),)
"""A process-level ``policyClock.<key>`` property per clock, checked at deploy time."""

_DEFINITIONS: dict[str, tuple[ClockDefinition, ...]] = {}
_DEFINITIONS_LOCK = threading.Lock()


def definitions_of(diagram: ParsedDiagram) -> tuple[ClockDefinition, ...]:
    """The policy clocks a deployed diagram defines, in the order written (parsed once per diagram)."""
    with _DEFINITIONS_LOCK:
        cached = _DEFINITIONS.get(diagram.sha256)
    if cached is not None:
        return cached
    found = []
    for name, value in diagram.properties.items():
        if name.startswith(PREFIX):
            definition, _ = parse_clock(name, value)
            if definition is not None:  # a deployed diagram passed the gate: nothing is dropped here
                found.append(definition)
    result = tuple(found)
    with _DEFINITIONS_LOCK:
        _DEFINITIONS[diagram.sha256] = result
    return result


# ----------------------------------------------------------------------------- counting (pure)


@dataclass(frozen=True)
class Pause:
    """A stretch of time that is not the utility's: the customer acting, or the case suspended."""

    start: datetime
    end: datetime | None
    reason: str

    @property
    def kind(self) -> str:
        """customer | suspended."""
        return self.reason.split(":", 1)[0]


def load_pauses(text: str | None) -> list[Pause]:
    """The pauses stored with a clock."""
    return [Pause(datetime.fromisoformat(s), datetime.fromisoformat(e) if e else None, str(r))
            for s, e, r in json.loads(text or "[]")]


def dump_pauses(pauses: Iterable[Pause]) -> str:
    """The pauses as stored with a clock."""
    return json.dumps([[p.start.isoformat(), p.end.isoformat() if p.end else None, p.reason] for p in pauses],
                      ensure_ascii=False)


def _merged(pauses: Iterable[Pause], start: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    """The union of the pauses, clipped to [start, until] (an open pause lasts until ``until``)."""
    spans = sorted((max(p.start, start), min(p.end or until, until)) for p in pauses)
    out: list[tuple[datetime, datetime]] = []
    for s, e in spans:
        if e <= s:
            continue
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def excluded_days(calendar: WorkingCalendar, pauses: Iterable[Pause], start: datetime, until: datetime) -> int:
    """The working days the pauses take out between ``start`` and ``until``."""
    return sum(calendar.working_days_after(s.date(), e.date()) for s, e in _merged(pauses, start, until))


def used_days(calendar: WorkingCalendar, start: datetime, until: datetime, pauses: Iterable[Pause] = ()) -> int:
    """Working days counted from ``start`` to ``until``, the pauses left out."""
    if until <= start:
        return 0
    pauses = list(pauses)
    return max(0, calendar.working_days_after(start.date(), until.date())
               - excluded_days(calendar, pauses, start, until))


def add_months(moment: datetime, months: int) -> datetime:
    """The end of the same day ``months`` months later (the last day of a shorter month)."""
    total = moment.month - 1 + months
    year, month = moment.year + total // 12, total % 12 + 1
    day = min(moment.day, month_calendar.monthrange(year, month)[1])
    return datetime.combine(date(year, month, day), END_OF_DAY)


@dataclass(frozen=True)
class Measure:
    """Where a clock stands at a moment."""

    used_days: int | None
    deadline: datetime | None
    status: str
    overdue: bool
    provisional: bool
    problem: str | None = None


def measure(calendar: WorkingCalendar, kind: str, started_at: datetime, stopped_at: datetime | None,
            pauses: Sequence[Pause], limit: int | None, now: datetime, ended: bool = False) -> Measure:
    """A clock's counted days, deadline and status at ``now`` (or at its stop)."""
    end = stopped_at or now
    paused = stopped_at is None and any(p.end is None for p in pauses)
    try:
        if kind == "validity":
            used = None
            deadline = add_months(started_at, limit) if limit is not None else None
        else:
            used = used_days(calendar, started_at, end, pauses)
            if limit is None or paused:
                deadline = None
            else:
                extra = excluded_days(calendar, pauses, started_at, end)
                deadline = calendar.add_working_days(started_at, limit + extra)
        provisional = calendar.provisional_between(started_at.date(), (deadline or end).date())
    except CalendarNotCovered as exc:
        return Measure(None, None, PAUSED if paused else RUNNING, False, True, exc.message)
    if ended:
        status = ENDED
    elif stopped_at is not None:
        status = MISSED if deadline is not None and stopped_at > deadline else MET
    else:
        status = PAUSED if paused else RUNNING
    overdue = status in OPEN and deadline is not None and now > deadline
    return Measure(used, deadline, status, overdue, provisional)


class Known(Mapping[str, Any]):
    """Application data in which a variable not set yet reads as None (limits are worked out before the plan
    that decides them exists)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data.get(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def holds(source: str | None, data: Mapping[str, Any]) -> bool:
    """Whether a ``when`` condition holds (no condition always holds; one that fails to evaluate does not)."""
    if not source:
        return True
    try:
        return bool(expressions.evaluate(source, Known(data)))
    except ExpressionError:
        return False


# ----------------------------------------------------------------------------- office limits


@dataclass(frozen=True)
class Override:
    """An office's own limit for a clock of one variant ('' customer type / supply mode: any)."""

    process_key: str
    clock_key: str
    customer_type: str
    supply_mode: str
    limit_value: int
    reason: str = ""
    set_by: str = ""
    set_at: datetime | None = None

    @property
    def specificity(self) -> int:
        """How narrowly it applies: customer type counts more than supply mode."""
        return 2 * bool(self.customer_type) + bool(self.supply_mode)


def pick_override(overrides: Iterable[Override], clock_key: str, customer_type: Any,
                  supply_mode: Any) -> Override | None:
    """The most specific office limit that applies to an application, if any."""
    best: Override | None = None
    for o in overrides:
        if o.clock_key != clock_key:
            continue
        if o.customer_type and o.customer_type != customer_type:
            continue
        if o.supply_mode and o.supply_mode != supply_mode:
            continue
        if best is None or o.specificity > best.specificity:
            best = o
    return best


@dataclass(frozen=True)
class Limit:
    """A clock's limit for one application, and where it comes from."""

    value: int | None
    source: str  # diagram | override
    problem: str | None = None


def supply_mode_of(data: Mapping[str, Any]) -> str | None:
    """Single or dual supply: as the approved plan decides (``supply_mode``), and until there is a plan, as
    the customer applied (``dual_supply``) — the same reading as the diagram's own 15/30-day expression."""
    mode = data.get(SUPPLY_MODE_FIELD)
    if mode:
        return str(mode)
    applied = data.get(APPLIED_DUAL_FIELD)
    return None if applied is None else ("dual" if applied is True else "single")


def limit_for(definition: ClockDefinition, data: Mapping[str, Any], overrides: Iterable[Override]) -> Limit:
    """The office's limit if one applies, else the diagram's expression evaluated on the data."""
    override = pick_override(overrides, definition.key, data.get(CUSTOMER_TYPE_FIELD), supply_mode_of(data))
    if override is not None:
        return Limit(override.limit_value, "override")
    try:
        value = expressions.evaluate(definition.limit, Known(data))
    except ExpressionError as exc:
        return Limit(None, "diagram", f"时限表达式 {definition.limit!r} 无法计算：{exc.message}")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return Limit(None, "diagram", f"时限表达式 {definition.limit!r} 的结果 {value!r} 不是非负整数")
    return Limit(value, "diagram")


OVERRIDES_TTL_SECONDS = 60.0


class OverrideSource:
    """The offices' limits, read once a minute (another process may change them; this one forgets at once)."""

    def __init__(self, ttl: float = OVERRIDES_TTL_SECONDS) -> None:
        self.ttl = ttl
        self._all: list[Override] | None = None
        self._loaded = 0.0
        self._lock = threading.Lock()

    def get(self, conn: Connection, process_key: str) -> list[Override]:
        """The overrides of one variant."""
        with self._lock:
            fresh = self._all is not None and monotonic_time.monotonic() - self._loaded <= self.ttl
            cached = self._all if fresh else None
        if cached is None:
            cached = [Override(r.process_key, r.clock_key, r.customer_type, r.supply_mode, r.limit_value, r.reason,
                               r.set_by, r.set_at) for r in conn.execute(select(CLOCK_OVERRIDES))]
            with self._lock:
                self._all, self._loaded = cached, monotonic_time.monotonic()
        return [o for o in cached if o.process_key == process_key]

    def invalidate(self) -> None:
        """Forget what was read (after a change)."""
        with self._lock:
            self._all = None


# ----------------------------------------------------------------------------- rows


@dataclass
class ClockRow:
    """A policy_clocks row being worked on in a transaction."""

    id: int | None
    application_id: int
    app_no: str
    process_key: str
    clock_key: str
    name: str
    kind: str
    round: int
    status: str
    started_at: datetime
    stopped_at: datetime | None
    pauses: list[Pause]
    limit_value: int | None
    limit_source: str
    deadline: datetime | None
    provisional: bool
    used_days: int | None
    problem: str | None
    warned_at: datetime | None = None
    escalated_at: datetime | None = None
    dirty: bool = False

    @classmethod
    def of(cls, r: Any) -> "ClockRow":
        """From a selected row."""
        return cls(r.id, r.application_id, r.app_no, r.process_key, r.clock_key, r.name, r.kind, r.round, r.status,
                   r.started_at, r.stopped_at, load_pauses(r.pauses), r.limit_value, r.limit_source, r.deadline,
                   bool(r.provisional), r.used_days, r.problem, r.warned_at, r.escalated_at)

    def values(self, now: datetime) -> dict[str, Any]:
        """The columns to write."""
        return {"application_id": self.application_id, "app_no": self.app_no, "process_key": self.process_key,
                "clock_key": self.clock_key, "name": self.name, "kind": self.kind, "round": self.round,
                "status": self.status, "started_at": self.started_at, "stopped_at": self.stopped_at,
                "pauses": dump_pauses(self.pauses), "limit_value": self.limit_value,
                "limit_source": self.limit_source, "deadline": self.deadline, "provisional": self.provisional,
                "used_days": self.used_days, "problem": self.problem, "updated_at": now}

    def settle(self, calendar: WorkingCalendar, now: datetime) -> None:
        """Work out its counted days, deadline, status and provisional mark again (marks it dirty if changed)."""
        m = measure(calendar, self.kind, self.started_at, self.stopped_at, self.pauses, self.limit_value, now,
                    ended=self.status == ENDED)
        before = (self.status, self.deadline, self.used_days, self.provisional)
        self.status, self.deadline, self.used_days, self.provisional = m.status, m.deadline, m.used_days, m.provisional
        if m.problem:
            self.problem = m.problem
        if (self.status, self.deadline, self.used_days, self.provisional) != before:
            self.dirty = True

    def event(self, kind: str, now: datetime, **extra: Any) -> PendingEvent:
        """An audit event about this clock."""
        payload = {"clock": self.clock_key, "name": self.name, "round": self.round, "status": self.status,
                   "limit": self.limit_value, "limit_source": self.limit_source,
                   "deadline": self.deadline.isoformat() if self.deadline else None, "used_days": self.used_days,
                   "provisional": self.provisional, **extra}
        return PendingEvent(kind, SYSTEM, now, payload)


# The statements of every step, built once (building SQLAlchemy expressions costs more than running them on SQLite).
OPEN_ROWS = (select(CLOCKS).where(CLOCKS.c.application_id == bindparam("app_id"), CLOCKS.c.status.in_(OPEN))
             .order_by(CLOCKS.c.id))
OPEN_ROWS_LOCKED = OPEN_ROWS.with_for_update()
INSERT_ROW = insert(CLOCKS).returning(CLOCKS.c.id)
WRITTEN = ("status", "stopped_at", "pauses", "limit_value", "limit_source", "deadline", "provisional", "used_days",
           "problem", "updated_at")
UPDATE_ROW = (update(CLOCKS).where(CLOCKS.c.id == bindparam("row_id"))
              .values({name: bindparam(f"new_{name}") for name in WRITTEN}))
ROUNDS = select(CLOCKS.c.clock_key, CLOCKS.c.round).where(CLOCKS.c.application_id == bindparam("app_id"))
COMPLETED_NODES = (select(ITEMS.c.node_id).distinct()
                   .where(ITEMS.c.application_id == bindparam("app_id"),
                          ITEMS.c.node_id.in_(bindparam("nodes", expanding=True)),
                          ITEMS.c.status == TaskStatus.COMPLETED, ITEMS.c.completed_at >= bindparam("since")))
CUSTOMER_ACTING = (select(ITEMS.c.id).where(ITEMS.c.application_id == bindparam("app_id"),
                                            ITEMS.c.status == TaskStatus.READY, ITEMS.c.clock_stopped.is_(True))
                   .limit(1))
# a step reads its clocks and whether the customer is acting in one statement
OPEN_ROWS_ACTING = OPEN_ROWS.add_columns(CUSTOMER_ACTING.exists().label("customer_acting"))
EVER = datetime(1900, 1, 1)


def open_rows(conn: Connection, application_id: int, lock: bool = False) -> list[ClockRow]:
    """An application's running and paused clocks."""
    return [ClockRow.of(r) for r in conn.execute(OPEN_ROWS_LOCKED if lock else OPEN_ROWS, {"app_id": application_id})]


def write_rows(conn: Connection, rows: Iterable[ClockRow], now: datetime) -> None:
    """Insert the new rows and update the changed ones."""
    for row in rows:
        if row.id is None:
            row.id = conn.execute(INSERT_ROW, row.values(now)).scalar_one()
        elif row.dirty:
            values = row.values(now)
            conn.execute(UPDATE_ROW, {"row_id": row.id, **{f"new_{name}": values[name] for name in WRITTEN}})
        row.dirty = False


def completed_nodes_since(conn: Connection, application_id: int, nodes: Iterable[str],
                          since: datetime | None) -> set[str]:
    """Which of the nodes have a completed task (at or after ``since``)."""
    return set(conn.execute(COMPLETED_NODES, {"app_id": application_id, "nodes": list(nodes),
                                              "since": since or EVER}).scalars())


def customer_acting(conn: Connection, application_id: int) -> bool:
    """Whether a task where the customer acts (clock=customer) is open."""
    return conn.execute(CUSTOMER_ACTING, {"app_id": application_id}).first() is not None


def set_pause(row: ClockRow, kind: str, on: bool, now: datetime, reason: str) -> None:
    """Open or close a pause of one kind (validity periods never pause)."""
    if row.kind == "validity":
        return
    current = next((i for i, p in enumerate(row.pauses) if p.end is None and p.kind == kind), None)
    if on and current is None:
        row.pauses.append(Pause(now, None, reason))
        row.dirty = True
    elif not on and current is not None:
        row.pauses[current] = replace(row.pauses[current], end=now)
        row.dirty = True


def close_pauses(row: ClockRow, now: datetime) -> None:
    """End every open pause (the clock stops)."""
    for i, p in enumerate(row.pauses):
        if p.end is None:
            row.pauses[i] = replace(p, end=now)
            row.dirty = True


# ----------------------------------------------------------------------------- the step hook


class PolicyClockHook(StepHook):
    """Starts, pauses and stops each application's policy clocks as its steps happen, and refuses work a
    lapsed validity period forbids."""

    def __init__(self, calendar: Callable[[Connection | None], WorkingCalendar], overrides: OverrideSource) -> None:
        self.calendar, self.overrides = calendar, overrides

    def step_done(self, step: StepContext, opened: Sequence[OpeningTask], closed: Sequence[ClosedTask]) -> None:
        definitions = definitions_of(step.diagram)
        if not definitions:
            return
        conn, now, app_id = step.conn, step.now, step.application_id
        by_key = {d.key: d for d in definitions}
        happened = {c.node_id for c in closed if c.status == TaskStatus.COMPLETED}
        if step.accepted:
            happened |= {n.id for n in step.diagram.nodes.values() if n.kind == "startEvent"}
        acting: bool | None = None  # whether the customer is acting: read with the clocks when there are any
        rows: list[ClockRow] = []
        if not step.accepted:
            for r in conn.execute(OPEN_ROWS_ACTING, {"app_id": app_id}):
                rows.append(ClockRow.of(r))
                acting = bool(r.customer_acting)
        if not happened and not rows:
            return
        self._refuse_lapsed(rows, by_key, happened, now)
        calendar = self.calendar(conn)
        data = step.data

        for row in rows:
            definition = by_key.get(row.clock_key)
            if definition is None or not happened:
                continue
            if self._reached(conn, app_id, definition.stops, happened, row.started_at):
                close_pauses(row, now)
                row.stopped_at = now
                row.settle(calendar, now)
                step.events.append(row.event(EventKind.CLOCK_STOPPED, now))

        running = {r.clock_key for r in rows if r.status in OPEN}
        rounds = self._rounds(conn, app_id) if happened & {n for d in definitions for n in d.start_nodes} else {}
        overrides: list[Override] | None = None
        for definition in definitions:
            if definition.key in running or not happened & definition.start_nodes:
                continue
            if not self._reached(conn, app_id, definition.starts, happened, None) or not holds(definition.when, data):
                continue
            if overrides is None:
                overrides = self.overrides.get(conn, step.process_key)
            limit = limit_for(definition, data, overrides)
            row = ClockRow(None, app_id, step.app_no, step.process_key, definition.key, definition.name,
                           definition.kind, rounds.get(definition.key, 0) + 1, RUNNING, now, None, [], limit.value,
                           limit.source, None, False, 0, limit.problem)
            row.settle(calendar, now)
            rows.append(row)
            running.add(definition.key)
            step.events.append(row.event(EventKind.CLOCK_STARTED, now))

        still_open = [r for r in rows if r.status in OPEN]
        if step.finished:
            for row in still_open:  # its stop is not on the path taken: it is not measured
                close_pauses(row, now)
                row.stopped_at, row.status = now, ENDED
                row.settle(calendar, now)
                step.events.append(row.event(EventKind.CLOCK_STOPPED, now))
            still_open = []
        if still_open:
            if acting is None:
                acting = customer_acting(conn, app_id)
            if overrides is None:
                overrides = self.overrides.get(conn, step.process_key)
            for row in still_open:
                set_pause(row, PAUSE_CUSTOMER, acting, now, PAUSE_CUSTOMER)
                definition = by_key.get(row.clock_key)
                if definition is not None:  # the data may have changed what the limit is (the approved plan)
                    limit = limit_for(definition, data, overrides)
                    if (limit.value, limit.source, limit.problem) != (row.limit_value, row.limit_source, row.problem):
                        row.limit_value, row.limit_source, row.problem = limit.value, limit.source, limit.problem
                        row.dirty = True
                row.settle(calendar, now)
        write_rows(conn, rows, now)

    @staticmethod
    def _reached(conn: Connection, app_id: int, groups: Sequence[tuple[str, ...]], happened: set[str],
                 since: datetime | None) -> bool:
        """Whether an event of this step completes one of the alternatives (every member of its group done)."""
        for group in groups:
            if not happened & set(group):
                continue
            missing = set(group) - happened
            if not missing or completed_nodes_since(conn, app_id, missing, since) == missing:
                return True
        return False

    @staticmethod
    def _rounds(conn: Connection, app_id: int) -> dict[str, int]:
        rows = conn.execute(ROUNDS, {"app_id": app_id})
        out: dict[str, int] = {}
        for key, number in rows:
            out[key] = max(out.get(key, 0), number)
        return out

    @staticmethod
    def _refuse_lapsed(rows: Sequence[ClockRow], by_key: Mapping[str, ClockDefinition], happened: set[str],
                       now: datetime) -> None:
        """Refuse (roll the whole step back) a step a lapsed validity period guards: works may not go on under
        an expired supply plan. Checked here rather than before the step: the rows are read once per step."""
        for row in rows:
            definition = by_key.get(row.clock_key)
            if row.kind != "validity" or definition is None or row.deadline is None or now <= row.deadline:
                continue
            blocked = [node for node in definition.guards if node in happened]
            if blocked:
                raise Conflict(f"「{row.name}」已于 {row.deadline:%Y-%m-%d} 届满（{row.limit_value} 个月）：须重新答复"
                               f"供电方案、有效期重新起算后，才能继续办理。请在申请页的「时限」一节重新起算有效期。")

    def application_paused(self, conn: Connection, application_id: int, now: datetime, reason: str) -> None:
        rows = open_rows(conn, application_id, lock=True)
        calendar = self.calendar(conn)
        for row in rows:
            set_pause(row, PAUSE_SUSPENDED, True, now, f"{PAUSE_SUSPENDED}:{reason}" if reason else PAUSE_SUSPENDED)
            row.settle(calendar, now)
        write_rows(conn, rows, now)

    def application_resumed(self, conn: Connection, application_id: int, now: datetime) -> None:
        rows = open_rows(conn, application_id, lock=True)
        calendar = self.calendar(conn)
        for row in rows:
            set_pause(row, PAUSE_SUSPENDED, False, now, PAUSE_SUSPENDED)
            row.settle(calendar, now)
        write_rows(conn, rows, now)

    def application_ended(self, conn: Connection, application_id: int, now: datetime, status: str) -> None:
        rows = open_rows(conn, application_id, lock=True)
        calendar = self.calendar(conn)
        for row in rows:
            close_pauses(row, now)
            row.stopped_at, row.status, row.dirty = now, ENDED, True
            row.settle(calendar, now)
        write_rows(conn, rows, now)


# ----------------------------------------------------------------------------- what the facade returns


@dataclass(frozen=True)
class ClockPause:
    """A pause of a clock, as shown."""

    start: datetime
    end: datetime | None
    reason: str  # customer | suspended
    detail: str = ""

    @property
    def label(self) -> str:
        """Why the clock was paused, in Chinese."""
        return PAUSE_NAMES.get(self.reason, self.reason) + (f"（{self.detail}）" if self.detail else "")


@dataclass(frozen=True)
class ClockInfo:
    """One round of one policy clock of an application, at the moment it was asked about."""

    key: str
    name: str
    kind: str
    round: int
    status: str  # running | paused | met | missed | ended
    started_at: datetime
    stopped_at: datetime | None
    pauses: tuple[ClockPause, ...]
    used_days: int | None
    limit: int | None
    unit: str
    limit_source: str  # diagram | override
    deadline: datetime | None
    overdue: bool
    provisional: bool
    problem: str | None = None
    forecast_days: float | None = None  # expected working days still to go
    risk: float | None = None  # the chance of missing the limit
    forecast_basis: str = ""

    @property
    def status_name(self) -> str:
        """The status in Chinese (a validity period past its end is 已过期)."""
        if self.kind == "validity":
            if self.status in OPEN:
                return "已过期" if self.overdue else "有效"
            return {MET: "有效期内已使用", MISSED: "过期后已重新答复", ENDED: "未使用即终止"}.get(self.status, self.status)
        if self.overdue:
            return "已超时（计时中）" if self.status == RUNNING else "已超时（暂停中）"
        return STATUS_NAMES.get(self.status, self.status)

    @property
    def remaining_days(self) -> int | None:
        """Working days left before the limit (negative: over it)."""
        if self.kind == "validity" or self.limit is None or self.used_days is None:
            return None
        return self.limit - self.used_days

    @property
    def open(self) -> bool:
        """Still counting (running or paused)."""
        return self.status in OPEN


def clock_info(row: Any, calendar: WorkingCalendar, now: datetime, unit: str | None = None) -> ClockInfo:
    """A ClockInfo from a policy_clocks row, measured at ``now``."""
    pauses = load_pauses(row.pauses)
    if row.status in OPEN:
        m = measure(calendar, row.kind, row.started_at, row.stopped_at, pauses, row.limit_value, now)
    else:  # a stopped clock keeps the verdict it was given when it stopped
        m = Measure(row.used_days, row.deadline, row.status, False, bool(row.provisional))
    shown = tuple(ClockPause(p.start, p.end, p.kind, p.reason.split(":", 1)[1] if ":" in p.reason else "")
                  for p in pauses)
    stored = m.status in OPEN and row.forecast_at is not None
    return ClockInfo(row.clock_key, row.name, row.kind, row.round, m.status, row.started_at, row.stopped_at, shown,
                     m.used_days, row.limit_value, unit or ("个月" if row.kind == "validity" else "个工作日"),
                     row.limit_source, m.deadline, m.overdue, m.provisional, row.problem or m.problem,
                     row.forecast_days if stored else None, row.risk if stored else None,
                     f"最近一次预测（{row.forecast_at:%m-%d %H:%M}）" if stored else "")


@dataclass(frozen=True)
class FirstContact:
    """When the customer first applied, where that comes from, and how late the acceptance was recorded."""

    at: datetime | None
    source: str | None
    source_name: str
    accepted_at: datetime
    lag_days: int | None  # working days from the first contact to the acceptance


@dataclass(frozen=True)
class ClockReport:
    """Every policy clock of one application (oldest first) and the evidence of when the customer applied."""

    app_no: str
    process_key: str
    status: str
    clocks: tuple[ClockInfo, ...]
    first_contact: FirstContact
    defined: tuple[tuple[str, str], ...] = field(default=())  # (key, name) of every clock the diagram defines

    @property
    def open(self) -> tuple[ClockInfo, ...]:
        """The clocks still counting."""
        return tuple(c for c in self.clocks if c.open)

    @property
    def most_urgent(self) -> ClockInfo | None:
        """The counting clock to speak of first: overdue ones, then the nearest deadline."""
        candidates = [c for c in self.open if c.kind == "limit"]
        if not candidates:
            return None
        return min(candidates, key=lambda c: (not c.overdue, c.status != RUNNING,
                                              c.remaining_days if c.remaining_days is not None else 10**6))
