"""The Engine: the one door into the runtime for the web pages, the API, the command line and benchmarks.

It is a composition root. It builds each capability with only the collaborators that capability uses
(store, clock, calendar, audit writer, roles), wires the features into the write path as step hooks and
into the gate as markers, and then answers every call with a one-line delegation — after checking, for
the actions only some roles may take, that the acting user may (:func:`requires`).

    Engine
    ├── definitions  Definitions, Drafts          the gate, versions, drafts           engine/definitions/
    ├── steps        Steps (+ hooks)              start, claim, complete, retry …      engine/casework/
    ├── worklist, records, documents, accounts                                         engine/casework/
    ├── time_limits  TimeLimits, calendars        due dates (hook), sweep, calendar     engine/timelimits/
    ├── field_work, meetings                      site jobs (hook + marker), meetings   engine/fieldwork/
    ├── supervision, replays                      dashboard, replay, exports, chains    engine/oversight/
    └── migrations, impact                        version diff, migration, preview      engine/analysis/
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import handlers
from handlers.notify import LogNotifier, Notifier

from .analysis.impact import ImpactPreview
from .analysis.migration import Migrations
from .analysis.scenarios import ScenarioRunner
from .analysis.versiondiff import diff_versions
from .casework.accounts import Accounts
from .casework.attempts import AttemptLimits, progress_keys
from .casework.audit import append_only, verify
from .casework.documents import Documents
from .casework.hooks import StepHook
from .casework.passwords import PasswordHasher, Scrypt
from .casework.permissions import Action
from .casework.progress import PublicProgress, public_progress
from .casework.records import Records
from .casework.rows import app_by_number
from .casework.steps import Authority, Steps
from .casework.worklist import Worklist
from .config import EngineConfig
from .definitions.drafts import Drafts
from .definitions.versions import Definitions
from .fieldwork import jobs as field_jobs
from .fieldwork import meetings as review_meetings
from .fieldwork.jobs import FieldWork, FieldWorkHook
from .fieldwork.meetings import ReviewMeetings
from .kernel.forms import FormDefinition
from .kernel.loading import Marker
from .oversight.exports import LogRecord, event_log
from .oversight.replay import Replays
from .oversight.supervision import Supervision
from .oversight.verification import verify_chains
from .results import (
    ApplicationInfo,
    ApplicationPage,
    AuditVerdict,
    DiagramSummary,
    DiagramTrace,
    DocumentInfo,
    DraftInfo,
    ImpactReport,
    MigrationPlan,
    MigrationResult,
    NotificationInfo,
    ReplayReport,
    StepResult,
    SweepResult,
    TaskInfo,
    TaskPage,
    Upload,
    UserInfo,
    VersionDiff,
    VersionInfo,
)
from .store import Store
from .store import schema
from .store.files import document_files
from .store.secrets import SharedSecrets
from .timelimits import limits as time_limits
from .timelimits.calendar import CalendarSource, WorkingCalendar, YearStatus
from .timelimits.limits import TimeLimitHook
from .timelimits.sweep import TimeLimits
from .vocabulary import SYSTEM, TaskStatus

F = TypeVar("F", bound=Callable[..., Any])


def requires(action: Action) -> Callable[[F], F]:
    """Refuse (Forbidden) the call unless its ``by`` user may take ``action``: checked here, at the engine's
    door, so that every channel — page, API, command line — is held to the same rule."""

    def wrap(method: F) -> F:
        signature = inspect.signature(method)

        @functools.wraps(method)
        def guarded(self: "Engine", *args: Any, **kwargs: Any) -> Any:
            by = signature.bind(self, *args, **kwargs).arguments["by"]
            self.accounts.permit(by, action)
            return method(self, *args, **kwargs)

        return cast(F, guarded)

    return wrap


class Engine:
    """The facade over processes, applications, tasks, documents and the audit trail."""

    def __init__(
        self,
        config: EngineConfig | Mapping[str, Any] | None = None,
        *,
        registry: Mapping[str, handlers.Operator] | None = None,
        clock: Callable[[], datetime] | None = None,
        notifier: Notifier | None = None,
        password_hasher: PasswordHasher | None = None,
    ) -> None:
        self.config = config if isinstance(config, EngineConfig) else EngineConfig.from_mapping(config)
        self.notifier: Notifier = notifier or LogNotifier()
        self.registry = registry if registry is not None else handlers.build_registry(self.notifier)
        self.now = clock or datetime.now
        self.config.prepare_directories()
        self.store = Store(self.config.database_url)
        self.files = document_files(self.config.documents_backend, self.config.documents, self.store, self.now)
        self.accounts = Accounts(self.store, password_hasher or Scrypt(), self.now)
        self.calendars = CalendarSource(self.store)
        self.attempts = AttemptLimits(self.store, self.now)
        self.secrets = SharedSecrets(self.store, self.now)

        markers: tuple[Marker, ...] = (*time_limits.MARKERS, *field_jobs.MARKERS, *review_meetings.MARKERS)
        self.definitions = Definitions(self.store, self.config, self.registry, markers, self.now)
        self.drafts_ = Drafts(self.store, self.definitions, self.now)
        self.field_work = FieldWork(self.store, self.now, self.calendars.get, append_only, self.accounts.roles_of)
        hooks: tuple[StepHook, ...] = (TimeLimitHook(self.config.time_limit_overrides, self.calendars.get),
                                       FieldWorkHook(self.field_work))
        self.steps = Steps(self.store, self.config, self.definitions, self.accounts, self.files, self.registry,
                           self.now, hooks)
        self.worklist = Worklist(self.store, self.accounts)
        self.records = Records(self.store, self.definitions, self.steps)
        self.documents = Documents(self.store, self.files, self.now)
        self.time_limits = TimeLimits(self.store, self.config, self.calendars, self.notifier, self.now, append_only,
                                      self.accounts.roles_of)
        self.meetings = ReviewMeetings(self.store, self.now, self.definitions.marked_nodes, self.steps.complete,
                                       self.accounts.roles_of)
        self.supervision = Supervision(self.store, self.now, self.calendars.get)
        self.replays = Replays(self.store, self.definitions, self.steps, self.registry, self.config.policy,
                               self.config.max_loop_iterations)
        self.migrations = Migrations(self.store, self.definitions, self.steps, self.now)
        self.impact = ImpactPreview(self.store, self.definitions, self.registry, self.config.policy,
                                    self.config.max_loop_iterations)

    # ----------------------------------------------------------------- schema & accounts

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
        """Add a member of staff (an installation step: ``baozhuang init``, the demo, an administrator's script)."""
        return self.accounts.create_user(username, display_name, roles, password, station)

    def user(self, username: str) -> UserInfo:
        """An active user; NotFound otherwise."""
        return self.accounts.user(username)

    def users(self, role: str | None = None) -> list[UserInfo]:
        """Active staff, optionally only those with a role."""
        return self.accounts.users(role)

    def authenticate(self, username: str, password: str) -> UserInfo | None:
        """The user if the password is right and the account active, else None."""
        return self.accounts.authenticate(username, password)

    def may(self, username: str, action: Action) -> bool:
        """Whether a user may take an action (pages ask before offering it)."""
        return self.accounts.may(username, action)

    def create_api_token(self, username: str, name: str, *, by: str) -> str:
        """Issue a token for another channel to call the API as ``username`` (an administrator issues it)."""
        return self.accounts.create_api_token(username, name, by)

    def user_for_token(self, token: str) -> UserInfo | None:
        """The active user a valid API token stands for."""
        return self.accounts.user_for_token(token)

    # ----------------------------------------------------------------- definitions

    def validate(self, data: bytes, filename: str = "diagram.bpmn", forms_dir: Path | None = None) -> DiagramSummary:
        """Run the deploy-time gate; raise DiagramRejected with every reason."""
        return self.definitions.validate(data, filename, forms_dir)

    @requires(Action.DEPLOY)
    def deploy(self, data: bytes, filename: str, by: str, comment: str = "",
               forms_dir: Path | None = None) -> VersionInfo:
        """Validate and store a new immutable version; new applications use the newest."""
        return self.definitions.deploy(data, filename, by, comment, forms_dir)

    def deploy_shipped(self) -> list[VersionInfo]:
        """Deploy processes/*.bpmn whose content differs from their newest version (installation: ``init``)."""
        return [self.definitions.deploy(data, path.name, SYSTEM, "随系统发布的流程")
                for path, data in self.definitions.shipped_changes()]

    @requires(Action.EDIT_DRAFTS)
    def save_draft(self, process_key: str, xml: bytes, by: str, comment: str = "",
                   draft_id: int | None = None) -> DraftInfo:
        """Keep an edited diagram as a draft with every problem the deploy gate finds."""
        return self.drafts_.save(process_key, xml, by, comment, draft_id)

    def drafts(self, process_key: str | None = None) -> list[DraftInfo]:
        """Saved drafts, newest first."""
        return self.drafts_.list(process_key)

    def draft(self, draft_id: int) -> tuple[DraftInfo, str]:
        """One draft and its XML."""
        return self.drafts_.get(draft_id)

    @requires(Action.DEPLOY)
    def deploy_draft(self, draft_id: int, by: str, comment: str = "") -> VersionInfo:
        """Deploy a draft that passes the gate (checked again now) as the process's next version."""
        return self.drafts_.deploy(draft_id, by, comment)

    def version_xml(self, process_key: str, version: int) -> str:
        """The BPMN XML of one deployed version."""
        return self.definitions.version_xml(process_key, version)

    def latest_version(self, process_key: str) -> VersionInfo | None:
        """The newest deployed version of a process, if any."""
        return self.definitions.latest_version(process_key)

    def versions(self, process_key: str | None = None) -> list[VersionInfo]:
        """Every deployed version, newest first, with how many applications still run on it."""
        return self.definitions.versions(process_key)

    def marked_nodes(self, prop: str) -> dict[str, tuple[str, FormDefinition | None]]:
        """Nodes of every deployed version carrying a diagram property: node id → (value, form)."""
        return self.definitions.marked_nodes(prop)

    def start_form(self, process_key: str) -> FormDefinition | None:
        """The acceptance form of the newest version of a process."""
        return self.definitions.start_form(process_key)

    def form_names(self) -> list[str]:
        """The form files the shipped processes may name (processes/forms/*.json)."""
        return sorted(p.name for p in (self.config.processes_dir / "forms").glob("*.json"))

    # ----------------------------------------------------------------- steps

    def start(self, process_key: str, data: Mapping[str, Any], by: str) -> StepResult:
        """Accept an application (受理): validate the start form, number it and run to the first wait."""
        return self.steps.start(process_key, data, by)

    def claim(self, task_id: str, user: str) -> TaskInfo:
        """Take a task of one of my roles so that nobody else works on it."""
        return self.steps.claim(task_id, user)

    def release(self, task_id: str, user: str) -> TaskInfo:
        """Give a claimed task back to the pool."""
        return self.steps.release(task_id, user)

    def complete(self, task_id: str, user: str, data: Mapping[str, Any], uploads: Iterable[Upload] = ()) -> StepResult:
        """Submit a user task's form (and its documents); the process runs on until it waits again."""
        return self.steps.complete(task_id, user, data, uploads)

    def complete_with(self, task_id: str, user: str, data: Mapping[str, Any], uploads: Iterable[Upload] = (),
                      authority: Authority | None = None) -> StepResult:
        """Complete a task under another authority than its assignee's (a meeting deciding it)."""
        return self.steps.complete(task_id, user, data, uploads, authority)

    def reassign(self, task_id: str, to_user: str, by: str) -> TaskInfo:
        """A supervisor (营销部) hands a task to another person of the task's role."""
        return self.steps.reassign(task_id, to_user, by)

    def retry(self, app_no: str, by: str) -> StepResult:
        """Run again the tasks that failed (a handler error, say) after the cause is fixed."""
        return self.steps.retry(app_no, by)

    def forget_cached_workflows(self) -> None:
        """Drop every in-memory workflow (the next step reloads from the database)."""
        self.steps.forget()

    # ----------------------------------------------------------------- reading

    def tasks(self, *, role: str | None = None, user: str | None = None, status: str = TaskStatus.READY,
              process_key: str | None = None, app_no: str | None = None, limit: int = 100,
              offset: int = 0) -> list[TaskInfo]:
        """Task rows by role, user, status; plain indexed queries."""
        return self.worklist.tasks(role=role, user=user, status=status, process_key=process_key, app_no=app_no,
                                   limit=limit, offset=offset)

    def task_page(self, user: str, *, scope: str = "pool", status: str = TaskStatus.READY,
                  process_key: str | None = None, node_id: str | None = None, search: str | None = None,
                  page: int = 1, per_page: int = 20) -> TaskPage:
        """One page of a person's task list: 'mine', 'pool' or 'all' (supervisors)."""
        return self.worklist.page(user, scope=scope, status=status, process_key=process_key, node_id=node_id,
                                  search=search, page=page, per_page=per_page)

    def task(self, task_id: str) -> TaskInfo:
        """One task row."""
        return self.records.task(task_id)

    def task_form(self, task_id: str) -> FormDefinition | None:
        """The form of a user task."""
        return self.records.task_form(task_id)

    def application(self, app_no: str) -> ApplicationInfo:
        """An application with its data, open tasks, history and documents."""
        return self.records.application(app_no)

    def applications(self, *, status: str | None = None, limit: int = 50) -> list[ApplicationInfo]:
        """Recent applications (summary only)."""
        return self.records.applications(status=status, limit=limit)

    def search_applications(self, *, app_no: str | None = None, customer: str | None = None,
                            process_key: str | None = None, status: str | None = None,
                            created_from: date | None = None, created_to: date | None = None,
                            actor: str | None = None, page: int = 1, per_page: int = 20) -> ApplicationPage:
        """Applications by number prefix, customer, variant, status, acceptance date and who acted on them."""
        return self.records.search(app_no=app_no, customer=customer, process_key=process_key, status=status,
                                   created_from=created_from, created_to=created_to, actor=actor, page=page,
                                   per_page=per_page)

    def application_trace(self, app_no: str) -> DiagramTrace:
        """The diagram of an application's version with its completed and active nodes and the flows taken."""
        return self.records.trace(app_no)

    def application_forms(self, app_no: str) -> tuple[FormDefinition | None, Mapping[str, FormDefinition]]:
        """The acceptance form and every node's form of the version an application runs on."""
        return self.records.forms(app_no)

    def application_xml(self, app_no: str) -> str:
        """The BPMN XML of the version an application runs on."""
        return self.records.xml(app_no)

    def stored_state(self, app_no: str) -> dict[str, Any]:
        """The workflow as stored (SpiffWorkflow's dict form, spec excluded)."""
        return self.records.stored_state(app_no)

    def cached_state(self, app_no: str) -> dict[str, Any] | None:
        """The in-memory workflow of an application in the same dict form, if cached."""
        return self.records.cached_state(app_no)

    def public_progress(self, app_no: str) -> PublicProgress | None:
        """The customer's view of one application (None if there is none)."""
        return public_progress(self.store, app_no)

    def shared_secret(self, name: str, proposal: str) -> str:
        """A secret every process on every host shares (the web session key): ``proposal`` if it is the first
        asked for, else the one set before."""
        return self.secrets.get(name, proposal)

    def progress_attempt(self, client_address: str, app_no: str) -> int:
        """Ask to look an application up on the customer progress page: 0 to go ahead (the attempt counts as a
        failure until :meth:`progress_found`), else the seconds to wait — limits shared by every process."""
        return self.attempts.attempt(progress_keys(client_address, app_no)).wait_seconds

    def progress_found(self, client_address: str, app_no: str) -> None:
        """The lookup was right: its attempt does not count against the client or the application."""
        self.attempts.succeeded(progress_keys(client_address, app_no))

    def document(self, doc_id: str) -> tuple[DocumentInfo, bytes]:
        """A stored document and its bytes (checked against its SHA-256)."""
        return self.documents.document(doc_id)

    def document_pdf(self, doc_id: str, by: str = SYSTEM) -> tuple[DocumentInfo, bytes]:
        """The PDF of an HTML contract rendering: made on first request, then kept and reused."""
        return self.documents.document_pdf(doc_id, by)

    # ----------------------------------------------------------------- time limits

    def calendar(self) -> WorkingCalendar:
        """The working-day calendar (administrator entries, then chinesecalendar, then holidays)."""
        return self.calendars.get()

    @requires(Action.IMPORT_CALENDAR)
    def import_calendar(self, schedule: object, by: str) -> YearStatus:
        """Enter a year's official holiday schedule; InvalidInput lists every problem."""
        return self.calendars.import_year(schedule, by, self.now())

    def sweep_time_limits(self, now: datetime | None = None) -> SweepResult:
        """Warn tasks nearing their due date and escalate overdue ones, each exactly once across workers."""
        return self.time_limits.sweep(now)

    def notifications(self, username: str, unread_only: bool = False, limit: int = 50) -> list[NotificationInfo]:
        """A person's time-limit notifications (their own and their roles'), newest first."""
        return self.time_limits.notifications(username, unread_only, limit)

    def unread_notifications(self, username: str, roles: Iterable[str]) -> int:
        """How many of a person's (or their roles') notifications are unread."""
        return self.time_limits.unread_count(username, roles)

    def mark_notification_read(self, notification_id: int, username: str) -> None:
        """Mark one of my (or my roles') notifications read."""
        self.time_limits.mark_read(notification_id, username)

    # ----------------------------------------------------------------- oversight

    def verify_audit(self, app_no: str) -> AuditVerdict:
        """Walk one application's hash chain (the application page shows whether it is intact)."""
        with self.store.reading() as s:
            return verify(s, app_by_number(s, app_no))

    @requires(Action.AUDIT)
    def verify_all(self, app_nos: Iterable[str] | None = None, progress: Callable[[int, int], None] | None = None,
                   *, by: str) -> Iterator[AuditVerdict]:
        """Walk the hash chains of the given applications (or all, streamed in batches)."""
        return verify_chains(self.store, app_nos, progress)

    @requires(Action.AUDIT)
    def replay(self, app_no: str, mode: str = "recorded", *, by: str) -> ReplayReport:
        """Re-execute an application from its recorded inputs and compare every step with the record."""
        return self.replays.replay(app_no, mode)

    @requires(Action.EXPORT)
    def event_log(self, *, app_nos: Iterable[str] | None = None, process_key: str | None = None,
                  status: str | None = None, created_from: date | None = None, created_to: date | None = None,
                  progress: Callable[[int, int], None] | None = None, by: str) -> Iterator[LogRecord]:
        """The event log for process mining (one trace per application), streamed."""
        return event_log(self.store, app_nos=app_nos, process_key=process_key, status=status,
                         created_from=created_from, created_to=created_to, progress=progress)

    # ----------------------------------------------------------------- analysis

    @requires(Action.READ_DEFINITIONS)
    def version_diff(self, process_key: str, from_version: int, to_version: int, *, by: str) -> VersionDiff:
        """What changed between two deployed versions of a process."""
        return diff_versions(process_key, from_version, to_version,
                             self.definitions.version_diagram(process_key, from_version),
                             self.definitions.version_diagram(process_key, to_version))

    @requires(Action.EDIT_DRAFTS)
    def impact_preview(self, process_key: str, draft_xml: bytes, *, limit: int = 500, by: str) -> ImpactReport:
        """Replay the newest version's recorded applications on a draft: which paths change, the time saved."""
        return self.impact.preview(process_key, draft_xml, limit=limit)

    @requires(Action.MIGRATE)
    def migration_plan(self, process_key: str, to_version: int, app_nos: Iterable[str] | None = None,
                       status: str = "running", *, by: str) -> MigrationPlan:
        """Whether each application could move to ``to_version`` without losing or repeating work."""
        return self.migrations.plan(process_key, to_version, app_nos, status)

    @requires(Action.MIGRATE)
    def migrate(self, plan: MigrationPlan, by: str, progress: Callable[[int, int], None] | None = None
                ) -> MigrationResult:
        """Move the safe applications of a plan to its version, each checked again in its own transaction."""
        return self.migrations.migrate(plan, by, progress)

    def scenario_runner(self, process_key: str, *, draft_xml: bytes | None = None) -> ScenarioRunner:
        """Example paths run in memory (no database) on a draft, or on the newest deployed version."""
        if draft_xml is not None:
            diagram = self.definitions.parse(draft_xml, f"{process_key}.draft.bpmn")
        else:
            with self.store.read() as conn:
                diagram = self.definitions.diagram(conn, self.definitions.newest_row(conn, process_key).id)
        return ScenarioRunner(diagram, self.registry, self.config.policy, self.config.max_loop_iterations, self.now)

    def dispose(self) -> None:
        """Release database connections."""
        self.store.dispose()
