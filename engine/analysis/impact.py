"""Impact preview: replay the recorded applications of the current version against a draft diagram.

Each application's recorded inputs (acceptance data, every completed task's data, handler results)
are fed into a fresh workflow of the draft, as :mod:`engine.replay` does, but the draft is allowed to
differ: the input of a user task the draft no longer has — or does not reach — is skipped (that work
would not happen, and its recorded time is saved); a handler result is taken from the record of the
same node, or today's handler decides if the record has none; and when the draft asks for a user
task that the history cannot supply, that application's replay stops there. Nothing is written.

Every recorded application of the process is previewed, whatever version it ran on, streamed from the
database in batches. Histories that feed the draft the same inputs where the draft can see them — the same
steps in the same order, the same values of every variable the draft's expressions read, the same
recorded handler results, the same open tasks — go the same way: one of them is replayed and the others
take its outcome (each with its own saved hours). A replay in which today's handler had to decide (the
record had no result) is never shared: each such application is replayed itself. The result is the same as
replaying every application, only faster.

Reading is what costs at a county office's size (100,000 applications, two million events read), so the
grouping never parses a trail in Python. Per batch of applications the database returns one row per
application: its events joined into one text of kind, node and — computed by the database from the payload
— the JSON text of just the values the draft can see (the variables its expressions read, '' where absent;
the results of the handlers whose results they read), the task each input completed, and one row of its
completed tasks' hours. Equal text means equal inputs, so that text (with the version, status and open
tasks) is the grouping key; only the first history of each group, and each history of a group whose handlers
decided live, is read whole and replayed. On a machine with several cores, processes read the batches while
this one replays (:meth:`ImpactPreview.pool_size`).
"""

from __future__ import annotations

import ast
import json
import multiprocessing
import os
import threading
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, NamedTuple

from lxml import etree

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Integer,
    String,
    Text,
    and_,
    case,
    cast,
    extract,
    func,
    literal,
    null,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by

import handlers

from ..casework.documents import manager_workloads
from ..definitions.versions import Definitions
from ..errors import InvalidInput
from ..kernel.canonical import canonical
from ..kernel.interpreter import Interpreter, NextRecordedResult, NoDocuments, RecordedEvent, group_events
from ..kernel.loading import PERSON_TASKS, ParsedDiagram
from ..kernel.runtime import RunContext
from ..results import ApplicationImpact, ImpactReport, NodeImpact
from ..store import Store
from ..store.tables import APPS, EVENTS, ITEMS
from ..vocabulary import ENDING_KINDS, INPUT_KINDS, EventKind, TaskStatus


@dataclass(frozen=True)
class History:
    """One application as recorded: its audit events, each user task's hours and what is open now."""

    app_no: str
    status: str
    events: Sequence[RecordedEvent]
    hours: Mapping[str, float]  # task id → ready→completed hours of a completed user task
    open_nodes: tuple[str, ...]  # user tasks waiting now (running applications)
    version: int = 0  # the process version it runs (or ran) on


def preview(
    *,
    process_key: str,
    base_version: int,
    base: ParsedDiagram | Mapping[int, ParsedDiagram],
    draft: ParsedDiagram,
    histories: Iterable[History],
    registry: Mapping[str, handlers.Operator],
    settings: handlers.PolicySettings,
    workloads: Callable[[], Mapping[str, int]],
    max_iterations: int,
    total: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    share: bool = True,
) -> ImpactReport:
    """Replay every history on the draft (once per group of histories with the same inputs that matter) and
    sum up which paths change and the time saved. ``base`` is the diagram of every version the histories
    ran on (by version number), or one diagram for all; ``progress(done, total)`` follows the histories."""
    reads = draft_reads(draft)
    replayer = Replayer(process_key, base_version, base, draft, registry, settings, workloads, max_iterations, share)
    batch: list[Trail] = []
    for history in histories:
        batch.append(Trail(history.app_no, replay_key(history, reads), input_hours(history), history=history))
        if len(batch) == PROGRESS_EVERY:
            replayer.add(batch, _already_read)
            batch = []
            if progress is not None:
                progress(replayer.done, total or replayer.done)
    if batch or not replayer.done:
        replayer.add(batch, _already_read)
        if progress is not None:
            progress(replayer.done, total or replayer.done)
    return replayer.report()


def _already_read(trails: Sequence[Trail]) -> list[History]:
    return [t.history for t in trails if t.history is not None]


@dataclass(frozen=True)
class Trail:
    """One recorded application as far as grouping needs it: its number, what decides how it goes on the draft
    (:func:`replay_key`, or the text the database computed for it) and the recorded hours of each input (0
    where the input completed no task). ``history`` is the whole history when it was read already."""

    app_no: str
    key: Hashable
    hours: tuple[float, ...]
    application_id: int = 0
    history: History | None = None


def input_hours(history: History) -> tuple[float, ...]:
    """The recorded hours of each input of a history, in order (0 where it completed no task)."""
    return tuple(history.hours.get(ev.task_id or "", 0.0) for ev in history.events if ev.kind in INPUT_KINDS)


@dataclass
class Group:
    """The histories with one replay key: the outcome they share (None while none was replayed, and for a group
    whose replay needed today's handlers: each of those is replayed itself), the inputs' nodes, how many
    histories and their hours added up per input."""

    impact: ApplicationImpact | None = None
    skipped_at: tuple[int, ...] = ()
    live: bool = False
    inputs: tuple[str | None, ...] = ()  # the node of each input that completed a task
    members: int = 0
    hours: list[float] = field(default_factory=list)


class Replayer:
    """Previews trails batch by batch: each group's first history is replayed, the others take its outcome (or,
    where today's handlers decided, are replayed too); then the report."""

    def __init__(self, process_key: str, base_version: int, base: ParsedDiagram | Mapping[int, ParsedDiagram],
                 draft: ParsedDiagram, registry: Mapping[str, handlers.Operator], settings: handlers.PolicySettings,
                 workloads: Callable[[], Mapping[str, int]], max_iterations: int, share: bool) -> None:
        self.process_key, self.base_version, self.draft = process_key, base_version, draft
        self.bases = base if isinstance(base, Mapping) else None
        self.single = base if not isinstance(base, Mapping) else None
        self.registry, self.settings, self.workloads = registry, settings, workloads
        self.max_iterations, self.share = max_iterations, share
        self.groups: dict[Hashable, Group] = {}
        self.impacts: list[ApplicationImpact] = []
        self.replayed = 0

    @property
    def done(self) -> int:
        """How many histories have their outcome."""
        return len(self.impacts)

    def base_of(self, history: History) -> ParsedDiagram:
        """The diagram a history ran on."""
        if self.bases is None:
            assert self.single is not None
            return self.single
        return self.bases.get(history.version) or self.bases[max(self.bases)]

    def add(self, trails: Sequence[Trail], load: Callable[[Sequence[Trail]], Sequence[History]]) -> None:
        """Preview a batch of trails, in order; ``load`` reads the whole histories of the trails given."""
        outcome: list[ApplicationImpact | None] = [None] * len(trails)
        firsts: set[Hashable] = set()
        wanted = []
        for index, trail in enumerate(trails):
            group = self.groups.get(trail.key)
            if not self.share or (group is not None and group.live) or (group is None and trail.key not in firsts):
                firsts.add(trail.key)
                wanted.append(index)
        self._replay(trails, wanted, load, outcome)
        again = [i for i, t in enumerate(trails) if outcome[i] is None and self.groups[t.key].live]
        if again:  # the first of a new group needed today's handlers: the rest of the batch's group replays too
            self._replay(trails, again, load, outcome)
        for index, trail in enumerate(trails):
            group = self.groups[trail.key]
            impact = outcome[index]
            if impact is None:
                assert group.impact is not None
                impact = _taking(group.impact, group.skipped_at, trail)
            self.impacts.append(impact)
            group.members += 1
            if not group.hours:
                group.hours = [0.0] * len(trail.hours)
            for position, hours in enumerate(trail.hours[:len(group.hours)]):
                group.hours[position] += hours

    def _replay(self, trails: Sequence[Trail], indexes: Sequence[int],
                load: Callable[[Sequence[Trail]], Sequence[History]], outcome: list[ApplicationImpact | None]) -> None:
        histories = load([trails[i] for i in indexes]) if indexes else []
        for index, history in zip(indexes, histories):
            impact, skipped_at, live = _replay_one(history, self.base_of(history), self.draft, self.registry,
                                                   self.settings, self.workloads, self.max_iterations)
            self.replayed += 1
            outcome[index] = impact
            key = trails[index].key
            if key not in self.groups:
                inputs = tuple(ev.node_id if ev.kind == EventKind.TASK_COMPLETED else None
                               for ev in history.events if ev.kind in INPUT_KINDS)
                self.groups[key] = Group(None if live else impact, skipped_at, live, inputs)

    def report(self) -> ImpactReport:
        """Everything added so far, summed up."""
        impacts = self.impacts
        changed = [i for i in impacts if i.changed]
        diagrams = (list(self.bases.values()) if self.bases is not None
                    else [self.single] if self.single is not None else [])
        nodes = _node_summary(diagrams, self.draft, self.groups.values(), impacts)
        return ImpactReport(self.process_key, self.base_version, tuple(impacts), len(changed),
                            len(impacts) - len(changed), nodes, _sentences(impacts, changed, nodes, diagrams, self.draft),
                            self.replayed)


PROGRESS_EVERY = 500


@dataclass(frozen=True)
class DraftReads:
    """What of a history the draft can see: the variables its expressions read, and the service tasks whose
    result lands in one of them (the result of any other handler cannot change the path)."""

    names: frozenset[str]
    results_read: frozenset[str]  # node ids


def draft_reads(diagram: ParsedDiagram) -> DraftReads:
    """The variables the draft's expressions read and the service tasks whose results they read."""
    names = expression_names(diagram)
    root = etree.fromstring(diagram.xml, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    nodes: set[str] = set()
    for el in root.iter():
        if isinstance(el.tag, str) and el.get("resultVariable") in names:
            owner = el
            while owner is not None and owner.get("id") is None:
                owner = owner.getparent()
            while owner is not None and owner.get("id") not in diagram.nodes:
                owner = owner.getparent()
            if owner is not None:
                nodes.add(owner.get("id", ""))
    return DraftReads(names, frozenset(nodes))


def expression_names(diagram: ParsedDiagram) -> frozenset[str]:
    """Every variable name an expression the interpreter evaluates reads (conditions, timers, loops, handler
    parameters): the data that can change how a history goes on the draft. Properties (assignee, time
    limit) are evaluated by the live steps only."""
    root = etree.fromstring(diagram.xml, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    sources: list[str] = []
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        if el.text and etree.QName(el).localname in ("conditionExpression", "timeDate", "timeDuration",
                                                     "timeCycle", "completionCondition", "loopCardinality",
                                                     "loopCondition", "formalExpression"):
            sources.append(el.text)
        if etree.QName(el).localname == "parameter" and el.get("value"):
            sources.append(el.get("value", ""))  # a handler's parameter: evaluated before the handler runs
    found: set[str] = set()
    for source in sources:
        try:
            tree = ast.parse(source.strip(), mode="eval")
        except SyntaxError:
            continue  # a plain property value (a form's file name, a role)
        found.update(n.id for n in ast.walk(tree) if isinstance(n, ast.Name))
    return frozenset(found)


def replay_key(history: History, reads: DraftReads) -> str:
    """What decides how a history goes on the draft: its inputs in order with only the data the draft's
    expressions read, the recorded results of the handlers whose results they read (the others only that
    there was one), how each recorded step ended, and what waits now."""
    names = sorted(reads.names)
    inputs: list[tuple[str, str | None, Any]] = []
    for ev in history.events:
        if ev.kind in INPUT_KINDS:
            data = ev.payload.get("data") or {}
            inputs.append((ev.kind, ev.node_id, {k: data[k] for k in names if k in data}))
        elif ev.kind == EventKind.SERVICE_CALLED:
            read = ev.node_id in reads.results_read
            inputs.append((ev.kind, ev.node_id, ev.payload.get("result") if read else None))
        elif ev.kind in (EventKind.APPLICATION_ERROR, EventKind.APPLICATION_COMPLETED):
            inputs.append((ev.kind, None, None))
    return canonical([history.version, history.status, list(history.open_nodes), inputs])


def _taking(shared: ApplicationImpact, skipped_at: tuple[int, ...], trail: Trail) -> ApplicationImpact:
    """Another history's outcome for this one (the same inputs that matter), with its own saved hours."""
    saved = sum(trail.hours[i] for i in skipped_at if i < len(trail.hours))
    return replace(shared, app_no=trail.app_no, saved_hours=round(saved, 2))


def _is_person_task(diagram: ParsedDiagram, node_id: str) -> bool:
    node = diagram.nodes.get(node_id)
    return node is not None and node.kind in PERSON_TASKS


def _replay_one(history: History, base: ParsedDiagram, draft: ParsedDiagram,
                registry: Mapping[str, handlers.Operator], settings: handlers.PolicySettings,
                workloads: Callable[[], Mapping[str, int]], max_iterations: int
                ) -> tuple[ApplicationImpact, tuple[int, ...], bool]:
    """One application: its recorded path, the draft's path for the same inputs, and what differs; also the
    positions of the inputs skipped (for the saved hours) and whether today's handlers had to decide."""
    groups = group_events(history.events)
    inputs = [g.input for g in groups]
    path_before = tuple(ev.node_id or "" for ev in inputs if ev.kind == EventKind.TASK_COMPLETED)
    clock_now: list[datetime] = [inputs[0].at if inputs else datetime(2000, 1, 1)]
    run = RunContext(history.app_no, draft.process_id, settings, NoDocuments(workloads), lambda: clock_now[0],
                     labels=draft.labels)
    handlers_ = NextRecordedResult(registry, run, history.events)
    machine = Interpreter(draft, handlers_, max_iterations)
    path_after: list[str] = []
    skipped: list[str] = []
    skipped_at: list[int] = []
    saved = 0.0
    stop: str | None = None
    demanded: list[str] = []
    for index, ev in enumerate(inputs):
        clock_now[0] = ev.at
        if ev.kind == EventKind.APPLICATION_STARTED:
            machine.start(ev.payload.get("data", {}))
        elif not machine.started:
            stop = "记录中缺少受理事件，无法重放"
            break
        elif ev.kind == EventKind.APPLICATION_RETRIED:
            machine.retry()
        elif ev.kind == EventKind.APPLICATION_CORRECTED:
            machine.correct(str(ev.payload.get("field", "")), ev.payload.get("after"))
            continue  # a correction runs no engine step
        elif ev.kind in ENDING_KINDS:
            break  # the case was withdrawn or terminated here: its path ends as it did live
        elif ev.kind == EventKind.TASK_COMPLETED:
            node = ev.node_id or ""
            if node in machine.ready_nodes():
                problem = machine.complete(node, ev.payload.get("data", {}))
                if problem is not None:  # a finding about the draft, not a crash
                    stop = f"按新流程图办理「{_name(draft, node)}」失败：{problem.split('：', 1)[-1]}"
                    break
                path_after.append(node)
            else:
                later = {e.node_id for e in inputs[index:] if e.kind == EventKind.TASK_COMPLETED}
                demanded = [n for n in machine.ready_nodes() if n not in later]
                if demanded and _is_person_task(draft, node):
                    break  # the draft waits for work the history never did: nothing further applies
                demanded = []
                skipped.append(node)
                skipped_at.append(index)
                saved += history.hours.get(ev.task_id or "", 0.0)
                continue
        error = machine.advance()
        if error and groups[index].outcome != "error":  # failing where the live run failed is no change
            stop = f"按新流程图重放时出错：{error}"
            break
    open_after: tuple[str, ...] = ()
    if stop is None and not demanded and machine.started:
        open_after = tuple(dict.fromkeys(machine.ready_nodes()))
        demanded = [n for n in open_after if n not in history.open_nodes and n not in path_before]
        skipped.extend(n for n in history.open_nodes if n not in open_after)
    new_nodes = tuple(dict.fromkeys(n for n in demanded if n not in path_before))
    if stop is None and demanded:
        stop = "路径在此处改变，需要新的输入：" + "、".join(_name(draft, n) for n in dict.fromkeys(demanded))
    elif stop is None and set(open_after) != set(history.open_nodes) and history.status == "running":
        stop = (f"当前待办将由「{'、'.join(_name(base, n) for n in history.open_nodes) or '无'}」变为"
                f"「{'、'.join(_name(draft, n) for n in open_after) or '无'}」")
    changed = stop is not None or tuple(path_after) != path_before
    note = stop or ("跳过" + "、".join(f"「{_name(base, n)}」" for n in dict.fromkeys(skipped)) if skipped
                   else "路径不变")
    return (ApplicationImpact(history.app_no, history.status, path_before, tuple(path_after), changed,
                              tuple(dict.fromkeys(skipped)), new_nodes, round(saved, 2), note),
            tuple(skipped_at), handlers_.decided_live)


def _name(diagram: ParsedDiagram, node_id: str) -> str:
    node = diagram.nodes.get(node_id)
    return node.name if node else node_id


def _node_summary(bases: Sequence[ParsedDiagram], draft: ParsedDiagram, groups: Iterable[Group],
                  impacts: Sequence[ApplicationImpact]) -> tuple[NodeImpact, ...]:
    """Per user task the draft removes (or that some application skips): who passed it and for how long (the
    histories of a group pass the same nodes; their hours are added up per input)."""
    removed = list(dict.fromkeys(n for base in bases for n in base.nodes
                                 if _is_person_task(base, n) and not _is_person_task(draft, n)))
    bypassed = [n for i in impacts for n in i.skipped_nodes if n not in removed]
    wanted = set(removed) | set(bypassed)
    passing: dict[str, int] = defaultdict(int)
    totals: dict[str, float] = defaultdict(float)
    for group in groups:
        spent: dict[str, float] = defaultdict(float)
        for position, node_id in enumerate(group.inputs):
            if node_id in wanted:
                spent[node_id] += group.hours[position] if position < len(group.hours) else 0.0
        for node_id, hours in spent.items():
            passing[node_id] += group.members
            totals[node_id] += hours
    out = []
    for node_id in dict.fromkeys(removed + bypassed):
        mean = totals[node_id] / passing[node_id] if passing[node_id] else 0.0
        out.append(NodeImpact(node_id, _name_in(bases, node_id), passing[node_id], round(mean, 2),
                              round(totals[node_id], 2)))
    return tuple(out)


def _name_in(diagrams: Sequence[ParsedDiagram], node_id: str) -> str:
    for diagram in reversed(diagrams):
        if node_id in diagram.nodes:
            return diagram.nodes[node_id].name
    return node_id


def _sentences(impacts: Sequence[ApplicationImpact], changed: Sequence[ApplicationImpact],
               nodes: Sequence[NodeImpact], bases: Sequence[ParsedDiagram], draft: ParsedDiagram) -> tuple[str, ...]:
    """The report in a few Chinese sentences for the analyst."""
    if not impacts:
        return ("该流程还没有可重放的申请",)
    if not changed:
        out = [f"{len(impacts)} 个申请的路径都不会改变"]
    else:
        mean = sum(i.saved_hours for i in changed) / len(changed)
        out = [(f"{len(impacts)} 个申请中有 {len(changed)} 个的路径将改变；"
                f"预计每个受影响的申请平均缩短 {mean:.1f} 小时")]
    for node in nodes:
        verb = "取消" if node.node_id not in draft.nodes else "绕过"
        out.append(f"{verb}「{node.name}」：{node.applications} 个申请经过此环节，"
                   f"平均耗时 {node.mean_hours:.1f} 小时，合计 {node.total_hours:.1f} 小时")
    waiting = [i for i in changed if i.new_nodes]
    if waiting:
        names = dict.fromkeys(_name(draft, n) for i in waiting for n in i.new_nodes)
        out.append(f"{len(waiting)} 个申请将需要新的输入：{'、'.join(names)}")
    failed = [i for i in changed if i.note.startswith("按新流程图")]
    if failed:
        out.append(f"{len(failed)} 个申请无法按新流程图重放，见各申请的说明")
    return tuple(out)


class ImpactPreview:
    """Loads the recorded applications of a process (every version, every status), in batches, and previews
    a draft on them."""

    BATCH = 2000

    def __init__(self, store: Store, definitions: Definitions, registry: Mapping[str, handlers.Operator],
                 settings: handlers.PolicySettings, max_iterations: int) -> None:
        self.store, self.definitions, self.registry = store, definitions, registry
        self.settings, self.max_iterations = settings, max_iterations

    def preview(self, process_key: str, draft_xml: bytes, *, limit: int | None = None,
                progress: Callable[[int, int], None] | None = None, share: bool = True,
                workers: int | None = None) -> ImpactReport:
        """Replay the recorded applications of every version (the ``limit`` newest, or all) on a draft: which
        paths change, the time saved; ``progress(done, total)`` as they are replayed. ``workers`` processes
        read the trails (default: one per core for a large preview, see :meth:`pool_size`)."""
        if limit is not None and limit < 1:
            raise InvalidInput(f"重放的申请数至少为 1（收到 {limit}）")
        draft = self.definitions.parse(draft_xml, f"{process_key}.draft.bpmn")
        if draft.process_id != process_key:
            raise InvalidInput(f"草稿的流程标识为 {draft.process_id}，与要预览的流程 {process_key} 不符")
        with self.store.read() as conn:
            row = self.definitions.newest_row(conn, process_key)
            numbers = self.definitions.version_numbers(conn, process_key)
            bases = {numbers[vid]: self.definitions.diagram(conn, vid) for vid in numbers}
            q = (select(APPS.c.id, APPS.c.app_no, APPS.c.status, APPS.c.version_id)
                 .where(APPS.c.process_key == process_key).order_by(APPS.c.created_at.desc(), APPS.c.id.desc()))
            apps = conn.execute(q.limit(limit) if limit is not None else q).all()

        def workloads() -> Mapping[str, int]:
            with self.store.read() as c:
                return manager_workloads(c)

        replayer = Replayer(process_key, row.version, bases, draft, self.registry, self.settings, workloads,
                            self.max_iterations, share)
        reads = draft_reads(draft)
        by_id = {a.id: a for a in apps}

        def load(trails: Sequence[Trail]) -> list[History]:
            return list(self._histories([by_id[t.application_id] for t in trails], numbers))

        batches = [[Recorded(a.id, a.app_no, a.status, a.version_id) for a in apps[start:start + self.BATCH]]
                   for start in range(0, len(apps), self.BATCH)]
        workers = self.pool_size(len(batches)) if workers is None else max(1, workers)
        for trails in self._read(batches, numbers, reads, workers):
            replayer.add(trails, load)
            if progress is not None:
                progress(replayer.done, len(apps))
        if not apps and progress is not None:
            progress(0, 0)
        return replayer.report()

    @staticmethod
    def pool_size(batches: int) -> int:
        """How many processes read the trails: one per core (at most :data:`MAX_WORKERS`) once there are
        several batches, else this process alone (starting a pool costs more than a few batches)."""
        if batches < MIN_BATCHES_FOR_POOL:
            return 1
        return max(1, min(os.cpu_count() or 1, MAX_WORKERS))

    def _read(self, batches: Sequence[Sequence[Recorded]], numbers: Mapping[int, int], reads: DraftReads,
              workers: int) -> Iterator[list[Trail]]:
        """The trails of each batch, in order: read here, or by ``workers`` processes while this one replays."""
        if workers <= 1:
            for batch in batches:
                yield self._trails(batch, numbers, reads)
            return
        with _pool_context().Pool(workers, initializer=_open_reader, initargs=(self.store.url,)) as pool:
            for keys, rows in pool.imap(_read_batch, ((batch, numbers, reads) for batch in batches)):
                yield [Trail(app_no, keys[index], hours, app_id, history)
                       for app_no, index, hours, app_id, history in rows]

    def _trails(self, batch: Sequence[Recorded], numbers: Mapping[int, int], reads: DraftReads) -> list[Trail]:
        """The trails of a batch of applications (see :func:`read_trails`)."""
        return read_trails(self.store, batch, numbers, reads)

    def _histories(self, apps: Sequence[Any], numbers: Mapping[int, int]) -> Iterator[History]:
        """The whole histories of the given applications (see :func:`read_histories`)."""
        return read_histories(self.store, apps, numbers)


class Recorded(NamedTuple):
    """An application to preview: its row id, number, status and version row."""

    id: int
    app_no: str
    status: str
    version_id: int


MIN_BATCHES_FOR_POOL = 4
MAX_WORKERS = 4
BATCH_SIZE = ImpactPreview.BATCH

_reader: Store | None = None
"""A reading process's own store (never the connections of the process that started it)."""


def _pool_context() -> Any:
    """Reading processes forked from this one when it runs no other thread (a command, a benchmark: nothing to
    import again); from a clean server process otherwise (a threaded web server must not be forked), which
    imports the engine once for the life of this process; spawned where neither exists."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        return context
    return multiprocessing.get_context("spawn")


def _open_reader(url: str) -> None:
    global _reader
    _reader = Store(url)


def _read_batch(task: tuple[Sequence[Recorded], Mapping[int, int], DraftReads]
                ) -> tuple[list[Hashable], list[tuple[str, int, tuple[float, ...], int, History | None]]]:
    """A reading process's part: one batch's trails, each distinct key sent once."""
    batch, numbers, reads = task
    assert _reader is not None
    keys: dict[Hashable, int] = {}
    rows = [(t.app_no, keys.setdefault(t.key, len(keys)), t.hours, t.application_id, t.history)
            for t in read_trails(_reader, batch, numbers, reads)]
    return list(keys), rows


def read_histories(store: Store, apps: Sequence[Any], numbers: Mapping[int, int]) -> Iterator[History]:
    """The whole histories of the given applications (rows with id, app_no, status, version_id), read a batch
    at a time (only the events a preview reads)."""
    for start in range(0, len(apps), BATCH_SIZE):
        batch = apps[start:start + BATCH_SIZE]
        ids = [a.id for a in batch]
        events: dict[int, list[RecordedEvent]] = {i: [] for i in ids}
        hours: dict[int, dict[str, float]] = {i: {} for i in ids}
        open_nodes: dict[int, list[str]] = {i: [] for i in ids}
        with store.read() as conn:
            for e in conn.execute(select(EVENTS.c.application_id, EVENTS.c.seq, EVENTS.c.at, EVENTS.c.actor,
                                         EVENTS.c.kind, EVENTS.c.node_id, EVENTS.c.task_id, EVENTS.c.payload)
                                  .where(EVENTS.c.application_id.in_(ids), EVENTS.c.kind.in_(PREVIEW_KINDS))
                                  .order_by(EVENTS.c.application_id, EVENTS.c.seq)):
                events[e.application_id].append(RecordedEvent(e.seq, e.at, e.actor, e.kind, e.node_id,
                                                              e.task_id, json.loads(e.payload)))
            for item in conn.execute(select(ITEMS.c.application_id, ITEMS.c.id, ITEMS.c.node_id,
                                            ITEMS.c.status, ITEMS.c.created_at, ITEMS.c.completed_at)
                                     .where(ITEMS.c.application_id.in_(ids))
                                     .order_by(ITEMS.c.created_at, ITEMS.c.id)):
                if item.status == TaskStatus.COMPLETED and item.completed_at is not None:
                    hours[item.application_id][item.id] = (
                        (item.completed_at - item.created_at).total_seconds() / 3600)
                elif item.status == TaskStatus.READY:
                    open_nodes[item.application_id].append(item.node_id)
        for a in batch:
            yield History(a.app_no, a.status, events[a.id], hours[a.id], tuple(open_nodes[a.id]),
                          numbers.get(a.version_id, 0))


def read_trails(store: Store, batch: Sequence[Recorded], numbers: Mapping[int, int], reads: DraftReads) -> list[Trail]:
    """The trails of a batch of applications: per application one row of its events' key text, the task each
    input completed and the order they were joined in; one row of its completed tasks' hours; its open tasks.
    No payload is parsed in Python. An application whose events the database joined out of order is read
    whole and keyed from its parsed history instead."""
    dialect = store.sa_engine.dialect.name
    ids = [a.id for a in batch]
    inputs = EVENTS.c.kind.in_(INPUT_KINDS)
    text = (type_coerce(EVENTS.c.kind, String) + UNIT + func.coalesce(EVENTS.c.node_id, "") + UNIT
            + func.coalesce(seen_text(reads, dialect), ""))
    events = (select(EVENTS.c.application_id, _joined(text, RECORD, dialect),
                     _joined(case((inputs, func.coalesce(EVENTS.c.task_id, "")), else_=null()), ",", dialect),
                     _joined(cast(EVENTS.c.seq, String), ",", dialect))
              .where(EVENTS.c.application_id.in_(ids), EVENTS.c.kind.in_(PREVIEW_KINDS))
              .group_by(EVENTS.c.application_id))
    spent = (select(ITEMS.c.application_id, _joined(ITEMS.c.id + ":" + cast(_microseconds(dialect), String), ",",
                                                      dialect, ITEMS.c.id))
             .where(ITEMS.c.application_id.in_(ids), ITEMS.c.status == TaskStatus.COMPLETED,
                    ITEMS.c.completed_at.is_not(None))
             .group_by(ITEMS.c.application_id))
    waiting = (select(ITEMS.c.application_id, ITEMS.c.node_id)
               .where(ITEMS.c.application_id.in_(ids), ITEMS.c.status == TaskStatus.READY)
               .order_by(ITEMS.c.created_at, ITEMS.c.id))
    read: dict[int, tuple[str, list[str]]] = {}
    out_of_order: set[int] = set()
    micros: dict[int, dict[str, str]] = {}
    open_nodes: dict[int, list[str]] = {i: [] for i in ids}
    with store.read() as conn:
        for app_id, key_text, tasks, seqs in conn.execute(events):
            order = [int(n) for n in seqs.split(",")]
            if any(a >= b for a, b in zip(order, order[1:])):
                out_of_order.add(app_id)
                continue
            read[app_id] = (key_text, tasks.split(",") if tasks else [])
        for app_id, joined in conn.execute(spent):
            micros[app_id] = dict(pair.split(":", 1) for pair in joined.split(","))
        for app_id, node_id in conn.execute(waiting):
            open_nodes[app_id].append(node_id)
    whole = {h.app_no: h for h in read_histories(store, [a for a in batch if a.id in out_of_order], numbers)}
    trails = []
    for a in batch:
        version, waits = numbers.get(a.version_id, 0), tuple(open_nodes[a.id])
        if a.id in read:
            key_text, tasks = read[a.id]
            done = micros.get(a.id, {})
            hours = tuple(int(done[t]) / 10**6 / 3600 if t in done else 0.0 for t in tasks)
            trails.append(Trail(a.app_no, (version, a.status, waits, key_text), hours, a.id))
        elif a.app_no in whole:
            history = whole[a.app_no]
            trails.append(Trail(a.app_no, replay_key(history, reads), input_hours(history), a.id, history))
        else:  # no event the preview reads
            trails.append(Trail(a.app_no, (version, a.status, waits, ""), (), a.id))
    return trails


PREVIEW_KINDS = (*INPUT_KINDS, EventKind.SERVICE_CALLED, EventKind.APPLICATION_ERROR, EventKind.APPLICATION_COMPLETED)
"""The audit events a preview reads (not the transitions, claims and notices, which are most of a trail)."""

UNIT, RECORD = "\x1f", "\x1e"
"""Between the fields of one event, and between events, in a trail's key text: JSON text never holds a raw
control character, nor do kinds and node ids."""


def seen_text(reads: DraftReads, dialect: str) -> ColumnElement[Any]:
    """What the draft can see of an event, as the database's JSON text: for an input the recorded value of each
    variable the draft reads ('' where the data has none, so a missing value and a null differ); for a
    handler call whose result the draft reads, that result; else NULL. Equal text means equal values, so
    histories grouped by it go the same way, as :func:`replay_key` says."""
    values = [func.coalesce(_json_text(EVENTS.c.payload, dialect, "data", name), literal("", String))
              for name in sorted(reads.names)]
    data: ColumnElement[Any] = values[0] if values else literal("", String)
    for value in values[1:]:
        data = data + literal(UNIT, String) + value
    result = _json_text(EVENTS.c.payload, dialect, "result")
    return case((EVENTS.c.kind.in_(INPUT_KINDS), data),
                (and_(EVENTS.c.kind == EventKind.SERVICE_CALLED, EVENTS.c.node_id.in_(sorted(reads.results_read))),
                 func.coalesce(result, literal("", String))),
                else_=null())


def _joined(value: ColumnElement[Any], separator: str, dialect: str,
            order: ColumnElement[Any] = EVENTS.c.seq) -> ColumnElement[Any]:
    """The values of a group joined in ``order`` (PostgreSQL orders them; SQLite joins them in the order it
    reads them, here by the (application, seq) index: the caller checks where the order matters)."""
    if dialect == "postgresql":
        return func.string_agg(value, aggregate_order_by(literal(separator, String), order))
    return func.group_concat(value, literal(separator, String))


def _microseconds(dialect: str) -> ColumnElement[Any]:
    """A completed task's ready → completed time in whole microseconds, exactly (SQLite keeps instants as ISO
    text with six fractional digits; PostgreSQL subtracts timestamps)."""
    if dialect == "postgresql":
        return cast(extract("epoch", ITEMS.c.completed_at - ITEMS.c.created_at) * 1_000_000, BigInteger)
    done, ready = type_coerce(ITEMS.c.completed_at, String), type_coerce(ITEMS.c.created_at, String)
    return ((func.unixepoch(done) - func.unixepoch(ready)) * 1_000_000
            + cast(func.substr(done, 21), Integer) - cast(func.substr(ready, 21), Integer))


def _json_text(column: ColumnElement[Any], dialect: str, *path: str) -> ColumnElement[Any]:
    """The JSON text of the value at ``path`` in a column holding JSON text; NULL where there is none. The path's
    keys are bound parameters (they come from a diagram)."""
    if dialect == "postgresql":
        value: ColumnElement[Any] = cast(column, JSON)
        for key in path:
            value = value.op("->")(cast(literal(key, String), Text))
        return type_coerce(cast(value, Text), String)
    selector = "$" + "".join(f'."{key}"' for key in path)
    return type_coerce(column.op("->")(literal(selector, String)), String)
