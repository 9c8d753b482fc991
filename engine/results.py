"""Frozen result types the facade returns: the web layer never sees SpiffWorkflow objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Mapping, TypeVar

if TYPE_CHECKING:
    from .kernel.forms import FormDefinition
    from .kernel.loading import NodeInfo

T = TypeVar("T")


@dataclass(frozen=True)
class DiagramSummary:
    """A diagram that passed the deploy-time gate, as a person is told of it: its nodes and forms."""

    process_id: str
    name: str
    sha256: str
    nodes: Mapping[str, "NodeInfo"]
    forms: Mapping[str, "FormDefinition"]
    start_form: str | None

    def form_for(self, node_id: str) -> "FormDefinition | None":
        """The form of a node, if it has one."""
        node = self.nodes.get(node_id)
        return self.forms.get(node.form) if node is not None and node.form else None


@dataclass(frozen=True)
class VersionInfo:
    """One deployed version of a process."""

    id: int
    process_key: str
    version: int
    name: str
    sha256: str
    deployed_by: str
    deployed_at: datetime
    comment: str
    running: int = 0


@dataclass(frozen=True)
class DraftInfo:
    """An analyst's saved draft of a process and what the deploy gate says about it."""

    id: int
    process_key: str
    base_version: int | None
    problems: tuple[Any, ...]  # engine.errors.Reason
    comment: str
    saved_by: str
    saved_at: datetime
    deployed_version: int | None

    @property
    def deployable(self) -> bool:
        """Whether the draft passed the gate and was not deployed yet."""
        return not self.problems and self.deployed_version is None


@dataclass(frozen=True)
class MarkerInfo:
    """A node property the gate knows (the kernel's own and every feature's), as the modeller offers it."""

    name: str
    title: str  # Chinese
    hint: str
    values: tuple[tuple[str, str], ...] | None  # accepted value → Chinese name; None: free text
    expression: bool  # the value is an expression of the safe language
    kinds: tuple[str, ...]  # BPMN node kinds (userTask …) that may carry it


@dataclass(frozen=True)
class OperatorInfo:
    """A business rule a service task may call, with its parameters."""

    name: str
    title: str  # Chinese
    required: tuple[str, ...]
    optional: tuple[str, ...]


@dataclass(frozen=True)
class UserInfo:
    """A member of staff."""

    username: str
    display_name: str
    roles: tuple[str, ...]
    active: bool
    station: str | None = None
    work_phone: str | None = None  # the number customers may call (customer managers: 一口对外)


@dataclass(frozen=True)
class TaskInfo:
    """A user task as it appears in a task list."""

    id: str
    app_no: str
    process_key: str
    customer_name: str
    node_id: str
    node_name: str
    role: str
    form: str
    status: str
    assignee: str | None
    claimed_by: str | None
    created_at: datetime
    completed_at: datetime | None
    completed_by: str | None
    due_at: datetime | None
    time_limit_days: int | None = None
    warned_at: datetime | None = None
    escalated_at: datetime | None = None
    clock_stopped: bool = False


@dataclass(frozen=True)
class HistoryEntry:
    """One event of an application's audit trail."""

    seq: int
    at: datetime
    actor: str
    kind: str
    node_id: str | None
    payload: Mapping[str, Any]
    task_id: str | None = None


@dataclass(frozen=True)
class DocumentInfo:
    """A file kept with an application."""

    id: str
    kind: str
    filename: str
    media_type: str
    size: int
    sha256: str
    created_at: datetime


@dataclass(frozen=True)
class ApplicationInfo:
    """An application with its data, open tasks, history and documents."""

    app_no: str
    process_key: str
    version: int
    status: str
    customer_name: str
    customer_type: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    error_message: str | None
    data: Mapping[str, Any]
    open_tasks: tuple[TaskInfo, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    documents: tuple[DocumentInfo, ...] = ()
    completed_nodes: tuple[str, ...] = field(default=())
    # the latest lifecycle action (suspended, resumed, withdrawn, terminated): why, when, by whom
    status_reason: str | None = None
    status_changed_at: datetime | None = None
    status_changed_by: str | None = None


@dataclass(frozen=True)
class CaseAction:
    """What a lifecycle action did to a case: 暂停, 恢复, 撤销, 终止, or 更正 (then the field, before and after)."""

    app_no: str
    kind: str  # the audit event kind it recorded
    status: str  # the case's status afterwards
    reason: str
    at: datetime
    by: str
    field: str | None = None
    field_title: str | None = None
    before: Any = None
    after: Any = None


@dataclass(frozen=True)
class CorrectableField:
    """A recorded value a supervisor may correct: which field, its Chinese title, the step it was entered at,
    its value now, and the form that defines it (the input a page offers for it)."""

    name: str
    title: str
    step: str
    value: Any
    form: str


@dataclass(frozen=True)
class StepResult:
    """What one user action did to an application."""

    app_no: str
    status: str
    ready_tasks: tuple[TaskInfo, ...]
    error_message: str | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list (tasks, applications), with the total for pagination."""

    items: tuple[T, ...]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """How many pages there are (at least one)."""
        return max(1, -(-self.total // self.per_page))


TaskPage = Page[TaskInfo]


@dataclass(frozen=True)
class Upload:
    """A file a person submits with a task (the bytes, not yet stored)."""

    key: str
    filename: str
    media_type: str
    content: bytes


@dataclass(frozen=True)
class DiagramTrace:
    """An application's diagram and where it has been: for highlighting in a viewer."""

    xml: str
    completed: tuple[str, ...]
    active: tuple[str, ...]
    flows: tuple[str, ...]


ApplicationPage = Page[ApplicationInfo]


@dataclass(frozen=True)
class ReplayStep:
    """The application as it stood after one recorded input (acceptance, a completed task, a retry)."""

    index: int
    event_seq: int
    kind: str
    node_id: str | None
    node_name: str | None
    actor: str
    at: datetime
    completed: tuple[str, ...]
    active: tuple[str, ...]
    flows: tuple[str, ...]
    data: Mapping[str, Any]
    matches: bool
    difference: str | None = None
    version: int | None = None  # the process version the application was on after this step


@dataclass(frozen=True)
class ReplayReport:
    """The result of re-executing an application from its recorded inputs."""

    app_no: str
    mode: str  # "recorded": handler results as recorded; "rerun": today's handlers decide again
    verified: bool
    message: str
    steps: tuple[ReplayStep, ...]

    @property
    def first_divergence(self) -> ReplayStep | None:
        """The first step whose outcome differs from what was recorded."""
        return next((s for s in self.steps if not s.matches), None)


@dataclass(frozen=True)
class AuditVerdict:
    """Whether one application's hash chain is intact, and where it breaks if not."""

    app_no: str
    intact: bool
    events: int
    first_bad_seq: int | None = None
    problem: str = ""


@dataclass(frozen=True)
class NotificationInfo:
    """A time-limit warning or escalation shown to a member of staff."""

    id: int
    kind: str
    app_no: str
    task_id: str
    message: str
    created_at: datetime
    read_at: datetime | None


@dataclass(frozen=True)
class SentNotice:
    """One notification a sweep wrote and handed to the Notifier (recipient: a username or "role:<key>")."""

    kind: str
    app_no: str
    task_id: str
    recipient: str
    message: str


@dataclass(frozen=True)
class SweepResult:
    """What one sweep of the time limits did: tasks warned, tasks escalated, and the notices sent."""

    warnings: int
    escalations: int
    sent: tuple[SentNotice, ...] = ()


@dataclass(frozen=True)
class ApplicationImpact:
    """How one recorded application would have run on a draft diagram."""

    app_no: str
    status: str
    path_before: tuple[str, ...]  # user tasks completed, in order, as recorded
    path_after: tuple[str, ...]  # the same inputs replayed on the draft
    changed: bool
    skipped_nodes: tuple[str, ...]  # recorded user tasks the draft does not reach
    new_nodes: tuple[str, ...]  # user tasks the draft asks for that the history never completed
    saved_hours: float  # recorded ready→completed hours of the skipped tasks, loop repetitions included
    note: str = ""


@dataclass(frozen=True)
class NodeImpact:
    """A node the draft removes or bypasses, with the time the recorded applications spent in it."""

    node_id: str
    name: str
    applications: int  # applications whose history passed it
    mean_hours: float  # per such application
    total_hours: float


@dataclass(frozen=True)
class ImpactReport:
    """What deploying a draft would change for the applications of the current version."""

    process_key: str
    base_version: int
    applications: tuple[ApplicationImpact, ...]
    changed_count: int
    unchanged_count: int
    node_summary: tuple[NodeImpact, ...]
    summary: tuple[str, ...]
    replayed: int = 0  # how many replays it took (histories with the same inputs that matter share one)


@dataclass(frozen=True)
class NodeChange:
    """A node added, removed or changed between two versions of a process."""

    node_id: str
    name: str
    kind: str
    detail: str


@dataclass(frozen=True)
class FlowChange:
    """A sequence flow added, removed, re-pointed or given another condition between two versions."""

    flow_id: str
    source: str
    target: str
    detail: str


@dataclass(frozen=True)
class VersionDiff:
    """What changed from one deployed version of a process to another, node by node and flow by flow."""

    process_key: str
    from_version: int
    to_version: int
    added: tuple[NodeChange, ...]
    removed: tuple[NodeChange, ...]
    changed: tuple[NodeChange, ...]
    rerouted: tuple[FlowChange, ...]
    summary: tuple[str, ...]  # the whole diff in Chinese sentences


@dataclass(frozen=True)
class InstanceVerdict:
    """Whether one running application can move to a newer version without losing or repeating work."""

    app_no: str
    from_version: int
    safe: bool
    reason: str
    waiting_at: tuple[str, ...]  # node ids of its open tasks


@dataclass(frozen=True)
class MigrationPlan:
    """The verdict for every application that a migration to ``to_version`` would concern, and the mapping
    instructions (old node id → node id of ``to_version``) it was checked with."""

    process_key: str
    to_version: int
    verdicts: tuple[InstanceVerdict, ...]
    mapping: Mapping[str, str] = field(default_factory=dict)

    @property
    def safe(self) -> tuple[InstanceVerdict, ...]:
        """The applications that can be migrated."""
        return tuple(v for v in self.verdicts if v.safe)

    @property
    def unsafe(self) -> tuple[InstanceVerdict, ...]:
        """The applications that stay and finish on their version."""
        return tuple(v for v in self.verdicts if not v.safe)


@dataclass(frozen=True)
class MigrationResult:
    """Which applications moved to the new version, and which stayed (with the reason)."""

    migrated: tuple[str, ...]
    skipped: tuple[InstanceVerdict, ...]
