"""Policy clocks (时限) on the pages: the office's own limits (本单位时限), re-issuing an expired supply plan, and
the helpers every page that shows a clock or a deadline shares (status words, the provisional-calendar mark).

The clocks themselves are the engine's (``Engine.clocks``); this blueprint only shows and forwards.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from engine import (
    ACTION_NAMES,
    CONTACT_SOURCES,
    PROCESS_NAMES,
    Action,
    ClockInfo,
    ClockReport,
    FormValidationError,
    NotFound,
)

from webui import engine_of
from webui.auth import current_user, login_required, roles_required

bp = Blueprint("clocks", __name__, url_prefix="/clocks")

LIMITS_ROLES = ("marketing", "auditor")
"""营销部 sets the office's limits; 稽查 may look at them and their log."""

RISK_HIGH = 0.5
RISK_MEDIUM = 0.2


@bp.app_context_processor
def clock_helpers() -> dict[str, Any]:
    """What every template showing a clock or a deadline uses."""
    return {"provisional_until": provisional_until, "risk_class": risk_class, "risk_text": risk_text,
            "clock_state": clock_state, "remaining_text": remaining_text, "CONTACT_SOURCES": CONTACT_SOURCES}


def provisional_until(start: datetime | None, end: datetime | None) -> bool:
    """Whether a deadline from ``start`` to ``end`` was computed from a provisional calendar year."""
    if start is None or end is None:
        return False
    return engine_of(current_app).calendar().provisional_between(start.date(), end.date())


def risk_class(risk: float | None) -> str:
    """A CSS class for a risk of missing a limit."""
    if risk is None:
        return "risk-none"
    return "risk-high" if risk >= RISK_HIGH else "risk-medium" if risk >= RISK_MEDIUM else "risk-low"


def risk_text(risk: float | None) -> str:
    """A risk in words a supervisor reads."""
    if risk is None:
        return "暂无历史可预测"
    level = "高" if risk >= RISK_HIGH else "中" if risk >= RISK_MEDIUM else "低"
    return f"超期风险{level}（{risk * 100:.0f}%）"


def clock_state(clock: ClockInfo) -> str:
    """A CSS class for where a clock stands."""
    if clock.overdue or clock.status == "missed":
        return "overdue"
    if clock.status == "paused":
        return "paused"
    if clock.status in ("met",):
        return "ok"
    if clock.status == "ended":
        return "ended"
    return "running"


def remaining_text(clock: ClockInfo) -> str:
    """How a counting clock stands, in a few words: 剩 3 个工作日 / 已超时 2 个工作日 / 暂停中."""
    if clock.kind == "validity":
        if clock.deadline is None:
            return "—"
        return f"{'已于' if clock.overdue else '有效期至'} {clock.deadline:%Y-%m-%d}{' 届满' if clock.overdue else ''}"
    left = clock.remaining_days
    if left is None:
        return "时限无法计算"
    if clock.status == "paused":
        return f"暂停中（已用 {clock.used_days} 个工作日，剩 {max(left, 0)} 个）"
    if clock.overdue or left < 0:
        return f"已超时 {max(-left, 1)} 个工作日"
    return f"剩 {left} 个工作日" if left else "今日到期"


def urgent(clocks: tuple[ClockInfo, ...]) -> ClockInfo | None:
    """The counting clock to show first in a list: overdue, then the highest risk, then the nearest deadline."""
    counting = [c for c in clocks if c.open and c.kind == "limit"]
    if not counting:
        return None
    return min(counting, key=lambda c: (not c.overdue, -(c.risk or 0.0),
                                        c.remaining_days if c.remaining_days is not None else 10**6))


# ----------------------------------------------------------------------------- the office's limits


@bp.route("/limits", methods=["GET", "POST"])
@roles_required(*LIMITS_ROLES)
def limits() -> Any:
    """本单位时限: the limits the office set per clock × variant × customer type × supply mode, their log, and
    (营销部) the form to set or remove one; a bad entry gets its message next to the field."""
    engine = engine_of(current_app)
    user = current_user()
    may_edit = engine.may(user.username, Action.SET_TIME_LIMITS)
    errors: dict[str, str] = {}
    values = {k: (request.form.get(k) or "").strip() for k in
              ("process_key", "clock_key", "customer_type", "supply_mode", "limit_value", "reason")}
    choice = (request.form.get("clock_choice") or "").strip()
    if "|" in choice and not (values["process_key"] and values["clock_key"]):  # the page without JavaScript
        values["process_key"], values["clock_key"] = choice.split("|", 1)
    status = 200
    if request.method == "POST":
        if not may_edit:
            return render_template("error.html", status=403, title="无权操作", fields={}, reasons=[],
                                   message=f"{user.display_name}无权{ACTION_NAMES[Action.SET_TIME_LIMITS]}"), 403
        try:
            if request.form.get("remove"):
                change = engine.remove_clock_override(values["process_key"], values["clock_key"],
                                                      values["customer_type"], values["supply_mode"],
                                                      values["reason"] or "取消本单位时限", by=user.username)
                flash(f"已取消本单位时限，{change.clocks_moved} 个在办时限已按流程图时限重算", "success")
            else:
                change = engine.set_clock_override(values["process_key"], values["clock_key"],
                                                   values["customer_type"], values["supply_mode"],
                                                   values["limit_value"], values["reason"], by=user.username)
                flash(f"已保存本单位时限，{change.clocks_moved} 个在办时限已重算截止时间", "success")
            return redirect(url_for("clocks.limits"))
        except FormValidationError as exc:
            errors, status = dict(exc.field_errors), 400
        except NotFound as exc:
            errors, status = {"clock_key": exc.message}, 400
    choices = engine.clock_override_choices()
    people = {u.username: u.display_name for u in engine.users()}
    return render_template("clocks/limits.html", choices=choices, overrides=engine.clock_overrides(),
                           changes=engine.clock_override_changes(100), may_edit=may_edit, errors=errors,
                           values=values, people=people, PROCESS_NAMES=PROCESS_NAMES,
                           names=_names(choices)), status


def _names(choices: Any) -> dict[str, Any]:
    """Chinese names for a (variant, clock), customer types and supply modes, as the templates look them up."""
    clocks, customer_types, supply_modes = {}, {}, {}
    for c in choices:
        for clock in c.clocks:
            clocks[(c.process_key, clock.key)] = clock
        customer_types[c.process_key] = dict(c.customer_types)
        supply_modes[c.process_key] = dict(c.supply_modes)
    return {"clocks": clocks, "customer_types": customer_types, "supply_modes": supply_modes}


# ----------------------------------------------------------------------------- re-issuing a supply plan


@bp.route("/<app_no>/renew/<clock_key>", methods=["POST"])
@login_required
def renew(app_no: str, clock_key: str) -> Any:
    """Re-issue an expired supply plan: its validity counts again from now (customer manager, 营销部)."""
    engine = engine_of(current_app)
    renewed = engine.renew_validity(app_no, clock_key, by=current_user().username)
    flash(f"已重新答复供电方案：「{renewed.name}」自今日重新起算，至 {renewed.deadline:%Y-%m-%d}"
          if renewed.deadline else f"已重新起算「{renewed.name}」", "success")
    return redirect(url_for("applications.show", app_no=app_no))


def report_for(app_no: str) -> ClockReport:
    """An application's clocks (for the pages that show them)."""
    return engine_of(current_app).clocks(app_no)
