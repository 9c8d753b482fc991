"""The baozhuang runtime — the only package that imports SpiffWorkflow, and the only door into it.

Everything outside ``engine/`` (the web pages, the command line, benchmarks) imports from here and
nothing deeper: :class:`Engine` (every action and read), its frozen result types, the error tree
(:mod:`engine.errors`), the vocabulary (roles, processes, statuses, event kinds) and the few value types
pages and commands build (an appointment, a meeting decision, a dashboard period).

Inside, each folder is one capability (see ``docs/architecture.md``):
``kernel/`` (SpiffWorkflow, the gate, the safe expressions), ``store/``, ``definitions/``, ``casework/``
(steps and the one write path), ``timelimits/``, ``fieldwork/``, ``customers/``, ``oversight/``, ``analysis/``.
"""

from .analysis.scenarios import ExampleRun, ScenarioOutcome, ScenarioRunner
from .casework.audit import GENESIS, event_hash
from .casework.comments import CommentInfo
from .casework.decisions import summary as decision_summary
from .casework.delegation import SubstitutionInfo
from .casework.filters import FILTER_KEYS, SavedFilterInfo
from .casework.passwords import PasswordHasher, Scrypt
from .casework.permissions import ACTION_NAMES, Action, refusal
from .casework.prefill import SendBack, TaskPrefill
from .casework.progress import PublicProgress, PublicStep
from .casework.taskwork import NOTICE_KINDS, BulkResult
from .config import EngineConfig, load_config, resolve_instance_dir
from .customers.complaints import CHANNELS as COMPLAINT_CHANNELS
from .customers.complaints import KINDS as COMPLAINT_KINDS
from .customers.complaints import STAFF_CHANNELS as COMPLAINT_STAFF_CHANNELS
from .customers.complaints import TOPICS as COMPLAINT_TOPICS
from .customers.complaints import CaseInfo, Filing, filing_from_form
from .customers.dashboard import CaseCounts, CustomerFigures, FollowUpGroup
from .customers.firms import FIRM_KINDS, FirmEventInfo, FirmInfo
from .customers.followups import FOLLOW_UP_ROLE, SATISFACTION, Answers, FollowUpInfo, answers_from_form
from .customers.milestones import MilestoneState, OpenStep
from .customers.notices import CustomerNoticeInfo, person_name
from .customers.progress import CustomerProgress, ManagerContact
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
from .oversight.conformance import (
    CONFORMANCE_COLUMNS,
    DEVIATIONS,
    CaseConformance,
    ConformanceReport,
    Share,
    conformance_csv,
)
from .oversight.clockfigures import OPEN_STATES, ClockDuration, ClockFigures, ClockOnTime, ClockOpen, Expiring
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
    MarkerInfo,
    MigrationPlan,
    MigrationResult,
    NodeChange,
    NodeImpact,
    NotificationInfo,
    OperatorInfo,
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
from .timelimits.clocks import STATUS_NAMES as CLOCK_STATUS_NAMES
from .timelimits.clocks import ClockInfo, ClockPause, ClockReport, FirstContact, Override, Pause
from .timelimits.clocks import used_days as used_working_days
from .timelimits.forecast import Forecast, Forecaster, Round, Visit
from .timelimits.policies import CalendarImport, ClockChoice, OverrideChange, OverrideChoices, Recomputed
from .vocabulary import (
    APP_STATUS_NAMES,
    CONTACT_SOURCES,
    CUSTOMER,
    ENDED,
    PROCESS_NAMES,
    ROLES,
    SHIPPED,
    SUPERVISOR_ROLE,
    SYSTEM,
    SYSTEM_NAME,
    AppStatus,
    ContactSource,
    EventKind,
    ProcessKey,
    Role,
    TaskStatus,
)

__all__ = [
    "Engine", "EngineConfig", "load_config", "resolve_instance_dir", "PasswordHasher", "Scrypt", "ROLES", "Role",
    "SUPERVISOR_ROLE", "SYSTEM", "SYSTEM_NAME", "SHIPPED", "PROCESS_NAMES", "ProcessKey", "AppStatus", "TaskStatus",
    "APP_STATUS_NAMES", "ENDED", "EventKind", "Action", "ACTION_NAMES", "refusal", "ApplicationImpact",
    "ApplicationInfo", "ApplicationPage", "AuditVerdict", "CaseAction", "CorrectableField", "DiagramSummary",
    "DiagramTrace", "DocumentInfo", "DraftInfo", "FlowChange", "HistoryEntry", "ImpactReport", "InstanceVerdict",
    "MigrationPlan", "MigrationResult", "NodeChange", "NodeImpact", "NotificationInfo", "ReplayReport", "ReplayStep",
    "SentNotice", "StepResult", "SweepResult", "TaskInfo", "TaskPage", "Upload", "UserInfo", "VersionDiff",
    "VersionInfo", "FormDefinition", "PublicProgress", "PublicStep", "ScenarioOutcome", "ScenarioRunner",
    "ExampleRun", "MarkerInfo", "OperatorInfo", "BulkResult", "CommentInfo", "SubstitutionInfo", "SavedFilterInfo",
    "FILTER_KEYS", "TaskPrefill", "SendBack", "NOTICE_KINDS", "decision_summary", "WorkingCalendar", "YearStatus",
    "CalendarNotCovered", "CalendarImport", "Recomputed", "ClockInfo", "ClockPause", "ClockReport", "FirstContact",
    "Override", "OverrideChange", "OverrideChoices", "ClockChoice", "CLOCK_STATUS_NAMES", "Forecast", "Forecaster",
    "Round", "Visit", "Pause", "used_working_days", "CONTACT_SOURCES", "ContactSource", "CUSTOMER", "Appointment",
    "FieldJobInfo", "appointment_from_form", "JOB_KINDS", "MODES", "HALVES", "DEFAULT_CAPACITY", "DISPATCHER_ROLE",
    "STATION_HEAD_ROLE", "CALLBACK_ROLE", "DECISIONS", "MEETING_ROLES", "Decision", "CustomerProgress",
    "MilestoneState", "OpenStep", "ManagerContact", "CustomerNoticeInfo", "person_name", "FirmInfo", "FirmEventInfo",
    "FIRM_KINDS", "FollowUpInfo", "Answers", "answers_from_form", "SATISFACTION", "FOLLOW_UP_ROLE", "CaseInfo",
    "Filing", "filing_from_form", "COMPLAINT_KINDS", "COMPLAINT_TOPICS", "COMPLAINT_CHANNELS",
    "COMPLAINT_STAFF_CHANNELS", "CustomerFigures", "FollowUpGroup", "CaseCounts", "Period", "Dashboard",
    "NodeDuration", "DUE_STATES", "MAX_PERIOD_DAYS", "LogRecord", "CSV_COLUMNS", "to_csv", "to_xes", "GENESIS",
    "event_hash", "tables", "CaseConformance", "ConformanceReport", "Share", "DEVIATIONS", "CONFORMANCE_COLUMNS",
    "conformance_csv", "ClockFigures", "ClockOnTime", "ClockDuration", "ClockOpen", "Expiring", "OPEN_STATES",
    "BaozhuangError", "ConfigurationError", "Conflict", "DiagramRejected", "ExpressionError", "Forbidden",
    "FormValidationError", "InvalidInput", "NotFound", "Reason", "WorkflowFailure"
]
