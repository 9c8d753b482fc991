"""Moving a running application's workflow to a newer version of its process, only when that is safe.

Safe means the move loses and repeats no work, and the result is a workflow we can store and load:

* nothing is open (ready, waiting, started, failed) at a node the new version removed or changed
  (a change of its outgoing or incoming flows alone does not count: that is what the move is for),
  unless a mapping instruction (old node id → new node id, as in Camunda) says which node it becomes;
* finished work at a node the new version removed leaves the task tree (what followed it hangs from
  what preceded it): its record stays where records are kept, the audit trail and the work items. A
  gateway passed is no work at all; a removed review passed is done and is not done again;
* the new version does not put a person's or a handler's task that was already done back ahead of
  the open tasks where the old version did not (it would be done twice);
* after SpiffWorkflow's ``migrate_workflow`` every task points at a node of the new version, the
  open tasks are the very same ones (so their work items stay valid), and the workflow survives
  a round trip through :class:`StateCodec` unchanged.

A forced unsafe migration can give a workflow that cannot be deserialized, so the verdict comes
first and the migrated workflow's round trip is only the last of the checks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.util.diff import SpecDiff, diff_workflow, migrate_workflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

from .loading import PERSON_TASKS, ParsedDiagram
from .runtime import StateCodec

OPEN = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
#: Changes of a spec that do not matter to a task open at it: where its flows lead is what migrating changes.
ROUTING_ATTRIBUTES = {"inputs", "outputs"}
ATTRIBUTE_NAMES = {"bpmn_name": "名称", "lane": "泳道（角色）", "extensions": "表单或属性", "typename": "类型",
                   "manual": "办理方式", "cond_task_specs": "出口条件", "default_task_spec": "默认出口",
                   "operation_name": "处理器", "operation_params": "处理器参数"}
REPEATABLE_KINDS = PERSON_TASKS | {"serviceTask"}
#: A spec SpiffWorkflow aligned with one of another id: the node changed its id (a mapping says what it became).
IDENTITY_ATTRIBUTES = {"name", "bpmn_id"}


@dataclass
class Outcome:
    """The verdict on one workflow; when safe, the workflow has been migrated in place."""

    safe: bool
    reason: str
    waiting_at: tuple[str, ...]
    rows: list[tuple[str, int, str]] | None = None  # the migrated workflow as stored rows (task id, seq, payload)


def _name(diagram: ParsedDiagram, node_id: str) -> str:
    node = diagram.nodes.get(node_id)
    return f"「{node.name}」（{node_id}）" if node is not None else f"「{node_id}」"


def _reachable(spec: Any, seeds: Iterable[str]) -> set[str]:
    """Node ids reachable (strictly after) from the given ones along a spec's outputs."""
    seen: set[str] = set()
    stack = [spec.task_specs[name] for name in seeds if name in spec.task_specs]
    while stack:
        for out in stack.pop().outputs:
            if out.name not in seen:
                seen.add(out.name)
                stack.append(out)
    return seen


def mapping_problems(old: ParsedDiagram, new: ParsedDiagram, to_version: int,
                     mapping: Mapping[str, str]) -> list[str]:
    """Why a node mapping (old node id → new node id) cannot be used between two versions, in Chinese."""
    problems: list[str] = []
    here = f"第 {to_version} 版"
    for source, target in mapping.items():
        if source not in old.nodes:
            problems.append(f"映射的原环节「{source}」不在原版本的流程图中")
            continue
        if target not in new.nodes:
            problems.append(f"映射的目标环节「{target}」不在{here}的流程图中")
            continue
        if source in new.nodes:
            problems.append(f"原环节{_name(old, source)}在{here}中仍然存在，不需要映射")
        before, after = old.nodes[source], new.nodes[target]
        if (before.kind in PERSON_TASKS) != (after.kind in PERSON_TASKS) or (
                before.kind not in PERSON_TASKS and before.kind != after.kind):
            problems.append(f"{_name(old, source)}与{_name(new, target)}类型不同，不能映射")
        elif before.role != after.role:
            problems.append(f"{_name(old, source)}与{_name(new, target)}由不同角色办理，不能映射"
                            "（待办任务及其现场作业属于原角色）")
        elif _marks(before.properties) != _marks(after.properties):
            problems.append(f"{_name(old, source)}与{_name(new, target)}的现场作业、评审会或计时方式不同，不能映射")
    return problems


#: Properties a mapping may change: the form and the time limit (an open task keeps the due date it has).
MAPPABLE_PROPERTIES = {"formJsonSchemaFilename", "timeLimit"}


def _marks(properties: Mapping[str, str]) -> dict[str, str]:
    """The properties of a node that features attach rows to (site work, meetings, clocks)."""
    return {k: v for k, v in properties.items() if k not in MAPPABLE_PROPERTIES}


def _splice(wf: Any, task: Any) -> None:
    """Take a finished task out of the tree, its children moving up to its parent (their data is their own)."""
    parent = task.parent
    if parent is None:
        return
    position = parent._children.index(task.id)
    parent._children[position:position + 1] = list(task._children)
    for child in task.children:
        child._parent = parent.id
    task._children = []
    del wf.tasks[task.id]


def assess(codec: StateCodec, wf: Any, old: ParsedDiagram, new: ParsedDiagram, to_version: int,
           loop_counts: Mapping[str, int], mapping: Mapping[str, str] | None = None) -> Outcome:
    """Decide whether ``wf`` (running on ``old``) can move to ``new``; if it can, migrate it in place.

    ``mapping`` (old node id → new node id) moves tasks of a node whose id changed to the new node, as
    Camunda's migration instructions do; the caller validated it (:func:`mapping_problems`).
    An unsafe verdict may come after the workflow was already changed (the last checks look at the
    migrated result): whoever gets one must throw that workflow away, never store it.
    """
    mapping = dict(mapping or {})
    open_tasks = [t for t in wf.get_tasks(state=OPEN) if t.task_spec.name in old.nodes]
    # Where work waits: a join gateway waiting for its other branches is not a place anyone works at.
    waiting_at = tuple(dict.fromkeys(t.task_spec.name for t in open_tasks
                                     if not old.nodes[t.task_spec.name].kind.endswith("Gateway")))
    here = f"第 {to_version} 版"

    def unsafe(reason: str) -> Outcome:
        return Outcome(False, reason, waiting_at)

    failed = [t for t in open_tasks if t.state == TaskState.ERROR]
    if failed:
        return unsafe(f"环节{_name(old, failed[0].task_spec.name)}处于异常状态，请先处理再迁移")
    if not open_tasks:
        return unsafe("没有正在办理的环节")
    spec_diff = SpecDiff(codec.registry, wf.spec, new.spec)
    diff, _ = diff_workflow(codec.registry, wf, new.spec, dict(new.subprocess_specs))
    for task in wf.get_tasks():
        if task.task_spec.name in mapping:
            if task in diff.removed:
                diff.removed.remove(task)
            diff.alignment[task] = new.spec.task_specs[mapping[task.task_spec.name]]
    removed = set(diff.removed)
    for task in open_tasks:
        if task in removed:
            return unsafe(f"正在办理的环节{_name(old, task.task_spec.name)}在{here}中已删除；"
                          f"如它在{here}中换了标识，请添加映射（原环节 → 新环节）")
        if task.task_spec.name in mapping:
            continue  # the analyst said which node of the new version it becomes
        attributes = [a for a in spec_diff.changed.get(task.task_spec, ()) if a not in ROUTING_ATTRIBUTES]
        if IDENTITY_ATTRIBUTES & set(attributes):
            aligned = diff.alignment.get(task)
            became = f"（可能是{_name(new, aligned.name)}）" if aligned is not None and aligned.name in new.nodes else ""
            return unsafe(f"正在办理的环节{_name(old, task.task_spec.name)}在{here}中换了标识{became}；"
                          "请添加映射（原环节 → 新环节）")
        if attributes:
            what = "、".join(dict.fromkeys(ATTRIBUTE_NAMES.get(a, a) for a in attributes))
            return unsafe(f"正在办理的环节{_name(old, task.task_spec.name)}在{here}中有改动（{what}）")
    passed = [t for t in diff.removed if t.state in (TaskState.COMPLETED, TaskState.CANCELLED)]
    done = {t.task_spec.name for t in wf.get_tasks(state=TaskState.COMPLETED)}
    done |= {mapping[n] for n in list(done) if n in mapping}
    open_names = {t.task_spec.name for t in open_tasks}
    ahead_before = _reachable(wf.spec, open_names) | {mapping[n] for n in _reachable(wf.spec, open_names)
                                                      if n in mapping}
    targets = {mapping[n] for n in open_names if n in mapping}  # where the analyst said the work now waits
    ahead_after = _reachable(new.spec, {mapping.get(n, n) for n in open_names})
    # A mapped node's own send-back loop (nodes that lead back to it) is its way of working, not a repetition
    # the move forces: work there happens again only if the node decides so.
    ahead_after -= {n for n in ahead_after if targets & _reachable(new.spec, {n})}
    for node_id in new.nodes:
        node = new.nodes[node_id]
        if (node.kind in REPEATABLE_KINDS and node_id in done and node_id in ahead_after and node_id not in targets
                and node_id not in ahead_before):
            return unsafe(f"{here}中已办理过的环节{_name(new, node_id)}位于待办环节之后：迁移会重复这项工作")

    before = {(t.id, mapping.get(t.task_spec.name, t.task_spec.name)) for t in wf.get_tasks(state=OPEN)}
    open_data = {t.id: t.data for t in wf.get_tasks(state=OPEN)}
    last = wf.last_task
    # Finished work at nodes the new version no longer has leaves the tree (its record stays in the audit
    # trail and the work items); what came after it hangs from what came before it.
    for task in passed:
        _splice(wf, task)
    migrate_workflow(diff, wf, new.spec)
    # migrate_workflow re-predicts open tasks with their parent's data and forgets the last task: keep both.
    for task in wf.get_tasks(state=OPEN):
        if task.id in open_data:
            task.data = open_data[task.id]
    wf.last_task = last if last is not None and last.id in wf.tasks else _latest_completed(wf)
    stale = [t for t in wf.tasks.values() if new.spec.task_specs.get(t.task_spec.name) is not t.task_spec]
    if stale:
        return unsafe(f"迁移后仍有任务指向{here}中没有的环节{_name(old, stale[0].task_spec.name)}")
    after = {(t.id, t.task_spec.name) for t in wf.get_tasks(state=OPEN)}
    if after != before:
        return unsafe("迁移会改变待办环节（" + "、".join(sorted(n for _, n in after ^ before)) + "），不能迁移")
    rows = codec.rows(wf)
    problem = round_trip_problem(codec, wf, new, rows, loop_counts)
    if problem:
        return unsafe(problem)
    return Outcome(True, _safe_reason(old, new, here, waiting_at, mapping, passed), waiting_at, rows)


def _latest_completed(wf: Any) -> Any:
    done = [t for t in wf.tasks.values() if t.state == TaskState.COMPLETED]
    return max(done, key=lambda t: t.last_state_change) if done else None


def _safe_reason(old: ParsedDiagram, new: ParsedDiagram, here: str, waiting_at: tuple[str, ...],
                 mapping: Mapping[str, str], passed: list[Any]) -> str:
    """The outcome of a safe move in words: where the work waits afterwards, and what was left behind."""
    staying = [n for n in waiting_at if n not in mapping]
    moved = [n for n in waiting_at if n in mapping]
    parts = []
    if staying:
        parts.append(f"待办环节{'、'.join(_name(new, n) for n in staying)}在{here}中不变")
    if moved:
        parts.append("待办环节按映射改为" + "、".join(f"{_name(old, n)} → {_name(new, mapping[n])}" for n in moved))
    work = [t.task_spec.name for t in passed if old.nodes.get(t.task_spec.name) is not None
            and old.nodes[t.task_spec.name].kind in REPEATABLE_KINDS]
    others = [t.task_spec.name for t in passed if t.task_spec.name in old.nodes and t.task_spec.name not in work]
    if work:
        parts.append("已办理的" + "、".join(_name(old, n) for n in dict.fromkeys(work))
                     + f"在{here}中已删除，其办理记录保留在审计记录中")
    elif others:
        parts.append("经过的" + "、".join(_name(old, n) for n in dict.fromkeys(others))
                     + f"在{here}中已删除（网关或事件，不涉及办理工作）")
    return "可以迁移：" + "；".join(parts) + f"；之后按{here}的流程办理"


def round_trip_problem(codec: StateCodec, wf: Any, diagram: ParsedDiagram, rows: list[tuple[str, int, str]],
                       loop_counts: Mapping[str, int]) -> str | None:
    """Why a workflow would not come back unchanged from its stored rows on ``diagram`` (None if it does)."""
    try:
        meta = json.loads(codec.dump_meta(wf, {"loop_counts": dict(loop_counts)}))
        restored, _ = codec.restore(diagram, meta, rows, wf.script_engine)
        if codec.full_dict(restored) != codec.full_dict(wf):
            return "迁移后的流程状态保存再恢复后与迁移结果不一致，不能迁移"
    except (SpiffWorkflowException, KeyError, ValueError, TypeError, AttributeError) as exc:
        return f"迁移后的流程状态无法恢复（{exc.__class__.__name__}: {exc}），不能迁移"
    return None


def migrate_for_replay(codec: StateCodec, wf: Any, old: ParsedDiagram, new: ParsedDiagram, to_version: int,
                       loop_counts: Mapping[str, int], mapping: Mapping[str, str] | None = None) -> str | None:
    """Apply to a replayed workflow the migration recorded live (with its node mapping); the reason if it
    cannot be applied."""
    outcome = assess(codec, wf, old, new, to_version, loop_counts, mapping)
    return None if outcome.safe else f"重放时无法迁移到第 {to_version} 版：{outcome.reason}"
