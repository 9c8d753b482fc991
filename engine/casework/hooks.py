"""Step hooks: how a feature takes part in every step without the write path naming it.

The one write path (:mod:`engine.casework.steps`) runs SpiffWorkflow until the process waits, then turns
what changed into rows. At fixed points it calls each registered :class:`StepHook`, in the step's own
transaction, so whatever a hook writes commits or rolls back with the step:

* :meth:`StepHook.check_completion` — before a task is completed (may refuse: site work not finished);
* :meth:`StepHook.task_opening` — a user task became ready: the hook may add columns to its work item
  and fields to its ``task.ready`` audit event (due dates);
* :meth:`StepHook.tasks_opened` — after the new work items are written (open a site job for each);
* :meth:`StepHook.tasks_closed` — work items completed or cancelled by the step (free booked capacity);
* :meth:`StepHook.step_done` — the whole step at once, after its work items are written and closed: what
  opened, what closed, the application's status now, whether it was the acceptance or the process's end,
  what was submitted and the data it left (policy clocks start, pause and stop here; the dashboard's figures
  are counted; the customer's acceptance notice is queued); a hook may add audit events to the step
  (:attr:`StepContext.events`);
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
from .audit import PendingEvent


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
    """What every hook call of one step shares. ``accepted``: the step is the application's acceptance;
    ``finished``: the process reached its end; ``status``: the application's status as the step leaves it;
    ``inputs``: what was submitted (the acceptance form, or the completed task's form); ``data``: the process
    data as the step leaves it; ``events``: the step's audit events, to which a hook may append its own (they
    are chained with the step's)."""

    conn: Connection
    diagram: ParsedDiagram
    application_id: int
    app_no: str
    now: datetime
    actor: str
    process_key: str = ""
    accepted: bool = False
    finished: bool = False
    status: str = "running"
    inputs: Mapping[str, Any] = field(default_factory=dict)
    data: Mapping[str, Any] = field(default_factory=dict)
    events: list[PendingEvent] = field(default_factory=list)
    flows: tuple[str, ...] = ()  # the sequence flows the step took (a loop's flow once per time round)


class StepHook:
    """A feature taking part in steps; override what it needs (every method does nothing by default)."""

    def check_completion(self, conn: Connection, item: Mapping[str, Any], node: NodeInfo | None) -> None:
        """Refuse (raise) if the task may not be completed yet."""

    def task_opening(self, step: StepContext, opening: OpeningTask) -> None:
        """Add to a new work item before it is written."""

    def tasks_opened(self, step: StepContext, opened: Sequence[OpeningTask]) -> None:
        """After the step's new work items are written."""

    def tasks_closed(self, step: StepContext, closed: Sequence[ClosedTask]) -> None:
        """After work items were completed or cancelled."""

    def step_done(self, step: StepContext, opened: Sequence[OpeningTask], closed: Sequence[ClosedTask]) -> None:
        """After the step's work items are written and closed (called for every step, even one that opened
        and closed nothing)."""

    def task_reassigned(self, conn: Connection, task_id: str, old: str | None, new: str) -> None:
        """A task was handed from one person to another."""

    def application_paused(self, conn: Connection, application_id: int, now: datetime, reason: str) -> None:
        """The case was suspended (暂停): nothing moves until it is resumed."""

    def application_resumed(self, conn: Connection, application_id: int, now: datetime) -> None:
        """The case was resumed after a suspension."""

    def application_ended(self, conn: Connection, application_id: int, now: datetime, status: str) -> None:
        """The case ended before its process did: withdrawn (撤销) or terminated (终止)."""
