"""投诉与举报: complaints (answered by 营销部) and confidential reports (answered by 稽查) about an application —
filed by customers on the progress page, recorded here by staff from 95598 or 12398, or raised by the
independent 回访. Who filed a case is shown to 稽查 only; reports are listed to 稽查 only."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from engine import (
    COMPLAINT_CHANNELS,
    COMPLAINT_KINDS,
    COMPLAINT_STAFF_CHANNELS,
    COMPLAINT_TOPICS,
    Action,
    Conflict,
    Forbidden,
    Filing,
    FormValidationError,
    InvalidInput,
    filing_from_form,
)

from webui import engine_of
from webui.auth import current_user, roles_required

bp = Blueprint("complaints", __name__, url_prefix="/complaints")

VIEW_ROLES = ("customer_service", "marketing", "auditor")
LISTS = {"open": "处理中", "overdue": "已超期", "answered": "已答复"}


@bp.route("/")
@roles_required(*VIEW_ROLES)
def index() -> Any:
    """The cases I may see: open, overdue or answered; optionally one kind."""
    engine = engine_of(current_app)
    user = current_user()
    which = request.args.get("list", "open")
    if which not in LISTS:
        raise InvalidInput("未知的列表（open、overdue 或 answered）")
    kind = request.args.get("kind") or None
    if kind is not None and kind not in COMPLAINT_KINDS:
        raise InvalidInput("未知的类别（complaint 或 report）")
    status = {"open": "open", "overdue": "open", "answered": "answered"}[which]
    items = engine.complaints(reader=user.username, status=status, kind=kind, overdue_only=which == "overdue")
    counts = {key: len(engine.complaints(reader=user.username, status={"open": "open", "overdue": "open",
                                                                        "answered": "answered"}[key],
                                         kind=kind, overdue_only=key == "overdue", limit=1000)) for key in LISTS}
    people = {u.username: u.display_name for u in engine.users()}
    return render_template("complaints/index.html", items=items, which=which, kind=kind, LISTS=LISTS, counts=counts,
                           KINDS=COMPLAINT_KINDS, people=people,
                           may_record=engine.may(user.username, Action.RECORD_COMPLAINTS))


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*VIEW_ROLES)
def new() -> Any:
    """Record a complaint or report taken by 95598 or 12398."""
    engine = engine_of(current_app)
    user = current_user()
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            case = engine.record_complaint(request.form.get("app_no", ""), _filing(), request.form.get("channel", ""),
                                           by=user.username)
        except FormValidationError as exc:
            errors, status = dict(exc.field_errors) or {"_": exc.message}, 400
        else:
            flash(f"已登记{case.kind_name}，编号 {case.case_no}，转{case.routed_name}，"
                  f"答复期限 {case.due_at:%Y-%m-%d}", "success")
            return redirect(url_for("complaints.index"))
    return render_template("complaints/new.html", errors=errors, values=request.form, KINDS=COMPLAINT_KINDS,
                           TOPICS=COMPLAINT_TOPICS, CHANNELS={k: COMPLAINT_CHANNELS[k] for k in COMPLAINT_STAFF_CHANNELS},
                           app_no=request.args.get("app_no", "")), status


def _filing() -> Filing:
    """The filing of the form, every problem at once (the channel's with the rest)."""
    errors = {} if request.form.get("channel") in COMPLAINT_STAFF_CHANNELS else {"channel": "请选择来电渠道"}
    if not (request.form.get("app_no") or "").strip():
        errors["app_no"] = "请填写申请编号"
    try:
        filing = filing_from_form(request.form)
    except FormValidationError as exc:
        errors.update(exc.field_errors)
    if errors:
        raise FormValidationError(f"有 {len(errors)} 处需要修改", errors)
    return filing


@bp.route("/<case_no>", methods=["GET", "POST"])
@roles_required(*VIEW_ROLES)
def show(case_no: str) -> Any:
    """One case (who filed it: 稽查 only); the department it went to answers it here."""
    engine = engine_of(current_app)
    user = current_user()
    case = engine.complaint(case_no, reader=user.username)
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            engine.answer_complaint(case.case_no, request.form.get("answer", ""), by=user.username)
        except FormValidationError as exc:
            errors, status = dict(exc.field_errors) or {"_": exc.message}, 400
        except (Forbidden, Conflict) as exc:
            errors, status = {"_": exc.message}, 403 if isinstance(exc, Forbidden) else 409
        else:
            flash("已答复，答复将以短信发送给反映人", "success")
            return redirect(url_for("complaints.show", case_no=case.case_no))
        case = engine.complaint(case_no, reader=user.username)
    people = {u.username: u.display_name for u in engine.users()}
    return render_template("complaints/show.html", case=case, errors=errors, values=request.form, people=people,
                           may_answer=case.status == "open" and case.routed_to in user.roles), status
