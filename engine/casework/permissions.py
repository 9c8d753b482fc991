"""Who may do what: one rule for every channel (web pages, the JSON API, the command line).

Two kinds of question, one module:

* :func:`may` — may this person take this *action* (deploy a diagram, migrate applications, export the
  event log…)? Decided by role, from :data:`RULES`; the engine asks it before acting, so a route or a
  command that forgets to check is still refused (:class:`~engine.errors.Forbidden`).
* :func:`refusal` — may this person work on this *task*? Its role, its assignee, its claimant.

Pages ask the same functions to decide what to offer, so what is shown and what is allowed cannot drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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


def refusal(task: TaskHolder, username: str, roles: Iterable[str], *, claimed_counts: bool = True) -> str | None:
    """Why this person may not work on the task, in Chinese; None if they may."""
    if task.role not in set(roles):
        return f"任务「{task.node_name}」属于「{ROLES.get(task.role, task.role)}」，用户 {username} 没有该角色"
    if task.assignee and task.assignee != username:
        return f"任务「{task.node_name}」已指派给 {task.assignee}"
    if claimed_counts and task.claimed_by and task.claimed_by != username:
        return f"任务「{task.node_name}」已被 {task.claimed_by} 认领，只有认领人可以办理"
    return None
