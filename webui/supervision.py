"""The supervision dashboard (监管看板) of 营销部: time limits, durations, on-time rates, 回访, 体外循环.

The page is rendered with every figure as a table (it works without JavaScript); ``supervision.js`` then
draws the charts from ``data.json`` with the same query string.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, current_app, jsonify, render_template, request, url_for

from engine import InvalidInput
from engine import (
    DUE_STATES,
    MAX_PERIOD_DAYS,
    OPEN_STATES,
    ClockFigures,
    Dashboard,
    NodeDuration,
    Period,
)

from webui import engine_of
from webui.applications import VARIANTS
from webui.auth import roles_required

bp = Blueprint("supervision", __name__, url_prefix="/supervision")

SUPERVISION_ROLES = ("marketing", "auditor")
"""营销部 supervises; 稽查 may look.  Everyone else gets 403."""

DEFAULT_PERIOD_DAYS = 90
DEFAULT_LATE_LIMIT_DAYS = 1.0
"""体外循环: acceptance recorded more than this long after the customer's first contact is reported."""


@dataclass(frozen=True)
class Filters:
    """What the dashboard is asked for: a period, a variant, the 体外循环 limit."""

    period: Period
    process_key: str
    late_limit_days: float

    def args(self) -> dict[str, str]:
        """The query string that asks for the same figures."""
        out = {"from": self.period.first.isoformat(), "to": self.period.last.isoformat(),
               "late_days": f"{self.late_limit_days:g}"}
        if self.process_key:
            out["variant"] = self.process_key
        return out


def _date(name: str, label: str) -> date | None:
    text = (request.args.get(name) or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{label}“{text}”不是有效日期（年-月-日）") from None


def read_filters(today: date) -> Filters:
    """The filters from the query string, with defaults (the last 90 days, every variant, 1 day)."""
    last = _date("to", "截止日期") or today
    first = _date("from", "起始日期") or last - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if first > last:
        raise InvalidInput("起始日期不能晚于截止日期")
    if (last - first).days + 1 > MAX_PERIOD_DAYS:
        raise InvalidInput(f"统计区间最长 {MAX_PERIOD_DAYS} 天，请缩短区间")
    variant = request.args.get("variant") or ""
    if variant and variant not in VARIANTS:
        raise InvalidInput(f"未知的业务类型：{variant}（hv、lv 或 pv）")
    late_text = (request.args.get("late_days") or "").strip()
    try:
        late_days = float(late_text) if late_text else DEFAULT_LATE_LIMIT_DAYS
    except ValueError:
        raise InvalidInput(f"体外循环时限“{late_text}”不是数字（天）") from None
    if not 0 <= late_days <= 365:  # also refuses nan and inf
        raise InvalidInput("体外循环时限应在 0 到 365 天之间")
    return Filters(Period(first, last), variant, late_days)


def _figures(filters: Filters) -> Dashboard:
    engine = engine_of(current_app)
    return engine.supervision.cached_dashboard(filters.period, filters.process_key or None,
                                               late_limit=timedelta(days=filters.late_limit_days))


@bp.route("/")
@roles_required(*SUPERVISION_ROLES)
def index() -> Any:
    """The dashboard: every figure as a table, with charts drawn by supervision.js."""
    engine = engine_of(current_app)
    filters = read_filters(engine.now().date())
    figures = _figures(filters)
    people = {u.username: u.display_name for u in engine.users()}
    return render_template("supervision/index.html", d=figures, filters=filters, VARIANTS=VARIANTS,
                           DUE_STATES=DUE_STATES, people=people, OPEN_STATES=OPEN_STATES,
                           customer=engine.customer_figures(filters.period.start, filters.period.end),
                           clocks=engine.clock_figures(filters.period, filters.process_key or None),
                           data_url=url_for("supervision.data") + "?" + urlencode(filters.args()))


@bp.route("/data.json")
@roles_required(*SUPERVISION_ROLES)
def data() -> Any:
    """The dashboard's figures as JSON, for the charts."""
    engine = engine_of(current_app)
    filters = read_filters(engine.now().date())
    body = dashboard_json(_figures(filters), filters)
    body["clocks"] = clocks_json(engine.clock_figures(filters.period, filters.process_key or None))
    return jsonify(body)


def _label(process_key: str, node_name: str) -> str:
    return f"{VARIANTS.get(process_key, process_key)}·{node_name}"


def _duration(d: NodeDuration) -> dict[str, Any]:
    return {"variant": d.process_key, "node_id": d.node_id, "node": d.node_name,
            "label": _label(d.process_key, d.node_name), "count": d.count,
            "median": round(d.median, 2), "p90": round(d.p90, 2)}


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def dashboard_json(d: Dashboard, filters: Filters) -> dict[str, Any]:
    """The figures in plain JSON (no usernames beyond the acceptors of the 体外循环 report)."""
    late = d.late_entries
    return {
        "period": {"from": d.period.first.isoformat(), "to": d.period.last.isoformat()},
        "variant": d.process_key,
        "generated_at": d.generated_at.isoformat(timespec="seconds"),
        "duration_unit": d.duration_unit,
        "variants": VARIANTS,
        "due_states": [{"key": key, "label": label} for key, label in DUE_STATES.items()],  # ordered
        "open_tasks": [{"variant": n.process_key, "node_id": n.node_id, "node": n.node_name,
                        "label": _label(n.process_key, n.node_name), "total": n.total, "counts": dict(n.counts)}
                       for n in d.open_nodes],
        "durations": [_duration(x) for x in d.durations],
        "slowest": [_duration(x) for x in d.slowest],
        "on_time": [{"variant": n.process_key, "node_id": n.node_id, "node": n.node_name,
                     "label": _label(n.process_key, n.node_name), "with_limit": n.with_limit,
                     "on_time": n.on_time, "rate": _rate(n.rate)} for n in d.on_time],
        "end_to_end": [{"variant": e.process_key, "label": VARIANTS.get(e.process_key, e.process_key),
                        "finished": e.finished, "with_limit": e.with_limit, "on_time": e.on_time,
                        "rate": _rate(e.rate)} for e in d.end_to_end],
        "satisfaction": {"count": d.satisfaction.count,
                         "average": None if d.satisfaction.average is None else round(d.satisfaction.average, 2),
                         "distribution": {str(k): v for k, v in d.satisfaction.distribution.items()}},
        "late_entries": {
            "limit_days": filters.late_limit_days, "considered": late.considered,
            "office_share": _rate(late.office_share),
            "applications": [{"app_no": e.app_no, "variant": e.process_key, "created_by": e.created_by,
                              "first_contact_at": e.first_contact_at.isoformat(timespec="minutes"),
                              "created_at": e.created_at.isoformat(timespec="minutes"),
                              "lag_hours": round(e.lag_hours, 1), "lag_days": e.lag_days, "source": e.source}
                             for e in late.late[:200]],
            "acceptors": [{"username": a.username, "applications": a.applications, "late": a.late,
                           "share": _rate(a.share), "others_share": _rate(a.others_share),
                           "median_lag_hours": round(a.median_lag_hours, 1), "flagged": a.flagged,
                           "median_lag_days": a.median_lag_days, "evidence": dict(a.evidence),
                           "unconfirmed": a.unconfirmed}
                          for a in late.acceptors],
        },
    }


def clocks_json(c: ClockFigures) -> dict[str, Any]:
    """The policy clocks' figures in plain JSON: on-time rates, durations, counting states, soonest to expire."""
    return {
        "on_time": [{"variant": r.process_key, "clock": r.clock_key, "name": r.name, "applications": r.applications,
                     "on_time": r.on_time, "rate": _rate(r.rate)} for r in c.on_time],
        "durations": [{"variant": d.process_key, "clock": d.clock_key, "name": d.name, "count": d.count,
                       "median": round(d.median, 2), "p90": round(d.p90, 2), "limit": d.limit} for d in c.durations],
        "open_states": [{"key": key, "label": label} for key, label in OPEN_STATES.items()],
        "open": [{"variant": o.process_key, "clock": o.clock_key, "name": o.name, "counts": dict(o.counts)}
                 for o in c.open],
        "expiring": [{"app_no": e.app_no, "variant": e.process_key, "clock": e.clock.key, "name": e.clock.name,
                      "deadline": e.clock.deadline.isoformat() if e.clock.deadline else None,
                      "provisional": e.clock.provisional, "used_days": e.clock.used_days, "limit": e.clock.limit,
                      "overdue": e.clock.overdue} for e in c.expiring],
    }
