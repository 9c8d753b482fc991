"""Auditor pages (稽查): find applications, and step through one's recorded history on its diagram.

Strictly read-only: GET routes only. The step-through page is rendered once; its script loads every step
from ``replay.json`` and re-marks the diagram per step without reloading.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, request

from engine import ApplicationPage, BaozhuangError, Engine, EventKind, ReplayReport, ReplayStep
from engine import FormDefinition
from handlers import ResultLabels

from webui import engine_of
from webui.applications import (
    criteria_from_args,
    PER_PAGE,
    STATUSES,
    VARIANTS,
    DiagramNames,
    SearchCriteria,
    data_sections,
    diagram_names,
    rule_labels,
)
from webui.auth import current_user, roles_required
from webui.paging import page_numbers

bp = Blueprint("audit", __name__, url_prefix="/audit")

AUDIT_ROLES = ("auditor", "marketing")
"""稽查 and 营销部 supervisors may audit; everyone else gets 403."""

MODES = {"recorded": "按记录重放", "rerun": "按今日规则重放"}
STEP_KINDS: dict[str, str] = {EventKind.APPLICATION_STARTED: "受理", EventKind.TASK_COMPLETED: "办理",
                              EventKind.APPLICATION_RETRIED: "重试", EventKind.APPLICATION_MIGRATED: "迁移",
                              EventKind.APPLICATION_CORRECTED: "更正", EventKind.APPLICATION_WITHDRAWN: "撤销",
                              EventKind.APPLICATION_TERMINATED: "终止"}
STEP_TITLES: dict[str, str] = {EventKind.APPLICATION_STARTED: "受理申请", EventKind.APPLICATION_RETRIED: "重试出错环节",
                               EventKind.APPLICATION_MIGRATED: "迁移到新版本",
                               EventKind.APPLICATION_CORRECTED: "更正数据", EventKind.APPLICATION_WITHDRAWN: "撤销申请",
                               EventKind.APPLICATION_TERMINATED: "终止申请"}
REPLAY_OK = "重放核验通过：每一步的结果都与记录一致"


# ----------------------------------------------------------------------------- search


def search(engine: Engine, criteria: SearchCriteria, actor: str, page: int = 1,
           per_page: int = PER_PAGE) -> ApplicationPage:
    """Applications matching the criteria and, if given, acted on by ``actor``; newest first, one page."""
    return engine.search_applications(
        app_no=criteria.app_no or None, customer=criteria.customer or None,
        process_key=criteria.process_key or None, status=criteria.status or None,
        created_from=criteria.created_from, created_to=criteria.created_to, actor=actor or None,
        page=page, per_page=per_page)


@bp.route("/")
@roles_required(*AUDIT_ROLES)
def index() -> Any:
    """Search applications by number, customer, variant, acceptance date, status and who acted on them."""
    engine = engine_of(current_app)
    problems: list[str] = []
    criteria = criteria_from_args(problems)
    users = engine.users()
    actor = (request.args.get("actor") or "").strip()
    if actor and actor not in {u.username for u in users}:
        problems.append(f"没有用户“{actor}”，已忽略经办人条件")
        actor = ""
    page_no = request.args.get("page", "1")
    page = search(engine, criteria, actor, int(page_no) if page_no.isdigit() else 1)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("audit/index.html", criteria=criteria, actor=actor, users=users, result=page,
                           args=args, problems=problems, page_numbers=page_numbers(page.page, page.pages),
                           filtered=criteria.any or bool(actor), VARIANTS=VARIANTS, STATUSES=STATUSES)


# ----------------------------------------------------------------------------- step through one application


def _who(username: str | None, people: Mapping[str, str]) -> str:
    if not username:
        return ""
    return "系统" if username == "system" else people.get(username, username)


def step_title(step: ReplayStep, nodes: Mapping[str, str]) -> str:
    """What a step was, for people: the task's name, or 受理申请 / 重试出错环节."""
    if step.node_name:
        return step.node_name
    if step.node_id and step.node_id in nodes:
        return nodes[step.node_id]
    return STEP_TITLES.get(step.kind, step.node_id or step.kind)


def replay_verdict(report: ReplayReport, nodes: Mapping[str, str]) -> str:
    """One sentence: every step matched, or the first step that did not and how."""
    if report.verified:
        return REPLAY_OK
    diverging = report.first_divergence
    if diverging is None:
        return f"重放未通过：{report.message}"
    number = report.steps.index(diverging) + 1
    how = diverging.difference or report.message
    return f"重放发现不一致：第 {number} 步「{step_title(diverging, nodes)}」与记录不符 — {how}"


def replay_forms(report: ReplayReport, start: FormDefinition | None,
                 by_node: Mapping[str, FormDefinition], nodes: Mapping[str, str]) -> list[tuple[str, FormDefinition]]:
    """The forms the data was entered with, in the order the steps first used them: the labels of the data."""
    forms: list[tuple[str, FormDefinition]] = [("受理信息", start)] if start is not None else []
    seen: set[str] = set()
    for step in report.steps:
        if step.node_id and step.node_id in by_node and step.node_id not in seen:
            seen.add(step.node_id)
            forms.append((step_title(step, nodes), by_node[step.node_id]))
    return forms


def _step_data(data: Mapping[str, Any], previous: Mapping[tuple[str, str], str] | None,
               forms: Sequence[tuple[str, FormDefinition]], people: Mapping[str, str],
               results: Mapping[str, str], labels: Mapping[str, ResultLabels] | None = None,
               ) -> tuple[list[dict[str, Any]], list[dict[str, str]], dict[tuple[str, str], str]]:
    """A step's data as labelled sections, each row marked added/changed against the previous step, the rows
    the step removed, and the values keyed for comparing with the next step."""
    values: dict[tuple[str, str], str] = {}
    sections = []
    for section in data_sections(data, forms, people, results, labels):
        rows = []
        for label, value in section.rows:
            key = (section.title, label)
            values[key] = value
            change, before = None, None
            if previous is not None and key not in previous:
                change = "added"
            elif previous is not None and previous[key] != value:
                change, before = "changed", previous[key]
            rows.append({"label": label, "value": value, "change": change, "before": before})
        sections.append({"title": section.title, "rows": rows})
    removed = [{"section": title, "label": label, "before": before}
               for (title, label), before in (previous or {}).items() if (title, label) not in values]
    return sections, removed, values


def replay_payload(report: ReplayReport, xml: str, start: FormDefinition | None,
                   by_node: Mapping[str, FormDefinition], people: Mapping[str, str],
                   xmls: Mapping[int, str] | None = None, version: int | None = None,
                   rules: Mapping[str, ResultLabels] | None = None) -> dict[str, Any]:
    """Everything the step-through page shows, as JSON: the diagram once (``xml``, the version the application
    is on; ``xmls``: every version its steps ran on, for a migrated one), then every step with its version,
    its markers, its data in labelled sections, and what changed since the step before."""
    names = diagram_names(xml)
    if xmls:  # nodes only older versions have keep their names
        merged: dict[str, str] = {}
        for other in xmls.values():
            merged.update(diagram_names(other).nodes)
        names = DiagramNames({**merged, **names.nodes}, names.results)
    forms = replay_forms(report, start, by_node, names.nodes)
    previous: dict[tuple[str, str], str] | None = None
    steps = []
    for number, step in enumerate(report.steps, 1):
        labels = {v: (rules or {})[op] for v, op in names.operators.items() if op in (rules or {})}
        sections, removed, previous = _step_data(step.data, previous, forms, people, names.results, labels)
        changed = sum(1 for s in sections for r in s["rows"] if r["change"]) + len(removed)
        steps.append({
            "number": number, "index": step.index, "event_seq": step.event_seq, "kind": step.kind,
            "kind_label": STEP_KINDS.get(step.kind, step.kind), "node_id": step.node_id,
            "title": step_title(step, names.nodes), "actor": step.actor, "actor_name": _who(step.actor, people),
            "at": step.at.isoformat(), "at_text": step.at.strftime("%Y-%m-%d %H:%M"),
            "completed": list(step.completed), "active": list(step.active), "flows": list(step.flows),
            "data": dict(step.data), "sections": sections, "removed": removed,
            "changed": changed if number > 1 else None,
            "matches": step.matches, "difference": step.difference, "version": step.version,
        })
    return {"app_no": report.app_no, "mode": report.mode, "mode_label": MODES.get(report.mode, report.mode),
            "verified": report.verified, "message": report.message,
            "verdict": replay_verdict(report, names.nodes), "xml": xml, "version": version,
            "xmls": {str(v): text for v, text in (xmls or {}).items()}, "steps": steps}


def _mode_arg() -> str:
    mode = request.args.get("mode", "recorded")
    return mode if mode in MODES else "recorded"


@bp.route("/<app_no>")
@roles_required(*AUDIT_ROLES)
def replay(app_no: str) -> Any:
    """One application's history step by step: the chain and replay verdicts, a timeline, the diagram and data
    as they stood after the chosen step."""
    engine = engine_of(current_app)
    app = engine.application(app_no)
    check = engine.verify_audit(app.app_no)
    people = {u.username: u.display_name for u in engine.users()}
    nodes = diagram_names(engine.application_xml(app.app_no)).nodes
    report, replay_error = None, None
    try:
        report = engine.replay(app.app_no, "recorded", by=current_user().username)
    except BaozhuangError as exc:  # the page still shows the chain verdict; the failure is the replay verdict
        replay_error = exc.message
    steps = [{"number": n, "title": step_title(s, nodes), "kind_label": STEP_KINDS.get(s.kind, s.kind),
              "actor_name": _who(s.actor, people), "at": s.at, "matches": s.matches}
             for n, s in enumerate(report.steps if report else (), 1)]
    step_arg = request.args.get("step", "1")
    current = min(max(int(step_arg), 1), len(steps)) if step_arg.isdigit() and steps else 1
    return render_template(
        "audit/replay.html", app=app, check=check, report=report, replay_error=replay_error, steps=steps,
        current=current, mode=_mode_arg(), verdict=replay_verdict(report, nodes) if report else None,
        REPLAY_OK=REPLAY_OK, variant=VARIANTS.get(app.process_key, app.process_key),
        status=STATUSES.get(app.status, app.status), created_by=_who(app.created_by, people))


@bp.route("/<app_no>/replay.json")
@roles_required(*AUDIT_ROLES)
def replay_json(app_no: str) -> Any:
    """Every step of an application's replay (``?mode=rerun``: by today's rules) and its diagram XML."""
    engine = engine_of(current_app)
    app = engine.application(app_no)
    report = engine.replay(app.app_no, _mode_arg(), by=current_user().username)
    start, by_node = engine.application_forms(app.app_no)
    people = {u.username: u.display_name for u in engine.users()}
    versions = sorted({s.version for s in report.steps if s.version is not None})
    xmls = {v: engine.version_xml(app.process_key, v) for v in versions} if len(versions) > 1 else {}
    response = jsonify(replay_payload(report, engine.application_xml(app.app_no), start, by_node, people, xmls,
                                      app.version, rule_labels(engine)))
    response.headers["Cache-Control"] = "no-store"
    return response
