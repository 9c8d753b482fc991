"""The Engine: every user action as one transaction — load, run, write state + audit, commit."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from sqlalchemy import (
    Connection,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import handlers
from handlers.errors import HandlerError
from handlers.notify import LogNotifier, Notifier
from handlers.numbering import application_number

from . import audit, expressions, schema
from .audit import PendingEvent
from .config import EngineConfig
from .dispatch import FieldWork
from .documents import DocumentFiles
from .errors import (
    Conflict,
    DiagramRejected,
    ExpressionError,
    Forbidden,
    FormValidationError,
    InvalidInput,
    NotFound,
    Reason,
    WorkflowFailure,
)
from .forms import FormDefinition
from .loading import ParsedDiagram, forms_from_directory, validate_diagram
from .meetings import Authority, ReviewMeetings
from .namesearch import name_contains
from .permissions import refusal
from .replay import RecordedEvent
from .replay import replay as replay_application
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
    ready_user_tasks,
    reset_for_retry,
    state_name,
    trace,
)
from .store import (
    ApiToken,
    Application,
    AuditEvent,
    Document,
    ProcessDraft,
    ProcessVersion,
    SequenceCounter,
    Store,
    User,
    WorkflowTaskRow,
    WorkItem,
)
from .timelimits import CalendarSource, TimeLimits, task_limit
from .users import check_password, hash_password
from .views import (
    ApplicationInfo,
    ApplicationPage,
    AuditVerdict,
    DiagramTrace,
    DocumentInfo,
    DraftInfo,
    HistoryEntry,
    ImpactReport,
    NotificationInfo,
    ReplayReport,
    StepResult,
    SweepResult,
    TaskInfo,
    TaskPage,
    Upload,
    UserInfo,
    VersionInfo,
)
from .workdays import WorkingCalendar, YearStatus

if TYPE_CHECKING:
    from .exports import LogRecord
    from .migration import Outcome
    from .views import InstanceVerdict, MigrationPlan, MigrationResult, VersionDiff

SHIPPED = ("hv", "lv", "pv")
APP_NO_LIKE = re.compile(r"[A-Z]{2}\d{4,14}")
SUPERVISOR_ROLE = "marketing"  # 营销部 supervises: reassigns tasks, receives escalations
UPLOAD_TYPES = {
    "application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
}
UPLOAD_MAX_BYTES = 10 * 1024 * 1024


APPS = cast(Table, Application.__table__)
ITEMS = cast(Table, WorkItem.__table__)
WF_TASKS = cast(Table, WorkflowTaskRow.__table__)
USERS = cast(Table, User.__table__)

# The statements of the hot path, built once: constructing SQLAlchemy expressions per call costs
# more than executing them on SQLite.
ITEM_BY_ID = select(ITEMS).where(ITEMS.c.id == bindparam("id"))
ITEM_BY_ID_LOCKED = ITEM_BY_ID.with_for_update()
ROLES_OF_USER = select(USERS.c.roles, USERS.c.active).where(USERS.c.username == bindparam("username"))
TOKENS = cast(Table, ApiToken.__table__)
VERSIONS = cast(Table, ProcessVersion.__table__)
DOCUMENTS = cast(Table, Document.__table__)
USER_BY_TOKEN = (select(USERS.c.username, USERS.c.display_name, USERS.c.roles, USERS.c.active, USERS.c.station)
                 .join_from(TOKENS, USERS, TOKENS.c.username == USERS.c.username)
                 .where(TOKENS.c.token_hash == bindparam("digest"), TOKENS.c.revoked.is_(False),
                        USERS.c.active.is_(True)))
APP_COLUMNS = (APPS.c.id, APPS.c.app_no, APPS.c.process_key, APPS.c.version_id, APPS.c.customer_name,
               APPS.c.status, APPS.c.revision, APPS.c.audit_seq, APPS.c.audit_head, APPS.c.wf_meta,
               APPS.c.error_message)
# A completion reads the task, its application and the user's roles in one round trip, locking the task's
# row and then the application's (the order claims and releases take them in).
TASK_FOR_STEP = (select(ITEMS, *(c.label(f"app__{c.name}") for c in APP_COLUMNS),
                        select(USERS.c.roles).where(USERS.c.username == bindparam("username"),
                                                    USERS.c.active.is_(True)).scalar_subquery().label("user__roles"))
                 .join_from(ITEMS, APPS, APPS.c.id == ITEMS.c.application_id)
                 .where(ITEMS.c.id == bindparam("id"))
                 .with_for_update(of=[ITEMS, APPS]))
INSERT_TASK_ROWS = insert(WF_TASKS)
UPDATE_TASK_ROWS = (update(WF_TASKS).where(WF_TASKS.c.application_id == bindparam("a"),
                                           WF_TASKS.c.task_id == bindparam("t")).values(payload=bindparam("p")))
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
INSERT_DOCUMENT = insert(DOCUMENTS)
OPEN_ITEMS = (select(ITEMS).where(ITEMS.c.application_id == bindparam("app_id"), ITEMS.c.status == "ready")
              .order_by(ITEMS.c.created_at, ITEMS.c.id))


@dataclass
class AppRow:
    """The application row fields a step reads and writes (plain data, no ORM state)."""

    id: int
    app_no: str
    process_key: str
    version_id: int
    customer_name: str
    status: str
    revision: int
    audit_seq: int
    audit_head: str
    wf_meta: str
    error_message: str | None


@dataclass
class Live:
    """A workflow held in memory between steps, valid while the row's revision matches."""

    revision: int
    wf: Any
    snapshot: Snapshot
    counts: dict[str, int]


class _NoServices:
    """Services for a workflow only being restored: a handler must not run there."""

    def manager_workloads(self) -> Mapping[str, int]:
        raise WorkflowFailure("恢复流程状态时不应调用处理器")

    def save_document(self, kind: str, filename: str, media_type: str, content: bytes) -> str:
        raise WorkflowFailure("恢复流程状态时不应调用处理器")


class _Services:
    """What handlers may ask of the engine, bound to one transaction."""

    def __init__(self, engine: "Engine", conn: Connection, app: Any) -> None:
        self.engine, self.conn, self.app = engine, conn, app

    def manager_workloads(self) -> Mapping[str, int]:
        managers = [u.username for u in self.conn.execute(select(USERS.c.username, USERS.c.roles)
                                                          .where(USERS.c.active.is_(True)).order_by(USERS.c.id))
                    if "customer_manager" in u.roles.split(",")]
        counts = {row.assignee: int(row.n) for row in self.conn.execute(
            select(ITEMS.c.assignee, func.count().label("n")).where(ITEMS.c.status == "ready",
                                                                      ITEMS.c.assignee.in_(managers))
            .group_by(ITEMS.c.assignee))}
        return {m: int(counts.get(m, 0)) for m in managers}

    def save_document(self, kind: str, filename: str, media_type: str, content: bytes) -> str:
        doc_id, rel, digest = self.engine.files.write(content)
        self.conn.execute(INSERT_DOCUMENT, {"id": doc_id, "application_id": self.app.id, "kind": kind,
                                            "filename": filename, "media_type": media_type, "sha256": digest,
                                            "size": len(content), "path": rel, "created_at": self.engine.now()})
        return doc_id


class Engine:
    """The facade over processes, applications, tasks, documents and the audit trail."""

    def __init__(
        self,
        config: EngineConfig | Mapping[str, Any] | None = None,
        *,
        registry: Mapping[str, handlers.Operator] | None = None,
        clock: Callable[[], datetime] | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.config = config if isinstance(config, EngineConfig) else EngineConfig.from_mapping(config)
        self.notifier: Notifier = notifier or LogNotifier()
        self.registry = registry if registry is not None else handlers.build_registry(self.notifier)
        self.now = clock or datetime.now
        if self.config.database_url.startswith("sqlite:///"):
            Path(self.config.database_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        self.store = Store(self.config.database_url)
        self.files = DocumentFiles(self.config.documents_dir)
        self.codec = StateCodec()
        self._diagrams: dict[int, ParsedDiagram] = {}
        self._live: OrderedDict[int, Live] = OrderedDict()
        self._lock = threading.Lock()
        self.calendars = CalendarSource(self.store)
        self.time_limits = TimeLimits(self.store, self.config, self.calendars, self.notifier, self.now,
                                      self._audit_only, self._roles_of)
        self.field_work = FieldWork(self.store, self.now, self.calendars.get, self._audit_only, self._roles_of)
        self.meetings = ReviewMeetings(self)

    # ----------------------------------------------------------------- schema & users

    def init_schema(self) -> None:
        """Create or upgrade the database schema (Alembic) and refresh the planner's statistics."""
        schema.upgrade(self.store)
        self.optimize()

    def optimize(self) -> None:
        """Refresh query-planner statistics (ANALYZE): without them SQLite picks poor indexes for task lists."""
        with self.store.sa_engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")

    def create_user(self, username: str, display_name: str, roles: Iterable[str], password: str,
                    station: str | None = None) -> UserInfo:
        """Add a member of staff (field staff may belong to a station, 班所)."""
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
                        roles=",".join(roles), station=station, active=True, created_at=self.now())
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
        # Field order is the form's layout: keep it (no sort_keys).
        forms_json = json.dumps({name: f.schema for name, f in diagram.forms.items()}, ensure_ascii=False)
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

    def save_draft(self, process_key: str, xml: bytes, by: str, comment: str = "",
                   draft_id: int | None = None) -> DraftInfo:
        """Keep an edited diagram as a draft with every problem the deploy gate finds (a draft may have some)."""
        problems: list[Reason] = []
        try:
            diagram = self.validate(xml, f"{process_key}.bpmn")
            if diagram.process_id != process_key:
                problems.append(Reason("process_id", f"流程 id 应为 {process_key}，实际为 {diagram.process_id}"))
        except DiagramRejected as exc:
            problems = list(exc.reasons)
        base = self.latest_version(process_key)
        with self.store.transaction() as s:
            self._roles_of(s.connection(), by)
            row = s.get(ProcessDraft, draft_id) if draft_id is not None else None
            if draft_id is not None and (row is None or row.process_key != process_key):
                raise NotFound(f"草稿不存在：{draft_id}")
            if row is not None and row.deployed_version is not None:
                raise Conflict(f"草稿 {draft_id} 已部署为第 {row.deployed_version} 版，请另存为新草稿")
            if row is None:
                row = ProcessDraft(process_key=process_key, deployed_version=None)
                s.add(row)
            row.base_version = base.version if base else None
            row.bpmn_xml = xml.decode("utf-8", errors="replace")
            row.problems_json = json.dumps([[r.code, r.message, r.element_id] for r in problems], ensure_ascii=False)
            row.comment, row.saved_by, row.saved_at = comment, by, self.now()
            s.flush()
            return _draft_info(row)

    def drafts(self, process_key: str | None = None) -> list[DraftInfo]:
        """Saved drafts, newest first."""
        with self.store.reading() as s:
            q = select(ProcessDraft).order_by(ProcessDraft.saved_at.desc(), ProcessDraft.id.desc())
            if process_key:
                q = q.where(ProcessDraft.process_key == process_key)
            return [_draft_info(r) for r in s.scalars(q)]

    def draft(self, draft_id: int) -> tuple[DraftInfo, str]:
        """One draft and its XML."""
        with self.store.reading() as s:
            row = s.get(ProcessDraft, draft_id)
            if row is None:
                raise NotFound(f"草稿不存在：{draft_id}")
            return _draft_info(row), row.bpmn_xml

    def deploy_draft(self, draft_id: int, by: str, comment: str = "") -> VersionInfo:
        """Deploy a draft that passes the gate (checked again now) as the process's next version."""
        info, xml = self.draft(draft_id)
        if info.deployed_version is not None:
            raise Conflict(f"草稿 {draft_id} 已部署为第 {info.deployed_version} 版")
        fresh = self.save_draft(info.process_key, xml.encode("utf-8"), by, info.comment, draft_id)
        if fresh.problems:
            raise DiagramRejected(fresh.problems, f"草稿 {draft_id}")
        version = self.deploy(xml.encode("utf-8"), f"{info.process_key}.bpmn", by, comment or info.comment)
        with self.store.transaction() as s:
            row = s.get(ProcessDraft, draft_id)
            assert row is not None
            row.deployed_version = version.version
        return version

    def version_xml(self, process_key: str, version: int) -> str:
        """The BPMN XML of one deployed version."""
        with self.store.reading() as s:
            row = s.scalar(select(ProcessVersion).where(ProcessVersion.process_key == process_key,
                                                        ProcessVersion.version == version))
            if row is None:
                raise NotFound(f"流程 {process_key} 没有第 {version} 版")
            return row.bpmn_xml

    def latest_version(self, process_key: str) -> VersionInfo | None:
        """The newest deployed version of a process, if any."""
        with self.store.reading() as s:
            row = s.scalar(select(ProcessVersion).where(ProcessVersion.process_key == process_key)
                           .order_by(ProcessVersion.version.desc()).limit(1))
            return _version_info(row) if row else None

    def versions(self, process_key: str | None = None) -> list[VersionInfo]:
        """Every deployed version, newest first, with how many applications still run on it."""
        with self.store.reading() as s:
            q = select(ProcessVersion).order_by(ProcessVersion.process_key, ProcessVersion.version.desc())
            if process_key:
                q = q.where(ProcessVersion.process_key == process_key)
            running = {vid: n for vid, n in s.execute(select(Application.version_id, func.count())
                                                        .where(Application.status.in_(("running", "error")))
                                                        .group_by(Application.version_id))}
            return [replace(_version_info(r), running=int(running.get(r.id, 0))) for r in s.scalars(q)]

    def _diagram(self, s: Session | Connection, version_id: int) -> ParsedDiagram:
        cached = self._diagrams.get(version_id)
        if cached is not None:
            return cached
        row = s.execute(select(VERSIONS).where(VERSIONS.c.id == version_id)).one_or_none()
        if row is None:
            raise NotFound(f"流程版本不存在：{version_id}")
        forms = json.loads(row.forms_json)
        diagram = validate_diagram(row.bpmn_xml.encode("utf-8"), filename=f"{row.process_key}.v{row.version}",
                                   forms=forms.get, operators=self.registry,
                                   max_bytes=max(self.config.max_diagram_bytes, len(row.bpmn_xml) * 4))
        self._diagrams[version_id] = diagram
        return diagram

    def marked_nodes(self, prop: str) -> dict[str, tuple[str, FormDefinition | None]]:
        """Nodes of every deployed version carrying a diagram property (e.g. reviewMeeting): node id →
        (the property's value, the node's form)."""
        marked: dict[str, tuple[str, FormDefinition | None]] = {}
        with self.store.reading() as s:
            for version_id in s.scalars(select(ProcessVersion.id).order_by(ProcessVersion.id)):
                diagram = self._diagram(s, version_id)
                for node in diagram.nodes.values():
                    if node.properties.get(prop):
                        marked[node.id] = (node.properties[prop], diagram.form_for(node.id))
        return marked

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
            app = s.get(Application, item["application_id"])
            assert app is not None
            return self._diagram(s, app.version_id).form_for(item["node_id"])

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
            conn = s.connection()
            roles = self._roles_of(conn, by)
            row = self._newest_row(s, process_key)
            diagram = self._diagram(s, row.id)
            start_nodes = [n for n in diagram.nodes.values() if n.kind == "startEvent"]
            start_role = start_nodes[0].role if start_nodes else None
            if start_role and start_role not in roles:
                raise Forbidden(f"受理需要「{ROLES[start_role]}」角色，用户 {by} 没有")
            form = diagram.forms.get(diagram.start_form) if diagram.start_form else None
            clean = form.validate(data) if form else dict(data)
            now = self.now()
            app_no = self._next_app_no(s, process_key, now)
            app = AppRow(id=0, app_no=app_no, process_key=process_key, version_id=row.id,
                         customer_name=str(clean.get("customer_name") or ""), status="running", revision=0,
                         audit_seq=0, audit_head="", wf_meta="{}", error_message=None)
            app.id = conn.execute(insert(APPS).returning(APPS.c.id), {
                "app_no": app_no, "process_key": process_key, "version_id": row.id, "status": "running",
                "customer_name": app.customer_name, "customer_type": str(clean.get("customer_type") or ""),
                "created_by": by, "created_at": now, "updated_at": now, "completed_at": None,
                "first_contact_at": _parse_time(clean.get("first_contact_at")), "revision": 0, "wf_meta": "{}",
                "error_message": None, "audit_seq": 0, "audit_head": ""}).scalar_one()
            run = self._run_context(conn, app, diagram)
            wf = self.codec.new_workflow(diagram, ScriptEngine(self.registry, run))
            for task in wf.get_tasks(state=READY):
                task.data.update(clean)
            live = Live(0, wf, Snapshot({}, {}, {}, 0), {})
            events = [PendingEvent("application.started", by, now, {"process": process_key, "version": row.version,
                                                                      "app_no": app_no, "data": clean})]
            result = self._advance_and_persist(conn, app, diagram, live, run, events, by)
        self._checkin(app.id, live)
        return result

    def claim(self, task_id: str, user: str) -> TaskInfo:
        """Take a task of one of my roles so that nobody else works on it."""
        with self.store.transaction() as s:
            conn = s.connection()
            item = self._item(conn, task_id, lock=True)
            self._check_may_act(item, user, self._roles_of(conn, user))
            if item["claimed_by"] and item["claimed_by"] != user:
                raise Conflict(f"该任务已被 {item['claimed_by']} 认领")
            if item["status"] != "ready":
                raise Conflict(_already_done(item))
            now = self.now()
            conn.execute(update(ITEMS).where(ITEMS.c.id == item["id"]).values(claimed_by=user, claimed_at=now))
            self._audit_only(conn, item["application_id"],
                             PendingEvent("task.claimed", user, now, {"task": item["id"]}, item["node_id"], item["id"]))
            return _task_info({**item, "claimed_by": user, "claimed_at": now})

    def release(self, task_id: str, user: str) -> TaskInfo:
        """Give a claimed task back to the pool."""
        with self.store.transaction() as s:
            conn = s.connection()
            item = self._item(conn, task_id, lock=True)
            if item["claimed_by"] != user:
                raise Forbidden("只能释放自己认领的任务")
            conn.execute(update(ITEMS).where(ITEMS.c.id == item["id"]).values(claimed_by=None, claimed_at=None))
            self._audit_only(conn, item["application_id"], PendingEvent(
                "task.released", user, self.now(), {"task": item["id"]}, item["node_id"], item["id"]))
            return _task_info({**item, "claimed_by": None, "claimed_at": None})

    def complete(self, task_id: str, user: str, data: Mapping[str, Any],
                 uploads: Iterable[Upload] = ()) -> StepResult:
        """Submit a user task's form (and its documents); the process runs on until it waits again."""
        return self.complete_with(task_id, user, data, uploads)

    def complete_with(self, task_id: str, user: str, data: Mapping[str, Any], uploads: Iterable[Upload] = (),
                      authority: Authority | None = None) -> StepResult:
        """Complete a task under another authority than its assignee's (a meeting deciding it): the
        authority says which roles may decide, what the audit event records, and what else to write in the
        same transaction."""
        uploads = tuple(uploads)
        with self.store.begin() as conn:
            item, roles, app = self._task_for_step(conn, task_id, user)
            if item["status"] != "ready":
                raise Conflict(_already_done(item))
            if authority is None:
                reason = refusal(_task_info(item), user, roles)
            else:
                reason = authority.refusal(item["node_name"], user, roles)
            if reason:
                raise Forbidden(reason)
            if app.status == "error":
                raise WorkflowFailure(f"申请 {app.app_no} 处于异常状态，请先处理：{app.error_message}")
            diagram = self._diagram(conn, app.version_id)
            node = diagram.nodes.get(item["node_id"])
            if node is not None and node.properties.get("fieldJob"):
                self.field_work.require_finished(conn, item["id"])
            form = diagram.form_for(item["node_id"])
            clean = form.validate(data) if form else dict(data)
            received = [v for value in clean.values() if isinstance(value, list) for v in value if isinstance(v, str)]
            stored = self._store_uploads(conn, app, form, uploads, received)
            live = self._checkout(conn, app, diagram)
            run = self._run_context(conn, app, diagram)
            live.wf.script_engine = ScriptEngine(self.registry, run)
            try:
                complete_user_task(live.wf, UUID(item["id"]), clean)
                payload: dict[str, Any] = {"data": clean}
                if stored:
                    payload["documents"] = stored
                if authority is not None:
                    payload.update(authority.record)
                    authority.also(conn)
                events = [PendingEvent("task.completed", user, self.now(), payload, item["node_id"], item["id"])]
                result = self._advance_and_persist(conn, app, diagram, live, run, events, user, completed=item["id"])
            except BaseException:
                live.wf = None  # the in-memory workflow may be half-run: never reuse it
                raise
        self._checkin(app.id, live)
        return result

    def reassign(self, task_id: str, to_user: str, by: str) -> TaskInfo:
        """A supervisor (营销部) hands a task to another person of the task's role."""
        with self.store.transaction() as s:
            conn = s.connection()
            if SUPERVISOR_ROLE not in self._roles_of(conn, by):
                raise Forbidden(f"只有「{ROLES[SUPERVISOR_ROLE]}」可以改派任务")
            item = self._item(conn, task_id, lock=True)
            if item["status"] != "ready":
                raise Conflict(_already_done(item))
            if item["role"] not in self._roles_of(conn, to_user):
                raise InvalidInput(f"{to_user} 没有「{ROLES.get(item['role'], item['role'])}」角色，不能接手该任务")
            conn.execute(update(ITEMS).where(ITEMS.c.id == item["id"]).values(
                assignee=to_user, claimed_by=None, claimed_at=None))
            self.field_work.worker_changed(conn, item["id"], item["assignee"] or item["claimed_by"], to_user)
            self._audit_only(conn, item["application_id"], PendingEvent(
                "task.reassigned", by, self.now(), {"task": item["id"], "from": item["assignee"] or item["claimed_by"],
                                                    "to": to_user}, item["node_id"], item["id"]))
            return _task_info({**item, "assignee": to_user, "claimed_by": None, "claimed_at": None})

    def _store_uploads(self, conn: Connection, app: AppRow, form: FormDefinition | None, uploads: tuple[Upload, ...],
                       received: Iterable[str] = ()) -> list[dict[str, Any]]:
        """Check and keep the documents submitted with a task. A required document must be there: uploaded
        now or earlier, or recorded as received on paper (ticked in one of the form's checklist fields)."""
        wanted = {str(d["key"]): d for d in (form.documents if form else ())}
        errors: dict[str, str] = {}
        for up in uploads:
            doc = wanted.get(up.key)
            if doc is None:
                errors[up.key] = f"{up.key}：本环节不收取该资料"
            elif up.media_type not in UPLOAD_TYPES:
                errors[up.key] = f"{doc.get('title', up.key)}：只接受 PDF、JPG、PNG、DOCX 文件"
            elif not up.content:
                errors[up.key] = f"{doc.get('title', up.key)}：文件为空"
            elif len(up.content) > UPLOAD_MAX_BYTES:
                errors[up.key] = f"{doc.get('title', up.key)}：文件超过 {UPLOAD_MAX_BYTES // (1024 * 1024)} MB"
        given = {up.key for up in uploads} | set(received)
        missing = [key for key, doc in wanted.items() if doc.get("required") and key not in given]
        # most steps want no document: ask the database for earlier uploads only when one may be missing
        earlier = (set(conn.execute(select(DOCUMENTS.c.kind).where(DOCUMENTS.c.application_id == app.id)).scalars())
                   if missing else set())
        for key in missing:
            if f"upload:{key}" not in earlier:
                errors.setdefault(key, f"{wanted[key].get('title', key)}：必须上传")
        if errors:
            raise FormValidationError(f"上传的资料有 {len(errors)} 处问题：{'；'.join(errors.values())}", errors)
        services = _Services(self, conn, app)
        stored = []
        for up in uploads:
            name = Path(up.filename.replace("\\", "/")).name[:200] or f"{up.key}{UPLOAD_TYPES[up.media_type]}"
            doc_id = services.save_document(f"upload:{up.key}", name, up.media_type, up.content)
            stored.append({"key": up.key, "document": doc_id, "filename": name,
                           "sha256": hashlib.sha256(up.content).hexdigest()})
        return stored

    def retry(self, app_no: str, by: str) -> StepResult:
        """Run again the tasks that failed (a handler error, say) after the cause is fixed."""
        with self.store.begin() as conn:
            self._roles_of(conn, by)
            app = self._app_row(conn, APPS.c.app_no == app_no.strip(), lock=True)
            diagram = self._diagram(conn, app.version_id)
            live = self._checkout(conn, app, diagram)
            failed = error_tasks(live.wf)
            if not failed:
                self._checkin(app.id, live)
                raise Conflict(f"申请 {app_no} 没有出错的任务可重试")
            run = self._run_context(conn, app, diagram)
            live.wf.script_engine = ScriptEngine(self.registry, run)
            try:
                for task in failed:
                    reset_for_retry(task)
                events = [PendingEvent("application.retried", by, self.now(),
                                       {"tasks": [t.task_spec.name for t in failed]})]
                result = self._advance_and_persist(conn, app, diagram, live, run, events, by)
            except BaseException:
                live.wf = None
                raise
        self._checkin(app.id, live)
        return result

    # ----------------------------------------------------------------- the one write path

    def _advance_and_persist(self, conn: Connection, app: AppRow, diagram: ParsedDiagram, live: Live,
                             run: RunContext, events: list[PendingEvent], actor: str,
                             completed: str | None = None) -> StepResult:
        wf = live.wf
        error = advance(wf, Guard(live.counts, self.config.max_loop_iterations))
        now = self.now()
        changes = self.codec.changes(wf, live.snapshot)

        new_rows = [{"application_id": app.id, "task_id": str(tid), "seq": seq, "payload": payload}
                    for tid, seq, payload, is_new in changes.upserts if is_new]
        changed_rows = [{"a": app.id, "t": str(tid), "p": payload}
                        for tid, seq, payload, is_new in changes.upserts if not is_new]
        if new_rows:
            conn.execute(INSERT_TASK_ROWS, new_rows)
        if changed_rows:
            conn.execute(UPDATE_TASK_ROWS, changed_rows)
        if changes.deletions:
            conn.execute(delete(WF_TASKS).where(WF_TASKS.c.application_id == app.id,
                                                WF_TASKS.c.task_id.in_([str(t) for t in changes.deletions])))

        for call in run.calls:
            events.append(PendingEvent("service.called", "system", now,
                                       {"operator": call.operator, "params": call.params, "result": call.result},
                                       call.node_id, call.task_id))
        if changes.transitions:
            events.append(PendingEvent("engine.transitions", actor, now, {"changes": [
                [name, state_name(old), state_name(new), str(tid)] for tid, name, old, new in changes.transitions]}))

        new_items = []
        closed = []
        field_kinds: dict[str, str] = {}
        for tid, name, old, new in changes.transitions:
            task = wf.tasks.get(tid)
            if task is None or not task.task_spec.manual:
                continue
            if new == READY:
                node = diagram.nodes.get(name)
                assignee = None
                if node is not None and node.assignee:
                    value = run_expression(node.assignee, task.data)
                    assignee = str(value) if value else None
                limit = task_limit(node, name, task.data, self.config.time_limit_overrides,
                                   self.calendars.get(conn), now)
                if node is not None and node.properties.get("fieldJob"):
                    field_kinds[name] = node.properties["fieldJob"]
                new_items.append({
                    "id": str(tid), "application_id": app.id, "app_no": app.app_no, "process_key": app.process_key,
                    "customer_name": app.customer_name, "node_id": name, "node_name": node.name if node else name,
                    "role": (node.role if node and node.role else ""), "form": (node.form or "") if node else "",
                    "assignee": assignee, "claimed_by": None, "claimed_at": None, "status": "ready",
                    "created_at": now, "completed_at": None, "completed_by": None, "due_at": limit.due_at,
                    "time_limit_days": limit.days, "warned_at": None, "escalated_at": None,
                    "clock_stopped": limit.clock_stopped})
                ready: dict[str, Any] = {"role": new_items[-1]["role"], "assignee": assignee}
                if limit.clock_stopped:
                    ready["clock_stopped"] = True
                elif limit.due_at is not None:
                    ready.update(time_limit_days=limit.days, due_at=limit.due_at.isoformat())
                if limit.problem:
                    ready["time_limit_problem"] = limit.problem
                events.append(PendingEvent("task.ready", "system", now, ready, name, str(tid)))
            elif old == READY:
                closed.append((str(tid), "completed" if new == COMPLETED else "cancelled"))
        if new_items:
            conn.execute(INSERT_ITEMS, new_items)
            if field_kinds:
                self.field_work.jobs_ready(conn, [i for i in new_items if i["node_id"] in field_kinds], field_kinds,
                                           now)
        for item_id, status in closed:
            params = {"item_id": item_id, "status": status, "at": now, "actor": actor}
            conn.execute(COMPLETE_ITEM if item_id == completed else CLOSE_ITEM, params)
        cancelled = [item_id for item_id, status in closed if status == "cancelled"]
        if cancelled and any(n.properties.get("fieldJob") for n in diagram.nodes.values()):
            self.field_work.jobs_cancelled(conn, cancelled, now)

        if error:
            status = "error"
            events.append(PendingEvent("application.error", "system", now, {"message": error}))
        elif wf.is_completed():
            status = "completed"
            events.append(PendingEvent("application.completed", "system", now, {}))
        else:
            status = "running"
        audit.append(conn, app, events)
        changed = conn.execute(SAVE_APP, {
            "app_id": app.id, "expected": app.revision, "status": status, "error": error, "at": now,
            "completed_at": now if status == "completed" else None,
            "meta": self.codec.dump_meta(wf, {"loop_counts": live.counts}), "seq": app.audit_seq,
            "head": app.audit_head, "next_revision": app.revision + 1}).rowcount
        if changed != 1:
            raise Conflict("申请已被他人同时修改，请刷新后重试")
        app.revision += 1
        app.status = status
        self.codec.commit(wf, live.snapshot, changes)
        live.revision = app.revision
        if {str(t.id) for t in ready_user_tasks(wf)} == {i["id"] for i in new_items}:
            # every task waiting now opened in this step: the rows just written are the open items
            # (all created now, so in the query's order by id), no need to read them back
            open_items: Any = sorted(new_items, key=lambda i: i["id"])
        else:
            open_items = conn.execute(OPEN_ITEMS, {"app_id": app.id}).mappings().all()
        return StepResult(app.app_no, status, tuple(_task_info(i) for i in open_items), error)

    def _audit_only(self, conn: Connection, app_id: int, event: PendingEvent) -> None:
        """Append one event outside a workflow step (claims, renderings); the workflow is untouched."""
        app = self._app_row(conn, APPS.c.id == app_id, lock=True)
        audit.append(conn, app, [event])
        conn.execute(update(APPS).where(APPS.c.id == app.id).values(audit_seq=app.audit_seq, audit_head=app.audit_head))

    def _checkout(self, conn: Connection, app: AppRow, diagram: ParsedDiagram) -> Live:
        with self._lock:
            live = self._live.pop(app.id, None)
        if live is not None and live.wf is not None and live.revision == app.revision:
            return live
        return self._load(conn, app, diagram)

    def _load(self, conn: Connection, app: AppRow, diagram: ParsedDiagram) -> Live:
        """Rebuild an application's workflow from its rows."""
        rows = conn.execute(select(WF_TASKS.c.task_id, WF_TASKS.c.seq, WF_TASKS.c.payload)
                            .where(WF_TASKS.c.application_id == app.id).order_by(WF_TASKS.c.seq)).all()
        meta = json.loads(app.wf_meta)
        wf, snapshot = self.codec.restore(diagram, meta, [(r.task_id, r.seq, r.payload) for r in rows],
                                          ScriptEngine(self.registry, self._run_context(None, app, diagram)))
        return Live(app.revision, wf, snapshot, dict(meta.get("loop_counts", {})))

    def _checkin(self, app_id: int, live: Live) -> None:
        if live.wf is None:
            return
        with self._lock:
            self._live[app_id] = live
            self._live.move_to_end(app_id)
            while len(self._live) > self.config.workflow_cache_size:
                self._live.popitem(last=False)

    # ----------------------------------------------------------------- time limits

    def calendar(self) -> WorkingCalendar:
        """The working-day calendar (administrator entries, then chinesecalendar, then holidays)."""
        return self.calendars.get()

    def import_calendar(self, schedule: object, by: str) -> YearStatus:
        """Enter a year's official holiday schedule ({"year", "days": [{"date", "workday", "name"}]}): it
        replaces that year's entries and makes the year confirmed. InvalidInput lists every problem."""
        return self.calendars.import_year(schedule, by, self.now())

    def sweep_time_limits(self, now: datetime | None = None) -> SweepResult:
        """Warn tasks nearing their due date and escalate overdue ones, each exactly once across workers."""
        return self.time_limits.sweep(now)

    def notifications(self, username: str, unread_only: bool = False, limit: int = 50) -> list[NotificationInfo]:
        """A person's time-limit notifications (their own and their roles'), newest first."""
        return self.time_limits.notifications(username, unread_only, limit)

    def mark_notification_read(self, notification_id: int, username: str) -> None:
        """Mark one of my (or my roles') notifications read; Forbidden if it is someone else's."""
        self.time_limits.mark_read(notification_id, username)

    def forget_cached_workflows(self) -> None:
        """Drop every in-memory workflow (the next step reloads from the database)."""
        with self._lock:
            self._live.clear()

    def _run_context(self, conn: Connection | None, app: AppRow, diagram: ParsedDiagram) -> RunContext:
        services = _Services(self, conn, app) if conn is not None else _NoServices()
        return RunContext(app.app_no, app.process_key, self.config.policy, services, self.now, labels=diagram.labels)

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

    def _roles_of(self, conn: Connection, username: str) -> list[str]:
        row = conn.execute(ROLES_OF_USER, {"username": username}).one_or_none()
        if row is None or not row.active:
            raise NotFound(f"用户不存在或已停用：{username}")
        return row.roles.split(",")

    def _item(self, conn: Connection | Session, task_id: str, lock: bool = False) -> Mapping[str, Any]:
        task_id = task_id.strip()
        by_id = ITEM_BY_ID_LOCKED if lock else ITEM_BY_ID
        item = conn.execute(by_id, {"id": task_id}).mappings().one_or_none() if len(task_id) == 36 else None
        if item is None and 6 <= len(task_id) < 36:
            q = select(ITEMS).with_for_update() if lock else select(ITEMS)
            # autoescape: a % or _ in what was typed is a character, not a LIKE wildcard matching any task
            matches = conn.execute(q.where(ITEMS.c.id.startswith(task_id, autoescape=True)).limit(2)).mappings().all()
            if len(matches) > 1:
                raise InvalidInput(f"任务编号前缀 {task_id} 不唯一，请输入更长的编号")
            item = matches[0] if matches else None
        if item is None:
            raise NotFound(f"任务不存在：{task_id}")
        return dict(item)

    def _task_for_step(self, conn: Connection, task_id: str, username: str
                       ) -> tuple[dict[str, Any], list[str], AppRow]:
        """The task (locked), the user's roles and the task's application (locked), in one statement."""
        task_id = task_id.strip()
        if len(task_id) != 36:
            task_id = self._item(conn, task_id, lock=True)["id"]  # a prefix: find the whole id first
        row = conn.execute(TASK_FOR_STEP, {"id": task_id, "username": username}).mappings().one_or_none()
        if row is None:
            raise NotFound(f"任务不存在：{task_id}")
        if row["user__roles"] is None:
            raise NotFound(f"用户不存在或已停用：{username}")
        item = {name: value for name, value in row.items() if "__" not in name}
        app = AppRow(*(row[f"app__{c.name}"] for c in APP_COLUMNS))
        return item, row["user__roles"].split(","), app

    def _app_row(self, conn: Connection, where: Any, lock: bool = False) -> AppRow:
        q = select(APPS.c.id, APPS.c.app_no, APPS.c.process_key, APPS.c.version_id, APPS.c.customer_name,
                   APPS.c.status, APPS.c.revision, APPS.c.audit_seq, APPS.c.audit_head, APPS.c.wf_meta,
                   APPS.c.error_message).where(where)
        if lock:
            q = q.with_for_update()
        row = conn.execute(q).one_or_none()
        if row is None:
            raise NotFound("申请不存在")
        return AppRow(*row)

    def _app(self, s: Session, app_no: str, lock: bool = False) -> Application:
        q = select(Application).where(Application.app_no == app_no.strip())
        if lock:
            q = q.with_for_update()
        app = s.scalar(q)
        if app is None:
            raise NotFound(f"申请不存在：{app_no}")
        return app

    @staticmethod
    def _check_may_act(item: Mapping[str, Any], username: str, roles: list[str]) -> None:
        reason = refusal(_task_info(item), username, roles, claimed_counts=False)
        if reason:
            raise Forbidden(reason)

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

    def task_page(self, user: str, *, scope: str = "pool", status: str = "ready", process_key: str | None = None,
                  node_id: str | None = None, search: str | None = None, page: int = 1,
                  per_page: int = 20) -> TaskPage:
        """One page of a person's task list: 'mine' (claimed by or assigned to me), 'pool' (unclaimed tasks
        of my roles) or 'all' (supervisors); filtered, searched, counted — indexed queries only."""
        page, per_page = max(1, page), min(max(1, per_page), 200)
        with self.store.reading() as s:
            conn = s.connection()
            roles = self._roles_of(conn, user)
            cond = [ITEMS.c.status == status]
            if scope == "mine":
                # Each OR term carries the status so that each can use its own (person, status) index.
                cond = [((ITEMS.c.claimed_by == user) & (ITEMS.c.status == status)) |
                        ((ITEMS.c.assignee == user) & (ITEMS.c.status == status))]
            elif scope == "pool":
                cond += [ITEMS.c.claimed_by.is_(None), ITEMS.c.role.in_(roles),
                         (ITEMS.c.assignee.is_(None)) | (ITEMS.c.assignee == user)]
            elif scope == "all":
                if SUPERVISOR_ROLE not in roles:
                    raise Forbidden(f"只有「{ROLES[SUPERVISOR_ROLE]}」可以查看全部任务")
            else:
                raise InvalidInput(f"未知的任务范围：{scope}（mine、pool 或 all）")
            if process_key:
                cond.append(ITEMS.c.process_key == process_key)
            if node_id:
                cond.append(ITEMS.c.node_id == node_id)
            if search and search.strip():
                term = search.strip()
                if APP_NO_LIKE.fullmatch(term.upper()):
                    prefix = term.upper()  # a range, not LIKE, so that the app_no index serves it on every database
                    cond += [ITEMS.c.app_no >= prefix, ITEMS.c.app_no < prefix + "~"]
                else:
                    cond.append(name_contains(ITEMS.c.customer_name, term, conn.dialect.name))
            total = conn.execute(select(func.count()).select_from(ITEMS).where(*cond)).scalar_one()
            rows = conn.execute(select(ITEMS).where(*cond).order_by(ITEMS.c.created_at, ITEMS.c.id)
                                .limit(per_page).offset((page - 1) * per_page)).mappings().all()
            return TaskPage(tuple(_task_info(r) for r in rows), int(total), page, per_page)

    def users(self, role: str | None = None) -> list[UserInfo]:
        """Active staff, optionally only those with a role."""
        with self.store.reading() as s:
            users = [_user_info(u) for u in s.scalars(select(User).where(User.active.is_(True)).order_by(User.username))]
        return [u for u in users if role is None or role in u.roles]

    def create_api_token(self, username: str, name: str) -> str:
        """Issue a token for another channel to call the API as this user; only its hash is kept."""
        token = secrets.token_urlsafe(32)
        with self.store.transaction() as s:
            self._roles_of(s.connection(), username)
            s.add(ApiToken(token_hash=hashlib.sha256(token.encode()).hexdigest(), username=username,
                           name=name.strip() or "api", created_at=self.now(), revoked=False))
        return token

    def user_for_token(self, token: str) -> UserInfo | None:
        """The active user a valid API token stands for."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        # Every API request asks this: one statement in autocommit, one round trip instead of four
        # (BEGIN, token, user, ROLLBACK); a revoked token or deactivated user still fails at once.
        with self.store.sa_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            row = conn.execute(USER_BY_TOKEN, {"digest": digest}).one_or_none()
        if row is None:
            return None
        return UserInfo(row.username, row.display_name, tuple(r for r in row.roles.split(",") if r), row.active,
                        row.station)

    def application_trace(self, app_no: str) -> DiagramTrace:
        """The diagram of an application's version with its completed and active nodes and the flows taken."""
        with self.store.reading() as s:
            conn = s.connection()
            app = self._app_row(conn, APPS.c.app_no == app_no.strip())
            diagram = self._diagram(s, app.version_id)
            wf = self._load(conn, app, diagram).wf
        completed, active, flows = trace(wf, diagram)
        return DiagramTrace(diagram.xml.decode("utf-8"), completed, active, flows)

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
                history=tuple(HistoryEntry(e.seq, e.at, e.actor, e.kind, e.node_id, json.loads(e.payload), e.task_id)
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

    def search_applications(self, *, app_no: str | None = None, customer: str | None = None,
                            process_key: str | None = None, status: str | None = None,
                            created_from: date | None = None, created_to: date | None = None,
                            actor: str | None = None, page: int = 1, per_page: int = 20) -> ApplicationPage:
        """Applications by number prefix, customer (contains), variant, status, acceptance date and who acted
        on them (any audit event by that user), newest first."""
        page, per_page = max(1, page), min(max(1, per_page), 200)
        cond: list[Any] = []
        if app_no and app_no.strip():
            prefix = app_no.strip().upper()
            cond += [APPS.c.app_no >= prefix, APPS.c.app_no < prefix + "~"]
        if customer and customer.strip():
            cond.append(name_contains(APPS.c.customer_name, customer.strip(), self.store.sa_engine.dialect.name))
        cond += application_conditions(process_key=process_key, status=status, created_from=created_from,
                                       created_to=created_to)
        if actor and actor.strip():
            events = cast(Table, AuditEvent.__table__)
            cond.append(APPS.c.id.in_(select(events.c.application_id).where(events.c.actor == actor.strip())))
        with self.store.reading() as s:
            conn = s.connection()
            total = conn.execute(select(func.count()).select_from(APPS).where(*cond)).scalar_one()
            rows = conn.execute(
                select(APPS, VERSIONS.c.version).join(VERSIONS, VERSIONS.c.id == APPS.c.version_id).where(*cond)
                .order_by(APPS.c.created_at.desc(), APPS.c.id.desc()).limit(per_page).offset((page - 1) * per_page)
            ).mappings().all()
        items = tuple(ApplicationInfo(
            app_no=r["app_no"], process_key=r["process_key"], version=r["version"], status=r["status"],
            customer_name=r["customer_name"], customer_type=r["customer_type"], created_by=r["created_by"],
            created_at=r["created_at"], updated_at=r["updated_at"], completed_at=r["completed_at"],
            error_message=r["error_message"], data={}) for r in rows)
        return ApplicationPage(items, int(total), page, per_page)

    def application_forms(self, app_no: str) -> tuple[FormDefinition | None, Mapping[str, FormDefinition]]:
        """The acceptance form and every node's form of the version an application runs on (by node id)."""
        with self.store.reading() as s:
            app = self._app_row(s.connection(), APPS.c.app_no == app_no.strip())
            diagram = self._diagram(s, app.version_id)
        start = diagram.forms.get(diagram.start_form) if diagram.start_form else None
        by_node = {node_id: diagram.forms[n.form] for node_id, n in diagram.nodes.items()
                   if n.form and n.form in diagram.forms and n.kind != "startEvent"}
        return start, by_node

    def application_xml(self, app_no: str) -> str:
        """The BPMN XML of the version an application runs on (no workflow is loaded)."""
        with self.store.reading() as s:
            app = self._app_row(s.connection(), APPS.c.app_no == app_no.strip())
            return self._diagram(s, app.version_id).xml.decode("utf-8")

    def document(self, doc_id: str) -> tuple[DocumentInfo, bytes]:
        """A stored document and its bytes (checked against its SHA-256)."""
        with self.store.reading() as s:
            doc = s.get(Document, doc_id)
            if doc is None:
                raise NotFound(f"文件不存在：{doc_id}")
            return _doc_info(doc), self.files.read(doc.path, doc.sha256)

    def document_pdf(self, doc_id: str, by: str = "system") -> tuple[DocumentInfo, bytes]:
        """The PDF of an HTML contract rendering: made on first request (slow), then kept and reused."""
        with self.store.transaction() as s:
            doc = s.get(Document, doc_id)
            if doc is None:
                raise NotFound(f"文件不存在：{doc_id}")
            if doc.media_type == "application/pdf":
                return _doc_info(doc), self.files.read(doc.path, doc.sha256)
            if doc.media_type != "text/html":
                raise InvalidInput(f"文件 {doc.filename} 不是合同的 HTML 版本，无法生成 PDF")
            pdf_name = doc.filename.rsplit(".", 1)[0] + ".pdf"
            existing = s.scalar(select(Document).where(Document.application_id == doc.application_id,
                                                       Document.filename == pdf_name))
            if existing is not None:
                return _doc_info(existing), self.files.read(existing.path, existing.sha256)
            html = self.files.read(doc.path, doc.sha256).decode("utf-8")
            content = handlers.render_pdf(html)
            app = s.get(Application, doc.application_id)
            assert app is not None
            pdf_id = _Services(self, s.connection(), app).save_document(doc.kind, pdf_name, "application/pdf", content)
            s.flush()
            self._audit_only(s.connection(), app.id, PendingEvent(
                "document.rendered", by, self.now(), {"from": doc.id, "document": pdf_id, "filename": pdf_name}))
            created = s.get(Document, pdf_id)
            assert created is not None
            return _doc_info(created), content

    def replay(self, app_no: str, mode: str = "recorded") -> ReplayReport:
        """Re-execute an application from its recorded inputs and compare every step with the record
        ('recorded': handler results as recorded; 'rerun': today's rules decide again)."""
        if mode not in ("recorded", "rerun"):
            raise InvalidInput(f"未知的重放方式：{mode}（recorded 或 rerun）")
        with self.store.reading() as s:
            conn = s.connection()
            app = self._app_row(conn, APPS.c.app_no == app_no.strip())
            diagram = self._diagram(s, app.version_id)
            events = [RecordedEvent(e.seq, e.at, e.actor, e.kind, e.node_id, e.task_id, json.loads(e.payload))
                      for e in s.scalars(select(AuditEvent).where(AuditEvent.application_id == app.id)
                                         .order_by(AuditEvent.seq))]
            stored = self.codec.full_dict(self._load(conn, app, diagram).wf)
            documents = {doc_id: digest for doc_id, digest in
                         s.execute(select(Document.id, Document.sha256).where(Document.application_id == app.id))}

        def workloads() -> Mapping[str, int]:
            with self.store.reading() as session:
                return _Services(self, session.connection(), app).manager_workloads()

        return replay_application(app_no=app.app_no, process_key=app.process_key, diagram=diagram, events=events,
                                  registry=self.registry, settings=self.config.policy, workloads=workloads,
                                  max_iterations=self.config.max_loop_iterations, stored_state=stored,
                                  documents=documents, mode=mode,
                                  diagram_for_version=lambda v: self._version_diagram(app.process_key, v))

    def verify_all(self, app_nos: Iterable[str] | None = None,
                   progress: Callable[[int, int], None] | None = None) -> Iterator[AuditVerdict]:
        """Walk the hash chains of the given applications (or all, streamed in batches)."""
        from .auditlog import verify_chains

        return verify_chains(self, app_nos, progress)

    def event_log(self, *, app_nos: Iterable[str] | None = None, process_key: str | None = None,
                  status: str | None = None, created_from: date | None = None, created_to: date | None = None,
                  progress: Callable[[int, int], None] | None = None) -> Iterator["LogRecord"]:
        """The event log for process mining (one trace per application), streamed; filters checked up front."""
        from .exports import event_log

        return event_log(self, app_nos=app_nos, process_key=process_key, status=status, created_from=created_from,
                         created_to=created_to, progress=progress)

    def verify_audit(self, app_no: str) -> AuditVerdict:
        """Walk one application's hash chain."""
        with self.store.reading() as s:
            return audit.verify(s, self._app(s, app_no))

    def stored_state(self, app_no: str) -> dict[str, Any]:
        """The workflow as stored (SpiffWorkflow's dict form, spec excluded): for checks and replay."""
        with self.store.reading() as s:
            conn = s.connection()
            app = self._app_row(conn, APPS.c.app_no == app_no.strip())
            live = self._load(conn, app, self._diagram(s, app.version_id))
            return self.codec.full_dict(live.wf)

    def cached_state(self, app_no: str) -> dict[str, Any] | None:
        """The in-memory workflow of an application in the same dict form, if cached."""
        with self.store.reading() as s:
            app_id = self._app(s, app_no).id
        with self._lock:
            live = self._live.get(app_id)
        return self.codec.full_dict(live.wf) if live and live.wf is not None else None

    def impact_preview(self, process_key: str, draft_xml: bytes, *, limit: int = 500) -> ImpactReport:
        """Replay the newest version's recorded applications on a draft: which paths change, the time saved."""
        from .impact import History, preview

        if limit < 1:
            raise InvalidInput(f"重放的申请数至少为 1（收到 {limit}）")
        draft = self.validate(draft_xml, f"{process_key}.draft.bpmn")
        if draft.process_id != process_key:
            raise InvalidInput(f"草稿的流程标识为 {draft.process_id}，与要预览的流程 {process_key} 不符")
        with self.store.reading() as s:
            row = self._newest_row(s, process_key)
            base, base_version = self._diagram(s, row.id), row.version
            apps = s.execute(select(Application.id, Application.app_no, Application.status)
                             .where(Application.version_id == row.id)
                             .order_by(Application.created_at.desc(), Application.id.desc()).limit(limit)).all()
            ids = [a.id for a in apps]
            events: dict[int, list[RecordedEvent]] = {i: [] for i in ids}
            for e in s.scalars(select(AuditEvent).where(AuditEvent.application_id.in_(ids))
                               .order_by(AuditEvent.application_id, AuditEvent.seq)):
                events[e.application_id].append(RecordedEvent(e.seq, e.at, e.actor, e.kind, e.node_id, e.task_id,
                                                              json.loads(e.payload)))
            hours: dict[int, dict[str, float]] = {i: {} for i in ids}
            open_nodes: dict[int, list[str]] = {i: [] for i in ids}
            for item in s.execute(select(ITEMS.c.application_id, ITEMS.c.id, ITEMS.c.node_id, ITEMS.c.status,
                                         ITEMS.c.created_at, ITEMS.c.completed_at)
                                  .where(ITEMS.c.application_id.in_(ids)).order_by(ITEMS.c.created_at, ITEMS.c.id)):
                if item.status == "completed" and item.completed_at is not None:
                    hours[item.application_id][item.id] = (item.completed_at - item.created_at).total_seconds() / 3600
                elif item.status == "ready":
                    open_nodes[item.application_id].append(item.node_id)
        histories = [History(a.app_no, a.status, events[a.id], hours[a.id], tuple(open_nodes[a.id])) for a in apps]

        def workloads() -> Mapping[str, int]:
            with self.store.reading() as session:
                return _Services(self, session.connection(), None).manager_workloads()

        return preview(process_key=process_key, base_version=base_version, base=base, draft=draft,
                       histories=histories, registry=self.registry, settings=self.config.policy,
                       workloads=workloads, max_iterations=self.config.max_loop_iterations)

    # ----------------------------------------------------------------- version diff & migration

    def version_diff(self, process_key: str, from_version: int, to_version: int) -> VersionDiff:
        """What changed between two deployed versions of a process: nodes, flows and a summary in Chinese."""
        from .versiondiff import diff_versions

        with self.store.reading() as s:
            old = self._diagram(s, self._process_version_row(s, process_key, from_version).id)
            new = self._diagram(s, self._process_version_row(s, process_key, to_version).id)
        return diff_versions(process_key, from_version, to_version, old, new)

    def migration_plan(self, process_key: str, to_version: int, app_nos: Iterable[str] | None = None,
                       status: str = "running") -> MigrationPlan:
        """Whether each application of a process on an older version (all with that status, or the given ones)
        could move to ``to_version`` without losing or repeating work; nothing is changed."""
        from .views import MigrationPlan

        wanted = None if app_nos is None else list(dict.fromkeys(a.strip() for a in app_nos if a.strip()))
        with self.store.reading() as s:
            conn = s.connection()
            target = self._process_version_row(s, process_key, to_version)
            numbers = self._version_numbers(s, process_key)
            cond = [APPS.c.process_key == process_key]
            if wanted is None:
                cond += [APPS.c.status == status,
                         APPS.c.version_id.in_([vid for vid, number in numbers.items() if number < to_version])]
            else:
                cond.append(APPS.c.app_no.in_(wanted))
            apps = {row.app_no: row for row in
                    (AppRow(*r) for r in conn.execute(select(*APP_COLUMNS).where(*cond).order_by(APPS.c.id)))}
            missing = [a for a in wanted or () if a not in apps]
            if missing:
                raise NotFound(f"流程 {process_key} 没有这些申请：{'、'.join(missing)}")
            order = wanted if wanted is not None else list(apps)
            verdicts = tuple(self._migration_check(s, apps[a], target, numbers, status)[0] for a in order)
        return MigrationPlan(process_key, to_version, verdicts)

    def migrate(self, plan: MigrationPlan, by: str,
                progress: Callable[[int, int], None] | None = None) -> MigrationResult:
        """Move the safe applications of a plan to its version, each in its own transaction and checked again
        against its state at that moment; the unsafe ones stay and finish on their version."""
        from .views import MigrationResult

        with self.store.reading() as s:
            self._roles_of(s.connection(), by)
        migrated: list[str] = []
        skipped: list[InstanceVerdict] = []
        total = len(plan.verdicts)
        for done, verdict in enumerate(plan.verdicts, 1):
            if verdict.safe:
                fresh = self._migrate_one(plan.process_key, plan.to_version, verdict.app_no, by)
                if fresh is None:
                    migrated.append(verdict.app_no)
                else:
                    skipped.append(fresh)
            else:
                skipped.append(verdict)
            if progress is not None:
                progress(done, total)
        return MigrationResult(tuple(migrated), tuple(skipped))

    def _migrate_one(self, process_key: str, to_version: int, app_no: str, by: str) -> InstanceVerdict | None:
        """Migrate one application; None when done, else the verdict that stopped it."""
        with self.store.transaction() as s:
            conn = s.connection()
            app = self._app_row(conn, APPS.c.app_no == app_no, lock=True)
            target = self._process_version_row(s, process_key, to_version)
            verdict, live, outcome = self._migration_check(s, app, target, self._version_numbers(s, process_key),
                                                           "running")
            if not verdict.safe or live is None or outcome is None or outcome.rows is None:
                return verdict
            now = self.now()
            transitions = self.codec.changes(live.wf, live.snapshot).transitions
            conn.execute(delete(WF_TASKS).where(WF_TASKS.c.application_id == app.id))
            conn.execute(INSERT_TASK_ROWS, [{"application_id": app.id, "task_id": tid, "seq": seq, "payload": payload}
                                            for tid, seq, payload in outcome.rows])
            events = [PendingEvent("application.migrated", by, now, {
                "from_version": verdict.from_version, "to_version": to_version, "by": by})]
            if transitions:
                events.append(PendingEvent("engine.transitions", by, now, {"changes": [
                    [name, state_name(old), state_name(new), str(tid)] for tid, name, old, new in transitions]}))
            audit.append(conn, app, events)
            changed = conn.execute(update(APPS).where(APPS.c.id == app.id, APPS.c.revision == app.revision).values(
                version_id=target.id, wf_meta=self.codec.dump_meta(live.wf, {"loop_counts": live.counts}),
                revision=app.revision + 1, audit_seq=app.audit_seq, audit_head=app.audit_head,
                updated_at=now)).rowcount
            if changed != 1:
                raise Conflict(f"申请 {app_no} 已被他人同时修改，请重新生成迁移计划")
        with self._lock:
            self._live.pop(app.id, None)
        return None

    def _migration_check(self, s: Session, app: AppRow, target: ProcessVersion, numbers: Mapping[int, int],
                         status: str) -> tuple[InstanceVerdict, Live | None, Outcome | None]:
        """The verdict on one application; when safe, also its workflow (migrated in memory) and the outcome."""
        from .migration import assess
        from .views import InstanceVerdict

        from_version = numbers[app.version_id]
        if from_version >= target.version:
            return InstanceVerdict(app.app_no, from_version, False,
                                   f"已在第 {from_version} 版，不能迁移到第 {target.version} 版", ()), None, None
        if app.status != status:
            return InstanceVerdict(app.app_no, from_version, False,
                                   f"申请状态为 {app.status}，只迁移状态为 {status} 的申请", ()), None, None
        old, new = self._diagram(s, app.version_id), self._diagram(s, target.id)
        live = self._load(s.connection(), app, old)
        outcome = assess(self.codec, live.wf, old, new, target.version, live.counts)
        verdict = InstanceVerdict(app.app_no, from_version, outcome.safe, outcome.reason, outcome.waiting_at)
        return verdict, (live if outcome.safe else None), outcome

    def _process_version_row(self, s: Session, process_key: str, version: int) -> ProcessVersion:
        row = s.scalar(select(ProcessVersion).where(ProcessVersion.process_key == process_key,
                                                    ProcessVersion.version == version))
        if row is None:
            raise NotFound(f"流程 {process_key} 没有第 {version} 版")
        return row

    def _version_numbers(self, s: Session, process_key: str) -> dict[int, int]:
        """Version row id → version number, for one process."""
        return {vid: number for vid, number in s.execute(
            select(ProcessVersion.id, ProcessVersion.version).where(ProcessVersion.process_key == process_key))}

    def _version_diagram(self, process_key: str, version: int) -> ParsedDiagram:
        """The parsed diagram of one deployed version (replay of a migrated application needs the older ones)."""
        with self.store.reading() as s:
            return self._diagram(s, self._process_version_row(s, process_key, version).id)

    def dispose(self) -> None:
        """Release database connections."""
        self.store.dispose()


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


def application_conditions(*, process_key: str | None = None, status: str | None = None,
                           created_from: date | None = None, created_to: date | None = None) -> list[Any]:
    """WHERE conditions on applications by variant, status and acceptance date (both days inclusive)."""
    cond: list[Any] = []
    if process_key:
        cond.append(APPS.c.process_key == process_key)
    if status:
        cond.append(APPS.c.status == status)
    if created_from:
        cond.append(APPS.c.created_at >= datetime.combine(created_from, time.min))
    if created_to:
        cond.append(APPS.c.created_at < datetime.combine(created_to + timedelta(days=1), time.min))
    return cond


def run_expression(source: str, data: Mapping[str, Any]) -> Any:
    """Evaluate a diagram expression (e.g. an assignee) safely; None if it cannot be evaluated."""
    try:
        return expressions.evaluate(source.strip(), data)
    except ExpressionError:
        return None


def _already_done(item: Mapping[str, Any]) -> str:
    if item["status"] == "completed":
        when = f"{item['completed_at']:%Y-%m-%d %H:%M}" if item["completed_at"] else ""
        return f"任务「{item['node_name']}」已由 {item['completed_by'] or '他人'} 于 {when} 办理完成"
    return f"任务「{item['node_name']}」已不在待办状态（{item['status']}）"


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        return None


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _user_info(u: User) -> UserInfo:
    return UserInfo(u.username, u.display_name, tuple(r for r in u.roles.split(",") if r), u.active, u.station)


def _version_info(r: ProcessVersion) -> VersionInfo:
    return VersionInfo(r.id, r.process_key, r.version, r.name, r.sha256, r.deployed_by, r.deployed_at, r.comment)


def _task_info(i: Any) -> TaskInfo:
    """A TaskInfo from a work item: an ORM row or a mapping of its columns."""
    get = i.__getitem__ if isinstance(i, Mapping) else i.__getattribute__
    return TaskInfo(*(get(name) for name in ("id", "app_no", "process_key", "customer_name", "node_id", "node_name",
                                             "role", "form", "status", "assignee", "claimed_by", "created_at",
                                             "completed_at", "completed_by", "due_at", "time_limit_days",
                                             "warned_at", "escalated_at", "clock_stopped")))


def _draft_info(r: ProcessDraft) -> DraftInfo:
    problems = tuple(Reason(code, message, element) for code, message, element in json.loads(r.problems_json or "[]"))
    return DraftInfo(r.id, r.process_key, r.base_version, problems, r.comment, r.saved_by, r.saved_at,
                     r.deployed_version)


def _doc_info(d: Document) -> DocumentInfo:
    return DocumentInfo(d.id, d.kind, d.filename, d.media_type, d.size, d.sha256, d.created_at)
