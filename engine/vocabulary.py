"""The words the engine is written in: roles, processes, statuses and event kinds.

Each is a ``StrEnum``: a member *is* its string (``Role.MARKETING == "marketing"``), so the values stored in
the database, the diagrams and the forms stay plain strings while the code names them once, here.
A BPMN lane's name is the Chinese name of exactly one role.
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType
from typing import Mapping


class Role(StrEnum):
    """A role of domain.md; staff hold one or more."""

    FRONT_DESK = "front_desk"
    CUSTOMER_MANAGER = "customer_manager"
    SURVEY_TEAM = "survey_team"
    MARKETING = "marketing"
    PLANNING = "planning"
    DESIGN = "design"
    METERING = "metering"
    DISPATCH = "dispatch"
    ARCHIVE = "archive"
    FIELD_DISPATCH = "field_dispatch"
    CUSTOMER_SERVICE = "customer_service"
    STATION_HEAD = "station_head"
    AUDITOR = "auditor"
    ANALYST = "analyst"
    ADMINISTRATOR = "administrator"


ROLES: Mapping[str, str] = MappingProxyType({
    Role.FRONT_DESK: "受理员",
    Role.CUSTOMER_MANAGER: "客户经理",
    Role.SURVEY_TEAM: "勘查组",
    Role.MARKETING: "营销部",
    Role.PLANNING: "发展策划",
    Role.DESIGN: "设计",
    Role.METERING: "计量",
    Role.DISPATCH: "调度",
    Role.ARCHIVE: "档案",
    Role.FIELD_DISPATCH: "工单调度员",
    Role.CUSTOMER_SERVICE: "客户服务",
    Role.STATION_HEAD: "班所负责人",
    Role.AUDITOR: "稽查",
    Role.ANALYST: "流程分析员",
    Role.ADMINISTRATOR: "系统管理员",
})
"""Role key → its Chinese name (a lane's name)."""

SUPERVISOR_ROLE = Role.MARKETING
"""营销部 supervises: sees every task, reassigns, receives escalations."""

ROLE_BY_LANE_NAME: Mapping[str, str] = MappingProxyType({name: key for key, name in ROLES.items()})


def role_for_lane(lane_name: str | None) -> str | None:
    """The role key a lane stands for (by Chinese name or by key), or None if unknown."""
    if lane_name is None:
        return None
    name = lane_name.strip()
    if name in ROLES:
        return name
    return ROLE_BY_LANE_NAME.get(name)


class ProcessKey(StrEnum):
    """The shipped processes: high voltage, low voltage, distributed PV."""

    HV = "hv"
    LV = "lv"
    PV = "pv"


PROCESS_NAMES: Mapping[str, str] = MappingProxyType({
    ProcessKey.HV: "高压", ProcessKey.LV: "低压", ProcessKey.PV: "分布式光伏",
})
SHIPPED: tuple[str, ...] = tuple(key.value for key in ProcessKey)


class AppStatus(StrEnum):
    """Where an application stands."""

    RUNNING = "running"
    ERROR = "error"
    COMPLETED = "completed"
    SUSPENDED = "suspended"  # 暂停: nothing moves, the utility's clocks pause
    WITHDRAWN = "withdrawn"  # 撤销: the customer withdrew the application
    TERMINATED = "terminated"  # 终止: ended by 营销部 with a reason


APP_STATUS_NAMES: Mapping[str, str] = MappingProxyType({
    AppStatus.RUNNING: "进行中", AppStatus.ERROR: "异常", AppStatus.COMPLETED: "已办结",
    AppStatus.SUSPENDED: "已暂停", AppStatus.WITHDRAWN: "已撤销", AppStatus.TERMINATED: "已终止",
})
"""Application status → how staff and customers read it."""

ENDED: tuple[str, ...] = (AppStatus.WITHDRAWN, AppStatus.TERMINATED)
"""Statuses of a case ended before its process did: nothing moves any more."""


class TaskStatus(StrEnum):
    """A work item's status."""

    READY = "ready"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class EventKind(StrEnum):
    """The kind of an audit event (the hash chain records these strings)."""

    APPLICATION_STARTED = "application.started"
    APPLICATION_COMPLETED = "application.completed"
    APPLICATION_ERROR = "application.error"
    APPLICATION_RETRIED = "application.retried"
    APPLICATION_MIGRATED = "application.migrated"
    APPLICATION_SUSPENDED = "application.suspended"
    APPLICATION_RESUMED = "application.resumed"
    APPLICATION_WITHDRAWN = "application.withdrawn"
    APPLICATION_TERMINATED = "application.terminated"
    APPLICATION_CORRECTED = "application.corrected"
    TASK_READY = "task.ready"
    TASK_CLAIMED = "task.claimed"
    TASK_RELEASED = "task.released"
    TASK_REASSIGNED = "task.reassigned"
    TASK_COMPLETED = "task.completed"
    TASK_URGED = "task.urged"  # 催办: a supervisor or the case's manager hurries an open task
    TASK_TRANSFERRED = "task.transferred"  # 转办: the holder hands the task to a colleague of its role
    TASK_COPIED = "task.copied"  # 抄送: a decision copied to colleagues
    APPLICATION_COMMENTED = "application.commented"
    TASK_WARNED = "task.warned"
    TASK_ESCALATED = "task.escalated"
    SERVICE_CALLED = "service.called"
    ENGINE_TRANSITIONS = "engine.transitions"
    DOCUMENT_RENDERED = "document.rendered"
    CALLBACK_RECORDED = "callback.recorded"
    CALLBACK_CLOSED = "callback.closed"
    FIELDJOB_SCHEDULED = "fieldjob.scheduled"
    FIELDJOB_RESCHEDULED = "fieldjob.rescheduled"
    FIELDJOB_CHECKED_IN = "fieldjob.checked_in"
    FIELDJOB_CHECKED_OUT = "fieldjob.checked_out"
    FOLLOW_UP_RECORDED = "followup.recorded"
    COMPLAINT_FILED = "complaint.filed"
    COMPLAINT_ANSWERED = "complaint.answered"
    CLOCK_STARTED = "clock.started"  # a policy clock (时限) started counting: acceptance, a submission, a request
    CLOCK_STOPPED = "clock.stopped"  # … and stopped: met or missed
    CLOCK_WARNED = "clock.warned"  # about to expire: the people who can still act were warned
    CLOCK_ESCALATED = "clock.escalated"  # expired: escalated to the supervisor
    CLOCK_RECOMPUTED = "clock.recomputed"  # its deadline moved: an official calendar imported, an office limit set
    CLOCK_RENEWED = "clock.renewed"  # an expired supply plan re-issued: its validity counts again
    FIRST_CONTACT_CONFIRMED = "first_contact.confirmed"  # the customer said when they first applied (体外循环)


class DocumentBackend(StrEnum):
    """Where document bytes are kept (the ``documents_backend`` setting)."""

    DIRECTORY = "directory"  # a folder on this host (one office)
    DATABASE = "database"  # the database, content-addressed (several hosts, no shared disk)


INPUT_KINDS: tuple[str, ...] = (EventKind.APPLICATION_STARTED, EventKind.TASK_COMPLETED,
                                EventKind.APPLICATION_RETRIED, EventKind.APPLICATION_MIGRATED,
                                EventKind.APPLICATION_CORRECTED, EventKind.APPLICATION_WITHDRAWN,
                                EventKind.APPLICATION_TERMINATED)
"""The events that feed a workflow (replay and impact preview re-run these): a correction changes its data, a
withdrawal or termination cancels it. Suspending and resuming change nothing in the workflow."""

ENDING_KINDS: tuple[str, ...] = (EventKind.APPLICATION_WITHDRAWN, EventKind.APPLICATION_TERMINATED)
"""The inputs that cancel a workflow before its end."""

SYSTEM = "system"
"""The actor of what the engine does by itself (a task becoming ready, a handler call)."""
SYSTEM_NAME = "系统"
"""How pages name that actor."""

CUSTOMER = "customer"
"""The actor of what a customer does without an account (a complaint filed, the application date confirmed on the
progress page)."""


class ContactSource(StrEnum):
    """Where the moment a customer first applied comes from (the evidence against 体外循环)."""

    API = "api"  # the online channel's submission reached the API: the server's own clock
    CUSTOMER_PAGE = "customer_page"  # the customer confirmed the date on the progress page
    CUSTOMER_REPLY = "customer_reply"  # the customer replied to the acceptance notice (SMS channel)
    CLERK = "clerk"  # typed by the clerk who accepted: the weakest evidence


CONTACT_SOURCES: Mapping[str, str] = MappingProxyType({
    ContactSource.API: "网上渠道提交时间（系统记录）",
    ContactSource.CUSTOMER_PAGE: "客户在进度查询页确认",
    ContactSource.CUSTOMER_REPLY: "客户回复受理通知",
    ContactSource.CLERK: "受理员录入（未经客户确认）",
})
"""Evidence source → how the report names it; the customer's own word and the channel's clock outrank the clerk."""
