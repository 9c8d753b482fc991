"""The tables, declared as SQLAlchemy models (Alembic's migrations/ create them; tables.py names them).

The workflow state of an application is kept as one row per SpiffWorkflow task (``wf_tasks``)
plus a small header on the application row, so that a step writes only the tasks it changed:
bytes written per step stay flat however long the history grows.  User tasks are mirrored into
``work_items`` so that task lists are plain indexed queries.  Deployed diagrams are stored once
per version (``process_versions``), never copied into instances.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


POSTGRESQL_ONLY_INDEXES = frozenset({"ix_applications_customer_grams", "ix_work_items_open_customer_grams",
                                     "ix_work_items_open_pool"})
"""Indexes migration 0009 creates on PostgreSQL only (over a SQL function, partial with INCLUDE columns):
the models do not declare them, schema comparisons skip them (engine.store.schema.include_object)."""


class Base(DeclarativeBase):
    """Declarative base of every table."""


class User(Base):
    """A member of staff; roles are role keys (see engine.roles), comma separated."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(256))
    roles: Mapped[str] = mapped_column(String(256))
    station: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    # The number a customer may call (一口对外: the customer manager's, shown on the progress page).
    work_phone: Mapped[str | None] = mapped_column(String(32))


class ProcessVersion(Base):
    """An immutable deployed version of one process diagram."""

    __tablename__ = "process_versions"
    __table_args__ = (UniqueConstraint("process_key", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_key: Mapped[str] = mapped_column(String(32), index=True)
    version: Mapped[int]
    process_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(256))
    bpmn_xml: Mapped[str] = mapped_column(Text)
    forms_json: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    deployed_by: Mapped[str] = mapped_column(String(64))
    deployed_at: Mapped[datetime]
    comment: Mapped[str] = mapped_column(Text, default="")


class ProcessDraft(Base):
    """An analyst's edited diagram and its forms: kept with its validation problems, deployable only when it has
    none; a deleted draft stays as a record of who deleted it (it is no longer listed or opened)."""

    __tablename__ = "process_drafts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_key: Mapped[str] = mapped_column(String(32), index=True)
    base_version: Mapped[int | None]
    bpmn_xml: Mapped[str] = mapped_column(Text)
    problems_json: Mapped[str] = mapped_column(Text)
    comment: Mapped[str] = mapped_column(Text, default="")
    saved_by: Mapped[str] = mapped_column(String(64))
    saved_at: Mapped[datetime]
    deployed_version: Mapped[int | None]
    forms_json: Mapped[str | None] = mapped_column(Text)  # the draft's own forms (name → JSON Schema)
    deleted_by: Mapped[str | None] = mapped_column(String(64))
    deleted_at: Mapped[datetime | None]


class Application(Base):
    """One 报装 work order: a running (or finished) instance of a process version."""

    __tablename__ = "applications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    app_no: Mapped[str] = mapped_column(String(32), unique=True)
    process_key: Mapped[str] = mapped_column(String(32))
    version_id: Mapped[int] = mapped_column(ForeignKey("process_versions.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    customer_name: Mapped[str] = mapped_column(String(256), index=True)
    customer_type: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    first_contact_at: Mapped[datetime | None]
    # Where first_contact_at comes from (engine.vocabulary.ContactSource): the channel, the customer, the clerk.
    first_contact_source: Mapped[str | None] = mapped_column(String(32))
    revision: Mapped[int] = mapped_column(default=0)
    wf_meta: Mapped[str] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    audit_seq: Mapped[int] = mapped_column(default=0)
    audit_head: Mapped[str] = mapped_column(String(64), default="")
    # The case lifecycle (engine.casework.lifecycle): why and when a case was last suspended, resumed,
    # withdrawn or terminated, by whom, and the status a suspended case resumes to (running, or error).
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[datetime | None]
    status_changed_by: Mapped[str | None] = mapped_column(String(64))
    resume_status: Mapped[str | None] = mapped_column(String(16))


class WorkflowTaskRow(Base):
    """One serialized SpiffWorkflow task of an application (engine.kernel.codec: its data stored as a delta,
    other tasks named by their ``seq``). Keyed by (application, seq): a step reads an application's rows in
    that order and writes them by it; on SQLite the rows live in that key's tree (WITHOUT ROWID)."""

    __tablename__ = "wf_tasks"
    __table_args__ = {"sqlite_with_rowid": False}
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    task_id: Mapped[str] = mapped_column(String(36))
    payload: Mapped[str] = mapped_column(Text)


class WorkItem(Base):
    """A user task as staff see it: the row behind every task list."""

    __tablename__ = "work_items"
    __table_args__ = (
        Index("ix_work_items_status_role", "status", "role", "created_at"),
        Index("ix_work_items_assignee", "assignee", "status"),
        Index("ix_work_items_claimed_by", "claimed_by", "status"),
        Index("ix_work_items_status_created", "status", "created_at"),
        Index("ix_work_items_node", "process_key", "node_id", "status", "created_at"),
        Index("ix_work_items_status_due", "status", "due_at"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    app_no: Mapped[str] = mapped_column(String(32), index=True)
    process_key: Mapped[str] = mapped_column(String(32))
    customer_name: Mapped[str] = mapped_column(String(256))
    node_id: Mapped[str] = mapped_column(String(128))
    node_name: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(32))
    form: Mapped[str] = mapped_column(String(256), default="")
    assignee: Mapped[str | None] = mapped_column(String(64))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    completed_by: Mapped[str | None] = mapped_column(String(64))
    due_at: Mapped[datetime | None]
    # Working days the task is allowed (its node's timeLimit or the office override); None: no limit.
    time_limit_days: Mapped[int | None]
    warned_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    # The customer is acting (clock=customer): the utility's clock is stopped while the task is open.
    clock_stopped: Mapped[bool] = mapped_column(default=False, server_default="0")


class AuditEvent(Base):
    """An append-only, hash-chained event in an application's history."""

    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("application_id", "seq"), Index("ix_audit_events_actor", "actor", "application_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"))
    seq: Mapped[int]
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    node_id: Mapped[str | None] = mapped_column(String(128))
    task_id: Mapped[str | None] = mapped_column(String(36))
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Document(Base):
    """A generated or uploaded file kept on disk, checked by its SHA-256."""

    __tablename__ = "documents"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(256))
    media_type: Mapped[str] = mapped_column(String(128))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    path: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime]


class ApiToken(Base):
    """A token another channel (online hall, 95598) uses to call the JSON API as a user."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    revoked: Mapped[bool] = mapped_column(default=False)


class Notification(Base):
    """A time-limit warning or escalation for a person (username) or everyone holding a role."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_username", "username", "read_at"),
                      Index("ix_notifications_role", "role", "read_at"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(32))
    app_no: Mapped[str] = mapped_column(String(32))
    task_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]


class DashboardSnapshot(Base):
    """The supervision dashboard's figures for one default view, computed by the worker (too slow live
    at a province's size); the page reads them while they are fresh (see engine.supervision)."""

    __tablename__ = "dashboard_snapshots"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    generated_at: Mapped[datetime]
    body: Mapped[str] = mapped_column(Text)


class FigureCount(Base):
    """One count of the supervision figures of one day and again of its month, kept as steps commit (migration
    0018, reshaping 0014's day rows): the dashboard adds up a period's whole months and its other days instead of
    scanning its work items.

    ``span`` is ``d`` (``day`` is that day) or ``m`` (``day`` is the month's first day); ``figure`` says what is
    counted; ``subject`` is the node, the sequence flow (``''`` for the application as a whole; the acceptor's
    username for entry lags); ``bucket`` is a histogram bucket (durations, lags) or a score, else 0. The key
    leads with span, figure and day, so that each figure of a period is one index range.
    See :mod:`engine.oversight.figures`."""

    __tablename__ = "figure_counts"
    span: Mapped[str] = mapped_column(String(1), primary_key=True)
    figure: Mapped[str] = mapped_column(String(16), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    process_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject: Mapped[str] = mapped_column(String(128), primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    total: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")  # sum of the bucket's values
    name: Mapped[str] = mapped_column(String(256), default="", server_default="")


class OpenTaskCount(Base):
    """How many tasks of one node are open, by whether they have a time limit, whether their clock is stopped
    and the day they fall due (:data:`engine.oversight.figures.NO_DUE_DAY` without one): kept as steps open
    and close them, so the dashboard never counts all open tasks itself, not even the overdue ones."""

    __tablename__ = "open_task_counts"
    process_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    has_limit: Mapped[bool] = mapped_column(primary_key=True)
    clock_stopped: Mapped[bool] = mapped_column(primary_key=True)
    due_day: Mapped[date] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    node_name: Mapped[str] = mapped_column(String(256), default="", server_default="")


class EntryLag(Base):
    """An application whose acceptance was recorded after the customer's first contact, and how long after
    (体外循环): the dashboard lists the longest lags of a period from here."""

    __tablename__ = "entry_lags"
    __table_args__ = (Index("ix_entry_lags_lag", "lag_hours"),)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), primary_key=True)
    app_no: Mapped[str] = mapped_column(String(32))
    process_key: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(64))
    first_contact_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(index=True)
    lag_hours: Mapped[float] = mapped_column(Float)


class CalendarDay(Base):
    """A day of the official holiday schedule an administrator entered (a holiday or a make-up working day)."""

    __tablename__ = "calendar_days"
    day: Mapped[date] = mapped_column(primary_key=True)
    workday: Mapped[bool]
    name: Mapped[str] = mapped_column(String(64))
    entered_by: Mapped[str] = mapped_column(String(64))
    entered_at: Mapped[datetime]


class CalendarYear(Base):
    """A year whose whole official schedule was entered: confirmed, no longer provisional."""

    __tablename__ = "calendar_years"
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    entered_by: Mapped[str] = mapped_column(String(64))
    entered_at: Mapped[datetime]


class SequenceCounter(Base):
    """A named counter (daily application numbers)."""

    __tablename__ = "sequences"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int]


class Station(Base):
    """A field station (班所) that sends crews to site; urban and rural stations differ in capacity."""

    __tablename__ = "stations"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    area: Mapped[str] = mapped_column(String(8))  # urban | rural
    created_at: Mapped[datetime]


class StationDay(Base):
    """One station's capacity (承载力) for one kind of field job on one day, and how much is booked.
    A row exists once a day is adjusted or booked; otherwise the area's default applies."""

    __tablename__ = "station_days"
    station_code: Mapped[str] = mapped_column(ForeignKey("stations.code"), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    capacity: Mapped[int]
    booked: Mapped[int] = mapped_column(default=0)
    adjusted_by: Mapped[str | None] = mapped_column(String(64))
    adjusted_at: Mapped[datetime | None]


class FieldJob(Base):
    """The site work behind one BPMN user task (same id as its work item): scheduled by the dispatcher,
    checked in and out by the field worker; the task can be completed only after check-out."""

    __tablename__ = "field_jobs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    app_no: Mapped[str] = mapped_column(String(32))
    customer_name: Mapped[str] = mapped_column(String(256))
    node_id: Mapped[str] = mapped_column(String(128))
    node_name: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)  # waiting|scheduled|on_site|finished|cancelled
    created_at: Mapped[datetime]
    station_code: Mapped[str | None] = mapped_column(ForeignKey("stations.code"))
    day: Mapped[date | None]
    half: Mapped[str | None] = mapped_column(String(2))  # am | pm
    mode: Mapped[str | None] = mapped_column(String(8))  # fixed | window | deadline
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    due_by: Mapped[datetime | None]
    contact_name: Mapped[str | None] = mapped_column(String(64))
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    worker: Mapped[str | None] = mapped_column(String(64), index=True)
    overbooked: Mapped[bool] = mapped_column(default=False)
    scheduled_by: Mapped[str | None] = mapped_column(String(64))
    scheduled_at: Mapped[datetime | None]
    checked_in_at: Mapped[datetime | None]
    check_in_note: Mapped[str | None] = mapped_column(Text)
    checked_out_at: Mapped[datetime | None]
    check_out_note: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (Index("ix_field_jobs_station_day", "station_code", "day"),)


class FieldJobEvent(Base):
    """What happened to a field job, in order: scheduled, rescheduled (with the reason), override, check-in…"""

    __tablename__ = "field_job_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("field_jobs.id"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[str] = mapped_column(Text, default="{}")


class Callback(Base):
    """The customer callback (回访) after a site job; issues raised stay open until someone closes them."""

    __tablename__ = "callbacks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("field_jobs.id"), unique=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    app_no: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)  # open | issue_open | closed
    created_at: Mapped[datetime]
    reached: Mapped[bool | None]
    satisfied: Mapped[bool | None]
    issues: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None]
    close_note: Mapped[str] = mapped_column(Text, default="")


class ReviewMeeting(Base):
    """A weekly design-review meeting (设计审查例会): the reviews gathered, who attended, the minutes."""

    __tablename__ = "review_meetings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    week_start: Mapped[date] = mapped_column(index=True)
    chair: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # open | closed
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    attendees: Mapped[str] = mapped_column(Text, default="[]")
    notes: Mapped[str] = mapped_column(Text, default="")


class MeetingItem(Base):
    """One design review on a meeting's agenda and the decision taken on it."""

    __tablename__ = "meeting_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("review_meetings.id"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    app_no: Mapped[str] = mapped_column(String(32))
    customer_name: Mapped[str] = mapped_column(String(256))
    position: Mapped[int]
    decision: Mapped[str | None] = mapped_column(String(16))  # pass | fail
    opinion: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None]
    __table_args__ = (UniqueConstraint("meeting_id", "task_id"),)


class Comment(Base):
    """A remark on an application by a member of staff; ``public`` ones the customer sees on the progress page."""

    __tablename__ = "comments"
    __table_args__ = (Index("ix_comments_application", "application_id", "created_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"))
    author: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]


class Substitution(Base):
    """A period of leave during which a colleague (the substitute) sees and works the absent person's tasks
    in their own name (委托). Cancelled ones are kept, with who cancelled them and when."""

    __tablename__ = "substitutions"
    __table_args__ = (Index("ix_substitutions_substitute", "substitute", "ends_at"),
                      Index("ix_substitutions_username", "username", "ends_at"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    substitute: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]  # exclusive: the first moment the person is back
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    cancelled_by: Mapped[str | None] = mapped_column(String(64))
    cancelled_at: Mapped[datetime | None]


class SavedFilter(Base):
    """A task-list filter a person saved under a name (kept on the server, so it follows them between devices)."""

    __tablename__ = "saved_filters"
    __table_args__ = (UniqueConstraint("username", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    query: Mapped[str] = mapped_column(Text)  # JSON: the task list's query arguments
    created_at: Mapped[datetime]
class CustomerNotice(Base):
    """A message to the customer (受理、补充资料、整改、合同、送电…), queued in the step that caused it and
    delivered through the Notifier after the commit (an outbox: nothing is sent for a step rolled back)."""

    __tablename__ = "customer_notices"
    __table_args__ = (Index("ix_customer_notices_status", "status", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    event: Mapped[str] = mapped_column(String(32))
    node_id: Mapped[str | None] = mapped_column(String(128))
    recipient: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # queued | sending | sent | failed | cancelled
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    sent_at: Mapped[datetime | None]
    channel: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)


class QualifiedFirm(Base):
    """A qualified designer, builder or equipment supplier on the list 营销部 keeps (三不指定): customers are
    shown several, in rotation, and choose freely."""

    __tablename__ = "qualified_firms"
    __table_args__ = (Index("ix_qualified_firms_kind", "kind", "active", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # design | construction | supply
    name: Mapped[str] = mapped_column(String(128))
    qualification: Mapped[str] = mapped_column(String(128), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime | None]


class FirmEvent(Base):
    """Who changed the firms list, when and how (the list is not one application's: no hash chain)."""

    __tablename__ = "firm_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("qualified_firms.id"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # added | changed | withdrawn | restored
    detail: Mapped[str] = mapped_column(Text, default="{}")


class FollowUp(Base):
    """The independent follow-up call (回访) of one application after power on, made by 客户服务 — never by
    the case's own manager: satisfaction, whether anyone nominated a designer, builder or supplier (三不指定),
    whether anyone asked for anything improper (廉洁)."""

    __tablename__ = "follow_ups"
    __table_args__ = (Index("ix_follow_ups_status_due", "status", "due_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), unique=True)
    app_no: Mapped[str] = mapped_column(String(32))
    process_key: Mapped[str] = mapped_column(String(32))
    customer_name: Mapped[str] = mapped_column(String(256))
    contact_name: Mapped[str] = mapped_column(String(64), default="")
    contact_phone: Mapped[str] = mapped_column(String(32), default="")
    manager: Mapped[str | None] = mapped_column(String(64), index=True)  # the case's customer manager
    office: Mapped[str | None] = mapped_column(String(32))  # the manager's station (供电所) at power on
    assignee: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))  # open | done | cancelled
    opened_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_attempt_at: Mapped[datetime | None]
    reached: Mapped[bool | None]
    satisfaction: Mapped[int | None]  # 1 (very dissatisfied) … 5 (very satisfied)
    nominated: Mapped[bool | None]
    nominated_detail: Mapped[str] = mapped_column(Text, default="")
    improper: Mapped[bool | None]
    improper_detail: Mapped[str] = mapped_column(Text, default="")
    remarks: Mapped[str] = mapped_column(Text, default="")
    done_by: Mapped[str | None] = mapped_column(String(64))
    done_at: Mapped[datetime | None]


class Complaint(Base):
    """A complaint (投诉) or a confidential report (举报) about an application: filed by the customer on the
    progress page, or recorded by staff from 95598/12398; routed to 营销部 or 稽查, answered by a deadline in
    working days. A report's reporter is visible only to 稽查."""

    __tablename__ = "complaints"
    __table_args__ = (Index("ix_complaints_status_due", "status", "due_at"),
                      Index("ix_complaints_kind_status", "kind", "status"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_no: Mapped[str] = mapped_column(String(32), unique=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    app_no: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # complaint | report
    topic: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))  # progress_page | hotline_95598 | hotline_12398 | follow_up
    content: Mapped[str] = mapped_column(Text)
    reporter_name: Mapped[str] = mapped_column(String(64), default="")
    reporter_phone: Mapped[str] = mapped_column(String(32), default="")
    routed_to: Mapped[str] = mapped_column(String(32))  # a role key
    status: Mapped[str] = mapped_column(String(16))  # open | answered
    filed_by: Mapped[str] = mapped_column(String(64))
    filed_at: Mapped[datetime]
    due_at: Mapped[datetime]
    answer: Mapped[str] = mapped_column(Text, default="")
    answered_by: Mapped[str | None] = mapped_column(String(64))
    answered_at: Mapped[datetime | None]
class PolicyClock(Base):
    """One round of a policy clock (时限) of one application: counted the way the regulations count it —
    from a moment the diagram names (acceptance, the customer's submission or request) to another (the reply,
    power on) — paused while the customer acts or the case is suspended. A clock restarted by a new submission
    (a resubmitted design, a new inspection request) is a new round."""

    __tablename__ = "policy_clocks"
    __table_args__ = (
        UniqueConstraint("application_id", "clock_key", "round"),
        Index("ix_policy_clocks_open", "status", "deadline"),
        Index("ix_policy_clocks_app", "application_id", "status"),
        Index("ix_policy_clocks_stopped", "process_key", "clock_key", "stopped_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"))
    app_no: Mapped[str] = mapped_column(String(32))
    process_key: Mapped[str] = mapped_column(String(32))
    clock_key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # limit | validity
    round: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))  # running | paused | met | missed | ended
    started_at: Mapped[datetime]
    stopped_at: Mapped[datetime | None]
    # JSON list of [start, end or null, reason]: the customer acting ("customer:<node>") or "suspended"
    pauses: Mapped[str] = mapped_column(Text, default="[]")
    limit_value: Mapped[int | None]  # working days (validity: months); None when it cannot be worked out
    limit_source: Mapped[str] = mapped_column(String(16), default="diagram")  # diagram | override
    deadline: Mapped[datetime | None]  # None while paused
    provisional: Mapped[bool] = mapped_column(default=False)  # computed from a provisional calendar year
    used_days: Mapped[int | None]  # working days counted so far (at the last update; final once stopped)
    warned_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    forecast_days: Mapped[float | None] = mapped_column(Float)  # expected working days still to go (the forecast)
    risk: Mapped[float | None] = mapped_column(Float)  # the forecast's chance of missing the limit, 0–1
    forecast_at: Mapped[datetime | None]
    problem: Mapped[str | None] = mapped_column(Text)  # why the limit could not be worked out
    updated_at: Mapped[datetime]


class ClockOverride(Base):
    """An office's own limit for a policy clock, for one variant and optionally one customer type and supply
    mode ('' = any); the most specific match wins over the diagram's limit."""

    __tablename__ = "clock_overrides"
    __table_args__ = (UniqueConstraint("process_key", "clock_key", "customer_type", "supply_mode"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_key: Mapped[str] = mapped_column(String(32))
    clock_key: Mapped[str] = mapped_column(String(64))
    customer_type: Mapped[str] = mapped_column(String(32), default="")
    supply_mode: Mapped[str] = mapped_column(String(32), default="")
    limit_value: Mapped[int]
    reason: Mapped[str] = mapped_column(Text, default="")
    set_by: Mapped[str] = mapped_column(String(64))
    set_at: Mapped[datetime]


class ClockOverrideChange(Base):
    """Every change of an office limit, append-only: who set or removed what, when, why, and how many running
    clocks it moved."""

    __tablename__ = "clock_override_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_key: Mapped[str] = mapped_column(String(32))
    clock_key: Mapped[str] = mapped_column(String(64))
    customer_type: Mapped[str] = mapped_column(String(32), default="")
    supply_mode: Mapped[str] = mapped_column(String(32), default="")
    old_value: Mapped[int | None]
    new_value: Mapped[int | None]  # None: the override was removed
    reason: Mapped[str] = mapped_column(Text, default="")
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime]
    clocks_moved: Mapped[int] = mapped_column(default=0)


class DocumentBlob(Base):
    """The bytes of documents kept in the database (the ``database`` documents back end): one row per distinct
    content, named by its SHA-256, however many documents have it."""

    __tablename__ = "document_blobs"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int]
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class AttemptLimit(Base):
    """Failed attempts counted per key (the customer progress page: a client address, an application number),
    shared by every process and host: how many failed lately, and until when the next attempt must wait."""

    __tablename__ = "attempt_limits"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int]
    first_failed_at: Mapped[datetime]
    last_failed_at: Mapped[datetime] = mapped_column(index=True)
    blocked_until: Mapped[datetime | None]


class SharedSecret(Base):
    """A secret every web process on every host must share (the key signing sessions and form tokens), made by
    whichever process needs it first when none is configured."""

    __tablename__ = "shared_secrets"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime]
