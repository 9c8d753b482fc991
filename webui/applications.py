"""Applications: search them, and follow one — its diagram, timeline, data, open tasks and documents."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, request
from lxml import etree

from engine import APP_STATUS_NAMES, ENDED, Action, ApplicationInfo, ApplicationPage, DocumentInfo, Engine
from engine import FormDefinition, HistoryEntry, TaskInfo

from webui import engine_of, formdata
from webui.paging import page_numbers
from webui.auth import current_user, login_required

bp = Blueprint("applications", __name__, url_prefix="/applications")

VARIANTS = {"hv": "高压", "lv": "低压", "pv": "分布式光伏"}
STATUSES = dict(APP_STATUS_NAMES)
PER_PAGE = 20

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


# ----------------------------------------------------------------------------- search


@dataclass(frozen=True)
class SearchCriteria:
    """What a person searches applications by (all optional)."""

    app_no: str = ""
    customer: str = ""
    process_key: str = ""
    status: str = ""
    created_from: date | None = None
    created_to: date | None = None

    @property
    def any(self) -> bool:
        """Whether any criterion is set."""
        return bool(self.app_no or self.customer or self.process_key or self.status
                    or self.created_from or self.created_to)


def search(engine: Engine, criteria: SearchCriteria, page: int = 1, per_page: int = PER_PAGE) -> ApplicationPage:
    """Applications matching the criteria, newest first, one page of them (the engine searches in SQL)."""
    return engine.search_applications(
        app_no=criteria.app_no or None, customer=criteria.customer or None,
        process_key=criteria.process_key or None, status=criteria.status or None,
        created_from=criteria.created_from, created_to=criteria.created_to, page=page, per_page=per_page)


def date_arg(name: str, problems: list[str], label: str) -> date | None:
    text = (request.args.get(name) or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        problems.append(f"{label}“{text}”不是有效日期（年-月-日），已忽略")
        return None


def criteria_from_args(problems: list[str]) -> SearchCriteria:
    """Search criteria from the query string (unknown variants/statuses ignored, bad dates reported)."""
    status = request.args.get("status", "")
    process_key = request.args.get("variant", "")
    return SearchCriteria(
        app_no=(request.args.get("app_no") or "").strip()[:32],
        customer=(request.args.get("customer") or "").strip()[:100],
        process_key=process_key if process_key in VARIANTS else "",
        status=status if status in STATUSES else "",
        created_from=date_arg("created_from", problems, "受理起始日期"),
        created_to=date_arg("created_to", problems, "受理截止日期"),
    )


@bp.route("/")
@login_required
def index() -> Any:
    """Search applications by number, customer, variant, status and date of acceptance."""
    problems: list[str] = []
    criteria = criteria_from_args(problems)
    page_no = request.args.get("page", "1")
    page = search(engine_of(current_app), criteria, int(page_no) if page_no.isdigit() else 1)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("applications/index.html", criteria=criteria, result=page, args=args,
                           problems=problems, page_numbers=page_numbers(page.page, page.pages),
                           VARIANTS=VARIANTS, STATUSES=STATUSES)


# ----------------------------------------------------------------------------- one application


@dataclass(frozen=True)
class TimelineEntry:
    """One line of an application's timeline."""

    kind: str  # accepted | task | service | claim | release | reassign | error | retry | completed | rendered
    #            | suspended | resumed | withdrawn | terminated | corrected
    title: str
    at: datetime
    actor: str = ""
    detail: str = ""
    ready_at: datetime | None = None
    duration: str = ""
    state: str = "done"  # done | open | closed (a ready task that ended without being completed)


@dataclass(frozen=True)
class DataSection:
    """A group of the application's data: the acceptance, one step, or what the system worked out."""

    title: str
    rows: tuple[tuple[str, str], ...]


@dataclass
class DocumentGroup:
    """A generated contract (its DOCX, HTML and PDF renderings) or one uploaded file."""

    title: str
    category: str
    created_at: datetime
    files: list[DocumentInfo] = field(default_factory=list)

    def of_type(self, suffix: str) -> DocumentInfo | None:
        """The rendering with this file name suffix, if any."""
        return next((d for d in self.files if d.filename.lower().endswith(suffix)), None)


def duration_text(start: datetime, end: datetime) -> str:
    """How long something took, the way a clerk says it: 3天2小时, 2小时15分, 5分, 不到1分钟."""
    minutes = int((end - start).total_seconds() // 60)
    if minutes < 1:
        return "不到1分钟"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}天{hours}小时" if hours else f"{days}天"
    if hours:
        return f"{hours}小时{mins}分" if mins else f"{hours}小时"
    return f"{mins}分"


def size_text(size: int) -> str:
    """A file size for people: 812 B, 38.2 KB, 1.4 MB."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


@dataclass(frozen=True)
class DiagramNames:
    """What a deployed diagram calls things: node id → name, and a service rule's result variable → the
    name of the service task that sets it (the label of system-made data)."""

    nodes: Mapping[str, str]
    results: Mapping[str, str]


@lru_cache(maxsize=32)
def diagram_names(xml: str) -> DiagramNames:
    """The names in a deployed diagram (it passed the deploy gate; parsed here without DTD or entities)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    root = etree.fromstring(xml.encode("utf-8"), parser)
    nodes: dict[str, str] = {}
    results: dict[str, str] = {}
    for element in root.iter(f"{{{BPMN_NS}}}*"):
        node_id, name = element.get("id"), element.get("name")
        if not (node_id and name):
            continue
        nodes[node_id] = " ".join(name.split())
        if etree.QName(element).localname.endswith("Task"):
            for child in element.iter():
                variable = child.get("resultVariable") if isinstance(child.tag, str) else None
                if variable:
                    results.setdefault(variable, nodes[node_id])
    return DiagramNames(nodes, results)


def _result_summary(result: Any, limit: int = 160, people: Mapping[str, str] | None = None) -> str:
    """A service rule's result in one short line (a username as the person's name)."""
    if isinstance(result, str) and people and result in people:
        return people[result]
    if isinstance(result, Mapping):
        for key in ("message", "title"):
            if isinstance(result.get(key), str):
                return _clip(str(result[key]), limit)
        if isinstance(result.get("reasons"), list) and result["reasons"]:
            return _clip("；".join(str(r) for r in result["reasons"]), limit)
        parts = [f"{k}={formdata.display(None, v)}" for k, v in result.items()
                 if not isinstance(v, (Mapping, list))]
        return _clip("，".join(parts), limit)
    return _clip(formdata.display(None, result), limit)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def build_timeline(history: Sequence[HistoryEntry], names: Mapping[str, str], people: Mapping[str, str],
                   operators: Mapping[str, str], open_nodes: Iterable[str], now: datetime,
                   fields: Mapping[str, formdata.Field] | None = None) -> list[TimelineEntry]:
    """Every step of an application from its audit trail: the acceptance, each user task (ready → done, by
    whom, how long), the service rules applied, claims and reassignments, errors. Engine transitions are
    left out: they are for replay, not for people."""

    def who(username: str | None) -> str:
        if not username:
            return ""
        return "系统" if username == "system" else people.get(username, username)

    def node(node_id: str | None) -> str:
        return names.get(node_id or "", node_id or "")

    entries: list[TimelineEntry] = []
    waiting: dict[str, deque[datetime]] = {}
    ended_as = next((LIFECYCLE_TITLES[e.kind].replace("申请", "") for e in history
                     if e.kind in ("application.withdrawn", "application.terminated")), None)
    if ended_as:
        ended_as = f"申请已{ended_as}"
    for event in history:
        p = event.payload
        if event.kind == "application.started":
            entries.append(TimelineEntry("accepted", "受理申请", event.at, who(event.actor),
                                         f"申请编号 {p.get('app_no', '')}，流程第 {p.get('version', '')} 版"))
        elif event.kind == "task.ready" and event.node_id:
            waiting.setdefault(event.node_id, deque()).append(event.at)
        elif event.kind == "task.completed":
            queue = waiting.get(event.node_id or "")
            ready_at = queue.popleft() if queue else None
            files = p.get("documents") or []
            detail = f"上传资料 {len(files)} 份" if files else ""
            entries.append(TimelineEntry("task", node(event.node_id), event.at, who(event.actor), detail, ready_at,
                                         duration_text(ready_at, event.at) if ready_at else ""))
        elif event.kind == "service.called":
            operator = str(p.get("operator", ""))
            title = node(event.node_id) or operators.get(operator, operator)
            rule = operators.get(operator, operator)
            entries.append(TimelineEntry("service", title, event.at, "系统",
                                         f"{rule}：{_result_summary(p.get('result'), people=people)}"))
        elif event.kind == "task.claimed":
            entries.append(TimelineEntry("claim", f"认领「{node(event.node_id)}」", event.at, who(event.actor)))
        elif event.kind == "task.released":
            entries.append(TimelineEntry("release", f"释放「{node(event.node_id)}」", event.at, who(event.actor)))
        elif event.kind == "task.reassigned":
            before = who(p.get("from")) or "待认领"
            entries.append(TimelineEntry("reassign", f"改派「{node(event.node_id)}」", event.at, who(event.actor),
                                         f"{before} → {who(p.get('to'))}"))
        elif event.kind == "application.error":
            entries.append(TimelineEntry("error", "流程异常", event.at, "系统", str(p.get("message", ""))))
        elif event.kind == "application.retried":
            tasks = "、".join(node(t) for t in p.get("tasks", []))
            entries.append(TimelineEntry("retry", "重试出错环节", event.at, who(event.actor), tasks))
        elif event.kind == "application.completed":
            entries.append(TimelineEntry("completed", "办结", event.at, "系统"))
        elif event.kind == "document.rendered":
            entries.append(TimelineEntry("rendered", "生成 PDF", event.at, who(event.actor), str(p.get("filename", ""))))
        elif event.kind in LIFECYCLE_TITLES:
            kind = event.kind.split(".", 1)[1]
            detail = str(p.get("reason") or "")
            if kind == "corrected":
                shown = (fields or {}).get(str(p.get("field", "")))

                def value(v: Any) -> str:  # a username as the person's name, a choice by its name
                    return people[v] if isinstance(v, str) and v in people else formdata.display(shown, v)

                change = f"{p.get('title') or p.get('field')}：{value(p.get('before'))} → {value(p.get('after'))}"
                detail = f"{change}；原因：{detail}" if detail else change
            elif kind == "resumed" and p.get("to") == "error":
                detail = (detail + "；" if detail else "") + "恢复为异常状态，待处理"
            entries.append(TimelineEntry(kind, LIFECYCLE_TITLES[event.kind], event.at, who(event.actor), detail))
    still_open = set(open_nodes)
    for node_id, queue in waiting.items():
        for ready_at in queue:
            if node_id in still_open:
                entries.append(TimelineEntry("task", node(node_id), ready_at, "", "待办理", ready_at,
                                             f"已等待 {duration_text(ready_at, now)}", "open"))
            else:
                why = ended_as or "流程已转向"
                entries.append(TimelineEntry("task", node(node_id), ready_at, "", f"未办理即关闭（{why}）",
                                             ready_at, "", "closed"))
    entries.sort(key=lambda e: e.at)
    return entries


LIFECYCLE_TITLES = {
    "application.suspended": "暂停办理", "application.resumed": "恢复办理", "application.withdrawn": "撤销申请",
    "application.terminated": "终止申请", "application.corrected": "更正数据",
}


def _forms_of(engine: Engine, app: ApplicationInfo, tasks: Iterable[TaskInfo]) -> list[tuple[str, FormDefinition]]:
    """The forms data was entered with (of the application's own version): the acceptance form, then each
    step's, latest round, in the order done."""
    start, by_node = engine.application_forms(app.app_no)
    forms: list[tuple[str, FormDefinition]] = [("受理信息", start)] if start is not None else []
    latest: dict[str, TaskInfo] = {}
    for task in tasks:
        latest[task.form or task.node_id] = task
    for task in sorted(latest.values(), key=lambda t: t.completed_at or t.created_at):
        form = by_node.get(task.node_id)
        if form is not None:
            forms.append((task.node_name, form))
    return forms


def data_sections(data: Mapping[str, Any], forms: Sequence[tuple[str, FormDefinition]],
                  people: Mapping[str, str], results: Mapping[str, str] | None = None) -> list[DataSection]:
    """The application's current data with Chinese labels and choice names, grouped by the form it came from;
    what no form holds (worked out by the system) comes last, named after the service task that set it."""
    shown: set[str] = set()
    sections: list[DataSection] = []
    for title, form in forms:
        rows = []
        for f in formdata.fields_of(form):
            if f.name in data and f.name not in shown:
                shown.add(f.name)
                value = data[f.name]
                if isinstance(value, str) and value in people and not f.options:
                    rows.append((f.title, people[value]))
                else:
                    rows.append((f.title, formdata.display(f, value)))
        if rows:
            sections.append(DataSection(title, tuple(rows)))
    rest = []
    for key, value in data.items():
        if key in shown or key.startswith("_"):
            continue
        if isinstance(value, Mapping):
            text = _result_summary(value, 300)
        elif isinstance(value, str) and value in people:
            text = people[value]
        else:
            text = formdata.display(None, value)
        rest.append(((results or {}).get(key, key), text))
    if rest:
        sections.append(DataSection("系统记录（流程自动判定或生成）", tuple(rest)))
    return sections


def document_groups(documents: Iterable[DocumentInfo], forms: Sequence[tuple[str, FormDefinition]],
                    contract_titles: Mapping[str, str]) -> list[DocumentGroup]:
    """Generated contracts (one group per contract: DOCX, HTML, PDF) and uploads, oldest first."""
    groups: dict[str, DocumentGroup] = {}
    for doc in documents:
        if doc.kind.startswith("upload:"):
            key = doc.kind.split(":", 1)[1]
            title = next((f.document_title(key) for _, f in forms if any(d.get("key") == key for d in f.documents)),
                         key)
            groups[doc.id] = DocumentGroup(title, "上传资料", doc.created_at, [doc])
            continue
        stem = doc.filename.rsplit(".", 1)[0]
        group = groups.get(f"contract:{stem}")
        if group is None:
            title = contract_titles.get(doc.id) or contract_titles.get(doc.kind) or doc.kind
            group = groups[f"contract:{stem}"] = DocumentGroup(title, "合同", doc.created_at)
        group.files.append(doc)
    return sorted(groups.values(), key=lambda g: g.created_at)


def _contract_titles(history: Iterable[HistoryEntry]) -> dict[str, str]:
    """Document id (and contract kind) → the contract's title, from the generate_contract results."""
    titles: dict[str, str] = {}
    for event in history:
        result = event.payload.get("result") if event.kind == "service.called" else None
        if not isinstance(result, Mapping):
            continue
        # a contract generated with its companions (the dispatch agreement of a dual-supply large customer)
        companions = result.get("companion_contracts")
        for contract in (result, *(companions if isinstance(companions, list) else ())):
            if isinstance(contract, Mapping) and isinstance(contract.get("documents"), Mapping) and contract.get("title"):
                title = str(contract["title"])
                titles[str(contract.get("kind", ""))] = title
                for doc_id in contract["documents"].values():
                    titles[str(doc_id)] = title
    return titles


@bp.route("/<app_no>")
@login_required
def show(app_no: str) -> Any:
    """One application: header, audit check, diagram, timeline, data, open tasks and documents."""
    return render_application(app_no)


@dataclass(frozen=True)
class CaseActions:
    """The lifecycle actions this person may take on this case now (each offered only if allowed)."""

    suspend: bool
    resume: bool
    withdraw: bool
    terminate: bool
    correct: bool
    retry: bool

    @property
    def any(self) -> bool:
        """Whether anything is offered."""
        return self.suspend or self.resume or self.withdraw or self.terminate or self.correct or self.retry


def case_actions(engine: Engine, app: ApplicationInfo, username: str) -> CaseActions:
    """What the page offers: the engine's own permission rule, and what the case's status allows."""
    moving = app.status in ("running", "error")
    return CaseActions(
        suspend=moving and engine.may(username, Action.SUSPEND),
        resume=app.status == "suspended" and engine.may(username, Action.SUSPEND),
        withdraw=(moving or app.status == "suspended") and engine.may(username, Action.WITHDRAW),
        terminate=(moving or app.status == "suspended") and engine.may(username, Action.TERMINATE),
        correct=app.status not in ENDED and engine.may(username, Action.CORRECT),
        retry=app.status == "error" and engine.may(username, Action.REPAIR),
    )


def form_fields(forms: Sequence[tuple[str, FormDefinition]]) -> dict[str, formdata.Field]:
    """Every field of an application's forms by name (first form wins): to show stored values by their names."""
    fields: dict[str, formdata.Field] = {}
    for _, form in forms:
        for f in formdata.fields_of(form):
            fields.setdefault(f.name, f)
    return fields


def render_application(app_no: str, *, status: int = 200, action: str | None = None,
                       errors: Mapping[str, str] | None = None, values: Mapping[str, str] | None = None) -> Any:
    """The application page; after a refused lifecycle action, with that action's form open, its errors next to
    its inputs and what was typed kept."""
    engine = engine_of(current_app)
    app = engine.application(app_no)
    check = engine.verify_audit(app.app_no)
    xml = engine.application_xml(app.app_no)
    people = {u.username: u.display_name for u in engine.users()}
    done = engine.tasks(app_no=app.app_no, status="completed", limit=1000)
    diagram_labels = diagram_names(xml)
    names = dict(diagram_labels.nodes)
    names.update({t.node_id: t.node_name for t in (*done, *app.open_tasks)})
    operators = {name: str(getattr(op, "title", name)) for name, op in engine.registry.items()}
    forms = _forms_of(engine, app, done)
    start, by_node = engine.application_forms(app.app_no)
    all_forms = ([("", start)] if start else []) + [("", f) for f in by_node.values()]
    timeline = build_timeline(app.history, names, people, operators, (t.node_id for t in app.open_tasks),
                              engine.now(), form_fields(all_forms))
    return render_template(
        "applications/show.html", app=app, check=check, timeline=timeline, people=people,
        sections=data_sections(app.data, forms, people, diagram_labels.results),
        documents=document_groups(app.documents, forms, _contract_titles(app.history)),
        variant=VARIANTS.get(app.process_key, app.process_key), status=STATUSES.get(app.status, app.status),
        size_text=size_text, now=engine.now(), duration_text=duration_text,
        actions=case_actions(engine, app, current_user().username), action=action, action_errors=errors or {},
        action_values=values or {},
    ), status


@bp.route("/<app_no>/diagram.json")
@login_required
def diagram(app_no: str) -> Any:
    """The diagram of the application's version and where it has been, for the viewer to highlight."""
    trace = engine_of(current_app).application_trace(app_no)
    response = jsonify({"xml": trace.xml, "completed": list(trace.completed), "active": list(trace.active),
                        "flows": list(trace.flows)})
    response.headers["Cache-Control"] = "no-store"
    return response

