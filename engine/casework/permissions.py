"""Who may work on a task: one rule, used by the engine's checks and by pages deciding what to offer."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from ..vocabulary import ROLES


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
