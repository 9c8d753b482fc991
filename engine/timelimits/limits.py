"""A task's time limit (办电时限) and due date, computed as the task becomes ready (a step hook).

A user task's limit in working days is its node's ``timeLimit`` property (a safe expression over the
application data), unless the office overrides it (``time_limit_overrides``). A node where the customer
is acting (``clock=customer``) has no limit: the utility's clock stops there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from ..casework.hooks import OpeningTask, StepContext, StepHook
from ..errors import ExpressionError
from ..kernel import expressions
from ..kernel.loading import Marker, NodeInfo
from .calendar import WorkingCalendar

MARKERS = (Marker("timeLimit", expression=True, title="时限（工作日）", on=frozenset({"userTask", "manualTask"}),
                  hint="工作日数，如 3；或按申请数据计算，如 15 if supply_mode == \"single\" else 30；留空不计时限"),
           Marker("clock", {"customer": "客户办理中（停表）"}, person_tasks_only=True, title="计时",
                  hint="客户办理中的环节停表，不计入供电企业时限"))
"""timeLimit: working days as an expression over the application's data; clock=customer: the customer is
acting at this task, so the utility's clock stops."""


@dataclass(frozen=True)
class TaskLimit:
    """What a task that just became ready gets: its limit, due moment, whether the clock is stopped."""

    days: int | None
    due_at: datetime | None
    clock_stopped: bool
    problem: str | None = None


def task_limit(node: NodeInfo | None, node_id: str, data: Mapping[str, Any], overrides: Mapping[str, int],
               calendar: WorkingCalendar, ready_at: datetime) -> TaskLimit:
    """The limit of a task becoming ready now: the office override, else the node's timeLimit expression."""
    props = node.properties if node is not None else {}
    if props.get("clock") == "customer":
        return TaskLimit(None, None, True)
    if node_id in overrides:
        days: Any = overrides[node_id]
    else:
        source = (props.get("timeLimit") or "").strip()
        if not source:
            return TaskLimit(None, None, False)
        try:
            days = expressions.evaluate(source, data)
        except ExpressionError as exc:
            return TaskLimit(None, None, False, f"时限表达式 {source!r} 无法计算：{exc.message}")
        if not isinstance(days, int) or isinstance(days, bool) or days < 0:
            return TaskLimit(None, None, False, f"时限表达式 {source!r} 的结果 {days!r} 不是非负整数工作日")
    return TaskLimit(days, calendar.add_working_days(ready_at, days), False)


class TimeLimitHook(StepHook):
    """Every user task that becomes ready gets its limit and due moment (or a stopped clock)."""

    def __init__(self, overrides: Mapping[str, int], calendar: Callable[[Connection | None], WorkingCalendar]) -> None:
        self.overrides, self.calendar = overrides, calendar

    def task_opening(self, step: StepContext, opening: OpeningTask) -> None:
        limit = task_limit(opening.node, opening.item["node_id"], opening.data, self.overrides,
                           self.calendar(step.conn), step.now)
        opening.item.update(due_at=limit.due_at, time_limit_days=limit.days, warned_at=None, escalated_at=None,
                            clock_stopped=limit.clock_stopped)
        if limit.clock_stopped:
            opening.event["clock_stopped"] = True
        elif limit.due_at is not None:
            opening.event.update(time_limit_days=limit.days, due_at=limit.due_at.isoformat())
        if limit.problem:
            opening.event["time_limit_problem"] = limit.problem
