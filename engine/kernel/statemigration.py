"""Moving a running application's workflow to a newer version of its process, only when that is safe.

Safe means the move loses and repeats no work, and the result is a workflow we can store and load:

* nothing is open (ready, waiting, started, failed) at a node the new version removed or changed
  (a change of its outgoing or incoming flows alone does not count: that is what the move is for);
* no node the application already passed was removed (its record would be lost);
* the new version does not put a person's or a handler's task that was already done back ahead of
  the open tasks where the old version did not (it would be done twice);
* after SpiffWorkflow's ``migrate_workflow`` every task points at a node of the new version, the
  open tasks are the very same ones (so their work items stay valid), and the workflow survives
  a round trip through :class:`StateCodec` unchanged.

A forced unsafe migration can give a workflow that cannot be deserialized, so the verdict comes
first and :func:`migrate_in_place` is only the last of the checks.
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


def assess(codec: StateCodec, wf: Any, old: ParsedDiagram, new: ParsedDiagram, to_version: int,
           loop_counts: Mapping[str, int]) -> Outcome:
    """Decide whether ``wf`` (running on ``old``) can move to ``new``; if it can, migrate it in place.

    An unsafe verdict may come after the workflow was already changed (the last checks look at the
    migrated result): whoever gets one must throw that workflow away, never store it.
    """
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
    removed = set(diff.removed)
    for task in open_tasks:
        if task in removed:
            return unsafe(f"正在办理的环节{_name(old, task.task_spec.name)}在{here}中已删除")
        attributes = [a for a in spec_diff.changed.get(task.task_spec, ()) if a not in ROUTING_ATTRIBUTES]
        if attributes:
            what = "、".join(dict.fromkeys(ATTRIBUTE_NAMES.get(a, a) for a in attributes))
            return unsafe(f"正在办理的环节{_name(old, task.task_spec.name)}在{here}中有改动（{what}）")
    passed = [t for t in diff.removed if t.state == TaskState.COMPLETED]
    if passed:
        # Name a person's task if one was passed: that is the work whose record would be lost.
        passed.sort(key=lambda t: old.nodes[t.task_spec.name].kind not in PERSON_TASKS
                    if t.task_spec.name in old.nodes else True)
        return unsafe(f"已经过的环节{_name(old, passed[0].task_spec.name)}在{here}中已删除：迁移会丢失这段办理记录")
    done = {t.task_spec.name for t in wf.get_tasks(state=TaskState.COMPLETED)}
    open_names = {t.task_spec.name for t in open_tasks}
    ahead_before = _reachable(wf.spec, open_names)
    ahead_after = _reachable(new.spec, open_names)
    for node_id in new.nodes:
        node = new.nodes[node_id]
        if (node.kind in REPEATABLE_KINDS and node_id in done and node_id in ahead_after
                and node_id not in ahead_before):
            return unsafe(f"{here}中已办理过的环节{_name(new, node_id)}位于待办环节之后：迁移会重复这项工作")

    before = {(t.id, t.task_spec.name) for t in wf.get_tasks(state=OPEN)}
    migrate_workflow(diff, wf, new.spec)
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
    names = "、".join(_name(new, n) for n in waiting_at)
    return Outcome(True, f"可以迁移：待办环节{names}在{here}中不变，之后按{here}的流程办理", waiting_at, rows)


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
                       loop_counts: Mapping[str, int]) -> str | None:
    """Apply to a replayed workflow the migration recorded live; the reason if it cannot be applied."""
    outcome = assess(codec, wf, old, new, to_version, loop_counts)
    return None if outcome.safe else f"重放时无法迁移到第 {to_version} 版：{outcome.reason}"
