"""Field work: the site jobs the processes create, their appointments, station capacity, check-ins,
customer callbacks and the daily summary of a customer manager.

A BPMN user task whose diagram marks it ``fieldJob=<kind>`` gets a field job with the same id when it
becomes ready. The work-order dispatcher (工单调度员) books it into a station's capacity for a day with a
customer appointment in one of three modes — 约时 (a fixed time), 限时 (a time window), 限期 (a deadline) —
the field worker reports arrival and departure (the two phone reports), and only then can the task be
completed. Every change is a field-job event and an audit event in the application's hash chain.

Capacity (承载力) per station, day and kind of job is counted in ``station_days``; a booking is one
conditional UPDATE (``booked < capacity``), so two dispatchers racing for the last slot cannot both
get it, on SQLite or PostgreSQL alike. Booking beyond capacity needs an explicit, recorded override.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..casework.accounts import names_of
from ..casework.audit import PendingEvent
from ..casework.delegation import absentees
from ..casework.hooks import ClosedTask, OpeningTask, StepContext, StepHook
from ..casework.permissions import refusal
from ..errors import Conflict, Forbidden, FormValidationError, InvalidInput, NotFound
from ..kernel.loading import Marker, NodeInfo
from ..store import Store
from ..store.tables import APPS, CALLBACKS, EVENTS, ITEMS, JOB_EVENTS, JOBS, STATION_DAYS as DAYS, STATIONS, USERS
from ..timelimits.calendar import WorkingCalendar
from ..vocabulary import ROLES, SUPERVISOR_ROLE, EventKind, Role

JOB_KINDS: Mapping[str, str] = {
    "survey": "现场勘查",
    "mid_inspection": "中间检查",
    "completion_inspection": "竣工检验",
    "connect": "装表接电",
    "pv_commissioning": "光伏并网调试",
}
MODES: Mapping[str, str] = {"fixed": "约时", "window": "限时", "deadline": "限期"}
HALVES: Mapping[str, str] = {"am": "上午", "pm": "下午"}
AREAS: Mapping[str, str] = {"urban": "城区", "rural": "农村"}
STATUSES: Mapping[str, str] = {"waiting": "待预约", "scheduled": "已预约", "on_site": "现场作业中",
                               "finished": "已完工", "cancelled": "已取消"}
# Jobs a station can take per working day until it declares otherwise; rural crews travel further.
DEFAULT_CAPACITY: Mapping[str, Mapping[str, int]] = {
    "urban": {"survey": 6, "mid_inspection": 3, "completion_inspection": 4, "connect": 6, "pv_commissioning": 2},
    "rural": {"survey": 4, "mid_inspection": 2, "completion_inspection": 2, "connect": 4, "pv_commissioning": 2},
}
DISPATCHER_ROLE = Role.FIELD_DISPATCH
CALLBACK_ROLE = Role.CUSTOMER_SERVICE
STATION_HEAD_ROLE = Role.STATION_HEAD
FIELD_JOB = "fieldJob"
DEADLINE_HOUR = time(18, 0)  # a 限期 appointment is due by the end of the working day
PHONE = re.compile(r"^[0-9+\-() ]{7,20}$")
MAX_CAPACITY = 200

Row = Mapping[Any, Any]  # a result row's mapping (SQLAlchemy's RowMapping) or a plain dict



@dataclass(frozen=True)
class StationInfo:
    """A field station (班所)."""

    code: str
    name: str
    area: str

    @property
    def area_name(self) -> str:
        return AREAS.get(self.area, self.area)


@dataclass(frozen=True)
class Appointment:
    """A booking asked for by the dispatcher: where, when, in which mode, whom to call."""

    station: str
    day: date
    mode: str
    contact_name: str
    contact_phone: str
    start: time | None = None
    end: time | None = None
    deadline: date | None = None
    half: str | None = None
    worker: str | None = None


@dataclass(frozen=True)
class FieldJobInfo:
    """One field job as pages show it; ``late`` means no check-in although its appointment has passed."""

    id: str
    app_no: str
    customer_name: str
    node_id: str
    node_name: str
    role: str
    kind: str
    status: str
    created_at: datetime
    station_code: str | None
    day: date | None
    half: str | None
    mode: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    due_by: datetime | None
    contact_name: str | None
    contact_phone: str | None
    worker: str | None
    overbooked: bool
    scheduled_by: str | None
    checked_in_at: datetime | None
    check_in_note: str | None
    checked_out_at: datetime | None
    check_out_note: str | None
    late: bool

    @property
    def kind_name(self) -> str:
        return JOB_KINDS.get(self.kind, self.kind)

    @property
    def status_name(self) -> str:
        return STATUSES.get(self.status, self.status)

    @property
    def mode_name(self) -> str:
        return MODES.get(self.mode or "", "")

    @property
    def appointment_text(self) -> str:
        """The appointment in words, e.g. 约时 11月24日 09:30 / 限时 11月24日 09:00–11:00 / 限期 11月26日前."""
        if self.mode == "fixed" and self.starts_at:
            return f"约时 {self.starts_at:%m月%d日 %H:%M}"
        if self.mode == "window" and self.starts_at and self.ends_at:
            return f"限时 {self.starts_at:%m月%d日 %H:%M}–{self.ends_at:%H:%M}"
        if self.mode == "deadline" and self.due_by:
            return f"限期 {self.due_by:%m月%d日}前（计划 {self.day:%m月%d日}{HALVES.get(self.half or '', '')}）"
        return "未预约"


@dataclass(frozen=True)
class JobEventInfo:
    """One entry of a field job's history."""

    at: datetime
    actor: str
    kind: str
    reason: str
    payload: Mapping[str, Any]

    @property
    def kind_name(self) -> str:
        return EVENT_NAMES.get(self.kind, self.kind)


EVENT_NAMES = {"created": "生成", "scheduled": "预约", "rescheduled": "改约", "checked_in": "到达现场",
               "checked_out": "作业结束", "cancelled": "取消"}


@dataclass(frozen=True)
class CapacityCell:
    """Capacity of one station for one kind of job on one day."""

    station: str
    day: date
    kind: str
    capacity: int
    booked: int
    adjusted: bool

    @property
    def remaining(self) -> int:
        """Slots still free: never below nothing, also after a booking beyond capacity."""
        return max(0, self.capacity - self.booked)

    @property
    def over(self) -> int:
        """How many bookings went beyond capacity (each with a recorded reason)."""
        return max(0, self.booked - self.capacity)


@dataclass(frozen=True)
class CapacityBoard:
    """Remaining capacity per station and day (and kind), for the dispatcher's board."""

    days: tuple[date, ...]
    stations: tuple[StationInfo, ...]
    cells: Mapping[tuple[str, date, str], CapacityCell]

    def cell(self, station: str, day: date, kind: str) -> CapacityCell:
        return self.cells[(station, day, kind)]


@dataclass(frozen=True)
class CallbackInfo:
    """A customer callback (回访) after a site job."""

    id: int
    job_id: str
    app_no: str
    customer_name: str
    job_name: str
    contact_name: str | None
    contact_phone: str | None
    status: str
    created_at: datetime
    reached: bool | None
    satisfied: bool | None
    issues: str
    recorded_by: str | None
    recorded_at: datetime | None
    closed_by: str | None
    closed_at: datetime | None
    close_note: str

    @property
    def status_name(self) -> str:
        return {"open": "待回访", "issue_open": "问题未关闭", "closed": "已关闭"}.get(self.status, self.status)


@dataclass(frozen=True)
class DailySummary:
    """A customer manager's page for the morning meeting (早会)."""

    username: str
    day: date
    since: date
    finished: tuple[Mapping[str, Any], ...]
    appointments: tuple[FieldJobInfo, ...]
    near_limits: tuple[Mapping[str, Any], ...]
    problems: tuple[CallbackInfo, ...]
    late_jobs: tuple[FieldJobInfo, ...]


def appointment_from_form(form: Mapping[str, Any]) -> Appointment:
    """Read a booking form (strings as a browser or the API sends them); FormValidationError lists every
    problem, in Chinese, by field."""
    errors: dict[str, str] = {}

    def text(name: str, limit: int) -> str:
        value = str(form.get(name) or "").strip()
        if len(value) > limit:
            errors[name] = f"不能超过 {limit} 个字符"
        return value

    def parse(name: str, kind: str) -> Any:
        raw = str(form.get(name) or "").strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw) if kind == "date" else time.fromisoformat(raw)
        except ValueError:
            errors[name] = "日期格式应为 2026-11-24" if kind == "date" else "时间格式应为 09:30"
            return None

    station = text("station", 32)
    if not station:
        errors["station"] = "请选择班所"
    mode = text("mode", 8)
    if mode not in MODES:
        errors["mode"] = f"预约方式应为{'、'.join(MODES.values())}之一"
    day = parse("day", "date")
    if day is None and "day" not in errors:
        errors["day"] = "请填写作业日期"
    start, end, deadline = parse("start", "time"), parse("end", "time"), parse("deadline", "date")
    half = text("half", 2) or None
    if half is not None and half not in HALVES:
        errors["half"] = "应为上午或下午"
    if mode == "fixed" and start is None and "start" not in errors:
        errors["start"] = "约时预约须填写到达时间"
    if mode == "window":
        if start is None and "start" not in errors:
            errors["start"] = "限时预约须填写时段开始"
        if end is None and "end" not in errors:
            errors["end"] = "限时预约须填写时段结束"
        if start is not None and end is not None and end <= start:
            errors["end"] = "时段结束须晚于开始"
    if mode == "deadline":
        if deadline is None and "deadline" not in errors:
            errors["deadline"] = "限期预约须填写期限"
        elif deadline is not None and day is not None and deadline < day:
            errors["deadline"] = "期限不能早于计划作业日期"
    contact_name = text("contact_name", 64)
    if not contact_name:
        errors["contact_name"] = "请填写客户联系人"
    contact_phone = text("contact_phone", 32)
    if not PHONE.match(contact_phone):
        errors["contact_phone"] = "联系电话应为 7–20 位数字（可含 + - 空格）"
    worker = text("worker", 64) or None
    if errors:
        raise FormValidationError(f"预约信息有 {len(errors)} 处问题：" + "；".join(errors.values()), errors)
    assert day is not None
    return Appointment(station, day, mode, contact_name, contact_phone, start, end, deadline, half, worker)


class FieldWork:
    """Field jobs, station capacity, check-ins and callbacks, over the engine's store."""

    def __init__(self, store: Store, clock: Callable[[], datetime],
                 calendar: Callable[[Connection | None], WorkingCalendar],
                 audit_only: Callable[[Connection, int, PendingEvent], None],
                 roles_of: Callable[[Connection, str], list[str]]) -> None:
        self.store, self.clock, self.calendar = store, clock, calendar
        self.audit_only, self.roles_of = audit_only, roles_of

    # ----------------------------------------------------------------- stations

    def create_station(self, code: str, name: str, area: str) -> StationInfo:
        """Add a field station (班所); area is urban or rural."""
        code, name = code.strip(), name.strip()
        if not code or not name or len(code) > 32 or len(name) > 64:
            raise InvalidInput("班所编码和名称不能为空（编码不超过 32 字）")
        if area not in AREAS:
            raise InvalidInput(f"区域应为 {'、'.join(AREAS)} 之一")
        with self.store.begin() as conn:
            if conn.execute(select(STATIONS.c.code).where(STATIONS.c.code == code)).first() is not None:
                raise Conflict(f"班所 {code} 已存在")
            conn.execute(insert(STATIONS), {"code": code, "name": name, "area": area, "created_at": self.clock()})
        return StationInfo(code, name, area)

    def stations(self) -> list[StationInfo]:
        """Every station, by code."""
        with self.store.reading() as s:
            return [StationInfo(r.code, r.name, r.area)
                    for r in s.connection().execute(select(STATIONS).order_by(STATIONS.c.code))]

    def station(self, code: str) -> StationInfo:
        """One station; NotFound if there is none with that code."""
        with self.store.reading() as s:
            row = s.connection().execute(select(STATIONS).where(STATIONS.c.code == code)).one_or_none()
        if row is None:
            raise NotFound(f"班所不存在：{code}")
        return StationInfo(row.code, row.name, row.area)

    # ----------------------------------------------------------------- called from the engine's step

    def jobs_ready(self, conn: Connection, items: Iterable[Mapping[str, Any]], kinds: Mapping[str, str],
                   now: datetime) -> None:
        """Open a field job for each new work item of a node marked as site work (same transaction)."""
        rows = [{"id": i["id"], "application_id": i["application_id"], "app_no": i["app_no"],
                 "customer_name": i["customer_name"], "node_id": i["node_id"], "node_name": i["node_name"],
                 "role": i["role"], "kind": kinds[i["node_id"]], "status": "waiting", "created_at": now,
                 "worker": i["assignee"], "overbooked": False} for i in items]
        if rows:
            conn.execute(insert(JOBS), rows)
            conn.execute(insert(JOB_EVENTS), [{"job_id": r["id"], "at": now, "actor": "system", "kind": "created",
                                               "reason": "", "payload": "{}"} for r in rows])

    def jobs_cancelled(self, conn: Connection, job_ids: Iterable[str], now: datetime) -> None:
        """The process moved past these tasks without completing them: free their booked capacity."""
        for job in conn.execute(select(JOBS).where(JOBS.c.id.in_(list(job_ids)),
                                                   JOBS.c.status.in_(("waiting", "scheduled")))).mappings().all():
            if job["status"] == "scheduled":
                self._release(conn, job)
            conn.execute(update(JOBS).where(JOBS.c.id == job["id"]).values(status="cancelled"))
            conn.execute(insert(JOB_EVENTS).values(job_id=job["id"], at=now, actor="system", kind="cancelled",
                                                   reason="流程已越过该环节", payload="{}"))

    def worker_changed(self, conn: Connection, task_id: str, old: str | None, new: str) -> None:
        """A task handed to another person: its site work, not yet started, goes with it."""
        conn.execute(update(JOBS).where(JOBS.c.id == task_id, JOBS.c.status.in_(("waiting", "scheduled")),
                                        or_(JOBS.c.worker.is_(None), JOBS.c.worker == old)).values(worker=new))

    def require_finished(self, conn: Connection, task_id: str) -> None:
        """Conflict unless the task's field job has been checked out (the work on site is done)."""
        status = conn.execute(select(JOBS.c.status).where(JOBS.c.id == task_id)).scalar_one_or_none()
        if status is not None and status != "finished":
            raise Conflict(f"现场作业{STATUSES.get(status, status)}：须先由调度预约、现场到达并结束作业（签退）后，"
                           "才能办结该任务")

    # ----------------------------------------------------------------- reading

    def job(self, job_id: str) -> FieldJobInfo:
        """One field job (its id is the task's id)."""
        job = self.find(job_id)
        if job is None:
            raise NotFound(f"现场作业不存在：{job_id}")
        return job

    def find(self, task_id: str) -> FieldJobInfo | None:
        """The field job of a task, or None when the task is not site work."""
        with self.store.reading() as s:
            row = s.connection().execute(select(JOBS).where(JOBS.c.id == task_id.strip())).mappings().one_or_none()
        return self._info(row, self.clock()) if row is not None else None

    def customer_contact(self, job_id: str) -> tuple[str, str]:
        """The customer's contact captured at acceptance (name, phone) — what a booking offers first."""
        with self.store.read() as conn:
            app_id = conn.execute(select(JOBS.c.application_id).where(JOBS.c.id == job_id.strip())).scalar_one_or_none()
            if app_id is None:
                raise NotFound(f"现场作业不存在：{job_id}")
            payload = conn.execute(select(EVENTS.c.payload).where(
                EVENTS.c.application_id == app_id, EVENTS.c.kind == EventKind.APPLICATION_STARTED)).scalar_one_or_none()
        data = json.loads(payload).get("data", {}) if payload else {}
        name = str(data.get("contact_name") or data.get("customer_name") or "")
        return name, str(data.get("contact_phone") or "")

    def job_history(self, job_id: str) -> list[JobEventInfo]:
        """A field job's events, oldest first."""
        with self.store.reading() as s:
            rows = s.connection().execute(select(JOB_EVENTS).where(JOB_EVENTS.c.job_id == job_id)
                                          .order_by(JOB_EVENTS.c.id)).all()
        return [JobEventInfo(r.at, r.actor, r.kind, r.reason, json.loads(r.payload)) for r in rows]

    def jobs(self, *, status: str | Iterable[str] | None = None, station: str | None = None,
             day: date | None = None, half: str | None = None, worker: str | None = None,
             app_no: str | None = None, limit: int = 500) -> list[FieldJobInfo]:
        """Field jobs by status, station, day, half-day, worker or application; oldest first."""
        q = select(JOBS)
        if isinstance(status, str):
            q = q.where(JOBS.c.status == status)
        elif status is not None:
            q = q.where(JOBS.c.status.in_(list(status)))
        if station:
            q = q.where(JOBS.c.station_code == station)
        if day:
            q = q.where(JOBS.c.day == day)
        if half:
            q = q.where(JOBS.c.half == half)
        if worker:
            q = q.where(JOBS.c.worker == worker)
        if app_no:
            q = q.where(JOBS.c.app_no == app_no.strip())
        q = q.order_by(JOBS.c.day, JOBS.c.starts_at, JOBS.c.due_by, JOBS.c.created_at, JOBS.c.id).limit(limit)
        now = self.clock()
        with self.store.reading() as s:
            return [self._info(r, now) for r in s.connection().execute(q).mappings()]

    def late_jobs(self) -> list[FieldJobInfo]:
        """Scheduled jobs whose appointment has passed without a check-in."""
        now = self.clock()
        with self.store.reading() as s:
            rows = s.connection().execute(select(JOBS).where(JOBS.c.status == "scheduled", JOBS.c.due_by < now)
                                          .order_by(JOBS.c.due_by)).mappings().all()
        return [self._info(r, now) for r in rows]

    def board(self, start: date, days: int = 7) -> CapacityBoard:
        """Capacity and bookings of every station for each kind of job over ``days`` days from ``start``."""
        if not 1 <= days <= 31:
            raise InvalidInput("看板天数应在 1–31 之间")
        dates = tuple(start + timedelta(days=i) for i in range(days))
        stations = tuple(self.stations())
        calendar = self.calendar(None)
        with self.store.reading() as s:
            stored = {(r.station_code, r.day, r.kind): r for r in s.connection().execute(
                select(DAYS).where(DAYS.c.day >= dates[0], DAYS.c.day <= dates[-1]))}
        cells = {}
        for st in stations:
            for d in dates:
                for kind in JOB_KINDS:
                    row = stored.get((st.code, d, kind))
                    if row is not None:
                        cells[(st.code, d, kind)] = CapacityCell(st.code, d, kind, row.capacity, row.booked,
                                                                 row.adjusted_by is not None)
                    else:
                        cells[(st.code, d, kind)] = CapacityCell(st.code, d, kind,
                                                                 _default_capacity(st.area, kind, d, calendar), 0,
                                                                 False)
        return CapacityBoard(dates, stations, cells)

    # ----------------------------------------------------------------- dispatcher

    def schedule(self, job_id: str, by: str, appointment: Appointment, override_reason: str = "") -> FieldJobInfo:
        """Book a waiting job into a station's day with a customer appointment. Beyond the station's
        remaining capacity only with an override reason, which is recorded."""
        return self._book(job_id, by, appointment, override_reason, change_reason=None)

    def reschedule(self, job_id: str, by: str, appointment: Appointment, reason: str,
                   override_reason: str = "") -> FieldJobInfo:
        """Change an appointment (the customer asked, the crew is short…): the reason is required and kept."""
        if not reason.strip():
            raise FormValidationError("改约须填写原因", {"reason": "改约须填写原因"})
        return self._book(job_id, by, appointment, override_reason, change_reason=reason.strip()[:500])

    def _book(self, job_id: str, by: str, appt: Appointment, override_reason: str,
              change_reason: str | None) -> FieldJobInfo:
        now = self.clock()
        override_reason = override_reason.strip()[:500]
        with self.store.transaction() as s:
            conn = s.connection()
            roles = self.roles_of(conn, by)
            if DISPATCHER_ROLE not in roles:
                raise Forbidden(f"预约派工需要「{ROLES[DISPATCHER_ROLE]}」角色")
            job = self._job(conn, job_id, lock=True)
            if change_reason is None and job["status"] != "waiting":
                raise Conflict(f"该作业{STATUSES.get(job['status'], job['status'])}，不能重复预约（如需调整请改约）")
            if change_reason is not None and job["status"] != "scheduled":
                raise Conflict(f"该作业{STATUSES.get(job['status'], job['status'])}，只有已预约、未到达的作业可以改约")
            station = conn.execute(select(STATIONS).where(STATIONS.c.code == appt.station)).one_or_none()
            if station is None:
                raise FormValidationError(f"班所不存在：{appt.station}", {"station": "班所不存在"})
            if appt.day < now.date():
                raise FormValidationError("作业日期不能早于今天", {"day": "作业日期不能早于今天"})
            worker = appt.worker or job["worker"]
            if worker:
                row = conn.execute(select(USERS.c.roles, USERS.c.active).where(USERS.c.username == worker)).one_or_none()
                if row is None or not row.active or job["role"] not in row.roles.split(","):
                    who = names_of(conn, [worker]).get(worker, "所选人员")
                    raise FormValidationError(
                        f"{who}不是「{ROLES.get(job['role'], job['role'])}」人员，不能承担该作业",
                        {"worker": "人员角色不符"})
            starts_at, ends_at, due_by, half = _times(appt)
            if due_by < now:
                raise FormValidationError(f"约定的时间（{due_by:%m月%d日 %H:%M}）已过，请另约",
                                          {"start" if appt.mode != "deadline" else "deadline": "约定的时间已过"})
            if change_reason is not None:
                self._release(conn, job)
            overbooked = self._take_slot(conn, station, appt.day, job["kind"], override_reason)
            values = {"status": "scheduled", "station_code": appt.station, "day": appt.day, "half": half,
                      "mode": appt.mode, "starts_at": starts_at, "ends_at": ends_at, "due_by": due_by,
                      "contact_name": appt.contact_name, "contact_phone": appt.contact_phone, "worker": worker,
                      "overbooked": overbooked, "scheduled_by": by, "scheduled_at": now}
            conn.execute(update(JOBS).where(JOBS.c.id == job["id"]).values(**values))
            payload = {"station": appt.station, "day": appt.day.isoformat(), "half": half, "mode": appt.mode,
                       "starts_at": _iso(starts_at), "ends_at": _iso(ends_at), "due_by": _iso(due_by),
                       "contact_name": appt.contact_name, "contact_phone": appt.contact_phone, "worker": worker}
            if overbooked:
                payload["override"] = override_reason
            if change_reason is not None:
                payload["previous"] = {"station": job["station_code"], "day": _iso(job["day"]),
                                       "mode": job["mode"], "starts_at": _iso(job["starts_at"]),
                                       "ends_at": _iso(job["ends_at"]), "due_by": _iso(job["due_by"])}
            kind = "scheduled" if change_reason is None else "rescheduled"
            self._event(conn, job, by, now, kind, change_reason or (override_reason if overbooked else ""), payload)
            updated = {**job, **values}
        return self._info(updated, now)

    def _take_slot(self, conn: Connection, station: Any, day: date, kind: str, override_reason: str) -> bool:
        """Count one booking against the station's day; True when it goes beyond capacity (override)."""
        key = (DAYS.c.station_code == station.code, DAYS.c.day == day, DAYS.c.kind == kind)
        if conn.execute(select(DAYS.c.capacity).where(*key)).one_or_none() is None:
            try:
                with conn.begin_nested():
                    conn.execute(insert(DAYS).values(
                        station_code=station.code, day=day, kind=kind, booked=0,
                        capacity=_default_capacity(station.area, kind, day, self.calendar(conn))))
            except IntegrityError:
                pass  # another dispatcher created the row first: fine, it is the same default
        taken = conn.execute(update(DAYS).where(*key, DAYS.c.booked < DAYS.c.capacity)
                             .values(booked=DAYS.c.booked + 1)).rowcount
        if taken == 1:
            return False
        row = conn.execute(select(DAYS.c.capacity, DAYS.c.booked).where(*key)).one()
        if not override_reason:
            raise Conflict(f"{station.name} {day:%m月%d日}的{JOB_KINDS.get(kind, kind)}承载力已满"
                           f"（已约 {row.booked}/{row.capacity}），该时段已被约满；请改选日期或班所，"
                           "或填写超承载力原因后强制派工")
        conn.execute(update(DAYS).where(*key).values(booked=DAYS.c.booked + 1))
        return True

    def _release(self, conn: Connection, job: Row) -> None:
        if job["station_code"] and job["day"]:
            conn.execute(update(DAYS).where(DAYS.c.station_code == job["station_code"], DAYS.c.day == job["day"],
                                            DAYS.c.kind == job["kind"], DAYS.c.booked > 0)
                         .values(booked=DAYS.c.booked - 1))

    def set_capacity(self, station_code: str, day: date, kind: str, capacity: int, by: str) -> CapacityCell:
        """A station declares how many jobs of a kind it can take on a future day (its head, or a dispatcher)."""
        self.set_capacities(station_code, {(day, kind): capacity}, by)
        return self.board(day, 1).cell(station_code, day, kind)

    def set_capacities(self, station_code: str, values: Mapping[tuple[date, str], int], by: str) -> int:
        """Apply a station's declaration (day × kind → capacity), e.g. next week's, all or nothing: every bad
        cell is listed and nothing is saved. Returns how many cells changed."""
        now = self.clock()
        problems = []
        for (day, kind), capacity in sorted(values.items()):
            if kind not in JOB_KINDS:
                problems.append(f"未知作业类型：{kind}")
            if not 0 <= capacity <= MAX_CAPACITY:
                problems.append(f"{day:%m月%d日}{JOB_KINDS.get(kind, kind)}：承载力应在 0–{MAX_CAPACITY} 之间")
            if day <= now.date():
                problems.append(f"{day:%m月%d日}：只能调整明天及以后的承载力")
        if problems:
            raise InvalidInput("承载力未保存：" + "；".join(problems))
        changed = 0
        with self.store.transaction() as s:
            conn = s.connection()
            roles = self.roles_of(conn, by)
            own = conn.execute(select(USERS.c.station).where(USERS.c.username == by)).scalar_one_or_none()
            if DISPATCHER_ROLE not in roles and not (STATION_HEAD_ROLE in roles and own == station_code):
                raise Forbidden("只有本班所负责人或工单调度员可以调整承载力")
            area = conn.execute(select(STATIONS.c.area).where(STATIONS.c.code == station_code)).scalar_one_or_none()
            if area is None:
                raise NotFound(f"班所不存在：{station_code}")
            calendar = self.calendar(conn)
            for (day, kind), capacity in sorted(values.items()):
                key = (DAYS.c.station_code == station_code, DAYS.c.day == day, DAYS.c.kind == kind)
                row = conn.execute(select(DAYS.c.booked, DAYS.c.capacity).where(*key).with_for_update()).one_or_none()
                if row is None and capacity == _default_capacity(area, kind, day, calendar):
                    continue  # the standard capacity stands: nothing declared
                if row is None:
                    conn.execute(insert(DAYS).values(station_code=station_code, day=day, kind=kind, capacity=capacity,
                                                     booked=0, adjusted_by=by, adjusted_at=now))
                    changed += 1
                elif capacity < row.booked and capacity < row.capacity:
                    # lowering into the bookings; a day booked beyond its capacity (a recorded override) may keep
                    # its capacity, or raise it, without the form failing on it
                    problems.append(f"{day:%m月%d日}{JOB_KINDS[kind]}已预约 {row.booked} 单，承载力不能调低到该数以下")
                elif capacity != row.capacity:
                    conn.execute(update(DAYS).where(*key).values(capacity=capacity, adjusted_by=by, adjusted_at=now))
                    changed += 1
            if problems:
                raise InvalidInput("承载力未保存：" + "；".join(problems))
        return changed

    # ----------------------------------------------------------------- field worker

    def check_in(self, job_id: str, by: str, note: str) -> FieldJobInfo:
        """The worker reports arrival on site (first phone report), with the situation found."""
        return self._report(job_id, by, note, "scheduled", "on_site", "checked_in")

    def check_out(self, job_id: str, by: str, note: str) -> FieldJobInfo:
        """The worker reports the work finished (second phone report); a customer callback is opened."""
        return self._report(job_id, by, note, "on_site", "finished", "checked_out")

    def _report(self, job_id: str, by: str, note: str, expected: str, status: str, kind: str) -> FieldJobInfo:
        note = note.strip()
        if not note:
            raise FormValidationError("请填写现场情况说明", {"note": "请填写现场情况说明"})
        if len(note) > 2000:
            raise FormValidationError("情况说明不能超过 2000 字", {"note": "不能超过 2000 字"})
        now = self.clock()
        with self.store.transaction() as s:
            conn = s.connection()
            roles = self.roles_of(conn, by)
            job = self._job(conn, job_id, lock=True)
            if job["worker"] and job["worker"] != by and job["worker"] not in absentees(conn, by, now):
                who = names_of(conn, [job["worker"]]).get(job["worker"], "其他同事")
                raise Forbidden(f"该作业派给了{who}，只有作业人员本人（或其休假期间的代理人）可以汇报")
            item = conn.execute(select(ITEMS).where(ITEMS.c.id == job["id"])).mappings().one()
            view = _ItemView(item["role"], item["assignee"], item["claimed_by"], item["node_name"])
            reason = None if job["worker"] else refusal(view, by, roles, claimed_counts=False)
            if reason:
                raise Forbidden(reason)
            if job["status"] != expected:
                if expected == "scheduled" and job["status"] == "waiting":
                    raise Conflict("该作业尚未预约：须先由工单调度员预约派工，才能到达现场")
                raise Conflict(f"该作业{STATUSES.get(job['status'], job['status'])}，不能{EVENT_NAMES[kind]}")
            values: dict[str, Any] = {"status": status}
            if kind == "checked_in":
                values.update(checked_in_at=now, check_in_note=note)
            else:
                values.update(checked_out_at=now, check_out_note=note)
            conn.execute(update(JOBS).where(JOBS.c.id == job["id"]).values(**values))
            self._event(conn, job, by, now, kind, note, {"late": bool(kind == "checked_in" and job["due_by"]
                                                                      and now > job["due_by"])})
            if kind == "checked_out":
                conn.execute(insert(CALLBACKS).values(job_id=job["id"], application_id=job["application_id"],
                                                      app_no=job["app_no"], status="open", created_at=now,
                                                      issues="", close_note=""))
            updated = {**job, **values}
        return self._info(updated, now)

    # ----------------------------------------------------------------- callbacks (回访)

    def callbacks(self, status: str | Iterable[str] | None = ("open", "issue_open"), *,
                  app_nos: Iterable[str] | None = None, limit: int = 200) -> list[CallbackInfo]:
        """Callbacks to make and issues still open (or any status), oldest first."""
        q = (select(CALLBACKS, JOBS.c.customer_name, JOBS.c.node_name, JOBS.c.contact_name, JOBS.c.contact_phone)
             .join(JOBS, JOBS.c.id == CALLBACKS.c.job_id))
        if isinstance(status, str):
            q = q.where(CALLBACKS.c.status == status)
        elif status is not None:
            q = q.where(CALLBACKS.c.status.in_(list(status)))
        if app_nos is not None:
            q = q.where(CALLBACKS.c.app_no.in_(list(app_nos)))
        with self.store.reading() as s:
            rows = s.connection().execute(q.order_by(CALLBACKS.c.created_at, CALLBACKS.c.id).limit(limit)).mappings()
            return [_callback_info(r) for r in rows]

    def callback_counts(self) -> dict[str, int]:
        """How many callbacks are in each status (open, issue_open, closed)."""
        with self.store.reading() as s:
            rows = s.connection().execute(select(CALLBACKS.c.status, func.count()).group_by(CALLBACKS.c.status))
            return {status: int(n) for status, n in rows}

    def callback(self, callback_id: int) -> CallbackInfo:
        """One callback."""
        with self.store.reading() as s:
            row = s.connection().execute(
                select(CALLBACKS, JOBS.c.customer_name, JOBS.c.node_name, JOBS.c.contact_name, JOBS.c.contact_phone)
                .join(JOBS, JOBS.c.id == CALLBACKS.c.job_id).where(CALLBACKS.c.id == callback_id)).mappings().one_or_none()
        if row is None:
            raise NotFound(f"回访不存在：{callback_id}")
        return _callback_info(row)

    def record_callback(self, callback_id: int, by: str, reached: bool, satisfied: bool | None,
                        issues: str) -> CallbackInfo:
        """Record a callback: reached or not, satisfied or not, issues raised (which keep it open)."""
        issues = issues.strip()
        if len(issues) > 2000:
            raise FormValidationError("问题描述不能超过 2000 字", {"issues": "不能超过 2000 字"})
        if reached and satisfied is None:
            raise FormValidationError("联系上客户时须选择是否满意", {"satisfied": "请选择是否满意"})
        if reached and satisfied is False and not issues:
            raise FormValidationError("客户不满意时须记录客户反映的问题", {"issues": "请记录问题"})
        now = self.clock()
        with self.store.transaction() as s:
            conn = s.connection()
            if CALLBACK_ROLE not in self.roles_of(conn, by):
                raise Forbidden(f"回访需要「{ROLES[CALLBACK_ROLE]}」角色")
            row = conn.execute(select(CALLBACKS).where(CALLBACKS.c.id == callback_id).with_for_update()
                               ).mappings().one_or_none()
            if row is None:
                raise NotFound(f"回访不存在：{callback_id}")
            if row["status"] != "open":
                raise Conflict("该回访已记录")
            # Not reached: stays open to call again. Issues raised: open until somebody closes them.
            status = "open" if not reached else ("issue_open" if issues else "closed")
            values = {"reached": reached, "satisfied": satisfied if reached else None, "issues": issues,
                      "recorded_by": by, "recorded_at": now, "status": status}
            if status == "closed":
                values.update(closed_by=by, closed_at=now)
            if not reached:
                values.update(recorded_by=by, recorded_at=now)
            conn.execute(update(CALLBACKS).where(CALLBACKS.c.id == callback_id).values(**values))
            self.audit_only(conn, row["application_id"], PendingEvent(
                EventKind.CALLBACK_RECORDED, by, now, {"callback": callback_id, "reached": reached, "satisfied": satisfied,
                                                "issues": issues}, None, row["job_id"]))
        return self.callback(callback_id)

    def close_callback(self, callback_id: int, by: str, note: str) -> CallbackInfo:
        """Close the issues a customer raised, saying how they were resolved."""
        note = note.strip()
        if not note:
            raise FormValidationError("请填写处理结果", {"note": "请填写处理结果"})
        now = self.clock()
        with self.store.transaction() as s:
            conn = s.connection()
            roles = self.roles_of(conn, by)
            if CALLBACK_ROLE not in roles and SUPERVISOR_ROLE not in roles:
                raise Forbidden("只有客户服务或营销部可以关闭问题")
            row = conn.execute(select(CALLBACKS).where(CALLBACKS.c.id == callback_id).with_for_update()
                               ).mappings().one_or_none()
            if row is None:
                raise NotFound(f"回访不存在：{callback_id}")
            if row["status"] != "issue_open":
                raise Conflict("该回访没有未关闭的问题")
            conn.execute(update(CALLBACKS).where(CALLBACKS.c.id == callback_id).values(
                status="closed", closed_by=by, closed_at=now, close_note=note[:2000]))
            self.audit_only(conn, row["application_id"], PendingEvent(
                EventKind.CALLBACK_CLOSED, by, now, {"callback": callback_id, "note": note[:2000]}, None, row["job_id"]))
        return self.callback(callback_id)

    # ----------------------------------------------------------------- the morning meeting

    def daily_summary(self, username: str, day: date) -> DailySummary:
        """Yesterday's finished steps, today's appointments, applications near their limits and the
        problems raised, for one customer manager's applications."""
        calendar = self.calendar(None)
        since = calendar.previous_workday(day)
        start, end = datetime.combine(since, time.min), datetime.combine(day, time.min)
        now = self.clock()
        horizon = calendar.add_working_days(datetime.combine(day, time.max), 1)
        with self.store.reading() as s:
            conn = s.connection()
            mine = select(ITEMS.c.application_id).where(ITEMS.c.assignee == username).distinct()
            finished = conn.execute(
                select(ITEMS.c.app_no, ITEMS.c.customer_name, ITEMS.c.node_name, ITEMS.c.completed_by,
                       ITEMS.c.completed_at)
                .where(ITEMS.c.status == "completed", ITEMS.c.completed_at >= start, ITEMS.c.completed_at < end,
                       or_(ITEMS.c.completed_by == username, ITEMS.c.application_id.in_(mine)))
                .order_by(ITEMS.c.completed_at)).mappings().all()
            appointments = conn.execute(
                select(JOBS).where(JOBS.c.day == day, JOBS.c.status.in_(("scheduled", "on_site", "finished")),
                                   or_(JOBS.c.worker == username, JOBS.c.application_id.in_(mine)))
                .order_by(JOBS.c.starts_at, JOBS.c.due_by)).mappings().all()
            near = conn.execute(
                select(ITEMS.c.id, ITEMS.c.app_no, ITEMS.c.customer_name, ITEMS.c.node_name, ITEMS.c.due_at,
                       ITEMS.c.assignee, ITEMS.c.role)
                .where(ITEMS.c.status == "ready", ITEMS.c.due_at.is_not(None), ITEMS.c.due_at <= horizon,
                       ITEMS.c.application_id.in_(mine))
                .order_by(ITEMS.c.due_at)).mappings().all()
            late = conn.execute(
                select(JOBS).where(JOBS.c.status == "scheduled", JOBS.c.due_by < now,
                                   or_(JOBS.c.worker == username, JOBS.c.application_id.in_(mine)))
                .order_by(JOBS.c.due_by)).mappings().all()
            problems = conn.execute(
                select(CALLBACKS, JOBS.c.customer_name, JOBS.c.node_name, JOBS.c.contact_name, JOBS.c.contact_phone)
                .join(JOBS, JOBS.c.id == CALLBACKS.c.job_id)
                .where(CALLBACKS.c.status == "issue_open", CALLBACKS.c.application_id.in_(mine))
                .order_by(CALLBACKS.c.created_at)).mappings().all()
        near_rows = tuple({**r, "overdue": r["due_at"] < now} for r in near)
        return DailySummary(username, day, since, tuple(dict(r) for r in finished),
                            tuple(self._info(r, now) for r in appointments), near_rows,
                            tuple(_callback_info(r) for r in problems), tuple(self._info(r, now) for r in late))

    # ----------------------------------------------------------------- helpers

    def _job(self, conn: Connection, job_id: str, lock: bool = False) -> dict[str, Any]:
        q = select(JOBS).where(JOBS.c.id == job_id.strip())
        row = conn.execute(q.with_for_update() if lock else q).mappings().one_or_none()
        if row is None:
            raise NotFound(f"现场作业不存在：{job_id}")
        return dict(row)

    def _event(self, conn: Connection, job: Mapping[str, Any], by: str, now: datetime, kind: str, reason: str,
               payload: Mapping[str, Any]) -> None:
        conn.execute(insert(JOB_EVENTS).values(job_id=job["id"], at=now, actor=by, kind=kind, reason=reason,
                                               payload=json.dumps(payload, ensure_ascii=False)))
        self.audit_only(conn, job["application_id"], PendingEvent(
            f"fieldjob.{kind}", by, now, {"kind": job["kind"], "reason": reason, **payload}, job["node_id"], job["id"]))

    @staticmethod
    def _info(row: Row, now: datetime) -> FieldJobInfo:
        late = row["status"] == "scheduled" and row["due_by"] is not None and row["due_by"] < now
        return FieldJobInfo(
            row["id"], row["app_no"], row["customer_name"], row["node_id"], row["node_name"], row["role"],
            row["kind"], row["status"], row["created_at"], row["station_code"], row["day"], row["half"], row["mode"],
            row["starts_at"], row["ends_at"], row["due_by"], row["contact_name"], row["contact_phone"], row["worker"],
            bool(row["overbooked"]), row["scheduled_by"], row["checked_in_at"], row["check_in_note"],
            row["checked_out_at"], row["check_out_note"], late)


class _ItemView(NamedTuple):
    """The fields of a work item the permission rule reads."""

    role: str
    assignee: str | None
    claimed_by: str | None
    node_name: str


def _default_capacity(area: str, kind: str, day: date, calendar: WorkingCalendar) -> int:
    """The area's standard capacity on a working day; none on rest days (override or declare to work)."""
    if not calendar.is_workday(day):
        return 0
    return DEFAULT_CAPACITY.get(area, DEFAULT_CAPACITY["urban"]).get(kind, 0)


def _times(appt: Appointment) -> tuple[datetime | None, datetime | None, datetime, str]:
    """Start, end, the moment by which the worker must have arrived, and the half-day list it goes on."""
    if appt.mode == "fixed":
        assert appt.start is not None
        at = datetime.combine(appt.day, appt.start)
        return at, None, at, "am" if appt.start < time(12) else "pm"
    if appt.mode == "window":
        assert appt.start is not None and appt.end is not None
        begin, end = datetime.combine(appt.day, appt.start), datetime.combine(appt.day, appt.end)
        return begin, end, end, "am" if appt.start < time(12) else "pm"
    assert appt.deadline is not None
    return None, None, datetime.combine(appt.deadline, DEADLINE_HOUR), appt.half or "am"


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _callback_info(r: Row) -> CallbackInfo:
    return CallbackInfo(r["id"], r["job_id"], r["app_no"], r["customer_name"], r["node_name"], r["contact_name"],
                        r["contact_phone"], r["status"], r["created_at"], r["reached"], r["satisfied"], r["issues"],
                        r["recorded_by"], r["recorded_at"], r["closed_by"], r["closed_at"], r["close_note"])


MARKERS = (Marker(FIELD_JOB, JOB_KINDS, person_tasks_only=True, title="现场作业",
                  hint="需要到现场的环节：派工约时，到场、离场报告后才能提交"),)
"""A user task marked fieldJob=<kind> is site work: a field job opens with it (the gate checks the kind)."""


class FieldWorkHook(StepHook):
    """Field work's part in every step: a marked task opens a site job, cannot be completed before its
    check-out, frees its booked capacity when the process moves past it, and follows its task to a new holder."""

    def __init__(self, field_work: FieldWork) -> None:
        self.field_work = field_work

    def check_completion(self, conn: Connection, item: Mapping[str, Any], node: NodeInfo | None) -> None:
        if node is not None and node.properties.get(FIELD_JOB):
            self.field_work.require_finished(conn, item["id"])

    def tasks_opened(self, step: StepContext, opened: Sequence[OpeningTask]) -> None:
        kinds = {o.item["node_id"]: o.node.properties[FIELD_JOB] for o in opened
                 if o.node is not None and o.node.properties.get(FIELD_JOB)}
        if kinds:
            self.field_work.jobs_ready(step.conn, [o.item for o in opened if o.item["node_id"] in kinds], kinds,
                                       step.now)

    def tasks_closed(self, step: StepContext, closed: Sequence[ClosedTask]) -> None:
        marked = {n.id for n in step.diagram.nodes.values() if n.properties.get(FIELD_JOB)}
        cancelled = [c.id for c in closed if c.status == "cancelled" and c.node_id in marked]
        if cancelled:
            self.field_work.jobs_cancelled(step.conn, cancelled, step.now)

    def task_reassigned(self, conn: Connection, task_id: str, old: str | None, new: str) -> None:
        self.field_work.worker_changed(conn, task_id, old, new)
