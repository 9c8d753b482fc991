"""The workflow as stored: one compact row per SpiffWorkflow task, and which rows a step changed.

A step must cost the same after fifty send-back loops as after one, so nothing here walks the whole task
tree on a step. The :class:`Snapshot` remembers the stored form of the tasks that can still change — the
*open* ones (not completed or cancelled) — and their parents; :meth:`StateCodec.changes` looks only at
those and at what grew under them. A completed or cancelled task never changes again (SpiffWorkflow gives
it no new children and never touches its data; a retry reopens only failed tasks, which count as open).
``changes(..., full=True)`` compares every task instead (after a version migration rebuilt the tree).

A row is a JSON array (the task's UUID and its position ``seq`` are columns of the row)::

    [parent seq | null, [child seqs], last_state_change, state, spec name, triggered, internal_data, data]

where ``data`` is ``0`` (no data), ``1`` (the same as the parent's), ``[updates]`` or
``[updates, deletions]`` (a delta against the parent's data) or an object (the whole data). Tasks refer
to each other by ``seq`` instead of 36-character UUIDs. Rows written before this format (SpiffWorkflow's
own task dictionaries) are still read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from copy import copy
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.helpers.encoder import create_encoder
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from ..errors import WorkflowFailure
from .loading import ParsedDiagram

CLOSED = TaskState.COMPLETED | TaskState.CANCELLED
"""States a task never leaves (a failed task is retried, so it stays open)."""
NOT_FINISHED = TaskState.NOT_FINISHED_MASK

DATA_EMPTY = 0
DATA_AS_PARENT = 1

Fingerprint = tuple[float, int, tuple[UUID, ...], bool, str]


@dataclass
class Snapshot:
    """What is stored of a workflow, to tell which tasks a step changed.

    ``states`` and ``seq`` cover every task; ``fingerprints`` at least the open tasks and their parents;
    ``open`` maps each open task to its parent (a removed task's parent changed too)."""

    fingerprints: dict[UUID, Fingerprint]
    states: dict[UUID, int]
    seq: dict[UUID, int]
    next_seq: int
    open: dict[UUID, UUID | None] = field(default_factory=dict)


@dataclass
class Changes:
    """The difference between a workflow and its stored snapshot."""

    upserts: list[tuple[UUID, int, str, bool]]  # id, seq, payload, is_new
    deletions: list[UUID]
    transitions: list[tuple[UUID, str, int | None, int]]  # id, spec name, old state, new state
    open: dict[UUID, UUID | None] = field(default_factory=dict)  # the open tasks after the step → parent


class StateCodec:
    """Serializes workflows task by task (spec kept out) and rebuilds them."""

    def __init__(self) -> None:
        self.registry = BpmnWorkflowSerializer.configure(SPIFF_CONFIG)
        self._encoder = create_encoder(self.registry, None)
        self._serializer = BpmnWorkflowSerializer(self.registry)
        self._dumps = self._encoder(ensure_ascii=False, separators=(",", ":")).encode

    def new_workflow(self, diagram: ParsedDiagram, engine: Any) -> BpmnWorkflow:
        """A fresh workflow of a deployed diagram."""
        return BpmnWorkflow(diagram.spec, dict(diagram.subprocess_specs), script_engine=engine)

    @staticmethod
    def fingerprint(task: Any) -> Fingerprint:
        """Cheap identity of a task's stored form: anything that changes its row changes this (its data
        changes only while it runs, together with its state)."""
        internal = repr(task.internal_data) if task.internal_data else ""
        return (task.last_state_change, task.state, tuple(task._children), bool(task.triggered), internal)

    # ----------------------------------------------------------------- writing

    def changes(self, wf: BpmnWorkflow, snap: Snapshot, touched: Iterable[UUID] = (), *,
                full: bool = False) -> Changes:
        """Which rows to write and delete, and which tasks changed state; new tasks get their ``seq`` here.
        ``touched``: tasks whose data was changed in place (a correction) — the fingerprint does not cover
        data, so they are named, and the whole tree is looked at (a correction is rare)."""
        forced = set(touched)
        full = full or bool(forced)
        tasks = wf.tasks
        fresh = not snap.seq
        new_seq: dict[UUID, int] = {}
        next_seq = snap.next_seq
        candidates: list[Any] = []
        if full or fresh:
            for tid, task in tasks.items():  # creation order: a parent always precedes its children
                if tid not in snap.seq:
                    new_seq[tid] = next_seq
                    next_seq += 1
                candidates.append(task)
            deletions = [tid for tid in snap.seq if tid not in tasks]
        else:
            watched = set(snap.open)
            watched.update(parent for parent in snap.open.values() if parent is not None)
            deletions = [tid for tid in snap.open if tid not in tasks]
            seen: set[UUID] = set()
            for tid in sorted(watched, key=lambda t: snap.seq.get(t, -1)):
                task = tasks.get(tid)
                if task is None or tid in seen:
                    continue
                seen.add(tid)
                candidates.append(task)
                stack = [c for c in reversed(task._children) if c not in snap.seq and c not in seen]
                while stack:  # what grew under it, parents first
                    child_id = stack.pop()
                    child = tasks[child_id]
                    seen.add(child_id)
                    new_seq[child_id] = next_seq
                    next_seq += 1
                    candidates.append(child)
                    stack.extend(c for c in reversed(child._children) if c not in snap.seq and c not in seen)
        snap.next_seq = next_seq

        def seq_of(tid: UUID) -> int:
            found = new_seq.get(tid)
            return found if found is not None else snap.seq[tid]

        upserts: list[tuple[UUID, int, str, bool]] = []
        transitions: list[tuple[UUID, str, int | None, int]] = []
        written: set[UUID] = set()
        changed: set[UUID] = set()
        open_after: dict[UUID, UUID | None] = {}
        for task in candidates:
            tid = task.id
            if not task._state & CLOSED:
                open_after[tid] = task._parent
            is_new = tid in new_seq
            same = not is_new and tid not in forced and snap.fingerprints.get(tid) == self.fingerprint(task)
            if same and task._parent not in changed:
                continue
            if not same:
                changed.add(tid)
            written.add(tid)
            upserts.append((tid, seq_of(tid), self.dump_task(task, seq_of), is_new))
            old_state = snap.states.get(tid)
            if old_state != task._state:
                transitions.append((tid, task.task_spec.name, old_state, task._state))
        # A child's data is stored against its parent's: when a parent changed, rewrite children not looked at
        # above (a finished child of a changed task) that hold data of their own.
        for tid in list(changed):
            for child_id in tasks[tid]._children:
                child = tasks.get(child_id)
                if child is not None and child_id not in written and child.data:
                    written.add(child_id)
                    upserts.append((child_id, seq_of(child_id), self.dump_task(child, seq_of), False))
        return Changes(upserts, deletions, transitions, open_after)

    def dump_task(self, task: Any, seq_of: Any) -> str:
        """One task as a compact row (see the module docstring); ``seq_of`` maps a task id to its seq."""
        parent = task.parent
        data = task.data
        if not data:
            stored: Any = DATA_EMPTY
        elif parent is None:
            stored = data
        else:
            base = parent.data
            updates = {k: v for k, v in data.items() if k not in base or base[k] != v}
            deletions = [k for k in base if k not in data]
            if not updates and not deletions:
                stored = DATA_AS_PARENT
            elif len(deletions) > len(data):
                stored = data
            else:
                stored = [updates, deletions] if deletions else [updates]
        row = [seq_of(parent.id) if parent is not None else None, [seq_of(c) for c in task._children],
               task.last_state_change, task._state, task.task_spec.name, 1 if task.triggered else 0,
               task.internal_data or 0, stored]
        return self._dumps(row)

    def rows(self, wf: BpmnWorkflow) -> list[tuple[str, int, str]]:
        """Every task of a workflow as (task id, seq, payload), numbered afresh (a migrated workflow)."""
        order = {tid: seq for seq, tid in enumerate(wf.tasks)}
        return [(str(tid), order[tid], self.dump_task(task, order.__getitem__)) for tid, task in wf.tasks.items()]

    def commit(self, wf: BpmnWorkflow, snap: Snapshot, changes: Changes) -> None:
        """After a successful write, the snapshot is the new stored form."""
        tasks = wf.tasks
        for tid, seq, _, _ in changes.upserts:
            task = tasks[tid]
            snap.fingerprints[tid] = self.fingerprint(task)
            snap.states[tid] = task._state
            snap.seq[tid] = seq
        for tid in changes.deletions:
            snap.fingerprints.pop(tid, None)
            snap.states.pop(tid, None)
            snap.seq.pop(tid, None)
        snap.open = dict(changes.open)
        for parent in snap.open.values():
            if parent is not None and parent not in snap.fingerprints and parent in tasks:
                snap.fingerprints[parent] = self.fingerprint(tasks[parent])

    @staticmethod
    def release(wf: BpmnWorkflow) -> None:
        """Let go of a workflow nobody will use again. A workflow and its tasks refer to each other, so left alone
        it is freed only by the garbage collector's full passes — which walk every live object and, with many
        workflows loaded and dropped, cost more than loading them. Cutting the workflow's hold on its tasks frees
        them at once."""
        wf.event_manager.tasks.clear()
        wf.tasks.clear()
        wf.task_tree = None
        wf.last_task = None

    # ----------------------------------------------------------------- the open tasks, without a walk

    @staticmethod
    def open_tasks(wf: BpmnWorkflow, snap: Snapshot | Changes) -> list[Any]:
        """The tasks that may still change (as of the last commit, or of a step's changes), in tree order."""
        tasks = wf.tasks
        return [tasks[tid] for tid in snap.open if tid in tasks]

    def ready_user_tasks(self, wf: BpmnWorkflow, snap: Snapshot | Changes) -> list[Any]:
        """READY tasks that wait for a person."""
        return [t for t in self.open_tasks(wf, snap) if t._state == TaskState.READY and t.task_spec.manual]

    def error_tasks(self, wf: BpmnWorkflow, snap: Snapshot) -> list[Any]:
        """Tasks that failed (a handler or an expression)."""
        return [t for t in self.open_tasks(wf, snap) if t._state == TaskState.ERROR]

    def is_completed(self, wf: BpmnWorkflow, changes: Changes) -> bool:
        """Whether no task is left unfinished (SpiffWorkflow's ``is_completed``, without its walk)."""
        if not wf.completed and not any(t._state & NOT_FINISHED for t in self.open_tasks(wf, changes)):
            wf.completed = True  # what is_completed() records on the workflow too
        return bool(wf.completed)

    # ----------------------------------------------------------------- the header

    def dump_meta(self, wf: BpmnWorkflow, extra: Mapping[str, Any]) -> str:
        """The workflow-level fields, plus our own bookkeeping. Once the process ended, its data is the data
        of its last task: it is then stored as that reference instead of a second copy."""
        if wf.subprocesses:
            raise WorkflowFailure("子流程暂不支持持久化")
        data = self.registry.clean(wf.data)
        last = wf.last_task
        meta = {
            "data": "=last_task" if data and last is not None and data == last.data else self.registry.convert(data),
            "correlations": wf.correlations,
            "last_task": str(last.id) if last is not None else None,
            "success": wf.success,
            "completed": wf.completed,
            "root": str(wf.task_tree.id),
            "bpmn_events": self.registry.convert(wf.bpmn_events),
            **extra,
        }
        return self._dumps(meta)

    def full_dict(self, wf: BpmnWorkflow) -> dict[str, Any]:
        """The whole workflow in SpiffWorkflow's dict form, spec excluded, as plain JSON data."""
        dct = self._serializer.to_dict(wf)
        dct.pop("spec", None)
        dct.pop("subprocess_specs", None)
        return json.loads(json.dumps(dct, cls=self._encoder))

    # ----------------------------------------------------------------- reading

    def restore(self, diagram: ParsedDiagram, meta: Mapping[str, Any], rows: Iterable[tuple[str, int, str]],
                engine: Any) -> tuple[BpmnWorkflow, Snapshot]:
        """Rebuild a workflow from its header and task rows (rows sorted by seq: parents first)."""
        wf = BpmnWorkflow(diagram.spec, dict(diagram.subprocess_specs), script_engine=engine, deserializing=True)
        rows = list(rows)
        ids = {seq: UUID(task_id) for task_id, seq, _ in rows}
        specs = wf.spec.task_specs
        tasks = wf.tasks
        events = wf.event_manager
        snap = Snapshot({}, {}, {}, (max(ids) + 1) if ids else 0)
        restore_value = self.registry.restore
        parsed = json.loads(f"[{','.join(payload for _, _, payload in rows)}]")  # one parse for every row
        for (_, seq, payload), row in zip(rows, parsed):
            if isinstance(row, dict):  # a row written before the compact format
                task = restore_value(row, workflow=wf)
            else:
                parent_seq, children, changed_at, state, spec_name, triggered, internal, stored = row
                if '"typename"' in payload:
                    internal, stored = restore_value(internal), restore_value(stored)
                spec = specs.get(spec_name)
                task = Task(wf, spec, state=state, id=ids[seq])
                task._parent = ids[parent_seq] if parent_seq is not None else None
                task._children = [ids[c] for c in children]
                task.last_state_change = changed_at
                task.triggered = bool(triggered)
                task.internal_data = internal or {}
                task.data = self._data(task, stored)
                if isinstance(spec, CatchingEvent) and state == TaskState.WAITING:
                    events.add_task(task)
            snap.seq[task.id] = seq
            snap.states[task.id] = task._state
        for tid, task in tasks.items():
            if not task._state & CLOSED:
                snap.open[tid] = task._parent
        for tid in {*snap.open, *(p for p in snap.open.values() if p is not None)}:
            if tid in tasks:
                snap.fingerprints[tid] = self.fingerprint(tasks[tid])
        wf.task_tree = tasks[UUID(meta["root"])]
        wf.success = meta["success"]
        wf.completed = meta.get("completed", False)
        wf.correlations = dict(meta.get("correlations", {}))
        wf.last_task = tasks.get(UUID(meta["last_task"])) if meta.get("last_task") else None
        stored_data = meta.get("data", {})
        if stored_data == "=last_task" and wf.last_task is not None:
            wf.data = dict(wf.last_task.data)
        else:
            wf.data = restore_value(stored_data)
        wf.bpmn_events = restore_value(meta.get("bpmn_events", []))
        wf.script_engine = engine  # deserialized workflows come back with the default engine
        return wf, snap

    @staticmethod
    def data_of(rows: Iterable[tuple[str, int, str]], task_id: str) -> dict[str, Any]:
        """One task's data straight from stored rows (as JSON values; no workflow is built): its own row and
        its ancestors' rows, in either row format."""
        by_seq: dict[int, Any] = {}
        seq_of_id: dict[str, int] = {}
        for tid, seq, payload in rows:
            by_seq[seq] = json.loads(payload)
            seq_of_id[tid] = seq
        chain: list[Any] = []
        current: int | None = seq_of_id.get(task_id)
        while current is not None and current in by_seq:
            row = by_seq[current]
            chain.append(row)
            if isinstance(row, dict):  # the earlier format names its parent by id
                parent = row.get("parent")
                current = seq_of_id.get(parent) if parent else None
            else:
                current = row[0]
        data: dict[str, Any] = {}
        for row in reversed(chain):
            if isinstance(row, dict):
                if row.get("data"):
                    data = dict(row["data"])
                delta = row.get("delta") or {}
                data.update(delta.get("updates", {}))
                for key in delta.get("deletions", []):
                    data.pop(key, None)
                continue
            stored = row[7]
            if stored == DATA_EMPTY:
                data = {}
            elif isinstance(stored, dict):
                data = dict(stored)
            elif stored != DATA_AS_PARENT:
                data.update(stored[0])
                for key in stored[1] if len(stored) > 1 else ():
                    data.pop(key, None)
        return data

    @staticmethod
    def last_completed(rows: Iterable[tuple[str, int, str]]) -> str | None:
        """The id of the task that completed last, straight from stored rows in either row format (None if
        no task completed)."""
        done: list[tuple[float, str]] = []
        for tid, _, payload in rows:
            row = json.loads(payload)
            if isinstance(row, dict):
                changed_at, state = row.get("last_state_change") or 0, row.get("state")
            else:
                changed_at, state = row[2] or 0, row[3]
            if state == TaskState.COMPLETED:
                done.append((changed_at, tid))
        return max(done)[1] if done else None

    @staticmethod
    def _data(task: Any, stored: Any) -> dict[str, Any]:
        """A task's data from its stored form: its parent's data with the delta applied.

        An open task gets its own copy made as SpiffWorkflow makes it (mutable values copied one level deep:
        the task may still change them). A completed or cancelled task's data never changes again, nor does
        its parent's once that is closed too: they share values, or the very dictionary when nothing differs
        — what keeps loading a long history cheap."""
        if stored == DATA_EMPTY:
            return {}
        if isinstance(stored, dict):
            return stored
        parent = task.parent
        base = parent.data
        if task._state & CLOSED:
            if stored == DATA_AS_PARENT and parent._state & CLOSED:
                return base
            data = dict(base)
        else:
            data = {k: copy(v) if isinstance(v, (dict, list, set)) else v for k, v in base.items()}
        if stored != DATA_AS_PARENT:
            data.update(stored[0])
            for key in stored[1] if len(stored) > 1 else ():
                data.pop(key, None)
        return data
