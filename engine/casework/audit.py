"""The audit trail: append-only events, hash-chained per application.

Each event stores the hash of the previous event of the same application and a hash over its
own canonical content, so changing or deleting any event breaks the chain from there on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Protocol

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.orm import Session

from ..errors import NotFound

from ..kernel.canonical import canonical
from ..store.tables import APPS, EVENTS
from ..results import AuditVerdict

GENESIS = "0" * 64
INSERT_EVENTS = insert(EVENTS)


def event_hash(prev_hash: str, seq: int, at: datetime, actor: str, kind: str,
               node_id: str | None, task_id: str | None, payload: str) -> str:
    """The hash of one event's content chained to its predecessor."""
    body = canonical([prev_hash, seq, at.isoformat(), actor, kind, node_id, task_id, payload])
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass
class PendingEvent:
    """An event to be written in the current transaction."""

    kind: str
    actor: str
    at: datetime
    payload: Mapping[str, Any]
    node_id: str | None = None
    task_id: str | None = None


class ChainHead(Protocol):
    """The application fields the chain needs: its id and the current head of its chain."""

    id: int
    audit_seq: int
    audit_head: str


def append(conn: Connection | Session, app: ChainHead, events: list[PendingEvent]) -> None:
    """Chain and insert events for one application; the caller writes the new head to its row."""
    rows = []
    head = app.audit_head or GENESIS
    seq = app.audit_seq
    for ev in events:
        seq += 1
        payload = canonical(ev.payload)
        digest = event_hash(head, seq, ev.at, ev.actor, ev.kind, ev.node_id, ev.task_id, payload)
        rows.append({
            "application_id": app.id, "seq": seq, "at": ev.at, "actor": ev.actor, "kind": ev.kind,
            "node_id": ev.node_id, "task_id": ev.task_id, "payload": payload, "prev_hash": head, "hash": digest,
        })
        head = digest
    if rows:
        conn.execute(INSERT_EVENTS, rows)
    app.audit_seq = seq
    app.audit_head = head


LOCK_CHAIN_HEAD = (select(APPS.c.id, APPS.c.audit_seq, APPS.c.audit_head)
                   .where(APPS.c.id == bindparam("app_id")).with_for_update())


@dataclass
class _Head:
    id: int
    audit_seq: int
    audit_head: str


def append_only(conn: Connection, app_id: int, event: PendingEvent) -> None:
    """Append one event outside a workflow step (claims, site work, notifications): the workflow is untouched,
    the application's chain head moves on in the same transaction."""
    row = conn.execute(LOCK_CHAIN_HEAD, {"app_id": app_id}).one_or_none()
    if row is None:
        raise NotFound("申请不存在")
    head = _Head(row.id, row.audit_seq, row.audit_head)
    append(conn, head, [event])
    conn.execute(update(APPS).where(APPS.c.id == app_id).values(audit_seq=head.audit_seq, audit_head=head.audit_head))


class ChainOwner(ChainHead, Protocol):
    """An application as the chain check sees it."""

    app_no: str


def verify(conn: Connection | Session, app: ChainOwner) -> AuditVerdict:
    """Walk an application's chain; report the first event whose content or link is wrong."""
    prev = GENESIS
    expected_seq = 0
    count = 0
    for ev in conn.execute(select(EVENTS).where(EVENTS.c.application_id == app.id).order_by(EVENTS.c.seq)):
        expected_seq += 1
        count += 1
        if ev.seq != expected_seq:
            return AuditVerdict(app.app_no, False, count, expected_seq, f"缺少第 {expected_seq} 条事件")
        if ev.prev_hash != prev:
            return AuditVerdict(app.app_no, False, count, ev.seq, "与前一条事件的链接不符")
        digest = event_hash(prev, ev.seq, ev.at, ev.actor, ev.kind, ev.node_id, ev.task_id, ev.payload)
        if digest != ev.hash:
            return AuditVerdict(app.app_no, False, count, ev.seq, "事件内容已被修改")
        prev = ev.hash
    if expected_seq != app.audit_seq or prev != (app.audit_head or GENESIS):
        return AuditVerdict(app.app_no, False, count, expected_seq + 1, "链尾事件缺失")
    return AuditVerdict(app.app_no, True, count)
