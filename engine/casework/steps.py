"""Steps: accepting an application, claiming, completing, reassigning and retrying tasks — each one
transaction — and the ONE write path every step goes through.

The write path (:meth:`Steps._advance_and_persist`): run SpiffWorkflow until the process waits, write the
task rows that changed, open and close work items, let the registered step hooks add their rows (due
dates, site jobs), append the audit events, and save the application header with its revision checked.
It names no feature: features take part through :mod:`engine.casework.hooks`.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

import handlers
from handlers.errors import HandlerError
from handlers.numbering import application_number

from ..config import EngineConfig
from ..definitions.versions import Definitions
from ..errors import Conflict, ExpressionError, Forbidden, FormValidationError, InvalidInput, NotFound, WorkflowFailure
from ..kernel import expressions
from ..kernel.codec import Changes
from ..kernel.loading import ParsedDiagram
from ..kernel.runtime import (
    COMPLETED,
    READY,
    Guard,
    RunContext,
    ScriptEngine,
    Snapshot,
    StateCodec,
    advance,
    complete_user_task,
    error_tasks,
    flows_entered,
    ready_user_tasks,
    reset_for_retry,
)
from ..kernel.transitions import record_moves
from ..results import StepResult, TaskInfo, Upload
from ..store import Store
from ..store.files import DocumentFiles
from ..store.tables import APPS, ITEMS, SEQUENCES, USERS, WF_TASKS
from ..vocabulary import (APP_STATUS_NAMES, ENDED, ROLES, SUPERVISOR_ROLE, SYSTEM, AppStatus, ContactSource, EventKind,
                          TaskStatus)
from . import audit
from .accounts import Accounts, names_of
from .audit import PendingEvent, append_only
from .documents import NoServices, StepServices, store_uploads
from .hooks import ClosedTask, OpeningTask, StepContext, StepHook
from .delegation import stand_in_refusal
from .rows import APP_COLUMNS, AppRow, already_done, app_by_number, find_item, task_info

# The statements of the hot path, built once: constructing SQLAlchemy expressions per call costs
# more than executing them on SQLite.
# A completion reads the task, its application and the user's roles in one round trip, locking the task's
# row and then the application's (the order claims and releases take them in).
TASK_FOR_STEP = (select(ITEMS, *(c.label(f"app__{c.name}") for c in APP_COLUMNS),
                        select(USERS.c.roles).where(USERS.c.username == bindparam("username"),
                                                    USERS.c.active.is_(True)).scalar_subquery().label("user__roles"))
                 .join_from(ITEMS, APPS, APPS.c.id == ITEMS.c.application_id)
                 .where(ITEMS.c.id == bindparam("id"))
                 .with_for_update(of=[ITEMS, APPS]))
DELETE_TASK_ROWS = delete(WF_TASKS).where(WF_TASKS.c.application_id == bindparam("a"),
                                          WF_TASKS.c.seq.in_(bindparam("seqs", expanding=True)))
LOAD_TASK_ROWS = (select(WF_TASKS.c.task_id, WF_TASKS.c.seq, WF_TASKS.c.payload)
                  .where(WF_TASKS.c.application_id == bindparam("app_id")).order_by(WF_TASKS.c.seq))
INSERT_ITEMS = insert(ITEMS)
CLOSE_ITEM = update(ITEMS).where(ITEMS.c.id == bindparam("item_id")).values(
    status=bindparam("status"), completed_at=bindparam("at"))
COMPLETE_ITEM = update(ITEMS).where(ITEMS.c.id == bindparam("item_id")).values(
    status=bindparam("status"), completed_at=bindparam("at"), completed_by=bindparam("actor"),
    claimed_by=func.coalesce(ITEMS.c.claimed_by, bindparam("actor")))
SAVE_APP = update(APPS).where(APPS.c.id == bindparam("app_id"), APPS.c.revision == bindparam("expected")).values(
    status=bindparam("status"), error_message=bindparam("error"), updated_at=bindparam("at"),
    completed_at=bindparam("completed_at"), wf_meta=bindparam("meta"), audit_seq=bindparam("seq"),
    audit_head=bindparam("head"), revision=bindparam("next_revision"))
INSERT_APP = insert(APPS).returning(APPS.c.id)
BUMP_SEQUENCE = (update(SEQUENCES).where(SEQUENCES.c.key == bindparam("counter")).values(value=SEQUENCES.c.value + 1)
                 .returning(SEQUENCES.c.value))
OPEN_ITEMS = (select(ITEMS).where(ITEMS.c.application_id == bindparam("app_id"), ITEMS.c.status == TaskStatus.READY)
              .order_by(ITEMS.c.created_at, ITEMS.c.id))


@dataclass
class Live:
    """A workflow held in memory between steps, valid while the row's revision matches."""

    revision: int
    wf: Any
    snapshot: Snapshot
    counts: dict[str, int]


class Authority(Protocol):
    """Completing a task under another authority than its assignee's (a meeting deciding it): which roles
    may decide, what the audit event records, and what else to write in the same transaction."""

    @property
    def record(self) -> Mapping[str, Any]: ...

    @property
    def also(self) -> Callable[[Connection], None]: ...

    def refusal(self, node_name: str, username: str, roles: Iterable[str]) -> str | None: ...


class Steps:
    """Every action that moves an application, each in one transaction."""

    def __init__(self, store: Store, config: EngineConfig, definitions: Definitions, accounts: Accounts,
                 files: DocumentFiles, registry: Mapping[str, handlers.Operator], clock: Callable[[], datetime],
                 hooks: Sequence[StepHook]) -> None:
        self.store, self.config, self.definitions, self.accounts = store, config, definitions, accounts
        self.files, self.registry, self.clock, self.hooks = files, registry, clock, tuple(hooks)
        self.codec = StateCodec()
        # new and changed task rows in one statement
        self._write_rows = store.upsert(WF_TASKS, ("application_id", "seq"), ("payload",))
        self._live: OrderedDict[int, Live] = OrderedDict()
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- the actions

    def start(self, process_key: str, data: Mapping[str, Any], by: str,
              submitted_at: datetime | None = None) -> StepResult:
        """Accept an application (受理): validate the start form, number it and run to the first wait.

        ``submitted_at``: when another channel (the online hall, through the API) received the customer's
        submission — the first-contact evidence no clerk types. Without it, a first-contact time typed in the
        form is kept as the clerk's word, refused if it lies after the acceptance."""
        with self.store.begin() as conn:
            roles = self.accounts.roles_of(conn, by)
            row = self.definitions.newest_row(conn, process_key)
            diagram = self.definitions.diagram(conn, row.id)
            start_nodes = [n for n in diagram.nodes.values() if n.kind == "startEvent"]
            start_role = start_nodes[0].role if start_nodes else None
            if start_role and start_role not in roles:
                raise Forbidden(f"受理需要「{ROLES[start_role]}」角色，您没有该角色")
            form = diagram.forms.get(diagram.start_form) if diagram.start_form else None
            now = self.clock()
            clean = form.validate(data, diagram.form_context({}, now, self.config.policy)) if form else dict(data)
            first_contact, contact_source = first_contact_evidence(clean.get("first_contact_at"), now, submitted_at)
            app_no = self._next_app_no(conn, process_key, now)
            app = AppRow(id=0, app_no=app_no, process_key=process_key, version_id=row.id,
                         customer_name=str(clean.get("customer_name") or ""), status=AppStatus.RUNNING, revision=0,
                         audit_seq=0, audit_head="", wf_meta="{}", error_message=None)
            app.id = conn.execute(INSERT_APP, {
                "app_no": app_no, "process_key": process_key, "version_id": row.id, "status": AppStatus.RUNNING,
                "customer_name": app.customer_name, "customer_type": str(clean.get("customer_type") or ""),
                "created_by": by, "created_at": now, "updated_at": now, "completed_at": None,
                "first_contact_at": first_contact, "first_contact_source": contact_source, "revision": 0,
                "wf_meta": "{}",
                "error_message": None, "audit_seq": 0, "audit_head": ""}).scalar_one()
            run = self._run_context(conn, app, diagram)
            wf = self.codec.new_workflow(diagram, ScriptEngine(self.registry, run))
            for task in wf.get_tasks(state=READY):
                task.data.update(clean)
            live = Live(0, wf, Snapshot({}, {}, {}, 0), {})
            events = [PendingEvent(EventKind.APPLICATION_STARTED, by, now,
                                   {"process": process_key, "version": row.version, "app_no": app_no, "data": clean})]
            result = self._advance_and_persist(conn, app, diagram, live, run, events, by, accepted=True)
        self._checkin(app.id, live)
        return result

    def claim(self, task_id: str, user: str) -> TaskInfo:
        """Take a task of one of my roles so that nobody else works on it."""
        with self.store.begin() as conn:
            item = find_item(conn, task_id, lock=True)
            reason, _ = stand_in_refusal(conn, task_info(item), user, self.accounts.roles_of(conn, user),
                                         self.clock(), claimed_counts=False)
            if reason:
                raise Forbidden(reason)
            if item["claimed_by"] and item["claimed_by"] != user:
                holder = names_of(conn, [item["claimed_by"]]).get(item["claimed_by"], "其他同事")
                raise Conflict(f"该任务已被{holder}认领")
            if item["status"] != TaskStatus.READY:
                raise Conflict(already_done(item, names_of(conn, [item["completed_by"]])))
            now = self.clock()
            conn.execute(update(ITEMS).where(ITEMS.c.id == item["id"]).values(claimed_by=user, claimed_at=now))
            append_only(conn, item["application_id"], PendingEvent(
                EventKind.TASK_CLAIMED, user, now, {"task": item["id"]}, item["node_id"], item["id"]))
            return task_info({**item, "claimed_by": user, "claimed_at": now})

    def release(self, task_id: str, user: str) -> TaskInfo:
        """Give a claimed task back to the pool."""
        with self.store.begin() as conn:
            item = find_item(conn, task_id, lock=True)
            if item["claimed_by"] != user:
                raise Forbidden("只能释放自己认领的任务")
            conn.execute(update(ITEMS).where(ITEMS.c.id == item["id"]).values(claimed_by=None, claimed_at=None))
            append_only(conn, item["application_id"], PendingEvent(
                EventKind.TASK_RELEASED, user, self.clock(), {"task": item["id"]}, item["node_id"], item["id"]))
            return task_info({**item, "claimed_by": None, "claimed_at": None})

    def complete(self, task_id: str, user: str, data: Mapping[str, Any], uploads: Iterable[Upload] = (),
                 authority: Authority | None = None) -> StepResult:
        """Submit a user task's form (and its documents); the process runs on until it waits again. Under
        another ``authority`` (a meeting deciding the task), that authority says who may."""
        uploads = tuple(uploads)
        with self.store.begin() as conn:
            item, roles, app = self._task_for_step(conn, task_id, user)
            if item["status"] != TaskStatus.READY:
                raise Conflict(already_done(item, names_of(conn, [item["completed_by"]])))
            on_behalf_of = None
            if authority is None:
                reason, on_behalf_of = stand_in_refusal(conn, task_info(item), user, roles, self.clock())
            else:
                reason = authority.refusal(item["node_name"], user, roles)
            if reason:
                raise Forbidden(reason)
            if app.status == AppStatus.ERROR:
                raise WorkflowFailure(f"申请 {app.app_no} 处于异常状态，请先处理：{app.error_message}")
            refuse_unless_moving(app)
            diagram = self.definitions.diagram(conn, app.version_id)
            node = diagram.nodes.get(item["node_id"])
            for hook in self.hooks:
                hook.check_completion(conn, item, node)
            form = diagram.form_for(item["node_id"])
            live = self._checkout(conn, app, diagram)
            try:
                # the form's rules see the data this task sees (what earlier steps entered)
                earlier = live.wf.get_task_from_id(UUID(item["id"])).data
                context = diagram.form_context(earlier, self.clock(), self.config.policy)
                clean = form.validate(data, context) if form else dict(data)
                received = [v for value in clean.values() if isinstance(value, list) for v in value
                            if isinstance(v, str)]
                stored = store_uploads(conn, self.files, app.id, form, uploads, received, self.clock())
            except InvalidInput:
                self._checkin(app.id, live)  # nothing ran: the workflow in memory is still the stored one
                raise
            run = self._run_context(conn, app, diagram)
            live.wf.script_engine = ScriptEngine(self.registry, run)
            try:
                complete_user_task(live.wf, UUID(item["id"]), clean)
                payload: dict[str, Any] = {"data": clean}
                if stored:
                    payload["documents"] = stored
                if on_behalf_of:
                    payload["on_behalf_of"] = on_behalf_of  # a substitute acting while the holder is on leave
                if authority is not None:
                    payload.update(authority.record)
                    authority.also(conn)
                events = [PendingEvent(EventKind.TASK_COMPLETED, user, self.clock(), payload, item["node_id"],
                                       item["id"])]
                result = self._advance_and_persist(conn, app, diagram, live, run, events, user, completed=item["id"])
            except BaseException:
                self._drop(live)  # the in-memory workflow may be half-run: never reuse it
                raise
        self._checkin(app.id, live)
        return result

    def reassign(self, task_id: str, to_user: str, by: str) -> TaskInfo:
        """A supervisor (营销部) hands a task to another person of the task's role."""
        with self.store.begin() as conn:
            if SUPERVISOR_ROLE not in self.accounts.roles_of(conn, by):
                raise Forbidden(f"只有「{ROLES[SUPERVISOR_ROLE]}」可以改派任务")
            item = find_item(conn, task_id, lock=True)
            if item["status"] != TaskStatus.READY:
                raise Conflict(already_done(item, names_of(conn, [item["completed_by"]])))
            if item["role"] not in self.accounts.roles_of(conn, to_user):
                who = names_of(conn, [to_user]).get(to_user, to_user)
                raise InvalidInput(f"{who}没有「{ROLES.get(item['role'], item['role'])}」角色，不能接手该任务")
            conn.execute(update(ITEMS).where(ITEMS.c.id == item["id"]).values(
                assignee=to_user, claimed_by=None, claimed_at=None))
            previous = item["assignee"] or item["claimed_by"]
            for hook in self.hooks:
                hook.task_reassigned(conn, item["id"], previous, to_user)
            append_only(conn, item["application_id"], PendingEvent(
                EventKind.TASK_REASSIGNED, by, self.clock(), {"task": item["id"], "from": previous, "to": to_user},
                item["node_id"], item["id"]))
            return task_info({**item, "assignee": to_user, "claimed_by": None, "claimed_at": None})

    def retry(self, app_no: str, by: str) -> StepResult:
        """Run again the tasks that failed (a handler error, say) after the cause is fixed."""
        with self.store.begin() as conn:
            self.accounts.roles_of(conn, by)
            app = app_by_number(conn, app_no, lock=True)
            refuse_unless_moving(app)
            diagram = self.definitions.diagram(conn, app.version_id)
            live = self._checkout(conn, app, diagram)
            failed = self.codec.error_tasks(live.wf, live.snapshot)
            if not failed:
                self._checkin(app.id, live)
                raise Conflict(f"申请 {app_no} 没有出错的任务可重试")
            run = self._run_context(conn, app, diagram)
            live.wf.script_engine = ScriptEngine(self.registry, run)
            try:
                for task in failed:
                    reset_for_retry(task)
                events = [PendingEvent(EventKind.APPLICATION_RETRIED, by, self.clock(),
                                       {"tasks": [t.task_spec.name for t in failed]})]
                result = self._advance_and_persist(conn, app, diagram, live, run, events, by)
            except BaseException:
                self._drop(live)
                raise
        self._checkin(app.id, live)
        return result

    # ----------------------------------------------------------------- the one write path

    def _advance_and_persist(self, conn: Connection, app: AppRow, diagram: ParsedDiagram, live: Live,
                             run: RunContext, events: list[PendingEvent], actor: str,
                             completed: str | None = None, accepted: bool = False,
                             outcome: tuple[str, str | None] | None = None,
                             touched: Sequence[UUID] = ()) -> StepResult:
        """``accepted``: the step is the acceptance; ``outcome``: the status (and error message) to keep, for an
        action that runs no engine step (a correction, a withdrawal); ``touched``: tasks whose data the action
        changed in place."""
        wf = live.wf
        error = advance(wf, Guard(live.counts, self.config.max_loop_iterations)) if outcome is None else None
        now = self.clock()
        changes = self.codec.changes(wf, live.snapshot, touched)
        self._write_task_rows(conn, app.id, changes, live.snapshot)

        # What the engine did in this step is recorded with the input that made it (replay compares the moves;
        # the flows taken let the kept flow counts be counted again from the trail)
        flows = flows_entered(wf, diagram, changes.transitions)
        moves = record_moves(changes.transitions, flows)
        if moves and events:
            events[0] = replace(events[0], payload={**events[0].payload, **moves})
        elif moves:
            events.append(PendingEvent(EventKind.ENGINE_TRANSITIONS, actor, now, moves))
        for call in run.calls:
            events.append(PendingEvent(EventKind.SERVICE_CALLED, SYSTEM, now,
                                       {"operator": call.operator, "params": call.params, "result": call.result},
                                       call.node_id, call.task_id))

        if outcome is not None:
            status, error = outcome
        elif error:
            status = AppStatus.ERROR
        elif self.codec.is_completed(wf, changes):
            status = AppStatus.COMPLETED
        else:
            status = AppStatus.RUNNING
        inputs = (events[0].payload.get("data") or {}) if events else {}
        step = StepContext(conn, diagram, app.id, app.app_no, now, actor, process_key=app.process_key,
                           accepted=accepted, finished=status == AppStatus.COMPLETED, status=status, inputs=inputs,
                           data=_data_of(wf) or inputs, events=events,
                           flows=flows)
        opening: list[OpeningTask] = []
        closed: list[ClosedTask] = []
        for tid, name, old, new in changes.transitions:
            task = wf.tasks.get(tid)
            if task is None or not task.task_spec.manual:
                continue
            if new == READY:
                opening.append(self._open(step, app, task, name))
            elif old == READY:
                closed.append(ClosedTask(str(tid), name, TaskStatus.COMPLETED if new == COMPLETED
                                         else TaskStatus.CANCELLED))
        new_items = [o.item for o in opening]
        for o in opening:
            events.append(PendingEvent(EventKind.TASK_READY, SYSTEM, now, o.event, o.item["node_id"], o.item["id"]))
        if new_items:
            conn.execute(INSERT_ITEMS, new_items)
        for item in closed:
            params = {"item_id": item.id, "status": item.status, "at": now, "actor": actor}
            conn.execute(COMPLETE_ITEM if item.id == completed else CLOSE_ITEM, params)
        for hook in self.hooks:
            if opening:
                hook.tasks_opened(step, opening)
            if closed:
                hook.tasks_closed(step, closed)
            hook.step_done(step, opening, closed)

        if outcome is not None:
            pass  # the action keeps the status it chose (no engine step ran: nothing errs or ends here)
        elif status == AppStatus.ERROR:
            events.append(PendingEvent(EventKind.APPLICATION_ERROR, SYSTEM, now, {"message": error}))
        elif status == AppStatus.COMPLETED:
            events.append(PendingEvent(EventKind.APPLICATION_COMPLETED, SYSTEM, now, {}))
        audit.append(conn, app, events)
        changed = conn.execute(SAVE_APP, {
            "app_id": app.id, "expected": app.revision, "status": status, "error": error, "at": now,
            "completed_at": now if status == AppStatus.COMPLETED else None,
            "meta": self.codec.dump_meta(wf, {"loop_counts": live.counts}), "seq": app.audit_seq,
            "head": app.audit_head, "next_revision": app.revision + 1}).rowcount
        if changed != 1:
            raise Conflict("申请已被他人同时修改，请刷新后重试")
        app.revision += 1
        app.status = status
        self.codec.commit(wf, live.snapshot, changes)
        live.revision = app.revision
        if {str(t.id) for t in self.codec.ready_user_tasks(wf, live.snapshot)} == {i["id"] for i in new_items}:
            # every task waiting now opened in this step: the rows just written are the open items
            # (all created now, so in the query's order by id), no need to read them back
            open_items: Any = sorted(new_items, key=lambda i: i["id"])
        else:
            open_items = conn.execute(OPEN_ITEMS, {"app_id": app.id}).mappings().all()
        return StepResult(app.app_no, status, tuple(task_info(i) for i in open_items), error)

    def _write_task_rows(self, conn: Connection, app_id: int, changes: Changes, snapshot: Snapshot) -> None:
        """Write new and changed task rows, delete the gone ones (rows are keyed by their seq)."""
        if changes.upserts:
            conn.execute(self._write_rows, [{"application_id": app_id, "seq": seq, "task_id": str(tid),
                                             "payload": payload} for tid, seq, payload, _ in changes.upserts])
        if changes.deletions:
            conn.execute(DELETE_TASK_ROWS, {"a": app_id, "seqs": [snapshot.seq[t] for t in changes.deletions]})

    def _open(self, step: StepContext, app: AppRow, task: Any, name: str) -> OpeningTask:
        """The work item of a user task that became ready, with what every hook adds to it."""
        node = step.diagram.nodes.get(name)
        assignee = None
        if node is not None and node.assignee:
            value = run_expression(node.assignee, task.data)
            assignee = str(value) if value else None
        item = {
            "id": str(task.id), "application_id": app.id, "app_no": app.app_no, "process_key": app.process_key,
            "customer_name": app.customer_name, "node_id": name, "node_name": node.name if node else name,
            "role": (node.role if node and node.role else ""), "form": (node.form or "") if node else "",
            "assignee": assignee, "claimed_by": None, "claimed_at": None, "status": TaskStatus.READY,
            "created_at": step.now, "completed_at": None, "completed_by": None}
        opening = OpeningTask(item, node, task.data, {"role": item["role"], "assignee": assignee})
        for hook in self.hooks:
            hook.task_opening(step, opening)
        return opening

    def persist(self, conn: Connection, app: AppRow, diagram: ParsedDiagram, live: Live,
                events: list[PendingEvent], actor: str, outcome: tuple[str, str | None],
                touched: Sequence[UUID] = ()) -> StepResult:
        """Write what an action did to a workflow without running it on (a correction, a withdrawal): through
        the one write path, with the status it leaves the case in."""
        run = self._run_context(conn, app, diagram)
        return self._advance_and_persist(conn, app, diagram, live, run, events, actor, outcome=outcome,
                                         touched=touched)

    # ----------------------------------------------------------------- workflows in memory

    def checkin(self, app_id: int, live: Live) -> None:
        """Keep a workflow in memory for the next step (after its transaction committed)."""
        self._checkin(app_id, live)

    def checkout(self, conn: Connection, app: AppRow, diagram: ParsedDiagram) -> Live:
        """The application's workflow: the cached one while its revision holds, else loaded from its rows."""
        return self._checkout(conn, app, diagram)

    def _checkout(self, conn: Connection, app: AppRow, diagram: ParsedDiagram) -> Live:
        with self._lock:
            live = self._live.pop(app.id, None)
        if live is not None and live.wf is not None and live.revision == app.revision:
            return live
        if live is not None:
            self._drop(live)  # another process moved the application on
        return self.load(conn, app, diagram)

    def load(self, conn: Connection, app: AppRow, diagram: ParsedDiagram) -> Live:
        """Rebuild an application's workflow from its rows."""
        rows = conn.execute(LOAD_TASK_ROWS, {"app_id": app.id}).all()
        meta = json.loads(app.wf_meta)
        wf, snapshot = self.codec.restore(diagram, meta, rows,
                                          ScriptEngine(self.registry, self._run_context(None, app, diagram)))
        return Live(app.revision, wf, snapshot, dict(meta.get("loop_counts", {})))

    def _checkin(self, app_id: int, live: Live) -> None:
        if live.wf is None:
            return
        with self._lock:
            self._live[app_id] = live
            self._live.move_to_end(app_id)
            while len(self._live) > self.config.workflow_cache_size:
                self._drop(self._live.popitem(last=False)[1])

    def cached_state(self, app_id: int) -> dict[str, Any] | None:
        """The in-memory workflow of an application in SpiffWorkflow's dict form, if one is cached."""
        with self._lock:
            live = self._live.get(app_id)
            return self.codec.full_dict(live.wf) if live is not None and live.wf is not None else None

    def forget(self, app_id: int | None = None) -> None:
        """Drop one application's in-memory workflow, or every one (the next step reloads from the database)."""
        with self._lock:
            dropped = list(self._live.values()) if app_id is None else [self._live.pop(app_id, None)]
            if app_id is None:
                self._live.clear()
        for live in dropped:
            if live is not None:
                self._drop(live)

    def _drop(self, live: Live) -> None:
        """A workflow no step will use again: released at once (see StateCodec.release)."""
        if live.wf is not None:
            self.codec.release(live.wf)
            live.wf = None

    # ----------------------------------------------------------------- helpers

    def _run_context(self, conn: Connection | None, app: AppRow, diagram: ParsedDiagram) -> RunContext:
        services = StepServices(conn, self.files, app.id, self.clock) if conn is not None else NoServices()
        return RunContext(app.app_no, app.process_key, self.config.policy, services, self.clock,
                          labels=diagram.labels)

    def _next_app_no(self, conn: Connection, process_key: str, now: datetime) -> str:
        key = f"{process_key}:{now:%Y%m%d}"
        bumped = conn.execute(BUMP_SEQUENCE, {"counter": key}).scalar()
        if bumped is None:
            try:
                with conn.begin_nested():
                    conn.execute(insert(SEQUENCES), {"key": key, "value": 1})
                bumped = 1
            except IntegrityError:
                bumped = conn.execute(BUMP_SEQUENCE, {"counter": key}).scalar_one()
        try:
            return application_number(process_key, now.date(), int(bumped))
        except HandlerError as exc:
            raise WorkflowFailure(exc.message) from exc

    def _task_for_step(self, conn: Connection, task_id: str, username: str
                       ) -> tuple[dict[str, Any], list[str], AppRow]:
        """The task (locked), the user's roles and the task's application (locked), in one statement."""
        task_id = task_id.strip()
        if len(task_id) != 36:
            task_id = find_item(conn, task_id, lock=True)["id"]  # a prefix: find the whole id first
        row = conn.execute(TASK_FOR_STEP, {"id": task_id, "username": username}).mappings().one_or_none()
        if row is None:
            raise NotFound(f"任务不存在：{task_id}")
        if row["user__roles"] is None:
            raise NotFound(f"用户不存在或已停用：{username}")
        item = {name: value for name, value in row.items() if "__" not in name}
        app = AppRow(*(row[f"app__{c.name}"] for c in APP_COLUMNS))
        return item, row["user__roles"].split(","), app


def _data_of(wf: Any) -> Mapping[str, Any]:
    """The application's data as the workflow stands: that of its most recently completed task."""
    last = wf.last_task
    return last.data if last is not None else {}


def refuse_unless_moving(app: AppRow) -> None:
    """A suspended, withdrawn or terminated case takes no step (Conflict, saying why and what to do)."""
    if app.status == AppStatus.SUSPENDED:
        raise Conflict(f"申请 {app.app_no} 已暂停办理：恢复办理后才能继续")
    if app.status in ENDED:
        raise Conflict(f"申请 {app.app_no} {APP_STATUS_NAMES[app.status]}，不能再办理")


def run_expression(source: str, data: Mapping[str, Any]) -> Any:
    """Evaluate a diagram expression (e.g. an assignee) safely; None if it cannot be evaluated."""
    try:
        return expressions.evaluate(source.strip(), data)
    except ExpressionError:
        return None


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time as a naive local moment (the offset dropped, as every time the engine keeps), or None."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        return None


FIRST_CONTACT_FIELD = "first_contact_at"


def first_contact_evidence(typed: Any, accepted_at: datetime, submitted_at: datetime | None
                           ) -> tuple[datetime | None, str | None]:
    """When the customer first applied, and where that comes from: the channel's own clock when the
    application arrived through one; else the time the clerk typed (refused after the acceptance)."""
    if submitted_at is not None:
        return min(submitted_at, accepted_at), ContactSource.API
    moment = parse_time(typed)
    if moment is None:
        return None, None
    if moment > accepted_at:
        message = (f"客户首次申请时间 {moment:%Y-%m-%d %H:%M} 晚于受理时间 {accepted_at:%Y-%m-%d %H:%M}："
                   "首次申请不可能在受理之后，请核对（不能填写将来的时间）")
        raise FormValidationError(message, {FIRST_CONTACT_FIELD: message})
    return moment, ContactSource.CLERK
