"""The JSON API (/api/v1) for other channels — 网上国网, the 95598 hotline — authenticated by bearer tokens.

Each view turns a request into one engine facade call and the frozen result into JSON. A token acts as
its user, so the engine's role checks apply exactly as in the UI; errors go through :mod:`webui.errors`,
which answers JSON under /api/. The endpoints are described in :mod:`webui.openapi`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from typing import Any

from flask import Blueprint, current_app, g, jsonify, make_response, render_template, request, url_for

from engine import APP_STATUS_NAMES, ROLES, ApplicationInfo, CaseAction, ClockReport, CommentInfo, ContactSource
from engine import EventKind, FormValidationError, InvalidInput, StepResult, TaskInfo
from engine import DISPATCHER_ROLE, FieldJobInfo, appointment_from_form

from webui import engine_of, openapi
from webui.auth import current_user
from webui.errors import NUL_MESSAGE, contains_nul, error_response

bp = Blueprint("api", __name__, url_prefix=openapi.API_PREFIX)

PUBLIC_ENDPOINTS = frozenset({"api.openapi_document", "api.docs"})
COMPLETED_STEPS_LIMIT = 1000


# ----------------------------------------------------------------- serializing


def plain(value: Any) -> Any:
    """Our frozen dataclasses as JSON-ready values: dicts and lists, datetimes as ISO 8601 strings."""
    if is_dataclass(value) and not isinstance(value, type):
        return plain(asdict(value))
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    return value


def task_json(task: TaskInfo) -> dict[str, Any]:
    """A task, with the Chinese name of its role."""
    body: dict[str, Any] = plain(task)
    body["role_name"] = ROLES.get(task.role, task.role)
    return body


def step_result_json(result: StepResult) -> dict[str, Any]:
    """What one action did: the application's status and the tasks now waiting."""
    return {"app_no": result.app_no, "status": result.status,
            "ready_tasks": [task_json(t) for t in result.ready_tasks], "error_message": result.error_message}


def application_json(info: ApplicationInfo, step_names: Mapping[str, str]) -> dict[str, Any]:
    """An application's status for a channel: current and finished steps, data."""
    finished = [{"node_id": e.node_id, "node_name": step_names.get(e.node_id or "", e.node_id or ""),
                 "completed_at": plain(e.at), "completed_by": e.actor}
                for e in info.history if e.kind == EventKind.TASK_COMPLETED]
    return {
        "app_no": info.app_no, "process": info.process_key, "version": info.version, "status": info.status,
        "status_name": APP_STATUS_NAMES.get(info.status, info.status), "status_reason": info.status_reason,
        "status_changed_at": plain(info.status_changed_at), "status_changed_by": info.status_changed_by,
        "customer": {"name": info.customer_name, "type": info.customer_type},
        "created_by": info.created_by, "created_at": plain(info.created_at), "updated_at": plain(info.updated_at),
        "completed_at": plain(info.completed_at), "error_message": info.error_message,
        "current_steps": [task_json(t) for t in info.open_tasks], "finished_steps": finished,
        "documents": plain(info.documents), "data": plain(info.data),
    }


# ----------------------------------------------------------------- request helpers


@bp.before_request
def authenticate() -> Any:
    """Every endpoint except the description needs ``Authorization: Bearer <token>``; no cookies."""
    g.user = None  # the API never acts on a browser session
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _unauthorized("缺少 API 令牌：请在请求头中提供 Authorization: Bearer <令牌>", None)
    user = engine_of(current_app).user_for_token(token.strip())
    if user is None:
        return _unauthorized("API 令牌无效或已吊销，或其所属用户已停用", "invalid_token")
    g.user = user
    return None


def _unauthorized(message: str, error: str | None) -> Any:
    body, status = error_response(401, message)
    response = make_response(body, status)
    challenge = 'Bearer realm="baozhuang"'
    response.headers["WWW-Authenticate"] = f'{challenge}, error="{error}"' if error else challenge
    return response


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} 不是有效的 JSON 数值")


def _json_object(allowed: frozenset[str]) -> dict[str, Any]:
    """The request body as a JSON object with only the allowed keys, or a 400 that says what is wrong."""
    if not request.is_json:
        raise InvalidInput("请求体必须是 JSON：请设置请求头 Content-Type: application/json")
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise InvalidInput("请求体为空：应为一个 JSON 对象")
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"请求体不是有效的 JSON（第 {exc.lineno} 行第 {exc.colno} 列附近）") from exc
    except ValueError as exc:  # bad encoding, NaN/Infinity
        raise InvalidInput(f"请求体不是有效的 JSON：{exc}") from exc
    except RecursionError as exc:  # [[[[…]]]] thousands deep: the parser gives up, the client is wrong
        raise InvalidInput("请求体的 JSON 嵌套层数过深") from exc
    if not isinstance(body, dict):
        raise InvalidInput("请求体必须是一个 JSON 对象（键值对），而不是数组或单个值")
    if contains_nul(list(body)):
        raise InvalidInput(NUL_MESSAGE)
    unknown = sorted(set(body) - allowed)
    if unknown:
        _fail({_printable(key): f"{_printable(key)}：不认识的字段（可用：{'、'.join(sorted(allowed))}）"
               for key in unknown})
    # The form data ("data", a correction's "value") is checked field by field by the engine, which names the
    # field at fault; anything else holding text no field may hold is refused here, by its key.
    bad = {key: f"{key}：{NUL_MESSAGE if contains_nul(value) else NOT_TEXT}" for key, value in body.items()
           if key not in FIELD_CHECKED and (contains_nul(value) or contains_surrogate(value))}
    if bad:
        _fail(bad)
    return body


FIELD_CHECKED = frozenset({"data", "value"})
NOT_TEXT = "含有无效字符（不成对的代理字符不是有效的文本）"


def contains_surrogate(value: Any) -> bool:
    """Whether a string anywhere in a parsed JSON value holds a lone surrogate (JSON allows "\\ud800"; text
    does not)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if any("\ud800" <= ch <= "\udfff" for ch in item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _printable(text: str) -> str:
    """A key quoted in a message: no NUL, no lone surrogate, not endless."""
    clean = "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text.replace("\x00", ""))
    return clean if len(clean) <= 40 else clean[:40] + "…"


def _data_of(body: Mapping[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    """The body's "data" object; notes an error when it is missing or not an object."""
    data = body.get("data")
    if not isinstance(data, dict):
        errors["data"] = "data：必填，应为 JSON 对象（表单字段）"
        return {}
    return data


def _fail(errors: Mapping[str, str]) -> None:
    raise FormValidationError(f"请求有误：{'；'.join(errors.values())}", errors)


def _int_arg(name: str, default: int, lowest: int, highest: int, errors: dict[str, str]) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        errors[name] = f"{name}：应为整数"
        return default
    if not lowest <= value <= highest:
        errors[name] = f"{name}：应在 {lowest} 到 {highest} 之间"
    return value


# ----------------------------------------------------------------- applications


@bp.post("/applications")
def create_application() -> Any:
    """Accept an application (受理) from another channel."""
    engine = engine_of(current_app)
    body = _json_object(frozenset({"process", "data"}))
    errors: dict[str, str] = {}
    process = body.get("process")
    if not isinstance(process, str) or not process.strip():
        errors["process"] = "process：必填，流程键（hv、lv 或 pv）"
    elif engine.latest_version(process.strip()) is None:
        errors["process"] = f"process：未知或尚未部署的流程「{process}」（hv、lv 或 pv）"
    data = _data_of(body, errors)
    if errors:
        _fail(errors)
    assert isinstance(process, str)
    # the channel's submission reaches the engine now: its own clock is the first-contact evidence (体外循环)
    result = engine.start(process.strip(), data, current_user().username, submitted_at=engine.now())
    response = make_response(jsonify(step_result_json(result)), 201)
    response.headers["Location"] = url_for("api.application", app_no=result.app_no)
    return response


@bp.get("/applications/<app_no>")
def application(app_no: str) -> Any:
    """An application's status, steps and data."""
    engine = engine_of(current_app)
    info = engine.application(app_no)
    done = engine.tasks(app_no=info.app_no, status="completed", limit=COMPLETED_STEPS_LIMIT)
    return jsonify(application_json(info, {t.node_id: t.node_name for t in (*done, *info.open_tasks)}))


@bp.get("/applications/<app_no>/clocks")
def application_clocks(app_no: str) -> Any:
    """An application's policy clocks (时限) and the evidence of when the customer first applied."""
    return jsonify(clocks_json(engine_of(current_app).clocks(app_no)))


@bp.post("/applications/<app_no>/first-contact")
def record_first_contact(app_no: str) -> Any:
    """The SMS channel relays the customer's reply to the acceptance notice: the day they first applied."""
    engine = engine_of(current_app)
    body = _json_object(frozenset({"date"}))
    day = body.get("date")
    if not isinstance(day, str) or not day.strip():
        _fail({"date": "date：必填，客户首次申请的日期（年-月-日）"})
    assert isinstance(day, str)
    info = engine.application(app_no)  # 404 before anything else
    at = engine.confirm_first_contact(info.app_no, day, ContactSource.CUSTOMER_REPLY, current_user().username)
    return jsonify({"app_no": info.app_no, "first_contact_at": plain(at), "source": ContactSource.CUSTOMER_REPLY})


def clocks_json(report: ClockReport) -> dict[str, Any]:
    """A clock report as the channels read it."""
    fc = report.first_contact
    return {"app_no": report.app_no,
            "clocks": [{"key": c.key, "name": c.name, "kind": c.kind, "round": c.round, "status": c.status,
                        "status_name": c.status_name, "started_at": plain(c.started_at),
                        "stopped_at": plain(c.stopped_at),
                        "pauses": [{"start": plain(p.start), "end": plain(p.end), "reason": p.reason}
                                   for p in c.pauses],
                        "used_days": c.used_days, "limit": c.limit, "unit": c.unit, "limit_source": c.limit_source,
                        "deadline": plain(c.deadline), "overdue": c.overdue, "provisional": c.provisional,
                        "forecast_days": c.forecast_days, "risk": c.risk} for c in report.clocks],
            "first_contact": {"at": plain(fc.at), "source": fc.source, "source_name": fc.source_name,
                              "lag_days": fc.lag_days}}
def case_action_json(done: CaseAction) -> dict[str, Any]:
    """What a lifecycle action did."""
    return {"app_no": done.app_no, "action": done.kind, "status": done.status,
            "status_name": APP_STATUS_NAMES.get(done.status, done.status), "reason": done.reason,
            "at": plain(done.at), "by": done.by, "field": done.field, "field_title": done.field_title,
            "before": plain(done.before), "after": plain(done.after)}


def _reason_of(body: Mapping[str, Any], required: bool = True) -> str:
    reason = body.get("reason", "" if not required else None)
    if not isinstance(reason, str):
        _fail({"reason": "reason：必填，应为字符串（原因）"})
    return str(reason)


@bp.post("/applications/<app_no>/suspend")
def suspend(app_no: str) -> Any:
    """暂停办理."""
    body = _json_object(frozenset({"reason"}))
    done = engine_of(current_app).suspend(app_no, _reason_of(body), by=current_user().username)
    return jsonify(case_action_json(done))


@bp.post("/applications/<app_no>/resume")
def resume(app_no: str) -> Any:
    """恢复办理."""
    body = _json_object(frozenset({"reason"}))
    done = engine_of(current_app).resume(app_no, _reason_of(body, required=False), by=current_user().username)
    return jsonify(case_action_json(done))


@bp.post("/applications/<app_no>/withdraw")
def withdraw(app_no: str) -> Any:
    """撤销申请 (the customer withdrew)."""
    body = _json_object(frozenset({"reason"}))
    done = engine_of(current_app).withdraw(app_no, _reason_of(body), by=current_user().username)
    return jsonify(case_action_json(done))


@bp.post("/applications/<app_no>/terminate")
def terminate(app_no: str) -> Any:
    """终止申请."""
    body = _json_object(frozenset({"reason"}))
    done = engine_of(current_app).terminate(app_no, _reason_of(body), by=current_user().username)
    return jsonify(case_action_json(done))


@bp.post("/applications/<app_no>/corrections")
def correct(app_no: str) -> Any:
    """更正 one recorded value."""
    body = _json_object(frozenset({"field", "value", "reason"}))
    errors: dict[str, str] = {}
    if not isinstance(body.get("field"), str):
        errors["field"] = "field：必填，应为字段名（见 GET /applications/{app_no}/fields）"
    if "value" not in body:
        errors["value"] = "value：必填，新值"
    if errors:
        _fail(errors)
    done = engine_of(current_app).correct(app_no, str(body["field"]), body["value"], _reason_of(body),
                                          by=current_user().username)
    return jsonify(case_action_json(done))


@bp.get("/applications/<app_no>/fields")
def correctable_fields(app_no: str) -> Any:
    """The recorded values a supervisor may correct."""
    fields = engine_of(current_app).correctable_fields(app_no)
    return jsonify({"items": [plain(f) for f in fields]})


@bp.post("/applications/<app_no>/retry")
def retry(app_no: str) -> Any:
    """Run again the failed steps of a case in error."""
    return jsonify(step_result_json(engine_of(current_app).retry(app_no, current_user().username)))


# ----------------------------------------------------------------- tasks


@bp.get("/tasks")
def tasks() -> Any:
    """One page of the caller's task list."""
    errors: dict[str, str] = {}
    page = _int_arg("page", 1, 1, 1_000_000, errors)
    per_page = _int_arg("per_page", 20, 1, 200, errors)
    if errors:
        _fail(errors)
    result = engine_of(current_app).task_page(
        current_user().username, scope=request.args.get("scope") or "pool",
        process_key=request.args.get("process") or None, node_id=request.args.get("node") or None,
        search=request.args.get("q") or None, page=page, per_page=per_page)
    return jsonify({"items": [task_json(t) for t in result.items], "total": result.total, "page": result.page,
                    "per_page": result.per_page, "pages": result.pages})


@bp.get("/tasks/<task_id>")
def task(task_id: str) -> Any:
    """A task with its form definition (JSON Schema), so that a channel can build its own form."""
    engine = engine_of(current_app)
    info = engine.task(task_id)
    form = engine.task_form(info.id)
    body = task_json(info)
    body["form_definition"] = ({"name": form.name, "title": form.title, "schema": plain(form.schema)}
                               if form else None)
    return jsonify(body)


@bp.post("/tasks/<task_id>/claim")
def claim(task_id: str) -> Any:
    """Take a task so that nobody else works on it."""
    return jsonify(task_json(engine_of(current_app).claim(task_id, current_user().username)))


@bp.post("/tasks/<task_id>/release")
def release(task_id: str) -> Any:
    """Give a claimed task back to the pool."""
    return jsonify(task_json(engine_of(current_app).release(task_id, current_user().username)))


@bp.post("/tasks/<task_id>/complete")
def complete(task_id: str) -> Any:
    """Submit a task's form; the process runs on to its next wait."""
    body = _json_object(frozenset({"data"}))
    errors: dict[str, str] = {}
    data = _data_of(body, errors)
    if errors:
        _fail(errors)
    result = engine_of(current_app).complete(task_id, current_user().username, data)
    return jsonify(step_result_json(result))


@bp.post("/tasks/<task_id>/urge")
def urge(task_id: str) -> Any:
    """催办 an open task."""
    body = _json_object(frozenset({"note"}))
    note = body.get("note", "")
    if not isinstance(note, str):
        _fail({"note": "note：应为字符串"})
    return jsonify(task_json(engine_of(current_app).urge(task_id, by=current_user().username, note=str(note))))


@bp.post("/tasks/<task_id>/transfer")
def transfer(task_id: str) -> Any:
    """转办 my task to a colleague of its role."""
    body = _json_object(frozenset({"to", "reason"}))
    wrong = {key: f"{key}：必填，应为字符串" for key in ("to", "reason") if not isinstance(body.get(key), str)}
    if wrong:
        _fail(wrong)
    task = engine_of(current_app).transfer(task_id, str(body["to"]), by=current_user().username,
                                           reason=str(body["reason"]))
    return jsonify(task_json(task))


def comment_json(comment: CommentInfo, names: Mapping[str, str]) -> dict[str, Any]:
    """A comment, with its author's name."""
    body: dict[str, Any] = plain(comment)
    body["author_name"] = names.get(comment.author, comment.author)
    return body


@bp.get("/applications/<app_no>/comments")
def comments(app_no: str) -> Any:
    """An application's comments, oldest first."""
    engine = engine_of(current_app)
    engine.application(app_no)  # 404 for an unknown number
    names = engine.display_names()
    return jsonify({"items": [comment_json(c, names) for c in engine.comments(app_no)]})


@bp.post("/applications/<app_no>/comments")
def add_comment(app_no: str) -> Any:
    """Leave a comment on an application (shown to the customer when ``public``)."""
    body = _json_object(frozenset({"body", "public"}))
    errors: dict[str, str] = {}
    if not isinstance(body.get("body"), str):
        errors["body"] = "body：必填，应为字符串"
    if "public" in body and not isinstance(body["public"], bool):
        errors["public"] = "public：应为 true 或 false"
    if errors:
        _fail(errors)
    engine = engine_of(current_app)
    comment = engine.add_comment(app_no, str(body["body"]), by=current_user().username,
                                 public=bool(body.get("public", False)))
    return make_response(jsonify(comment_json(comment, engine.display_names())), 201)


# ----------------------------------------------------------------- field work


def field_job_json(job: FieldJobInfo) -> dict[str, Any]:
    """A field job with its kind, status and appointment in words."""
    body: dict[str, Any] = plain(job)
    body.update(kind_name=job.kind_name, status_name=job.status_name, appointment_text=job.appointment_text)
    return body


@bp.get("/fieldjobs")
def field_jobs() -> Any:
    """My open field jobs (all of them for a dispatcher)."""
    user = current_user()
    open_statuses = ("waiting", "scheduled", "on_site")
    worker = None if DISPATCHER_ROLE in user.roles else user.username
    jobs = engine_of(current_app).field_work.jobs(status=open_statuses, worker=worker)
    return jsonify({"items": [field_job_json(j) for j in jobs]})


@bp.get("/fieldjobs/<task_id>")
def field_job(task_id: str) -> Any:
    """One field job."""
    engine = engine_of(current_app)
    return jsonify(field_job_json(engine.field_work.job(engine.task(task_id).id)))


@bp.post("/fieldjobs/<task_id>/appointment")
def book_field_job(task_id: str) -> Any:
    """Book a job's appointment, or change it (with a reason)."""
    engine = engine_of(current_app)
    body = _json_object(frozenset(openapi.SCHEMAS["Appointment"]["properties"]))
    wrong = {key: f"{key}：应为字符串" for key, value in body.items() if not isinstance(value, str)}
    if wrong:
        _fail(wrong)
    job_id = engine.task(task_id).id
    appointment = appointment_from_form(body)
    user = current_user().username
    override = str(body.get("override_reason") or "")
    if body.get("reason"):
        job = engine.field_work.reschedule(job_id, user, appointment, str(body["reason"]), override)
    else:
        job = engine.field_work.schedule(job_id, user, appointment, override)
    return jsonify(field_job_json(job))


@bp.post("/fieldjobs/<task_id>/check-in")
def check_in(task_id: str) -> Any:
    """Report arrival on site."""
    engine = engine_of(current_app)
    note = _note()
    return jsonify(field_job_json(engine.field_work.check_in(engine.task(task_id).id, current_user().username, note)))


@bp.post("/fieldjobs/<task_id>/check-out")
def check_out(task_id: str) -> Any:
    """Report the work finished; the task can then be completed."""
    engine = engine_of(current_app)
    note = _note()
    return jsonify(field_job_json(engine.field_work.check_out(engine.task(task_id).id, current_user().username,
                                                               note)))


def _note() -> str:
    body = _json_object(frozenset({"note"}))
    note = body.get("note")
    if not isinstance(note, str):
        _fail({"note": "note：必填，应为字符串（现场情况）"})
    return str(note)


# ----------------------------------------------------------------- description


@bp.get("/openapi.json")
def openapi_document() -> Any:
    """The OpenAPI 3.1 document (no token needed)."""
    return jsonify(openapi.document())


@bp.get("/docs")
def docs() -> Any:
    """A plain page listing the endpoints of the OpenAPI document."""
    return render_template("api/docs.html", spec=openapi.document(), operations=openapi.operations())
