"""The policy clocks as people ask about them: one application's clocks, the clocks behind a task list, the
ones about to expire; the office's own limits (set, removed, logged); re-issuing an expired supply plan; and
moving every open deadline when the official holiday schedule is entered.

Everything here reads or writes outside a workflow step; what changes an application's clocks is appended to
its audit chain (``clock.recomputed``, ``clock.renewed``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from ..casework.audit import PendingEvent
from ..casework.records import current_data
from ..errors import Conflict, FormValidationError, NotFound
from ..kernel.loading import ParsedDiagram
from ..store import Store
from ..store.tables import APPS, CLOCK_OVERRIDE_CHANGES, CLOCK_OVERRIDES, CLOCKS, ITEMS
from ..vocabulary import CONTACT_SOURCES, PROCESS_NAMES, SHIPPED, EventKind, TaskStatus
from .calendar import CalendarNotCovered, CalendarSource, WorkingCalendar, YearStatus
from .clocks import (
    CUSTOMER_TYPE_FIELD,
    OPEN,
    RUNNING,
    SUPPLY_MODE_FIELD,
    ClockInfo,
    ClockReport,
    ClockRow,
    FirstContact,
    Override,
    OverrideSource,
    clock_info,
    definitions_of,
    limit_for,
    open_rows,
    write_rows,
)
from .forecast import BASIS_NAMES, REFRESH_AFTER, Forecasts

STORED_FORECAST_FRESH = REFRESH_AFTER * 2
MAX_LIMIT_DAYS = 365
MAX_VALIDITY_MONTHS = 60
REASON_MAX = 500


@dataclass(frozen=True)
class ClockChoice:
    """A clock an office may set its own limit for."""

    key: str
    name: str
    kind: str
    unit: str
    limit: str  # the diagram's expression
    limit_text: str  # … in words


@dataclass(frozen=True)
class OverrideChoices:
    """What an office limit of one variant may be set for: its clocks, customer types and supply modes."""

    process_key: str
    process_name: str
    clocks: tuple[ClockChoice, ...]
    customer_types: tuple[tuple[str, str], ...]
    supply_modes: tuple[tuple[str, str], ...]

    def clock(self, key: str) -> ClockChoice | None:
        """One of its clocks by key."""
        return next((c for c in self.clocks if c.key == key), None)


@dataclass(frozen=True)
class OverrideChange:
    """One change of an office limit, as logged."""

    process_key: str
    clock_key: str
    customer_type: str
    supply_mode: str
    old_value: int | None
    new_value: int | None
    reason: str
    changed_by: str
    changed_at: datetime
    clocks_moved: int


@dataclass(frozen=True)
class Recomputed:
    """What moving the open deadlines changed: clock rounds, tasks' internal targets, applications."""

    clocks: int
    tasks: int
    applications: int


@dataclass(frozen=True)
class CalendarImport:
    """A year's official schedule entered, and how many open deadlines it moved."""

    status: YearStatus
    days: int
    moved: Recomputed


class PolicyClocks:
    """Reading, overriding, renewing and recomputing the policy clocks."""

    def __init__(self, store: Store, clock: Callable[[], datetime], calendars: CalendarSource,
                 overrides: OverrideSource, diagram_of: Callable[[Connection, int], ParsedDiagram],
                 newest_diagram: Callable[[Connection, str], ParsedDiagram],
                 audit_only: Callable[[Connection, int, PendingEvent], None], forecasts: Forecasts) -> None:
        self.store, self.clock, self.calendars, self.overrides = store, clock, calendars, overrides
        self.diagram_of, self.newest_diagram, self.audit_only = diagram_of, newest_diagram, audit_only
        self.forecasts = forecasts

    # ----------------------------------------------------------------- reading

    def report(self, app_no: str) -> ClockReport:
        """Every clock round of one application, measured now, with fresh forecasts for the open ones."""
        now = self.clock()
        with self.store.read() as conn:
            app = conn.execute(select(APPS.c.id, APPS.c.app_no, APPS.c.process_key, APPS.c.status, APPS.c.version_id,
                                      APPS.c.created_at, APPS.c.first_contact_at, APPS.c.first_contact_source)
                               .where(APPS.c.app_no == app_no.strip())).one_or_none()
            if app is None:
                raise NotFound(f"申请不存在：{app_no}")
            rows = conn.execute(select(CLOCKS).where(CLOCKS.c.application_id == app.id)
                                .order_by(CLOCKS.c.started_at, CLOCKS.c.id)).all()
            calendar = self.calendars.get(conn)
            definitions = definitions_of(self.diagram_of(conn, app.version_id))
            # the worker's stored forecasts while they are fresh; else worked out now (no worker, a new clock)
            stale = [r for r in rows if r.status in OPEN and r.kind == "limit"
                     and (r.forecast_at is None or now - r.forecast_at > STORED_FORECAST_FRESH)]
            forecasts = self.forecasts.for_rows(conn, stale, now) if stale else {}
        units = {d.key: d.unit for d in definitions}
        clocks = []
        for r in rows:
            info = clock_info(r, calendar, now, units.get(r.clock_key))
            if r.id in forecasts:
                f = forecasts[r.id]
                info = replace(info, forecast_days=f.remaining if f else None, risk=f.risk if f else None,
                               forecast_basis=BASIS_NAMES[f.basis] if f else BASIS_NAMES["none"])
            clocks.append(info)
        return ClockReport(app.app_no, app.process_key, app.status, tuple(clocks),
                           first_contact(calendar, app.first_contact_at, app.first_contact_source, app.created_at),
                           tuple((d.key, d.name) for d in definitions))

    def summaries(self, app_nos: Iterable[str]) -> dict[str, tuple[ClockInfo, ...]]:
        """The open limit clocks of each application (stored forecasts), for a page of a task list."""
        numbers = sorted(set(app_nos))
        if not numbers:
            return {}
        now = self.clock()
        out: dict[str, list[ClockInfo]] = defaultdict(list)
        with self.store.read() as conn:
            calendar = self.calendars.get(conn)
            for r in conn.execute(select(CLOCKS).where(CLOCKS.c.app_no.in_(numbers), CLOCKS.c.status.in_(OPEN),
                                                       CLOCKS.c.kind == "limit").order_by(CLOCKS.c.id)):
                out[r.app_no].append(clock_info(r, calendar, now))
        return {k: tuple(v) for k, v in out.items()}

    # ----------------------------------------------------------------- the office's limits

    def choices(self) -> list[OverrideChoices]:
        """For each deployed variant: its clocks (newest version), customer types and supply modes."""
        out = []
        with self.store.read() as conn:
            for key in SHIPPED:
                try:
                    diagram = self.newest_diagram(conn, key)
                except NotFound:
                    continue
                out.append(OverrideChoices(
                    key, PROCESS_NAMES.get(key, key),
                    tuple(ClockChoice(d.key, d.name, d.kind, d.unit, d.limit, d.limit_text)
                          for d in definitions_of(diagram)),
                    _enum_choices(diagram, CUSTOMER_TYPE_FIELD), _enum_choices(diagram, SUPPLY_MODE_FIELD)))
        return out

    def list_overrides(self) -> list[Override]:
        """Every office limit in force."""
        with self.store.read() as conn:
            rows = conn.execute(select(CLOCK_OVERRIDES).order_by(CLOCK_OVERRIDES.c.process_key,
                                                                 CLOCK_OVERRIDES.c.clock_key,
                                                                 CLOCK_OVERRIDES.c.customer_type,
                                                                 CLOCK_OVERRIDES.c.supply_mode)).all()
        return [Override(r.process_key, r.clock_key, r.customer_type, r.supply_mode, r.limit_value, r.reason,
                         r.set_by, r.set_at) for r in rows]

    def changes(self, limit: int = 50) -> list[OverrideChange]:
        """The newest changes of the office limits."""
        with self.store.read() as conn:
            rows = conn.execute(select(CLOCK_OVERRIDE_CHANGES).order_by(CLOCK_OVERRIDE_CHANGES.c.id.desc())
                                .limit(max(1, min(limit, 500)))).all()
        return [OverrideChange(r.process_key, r.clock_key, r.customer_type, r.supply_mode, r.old_value, r.new_value,
                               r.reason, r.changed_by, r.changed_at, r.clocks_moved) for r in rows]

    def set_override(self, process_key: str, clock_key: str, customer_type: str, supply_mode: str,
                     value: Any, reason: str, by: str) -> OverrideChange:
        """Set the office's limit for a clock (per variant, customer type, supply mode); every open clock it
        applies to moves now. FormValidationError names each bad field."""
        number, _ = self._validated(process_key, clock_key, customer_type, supply_mode, value, reason)
        return self._change(process_key, clock_key, customer_type, supply_mode, number, reason.strip(), by)

    def remove_override(self, process_key: str, clock_key: str, customer_type: str, supply_mode: str,
                        reason: str, by: str) -> OverrideChange:
        """Remove an office limit: the diagram's limit applies again."""
        if not reason or not reason.strip():
            raise FormValidationError("请说明原因", {"reason": "请填写取消本单位时限的原因"})
        return self._change(process_key, clock_key, customer_type, supply_mode, None, reason.strip(), by)

    def _validated(self, process_key: str, clock_key: str, customer_type: str, supply_mode: str, value: Any,
                   reason: str) -> tuple[int, ClockChoice]:
        choices = {c.process_key: c for c in self.choices()}
        errors: dict[str, str] = {}
        variant = choices.get(process_key)
        choice = variant.clock(clock_key) if variant else None
        if variant is None:
            errors["process_key"] = f"未知的业务类型：{process_key}"
        elif choice is None:
            errors["clock_key"] = f"{variant.process_name}流程没有这个时限：{clock_key}"
        if variant is not None and customer_type and customer_type not in dict(variant.customer_types):
            errors["customer_type"] = f"{variant.process_name}没有这种客户类别：{customer_type}"
        if variant is not None and supply_mode and supply_mode not in dict(variant.supply_modes):
            errors["supply_mode"] = (f"{variant.process_name}没有这种供电方式：{supply_mode}" if variant.supply_modes
                                     else f"{variant.process_name}不区分供电方式")
        highest = MAX_VALIDITY_MONTHS if choice is not None and choice.kind == "validity" else MAX_LIMIT_DAYS
        lowest = 1 if choice is not None and choice.kind == "validity" else 0
        unit = choice.unit if choice is not None else "个工作日"
        text = str(value).strip() if value is not None else ""
        number = int(text) if text.isdigit() else None
        if number is None:
            errors["limit_value"] = f"时限必须是整数（{unit}）"
        elif not lowest <= number <= highest:
            errors["limit_value"] = f"时限应在 {lowest} 到 {highest} {unit}之间"
        if not reason or not reason.strip():
            errors["reason"] = "请说明调整原因（例如依据的文件）"
        elif len(reason) > REASON_MAX:
            errors["reason"] = f"原因最多 {REASON_MAX} 字"
        if errors or number is None or choice is None:
            raise FormValidationError("本单位时限有误：" + "；".join(errors.values()), errors)
        return number, choice

    def _change(self, process_key: str, clock_key: str, customer_type: str, supply_mode: str, value: int | None,
                reason: str, by: str) -> OverrideChange:
        now = self.clock()
        key = (CLOCK_OVERRIDES.c.process_key == process_key, CLOCK_OVERRIDES.c.clock_key == clock_key,
               CLOCK_OVERRIDES.c.customer_type == customer_type, CLOCK_OVERRIDES.c.supply_mode == supply_mode)
        with self.store.begin() as conn:
            old = conn.execute(select(CLOCK_OVERRIDES.c.limit_value).where(*key).with_for_update()).scalar()
            if value is None and old is None:
                raise NotFound("没有这项本单位时限")
            conn.execute(delete(CLOCK_OVERRIDES).where(*key))
            if value is not None:
                conn.execute(insert(CLOCK_OVERRIDES), {
                    "process_key": process_key, "clock_key": clock_key, "customer_type": customer_type,
                    "supply_mode": supply_mode, "limit_value": value, "reason": reason, "set_by": by, "set_at": now})
            self.overrides.invalidate()
            moved = self._relimit(conn, process_key, clock_key, by, now)
            conn.execute(insert(CLOCK_OVERRIDE_CHANGES), {
                "process_key": process_key, "clock_key": clock_key, "customer_type": customer_type,
                "supply_mode": supply_mode, "old_value": old, "new_value": value, "reason": reason, "changed_by": by,
                "changed_at": now, "clocks_moved": moved})
        self.overrides.invalidate()
        return OverrideChange(process_key, clock_key, customer_type, supply_mode, old, value, reason, by, now, moved)

    def _relimit(self, conn: Connection, process_key: str, clock_key: str, by: str, now: datetime) -> int:
        """Work out again the limit of every open clock of this kind (the office's limits changed)."""
        calendar = self.calendars.get(conn)
        rows = [ClockRow.of(r) for r in conn.execute(
            select(CLOCKS).where(CLOCKS.c.process_key == process_key, CLOCKS.c.clock_key == clock_key,
                                 CLOCKS.c.status.in_(OPEN)).order_by(CLOCKS.c.application_id, CLOCKS.c.id))]
        overrides = [o for o in self._read_overrides(conn) if o.process_key == process_key]
        moved = 0
        for app_id, group in _by_application(rows).items():
            app = conn.execute(select(APPS.c.version_id, APPS.c.wf_meta).where(APPS.c.id == app_id)).one()
            definitions = {d.key: d for d in definitions_of(self.diagram_of(conn, app.version_id))}
            data = current_data(conn, app_id, json.loads(app.wf_meta))
            changes = []
            for row in group:
                definition = definitions.get(row.clock_key)
                if definition is None:
                    continue
                before = (row.limit_value, row.deadline)
                limit = limit_for(definition, data, overrides)
                row.limit_value, row.limit_source, row.problem = limit.value, limit.source, limit.problem
                row.dirty = True
                row.settle(calendar, now)
                if (row.limit_value, row.deadline) != before:
                    changes.append(_moved(row, *before))
            write_rows(conn, group, now)
            if changes:
                moved += len(changes)
                self.audit_only(conn, app_id, PendingEvent(EventKind.CLOCK_RECOMPUTED, by, now,
                                                           {"why": "office_limit", "clocks": changes}))
        return moved

    @staticmethod
    def _read_overrides(conn: Connection) -> list[Override]:
        return [Override(r.process_key, r.clock_key, r.customer_type, r.supply_mode, r.limit_value, r.reason,
                         r.set_by, r.set_at) for r in conn.execute(select(CLOCK_OVERRIDES))]

    # ----------------------------------------------------------------- validity

    def renew(self, app_no: str, clock_key: str, by: str) -> ClockInfo:
        """Re-issue an expired supply plan: its validity period ends (missed) and counts again from now."""
        now = self.clock()
        with self.store.begin() as conn:
            app = conn.execute(select(APPS.c.id).where(APPS.c.app_no == app_no.strip()).with_for_update()).scalar()
            if app is None:
                raise NotFound(f"申请不存在：{app_no}")
            row = next((r for r in open_rows(conn, app, lock=True) if r.clock_key == clock_key), None)
            if row is None or row.kind != "validity":
                raise NotFound(f"申请 {app_no} 没有正在计算的有效期「{clock_key}」")
            calendar = self.calendars.get(conn)
            row.settle(calendar, now)
            if row.deadline is None or now <= row.deadline:
                until = f"（至 {row.deadline:%Y-%m-%d}）" if row.deadline else ""
                raise Conflict(f"「{row.name}」尚在有效期内{until}，无需重新起算")
            expired = row.deadline
            row.stopped_at, row.dirty = now, True
            row.settle(calendar, now)
            renewed = ClockRow(None, row.application_id, row.app_no, row.process_key, row.clock_key, row.name,
                               row.kind, row.round + 1, RUNNING, now, None, [], row.limit_value, row.limit_source,
                               None, False, None, None)
            renewed.settle(calendar, now)
            write_rows(conn, [row, renewed], now)
            self.audit_only(conn, app, renewed.event(EventKind.CLOCK_RENEWED, now,
                                                     expired=expired.isoformat(), by=by))
            stored = conn.execute(select(CLOCKS).where(CLOCKS.c.id == renewed.id)).one()
            return clock_info(stored, calendar, now)

    # ----------------------------------------------------------------- the calendar

    def import_calendar(self, schedule: object, by: str) -> CalendarImport:
        """Enter a year's official schedule and, in the same transaction, move every open deadline it changes
        (each application's changes audited)."""
        now = self.clock()
        moved: list[Recomputed] = []

        def recompute(conn: Connection, calendar: WorkingCalendar) -> None:
            moved.append(self._recalendar(conn, calendar, by, now))

        status, days = self.calendars.import_year(schedule, by, now, then=recompute)
        self.forecasts.forget()
        return CalendarImport(status, days, moved[0])

    def _recalendar(self, conn: Connection, calendar: WorkingCalendar, by: str, now: datetime) -> Recomputed:
        """Every open clock's deadline and provisional mark, and every open task's due date, on a new calendar."""
        per_app: dict[int, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: {"clocks": [], "tasks": []})
        rows = [ClockRow.of(r) for r in conn.execute(select(CLOCKS).where(CLOCKS.c.status.in_(OPEN))
                                                     .order_by(CLOCKS.c.id))]
        for row in rows:
            before = (row.deadline, row.provisional)
            row.settle(calendar, now)
            if (row.deadline, row.provisional) != before:
                per_app[row.application_id]["clocks"].append(_moved(row, row.limit_value, before[0], before[1]))
        write_rows(conn, rows, now)
        tasks = conn.execute(select(ITEMS.c.id, ITEMS.c.application_id, ITEMS.c.node_id, ITEMS.c.created_at,
                                    ITEMS.c.time_limit_days, ITEMS.c.due_at)
                             .where(ITEMS.c.status == TaskStatus.READY, ITEMS.c.time_limit_days.is_not(None))).all()
        for t in tasks:
            try:
                due = calendar.add_working_days(t.created_at, t.time_limit_days)
            except CalendarNotCovered:
                continue
            if due != t.due_at:
                conn.execute(update(ITEMS).where(ITEMS.c.id == t.id).values(due_at=due))
                per_app[t.application_id]["tasks"].append({"task": t.id, "node": t.node_id,
                                                          "due_before": _iso(t.due_at), "due": due.isoformat()})
        for app_id, changes in per_app.items():
            self.audit_only(conn, app_id, PendingEvent(EventKind.CLOCK_RECOMPUTED, by, now,
                                                       {"why": "calendar", **changes}))
        return Recomputed(sum(len(c["clocks"]) for c in per_app.values()),
                          sum(len(c["tasks"]) for c in per_app.values()), len(per_app))


def first_contact(calendar: WorkingCalendar, at: datetime | None, source: str | None,
                  accepted_at: datetime) -> FirstContact:
    """The first-contact evidence of an application and the working days its acceptance lagged."""
    lag = None
    if at is not None:
        try:
            lag = calendar.working_days_after(at.date(), accepted_at.date())
        except CalendarNotCovered:
            lag = None
    name = CONTACT_SOURCES.get(source or "", "未记录") if source else "未记录"
    return FirstContact(at, source, name, accepted_at, lag)


def _enum_choices(diagram: ParsedDiagram, field: str) -> tuple[tuple[str, str], ...]:
    """A field's values and their Chinese names, from the first form of the diagram that has it."""
    forms = sorted(diagram.forms.values(), key=lambda f: f.name != diagram.start_form)
    for form in forms:
        prop = form.schema.get("properties", {}).get(field)
        if isinstance(prop, Mapping) and isinstance(prop.get("enum"), list):
            names = prop.get("x-enumNames") or prop["enum"]
            return tuple((str(v), str(n)) for v, n in zip(prop["enum"], names))
    return ()


def _by_application(rows: Sequence[ClockRow]) -> dict[int, list[ClockRow]]:
    out: dict[int, list[ClockRow]] = defaultdict(list)
    for row in rows:
        out[row.application_id].append(row)
    return out


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _moved(row: ClockRow, limit_before: int | None, deadline_before: datetime | None,
           provisional_before: bool | None = None) -> dict[str, Any]:
    """One clock's change, as audited."""
    change = {"clock": row.clock_key, "round": row.round, "limit_before": limit_before, "limit": row.limit_value,
              "deadline_before": _iso(deadline_before), "deadline": _iso(row.deadline),
              "provisional": row.provisional}
    if provisional_before is not None:
        change["provisional_before"] = provisional_before
    return change

