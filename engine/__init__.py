"""The baozhuang runtime: the only package that imports SpiffWorkflow.

Use :class:`Engine` (deploy, start, claim, complete, retry, read) and the frozen result types;
errors are the tree in :mod:`engine.errors`.
"""

from .config import EngineConfig
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
from .roles import ROLES
from .service import Engine
from .workdays import CalendarNotCovered, WorkingCalendar, YearStatus
from .views import (
    ApplicationInfo,
    AuditVerdict,
    ReplayReport,
    ReplayStep,
    ApplicationPage,
    DiagramTrace,
    DocumentInfo,
    HistoryEntry,
    NotificationInfo,
    SentNotice,
    StepResult,
    SweepResult,
    TaskInfo,
    TaskPage,
    Upload,
    UserInfo,
    VersionInfo,
)

__all__ = [
    "Engine",
    "EngineConfig",
    "ROLES",
    "ApplicationInfo",
    "AuditVerdict",
    "ReplayReport",
    "ReplayStep",
    "ApplicationPage",
    "DiagramTrace",
    "TaskPage",
    "Upload",
    "DocumentInfo",
    "HistoryEntry",
    "NotificationInfo",
    "SentNotice",
    "SweepResult",
    "WorkingCalendar",
    "YearStatus",
    "CalendarNotCovered",
    "StepResult",
    "TaskInfo",
    "UserInfo",
    "VersionInfo",
    "BaozhuangError",
    "ConfigurationError",
    "Conflict",
    "DiagramRejected",
    "ExpressionError",
    "Forbidden",
    "FormValidationError",
    "InvalidInput",
    "NotFound",
    "Reason",
    "WorkflowFailure",
]
