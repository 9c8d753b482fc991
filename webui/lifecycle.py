"""The case lifecycle from the application page: 暂停, 恢复, 撤销, 终止, 更正 and, for a case in error, 重试.

Each view is one engine call; the engine decides who may. A refused action shows the application page again
with that action's form open, the message next to its input and what was typed kept.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request
from engine import APP_STATUS_NAMES, ENDED, Action, CaseAction, CorrectableField, Forbidden, FormDefinition
from engine import FormValidationError

from webui import engine_of, formdata
from webui.applications import render_application
from webui.auth import current_user, login_required
from webui.formdata import Field
from webui.tasks import _with_staff_choices, application_url, not_utf8

bp = Blueprint("lifecycle", __name__, url_prefix="/applications")

DONE = {"suspend": "已暂停办理", "resume": "已恢复办理", "withdraw": "已撤销申请", "terminate": "已终止申请"}


def _reason() -> str:
    """The reason typed, or FormValidationError when its bytes were not UTF-8."""
    text = str(request.form.get("reason") or "")
    if "reason" in not_utf8() or "\ufffd" in text:
        raise FormValidationError(formdata.NOT_UTF8, {"reason": f"原因：{formdata.NOT_UTF8}"})
    return text


def _act(app_no: str, action: str) -> Any:
    engine = engine_of(current_app)
    user = current_user().username
    try:
        reason = _reason()
        done: CaseAction
        if action == "suspend":
            done = engine.suspend(app_no, reason, by=user)
        elif action == "resume":
            done = engine.resume(app_no, reason, by=user)
        elif action == "withdraw":
            done = engine.withdraw(app_no, reason, by=user)
        else:
            done = engine.terminate(app_no, reason, by=user)
    except FormValidationError as exc:
        return render_application(app_no, status=400, action=action,
                                  errors=dict(exc.field_errors) or {"reason": exc.message},
                                  values={"reason": str(request.form.get("reason") or "")[:formdata.ECHO_LIMIT]})
    flash(f"{DONE[action]}（{done.app_no}），当前状态：{APP_STATUS_NAMES.get(done.status, done.status)}", "success")
    return redirect(application_url(done.app_no))


@bp.route("/<app_no>/suspend", methods=["POST"])
@login_required
def suspend(app_no: str) -> Any:
    """暂停办理."""
    return _act(app_no, "suspend")


@bp.route("/<app_no>/resume", methods=["POST"])
@login_required
def resume(app_no: str) -> Any:
    """恢复办理."""
    return _act(app_no, "resume")


@bp.route("/<app_no>/withdraw", methods=["POST"])
@login_required
def withdraw(app_no: str) -> Any:
    """撤销申请 (the customer withdrew)."""
    return _act(app_no, "withdraw")


@bp.route("/<app_no>/terminate", methods=["POST"])
@login_required
def terminate(app_no: str) -> Any:
    """终止申请."""
    return _act(app_no, "terminate")


@bp.route("/<app_no>/retry", methods=["POST"])
@login_required
def retry(app_no: str) -> Any:
    """Run the failed steps of a case in error again (after the data that made them fail was corrected)."""
    result = engine_of(current_app).retry(app_no, current_user().username)
    if result.status == "error":
        flash(f"重试后仍然异常：{result.error_message}", "error")
    else:
        flash(f"已重试，申请 {result.app_no} 恢复办理", "success")
    return redirect(application_url(result.app_no))


# ----------------------------------------------------------------------------- 更正


def _field_for(form: FormDefinition, name: str) -> Field:
    return next(f for f in _with_staff_choices(engine_of(current_app), form, formdata.fields_of(form))
                if f.name == name)


@bp.route("/<app_no>/correct", methods=["GET", "POST"])
@login_required
def correct(app_no: str) -> Any:
    """Choose a recorded value, then give its new value and the reason; the audit keeps before and after."""
    engine = engine_of(current_app)
    if not engine.may(current_user().username, Action.CORRECT):
        raise Forbidden("只有「营销部」可以更正申请数据")
    app = engine.application(app_no)
    if app.status in ENDED:
        flash(f"申请 {app.app_no} {APP_STATUS_NAMES[app.status]}，不能再更正", "error")
        return redirect(application_url(app.app_no))
    choices = engine.correctable_fields(app.app_no)
    start, by_node = engine.application_forms(app.app_no)
    forms = {f.name: f for f in ([start] if start else []) + list(by_node.values())}
    fields = {c.name: _field_for(forms[c.form], c.name) for c in choices}
    name = (request.values.get("field") or "").strip()
    chosen: CorrectableField | None = next((c for c in choices if c.name == name), None)
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    status = 200
    if name and chosen is None:
        errors["field"] = "请从列表中选择要更正的字段（只能更正已填写的表单字段）"
        status = 400
    elif chosen is not None:
        field = fields[chosen.name]
        values = formdata.input_values([field], {field.name: chosen.value})
        values["reason"] = ""
        if request.method == "POST":
            values = {**formdata.submitted_values([field], request.form), "reason": _reason()[:formdata.ECHO_LIMIT]}
            data, errors = formdata.parse([field], request.form, not_utf8())
            if field.name not in data and not errors:
                errors[field.name] = f"{field.title}：请填写新值"
            if not errors:
                try:
                    done = engine.correct(app.app_no, field.name, data[field.name], _reason(),
                                          by=current_user().username)
                except FormValidationError as exc:
                    errors = {field.name if key in ("value", "field") else key: message
                              for key, message in exc.field_errors.items()} or {"_": exc.message}
                else:
                    flash(f"已更正「{done.field_title}」：{formdata.display(field, done.before)} → "
                          f"{formdata.display(field, done.after)}", "success")
                    return redirect(application_url(app.app_no))
            status = 400
    return render_template("applications/correct.html", app=app, choices=choices, fields=fields, chosen=chosen,
                           field=fields.get(chosen.name) if chosen else None, values=values, errors=errors,
                           status_name=APP_STATUS_NAMES.get(app.status, app.status),
                           display=formdata.display), status
