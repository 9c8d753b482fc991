"""The tables, declared as SQLAlchemy models (Alembic's migrations/ create them; tables.py names them).

The workflow state of an application is kept as one row per SpiffWorkflow task (``wf_tasks``)
plus a small header on the application row, so that a step writes only the tasks it changed:
bytes written per step stay flat however long the history grows.  User tasks are mirrored into
``work_items`` so that task lists are plain indexed queries.  Deployed diagrams are stored once
per version (``process_versions``), never copied into instances.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
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
    """An analyst's edited diagram: kept with its validation problems, deployable only when it has none."""

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
    revision: Mapped[int] = mapped_column(default=0)
    wf_meta: Mapped[str] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    audit_seq: Mapped[int] = mapped_column(default=0)
    audit_head: Mapped[str] = mapped_column(String(64), default="")


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
