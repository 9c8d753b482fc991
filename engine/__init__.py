"""The baozhuang runtime — the only package that imports SpiffWorkflow, and the only door into it.

Everything outside ``engine/`` (the web pages, the command line, benchmarks) imports from here and
nothing deeper: :class:`Engine` (every action and read), its frozen result types, the error tree
(:mod:`engine.errors`), the vocabulary (roles, processes, statuses, event kinds) and the few value types
pages and commands build (an appointment, a meeting decision, a dashboard period).

Inside, each folder is one capability (see ``docs/architecture.md``):
``kernel/`` (SpiffWorkflow, the gate, the safe expressions), ``store/``, ``definitions/``, ``casework/``
(steps and the one write path), ``timelimits/``, ``fieldwork/``, ``oversight/``, ``analysis/``.
"""

from .analysis.scenarios import ScenarioOutcome, ScenarioRunner
from .casework.audit import GENESIS, event_hash
from .casework.passwords import PasswordHasher, Scrypt
from .casework.permissions import ACTION_NAMES, Action, refusal
from .casework.progress import PublicProgress, PublicStep
from .config import EngineConfig, load_config, resolve_instance_dir
from .errors import (
    BaozhuangError,
    ConfigurationError,
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
from .facade import Engine
from .fieldwork.jobs import (
    CALLBACK_ROLE,
    DEFAULT_CAPACITY,
    DISPATCHER_ROLE,
    HALVES,
    JOB_KINDS,
    MODES,
    STATION_HEAD_ROLE,
    Appointment,
    FieldJobInfo,
    appointment_from_form,
)
from .fieldwork.meetings import DECISIONS, MEETING_ROLES, Decision
from .kernel.forms import FormDefinition
from .oversight.exports import CSV_COLUMNS, LogRecord, to_csv, to_xes
from .oversight.supervision import DUE_STATES, MAX_PERIOD_DAYS, Dashboard, NodeDuration, Period
from .results import (
    ApplicationImpact,
    ApplicationInfo,
    ApplicationPage,
    AuditVerdict,
    CaseAction,
    CorrectableField,
    DiagramSummary,
    DiagramTrace,
    DocumentInfo,
    DraftInfo,
    FlowChange,
    HistoryEntry,
    ImpactReport,
    InstanceVerdict,
    MigrationPlan,
    MigrationResult,
    NodeChange,
    NodeImpact,
    NotificationInfo,
    ReplayReport,
    ReplayStep,
    SentNotice,
    StepResult,
    SweepResult,
    TaskInfo,
    TaskPage,
    Upload,
    UserInfo,
    VersionDiff,
    VersionInfo,
)
from .store import tables
from .timelimits.calendar import CalendarNotCovered, WorkingCalendar, YearStatus
from .vocabulary import (
    APP_STATUS_NAMES,
    ENDED,
    PROCESS_NAMES,
    ROLES,
    SHIPPED,
    SUPERVISOR_ROLE,
    SYSTEM,
    AppStatus,
    EventKind,
    ProcessKey,
    Role,
    TaskStatus,
)

__all__ = [
    # the facade and its settings
    "Engine", "EngineConfig", "load_config", "resolve_instance_dir", "PasswordHasher", "Scrypt",
    # vocabulary and permissions
    "ROLES", "Role", "SUPERVISOR_ROLE", "SYSTEM", "SHIPPED", "PROCESS_NAMES", "ProcessKey", "AppStatus", "TaskStatus",
    "APP_STATUS_NAMES", "ENDED",
    "EventKind", "Action", "ACTION_NAMES", "refusal",
    # results
    "ApplicationImpact", "ApplicationInfo", "ApplicationPage", "AuditVerdict", "CaseAction", "CorrectableField",
    "DiagramSummary", "DiagramTrace",
    "DocumentInfo", "DraftInfo", "FlowChange", "HistoryEntry", "ImpactReport", "InstanceVerdict", "MigrationPlan",
    "MigrationResult", "NodeChange", "NodeImpact", "NotificationInfo", "ReplayReport", "ReplayStep", "SentNotice",
    "StepResult", "SweepResult", "TaskInfo", "TaskPage", "Upload", "UserInfo", "VersionDiff", "VersionInfo",
    "FormDefinition", "PublicProgress", "PublicStep", "ScenarioOutcome", "ScenarioRunner",
    # time limits
    "WorkingCalendar", "YearStatus", "CalendarNotCovered",
    # field work and meetings
    "Appointment", "FieldJobInfo", "appointment_from_form", "JOB_KINDS", "MODES", "HALVES", "DEFAULT_CAPACITY",
    "DISPATCHER_ROLE", "STATION_HEAD_ROLE", "CALLBACK_ROLE", "DECISIONS", "MEETING_ROLES", "Decision",
    # oversight
    "Period", "Dashboard", "NodeDuration", "DUE_STATES", "MAX_PERIOD_DAYS", "LogRecord", "CSV_COLUMNS", "to_csv",
    "to_xes", "GENESIS", "event_hash", "tables",
    # errors
    "BaozhuangError", "ConfigurationError", "Conflict", "DiagramRejected", "ExpressionError", "Forbidden",
    "FormValidationError", "InvalidInput", "NotFound", "Reason", "WorkflowFailure",
]
