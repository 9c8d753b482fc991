"""Who may do what: one rule for every channel (web pages, the JSON API, the command line).

Two kinds of question, one module:

* :func:`may` — may this person take this *action* (deploy a diagram, migrate applications, export the
  event log…)? Decided by role, from :data:`RULES`; the engine asks it before acting, so a route or a
  command that forgets to check is still refused (:class:`~engine.errors.Forbidden`).
* :func:`refusal` — may this person work on this *task*? Its role, its assignee, its claimant.

Pages ask the same functions to decide what to offer, so what is shown and what is allowed cannot drift.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Protocol

from ..vocabulary import ROLES, Role


class Action(StrEnum):
    """Something only some roles may do."""

    DEPLOY = "deploy"  # deploy a diagram version
    EDIT_DRAFTS = "edit_drafts"  # save, delete and deploy drafts in the modeller
    READ_DEFINITIONS = "read_definitions"  # see drafts, versions, diffs, impact previews
    MIGRATE = "migrate"  # move running applications to another version
    EXPORT = "export"  # the event log (CSV, XES)
    AUDIT = "audit"  # verify hash chains, replay histories
    SUPERVISE = "supervise"  # the dashboard, every task list, reassignment
    IMPORT_CALENDAR = "import_calendar"  # enter next year's official holiday schedule
    MANAGE_ACCOUNTS = "manage_accounts"  # create staff accounts, issue API tokens
    COMMENT = "comment"  # remark on an application (and show a remark to the customer)
    MANAGE_FIRMS = "manage_firms"  # keep the list of qualified designers, builders and suppliers (三不指定)
    FOLLOW_UP = "follow_up"  # make the independent 回访 after power on
    RECORD_COMPLAINTS = "record_complaints"  # record a complaint or report taken by 95598/12398
    SET_TIME_LIMITS = "set_time_limits"  # the office's own limits for the policy clocks (时限)
    RENEW_PLAN = "renew_plan"  # re-issue an expired supply plan: its validity counts again
    WITHDRAW = "withdraw"  # 撤销: record that the customer withdrew the application
    TERMINATE = "terminate"  # 终止: end a case with a reason
    SUSPEND = "suspend"  # 暂停 and 恢复 a case (its clocks pause)
    CORRECT = "correct"  # 更正 a recorded value, with a reason
    REPAIR = "repair"  # run again the failed steps of a case in error


RULES: Mapping[Action, frozenset[str]] = MappingProxyType({
    Action.DEPLOY: frozenset({Role.ANALYST}),
    Action.EDIT_DRAFTS: frozenset({Role.ANALYST}),
    Action.READ_DEFINITIONS: frozenset({Role.ANALYST, Role.MARKETING}),
    Action.MIGRATE: frozenset({Role.ANALYST}),
    Action.EXPORT: frozenset({Role.AUDITOR, Role.MARKETING}),
    Action.AUDIT: frozenset({Role.AUDITOR, Role.MARKETING}),
    Action.SUPERVISE: frozenset({Role.MARKETING}),
    Action.IMPORT_CALENDAR: frozenset({Role.ADMINISTRATOR, Role.MARKETING}),
    Action.MANAGE_ACCOUNTS: frozenset({Role.ADMINISTRATOR}),
    # the staff who work cases; auditors only read, analysts and administrators work on the system itself
    Action.COMMENT: frozenset({Role.FRONT_DESK, Role.CUSTOMER_MANAGER, Role.SURVEY_TEAM, Role.MARKETING,
                               Role.PLANNING, Role.DESIGN, Role.METERING, Role.DISPATCH, Role.ARCHIVE,
                               Role.FIELD_DISPATCH, Role.CUSTOMER_SERVICE, Role.STATION_HEAD}),
    Action.MANAGE_FIRMS: frozenset({Role.MARKETING}),
    Action.FOLLOW_UP: frozenset({Role.CUSTOMER_SERVICE}),
    Action.RECORD_COMPLAINTS: frozenset({Role.CUSTOMER_SERVICE, Role.MARKETING, Role.AUDITOR}),
    Action.SET_TIME_LIMITS: frozenset({Role.MARKETING}),
    Action.RENEW_PLAN: frozenset({Role.CUSTOMER_MANAGER, Role.MARKETING}),
    # the customer withdraws through the desk or the manager who owns the case (一口对外)
    Action.WITHDRAW: frozenset({Role.FRONT_DESK, Role.CUSTOMER_MANAGER, Role.MARKETING}),
    Action.TERMINATE: frozenset({Role.MARKETING}),
    Action.SUSPEND: frozenset({Role.CUSTOMER_MANAGER, Role.MARKETING}),
    Action.CORRECT: frozenset({Role.MARKETING}),
    Action.REPAIR: frozenset({Role.CUSTOMER_MANAGER, Role.MARKETING}),
})
"""Action → the roles that may take it."""

ACTION_NAMES: Mapping[Action, str] = MappingProxyType({
    Action.DEPLOY: "部署流程", Action.EDIT_DRAFTS: "编辑流程草稿", Action.READ_DEFINITIONS: "查看流程版本与草稿",
    Action.MIGRATE: "迁移在办申请", Action.EXPORT: "导出事件日志", Action.AUDIT: "稽查核验",
    Action.SUPERVISE: "监管督办", Action.IMPORT_CALENDAR: "导入节假日安排", Action.MANAGE_ACCOUNTS: "管理账号与令牌",
    Action.COMMENT: "在申请上留言",
    Action.MANAGE_FIRMS: "维护合格单位名录", Action.FOLLOW_UP: "进行独立回访", Action.RECORD_COMPLAINTS: "登记投诉举报",
    Action.SET_TIME_LIMITS: "调整本单位时限", Action.RENEW_PLAN: "重新起算供电方案有效期",
    Action.WITHDRAW: "撤销申请", Action.TERMINATE: "终止申请", Action.SUSPEND: "暂停或恢复申请",
    Action.CORRECT: "更正申请数据", Action.REPAIR: "处理异常申请（重试）",
})


def may(roles: Iterable[str], action: Action) -> bool:
    """Whether someone holding these roles may take the action."""
    return not RULES[action].isdisjoint(roles)


def action_refusal(display_name: str, roles: Iterable[str], action: Action) -> str | None:
    """Why this person may not take the action, in Chinese; None if they may."""
    if may(roles, action):
        return None
    allowed = "、".join(ROLES.get(r, r) for r in sorted(RULES[action]))
    return f"{display_name}无权{ACTION_NAMES[action]}（需要「{allowed}」角色）"


class TaskHolder(Protocol):
    """The fields of a task the rule looks at (TaskInfo has them)."""

    @property
    def role(self) -> str: ...

    @property
    def assignee(self) -> str | None: ...

    @property
    def claimed_by(self) -> str | None: ...

    @property
    def node_name(self) -> str: ...


def refusal(task: TaskHolder, username: str, roles: Iterable[str], *, claimed_counts: bool = True,
            stands_in_for: Collection[str] = (), names: Mapping[str, str] | None = None) -> str | None:
    """Why this person may not work on the task, in Chinese; None if they may. ``stands_in_for``: the colleagues
    on leave this person substitutes for now (their tasks are this person's to work); ``names``: display names
    for the people the message mentions (a page never shows a login name)."""
    def name(who: str) -> str:
        return (names or {}).get(who, "其他同事")

    if task.role not in set(roles):
        return f"任务「{task.node_name}」属于「{ROLES.get(task.role, task.role)}」，您没有该角色"
    mine = {username, *stands_in_for}
    if task.assignee and task.assignee not in mine:
        return f"任务「{task.node_name}」已指派给{name(task.assignee)}"
    if claimed_counts and task.claimed_by and task.claimed_by not in mine:
        return f"任务「{task.node_name}」已被{name(task.claimed_by)}认领，只有认领人可以办理"
    return None
