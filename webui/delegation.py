"""委托代理: set a substitute for a period of leave (their tasks appear to the substitute, who works them in
their own name), see who stands in for whom, cancel a substitution. 营销部 may set one for anyone."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from engine import SUPERVISOR_ROLE, FormValidationError, UserInfo

from webui import engine_of
from webui.auth import current_user, login_required
from webui.labels import person

bp = Blueprint("delegation", __name__, url_prefix="/delegation")


def _day(name: str, errors: dict[str, str]) -> date | None:
    text = (request.form.get(name) or "").strip()
    if not text:
        errors[name] = "请填写日期"
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[name] = "日期格式应为 2026-11-24"
        return None


def _colleagues(staff: list[UserInfo], of: UserInfo) -> list[UserInfo]:
    """Who may stand in for someone: active staff sharing one of their roles."""
    return [u for u in staff if u.username != of.username and set(u.roles) & set(of.roles)]


@bp.route("/", methods=["GET", "POST"])
@login_required
def index() -> Any:
    """My substitutions (and, for 营销部, everyone's), and the form to set one."""
    engine = engine_of(current_app)
    user = current_user()
    supervisor = SUPERVISOR_ROLE in user.roles
    staff = engine.users()
    errors: dict[str, str] = {}
    values: dict[str, str] = {}
    if request.method == "POST":
        values = {k: v for k, v in request.form.items() if k != "csrf_token"}
        whom = (request.form.get("username") or user.username).strip() if supervisor else user.username
        first, last = _day("first_day", errors), _day("last_day", errors)
        if not (request.form.get("substitute") or "").strip():
            errors["substitute"] = "请选择代理人"
        if not errors:
            assert first is not None and last is not None
            try:
                made = engine.set_substitute(whom, request.form["substitute"].strip(), first, last,
                                             request.form.get("reason", ""), by=user.username)
            except FormValidationError as exc:
                errors = dict(exc.field_errors) or {"_": exc.message}
            else:
                flash(f"已设置委托：{made.first_day:%m月%d日}至{made.last_day:%m月%d日}，{person(made.username)}的任务"
                      f"由{person(made.substitute)}代为办理", "success")
                return redirect(url_for("delegation.index"))
    mine = engine.substitutions(None if supervisor else user.username)
    return render_template("delegation/index.html", items=mine, errors=errors, values=values, now=engine.now(),
                           supervisor=supervisor, staff=staff, colleagues=_colleagues(staff, user),
                           standing_in=engine.standing_in_for(user.username),
                           past=engine.substitutions(None if supervisor else user.username, current_only=False)[:20],
                           ), 400 if errors else 200


@bp.route("/<int:substitution_id>/cancel", methods=["POST"])
@login_required
def cancel(substitution_id: int) -> Any:
    """End a substitution now."""
    done = engine_of(current_app).cancel_substitute(substitution_id, by=current_user().username)
    flash(f"已取消委托：{person(done.username)}的任务不再由{person(done.substitute)}代办", "success")
    return redirect(url_for("delegation.index"))
