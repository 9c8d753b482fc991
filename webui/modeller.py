"""The process analysts' pages (流程设计): edit a diagram, save drafts, deploy, compare versions, preview the
impact of a draft and move running applications to a new version.

The modeller itself is bpmn-js in the browser (``static/modeller.js`` over the modeller kit built by
``scripts/assets.sh``); this blueprint only serves the XML and the forms, the choices its properties panel
offers (every marker the gate knows, the operators and their parameters, the roles) and turns each action
— check while drawing, save, delete, compare with the newest version, deploy, play the example paths —
into one engine call.
"""

from __future__ import annotations

import json
import queue
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from lxml import etree

from engine import (
    ROLES,
    BaozhuangError,
    DiagramRejected,
    DraftInfo,
    Engine,
    ExampleRun,
    InvalidInput,
    MigrationPlan,
    NotFound,
    Reason,
    VersionInfo,
)

from webui import engine_of
from webui.applications import BPMN_NS, STATUSES, VARIANTS
from webui.auth import current_user, roles_required

bp = Blueprint("modeller", __name__, url_prefix="/modeller")

ANALYST = ("analyst",)
READERS = ("analyst", "marketing")
"""营销部 may read the versions and their differences; only 流程分析员 edits, deploys and migrates."""

MAX_COMMENT = 500


@bp.errorhandler(BaozhuangError)
def _engine_error(exc: BaozhuangError) -> Any:
    """The page's scripts post JSON and read the message from JSON; a person's form post gets the error page."""
    from webui.errors import STATUS, error_response

    status = next((code for cls, code in STATUS if isinstance(exc, cls)), 500)
    reasons = problem_dicts(exc.reasons) if isinstance(exc, DiagramRejected) else None
    if request.is_json:
        body: dict[str, Any] = {"status": status, "message": exc.message}
        if reasons is not None:
            body["problems"] = reasons
        return jsonify({"error": body}), status
    return error_response(status, exc.message,
                          reasons=[str(r) for r in exc.reasons] if isinstance(exc, DiagramRejected) else None)


def _process(process_key: str) -> str:
    if process_key not in VARIANTS:
        raise NotFound(f"没有这个流程：{process_key}（hv、lv 或 pv）")
    return process_key


def _int_arg(name: str, label: str, source: Mapping[str, Any] | None = None) -> int | None:
    raw = (source if source is not None else request.args).get(name)
    text = str(raw).strip() if raw is not None else ""
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"{label}“{text}”不是整数") from None


def problem_dicts(problems: tuple[Any, ...]) -> list[dict[str, Any]]:
    """Deploy-gate reasons as JSON for the page's overlays and list."""
    out = []
    for r in problems:
        reason = r if isinstance(r, Reason) else Reason(str(r[0]), str(r[1]), r[2] if len(r) > 2 else None)
        out.append({"code": reason.code, "message": reason.message, "element_id": reason.element_id})
    return out


# ----------------------------------------------------------------------------- the list


@dataclass(frozen=True)
class ProcessOverview:
    """One process on the list page: its versions and the analysts' drafts."""

    key: str
    title: str
    versions: list[VersionInfo]
    drafts: list[DraftInfo]

    @property
    def newest(self) -> VersionInfo | None:
        """The newest deployed version (versions come newest first)."""
        return self.versions[0] if self.versions else None


@bp.route("/")
@roles_required(*READERS)
def index() -> Any:
    """Every process with its versions (and the applications still on each) and its drafts."""
    engine = engine_of(current_app)
    overviews = [ProcessOverview(key, f"{title}业扩报装", engine.versions(key), engine.drafts(key))
                 for key, title in VARIANTS.items()]
    people = {u.username: u.display_name for u in engine.users()}
    return render_template("modeller/index.html", overviews=overviews, people=people,
                           may_edit="analyst" in current_user().roles)


# ----------------------------------------------------------------------------- the modeller


@bp.route("/<process_key>/xml")
@roles_required(*READERS)
def xml(process_key: str) -> Any:
    """The XML of a version (``?version=N``, default the newest) or of a draft (``?draft=ID``, analysts)."""
    engine = engine_of(current_app)
    _process(process_key)
    draft_id = _int_arg("draft", "草稿编号")
    if draft_id is not None:
        if "analyst" not in current_user().roles:
            return render_template("error.html", status=403, title="您没有权限进行此操作",
                                   message="只有流程分析员可以查看草稿", fields={}, reasons=[]), 403
        info, text = engine.draft(draft_id)
        if info.process_key != process_key:
            raise NotFound(f"草稿 {draft_id} 不属于流程 {process_key}")
    else:
        version = _int_arg("version", "版本号")
        if version is None:
            newest = engine.latest_version(process_key)
            if newest is None:
                raise NotFound(f"流程 {process_key} 尚未部署")
            version = newest.version
        text = engine.version_xml(process_key, version)
    response = Response(text, mimetype="application/xml")
    response.headers["Cache-Control"] = "no-store"
    return response


def _marker_dicts(engine: Engine) -> list[dict[str, Any]]:
    return [{"name": m.name, "title": m.title, "hint": m.hint, "expression": m.expression, "kinds": list(m.kinds),
             "values": [list(pair) for pair in m.values] if m.values is not None else None}
            for m in engine.markers()]


def _operator_dicts(engine: Engine) -> list[dict[str, Any]]:
    return [{"name": o.name, "title": o.title, "params": [*o.required, *o.optional], "required": list(o.required)}
            for o in engine.operators()]


@bp.route("/<process_key>/edit")
@roles_required(*ANALYST)
def edit(process_key: str) -> Any:
    """The modeller on a version (``?version=N``, default the newest) or a draft (``?draft=ID``)."""
    engine = engine_of(current_app)
    _process(process_key)
    draft_id = _int_arg("draft", "草稿编号")
    draft: DraftInfo | None = None
    version = _int_arg("version", "版本号")
    if draft_id is not None:
        draft, _ = engine.draft(draft_id)
        if draft.process_key != process_key:
            raise NotFound(f"草稿 {draft_id} 不属于流程 {process_key}")
        xml_url = url_for(".xml", process_key=process_key, draft=draft_id)
        forms_url = url_for(".forms", process_key=process_key, draft=draft_id)
    else:
        if version is None:
            newest = engine.latest_version(process_key)
            if newest is None:
                raise NotFound(f"流程 {process_key} 尚未部署")
            version = newest.version
        engine.version_xml(process_key, version)  # 404 for a version that does not exist
        xml_url = url_for(".xml", process_key=process_key, version=version)
        forms_url = url_for(".forms", process_key=process_key, version=version)
    config = {
        "process": process_key,
        "processName": f"{VARIANTS[process_key]}业扩报装",
        "xmlUrl": xml_url,
        "formsUrl": forms_url,
        "moddleUrl": url_for("static", filename="spiffworkflow-moddle.json"),
        "saveUrl": url_for(".save", process_key=process_key),
        "checkUrl": url_for(".check", process_key=process_key),
        "scenariosUrl": url_for(".scenarios", process_key=process_key),
        "deployUrl": url_for(".deploy", draft_id=0).replace("/0/", "/{id}/"),
        "diffUrl": url_for(".draft_diff", draft_id=0).replace("/0/", "/{id}/"),
        "impactUrl": url_for(".impact", draft_id=0).replace("/0/", "/{id}/"),
        "editUrl": url_for(".edit", process_key=process_key),
        "indexUrl": url_for(".index"),
        "draftId": draft.id if draft else None,
        "problems": problem_dicts(draft.problems) if draft else [],
        "deployable": bool(draft and draft.deployable),
        "deployedVersion": draft.deployed_version if draft else None,
        "markers": _marker_dicts(engine),
        "operators": _operator_dicts(engine),
        "roles": list(ROLES.values()),
    }
    return render_template("modeller/edit.html", process_key=process_key, title=VARIANTS[process_key],
                           draft=draft, version=version, config=json.dumps(config, ensure_ascii=False))


@bp.route("/<process_key>/forms")
@roles_required(*ANALYST)
def forms(process_key: str) -> Any:
    """The forms the modeller works with: the shipped ones (processes/forms), overlaid by those of the version
    (``?version=N``) or of the draft (``?draft=ID``) being edited; ``own`` names the latter."""
    engine = engine_of(current_app)
    _process(process_key)
    shipped: dict[str, Any] = {}
    for path in sorted((engine.config.processes_dir / "forms").glob("*.json")):
        try:
            shipped[path.name] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # the gate reports a broken file where a diagram names it
    draft_id = _int_arg("draft", "草稿编号")
    own: dict[str, Any] = {}
    if draft_id is not None:
        info, _ = engine.draft(draft_id)
        if info.process_key != process_key:
            raise NotFound(f"草稿 {draft_id} 不属于流程 {process_key}")
        own = engine.draft_forms(draft_id) or {}
    else:
        version = _int_arg("version", "版本号")
        if version is None:
            newest = engine.latest_version(process_key)
            if newest is None:
                raise NotFound(f"流程 {process_key} 尚未部署")
            version = newest.version
        own = engine.version_forms(process_key, version)
    response = jsonify({"forms": {**shipped, **own}, "own": sorted(own)})
    response.headers["Cache-Control"] = "no-store"
    return response


def _payload() -> Mapping[str, Any]:
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise InvalidInput("请求内容应为 JSON 对象")
        return body
    return request.form


def _comment(body: Mapping[str, Any]) -> str:
    comment = str(body.get("comment") or "").strip()
    if len(comment) > MAX_COMMENT:
        raise InvalidInput(f"说明最多 {MAX_COMMENT} 个字")
    return comment


@bp.route("/<process_key>/drafts", methods=["POST"])
@roles_required(*ANALYST)
def save(process_key: str) -> Any:
    """Keep the edited diagram as a draft; answer with every problem the deploy gate finds."""
    _process(process_key)
    body = _payload()
    draft_id = _int_arg("draft_id", "草稿编号", body)
    info = engine_of(current_app).save_draft(process_key, _xml(body), current_user().username,
                                             _comment(body), draft_id, _draft_forms(body))
    return jsonify({"draft_id": info.id, "problems": problem_dicts(info.problems), "deployable": info.deployable,
                    "saved_at": info.saved_at.strftime("%Y-%m-%d %H:%M:%S"),
                    "edit_url": url_for(".edit", process_key=process_key, draft=info.id),
                    "impact_url": url_for(".impact", draft_id=info.id)})


@bp.route("/<process_key>/check", methods=["POST"])
@roles_required(*ANALYST)
def check(process_key: str) -> Any:
    """The gate's problems with the diagram being drawn (and its forms), without saving anything."""
    _process(process_key)
    body = _payload()
    problems = engine_of(current_app).check_draft(process_key, _xml(body), _draft_forms(body),
                                                  by=current_user().username)
    return jsonify({"problems": problem_dicts(tuple(problems))})


@bp.route("/<process_key>/scenarios", methods=["POST"])
@roles_required(*ANALYST)
def scenarios(process_key: str) -> Any:
    """Play every example path of the process (processes/paths.json) on the diagram being drawn: the nodes and
    flows each covers and where it stops; the gate's problems instead if the diagram does not pass it."""
    _process(process_key)
    body = _payload()
    engine = engine_of(current_app)
    xml_bytes = _xml(body)
    try:
        runs = engine.play_examples(process_key, xml_bytes, _draft_forms(body), by=current_user().username)
    except DiagramRejected as exc:
        return jsonify({"runs": [], "problems": problem_dicts(exc.reasons)})
    names = _node_names(engine, process_key, xml_bytes.decode("utf-8"))
    return jsonify({"runs": [_run_dict(run, names) for run in runs], "problems": []})


def _run_dict(run: ExampleRun, names: Mapping[str, str]) -> dict[str, Any]:
    outcome = run.outcome
    return {"key": run.key, "title": run.title, "completed": outcome.completed, "covered": list(outcome.covered),
            "flows": list(outcome.flows), "steps_done": outcome.steps_done, "stopped_at": outcome.stopped_at,
            "stopped_name": names.get(outcome.stopped_at or "", outcome.stopped_at),
            "problem": _named(outcome.problem, names) if outcome.problem else None}


def _named(text: str, names: Mapping[str, str]) -> str:
    """A message with the node ids it names replaced by the nodes' names (a person reads it)."""
    return re.sub(r"[A-Za-z_][A-Za-z0-9_]*", lambda m: f"「{names[m.group(0)]}」" if m.group(0) in names
                  else m.group(0), text)


def _xml(body: Mapping[str, Any]) -> bytes:
    xml_text = body.get("xml")
    if not isinstance(xml_text, str) or not xml_text.strip():
        raise InvalidInput("没有收到流程图（xml）")
    if "\x00" in xml_text:  # never XML, and PostgreSQL cannot keep it as a draft
        raise InvalidInput("流程图含有空字符（NUL），不是有效的 XML")
    return xml_text.encode("utf-8")


def _draft_forms(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The forms a page sent with the diagram (JSON only; a plain form post carries none)."""
    forms = body.get("forms") if request.is_json else None
    if forms is not None and not isinstance(forms, dict):
        raise InvalidInput("表单应为“文件名 → 表单定义”的对象")
    return forms


@bp.route("/drafts/<int:draft_id>/delete", methods=["POST"])
@roles_required(*ANALYST)
def delete_draft(draft_id: int) -> Any:
    """Delete a draft (kept as a record of who deleted it); back to the list."""
    info = engine_of(current_app).delete_draft(draft_id, current_user().username)
    message = f"已删除{VARIANTS.get(info.process_key, info.process_key)}流程的草稿 #{info.id}"
    if request.is_json:
        return jsonify({"message": message, "index_url": url_for(".index")})
    flash(message, "success")
    return redirect(url_for(".index"))


@bp.route("/drafts/<int:draft_id>/diff")
@roles_required(*ANALYST)
def draft_diff(draft_id: int) -> Any:
    """What deploying a saved draft would change from the newest version, in words (the deploy dialog)."""
    result = engine_of(current_app).draft_diff(draft_id, by=current_user().username)
    return jsonify({"from_version": result.from_version, "to_version": result.to_version,
                    "summary": list(result.summary),
                    "counts": {"added": len(result.added), "removed": len(result.removed),
                               "changed": len(result.changed), "rerouted": len(result.rerouted)}})


@bp.route("/drafts/<int:draft_id>/deploy", methods=["POST"])
@roles_required(*ANALYST)
def deploy(draft_id: int) -> Any:
    """Deploy a draft that passes the gate as the process's next version (400 with the reasons otherwise)."""
    body = _payload()
    engine = engine_of(current_app)
    try:
        version = engine.deploy_draft(draft_id, current_user().username, _comment(body))
    except DiagramRejected as exc:
        if not request.is_json:
            raise
        reasons = [{"code": r.code, "message": r.message, "element_id": r.element_id} for r in exc.reasons]
        return jsonify({"error": {"status": 400, "message": exc.message, "problems": reasons}}), 400
    message = f"已部署 {VARIANTS.get(version.process_key, version.process_key)}流程第 {version.version} 版"
    if request.is_json:
        return jsonify({"process_key": version.process_key, "version": version.version, "message": message,
                        "index_url": url_for(".index")})
    flash(message, "success")
    return redirect(url_for(".index"))


# ----------------------------------------------------------------------------- versions compared


@bp.route("/<process_key>/diff")
@roles_required(*READERS)
def diff(process_key: str) -> Any:
    """Two versions: what changed in words, and side by side with the changes marked."""
    engine = engine_of(current_app)
    _process(process_key)
    versions = engine.versions(process_key)
    if not versions:
        raise NotFound(f"流程 {process_key} 尚未部署")
    to_version = _int_arg("to", "目标版本") or versions[0].version
    from_version = _int_arg("from", "起始版本") or max(1, to_version - 1)
    known = {v.version for v in versions}
    for v in (from_version, to_version):
        if v not in known:
            raise NotFound(f"流程 {process_key} 没有第 {v} 版")
    result = engine.version_diff(process_key, from_version, to_version, by=current_user().username)
    markers = {"added": [c.node_id for c in result.added], "removed": [c.node_id for c in result.removed],
               "changed": [c.node_id for c in result.changed]}
    for flow in result.rerouted:  # the detail starts with 新增： or 删除： for a flow that only one side has
        kind = "added" if flow.detail.startswith("新增") else "removed" if flow.detail.startswith("删除") else "changed"
        markers[kind].append(flow.flow_id)
    return render_template("modeller/diff.html", process_key=process_key, title=VARIANTS[process_key],
                           versions=versions, from_version=from_version, to_version=to_version, diff=result,
                           markers=json.dumps(markers, ensure_ascii=False),
                           from_url=url_for(".xml", process_key=process_key, version=from_version),
                           to_url=url_for(".xml", process_key=process_key, version=to_version))


# ----------------------------------------------------------------------------- impact of a draft


@bp.route("/drafts/<int:draft_id>/impact")
@roles_required(*ANALYST)
def impact(draft_id: int) -> Any:
    """Replay the current version's applications on the draft: whose path changes, the hours saved."""
    engine = engine_of(current_app)
    draft, xml_text = engine.draft(draft_id)
    report = None
    problems: list[str] = []
    try:
        report = engine.impact_preview(draft.process_key, xml_text.encode("utf-8"), by=current_user().username)
    except DiagramRejected as exc:
        problems = [str(r) for r in exc.reasons]
    names = _node_names(engine, draft.process_key, xml_text if report is not None else None)
    return render_template("modeller/impact.html", draft=draft, report=report, problems=problems, names=names,
                           title=VARIANTS.get(draft.process_key, draft.process_key), statuses=STATUSES)


def _node_names(engine: Engine, process_key: str, draft_xml: str | None) -> dict[str, str]:
    """Node id → name from the newest version and the draft when it passed the gate (the draft's names win)."""
    from webui.applications import diagram_names

    names: dict[str, str] = {}
    newest = engine.latest_version(process_key)
    if newest is not None:
        names.update(diagram_names(engine.version_xml(process_key, newest.version)).nodes)
    if draft_xml is not None:
        names.update(diagram_names(draft_xml).nodes)
    return names


# ----------------------------------------------------------------------------- migration


def _migration_target(engine: Engine, process_key: str, source: Mapping[str, Any]) -> int:
    _process(process_key)
    newest = engine.latest_version(process_key)
    if newest is None:
        raise NotFound(f"流程 {process_key} 尚未部署")
    to_version = _int_arg("to", "目标版本", source) or newest.version
    engine.version_xml(process_key, to_version)  # 404 for an unknown version
    return to_version


@dataclass(frozen=True)
class Choice:
    """Which applications the analyst asked about (typed numbers or ticked rows, else every one with a
    status) and the mapping instructions (old node id → node id of the target version)."""

    app_nos: list[str] | None
    status: str
    mapping: dict[str, str]


NODE_ID_IN_REASON = re.compile(r"（[A-Za-z_][\w.-]*）")
"""The engine's reasons name a node as 「名称」（id）: a person reads the name only."""

MAP_FIELD = "map__"
"""Form fields ``map__<old node id>`` carry the node of the target version an old node's open tasks move to."""


def _choice(source: Mapping[str, Any]) -> Choice:
    ticked = [str(a) for a in source.getlist("chosen")] if hasattr(source, "getlist") else []
    text = str(source.get("app_nos") or "")
    typed = ticked or [part for part in text.replace("，", ",").replace(",", " ").split() if part]
    status = str(source.get("status") or "running")
    if status not in ("running", "error"):
        raise InvalidInput(f"只能迁移在办或异常的申请，不能按状态“{status}”筛选")
    mapping: dict[str, str] = {}
    given = source.get("mapping")
    if isinstance(given, Mapping):
        mapping.update({str(k): str(v) for k, v in given.items() if str(v).strip()})
    for key in source:
        if str(key).startswith(MAP_FIELD) and str(source.get(key) or "").strip():
            mapping[str(key)[len(MAP_FIELD):]] = str(source.get(key)).strip()
    return Choice(typed or None, status, mapping)


def _task_names(xml: str) -> dict[str, str]:
    """Task id → name of a deployed diagram (where work waits: the nodes a mapping can name)."""
    root = etree.fromstring(xml.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True,
                                                                 load_dtd=False))
    return {e.get("id"): " ".join((e.get("name") or e.get("id")).split())
            for e in root.iter(f"{{{BPMN_NS}}}*") if etree.QName(e).localname.endswith("Task") and e.get("id")}


def _mapping_choices(engine: Engine, process_key: str, to_version: int) -> tuple[dict[str, str], dict[str, str]]:
    """The tasks of older versions (with applications on them) that the target version no longer has, and the
    target version's tasks: the two sides of a mapping instruction."""
    target = _task_names(engine.version_xml(process_key, to_version))
    old: dict[str, str] = {}
    for v in engine.versions(process_key):
        if v.version < to_version and v.running:
            old.update({k: n for k, n in _task_names(engine.version_xml(process_key, v.version)).items()
                        if k not in target})
    return old, target


def _migrate_page(process_key: str, to_version: int, plan: MigrationPlan | None, chosen: Mapping[str, Any],
                  mapping: Mapping[str, str] | None = None, mapping_problem: str | None = None) -> Any:
    engine = engine_of(current_app)
    old_nodes, new_nodes = _mapping_choices(engine, process_key, to_version)
    names = _node_names(engine, process_key, None)
    for v in engine.versions(process_key):
        if v.version < to_version:
            names = {**_task_names(engine.version_xml(process_key, v.version)), **names}
    return render_template("modeller/migrate.html", process_key=process_key, title=VARIANTS[process_key],
                           versions=engine.versions(process_key), to_version=to_version, plan=plan,
                           statuses={k: STATUSES[k] for k in ("running", "error")}, chosen=chosen,
                           names=names, old_nodes=old_nodes, new_nodes=new_nodes, mapping=dict(mapping or {}),
                           MAP_FIELD=MAP_FIELD, mapping_problem=mapping_problem and plain(mapping_problem),
                           plain=plain)


def plain(reason: str) -> str:
    """A reason as a person reads it: node names without their ids."""
    return NODE_ID_IN_REASON.sub("", reason)


@bp.route("/<process_key>/migrate")
@roles_required(*ANALYST)
def migrate(process_key: str) -> Any:
    """Choose which running applications to move to a version."""
    to_version = _migration_target(engine_of(current_app), process_key, request.args)
    return _migrate_page(process_key, to_version, None, {})


@bp.route("/<process_key>/migrate/plan", methods=["POST"])
@roles_required(*ANALYST)
def migrate_plan(process_key: str) -> Any:
    """The dry run: every chosen application, safe to move or not, and why."""
    engine = engine_of(current_app)
    to_version = _migration_target(engine, process_key, request.form)
    choice = _choice(request.form)
    try:
        plan = engine.migration_plan(process_key, to_version, choice.app_nos, status=choice.status,
                                     mapping=choice.mapping, by=current_user().username)
    except InvalidInput as exc:  # a mapping that does not fit: said next to the mapping, the choices kept
        return _migrate_page(process_key, to_version, None, request.form, choice.mapping, exc.message), 400
    return _migrate_page(process_key, to_version, plan, request.form, choice.mapping)


@bp.route("/<process_key>/migrate/run", methods=["POST"])
@roles_required(*ANALYST)
def migrate_run(process_key: str) -> Any:
    """Migrate the safe applications of a fresh plan, streaming NDJSON progress lines and then the result."""
    engine = engine_of(current_app)
    body = _payload()
    to_version = _migration_target(engine, process_key, body)
    choice = _choice(body)
    if choice.app_nos is None and body.get("choosing"):
        raise InvalidInput("请至少勾选一件要迁移的申请")
    # The plan is made again now: what was safe when the analyst looked may have moved on since.
    plan = engine.migration_plan(process_key, to_version, choice.app_nos, status=choice.status,
                                 mapping=choice.mapping, by=current_user().username)
    by = current_user().username
    log = current_app.logger
    lines: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def progress(done: int, total: int) -> None:
        lines.put({"done": done, "total": total, "app_no": plan.verdicts[done - 1].app_no})

    def work() -> None:
        try:
            result = engine.migrate(plan, by, progress=progress)
            lines.put({"result": {"migrated": list(result.migrated),
                                  "skipped": [{"app_no": v.app_no, "reason": plain(v.reason)}
                                              for v in result.skipped]}})
        except BaozhuangError as exc:
            lines.put({"error": exc.message})
        except Exception:  # the request has answered already: the page gets a last line, the log the cause
            log.exception("migration of %s to version %s failed", process_key, to_version)
            lines.put({"error": "迁移中断，系统已记录，请联系管理员"})
        finally:
            lines.put(None)

    def stream() -> Iterator[str]:
        yield json.dumps({"done": 0, "total": len(plan.verdicts), "app_no": ""}) + "\n"
        worker = threading.Thread(target=work, name="baozhuang-migrate", daemon=True)
        worker.start()
        while (line := lines.get()) is not None:
            yield json.dumps(line, ensure_ascii=False) + "\n"
        worker.join()

    response = Response(stream(), mimetype="application/x-ndjson")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    return response
