"""Staff work: the task lists, claiming and handing tasks on, the task page, and accepting (受理) new applications."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from engine import APP_STATUS_NAMES, SUPERVISOR_ROLE, AppStatus, refusal
from engine import (
    ApplicationInfo,
    BulkResult,
    ClockInfo,
    Conflict,
    Engine,
    Forbidden,
    FormValidationError,
    InvalidInput,
    NotFound,
    TaskInfo,
    Upload,
    UserInfo,
)
from engine import FILTER_KEYS, FormDefinition, TaskPrefill

from webui import engine_of, formdata
from webui.applications import diagram_names, variable_labels
from webui.clocks import urgent
from webui.paging import page_numbers
from webui.auth import current_user, login_required, roles_required, safe_next
from webui.formdata import Field
from webui.labels import people, person, persons, result_text

bp = Blueprint("tasks", __name__)

VARIANTS = {"hv": "高压", "lv": "低压", "pv": "分布式光伏"}
SCOPES = {"mine": "我的任务", "pool": "待认领", "all": "全部任务"}
STATUSES = {"ready": "待办", "completed": "已办结"}
PER_PAGE = 20
SORTS = {"created": "按受理顺序", "risk": "按超期风险（高者在前）"}

@bp.context_processor
def helpers() -> dict[str, Any]:
    """Names the task templates share."""
    return {"application_url": application_url, "VARIANTS": VARIANTS}


def application_url(app_no: str) -> str:
    """The page of one application (served by the applications blueprint)."""
    return url_for("applications.index") + quote(app_no, safe="")


# ----------------------------------------------------------------------------- the task list


@dataclass(frozen=True)
class Row:
    """One line of the task list with what this person may do with it."""

    task: TaskInfo
    waited: str
    overdue: bool
    holder: str
    can_open: bool
    can_claim: bool
    can_release: bool
    reassign_to: tuple[UserInfo, ...]
    urged_at: datetime | None = None
    on_behalf: str = ""  # the colleague on leave whose task this is, when I stand in for them


@bp.route("/")
@login_required
def index() -> Any:
    """My tasks, the pool of my roles, or (supervisors) every task; filtered, searched and paged."""
    engine = engine_of(current_app)
    user = current_user()
    supervisor = SUPERVISOR_ROLE in user.roles
    status = request.args.get("status") or "ready"
    process = request.args.get("process") or None
    node = request.args.get("node") or None
    search = (request.args.get("q") or "").strip() or None
    if status not in STATUSES:
        raise InvalidInput(f"未知的任务状态：{status}（待办 ready 或 已办结 completed）")
    if process is not None and process not in VARIANTS:
        raise InvalidInput(f"未知的业务类型：{process}（hv、lv 或 pv）")
    page = request.args.get("page", 1, type=int) or 1
    sort = request.args.get("sort") or "created"
    if sort not in SORTS:
        raise InvalidInput(f"未知的排序方式：{sort}（按受理顺序 created 或按超期风险 risk）")

    counts = {"mine": engine.task_page(user.username, scope="mine", per_page=1).total,
              "pool": engine.task_page(user.username, scope="pool", per_page=1).total}
    if supervisor:
        counts["all"] = engine.task_page(user.username, scope="all", per_page=1).total
    scope = request.args.get("scope") or ("mine" if counts["mine"] else "pool")
    if scope == "all" and not supervisor:
        raise Forbidden("只有「营销部」主管可以查看全部任务")

    result = engine.task_page(user.username, scope=scope, status=status, process_key=process, node_id=node,
                              search=search, page=page, per_page=PER_PAGE, order=sort)
    # The node choices: the steps that have tasks in this list (one bounded, indexed query).
    in_list = engine.task_page(user.username, scope=scope, status=status, process_key=process, search=search,
                               per_page=200)
    nodes = {t.node_id: t.node_name for t in in_list.items}
    if node and node not in nodes:
        nodes[node] = next((t.node_name for t in result.items), node)

    staff = engine.users()
    names = dict(people())
    now = engine.now()
    away = engine.standing_in_for(user.username)
    urged = engine.urged(t.id for t in result.items if t.status == "ready")
    rows = [_row(t, user, names, staff if supervisor else [], now, away, urged.get(t.id)) for t in result.items]
    args = {k: v for k, v in {"scope": scope, "status": status, "process": process, "node": node,
                              "q": search, "sort": sort if sort != "created" else None}.items() if v}
    saved = engine.filters(user.username)
    current_query = {k: v for k, v in args.items() if k in FILTER_KEYS and (k, v) != ("status", "ready")}
    return render_template("tasks/index.html", page=result, rows=rows, scope=scope, counts=counts,
                           clocks=urgent_clocks(engine, result.items), sort=sort, SORTS=SORTS,
                           supervisor=supervisor, status=status, process=process, node=node, q=search or "",
                           nodes=sorted(nodes.items(), key=lambda kv: kv[1]), args=args,
                           page_numbers=page_numbers(result.page, result.pages), names=names,
                           saved_filters=saved, current_query=current_query,
                           active_filter=next((f.id for f in saved if dict(f.query) == current_query), None),
                           standing_in=away, reassignable=_reassignable(staff, rows) if supervisor else [])


def _row(task: TaskInfo, user: UserInfo, names: dict[str, str], staff: list[UserInfo], now: datetime,
         away: list[str] | None = None, urged_at: datetime | None = None) -> Row:
    holder = task.claimed_by or task.assignee
    holder_text = names.get(holder, "（未登记人员）") if holder else "—"
    if task.status == "completed" and task.completed_by:
        holder_text = names.get(task.completed_by, "（未登记人员）")
    ready = task.status == "ready"
    away = away or []
    return Row(
        task=task,
        waited=waited(task.created_at, task.completed_at or now),
        overdue=ready and task.due_at is not None and task.due_at < now,
        holder=holder_text,
        can_open=ready and _refusal(task, user, away) is None,
        can_claim=ready and task.role in user.roles and not task.claimed_by and not task.assignee,
        can_release=ready and task.claimed_by == user.username,
        reassign_to=tuple(u for u in staff if task.role in u.roles) if ready else (),
        urged_at=urged_at if ready else None,
        on_behalf=names.get(holder or "", "") if ready and holder in away else "",
    )


def _reassignable(staff: list[UserInfo], rows: list[Row]) -> list[UserInfo]:
    """The people a supervisor may hand the listed tasks to in one go: staff of their roles."""
    roles = {r.task.role for r in rows if r.task.status == "ready"}
    return [u for u in staff if roles & set(u.roles)]


def urgent_clocks(engine: Engine, tasks: tuple[TaskInfo, ...]) -> dict[str, ClockInfo]:
    """Each open task's application's most urgent counting policy clock (时限), by application number."""
    summaries = engine.clock_summaries(t.app_no for t in tasks if t.status == "ready")
    return {app_no: clock for app_no, clocks in summaries.items() if (clock := urgent(clocks)) is not None}


def waited(since: datetime, until: datetime) -> str:
    """How long something has waited, the way people say it: 2天3小时, 5小时12分, 8分钟."""
    minutes = max(0, int((until - since).total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}天{hours}小时" if hours else f"{days}天"
    if hours:
        return f"{hours}小时{mins}分" if mins else f"{hours}小时"
    return f"{mins}分钟" if mins else "刚刚"


# ----------------------------------------------------------------------------- claim, release, reassign


def _back() -> Any:
    """Back to where the person came from (a same-site path only), else the task list."""
    return redirect(safe_next(request.form.get("next") or request.args.get("next")))


@bp.route("/tasks/<task_id>/claim", methods=["POST"])
@login_required
def claim(task_id: str) -> Any:
    """Take a task from the pool."""
    task = engine_of(current_app).claim(task_id, current_user().username)
    flash(f"已认领「{task.node_name}」（{task.app_no}），其他人将不能办理", "success")
    return _back()


@bp.route("/tasks/<task_id>/release", methods=["POST"])
@login_required
def release(task_id: str) -> Any:
    """Give a claimed task back to the pool."""
    task = engine_of(current_app).release(task_id, current_user().username)
    flash(f"已释放「{task.node_name}」（{task.app_no}），任务回到待认领", "success")
    return _back()


@bp.route("/tasks/<task_id>/reassign", methods=["POST"])
@login_required
def reassign(task_id: str) -> Any:
    """A supervisor hands a task to another person of its role."""
    engine = engine_of(current_app)
    to_user = (request.form.get("to") or "").strip()
    if not to_user:
        raise InvalidInput("请选择改派给谁")
    task = engine.reassign(task_id, to_user, current_user().username)
    flash(f"已将「{task.node_name}」（{task.app_no}）改派给 {engine.user(to_user).display_name}", "success")
    return _back()


@bp.route("/tasks/bulk", methods=["POST"])
@login_required
def bulk() -> Any:
    """Claim, release or (supervisors) reassign the ticked tasks, each on its own; say which could not be."""
    engine = engine_of(current_app)
    user = current_user()
    ids = request.form.getlist("task")
    action = request.form.get("action", "")
    result: BulkResult
    if action == "claim":
        result, verb = engine.claim_many(ids, user.username), "认领"
    elif action == "release":
        result, verb = engine.release_many(ids, user.username), "释放"
    elif action == "reassign":
        to_user = (request.form.get("to") or "").strip()
        if not to_user:
            raise InvalidInput("请选择改派给谁")
        result, verb = engine.reassign_many(ids, to_user, user.username), f"改派给{person(to_user)}"
    else:
        raise InvalidInput(f"未知的批量操作：{action}")
    if result.done:
        flash(f"已{verb} {len(result.done)} 项任务", "success")
    if result.refused:
        flash(f"{len(result.refused)} 项未能{verb}：" + "；".join(reason for _, reason in result.refused), "error")
    return _back()


@bp.route("/filters", methods=["POST"])
@login_required
def save_filter() -> Any:
    """Keep the task list's current filter under a name."""
    query = {k: request.form.get(k, "") for k in FILTER_KEYS}
    try:
        saved = engine_of(current_app).save_filter(request.form.get("name", ""), query, by=current_user().username)
    except FormValidationError as exc:
        flash(exc.message, "error")
        return _back()
    flash(f"已保存筛选条件「{saved.name}」", "success")
    return redirect(url_for("tasks.index") + "?" + urlencode(dict(saved.query)))


@bp.route("/filters/<int:filter_id>/delete", methods=["POST"])
@login_required
def delete_filter(filter_id: int) -> Any:
    """Forget one of my saved filters."""
    engine_of(current_app).delete_filter(filter_id, by=current_user().username)
    flash("已删除筛选条件", "success")
    return _back()


@bp.route("/tasks/<task_id>/transfer", methods=["POST"])
@login_required
def transfer(task_id: str) -> Any:
    """转办: hand my task to a colleague of its role."""
    to_user = (request.form.get("to") or "").strip()
    if not to_user:
        raise InvalidInput("请选择转办给谁")
    try:
        task = engine_of(current_app).transfer(task_id, to_user, by=current_user().username,
                                               reason=request.form.get("reason", ""))
    except FormValidationError as exc:
        flash("未转办：" + "；".join(exc.field_errors.values()) if exc.field_errors else exc.message, "error")
        return redirect(url_for("tasks.task", task_id=task_id) + "#transfer")
    flash(f"已将「{task.node_name}」（{task.app_no}）转给{person(to_user)}办理", "success")
    return redirect(url_for("tasks.index"))


# ----------------------------------------------------------------------------- the task page


def _refusal(task: TaskInfo, user: UserInfo, away: list[str] | None = None) -> str | None:
    """Why this person may not work on a task (None if they may): the engine's own rule, with the colleagues on
    leave this person stands in for, naming people by name."""
    return refusal(task, user.username, user.roles, stands_in_for=away or (), names=people())


def _task_for(engine: Engine, task_id: str, user: UserInfo) -> TaskInfo:
    """The task, if this person may work on it now (403 if not theirs, 409 if already done)."""
    task = engine.task(task_id)
    if task.role not in user.roles:
        raise Forbidden(_refusal(task, user) or "")
    if task.status == "cancelled":
        raise Conflict(f"任务「{task.node_name}」已取消（流程已转向，或申请已撤销、终止）")
    if task.status != "ready":
        who = person(task.completed_by, "他人")
        when = f"{task.completed_at:%Y-%m-%d %H:%M}" if task.completed_at else ""
        if task.status == "completed":
            raise Conflict(f"任务「{task.node_name}」已由{who}于 {when} 办理完成")
        raise Conflict(f"任务「{task.node_name}」已关闭：流程已越过该环节")
    refusal = _refusal(task, user, engine.standing_in_for(user.username))
    if refusal:
        raise Forbidden(refusal)
    return task


@bp.route("/tasks/<task_id>", methods=["GET", "POST"])
@login_required
def task(task_id: str) -> Any:
    """Show a task's form with the application's earlier data; submit it to complete the task."""
    engine = engine_of(current_app)
    user = current_user()
    task = _task_for(engine, task_id, user)
    form = engine.task_form(task.id)
    fields = _with_staff_choices(engine, form, formdata.fields_of(form)) if form else []
    prefill = engine.task_prefill(task.id)
    staff = engine.users()
    values: dict[str, Any] = formdata.input_values(fields, prefill.values)
    errors: dict[str, str] = {}
    copy_to = [u for u in request.form.getlist("copy_to") if u] if request.method == "POST" else []
    if request.method == "POST":
        data, errors = formdata.parse(fields, request.form, not_utf8())
        if errors:
            errors = _all_errors(form, data, errors)
        elif set(copy_to) - {u.username for u in staff} or user.username in copy_to:
            errors = {"copy_to": "抄送对象须为在岗的其他同事"}
        else:
            try:
                engine.complete(task.id, user.username, data, _uploads())
            except FormValidationError as exc:
                errors = dict(exc.field_errors) or {"_": exc.message}
            else:
                flash(f"「{task.node_name}」已办理", "success")
                if copy_to:
                    engine.copy_decision(task.id, copy_to, by=user.username, note=request.form.get("copy_note", ""))
                    flash(f"办理结果已抄送：{persons(copy_to)}", "success")
                return redirect(application_url(task.app_no))
        values = formdata.submitted_values(fields, request.form)
    app = engine.application(task.app_no)
    holder = task.claimed_by or task.assignee
    return render_template(
        "tasks/task.html", task=task, app=app, form=form, fields=fields, values=values, errors=errors,
        documents=_documents(form, app), sections=_earlier_data(engine, app, form), names=dict(people()),
        field_names={f.name for f in fields} | {str(d.get("key")) for d in (form.documents if form else ())}
        | {"copy_to"},
        can_release=task.claimed_by == user.username,
        can_claim=not task.claimed_by and not task.assignee, job=engine.field_work.find(task.id),
        prefill=prefill, defaults_by=_defaults_by(prefill),
        on_behalf=person(holder) if holder and holder != user.username else "",
        transfer_to=[u for u in staff if task.role in u.roles and u.username not in (user.username, holder)]
        if holder else [],
        colleagues=[u for u in staff if u.username != user.username], copy_to=copy_to,
        held=app.status == AppStatus.SUSPENDED, status_name=APP_STATUS_NAMES.get(app.status, app.status),
    ), 400 if errors else 200


def _defaults_by(prefill: TaskPrefill) -> dict[str, dict[str, dict[str, str]]]:
    """The voltage-dependent proposals as the page's script swaps them in (input text)."""
    return {field: {value: {name: formdata.display(None, proposed) for name, proposed in defaults.items()}
                    for value, defaults in options.items()}
            for field, options in prefill.defaults_by.items()}


def not_utf8() -> set[str]:
    """The fields of this form post whose bytes were not UTF-8 (a url-encoded post; multipart ones arrive as
    U+FFFD, which formdata.parse sees)."""
    if request.mimetype != "application/x-www-form-urlencoded":
        return set()
    return formdata.undecodable(request.get_data(cache=True, parse_form_data=False))


def _all_errors(form: FormDefinition | None, data: dict[str, Any], parse_errors: dict[str, str]) -> dict[str, str]:
    """The fields that could not be read plus every other problem the form's check finds, at once."""
    if form is None:
        return parse_errors
    try:
        form.validate(data)
    except FormValidationError as exc:
        return {**exc.field_errors, **parse_errors}
    return parse_errors


def _uploads() -> list[Upload]:
    """The files chosen in the page's document inputs (named doc:<key>)."""
    uploads = []
    for name, file in request.files.items(multi=True):
        if not name.startswith("doc:") or not file.filename:
            continue
        media_type = file.mimetype or ""
        if media_type in ("", "application/octet-stream"):
            media_type = mimetypes.guess_type(file.filename)[0] or media_type
        uploads.append(Upload(key=name[4:], filename=file.filename, media_type=media_type, content=file.read()))
    return uploads


def _documents(form: FormDefinition | None, app: ApplicationInfo) -> list[dict[str, Any]]:
    """The documents the node asks for, each with the files already kept for it."""
    return [{"key": str(d["key"]), "title": str(d.get("title", d["key"])), "required": bool(d.get("required")),
             "kept": [doc for doc in app.documents if doc.kind == f"upload:{d['key']}"]}
            for d in (form.documents if form else ())]


def _with_staff_choices(engine: Engine, form: FormDefinition, fields: list[Field]) -> list[Field]:
    """Fields holding usernames (x-userRoles in the form definition) become choices of the staff who can fill
    that part, shown by name."""
    props = form.schema.get("properties", {})
    wanted = {f.name: tuple(props.get(f.name, {}).get("x-userRoles", ())) for f in fields}
    if not any(wanted.values()):
        return fields
    staff = engine.users()
    return [f.with_options((u.username, u.display_name) for u in staff if set(wanted[f.name]) & set(u.roles))
            if wanted[f.name] else f for f in fields]


@dataclass(frozen=True)
class Section:
    """A group of earlier data: the acceptance, one step, or what the system worked out."""

    title: str
    note: str
    rows: tuple[tuple[str, str], ...]


def _earlier_data(engine: Engine, app: ApplicationInfo, current: FormDefinition | None) -> list[Section]:
    """The application's data so far with Chinese labels, grouped by the step that entered it."""
    data = dict(app.data)
    shown: set[str] = set()
    names = people()
    sections: list[Section] = []

    def text(f: Field, value: Any) -> str:
        people_in = value if isinstance(value, list) else [value]
        if value and all(isinstance(u, str) and u in names for u in people_in):
            return "、".join(names[u] for u in people_in)  # people by name, also those no longer at work
        return formdata.display(f, value)

    def take(title: str, note: str, fields: list[Field]) -> None:
        rows = tuple((f.title, text(f, data[f.name])) for f in fields if f.name in data and f.name not in shown)
        shown.update(f.name for f in fields if f.name in data)
        if rows:
            sections.append(Section(title, note, rows))

    start, by_node = engine.application_forms(app.app_no)  # the forms of this application's own version
    if start:
        take("受理信息", f"{app.created_at:%Y-%m-%d %H:%M} · {person(app.created_by)}",
             _with_staff_choices(engine, start, formdata.fields_of(start)))
    done: dict[str, TaskInfo] = {}
    for t in engine.tasks(app_no=app.app_no, status="completed", limit=200):
        done[t.form or t.node_id] = t  # a step done again (after a send-back) shows its latest round
    for t in sorted(done.values(), key=lambda t: t.completed_at or t.created_at):
        form = by_node.get(t.node_id)
        if form:
            when = f"{t.completed_at:%Y-%m-%d %H:%M}" if t.completed_at else ""
            who = person(t.completed_by)
            take(t.node_name, f"{when} · {who}", _with_staff_choices(engine, form, formdata.fields_of(form)))
    current_fields = formdata.fields_of(current) if current else []
    take("本环节此前填写", "", current_fields)
    diagram = diagram_names(engine.application_xml(app.app_no))
    set_by = diagram.results  # variable → the service task setting it
    labels = variable_labels(engine, diagram)  # variable → how the rule's result reads
    rest = tuple((set_by.get(key, key), result_text(value, labels.get(key))
                  if key in labels or _has_message(value) or (isinstance(value, str) and value in names)
                  else formdata.display(None, value))
                 for key, value in data.items()
                 if key not in shown and not key.startswith("_")
                 and (not isinstance(value, (dict, list)) or _has_message(value)))
    if rest:
        sections.append(Section("系统记录", "流程自动判定或生成的数据", rest))
    return sections


def _has_message(value: Any) -> bool:
    """A rule's result that says itself what it decided (a joint review's outcome and its reasons)."""
    return isinstance(value, dict) and isinstance(value.get("message"), str)


# ----------------------------------------------------------------------------- accepting (受理)


@bp.route("/accept", methods=["GET", "POST"])
@roles_required("front_desk")
def accept() -> Any:
    """受理: choose the business and customer type, then fill the acceptance form with the one-time checklist."""
    engine = engine_of(current_app)
    variant = request.args.get("variant") or None
    if request.method == "GET" and variant is None and not request.args.get("customer_type"):
        return render_template("accept/choose.html", choices=_variant_choices(engine))
    if variant is None:
        raise InvalidInput("请先选择业务类型（高压、低压或分布式光伏）")
    if variant not in VARIANTS:
        raise NotFound(f"没有这种业务类型：{variant}（可选：高压 hv、低压 lv、分布式光伏 pv）")
    form = engine.start_form(variant)
    if form is None:
        raise NotFound(f"{VARIANTS[variant]}流程没有受理表单")
    fields = _with_staff_choices(engine, form, formdata.fields_of(form))
    customer_types = dict(_customer_types(fields))
    source = request.form if request.method == "POST" else request.args
    customer_type = source.get("customer_type") or ""
    if customer_type not in customer_types:
        if request.method == "GET" and not customer_type:
            return render_template("accept/choose.html", choices=_variant_choices(engine), chosen=variant)
        raise InvalidInput(f"请选择客户类别（{VARIANTS[variant]}：{'、'.join(customer_types.values())}）")
    fields = [_checklist_for(f, form, customer_type) if f.name == "documents_received" else f for f in fields]

    errors: dict[str, str] = {}
    if request.method == "POST":
        data, errors = formdata.parse(fields, request.form, not_utf8())
        if errors:
            errors = _all_errors(form, data, errors)
        else:
            try:
                result = engine.start(variant, data, current_user().username)
            except FormValidationError as exc:
                errors = dict(exc.field_errors) or {"_": exc.message}
            else:
                flash(f"已受理，申请编号 {result.app_no}", "success")
                return redirect(application_url(result.app_no))
        values = formdata.submitted_values(fields, request.form)
    else:
        values = formdata.input_values(fields, {"customer_type": customer_type, "channel": "counter",
                                                "first_contact_at": f"{engine.now():%Y-%m-%dT%H:%M}"})
    identity = [str(k) for k in form.schema.get("x-identityDocuments", ())]
    checklist = [{"key": str(d["key"]), "title": str(d.get("title", d["key"])), "required": bool(d.get("required")),
                  "identity": str(d["key"]) in identity}
                 for d in form.documents if _for_customer(d, customer_type)]
    return render_template(
        "accept/form.html", form=form, variant=variant, customer_type=customer_type,
        customer_type_name=customer_types[customer_type], fields=fields, values=values, errors=errors,
        field_names={f.name for f in fields}, checklist=checklist,
        identity_names=[d["title"] for d in checklist if d["identity"]],
    ), 400 if errors else 200


def _variant_choices(engine: Engine) -> list[dict[str, Any]]:
    """Each deployed business with its customer types."""
    choices = []
    for key, name in VARIANTS.items():
        try:
            form = engine.start_form(key)
        except NotFound:
            continue  # not deployed here
        if form:
            choices.append({"key": key, "name": name, "title": form.title,
                            "customer_types": _customer_types(formdata.fields_of(form))})
    return choices


def _customer_types(fields: list[Field]) -> tuple[tuple[str, str], ...]:
    return next((f.options for f in fields if f.name == "customer_type"), ())


def _for_customer(document: Any, customer_type: str) -> bool:
    kinds = document.get("customerTypes")
    return not kinds or customer_type in kinds


def _checklist_for(field: Field, form: FormDefinition, customer_type: str) -> Field:
    """The one-time checklist (一次性告知) holds only the documents asked of this customer type."""
    excluded = {str(d["key"]) for d in form.documents if not _for_customer(d, customer_type)}
    return field.with_options(o for o in field.options if o[0] not in excluded)

