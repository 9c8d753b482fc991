"""Customer callbacks (回访) after each site job: the customer-service desk records whether the customer
was reached and satisfied and the issues raised; issues stay open until somebody closes them."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from engine import Conflict, FormValidationError, InvalidInput
from engine import CALLBACK_ROLE

from webui import engine_of
from webui.auth import current_user, roles_required

bp = Blueprint("callbacks", __name__, url_prefix="/callbacks")

VIEW_ROLES = (CALLBACK_ROLE, "marketing")
LISTS = {"todo": ("open",), "issues": ("issue_open",), "closed": ("closed",)}


@bp.route("/")
@roles_required(*VIEW_ROLES)
def index() -> Any:
    """Callbacks to make, issues still open, or closed ones."""
    engine = engine_of(current_app)
    which = request.args.get("list", "todo")
    if which not in LISTS:
        raise InvalidInput("未知的列表（todo、issues 或 closed）")
    by_status = engine.field_work.callback_counts()
    counts = {key: sum(by_status.get(status, 0) for status in statuses) for key, statuses in LISTS.items()}
    return render_template("callbacks/index.html", items=engine.field_work.callbacks(LISTS[which]), which=which,
                           counts=counts)


@bp.route("/<int:callback_id>", methods=["GET", "POST"])
@roles_required(*VIEW_ROLES)
def show(callback_id: int) -> Any:
    """Record a callback, or close the issues it raised."""
    engine = engine_of(current_app)
    user = current_user()
    item = engine.field_work.callback(callback_id)
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            if request.form.get("action") == "close":
                engine.field_work.close_callback(callback_id, user.username, request.form.get("note", ""))
                flash("问题已关闭", "success")
            else:
                reached = _choice("reached")
                satisfied = _choice("satisfied")
                if reached is None:
                    raise FormValidationError("请选择是否联系上客户", {"reached": "请选择是否联系上客户"})
                engine.field_work.record_callback(callback_id, user.username, reached, satisfied,
                                                  request.form.get("issues", ""))
                flash("回访已记录", "success")
        except FormValidationError as exc:
            errors, status = dict(exc.field_errors) or {"_": exc.message}, 400
        except Conflict as exc:
            errors, status = {"_": exc.message}, 409
        else:
            return redirect(url_for("callbacks.index"))
        item = engine.field_work.callback(callback_id)
    job = engine.field_work.job(item.job_id)
    return render_template("callbacks/show.html", item=item, job=job, errors=errors, values=request.form,
                           may_record=CALLBACK_ROLE in user.roles), status


def _choice(name: str) -> bool | None:
    value = request.form.get(name, "")
    if value not in ("", "yes", "no"):
        raise FormValidationError(f"“{value}”不是有效选项", {name: "请选择是或否"})
    return {"yes": True, "no": False}.get(value)
