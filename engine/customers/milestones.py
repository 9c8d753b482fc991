"""The milestones a customer knows, and which internal steps belong to each — the one place that maps nodes
to milestones.

A customer does not follow 拟定供电方案, 会审 or 归档; they follow four moments (domain.md, after the 2019
reform): HV 申请受理 → 供电方案答复 → 竣工检验 → 装表接电; LV the same, or for residential and 三零 customers
受理签约 → 施工接电; PV 并网申请受理 → 接入方案答复 → 并网验收 → 并网运行. Each milestone lists the user tasks
that belong to it, the tasks whose completion finishes it, and its time limit in working days with the moment
that limit is counted from (供电方案答复 from acceptance, 竣工检验 from the customer's request, 装表接电 from
passing inspection and signing). Internal steps after power on (归档, the process's own 回访) are not shown.

A node no milestone names (an analyst added it) counts as part of the milestone under way, so an open task is
never hidden from the customer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Protocol

from ..errors import ExpressionError
from ..kernel import expressions
from ..timelimits.calendar import CalendarNotCovered, WorkingCalendar


@dataclass(frozen=True)
class Milestone:
    """A moment the customer knows.

    ``nodes``: the user tasks that belong to it; ``done_by``: completing one of these (with no task of the
    milestone left open) finishes it; ``limit``: its time limit in working days, an expression of the safe
    language over the application's data (None: no limit of the utility's); ``clock_after``: the limit
    counts from the moment every group has a completed task (the latest of them; an empty tuple: from
    acceptance); ``clock_text``: that moment in the customer's words; ``clock``: the key of the diagram's
    policy clock that counts this milestone — where the application has that clock, its limit and deadline
    are the ones shown (``with_clocks``), so the page never tells two stories; ``limit`` is the fallback
    for a diagram without it.
    """

    key: str
    name: str
    nodes: frozenset[str] = frozenset()
    done_by: frozenset[str] = frozenset()
    limit: str | None = None
    clock_after: tuple[frozenset[str], ...] = ()
    clock_text: str = "自受理之日起"
    clock: str = ""


@dataclass(frozen=True)
class Track:
    """The milestones of one way through a process, in order (the first is acceptance)."""

    key: str
    milestones: tuple[Milestone, ...]
    hidden: frozenset[str] = frozenset()  # internal steps after power on, never shown to the customer

    @property
    def nodes(self) -> frozenset[str]:
        """Every node the track names."""
        return self.milestone_nodes | self.hidden

    @property
    def milestone_nodes(self) -> frozenset[str]:
        """The nodes that belong to a milestone (not the hidden ones, which tracks may share)."""
        return frozenset().union(*(m.nodes for m in self.milestones))

    @property
    def power_on(self) -> frozenset[str]:
        """The tasks whose completion means the power is on (the last milestone is done)."""
        return self.milestones[-1].done_by


def _set(*names: str) -> frozenset[str]:
    return frozenset(names)


HV = Track("hv", (
    Milestone("accepted", "申请受理"),
    Milestone("plan_reply", "供电方案答复",
              _set("hv_site_survey_solo", "hv_site_survey_team", "hv_draft_supply_plan", "hv_plan_approval",
                   "hv_joint_review", "hv_reply_supply_plan"),
              _set("hv_reply_supply_plan"), "30 if dual_supply else 15", clock="plan_reply"),
    Milestone("completion_inspection", "竣工检验",
              _set("hv_customer_confirm_plan", "hv_design_submit", "hv_design_review", "hv_design_rectify",
                   "hv_mid_inspection_request", "hv_mid_inspection", "hv_concealed_rectify", "hv_completion_request", "hv_completion_inspection",
                   "hv_completion_rectify"),
              _set("hv_completion_inspection"), "5", (_set("hv_completion_request", "hv_completion_rectify"),),
              "自您提出竣工报验或整改完成之日起", clock="completion_inspection"),
    Milestone("power_on", "装表接电",
              _set("hv_draft_contract", "hv_sign_contract", "hv_install_meter", "hv_power_on"),
              _set("hv_power_on"), "5", (_set("hv_completion_inspection"), _set("hv_sign_contract")),
              "自竣工检验合格并签订供用电合同之日起", clock="connect"),
), hidden=_set("hv_archive", "hv_follow_up"))

LV_SIMPLE = Track("lv_simple", (
    Milestone("accepted", "受理签约", _set("lv_sign_simple"), _set("lv_sign_simple")),
    Milestone("power_on", "施工接电", _set("lv_construct_connect"), _set("lv_construct_connect"),
              '3 if customer_type == "residential" else 5', (_set("lv_sign_simple"),), "自签约之日起"),
), hidden=_set("lv_archive"))

LV_STANDARD = Track("lv_standard", (
    Milestone("accepted", "申请受理"),
    Milestone("plan_reply", "供电方案答复", _set("lv_site_survey", "lv_reply_supply_plan"),
              _set("lv_reply_supply_plan"), '3 if customer_type == "residential" else 7', clock="plan_reply"),
    Milestone("completion_inspection", "竣工检验",
              _set("lv_completion_request", "lv_completion_inspection", "lv_completion_rectify"),
              _set("lv_completion_inspection"), "5", (_set("lv_completion_request", "lv_completion_rectify"),),
              "自您提出竣工报验或整改完成之日起", clock="completion_inspection"),
    Milestone("power_on", "装表接电", _set("lv_sign_contract", "lv_install_connect"), _set("lv_install_connect"),
              '3 if customer_type == "residential" else 5', (_set("lv_sign_contract"),),
              "自签订供用电合同之日起", clock="connect"),
), hidden=_set("lv_archive"))

PV = Track("pv", (
    Milestone("accepted", "并网申请受理"),
    Milestone("scheme_reply", "接入方案答复",
              _set("pv_site_survey", "pv_draft_access_scheme", "pv_reply_access_scheme"),
              _set("pv_reply_access_scheme"), "30 if connection_points > 1 else 20", clock="access_scheme"),
    Milestone("acceptance", "并网验收",
              _set("pv_owner_confirm_scheme", "pv_opinion_letter", "pv_acceptance_request", "pv_install_metering",
                   "pv_sign_contracts", "pv_acceptance_commissioning", "pv_rectify"),
              _set("pv_acceptance_commissioning"), "20", (_set("pv_acceptance_request"),),
              "自您提出并网验收申请之日起"),
    Milestone("power_on", "并网运行", _set("pv_grid_connection"), _set("pv_grid_connection"), "5",
              (_set("pv_acceptance_commissioning"),), "自并网验收合格之日起"),
), hidden=_set("pv_archive"))

TRACKS: Mapping[str, tuple[Track, ...]] = {"hv": (HV,), "lv": (LV_STANDARD, LV_SIMPLE), "pv": (PV,)}
"""Each process's tracks; the first is used until the application's tasks show which one it takes."""


def track_for(process_key: str, node_ids: Iterable[str]) -> Track | None:
    """The track an application takes, judged by the tasks it has had (None for a process with none)."""
    tracks = TRACKS.get(process_key, ())
    if not tracks:
        return None
    seen = set(node_ids)
    # the track most of whose milestone tasks the application has had; the first on a tie (none yet)
    return max(tracks, key=lambda t: (len(seen & t.milestone_nodes), -tracks.index(t)))


def power_on_nodes(process_key: str) -> frozenset[str]:
    """The tasks of any track of a process whose completion means the power is on."""
    return frozenset().union(*(t.power_on for t in TRACKS.get(process_key, ())))


@dataclass(frozen=True)
class TaskRow:
    """What the milestones read of one work item."""

    node_id: str
    node_name: str
    status: str  # ready | completed | cancelled
    created_at: datetime
    completed_at: datetime | None
    due_at: datetime | None
    clock_stopped: bool


@dataclass(frozen=True)
class OpenStep:
    """A task under way, as the customer sees it."""

    name: str
    due_on: date | None
    customer_acting: bool


@dataclass(frozen=True)
class MilestoneState:
    """One milestone of one application: ``state`` done | current | pending | skipped."""

    key: str
    name: str
    state: str
    done_on: date | None = None
    limit_days: int | None = None
    clock_text: str = ""
    due_on: date | None = None
    overdue: bool = False
    steps: tuple[OpenStep, ...] = ()
    clock: str = ""  # the policy clock counting it, when the application has one (see with_clocks)

    @property
    def clock_started(self) -> bool:
        """Whether the milestone's time limit is running (its starting moment has come)."""
        return self.due_on is not None


def milestone_states(track: Track, accepted_at: datetime, rows: Sequence[TaskRow], data: Mapping[str, Any],
                     calendar: Callable[[], WorkingCalendar], now: datetime) -> tuple[MilestoneState, ...]:
    """Where each milestone of an application stands, with the time limit of the one under way."""
    open_rows = [r for r in rows if r.status == "ready"]
    completed: dict[str, datetime] = {}
    for r in rows:
        if r.status == "completed" and r.completed_at is not None:
            completed[r.node_id] = max(completed.get(r.node_id, r.completed_at), r.completed_at)
    ever = {r.node_id for r in rows}
    named = track.nodes
    states: list[MilestoneState] = []
    current_found = False
    for index, m in enumerate(track.milestones):
        open_here = [r for r in open_rows if r.node_id in m.nodes]
        finished = [completed[n] for n in m.done_by if n in completed]
        if index == 0 and not m.done_by:
            done_at: datetime | None = accepted_at
        else:
            done_at = max(finished) if finished and not open_here else None
        later_started = any(ever & later.nodes for later in track.milestones[index + 1:])
        if done_at is not None:
            states.append(MilestoneState(m.key, m.name, "done", done_at.date()))
            continue
        if not (ever & m.nodes) and later_started and not current_found:
            states.append(MilestoneState(m.key, m.name, "skipped"))  # e.g. no works, so no inspection
            continue
        if current_found:
            states.append(MilestoneState(m.key, m.name, "pending", clock_text=m.clock_text,
                                         limit_days=_limit(m, data)))
            continue
        current_found = True
        # this milestone is under way: its own open tasks, and any open task no milestone names
        steps = [r for r in open_rows if r.node_id in m.nodes or r.node_id not in named]
        days = _limit(m, data)
        start = _clock_start(m, accepted_at, completed)
        due = None
        if days is not None and start is not None:
            try:
                due = calendar().add_working_days(start, days)
            except CalendarNotCovered:
                due = None
        states.append(MilestoneState(
            m.key, m.name, "current", None, days, m.clock_text, due.date() if due else None,
            bool(due and now > due),
            tuple(OpenStep(r.node_name, r.due_at.date() if r.due_at else None, r.clock_stopped)
                  for r in sorted(steps, key=lambda r: r.created_at)), m.clock))
    return tuple(states)


class ClockRound(Protocol):
    """What a milestone reads of one round of a policy clock (``engine.timelimits.clocks.ClockInfo``)."""

    @property
    def key(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def limit(self) -> int | None: ...
    @property
    def deadline(self) -> datetime | None: ...
    @property
    def overdue(self) -> bool: ...


def with_clocks(milestones: Sequence[MilestoneState], rounds: Sequence[ClockRound]) -> tuple[MilestoneState, ...]:
    """The milestones with the one under way counted by its policy clock, where the application has it: the
    clock's latest round gives the limit, the deadline and whether it has passed (the regulations' counting,
    pauses included), so the milestone and the clock tell the customer one story."""
    latest = {r.key: r for r in rounds if r.kind == "limit"}  # rounds come oldest first
    result = []
    for m in milestones:
        clock = latest.get(m.clock) if m.state == "current" and m.clock else None
        if clock is not None and clock.limit is not None:
            m = replace(m, limit_days=clock.limit, due_on=clock.deadline.date() if clock.deadline else None,
                        overdue=clock.overdue)
        result.append(m)
    return tuple(result)


def _limit(m: Milestone, data: Mapping[str, Any]) -> int | None:
    if m.limit is None:
        return None
    try:
        value = expressions.evaluate(m.limit, data)
    except ExpressionError:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _clock_start(m: Milestone, accepted_at: datetime, completed: Mapping[str, datetime]) -> datetime | None:
    """When the milestone's limit started counting (None: not yet, the customer has still to act)."""
    if not m.clock_after:
        return accepted_at
    moments = []
    for group in m.clock_after:
        done = [completed[n] for n in group if n in completed]
        if not done:
            return None
        moments.append(max(done))
    return max(moments)
