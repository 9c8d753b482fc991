"""Step hooks: how a feature takes part in every step without the write path naming it.

The one write path (:mod:`engine.casework.steps`) runs SpiffWorkflow until the process waits, then turns
what changed into rows. At fixed points it calls each registered :class:`StepHook`, in the step's own
transaction, so whatever a hook writes commits or rolls back with the step:

* :meth:`StepHook.application_started` — an application was accepted (its first step has run);
* :meth:`StepHook.check_completion` — before a task is completed (may refuse: site work not finished);
* :meth:`StepHook.task_opening` — a user task became ready: the hook may add columns to its work item
  and fields to its ``task.ready`` audit event (due dates);
* :meth:`StepHook.tasks_opened` — after the new work items are written (open a site job for each);
* :meth:`StepHook.tasks_closed` — work items completed or cancelled by the step (free booked capacity);
* :meth:`StepHook.step_written` — once per step, after its work items are written and its outcome is known:
  everything the step opened and closed, the application's new status and the data submitted (the
  step's figures are counted in one go, in one lock order);
* :meth:`StepHook.task_reassigned` — a task handed to someone else (its site job goes with it);
* :meth:`StepHook.application_paused` / :meth:`StepHook.application_resumed` — a case suspended and resumed
  (its clocks pause); :meth:`StepHook.application_ended` — withdrawn or terminated before its end.

A hook receives only plain data and the connection; it never sees the Engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from ..kernel.loading import NodeInfo, ParsedDiagram


@dataclass
class OpeningTask:
    """A user task that just became ready: its work item row (still to be written), its node, the
    process data it sees, and the ``task.ready`` audit payload — both of which hooks may extend."""

    item: dict[str, Any]
    node: NodeInfo | None
    data: Mapping[str, Any]
    event: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ClosedTask:
    """A work item the step closed: ``completed`` (by the actor) or ``cancelled`` (the process moved on)."""

    id: str
    node_id: str
    status: str


@dataclass(frozen=True)
class StepContext:
    """What every hook call of one step shares; ``data`` is the application's data as the step leaves it."""

    conn: Connection
    diagram: ParsedDiagram
    application_id: int
    app_no: str
    now: datetime
    actor: str
    data: Mapping[str, Any] = field(default_factory=dict)


class StepHook:
    """A feature taking part in steps; override what it needs (every method does nothing by default)."""

    def application_started(self, step: StepContext) -> None:
        """An application was accepted and ran to its first wait (after its tasks_opened)."""

    def check_completion(self, conn: Connection, item: Mapping[str, Any], node: NodeInfo | None) -> None:
        """Refuse (raise) if the task may not be completed yet."""

    def task_opening(self, step: StepContext, opening: OpeningTask) -> None:
        """Add to a new work item before it is written."""

    def tasks_opened(self, step: StepContext, opened: Sequence[OpeningTask]) -> None:
        """After the step's new work items are written."""

    def tasks_closed(self, step: StepContext, closed: Sequence[ClosedTask]) -> None:
        """After work items were completed or cancelled."""

    def step_written(self, step: StepContext, opened: Sequence[OpeningTask], closed: Sequence[ClosedTask],
                     status: str, inputs: Mapping[str, Any]) -> None:
        """After the step's work items are written: what it opened and closed, the application's status
        now, and the data submitted with it (the acceptance form, or the completed task's form)."""

    def task_reassigned(self, conn: Connection, task_id: str, old: str | None, new: str) -> None:
        """A task was handed from one person to another."""

    def application_paused(self, conn: Connection, application_id: int, now: datetime, reason: str) -> None:
        """The case was suspended (暂停): nothing moves until it is resumed."""

    def application_resumed(self, conn: Connection, application_id: int, now: datetime) -> None:
        """The case was resumed after a suspension."""

    def application_ended(self, conn: Connection, application_id: int, now: datetime, status: str) -> None:
        """The case ended before its process did: withdrawn (撤销) or terminated (终止)."""
