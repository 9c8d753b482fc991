"""三不指定: the list of qualified designers, builders and equipment suppliers 营销部 keeps.

The utility never nominates a customer's designer, builder or supplier (seeds 002, 003); it shows a list of
qualified firms — at least five of each kind, in rotation so that no firm is always first — and states the
customer's right to choose freely. The list is shown on the progress page and in the acceptance notice.
Every change is kept (who, when, what) in ``firm_events``: the list belongs to no application, so it has no
hash chain of its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ..errors import FormValidationError, NotFound
from ..store import Store
from ..store.tables import FIRM_EVENTS, FIRMS

FIRM_KINDS: Mapping[str, str] = {"design": "设计单位", "construction": "施工单位", "supply": "设备供应单位"}
"""Kind → its Chinese name, in the order the lists are shown."""

MIN_SHOWN = 5
"""Seed 002: 至少五家以上 — however the office configures the number shown, never fewer than this."""

FIRM_ACTIONS: Mapping[str, str] = {"added": "新增", "changed": "修改", "withdrawn": "移出名录", "restored": "恢复"}
PHONE = re.compile(r"^[0-9+\-() ]{7,20}$")
ACTIVE_FIRMS = select(FIRMS).where(FIRMS.c.active.is_(True)).order_by(FIRMS.c.kind, FIRMS.c.id)


@dataclass(frozen=True)
class FirmInfo:
    """One firm on the list."""

    id: int
    kind: str
    name: str
    qualification: str
    phone: str
    active: bool

    @property
    def kind_name(self) -> str:
        """The kind in Chinese."""
        return FIRM_KINDS.get(self.kind, self.kind)


@dataclass(frozen=True)
class FirmEventInfo:
    """One change to the list."""

    at: datetime
    actor: str
    action: str
    detail: Mapping[str, Any]

    @property
    def action_name(self) -> str:
        """The change in Chinese."""
        return FIRM_ACTIONS.get(self.action, self.action)


def rotated(firms: list[FirmInfo], offset: int, count: int) -> tuple[FirmInfo, ...]:
    """``count`` firms starting at ``offset`` (wrapping round): each offset puts another firm first."""
    if not firms:
        return ()
    start = offset % len(firms)
    ring = firms[start:] + firms[:start]
    return tuple(ring[:count])


class Firms:
    """The qualified firms list, over the engine's store."""

    def __init__(self, store: Store, clock: Callable[[], datetime], per_kind: int) -> None:
        self.store, self.clock = store, clock
        self.per_kind = max(MIN_SHOWN, per_kind)

    def firms(self, kind: str | None = None, *, include_withdrawn: bool = False) -> list[FirmInfo]:
        """The firms of the list (of one kind), by kind then in the order they were added."""
        q = select(FIRMS)
        if kind:
            q = q.where(FIRMS.c.kind == kind)
        if not include_withdrawn:
            q = q.where(FIRMS.c.active.is_(True))
        with self.store.read() as conn:
            rows = conn.execute(q.order_by(FIRMS.c.kind, FIRMS.c.id)).mappings().all()
        order = list(FIRM_KINDS)
        return sorted((_info(r) for r in rows), key=lambda f: (order.index(f.kind) if f.kind in order else 99, f.id))

    def firm(self, firm_id: int) -> FirmInfo:
        """One firm; NotFound if there is none."""
        with self.store.read() as conn:
            row = conn.execute(select(FIRMS).where(FIRMS.c.id == firm_id)).mappings().one_or_none()
        if row is None:
            raise NotFound(f"单位不存在：{firm_id}")
        return _info(row)

    def history(self, firm_id: int) -> list[FirmEventInfo]:
        """The changes to one firm, oldest first."""
        with self.store.read() as conn:
            rows = conn.execute(select(FIRM_EVENTS).where(FIRM_EVENTS.c.firm_id == firm_id)
                                .order_by(FIRM_EVENTS.c.id)).all()
        return [FirmEventInfo(r.at, r.actor, r.action, json.loads(r.detail)) for r in rows]

    def shown(self, offset: int, conn: Connection | None = None) -> tuple[tuple[str, tuple[FirmInfo, ...]], ...]:
        """What a customer is shown: for each kind (its Chinese name), the configured number of active firms
        (at least five, or all there are) starting at ``offset`` in rotation."""
        if conn is None:
            with self.store.read() as own:
                rows = own.execute(ACTIVE_FIRMS).mappings().all()
        else:
            rows = conn.execute(ACTIVE_FIRMS).mappings().all()
        by_kind: dict[str, list[FirmInfo]] = {}
        for r in rows:
            by_kind.setdefault(r["kind"], []).append(_info(r))
        return tuple((name, rotated(by_kind.get(kind, []), offset, self.per_kind)) for kind, name in FIRM_KINDS.items())

    def add(self, kind: str, name: str, qualification: str, phone: str, by: str) -> FirmInfo:
        """Put a firm on the list (营销部; the facade checks the role)."""
        values = _checked(kind, name, qualification, phone)
        now = self.clock()
        with self.store.begin() as conn:
            duplicate = conn.execute(select(FIRMS.c.id).where(FIRMS.c.kind == values["kind"],
                                                              FIRMS.c.name == values["name"])).first()
            if duplicate is not None:
                raise FormValidationError("名录中已有同名单位", {"name": "名录中已有同名单位"})
            firm_id = conn.execute(insert(FIRMS).returning(FIRMS.c.id), {
                **values, "active": True, "created_by": by, "created_at": now, "updated_by": None,
                "updated_at": None}).scalar_one()
            _event(conn, firm_id, now, by, "added", values)
        return self.firm(firm_id)

    def change(self, firm_id: int, name: str, qualification: str, phone: str, by: str) -> FirmInfo:
        """Correct a firm's name, qualification or phone."""
        firm = self.firm(firm_id)
        values = _checked(firm.kind, name, qualification, phone)
        now = self.clock()
        with self.store.begin() as conn:
            duplicate = conn.execute(select(FIRMS.c.id).where(FIRMS.c.kind == firm.kind, FIRMS.c.name == values["name"],
                                                              FIRMS.c.id != firm_id)).first()
            if duplicate is not None:
                raise FormValidationError("名录中已有同名单位", {"name": "名录中已有同名单位"})
            conn.execute(update(FIRMS).where(FIRMS.c.id == firm_id).values(
                name=values["name"], qualification=values["qualification"], phone=values["phone"], updated_by=by,
                updated_at=now))
            before = {"name": firm.name, "qualification": firm.qualification, "phone": firm.phone}
            _event(conn, firm_id, now, by, "changed", {"before": before, "after": {
                k: values[k] for k in ("name", "qualification", "phone")}})
        return self.firm(firm_id)

    def set_active(self, firm_id: int, active: bool, reason: str, by: str) -> FirmInfo:
        """Take a firm off the list (with the reason: qualification lapsed…) or put it back."""
        reason = reason.strip()
        if not active and not reason:
            raise FormValidationError("移出名录须说明原因", {"reason": "请填写原因（如资质过期）"})
        self.firm(firm_id)
        now = self.clock()
        with self.store.begin() as conn:
            conn.execute(update(FIRMS).where(FIRMS.c.id == firm_id).values(active=active, updated_by=by,
                                                                            updated_at=now))
            _event(conn, firm_id, now, by, "restored" if active else "withdrawn", {"reason": reason[:500]})
        return self.firm(firm_id)


def _checked(kind: str, name: str, qualification: str, phone: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    if kind not in FIRM_KINDS:
        errors["kind"] = f"类别应为{'、'.join(FIRM_KINDS.values())}之一"
    name, qualification, phone = name.strip(), qualification.strip(), phone.strip()
    if not name:
        errors["name"] = "请填写单位名称"
    elif len(name) > 128:
        errors["name"] = "单位名称不能超过 128 个字"
    if not qualification:
        errors["qualification"] = "请填写资质（如 电力工程施工总承包三级）"
    elif len(qualification) > 128:
        errors["qualification"] = "资质不能超过 128 个字"
    if phone and not PHONE.match(phone):
        errors["phone"] = "联系电话应为 7–20 位数字（可含 + - 空格）"
    if errors:
        raise FormValidationError(f"单位信息有 {len(errors)} 处问题：" + "；".join(errors.values()), errors)
    return {"kind": kind, "name": name, "qualification": qualification, "phone": phone}


def _event(conn: Connection, firm_id: int, now: datetime, by: str, action: str, detail: Mapping[str, Any]) -> None:
    conn.execute(insert(FIRM_EVENTS).values(firm_id=firm_id, at=now, actor=by, action=action,
                                            detail=json.dumps(detail, ensure_ascii=False)))


def _info(r: Mapping[Any, Any]) -> FirmInfo:
    return FirmInfo(r["id"], r["kind"], r["name"], r["qualification"], r["phone"], bool(r["active"]))
