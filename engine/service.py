"""The Engine: every user action as one transaction — load, run, write state + audit, commit."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

import handlers
from handlers.errors import HandlerError
from handlers.numbering import application_number

from . import audit, schema
from .audit import PendingEvent
from .config import EngineConfig
from .documents import DocumentFiles
from .errors import Conflict, FormValidationError, Forbidden, InvalidInput, NotFound, WorkflowFailure
from .forms import FormDefinition
from .loading import ParsedDiagram, forms_from_directory, validate_diagram
from .roles import ROLES
from .runtime import (
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
    reset_for_retry,
)
from .store import (
    Application,
    AuditEvent,
    Document,
    ProcessVersion,
    SequenceCounter,
    Store,
    User,
    WorkflowTaskRow,
    WorkItem,
)
from .users import check_password, hash_password
from .views import (
    ApplicationInfo,
    DocumentInfo,
    HistoryEntry,
    StepResult,
    TaskInfo,
    UserInfo,
    VersionInfo,
)

SHIPPED = ("hv", "lv", "pv")
STATE_NAMES = {1: "MAYBE", 2: "LIKELY", 4: "FUTURE", 8: "WAITING", 16: "READY", 32: "STARTED",
               64: "COMPLETED", 128: "ERROR", 256: "CANCELLED"}


@dataclass
class Live:
    """A workflow held in memory between steps, valid while the row's revision matches."""

    revision: int
    wf: Any
    snapshot: Snapshot
    counts: dict[str, int]


class _Services:
    """What handlers may ask of the engine, bound to one transaction."""

    def __init__(self, engine: "Engine", session: Session, app: Application) -> None:
        self.engine, self.session, self.app = engine, session, app

    def manager_workloads(self) -> Mapping[str, int]:
        managers = [u.username for u in self.session.scalars(select(User).where(User.active.is_(True)))
                    if "customer_manager" in u.roles.split(",")]
        counts = dict(self.session.execute(
            select(WorkItem.assignee, func.count()).where(WorkItem.status == "ready", WorkItem.assignee.in_(managers))
            .group_by(WorkItem.assignee)).all())
        return {m: int(counts.get(m, 0)) for m in managers}

    def save_document(self, kind: str, filename: str, media_type: str, content: bytes) -> str:
        doc_id, rel, digest = self.engine.files.write(content)
        self.session.add(Document(id=doc_id, application_id=self.app.id, kind=kind, filename=filename,
                                  media_type=media_type, sha256=digest, size=len(content), path=rel,
                                  created_at=self.engine.now()))
        return doc_id


class Engine:
    """The facade over processes, applications, tasks, documents and the audit trail."""

    def __init__(
        self,
        config: EngineConfig | Mapping[str, Any] | None = None,
        *,
        registry: Mapping[str, handlers.Operator] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config if isinstance(config, EngineConfig) else EngineConfig.from_mapping(config)
        self.registry = registry if registry is not None else handlers.build_registry()
        self.now = clock or datetime.now
        if self.config.database_url.startswith("sqlite:///"):
            Path(self.config.database_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        self.store = Store(self.config.database_url)
        self.files = DocumentFiles(self.config.documents_dir)
        self.codec = StateCodec()
        self._diagrams: dict[int, ParsedDiagram] = {}
        self._live: OrderedDict[int, Live] = OrderedDict()
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- schema & users

    def init_schema(self) -> None:
        """Create or upgrade the database schema (Alembic)."""
        schema.upgrade(self.store)

    def create_user(self, username: str, display_name: str, roles: Iterable[str], password: str) -> UserInfo:
        """Add a member of staff."""
        roles = tuple(roles)
        unknown = [r for r in roles if r not in ROLES]
        if unknown:
            raise InvalidInput(f"未知角色：{'、'.join(unknown)}（可用：{'、'.join(ROLES)}）")
        if not username.strip() or not password:
            raise InvalidInput("用户名和密码不能为空")
        with self.store.transaction() as s:
            if s.scalar(select(User).where(User.username == username)) is not None:
                raise Conflict(f"用户 {username} 已存在")
            user = User(username=username, display_name=display_name, password_hash=hash_password(password),
                        roles=",".join(roles), active=True, created_at=self.now())
            s.add(user)
        return _user_info(user)

    def user(self, username: str) -> UserInfo:
        """Look a user up."""
        with self.store.reading() as s:
            return _user_info(self._user(s, username))

    def authenticate(self, username: str, password: str) -> UserInfo | None:
        """The user if the password is right and the account active, else None."""
        with self.store.reading() as s:
            user = s.scalar(select(User).where(User.username == username))
            if user is None or not user.active or not check_password(user.password_hash, password):
                return None
            return _user_info(user)

    def _user(self, s: Session, username: str) -> User:
        user = s.scalar(select(User).where(User.username == username))
        if user is None or not user.active:
            raise NotFound(f"用户不存在或已停用：{username}")
        return user

    # ----------------------------------------------------------------- deployment

    def validate(self, data: bytes, filename: str = "diagram.bpmn", forms_dir: Path | None = None) -> ParsedDiagram:
        """Run the deploy-time gate; raise DiagramRejected with every reason."""
        return validate_diagram(
            data, filename=filename, forms=forms_from_directory(forms_dir or self.config.processes_dir / "forms"),
            operators=self.registry, max_bytes=self.config.max_diagram_bytes,
        )

    def deploy(self, data: bytes, filename: str, by: str, comment: str = "",
               forms_dir: Path | None = None) -> VersionInfo:
        """Validate and store a new immutable version; new applications use the newest."""
        diagram = self.validate(data, filename, forms_dir)
        forms_json = json.dumps({name: f.schema for name, f in diagram.forms.items()}, ensure_ascii=False,
                                sort_keys=True)
        with self.store.transaction() as s:
            key = diagram.process_id
            latest = s.scalar(select(func.max(ProcessVersion.version)).where(ProcessVersion.process_key == key))
            row = ProcessVersion(process_key=key, version=(latest or 0) + 1, process_id=diagram.process_id,
                                 name=diagram.name, bpmn_xml=data.decode("utf-8"), forms_json=forms_json,
                                 sha256=diagram.sha256, deployed_by=by, deployed_at=self.now(), comment=comment)
            s.add(row)
            s.flush()
            self._diagrams[row.id] = diagram
        return _version_info(row)

    def deploy_shipped(self, by: str = "system") -> list[VersionInfo]:
        """Deploy processes/*.bpmn whose content differs from their newest version."""
        out = []
        for key in SHIPPED:
            path = self.config.processes_dir / f"{key}.bpmn"
            data = path.read_bytes()
            newest = self.latest_version(key)
            if newest is not None and newest.sha256 == _sha(data):
                continue
            out.append(self.deploy(data, path.name, by, comment="随系统发布的流程"))
        return out

    def latest_version(self, process_key: str) -> VersionInfo | None:
        """The newest deployed version of a process, if any."""
        with self.store.reading() as s:
            row = s.scalar(select(ProcessVersion).where(ProcessVersion.process_key == process_key)
                           .order_by(ProcessVersion.version.desc()).limit(1))
            return _version_info(row) if row else None

    def versions(self, process_key: str | None = None) -> list[VersionInfo]:
        """Every deployed version, newest first."""
        with self.store.reading() as s:
            q = select(ProcessVersion).order_by(ProcessVersion.process_key, ProcessVersion.version.desc())
            if process_key:
                q = q.where(ProcessVersion.process_key == process_key)
            return [_version_info(r) for r in s.scalars(q)]

    def _diagram(self, s: Session, version_id: int) -> ParsedDiagram:
        cached = self._diagrams.get(version_id)
        if cached is not None:
            return cached
        row = s.get(ProcessVersion, version_id)
        if row is None:
            raise NotFound(f"流程版本不存在：{version_id}")
        forms = json.loads(row.forms_json)
        diagram = validate_diagram(row.bpmn_xml.encode("utf-8"), filename=f"{row.process_key}.v{row.version}",
                                   forms=forms.get, operators=self.registry,
                                   max_bytes=max(self.config.max_diagram_bytes, len(row.bpmn_xml) * 4))
        self._diagrams[version_id] = diagram
        return diagram

    def start_form(self, process_key: str) -> FormDefinition | None:
        """The acceptance form of the newest version of a process."""
        with self.store.reading() as s:
            row = self._newest_row(s, process_key)
            diagram = self._diagram(s, row.id)
            return diagram.forms.get(diagram.start_form) if diagram.start_form else None

    def task_form(self, task_id: str) -> FormDefinition | None:
        """The form of a user task."""
        with self.store.reading() as s:
            item = self._item(s, task_id)
            app = s.get(Application, item.application_id)
            assert app is not None
            return self._diagram(s, app.version_id).form_for(item.node_id)

    def _newest_row(self, s: Session, process_key: str) -> ProcessVersion:
        row = s.scalar(select(ProcessVersion).where(ProcessVersion.process_key == process_key)
                       .order_by(ProcessVersion.version.desc()).limit(1))
        if row is None:
            raise NotFound(f"流程 {process_key!r} 尚未部署（可用：{'、'.join(SHIPPED)}；先运行 baozhuang init）")
        return row

    # ----------------------------------------------------------------- running

    def start(self, process_key: str, data: Mapping[str, Any], by: str) -> StepResult:
        """Accept an application (受理): validate the start form, number it and run to the first wait."""
        with self.store.transaction() as s:
            user = self._user(s, by)
            row = self._newest_row(s, process_key)
            diagram = self._diagram(s, row.id)
            start_nodes = [n for n in diagram.nodes.values() if n.kind == "startEvent"]
            start_role = start_nodes[0].role if start_nodes else None
            if start_role and start_role not in user.roles.split(","):
                raise Forbidden(f"受理需要「{ROLES[start_role]}」角色，用户 {by} 没有")
            form = diagram.forms.get(diagram.start_form) if diagram.start_form else None
            clean = form.validate(data) if form else dict(data)
            now = self.now()
            app_no = self._next_app_no(s, process_key, now)
            app = Application(app_no=app_no, process_key=process_key, version_id=row.id, status="running",
                              customer_name=str(clean.get("customer_name") or ""),
                              customer_type=str(clean.get("customer_type") or ""), created_by=by, created_at=now,
                              updated_at=now, completed_at=None, first_contact_at=_parse_time(clean.get("first_contact_at")),
                              wf_meta="{}", error_message=None, audit_seq=0, audit_head="")
            s.add(app)
            s.flush()
            run = self._run_context(s, app, diagram)
            engine = ScriptEngine(self.registry, run)
            wf = self.codec.new_workflow(diagram, engine)
            for task in wf.get_tasks(state=READY):
                task.data.update(clean)
            snapshot = Snapshot({}, {}, {}, 0)
            live = Live(0, wf, snapshot, {})
            events = [PendingEvent("application.started", by, now, {"process": process_key, "version": row.version,
                                                                      "app_no": app_no, "data": clean})]
            result = self._advance_and_persist(s, app, diagram, live, run, events, by)
            app_id = app.id
        self._checkin(app_id, live)
        return result

    def claim(self, task_id: str, user: str) -> TaskInfo:
        """Take a task of one of my roles so that nobody else works on it."""
        with self.store.transaction() as s:
            item = self._item(s, task_id, lock=True)
            person = self._user(s, user)
            self._check_may_act(item, person)
            if item.claimed_by and item.claimed_by != user:
                raise Conflict(f"该任务已被 {item.claimed_by} 认领")
            app = s.get(Application, item.application_id)
            assert app is not None
            item.claimed_by, item.claimed_at = user, self.now()
            audit.append(s, app, [PendingEvent("task.claimed", user, item.claimed_at, {"task": item.id},
                                               item.node_id, item.id)])
            return _task_info(item)

    def release(self, task_id: str, user: str) -> TaskInfo:
        """Give a claimed task back to the pool."""
        with self.store.transaction() as s:
            item = self._item(s, task_id, lock=True)
            if item.claimed_by != user:
                raise Forbidden("只能释放自己认领的任务")
            app = s.get(Application, item.application_id)
            assert app is not None
            item.claimed_by, item.claimed_at = None, None
            audit.append(s, app, [PendingEvent("task.released", user, self.now(), {"task": item.id},
                                               item.node_id, item.id)])
            return _task_info(item)

    def complete(self, task_id: str, user: str, data: Mapping[str, Any]) -> StepResult:
        """Submit a user task's form; the process runs on until it waits again."""
        try:
            with self.store.transaction() as s:
                item = self._item(s, task_id, lock=True)
                person = self._user(s, user)
                if item.status != "ready":
                    raise Conflict(_already_done(item))
                self._check_may_act(item, person)
                if item.claimed_by and item.claimed_by != user:
                    raise Forbidden(f"该任务已被 {item.claimed_by} 认领，只有认领人可以办理")
                app = s.get(Application, item.application_id, with_for_update=True)
                assert app is not None
                if app.status == "error":
                    raise WorkflowFailure(f"申请 {app.app_no} 处于异常状态，请先处理：{app.error_message}")
                diagram = self._diagram(s, app.version_id)
                form = diagram.form_for(item.node_id)
                clean = form.validate(data) if form else dict(data)
                live = self._checkout(s, app, diagram)
                now = self.now()
                run = self._run_context(s, app, diagram)
                live.wf.script_engine = ScriptEngine(self.registry, run)
                try:
                    complete_user_task(live.wf, UUID(item.id), clean)
                    events = [PendingEvent("task.completed", user, now, {"data": clean}, item.node_id, item.id)]
                    result = self._advance_and_persist(s, app, diagram, live, run, events, user,
                                                       completed_item=item)
                    item.claimed_by = item.claimed_by or user
                    app_id = app.id
                except BaseException:
                    live.wf = None  # the in-memory workflow may be half-run: never reuse it
                    raise
        except StaleDataError as exc:
            with self.store.reading() as s:
                again = s.get(WorkItem, task_id)
                raise Conflict(_already_done(again) if again is not None and again.status != "ready"
                               else "申请已被他人同时修改，请刷新后重试") from exc
        self._checkin(app_id, live)
        return result

    def retry(self, app_no: str, by: str) -> StepResult:
        """Run again the tasks that failed (a handler error, say) after the cause is fixed."""
        with self.store.transaction() as s:
            self._user(s, by)
            app = self._app(s, app_no, lock=True)
            diagram = self._diagram(s, app.version_id)
            live = self._checkout(s, app, diagram)
            failed = error_tasks(live.wf)
            if not failed:
                self._checkin(app.id, live)
                raise Conflict(f"申请 {app_no} 没有出错的任务可重试")
            run = self._run_context(s, app, diagram)
            live.wf.script_engine = ScriptEngine(self.registry, run)
            try:
                for task in failed:
                    reset_for_retry(task)
                events = [PendingEvent("application.retried", by, self.now(),
                                       {"tasks": [t.task_spec.name for t in failed]})]
                result = self._advance_and_persist(s, app, diagram, live, run, events, by)
                app_id = app.id
            except BaseException:
                live.wf = None
                raise
        self._checkin(app_id, live)
        return result

    # ----------------------------------------------------------------- the one write path

    def _advance_and_persist(self, s: Session, app: Application, diagram: ParsedDiagram, live: Live,
                             run: RunContext, events: list[PendingEvent], actor: str,
                             completed_item: WorkItem | None = None) -> StepResult:
        wf = live.wf
        guard = Guard(live.counts, self.config.max_loop_iterations)
        error = advance(wf, guard)
        now = self.now()
        changes = self.codec.changes(wf, live.snapshot)

        new_rows = [{"application_id": app.id, "task_id": str(tid), "seq": seq, "payload": payload}
                    for tid, seq, payload, is_new in changes.upserts if is_new]
        changed_rows = [{"a": app.id, "t": str(tid), "p": payload}
                        for tid, seq, payload, is_new in changes.upserts if not is_new]
        if new_rows:
            s.execute(insert(WorkflowTaskRow), new_rows)
        if changed_rows:
            s.connection().execute(
                update(WorkflowTaskRow.__table__)  # type: ignore[arg-type]
                .where(WorkflowTaskRow.__table__.c.application_id == _bind("a"),
                       WorkflowTaskRow.__table__.c.task_id == _bind("t"))
                .values(payload=_bind("p")), changed_rows)
        if changes.deletions:
            s.execute(delete(WorkflowTaskRow).where(WorkflowTaskRow.application_id == app.id,
                                                    WorkflowTaskRow.task_id.in_([str(t) for t in changes.deletions])))

        for call in run.calls:
            events.append(PendingEvent("service.called", "system", now,
                                       {"operator": call.operator, "params": call.params, "result": call.result},
                                       call.node_id, call.task_id))
        if changes.transitions:
            events.append(PendingEvent("engine.transitions", actor, now, {"changes": [
                [name, STATE_NAMES.get(old or 0, "NEW"), STATE_NAMES.get(new, str(new)), str(tid)]
                for tid, name, old, new in changes.transitions]}))

        ready = []
        for tid, name, old, new in changes.transitions:
            task = wf.tasks.get(tid)
            if task is None or not task.task_spec.manual:
                continue
            if new == READY:
                node = diagram.nodes.get(name)
                assignee = None
                if node is not None and node.assignee:
                    value = task.data.get(node.assignee.strip()) if node.assignee.strip().isidentifier() else None
                    assignee = str(value) if value else None
                item = WorkItem(id=str(tid), application_id=app.id, app_no=app.app_no, process_key=app.process_key,
                                customer_name=app.customer_name, node_id=name,
                                node_name=node.name if node else name, role=(node.role if node and node.role else ""),
                                form=(node.form or "") if node else "", assignee=assignee, claimed_by=None,
                                claimed_at=None, status="ready", created_at=now, completed_at=None,
                                completed_by=None, due_at=None)
                s.add(item)
                ready.append(item)
                events.append(PendingEvent("task.ready", "system", now, {"role": item.role, "assignee": assignee},
                                           name, str(tid)))
            elif old == READY:
                status = "completed" if new == COMPLETED else "cancelled"
                values: dict[str, Any] = {"status": status, "completed_at": now}
                if completed_item is not None and str(tid) == completed_item.id:
                    values["completed_by"] = actor
                s.execute(update(WorkItem).where(WorkItem.id == str(tid)).values(**values))

        if error:
            status = "error"
            events.append(PendingEvent("application.error", "system", now, {"message": error}))
        elif wf.is_completed():
            status = "completed"
            events.append(PendingEvent("application.completed", "system", now, {}))
        else:
            status = "running"
        app.status = status
        app.error_message = error
        app.updated_at = now
        if status == "completed":
            app.completed_at = now
        app.wf_meta = self.codec.dump_meta(wf, {"loop_counts": live.counts})
        audit.append(s, app, events)
        s.flush()  # the revision check happens here (StaleDataError if someone else wrote first)
        self.codec.commit(wf, live.snapshot, changes)
        live.revision = app.revision
        open_items = s.scalars(select(WorkItem).where(WorkItem.application_id == app.id,
                                                      WorkItem.status == "ready")).all()
        return StepResult(app.app_no, status, tuple(_task_info(i) for i in open_items), error)

    def _checkout(self, s: Session, app: Application, diagram: ParsedDiagram) -> Live:
        with self._lock:
            live = self._live.pop(app.id, None)
        if live is not None and live.wf is not None and live.revision == app.revision:
            return live
        rows = s.execute(select(WorkflowTaskRow.task_id, WorkflowTaskRow.seq, WorkflowTaskRow.payload)
                         .where(WorkflowTaskRow.application_id == app.id).order_by(WorkflowTaskRow.seq)).all()
        meta = json.loads(app.wf_meta)
        run = self._run_context(s, app, diagram)
        wf, snapshot = self.codec.restore(diagram, meta, [tuple(r) for r in rows], ScriptEngine(self.registry, run))
        return Live(app.revision, wf, snapshot, dict(meta.get("loop_counts", {})))

    def _checkin(self, app_id: int, live: Live) -> None:
        if live.wf is None:
            return
        with self._lock:
            self._live[app_id] = live
            self._live.move_to_end(app_id)
            while len(self._live) > self.config.workflow_cache_size:
                self._live.popitem(last=False)

    def forget_cached_workflows(self) -> None:
        """Drop every in-memory workflow (the next step reloads from the database)."""
        with self._lock:
            self._live.clear()

    def _run_context(self, s: Session, app: Application, diagram: ParsedDiagram) -> RunContext:
        return RunContext(app.app_no, app.process_key, self.config.policy, _Services(self, s, app), self.now)

    def _next_app_no(self, s: Session, process_key: str, now: datetime) -> str:
        key = f"{process_key}:{now:%Y%m%d}"
        bumped = s.execute(update(SequenceCounter).where(SequenceCounter.key == key)
                           .values(value=SequenceCounter.value + 1).returning(SequenceCounter.value)).scalar()
        if bumped is None:
            try:
                with s.begin_nested():
                    s.add(SequenceCounter(key=key, value=1))
                bumped = 1
            except IntegrityError:
                bumped = s.execute(update(SequenceCounter).where(SequenceCounter.key == key)
                                   .values(value=SequenceCounter.value + 1).returning(SequenceCounter.value)).scalar_one()
        try:
            return application_number(process_key, now.date(), int(bumped))
        except HandlerError as exc:
            raise WorkflowFailure(exc.message) from exc

    def _item(self, s: Session, task_id: str, lock: bool = False) -> WorkItem:
        task_id = task_id.strip()
        item = s.get(WorkItem, task_id, with_for_update=lock) if len(task_id) == 36 else None
        if item is None and 6 <= len(task_id) < 36:
            matches = s.scalars(select(WorkItem).where(WorkItem.id.startswith(task_id)).limit(2)).all()
            if len(matches) > 1:
                raise InvalidInput(f"任务编号前缀 {task_id} 不唯一，请输入更长的编号")
            item = matches[0] if matches else None
            if item is not None and lock:
                s.refresh(item, with_for_update=True)
        if item is None:
            raise NotFound(f"任务不存在：{task_id}")
        return item

    def _app(self, s: Session, app_no: str, lock: bool = False) -> Application:
        q = select(Application).where(Application.app_no == app_no.strip())
        if lock:
            q = q.with_for_update()
        app = s.scalar(q)
        if app is None:
            raise NotFound(f"申请不存在：{app_no}")
        return app

    @staticmethod
    def _check_may_act(item: WorkItem, person: User) -> None:
        roles = person.roles.split(",")
        if item.role not in roles:
            role_name = ROLES.get(item.role, item.role)
            raise Forbidden(f"任务「{item.node_name}」属于「{role_name}」，用户 {person.username} 没有该角色")
        if item.assignee and item.assignee != person.username:
            raise Forbidden(f"任务「{item.node_name}」已指派给 {item.assignee}")

    # ----------------------------------------------------------------- reading

    def tasks(self, *, role: str | None = None, user: str | None = None, status: str = "ready",
              process_key: str | None = None, app_no: str | None = None, limit: int = 100,
              offset: int = 0) -> list[TaskInfo]:
        """Task rows by role, user (assigned to or claimed by), status; plain indexed queries."""
        with self.store.reading() as s:
            q = select(WorkItem).where(WorkItem.status == status)
            if role:
                q = q.where(WorkItem.role == role)
            if user:
                q = q.where((WorkItem.assignee == user) | (WorkItem.claimed_by == user) |
                            ((WorkItem.assignee.is_(None)) & (WorkItem.claimed_by.is_(None)) &
                             WorkItem.role.in_(self._user(s, user).roles.split(","))))
            if process_key:
                q = q.where(WorkItem.process_key == process_key)
            if app_no:
                q = q.where(WorkItem.app_no == app_no)
            q = q.order_by(WorkItem.created_at, WorkItem.id).limit(limit).offset(offset)
            return [_task_info(i) for i in s.scalars(q)]

    def task(self, task_id: str) -> TaskInfo:
        """One task row."""
        with self.store.reading() as s:
            return _task_info(self._item(s, task_id))

    def application(self, app_no: str) -> ApplicationInfo:
        """An application with its data, open tasks, history and documents."""
        with self.store.reading() as s:
            app = self._app(s, app_no)
            version = s.get(ProcessVersion, app.version_id)
            assert version is not None
            meta = json.loads(app.wf_meta)
            data = _current_data(s, app, meta)
            items = s.scalars(select(WorkItem).where(WorkItem.application_id == app.id, WorkItem.status == "ready")).all()
            history = s.scalars(select(AuditEvent).where(AuditEvent.application_id == app.id)
                                .order_by(AuditEvent.seq)).all()
            docs = s.scalars(select(Document).where(Document.application_id == app.id)
                             .order_by(Document.created_at, Document.filename)).all()
            completed = tuple(name for name, count in meta.get("loop_counts", {}).items() if count)
            return ApplicationInfo(
                app_no=app.app_no, process_key=app.process_key, version=version.version, status=app.status,
                customer_name=app.customer_name, customer_type=app.customer_type, created_by=app.created_by,
                created_at=app.created_at, updated_at=app.updated_at, completed_at=app.completed_at,
                error_message=app.error_message, data=data, open_tasks=tuple(_task_info(i) for i in items),
                history=tuple(HistoryEntry(e.seq, e.at, e.actor, e.kind, e.node_id, json.loads(e.payload))
                              for e in history),
                documents=tuple(_doc_info(d) for d in docs), completed_nodes=completed,
            )

    def applications(self, *, status: str | None = None, limit: int = 50) -> list[ApplicationInfo]:
        """Recent applications (summary only: no data, history or documents)."""
        with self.store.reading() as s:
            q = select(Application, ProcessVersion.version).join(ProcessVersion)
            if status:
                q = q.where(Application.status == status)
            rows = s.execute(q.order_by(Application.created_at.desc(), Application.id.desc()).limit(limit)).all()
            return [ApplicationInfo(app_no=a.app_no, process_key=a.process_key, version=v, status=a.status,
                                    customer_name=a.customer_name, customer_type=a.customer_type,
                                    created_by=a.created_by, created_at=a.created_at, updated_at=a.updated_at,
                                    completed_at=a.completed_at, error_message=a.error_message, data={})
                    for a, v in rows]

    def document(self, doc_id: str) -> tuple[DocumentInfo, bytes]:
        """A stored document and its bytes (checked against its SHA-256)."""
        with self.store.reading() as s:
            doc = s.get(Document, doc_id)
            if doc is None:
                raise NotFound(f"文件不存在：{doc_id}")
            return _doc_info(doc), self.files.read(doc.path, doc.sha256)

    def verify_audit(self, app_no: str) -> audit.ChainCheck:
        """Walk one application's hash chain."""
        with self.store.reading() as s:
            return audit.verify(s, self._app(s, app_no))

    def stored_state(self, app_no: str) -> dict[str, Any]:
        """The workflow as stored (SpiffWorkflow's dict form, spec excluded): for checks and replay."""
        with self.store.transaction() as s:
            app = self._app(s, app_no)
            diagram = self._diagram(s, app.version_id)
            rows = s.execute(select(WorkflowTaskRow.task_id, WorkflowTaskRow.seq, WorkflowTaskRow.payload)
                             .where(WorkflowTaskRow.application_id == app.id).order_by(WorkflowTaskRow.seq)).all()
            run = self._run_context(s, app, diagram)
            wf, _ = self.codec.restore(diagram, json.loads(app.wf_meta), [tuple(r) for r in rows],
                                       ScriptEngine(self.registry, run))
            return self.codec.full_dict(wf)

    def cached_state(self, app_no: str) -> dict[str, Any] | None:
        """The in-memory workflow of an application in the same dict form, if cached."""
        with self.store.reading() as s:
            app_id = self._app(s, app_no).id
        with self._lock:
            live = self._live.get(app_id)
        return self.codec.full_dict(live.wf) if live and live.wf is not None else None

    def dispose(self) -> None:
        """Release database connections."""
        self.store.dispose()


def _bind(name: str) -> Any:
    from sqlalchemy import bindparam

    return bindparam(name)


def _current_data(s: Session, app: Application, meta: Mapping[str, Any]) -> dict[str, Any]:
    """The data of the most recently completed task: the application's data as it stands."""
    last = meta.get("last_task")
    if not last:
        return {}
    rows = s.execute(select(WorkflowTaskRow.task_id, WorkflowTaskRow.payload)
                     .where(WorkflowTaskRow.application_id == app.id).order_by(WorkflowTaskRow.seq)).all()
    payloads = {tid: json.loads(p) for tid, p in rows}
    chain = []
    tid = last
    while tid in payloads:
        chain.append(payloads[tid])
        tid = payloads[tid].get("parent")
    data: dict[str, Any] = {}
    for entry in reversed(chain):
        if entry.get("data"):
            data = dict(entry["data"])
        delta = entry.get("delta") or {}
        data.update(delta.get("updates", {}))
        for key in delta.get("deletions", []):
            data.pop(key, None)
    return data


def _already_done(item: WorkItem) -> str:
    if item.status == "completed":
        when = f"{item.completed_at:%Y-%m-%d %H:%M}" if item.completed_at else ""
        return f"任务「{item.node_name}」已由 {item.completed_by or '他人'} 于 {when} 办理完成"
    return f"任务「{item.node_name}」已不在待办状态（{item.status}）"


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        return None


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _user_info(u: User) -> UserInfo:
    return UserInfo(u.username, u.display_name, tuple(r for r in u.roles.split(",") if r), u.active)


def _version_info(r: ProcessVersion) -> VersionInfo:
    return VersionInfo(r.id, r.process_key, r.version, r.name, r.sha256, r.deployed_by, r.deployed_at, r.comment)


def _task_info(i: WorkItem) -> TaskInfo:
    return TaskInfo(i.id, i.app_no, i.process_key, i.customer_name, i.node_id, i.node_name, i.role, i.form,
                    i.status, i.assignee, i.claimed_by, i.created_at, i.completed_at, i.completed_by, i.due_at)


def _doc_info(d: Document) -> DocumentInfo:
    return DocumentInfo(d.id, d.kind, d.filename, d.media_type, d.size, d.sha256, d.created_at)
