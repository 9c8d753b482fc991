"""Applications: search them, and follow one — its diagram, timeline, data, open tasks and documents."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, url_for
from lxml import etree

from engine import APP_STATUS_NAMES, ENDED, ApplicationInfo, ApplicationPage, DocumentInfo, Engine, HistoryEntry
from engine import MODES, Action, CommentInfo, EventKind, FormDefinition, FormValidationError, InvalidInput, TaskInfo
from engine import AppStatus, CaseInfo, CustomerNoticeInfo, FollowUpInfo, decision_summary
from handlers import ResultLabels

from webui import engine_of, formdata
from webui.auth import current_user, login_required, safe_next
from webui.labels import UNKNOWN_PERSON, person, persons, result_text, role_name, station_name
from webui.paging import page_numbers

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
class CustomerSide:
    """What the customer was told, their independent 回访 and the complaints this reader may see."""

    notices: Sequence[CustomerNoticeInfo]
    follow_up: FollowUpInfo | None
    cases: Sequence[CaseInfo]


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
    operators: Mapping[str, str] = field(default_factory=dict)  # result variable → the rule (operator) setting it


@lru_cache(maxsize=32)
def diagram_names(xml: str) -> DiagramNames:
    """The names in a deployed diagram (it passed the deploy gate; parsed here without DTD or entities)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    root = etree.fromstring(xml.encode("utf-8"), parser)
    nodes: dict[str, str] = {}
    results: dict[str, str] = {}
    operators: dict[str, str] = {}
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
                    if child.get("id"):
                        operators.setdefault(variable, str(child.get("id")))
    return DiagramNames(nodes, results, operators)


def _result_summary(result: Any, limit: int = 160, people: Mapping[str, str] | None = None,
                    labels: ResultLabels | None = None) -> str:
    """A service rule's result in one short line: its parts by their titles, values by their names, a person by
    name (the rule's labels, see webui.labels)."""
    return result_text(result, labels, limit)


def rule_labels(engine: Engine) -> dict[str, ResultLabels]:
    """Each business rule (operator) → how its results read."""
    return {name: op.result_labels for name, op in engine.registry.items()}


def variable_labels(engine: Engine, names: DiagramNames) -> dict[str, ResultLabels]:
    """Each variable a rule sets in this diagram → how that rule's result reads."""
    rules = rule_labels(engine)
    return {variable: rules[op] for variable, op in names.operators.items() if op in rules}


def build_timeline(history: Sequence[HistoryEntry], names: Mapping[str, str], people: Mapping[str, str],
                   operators: Mapping[str, str], open_nodes: Iterable[str], now: datetime,
                   rules: Mapping[str, ResultLabels] | None = None,
                   forms: Mapping[str, FormDefinition] | None = None,
                   fields: Mapping[str, formdata.Field] | None = None) -> list[TimelineEntry]:
    """Every step of an application from its audit trail: the acceptance, each user task (ready → done, by
    whom, how long, and what it decided), the service rules applied, claims, reassignments and the rest of the
    task work, site jobs, errors. Engine transitions are left out: they are for replay, not for people."""

    def who(username: str | None) -> str:
        if not username:
            return ""
        return "系统" if username == "system" else people.get(username, username)

    def node(node_id: str | None) -> str:
        return names.get(node_id or "", node_id or "")

    entries: list[TimelineEntry] = []
    waiting: dict[str, deque[datetime]] = {}
    ended_as = next((LIFECYCLE_TITLES[e.kind].replace("申请", "") for e in history
                     if e.kind in (EventKind.APPLICATION_WITHDRAWN, EventKind.APPLICATION_TERMINATED)), None)
    if ended_as:
        ended_as = f"申请已{ended_as}"
    for event in history:
        p = event.payload
        if event.kind == EventKind.APPLICATION_STARTED:
            entries.append(TimelineEntry("accepted", "受理申请", event.at, who(event.actor),
                                         f"申请编号 {p.get('app_no', '')}，流程第 {p.get('version', '')} 版"))
        elif event.kind == EventKind.TASK_READY and event.node_id:
            waiting.setdefault(event.node_id, deque()).append(event.at)
        elif event.kind == EventKind.TASK_COMPLETED:
            queue = waiting.get(event.node_id or "")
            ready_at = queue.popleft() if queue else None
            files = p.get("documents") or []
            detail = "；".join(part for part in (
                decision_summary((forms or {}).get(event.node_id or ""), p.get("data") or {}),
                f"上传资料 {len(files)} 份" if files else "",
                f"代{who(p['on_behalf_of'])}办理" if p.get("on_behalf_of") else "") if part)
            entries.append(TimelineEntry("task", node(event.node_id), event.at, who(event.actor), detail, ready_at,
                                         duration_text(ready_at, event.at) if ready_at else ""))
        elif event.kind == EventKind.SERVICE_CALLED:
            operator = str(p.get("operator", ""))
            title = node(event.node_id) or operators.get(operator, operator)
            rule = operators.get(operator, operator)
            labels = (rules or {}).get(operator)
            entries.append(TimelineEntry("service", title, event.at, "系统",
                                         f"{rule}：{_result_summary(p.get('result'), people=people, labels=labels)}"))
        elif event.kind == EventKind.TASK_CLAIMED:
            entries.append(TimelineEntry("claim", f"认领「{node(event.node_id)}」", event.at, who(event.actor)))
        elif event.kind == EventKind.TASK_RELEASED:
            entries.append(TimelineEntry("release", f"释放「{node(event.node_id)}」", event.at, who(event.actor)))
        elif event.kind == EventKind.TASK_REASSIGNED:
            before = who(p.get("from")) or "待认领"
            entries.append(TimelineEntry("reassign", f"改派「{node(event.node_id)}」", event.at, who(event.actor),
                                         f"{before} → {who(p.get('to'))}"))
        elif event.kind == EventKind.APPLICATION_ERROR:
            entries.append(TimelineEntry("error", "流程异常", event.at, "系统", str(p.get("message", ""))))
        elif event.kind == EventKind.APPLICATION_RETRIED:
            tasks = "、".join(node(t) for t in p.get("tasks", []))
            entries.append(TimelineEntry("retry", "重试出错环节", event.at, who(event.actor), tasks))
        elif event.kind == EventKind.APPLICATION_COMPLETED:
            entries.append(TimelineEntry("completed", "办结", event.at, "系统"))
        elif event.kind == EventKind.DOCUMENT_RENDERED:
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
        else:
            entry = work_entry(event, who, node)
            if entry is not None:
                entries.append(entry)
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


def work_entry(event: HistoryEntry, who: Any, node: Any) -> TimelineEntry | None:
    """A timeline line for the work around the steps: 催办, 转办, 抄送, comments, site jobs and callbacks."""
    p, at, actor = event.payload, event.at, who(event.actor)
    kind = event.kind
    if kind == EventKind.TASK_URGED:
        to = "、".join(who(t) if not str(t).startswith("role:") else f"全体{role_name(str(t)[5:])}"
                      for t in p.get("to", []))
        return TimelineEntry("urge", f"催办「{node(event.node_id)}」", at, actor,
                             "；".join(x for x in (f"通知 {to}" if to else "", str(p.get("note") or "")) if x))
    if kind == EventKind.TASK_TRANSFERRED:
        return TimelineEntry("transfer", f"转办「{node(event.node_id)}」", at, actor,
                             f"{who(p.get('from'))} → {who(p.get('to'))}：{p.get('reason', '')}")
    if kind == EventKind.TASK_COPIED:
        note = f"；附言：{p['note']}" if p.get("note") else ""
        return TimelineEntry("copy", f"抄送「{node(event.node_id)}」结论", at, actor,
                             "抄送给 " + "、".join(who(t) for t in p.get("to", [])) + note)
    if kind == EventKind.APPLICATION_COMMENTED:
        return TimelineEntry("comment", "留言（对客户公开）" if p.get("public") else "留言", at, actor,
                             str(p.get("body", "")))
    if kind in (EventKind.FIELDJOB_SCHEDULED, EventKind.FIELDJOB_RESCHEDULED):
        title = ("预约" if kind == EventKind.FIELDJOB_SCHEDULED else "改约") + f"现场作业「{node(event.node_id)}」"
        parts = [appointment_words(p)]
        if kind == EventKind.FIELDJOB_RESCHEDULED and p.get("reason"):
            parts.append(f"改约原因：{p['reason']}")
        if p.get("override"):
            parts.append(f"超承载力派工，原因：{p['override']}")
        return TimelineEntry("fieldjob", title, at, actor, "；".join(x for x in parts if x))
    if kind == EventKind.FIELDJOB_CHECKED_IN:
        late = "（晚于约定时间）" if p.get("late") else ""
        return TimelineEntry("fieldjob", f"到达现场「{node(event.node_id)}」{late}", at, actor, str(p.get("reason", "")))
    if kind == EventKind.FIELDJOB_CHECKED_OUT:
        return TimelineEntry("fieldjob", f"现场作业结束「{node(event.node_id)}」", at, actor, str(p.get("reason", "")))
    if kind == EventKind.CALLBACK_RECORDED:
        if not p.get("reached"):
            return TimelineEntry("callback", "客户回访：未联系上", at, actor)
        verdict = "满意" if p.get("satisfied") else "不满意"
        return TimelineEntry("callback", f"客户回访：{verdict}", at, actor, str(p.get("issues") or ""))
    if kind == EventKind.CALLBACK_CLOSED:
        return TimelineEntry("callback", "回访问题已关闭", at, actor, str(p.get("note", "")))
    return None


def appointment_words(p: Mapping[str, Any]) -> str:
    """A booking as the timeline tells it: station, day and time, mode, who goes."""
    mode = MODES.get(str(p.get("mode") or ""), "")
    when = ""
    if p.get("starts_at"):
        start = datetime.fromisoformat(str(p["starts_at"]))
        when = f"{start:%m月%d日 %H:%M}"
        if p.get("ends_at"):
            when += f"–{datetime.fromisoformat(str(p['ends_at'])):%H:%M}"
    elif p.get("due_by"):
        when = f"{datetime.fromisoformat(str(p['due_by'])):%m月%d日}前"
    worker = f"，作业人员 {person(p['worker'])}" if p.get("worker") else ""
    return f"{station_name(p.get('station'))} {mode} {when}{worker}".strip()
LIFECYCLE_TITLES: dict[str, str] = {
    EventKind.APPLICATION_SUSPENDED: "暂停办理", EventKind.APPLICATION_RESUMED: "恢复办理",
    EventKind.APPLICATION_WITHDRAWN: "撤销申请", EventKind.APPLICATION_TERMINATED: "终止申请",
    EventKind.APPLICATION_CORRECTED: "更正数据",
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
                  people: Mapping[str, str], results: Mapping[str, str] | None = None,
                  labels: Mapping[str, ResultLabels] | None = None) -> list[DataSection]:
    """The application's current data with Chinese labels and choice names, grouped by the form it came from;
    what no form holds (worked out by the system) comes last, named after the service task that set it."""
    shown: set[str] = set()
    sections: list[DataSection] = []
    for title, form in forms:
        rows = []
        props = form.schema.get("properties", {})
        for f in formdata.fields_of(form):
            if f.name in data and f.name not in shown:
                shown.add(f.name)
                value = data[f.name]
                if props.get(f.name, {}).get("x-userRoles") and value:
                    # a field holding people (勘查组成员, 指定客户经理): their names, never their logins
                    people_in = value if isinstance(value, list) else [value]
                    rows.append((f.title, "、".join(people.get(str(u), UNKNOWN_PERSON) for u in people_in)))
                elif isinstance(value, str) and value in people and not f.options:
                    rows.append((f.title, people[value]))
                else:
                    rows.append((f.title, formdata.display(f, value)))
        if rows:
            sections.append(DataSection(title, tuple(rows)))
    rest = []
    for key, value in data.items():
        if key in shown or key.startswith("_"):
            continue
        if isinstance(value, Mapping) or key in (labels or {}):
            text = _result_summary(value, 300, labels=(labels or {}).get(key))
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
        result = event.payload.get("result") if event.kind == EventKind.SERVICE_CALLED else None
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
    moving = app.status in (AppStatus.RUNNING, AppStatus.ERROR)
    suspended = app.status == AppStatus.SUSPENDED
    return CaseActions(
        suspend=moving and engine.may(username, Action.SUSPEND),
        resume=suspended and engine.may(username, Action.SUSPEND),
        withdraw=(moving or suspended) and engine.may(username, Action.WITHDRAW),
        terminate=(moving or suspended) and engine.may(username, Action.TERMINATE),
        correct=app.status not in ENDED and engine.may(username, Action.CORRECT),
        retry=app.status == AppStatus.ERROR and engine.may(username, Action.REPAIR),
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
                              engine.now(), rule_labels(engine), by_node, form_fields(all_forms))
    reader = current_user().username
    customer_side = CustomerSide(engine.customer_notices(app.app_no, reader=reader), engine.follow_up_of(app.app_no),
                                 engine.complaints(reader=reader, app_no=app.app_no))
    return render_template(
        "applications/show.html", app=app, check=check, timeline=timeline, people=people, customer_side=customer_side,
        work=_task_work(engine, app, done),
        sections=data_sections(app.data, forms, people, diagram_labels.results,
                               variable_labels(engine, diagram_labels)),
        documents=document_groups(app.documents, forms, _contract_titles(app.history)),
        variant=VARIANTS.get(app.process_key, app.process_key), status=STATUSES.get(app.status, app.status),
        size_text=size_text, now=engine.now(), duration_text=duration_text,
        clocks=engine.clocks(app.app_no), may_renew=engine.may(current_user().username, Action.RENEW_PLAN),
        actions=case_actions(engine, app, current_user().username), action=action, action_errors=errors or {},
        action_values=values or {},
    ), status


@dataclass(frozen=True)
class TaskWorkPanel:
    """What the application page offers around its tasks: comments, 催办, 抄送."""

    comments: tuple[CommentInfo, ...]
    may_comment: bool
    may_urge: bool
    urged: Mapping[str, datetime]
    copyable: tuple[TaskInfo, ...]  # completed steps whose decision this person may copy
    colleagues: tuple[tuple[str, str], ...]  # (username, display name) of active staff


def _task_work(engine: Engine, app: ApplicationInfo, done: Sequence[TaskInfo]) -> TaskWorkPanel:
    user = current_user()
    may_urge = engine.may_urge(app.app_no, user.username)
    copyable = tuple(t for t in sorted(done, key=lambda t: t.completed_at or t.created_at, reverse=True)
                     if may_urge or t.completed_by == user.username)
    return TaskWorkPanel(
        tuple(engine.comments(app.app_no)), engine.may(user.username, Action.COMMENT), may_urge,
        engine.urged(t.id for t in app.open_tasks), copyable,
        tuple((u.username, u.display_name) for u in engine.users() if u.username != user.username))


@bp.route("/<app_no>/comments", methods=["POST"])
@login_required
def comment(app_no: str) -> Any:
    """Leave a comment on an application (optionally shown to the customer)."""
    engine = engine_of(current_app)
    try:
        engine.add_comment(app_no, request.form.get("body", ""), by=current_user().username,
                           public=request.form.get("public") == "1")
    except FormValidationError as exc:
        flash(exc.message, "error")
    else:
        flash("留言已保存" + ("，客户可在办事进度中看到" if request.form.get("public") == "1" else ""), "success")
    return redirect(url_for("applications.show", app_no=app_no) + "#comments")


@bp.route("/<app_no>/tasks/<task_id>/urge", methods=["POST"])
@login_required
def urge(app_no: str, task_id: str) -> Any:
    """催办 an open task of this application."""
    engine = engine_of(current_app)
    task = engine.urge(task_id, by=current_user().username, note=request.form.get("note", ""))
    flash(f"已催办「{task.node_name}」，已通知{person(task.claimed_by or task.assignee, '全体' + role_name(task.role))}",
          "success")
    return redirect(safe_next(request.form.get("next")) if request.form.get("next")
                    else url_for("applications.show", app_no=app_no))


@bp.route("/<app_no>/copy", methods=["POST"])
@login_required
def copy(app_no: str) -> Any:
    """抄送 a completed step's decision to colleagues."""
    engine = engine_of(current_app)
    task_id = (request.form.get("task") or "").strip()
    if not task_id:
        raise InvalidInput("请选择要抄送的环节")
    try:
        task = engine.copy_decision(task_id, request.form.getlist("to"), by=current_user().username,
                                    note=request.form.get("note", ""))
    except FormValidationError as exc:
        flash(exc.message, "error")
    else:
        flash(f"已抄送「{task.node_name}」的办理结果：{persons(request.form.getlist('to'))}", "success")
    return redirect(url_for("applications.show", app_no=app_no) + "#copy")


@bp.route("/<app_no>/diagram.json")
@login_required
def diagram(app_no: str) -> Any:
    """The diagram of the application's version and where it has been, for the viewer to highlight."""
    trace = engine_of(current_app).application_trace(app_no)
    response = jsonify({"xml": trace.xml, "completed": list(trace.completed), "active": list(trace.active),
                        "flows": list(trace.flows)})
    response.headers["Cache-Control"] = "no-store"
    return response

