"""三不指定: the list of qualified designers, builders and equipment suppliers. 营销部 keeps it (add, correct,
take off with a reason, put back); every member of staff may read it to tell a customer; customers see it, in
rotation, on the progress page and in the acceptance notice."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from engine import FIRM_KINDS, Action, Conflict, FormValidationError

from webui import engine_of
from webui.auth import current_user, login_required

bp = Blueprint("firms", __name__, url_prefix="/firms")

MIN_LISTED = 5


@bp.route("/", methods=["GET", "POST"])
@login_required
def index() -> Any:
    """The list by kind (withdrawn ones shown to 营销部), and the form to add a firm."""
    engine = engine_of(current_app)
    user = current_user()
    may_manage = engine.may(user.username, Action.MANAGE_FIRMS)
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            firm = engine.add_firm(request.form.get("kind", ""), request.form.get("name", ""),
                                   request.form.get("qualification", ""), request.form.get("phone", ""),
                                   by=user.username)
        except FormValidationError as exc:
            errors, status = dict(exc.field_errors) or {"_": exc.message}, 400
        else:
            flash(f"已加入名录：{firm.name}（{firm.kind_name}）", "success")
            return redirect(url_for("firms.index"))
    firms = engine.firms(include_withdrawn=may_manage)
    groups = [(kind, name, [f for f in firms if f.kind == kind]) for kind, name in FIRM_KINDS.items()]
    short = [name for kind, name, items in groups if sum(1 for f in items if f.active) < MIN_LISTED]
    return render_template("firms/index.html", groups=groups, may_manage=may_manage, errors=errors,
                           values=request.form, short=short, KINDS=FIRM_KINDS, minimum=MIN_LISTED), status


@bp.route("/<int:firm_id>", methods=["GET", "POST"])
@login_required
def show(firm_id: int) -> Any:
    """One firm with its history; 营销部 corrects it, takes it off the list or puts it back."""
    engine = engine_of(current_app)
    user = current_user()
    firm = engine.firm(firm_id)
    may_manage = engine.may(user.username, Action.MANAGE_FIRMS)
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        action = request.form.get("action", "change")
        try:
            if action == "withdraw":
                engine.set_firm_listed(firm_id, False, request.form.get("reason", ""), by=user.username)
                flash("已移出名录", "success")
            elif action == "restore":
                engine.set_firm_listed(firm_id, True, request.form.get("reason", ""), by=user.username)
                flash("已恢复到名录", "success")
            else:
                engine.change_firm(firm_id, request.form.get("name", ""), request.form.get("qualification", ""),
                                   request.form.get("phone", ""), by=user.username)
                flash("已保存", "success")
        except FormValidationError as exc:
            errors, status = dict(exc.field_errors) or {"_": exc.message}, 400
        except Conflict as exc:
            errors, status = {"_": exc.message}, 409
        else:
            return redirect(url_for("firms.show", firm_id=firm_id))
    people = {u.username: u.display_name for u in engine.users()}
    return render_template("firms/show.html", firm=firm, history=engine.firm_history(firm_id), people=people,
                           may_manage=may_manage, errors=errors,
                           values=request.form if request.method == "POST" else {
                               "name": firm.name, "qualification": firm.qualification, "phone": firm.phone}), status
