"""The Engine: the one door into the runtime for the web pages, the API, the command line and benchmarks.

It is a composition root. It builds each capability with only the collaborators that capability uses
(store, clock, calendar, audit writer, roles), wires the features into the write path as step hooks and
into the gate as markers, and then answers every call with a one-line delegation — after checking, for
the actions only some roles may take, that the acting user may (:func:`requires`).

    Engine
    ├── definitions  Definitions, Drafts          the gate, versions, drafts           engine/definitions/
    ├── steps        Steps (+ hooks)              start, claim, complete, retry …      engine/casework/
    ├── lifecycle    Lifecycle                    暂停 恢复 撤销 终止 更正 (same hooks)      engine/casework/
    ├── worklist, records, documents, accounts                                         engine/casework/
    ├── task_work, delegation, comments_, saved_filters, prefills   催办 转办 抄送 委托 留言 …  engine/casework/
    ├── time_limits  TimeLimits, calendars        due dates (hook), sweep, calendar     engine/timelimits/
    ├── field_work, meetings                      site jobs (hook + marker), meetings   engine/fieldwork/
    ├── customers    notices (hook + marker), firms, follow-ups (hook), complaints, progress
    │                                             the customer's side                  engine/customers/
    ├── supervision, replays                      dashboard, replay, exports, chains    engine/oversight/
    └── migrations, impact                        version diff, migration, preview      engine/analysis/
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

import handlers
from handlers.notify import LogNotifier, Notifier

from .analysis.impact import ImpactPreview
from .analysis.migration import Migrations
from .analysis.scenarios import ExampleRun, ScenarioRunner, example_paths, play
from .analysis.versiondiff import diff_versions
from .casework.accounts import Accounts
from .casework.attempts import AttemptLimits, progress_keys
from .casework.audit import append_only, verify
from .casework.comments import CommentInfo, Comments
from .casework.delegation import Delegation, SubstitutionInfo
from .casework.filters import SavedFilterInfo, SavedFilters
from .casework.documents import Documents
from .casework.firstcontact import FirstContacts
from .casework.hooks import StepHook
from .casework.lifecycle import Lifecycle
from .casework.passwords import PasswordHasher, Scrypt
from .casework.permissions import Action
from .casework.prefill import Prefills, TaskPrefill
from .casework.progress import PublicProgress, public_progress
from .casework.records import Records
from .casework.rows import app_by_number
from .casework.steps import Authority, Steps
from .casework.taskwork import BulkResult, TaskWork
from .casework.worklist import Worklist
from .config import EngineConfig
from .customers import notices as customer_notices
from .customers.complaints import CaseInfo, Complaints, Filing
from .customers.dashboard import CustomerFigures, customer_figures
from .customers.firms import FirmEventInfo, FirmInfo, Firms
from .customers.followups import Answers, FollowUpHook, FollowUpInfo, FollowUps
from .customers.notices import CustomerNoticeHook, CustomerNoticeInfo, Notices
from .customers.progress import CustomerProgress, customer_progress
from .definitions.drafts import Drafts
from .definitions.versions import Definitions
from .errors import NotFound, Reason
from .fieldwork import jobs as field_jobs
from .fieldwork import meetings as review_meetings
from .fieldwork.jobs import FieldWork, FieldWorkHook
from .fieldwork.meetings import ReviewMeetings
from .kernel.forms import FormDefinition
from .kernel.loading import KERNEL_MARKERS, Marker
from .oversight.conformance import Conformance, ConformanceReport
from .oversight.exports import LogRecord, event_log
from .oversight.figures import FigureHook
from .oversight.figures import backfill as backfill_figures
from .oversight.replay import Replays
from .oversight.clockfigures import ClockFigures, ClockFigureSource
from .oversight.supervision import Period, Supervision
from .oversight.verification import verify_chains
from .results import (
    ApplicationInfo,
    ApplicationPage,
    AuditVerdict,
    CaseAction,
    CorrectableField,
    DiagramSummary,
    DiagramTrace,
    DocumentInfo,
    DraftInfo,
    ImpactReport,
    MarkerInfo,
    MigrationPlan,
    MigrationResult,
    NotificationInfo,
    OperatorInfo,
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
from .timelimits import clocks as policy_clocks
from .timelimits import limits as time_limits
from .timelimits.calendar import CalendarSource, WorkingCalendar
from .timelimits.clocks import ClockInfo, ClockReport, Override, OverrideSource, PolicyClockHook
from .timelimits.forecast import Forecasts, Round
from .timelimits.limits import TimeLimitHook
from .timelimits.policies import CalendarImport, OverrideChange, OverrideChoices, PolicyClocks
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
        self.registry = registry if registry is not None else handlers.build_registry()
        self.now = clock or datetime.now
        self.config.prepare_directories()
        self.store = Store(self.config.database_url)
        self.files = document_files(self.config.documents_backend, self.config.documents, self.store, self.now)
        self.accounts = Accounts(self.store, password_hasher or Scrypt(), self.now)
        self.calendars = CalendarSource(self.store)
        self.attempts = AttemptLimits(self.store, self.now)
        self.secrets = SharedSecrets(self.store, self.now)

        markers: tuple[Marker, ...] = (*time_limits.MARKERS, *policy_clocks.MARKERS, *field_jobs.MARKERS,
                                       *review_meetings.MARKERS, *customer_notices.MARKERS)
        self.definitions = Definitions(self.store, self.config, self.registry, markers, self.now)
        self.drafts_ = Drafts(self.store, self.definitions, self.now)
        self.field_work = FieldWork(self.store, self.now, self.calendars.get, append_only, self.accounts.roles_of)
        policy = self.config.policy
        self.firms_ = Firms(self.store, self.now, policy.firms_shown_per_kind)
        self.complaints_ = Complaints(self.store, self.now, self.calendars.get, append_only, self.accounts.roles_of,
                                      policy)
        self.follow_ups_ = FollowUps(self.store, self.now, self.calendars.get, append_only, self.accounts.roles_of,
                                     policy, self.complaints_)
        self.customer_notices_ = Notices(self.store, self.notifier, self.now)
        self.office_limits = OverrideSource()
        hooks: tuple[StepHook, ...] = (TimeLimitHook(self.config.time_limit_overrides, self.calendars.get),
                                       PolicyClockHook(self.calendars.get, self.office_limits),
                                       FieldWorkHook(self.field_work), FigureHook(self.calendars.get),
                                       CustomerNoticeHook(self.firms_, policy), FollowUpHook(self.follow_ups_))
        self.steps = Steps(self.store, self.config, self.definitions, self.accounts, self.files, self.registry,
                           self.now, hooks)
        self.lifecycle = Lifecycle(self.store, self.steps, self.definitions, self.now, hooks)
        self.worklist = Worklist(self.store, self.accounts, self.now)
        self.delegation = Delegation(self.store, self.accounts, self.now)
        self.task_work = TaskWork(self.store, self.accounts, self.definitions, self.notifier, self.now, hooks)
        self.comments_ = Comments(self.store, self.accounts, self.now)
        self.saved_filters = SavedFilters(self.store, self.accounts, self.now)
        self.prefills = Prefills(self.store, self.definitions, self.config.policy)
        self.records = Records(self.store, self.definitions, self.steps)
        self.documents = Documents(self.store, self.files, self.now)
        self.time_limits = TimeLimits(self.store, self.config, self.calendars, self.notifier, self.now, append_only,
                                      self.accounts.roles_of)
        self.forecasts = Forecasts(self.store, self.calendars, self.now)
        self.policy_clocks = PolicyClocks(
            self.store, self.now, self.calendars, self.office_limits, self.definitions.diagram,
            lambda conn, key: self.definitions.diagram(conn, self.definitions.newest_row(conn, key).id), append_only,
            self.forecasts)
        self.first_contacts = FirstContacts(self.store, self.now)
        self.meetings = ReviewMeetings(self.store, self.now, self.definitions.marked_nodes, self.steps.complete,
                                       self.accounts.roles_of)
        self.supervision = Supervision(self.store, self.now, self.calendars.get,
                                       self.config.warning_lead_working_days)
        self.clock_dashboard = ClockFigureSource(self.store, self.now, self.calendars.get)
        self.replays = Replays(self.store, self.definitions, self.steps, self.registry, self.config.policy,
                               self.config.max_loop_iterations)
        self.migrations = Migrations(self.store, self.definitions, self.steps, self.now)
        self.conformance_ = Conformance(self.store, self.definitions, self.registry, self.config.policy,
                                        self.config.max_loop_iterations)
        self.impact = ImpactPreview(self.store, self.definitions, self.registry, self.config.policy,
                                    self.config.max_loop_iterations)

    # ----------------------------------------------------------------- schema & accounts

    def init_schema(self) -> None:
        """Create or upgrade the database schema (Alembic) and refresh the planner's statistics."""
        schema.upgrade(self.store)
        backfill_figures(self.store, self.calendars.get, diagram_of=self.definitions.diagram)
        self.optimize()

    def backfill_figures(self, progress: Callable[[str], None] | None = None, recount: bool = False) -> bool:
        """Count the kept supervision figures from the rows already there, if none are kept yet (or, with
        ``recount``, again from scratch: a database filled without steps, such as a benchmark's)."""
        return backfill_figures(self.store, self.calendars.get, progress, recount, self.definitions.diagram)

    def optimize(self) -> None:
        """Refresh query-planner statistics (ANALYZE): without them SQLite picks poor indexes for task lists."""
        with self.store.sa_engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")

    def create_user(self, username: str, display_name: str, roles: Iterable[str], password: str,
                    station: str | None = None, work_phone: str | None = None) -> UserInfo:
        """Add a member of staff (an installation step: ``baozhuang init``, the demo, an administrator's script)."""
        return self.accounts.create_user(username, display_name, roles, password, station, work_phone)

    def set_work_phone(self, username: str, work_phone: str | None, *, by: str) -> UserInfo:
        """Record the number customers may call a member of staff on (an administrator)."""
        return self.accounts.set_work_phone(username, work_phone, by)

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

    def markers(self) -> list[MarkerInfo]:
        """Every node property the gate knows (the kernel's and each feature's), for the modeller's panel."""
        return [MarkerInfo(m.name, m.title or m.name, m.hint,
                           tuple(m.values.items()) if m.values is not None else None, m.expression,
                           tuple(sorted(m.kinds)))
                for m in (*KERNEL_MARKERS, *self.definitions.markers)]

    def operators(self) -> list[OperatorInfo]:
        """The business rules service tasks may call, with their parameters."""
        return [OperatorInfo(name, op.title, tuple(op.required), tuple(op.optional))
                for name, op in self.registry.items()]

    @requires(Action.EDIT_DRAFTS)
    def check_draft(self, process_key: str, xml: bytes, forms: Mapping[str, Any] | None = None, *,
                    by: str) -> list[Reason]:
        """Every problem the deploy gate finds in a diagram being drawn (and its forms); nothing is stored."""
        return self.drafts_.check(process_key, xml, forms)

    @requires(Action.EDIT_DRAFTS)
    def save_draft(self, process_key: str, xml: bytes, by: str, comment: str = "",
                   draft_id: int | None = None, forms: Mapping[str, Any] | None = None) -> DraftInfo:
        """Keep an edited diagram (and its own forms) as a draft with every problem the deploy gate finds."""
        return self.drafts_.save(process_key, xml, by, comment, draft_id, forms)

    def drafts(self, process_key: str | None = None) -> list[DraftInfo]:
        """Saved drafts, newest first."""
        return self.drafts_.list(process_key)

    def draft(self, draft_id: int) -> tuple[DraftInfo, str]:
        """One draft and its XML."""
        return self.drafts_.get(draft_id)

    def draft_forms(self, draft_id: int) -> dict[str, Any] | None:
        """The forms a draft carries (None: it uses the shipped forms of processes/forms)."""
        return self.drafts_.forms(draft_id)

    @requires(Action.EDIT_DRAFTS)
    def delete_draft(self, draft_id: int, by: str) -> DraftInfo:
        """Delete a draft (its row stays as a record of who deleted it and when)."""
        return self.drafts_.delete(draft_id, by)

    @requires(Action.DEPLOY)
    def deploy_draft(self, draft_id: int, by: str, comment: str = "") -> VersionInfo:
        """Deploy a draft that passes the gate (checked again now) as the process's next version."""
        return self.drafts_.deploy(draft_id, by, comment)

    @requires(Action.READ_DEFINITIONS)
    def draft_diff(self, draft_id: int, *, by: str) -> VersionDiff:
        """What deploying a draft would change from the newest version (the draft shown as the next version)."""
        info, xml = self.drafts_.get(draft_id)
        newest = self.definitions.latest_version(info.process_key)
        if newest is None:
            raise NotFound(f"流程 {info.process_key} 尚未部署")
        draft = self.definitions.parse(xml.encode("utf-8"), f"{info.process_key}.draft{draft_id}.bpmn",
                                       self.drafts_.form_source(draft_id))
        return diff_versions(info.process_key, newest.version, newest.version + 1,
                             self.definitions.version_diagram(info.process_key, newest.version), draft,
                             self._property_names())

    def version_forms(self, process_key: str, version: int) -> dict[str, Any]:
        """The forms stored with one deployed version: file name → JSON Schema."""
        return self.definitions.version_forms(process_key, version)

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

    def start(self, process_key: str, data: Mapping[str, Any], by: str,
              submitted_at: datetime | None = None) -> StepResult:
        """Accept an application (受理): validate the start form, number it and run to the first wait;
        ``submitted_at`` is when another channel received it (the first-contact evidence)."""
        return self.steps.start(process_key, data, by, submitted_at)

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

    # ----------------------------------------------------------------- task work (催办, 转办, 抄送, 委托 …)

    def urge(self, task_id: str, *, by: str, note: str = "") -> TaskInfo:
        """催办: 营销部 or the case's customer manager hurries an open task (its holder is notified)."""
        return self.task_work.urge(task_id, by, note)

    def may_urge(self, app_no: str, username: str) -> bool:
        """Whether a person may urge an application's open tasks (pages ask before offering it)."""
        return self.task_work.may_urge(app_no, username)

    def urged(self, task_ids: Iterable[str]) -> Mapping[str, datetime]:
        """When each of these tasks was last urged."""
        return self.task_work.urged(task_ids)

    def transfer(self, task_id: str, to_user: str, *, by: str, reason: str) -> TaskInfo:
        """转办: the holder hands a task to a colleague of its role, saying why."""
        return self.task_work.transfer(task_id, to_user, by, reason)

    def copy_decision(self, task_id: str, to_users: Iterable[str], *, by: str, note: str = "") -> TaskInfo:
        """抄送: copy a completed task's decision to colleagues."""
        return self.task_work.copy(task_id, to_users, by, note)

    def claim_many(self, task_ids: Iterable[str], user: str) -> BulkResult:
        """Claim several tasks, each on its own; the ones taken meanwhile are reported, not claimed."""
        return self.task_work.bulk(lambda t: self.steps.claim(t, user), task_ids)

    def release_many(self, task_ids: Iterable[str], user: str) -> BulkResult:
        """Release several claimed tasks."""
        return self.task_work.bulk(lambda t: self.steps.release(t, user), task_ids)

    def reassign_many(self, task_ids: Iterable[str], to_user: str, by: str) -> BulkResult:
        """A supervisor (营销部) hands several tasks to one person of their role."""
        return self.task_work.bulk(lambda t: self.steps.reassign(t, to_user, by), task_ids)

    def set_substitute(self, username: str, substitute: str, first_day: date, last_day: date, reason: str = "",
                       *, by: str) -> SubstitutionInfo:
        """委托: a colleague works this person's tasks during their leave (both days included)."""
        return self.delegation.set(username, substitute, first_day, last_day, reason, by)

    def cancel_substitute(self, substitution_id: int, *, by: str) -> SubstitutionInfo:
        """End a substitution now."""
        return self.delegation.cancel(substitution_id, by)

    def substitutions(self, username: str | None = None, *, current_only: bool = True) -> list[SubstitutionInfo]:
        """Substitutions a person set or stands in for (None: everyone's)."""
        return self.delegation.periods(username, current_only=current_only)

    def standing_in_for(self, username: str) -> list[str]:
        """The colleagues on leave this person stands in for now."""
        return self.delegation.absentees(username)

    def substitutes_of(self, usernames: Iterable[str]) -> Mapping[str, str]:
        """Who stands in now for each of these people that is on leave."""
        return self.delegation.substitutes(usernames)

    @requires(Action.COMMENT)
    def add_comment(self, app_no: str, body: str, *, by: str, public: bool = False) -> CommentInfo:
        """Remark on an application; ``public`` ones the customer sees on the progress page."""
        return self.comments_.add(app_no, body, by, public)

    def comments(self, app_no: str, *, public_only: bool = False) -> list[CommentInfo]:
        """An application's comments, oldest first."""
        return self.comments_.of(app_no, public_only=public_only)

    def save_filter(self, name: str, query: Mapping[str, Any], *, by: str) -> SavedFilterInfo:
        """Keep a task-list filter under a name, for this person."""
        return self.saved_filters.save(by, name, query)

    def filters(self, username: str) -> list[SavedFilterInfo]:
        """A person's saved task-list filters."""
        return self.saved_filters.of(username)

    def delete_filter(self, filter_id: int, *, by: str) -> None:
        """Delete one of my saved filters."""
        self.saved_filters.delete(filter_id, by)

    def task_prefill(self, task_id: str) -> TaskPrefill:
        """What a task's form opens with: defaults, and the previous submission when it was sent back."""
        return self.prefills.for_task(task_id)

    def display_names(self) -> dict[str, str]:
        """Username → display name of every account (pages name people by these)."""
        return self.accounts.display_names()

    @requires(Action.REPAIR)
    def retry(self, app_no: str, by: str) -> StepResult:
        """Run again the tasks that failed (a handler error, say) after the cause is fixed."""
        return self.steps.retry(app_no, by)

    # ----------------------------------------------------------------- the case lifecycle

    @requires(Action.SUSPEND)
    def suspend(self, app_no: str, reason: str, *, by: str) -> CaseAction:
        """暂停 a running case (or one in error): nothing moves, its clocks pause."""
        return self.lifecycle.suspend(app_no, reason, by)

    @requires(Action.SUSPEND)
    def resume(self, app_no: str, note: str = "", *, by: str) -> CaseAction:
        """恢复 a suspended case to where it stood."""
        return self.lifecycle.resume(app_no, note, by)

    @requires(Action.WITHDRAW)
    def withdraw(self, app_no: str, reason: str, *, by: str) -> CaseAction:
        """撤销: the customer withdrew; open tasks and site jobs close."""
        return self.lifecycle.withdraw(app_no, reason, by)

    @requires(Action.TERMINATE)
    def terminate(self, app_no: str, reason: str, *, by: str) -> CaseAction:
        """终止 a case with a reason; open tasks and site jobs close."""
        return self.lifecycle.terminate(app_no, reason, by)

    @requires(Action.CORRECT)
    def correct(self, app_no: str, field: str, value: Any, reason: str, *, by: str) -> CaseAction:
        """更正 one recorded value with a reason (the audit records before and after)."""
        return self.lifecycle.correct(app_no, field, value, reason, by)

    def correctable_fields(self, app_no: str) -> tuple[CorrectableField, ...]:
        """The recorded values of a case a supervisor may correct."""
        return self.lifecycle.correctable(app_no)

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
                  page: int = 1, per_page: int = 20, order: str = "created") -> TaskPage:
        """One page of a person's task list: 'mine', 'pool' or 'all' (supervisors); in the order accepted, or
        by the risk of missing a policy clock ('risk')."""
        return self.worklist.page(user, scope=scope, status=status, process_key=process_key, node_id=node_id,
                                  search=search, page=page, per_page=per_page, order=order)

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
    def import_calendar(self, schedule: object, by: str) -> CalendarImport:
        """Enter a year's official holiday schedule and move every open deadline it changes (audited);
        InvalidInput lists every problem. The kept open-task counts follow the due days it moved."""
        imported = self.policy_clocks.import_calendar(schedule, by)
        self.supervision.reconcile_open_counts(force=True)
        return imported

    # ----------------------------------------------------------------- policy clocks (时限)

    def clocks(self, app_no: str) -> ClockReport:
        """An application's policy clocks — start, pauses, stop, working days used of the limit, deadline,
        status, provisional mark, forecast — and when the customer first applied (with its evidence)."""
        return self.policy_clocks.report(app_no)

    def clock_summaries(self, app_nos: Iterable[str]) -> dict[str, tuple[ClockInfo, ...]]:
        """The open policy clocks of several applications (a page of a task list)."""
        return self.policy_clocks.summaries(app_nos)

    def clock_figures(self, period: Period, process_key: str | None = None, expiring: int = 10) -> ClockFigures:
        """The dashboard's policy-clock figures: on-time rates and durations of the clocks that stopped in the
        period, how the counting ones stand, and those that expire soonest."""
        return self.clock_dashboard.figures(period, process_key, expiring)

    def refresh_forecasts(self, now: datetime | None = None, force: bool = False) -> int:
        """Store fresh remaining-time forecasts on the open clocks (the worker does it; the task list sorts by
        them); returns how many."""
        if force:
            self.forecasts.forget()
        return self.forecasts.refresh(now, force=force)

    def clock_history(self, limit: int = 5000) -> list[Round]:
        """The finished clock rounds (with the tasks of their applications) the forecast learns from."""
        return self.forecasts.history(limit)

    def clock_override_choices(self) -> list[OverrideChoices]:
        """What the office may set its own limits for: each variant's clocks, customer types, supply modes."""
        return self.policy_clocks.choices()

    def clock_overrides(self) -> list[Override]:
        """The office's own limits in force."""
        return self.policy_clocks.list_overrides()

    def clock_override_changes(self, limit: int = 50) -> list[OverrideChange]:
        """The newest changes of the office's limits (who, when, why, how many clocks moved)."""
        return self.policy_clocks.changes(limit)

    @requires(Action.SET_TIME_LIMITS)
    def set_clock_override(self, process_key: str, clock_key: str, customer_type: str, supply_mode: str,
                           limit_value: Any, reason: str, *, by: str) -> OverrideChange:
        """Set the office's limit for a clock × variant × customer type × supply mode; open clocks move now."""
        return self.policy_clocks.set_override(process_key, clock_key, customer_type, supply_mode, limit_value,
                                               reason, by)

    @requires(Action.SET_TIME_LIMITS)
    def remove_clock_override(self, process_key: str, clock_key: str, customer_type: str, supply_mode: str,
                              reason: str, *, by: str) -> OverrideChange:
        """Remove an office limit (the diagram's applies again); open clocks move now."""
        return self.policy_clocks.remove_override(process_key, clock_key, customer_type, supply_mode, reason, by)

    @requires(Action.RENEW_PLAN)
    def renew_validity(self, app_no: str, clock_key: str, *, by: str) -> ClockInfo:
        """Re-issue an expired supply plan: its validity period counts again from now (audited)."""
        return self.policy_clocks.renew(app_no, clock_key, by)

    def confirm_first_contact(self, app_no: str, day: date | str, source: str, by: str) -> datetime:
        """The customer's own word on when they first applied (progress page, reply to the acceptance
        notice); a day after the acceptance or in the future is refused."""
        return self.first_contacts.confirm(app_no, day, source, by)

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

    # ----------------------------------------------------------------- the customer's side

    def customer_progress(self, app_no: str) -> CustomerProgress | None:
        """The customer's view: milestones with the current one's time limit, the manager, the firms list."""
        return customer_progress(self.store, self.calendars.get, self.firms_, self.complaints_, self.config.policy,
                                 app_no, self.now(), lambda number: self.policy_clocks.report(number).clocks)

    def deliver_notices(self, limit: int = 200) -> list[CustomerNoticeInfo]:
        """Send the queued notices to customers through the Notifier (the worker does it every round)."""
        return self.customer_notices_.deliver(limit)

    def customer_notices(self, app_no: str, *, reader: str) -> list[CustomerNoticeInfo]:
        """Every notice to an application's customer this reader may see (answers to complaints: 稽查)."""
        return self.customer_notices_.of_application(app_no, self.user(reader).roles)

    def queued_notices(self) -> int:
        """How many customer notices wait for the worker to send them."""
        return self.customer_notices_.queued()

    def firms(self, kind: str | None = None, *, include_withdrawn: bool = False) -> list[FirmInfo]:
        """The qualified firms list (三不指定)."""
        return self.firms_.firms(kind, include_withdrawn=include_withdrawn)

    def firm(self, firm_id: int) -> FirmInfo:
        """One firm of the list."""
        return self.firms_.firm(firm_id)

    def firm_history(self, firm_id: int) -> list[FirmEventInfo]:
        """Who changed a firm's entry, when and how."""
        return self.firms_.history(firm_id)

    def firms_shown(self, offset: int) -> tuple[tuple[str, tuple[FirmInfo, ...]], ...]:
        """The firms a customer is shown, per kind, in rotation from ``offset``."""
        return self.firms_.shown(offset)

    @requires(Action.MANAGE_FIRMS)
    def add_firm(self, kind: str, name: str, qualification: str, phone: str, *, by: str) -> FirmInfo:
        """Put a qualified firm on the list (营销部)."""
        return self.firms_.add(kind, name, qualification, phone, by)

    @requires(Action.MANAGE_FIRMS)
    def change_firm(self, firm_id: int, name: str, qualification: str, phone: str, *, by: str) -> FirmInfo:
        """Correct a firm's entry (营销部)."""
        return self.firms_.change(firm_id, name, qualification, phone, by)

    @requires(Action.MANAGE_FIRMS)
    def set_firm_listed(self, firm_id: int, listed: bool, reason: str = "", *, by: str) -> FirmInfo:
        """Take a firm off the list (with the reason) or put it back (营销部)."""
        return self.firms_.set_active(firm_id, listed, reason, by)

    def follow_ups(self, *, status: str | None = "open", assignee: str | None = None, unassigned: bool = False,
                   not_managed_by: str | None = None, overdue_only: bool = False, limit: int = 200
                   ) -> list[FollowUpInfo]:
        """Independent follow-ups by status and assignee, earliest deadline first."""
        return self.follow_ups_.follow_ups(status=status, assignee=assignee, unassigned=unassigned,
                                           not_managed_by=not_managed_by, overdue_only=overdue_only, limit=limit)

    def follow_up(self, follow_up_id: int) -> FollowUpInfo:
        """One independent follow-up."""
        return self.follow_ups_.follow_up(follow_up_id)

    def follow_up_of(self, app_no: str) -> FollowUpInfo | None:
        """An application's independent follow-up, if it has one."""
        return self.follow_ups_.of_application(app_no)

    def follow_up_counts(self) -> dict[str, int]:
        """Open, overdue and done follow-ups."""
        return self.follow_ups_.counts()

    @requires(Action.FOLLOW_UP)
    def record_follow_up(self, follow_up_id: int, answers: Answers, *, by: str) -> FollowUpInfo:
        """Record a follow-up call (客户服务, never anyone who handled the case)."""
        return self.follow_ups_.record(follow_up_id, answers, by)

    def file_complaint(self, app_no: str, filing: Filing) -> CaseInfo:
        """A customer files a complaint or report on the progress page (the page checked who they are)."""
        return self.complaints_.file_online(app_no, filing)

    @requires(Action.RECORD_COMPLAINTS)
    def record_complaint(self, app_no: str, filing: Filing, channel: str, *, by: str) -> CaseInfo:
        """Record a complaint or report taken by 95598 or 12398."""
        return self.complaints_.record(app_no, filing, channel, by)

    def answer_complaint(self, case_no: str, answer: str, *, by: str) -> CaseInfo:
        """The department a case went to answers it; the answer is sent to whoever filed it."""
        return self.complaints_.answer(case_no, answer, by)

    def complaint(self, case_no: str, *, reader: str) -> CaseInfo:
        """One case as this reader may see it (who filed it: 稽查 only)."""
        return self.complaints_.case(case_no, reader)

    def complaints(self, *, reader: str, status: str | None = None, kind: str | None = None,
                   app_no: str | None = None, overdue_only: bool = False, limit: int = 200) -> list[CaseInfo]:
        """The cases this reader may see, earliest deadline first."""
        return self.complaints_.cases(reader, status=status, kind=kind, app_no=app_no, overdue_only=overdue_only,
                                      limit=limit)

    def customer_figures(self, start: datetime, end: datetime) -> CustomerFigures:
        """回访 results per office and manager, complaints and reports, for the dashboard."""
        return customer_figures(self.store, self.now, start, end)

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

    @requires(Action.AUDIT)
    def conformance(self, first: date, last: date, process_key: str | None = None,
                    late_limit: timedelta = timedelta(days=1), progress: Callable[[int, int], None] | None = None,
                    *, by: str) -> ConformanceReport:
        """Every history accepted in a period checked against the diagram version it ran on: fitting, or where
        it skipped, repeated or swapped steps, or was entered late; shares per variant and per office."""
        return self.conformance_.report(first, last, process_key, late_limit, progress)

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
                             self.definitions.version_diagram(process_key, to_version), self._property_names())

    def _property_names(self) -> dict[str, tuple[str, Mapping[str, str] | None]]:
        return {m.name: (m.title, dict(m.values) if m.values is not None else None) for m in self.markers()}

    @requires(Action.EDIT_DRAFTS)
    def impact_preview(self, process_key: str, draft_xml: bytes, *, limit: int | None = None,
                       progress: Callable[[int, int], None] | None = None, share: bool = True,
                       workers: int | None = None, by: str) -> ImpactReport:
        """Replay the recorded applications of every version (all, or the ``limit`` newest) on a draft: which
        paths change, the time saved; ``progress(done, total)`` as they are replayed. ``share=False``
        replays every application itself (the same result, slower: for checking the sharing); ``workers``
        processes read the recorded trails (default: one per core when there are many)."""
        return self.impact.preview(process_key, draft_xml, limit=limit, progress=progress, share=share,
                                   workers=workers)

    @requires(Action.MIGRATE)
    def migration_plan(self, process_key: str, to_version: int, app_nos: Iterable[str] | None = None,
                       status: str = "running", mapping: Mapping[str, str] | None = None, *,
                       by: str) -> MigrationPlan:
        """Whether each application could move to ``to_version`` without losing or repeating work (with node
        mapping instructions, old node id → new node id, checked before anything is looked at)."""
        return self.migrations.plan(process_key, to_version, app_nos, status, mapping)

    @requires(Action.MIGRATE)
    def migrate(self, plan: MigrationPlan, by: str, progress: Callable[[int, int], None] | None = None
                ) -> MigrationResult:
        """Move the safe applications of a plan to its version, each checked again in its own transaction; the
        kept open-task counts follow the open tasks a mapping moved to another node."""
        result = self.migrations.migrate(plan, by, progress)
        self.supervision.reconcile_open_counts(force=True)
        return result

    def scenario_runner(self, process_key: str, *, draft_xml: bytes | None = None,
                        forms: Mapping[str, Any] | None = None) -> ScenarioRunner:
        """Example paths run in memory (no database) on a draft (with its own forms, if it has some), or on the
        newest deployed version."""
        if draft_xml is not None:
            diagram = self.definitions.parse(draft_xml, f"{process_key}.draft.bpmn", self.drafts_.form_source_of(forms))
        else:
            with self.store.read() as conn:
                diagram = self.definitions.diagram(conn, self.definitions.newest_row(conn, process_key).id)
        return ScenarioRunner(diagram, self.registry, self.config.policy, self.config.max_loop_iterations, self.now)

    @requires(Action.EDIT_DRAFTS)
    def play_examples(self, process_key: str, draft_xml: bytes, forms: Mapping[str, Any] | None = None, *,
                      by: str) -> list[ExampleRun]:
        """Every example path of a process (processes/paths.json) played on a draft: the nodes and flows each
        covers and where it stops. DiagramRejected if the draft does not pass the gate."""
        runner = self.scenario_runner(process_key, draft_xml=draft_xml, forms=forms)
        return play(runner, example_paths(self.config.processes_dir / "paths.json", process_key))

    def dispose(self) -> None:
        """Release database connections."""
        self.store.dispose()
