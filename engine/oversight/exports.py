"""Event logs for process mining, made from the audit trail: CSV or XES (IEEE 1849-2016), streamed.

One trace per application; one event per lifecycle transition of a user task — ``schedule`` (it became
ready), ``assign`` (claimed), ``reassign`` (handed over by a supervisor), ``complete`` (submitted),
``ate_abort`` (withdrawn by the process, e.g. a boundary event) — plus ``start`` and ``complete`` of 受理
(one moment) and ``complete`` (办结) of the whole case.  Activity names are the Chinese node names of the diagram version the
application ran on.  Releasing a claimed task is not a lifecycle transition of XES and is left out.

Applications are read in id order a batch per read session and records are yielded as they are made,
so an export of the whole database runs in constant memory and a web response can start at once.
Naive database times are local times of :data:`CHINA_TIME`; exported times always carry an offset.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from itertools import groupby
from typing import Any
from xml.sax.saxutils import quoteattr

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..casework.records import application_conditions
from ..errors import InvalidInput, NotFound
from ..kernel.loading import BPMN_NS, parse_xml
from ..kernel.transitions import recorded_moves
from ..store import Store
from ..store.tables import APPS, EVENTS, VERSIONS
from ..vocabulary import INPUT_KINDS, ROLES, SHIPPED, EventKind, role_for_lane

CHINA_TIME = timezone(timedelta(hours=8), "CST")
DEFAULT_BATCH = 100
CSV_COLUMNS = ("申请编号", "环节", "时间", "办理人", "角色", "生命周期", "业务类型", "节点标识")
"""The CSV's header, in Chinese (case id, activity, timestamp, resource, role, lifecycle, variant, node id)."""
CSV_BOM = "\ufeff"
"""The CSV starts with a byte order mark: Excel on Chinese Windows then reads it as UTF-8, not GBK."""
PROCESS_KEYS = SHIPPED

TASK_LIFECYCLE = {EventKind.TASK_READY: "schedule", EventKind.TASK_CLAIMED: "assign", EventKind.TASK_REASSIGNED: "reassign",
                  EventKind.TASK_COMPLETED: "complete"}
MOVE_KINDS = frozenset({*INPUT_KINDS, EventKind.ENGINE_TRANSITIONS})
"""Events that record the engine's moves (engine.kernel.transitions): the inputs, and the earlier separate event."""
READ_KINDS = tuple({*TASK_LIFECYCLE, EventKind.APPLICATION_STARTED, EventKind.APPLICATION_COMPLETED, *MOVE_KINDS})

Progress = Callable[[int, int], Any]


@dataclass(frozen=True)
class CaseInfo:
    """The attributes of one trace: an application."""

    app_no: str
    variant: str
    version: int
    customer_name: str
    customer_type: str
    status: str
    created_at: datetime


@dataclass(frozen=True)
class LogRecord:
    """One event of the log: an activity's lifecycle transition in one case, by whom and when."""

    case: CaseInfo
    seq: int  # the audit event it was made from
    activity: str
    timestamp: datetime  # always timezone-aware
    lifecycle: str
    resource: str
    role: str
    node_id: str


@dataclass(frozen=True)
class _Node:
    name: str
    kind: str
    role: str


def event_log(store: Store, *, app_nos: Iterable[str] | None = None, process_key: str | None = None,
              status: str | None = None, created_from: date | None = None, created_to: date | None = None,
              progress: Progress | None = None, batch_size: int = DEFAULT_BATCH,
              tz: tzinfo = CHINA_TIME) -> Iterator[LogRecord]:
    """The event log of the applications matching every filter given, one case after another (id order).

    Filters are checked and the matching applications counted now (unknown numbers raise NotFound);
    records are read lazily as the iterator is consumed. ``progress(done, total)`` follows each case."""
    wanted = list(dict.fromkeys(n.strip().upper() for n in app_nos if n.strip())) if app_nos is not None else None
    if process_key is not None and process_key not in PROCESS_KEYS:
        raise InvalidInput(f"未知的流程：{process_key}（可选 {'、'.join(PROCESS_KEYS)}）")
    if created_from and created_to and created_from > created_to:
        raise InvalidInput(f"起始日期 {created_from} 晚于截止日期 {created_to}")
    cond: list[Any] = []
    if wanted is not None:
        cond.append(APPS.c.app_no.in_(wanted))
    cond += application_conditions(process_key=process_key, status=status, created_from=created_from,
                                   created_to=created_to)
    with store.reading() as s:
        if wanted:
            known = set(s.scalars(select(APPS.c.app_no).where(APPS.c.app_no.in_(wanted))))
            missing = [n for n in wanted if n not in known]
            if missing:
                raise NotFound(f"申请不存在：{'、'.join(missing)}")
        total = int(s.execute(select(func.count()).select_from(APPS).where(*cond)).scalar_one())
    return _records(store, cond, total, progress, max(1, batch_size), tz)


def _records(store: Store, cond: list[Any], total: int, progress: Progress | None, batch_size: int,
             tz: tzinfo) -> Iterator[LogRecord]:
    nodes_by_version: dict[int, Mapping[str, _Node]] = {}
    last_id = 0
    done = 0
    while True:
        with store.reading() as s:
            apps = s.execute(
                select(APPS.c.id, APPS.c.app_no, APPS.c.process_key, APPS.c.version_id, APPS.c.status,
                       APPS.c.customer_name, APPS.c.customer_type, APPS.c.created_at, VERSIONS.c.version)
                .join(VERSIONS, VERSIONS.c.id == APPS.c.version_id)
                .where(*cond, APPS.c.id > last_id).order_by(APPS.c.id).limit(batch_size)).all()
            if not apps:
                return
            events = s.execute(
                select(EVENTS.c.application_id, EVENTS.c.seq, EVENTS.c.at, EVENTS.c.actor, EVENTS.c.kind,
                       EVENTS.c.node_id, EVENTS.c.task_id, EVENTS.c.payload)
                .where(EVENTS.c.application_id.in_([a.id for a in apps]), EVENTS.c.kind.in_(READ_KINDS))
                .order_by(EVENTS.c.application_id, EVENTS.c.seq)).all()
            for version_id in {a.version_id for a in apps} - nodes_by_version.keys():
                nodes_by_version[version_id] = _nodes(s, version_id)
        by_app = {app_id: list(rows) for app_id, rows in groupby(events, key=lambda e: e.application_id)}
        last_id = apps[-1].id
        for a in apps:
            case = CaseInfo(a.app_no, a.process_key, a.version, a.customer_name, a.customer_type, a.status,
                            a.created_at)
            yield from _case_records(case, by_app.get(a.id, ()), nodes_by_version[a.version_id], tz)
            done += 1
            if progress:
                progress(done, max(total, done))


def _case_records(case: CaseInfo, events: Iterable[Any], nodes: Mapping[str, _Node],
                  tz: tzinfo) -> Iterator[LogRecord]:
    """Turn one application's audit events into log records."""
    open_tasks: dict[str, tuple[str, str]] = {}  # task id → (node id, role key) of a task not yet finished
    end_node = next((node_id for node_id, n in nodes.items() if n.kind == "endEvent"), "")
    for ev in events:
        at = _aware(ev.at, tz)
        node_id = ev.node_id or ""
        if ev.kind == EventKind.APPLICATION_STARTED:
            start = next((node_id for node_id, n in nodes.items() if n.kind == "startEvent"), "")
            yield _record(case, ev.seq, nodes, start, "受理", at, "start", ev.actor, _role_of(nodes, start))
            # Acceptance is done in the same moment: a complete event too, so that a log filtered to completed
            # activities (what most mining tools read) has the case's first activity.
            yield _record(case, ev.seq, nodes, start, "受理", at, "complete", ev.actor, _role_of(nodes, start))
        elif ev.kind == EventKind.TASK_READY:
            payload = json.loads(ev.payload)
            role = str(payload.get("role") or "")
            open_tasks[ev.task_id] = (node_id, role)
            yield _record(case, ev.seq, nodes, node_id, node_id, at, "schedule", str(payload.get("assignee") or ""),
                          role)
        elif ev.kind in TASK_LIFECYCLE:
            role = open_tasks.get(ev.task_id, (node_id, ""))[1] or _role_of(nodes, node_id)
            resource = ev.actor
            if ev.kind == EventKind.TASK_REASSIGNED:
                resource = str(json.loads(ev.payload).get("to") or "")
            elif ev.kind == EventKind.TASK_COMPLETED:
                open_tasks.pop(ev.task_id, None)
            yield _record(case, ev.seq, nodes, node_id, node_id, at, TASK_LIFECYCLE[ev.kind], resource, role)
        # what the engine did in the step: an end reached, open tasks withdrawn by the process
        moves = recorded_moves(ev.kind, json.loads(ev.payload)) if ev.kind in MOVE_KINDS else []
        for name, old, new, task_id in moves:
            if new == "COMPLETED" and name in nodes and nodes[name].kind == "endEvent":
                end_node = name
            elif old == "READY" and new == "CANCELLED":
                if task_id is None:  # moves name nodes: a node has one open task at a time
                    task_id = next((t for t, (n, _) in open_tasks.items() if n == name), None)
                if task_id in open_tasks:
                    cancelled_node, role = open_tasks.pop(task_id)
                    yield _record(case, ev.seq, nodes, cancelled_node, cancelled_node, at, "ate_abort", "", role)
        if ev.kind == EventKind.APPLICATION_COMPLETED:
            yield _record(case, ev.seq, nodes, end_node, "办结", at, "complete", ev.actor, "")


def _record(case: CaseInfo, seq: int, nodes: Mapping[str, _Node], node_id: str, fallback: str, at: datetime,
            lifecycle: str, resource: str, role: str) -> LogRecord:
    """A record named after the node (or ``fallback`` if the diagram has no name for it); role as shown to people."""
    name = nodes[node_id].name if node_id in nodes and nodes[node_id].name else fallback
    return LogRecord(case, seq, name, at, lifecycle, resource, ROLES.get(role, role), node_id)


def _role_of(nodes: Mapping[str, _Node], node_id: str) -> str:
    return nodes[node_id].role if node_id in nodes else ""


def _aware(at: datetime, tz: tzinfo) -> datetime:
    return at.replace(tzinfo=tz) if at.tzinfo is None else at.astimezone(tz)


def _nodes(s: Session, version_id: int) -> Mapping[str, _Node]:
    """Name, kind and lane role of every flow node of a deployed version, parsed with the hardened parser."""
    xml = s.execute(select(VERSIONS.c.bpmn_xml).where(VERSIONS.c.id == version_id)).scalar_one().encode("utf-8")
    root = parse_xml(xml, max_bytes=len(xml)).getroot()  # checked when deployed: no size limit here
    roles: dict[str, str] = {}
    for lane in root.iter(f"{{{BPMN_NS}}}lane"):
        role = role_for_lane(lane.get("name")) or ""
        for ref in lane.iter(f"{{{BPMN_NS}}}flowNodeRef"):
            roles[(ref.text or "").strip()] = role
    nodes: dict[str, _Node] = {}
    for process in root.iter(f"{{{BPMN_NS}}}process"):
        for element in process.iter():
            node_id = element.get("id") if isinstance(element.tag, str) else None
            if node_id:
                kind = element.tag.rsplit("}", 1)[-1]
                nodes[node_id] = _Node((element.get("name") or "").strip(), kind, roles.get(node_id, ""))
    return nodes


# ----------------------------------------------------------------------------- CSV


def to_csv(records: Iterable[LogRecord]) -> Iterator[str]:
    """The log as CSV text for Excel on Chinese Windows: a byte order mark, the Chinese header, then one line
    per record (times ISO 8601 with offset)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(row: Iterable[Any]) -> str:
        writer.writerow(row)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield CSV_BOM + line(CSV_COLUMNS)
    for r in records:
        yield line((r.case.app_no, r.activity, r.timestamp.isoformat(timespec="milliseconds"), r.resource,
                    r.role, r.lifecycle, r.case.variant, r.node_id))


# ----------------------------------------------------------------------------- XES

XES_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<log xes.version="1849-2016" xes.features="" xmlns="http://www.xes-standard.org/">
  <extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>
  <extension name="Time" prefix="time" uri="http://www.xes-standard.org/time.xesext"/>
  <extension name="Lifecycle" prefix="lifecycle" uri="http://www.xes-standard.org/lifecycle.xesext"/>
  <extension name="Organizational" prefix="org" uri="http://www.xes-standard.org/org.xesext"/>
  <global scope="trace">
    <string key="concept:name" value="__INVALID__"/>
  </global>
  <global scope="event">
    <string key="concept:name" value="__INVALID__"/>
    <date key="time:timestamp" value="1970-01-01T00:00:00.000+00:00"/>
    <string key="lifecycle:transition" value="complete"/>
  </global>
  <classifier name="Activity" keys="concept:name"/>
  <classifier name="Activity and lifecycle" keys="concept:name lifecycle:transition"/>
  <classifier name="Resource" keys="org:resource"/>
  <string key="concept:name" value="业扩报装事件日志"/>
  <string key="lifecycle:model" value="standard"/>
"""
XES_TAIL = "</log>\n"

# Characters XML 1.0 cannot carry at all, even escaped: replaced so that the file always parses.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_REPLACEMENT = "\ufffd"


def _attr(kind: str, key: str, value: str, indent: str) -> str:
    return f"{indent}<{kind} key={quoteattr(key)} value={quoteattr(_NOT_XML.sub(_REPLACEMENT, value))}/>\n"


def _xes_time(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds")


def to_xes(records: Iterable[LogRecord]) -> Iterator[str]:
    """The log as an XES document, one ``<trace>`` per case (records must come grouped by case)."""
    yield XES_HEAD
    for _, group in groupby(records, key=lambda r: r.case.app_no):
        first = next(group)
        case = first.case
        parts = ["  <trace>\n",
                 _attr("string", "concept:name", case.app_no, "    "),
                 _attr("string", "variant", case.variant, "    "),
                 _attr("int", "version", str(case.version), "    "),
                 _attr("string", "customer_name", case.customer_name, "    "),
                 _attr("string", "customer_type", case.customer_type, "    "),
                 _attr("string", "status", case.status, "    "),
                 _attr("date", "created_at", _xes_time(_aware(case.created_at, first.timestamp.tzinfo or CHINA_TIME)),
                       "    ")]
        for r in (first, *group):
            parts.append("    <event>\n")
            parts.append(_attr("string", "concept:name", r.activity, "      "))
            parts.append(_attr("date", "time:timestamp", _xes_time(r.timestamp), "      "))
            parts.append(_attr("string", "lifecycle:transition", r.lifecycle, "      "))
            if r.resource:
                parts.append(_attr("string", "org:resource", r.resource, "      "))
            if r.role:
                parts.append(_attr("string", "org:role", r.role, "      "))
            if r.node_id:
                parts.append(_attr("string", "node_id", r.node_id, "      "))
            parts.append(_attr("int", "audit_seq", str(r.seq), "      "))
            parts.append("    </event>\n")
        parts.append("  </trace>\n")
        yield "".join(parts)
    yield XES_TAIL


__all__ = ["CHINA_TIME", "CSV_COLUMNS", "CaseInfo", "LogRecord", "event_log", "to_csv", "to_xes"]
