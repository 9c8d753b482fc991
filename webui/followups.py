"""独立回访: one follow-up call per application after power on, by 客户服务 — never by anyone who handled the
case — asking satisfaction, whether anyone nominated a designer, builder or supplier (三不指定), and whether
anyone asked for anything improper (廉洁). Different from the callback after each site job (作业回访,
/callbacks/) and from HV's 客户经理回访 task."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from engine import FOLLOW_UP_ROLE, SATISFACTION, Action, Conflict, Forbidden, FormValidationError, InvalidInput
from engine import answers_from_form

from webui import engine_of
from webui.applications import VARIANTS
from webui.auth import current_user, roles_required

bp = Blueprint("followups", __name__, url_prefix="/followups")

VIEW_ROLES = (FOLLOW_UP_ROLE, "marketing", "auditor")
LISTS = {"mine": "我的待回访", "pool": "待认领", "overdue": "已超期", "done": "已回访"}


@bp.route("/")
@roles_required(*VIEW_ROLES)
def index() -> Any:
    """My follow-ups, the unassigned ones, the overdue ones, the done ones."""
    engine = engine_of(current_app)
    user = current_user()
    mine_default = FOLLOW_UP_ROLE in user.roles
    which = request.args.get("list", "mine" if mine_default else "overdue")
    if which not in LISTS:
        raise InvalidInput("未知的列表（mine、pool、overdue 或 done）")
    lists = {
        "mine": lambda: engine.follow_ups(assignee=user.username),
        "pool": lambda: engine.follow_ups(unassigned=True, not_managed_by=user.username),
        "overdue": lambda: engine.follow_ups(overdue_only=True),
        "done": lambda: engine.follow_ups(status="done"),
    }
    counts = {"mine": len(engine.follow_ups(assignee=user.username, limit=1000)),
              "pool": len(engine.follow_ups(unassigned=True, not_managed_by=user.username, limit=1000)),
              "overdue": engine.follow_up_counts()["overdue"]}
    people = {u.username: u.display_name for u in engine.users()}
    offices = {s.code: s.name for s in engine.field_work.stations()}
    return render_template("followups/index.html", items=lists[which](), which=which, LISTS=LISTS, counts=counts,
                           people=people, offices=offices, SATISFACTION=SATISFACTION, VARIANTS=VARIANTS,
                           now=engine.now())


@bp.route("/<int:follow_up_id>", methods=["GET", "POST"])
@roles_required(*VIEW_ROLES)
def show(follow_up_id: int) -> Any:
    """One follow-up: the customer to call, and the form to record the call."""
    engine = engine_of(current_app)
    user = current_user()
    item = engine.follow_up(follow_up_id)
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            done = engine.record_follow_up(follow_up_id, answers_from_form(request.form), by=user.username)
        except FormValidationError as exc:
            errors, status = dict(exc.field_errors) or {"_": exc.message}, 400
        except Forbidden as exc:
            errors, status = {"_": exc.message}, 403
        except Conflict as exc:
            errors, status = {"_": exc.message}, 409
        else:
            flash("回访已记录" if done.status == "done" else "已记录未接通，请稍后再拨", "success")
            return redirect(url_for("followups.index"))
        item = engine.follow_up(follow_up_id)
    people = {u.username: u.display_name for u in engine.users()}
    offices = {s.code: s.name for s in engine.field_work.stations()}
    may_record = engine.may(user.username, Action.FOLLOW_UP) and user.username != item.manager
    return render_template("followups/show.html", item=item, errors=errors, values=request.form, people=people,
                           offices=offices, may_record=may_record, SATISFACTION=SATISFACTION,
                           VARIANTS=VARIANTS, reports=engine.complaints(reader=user.username, app_no=item.app_no,
                                                                        kind="report")), status
