"""What the engine did in a step, as the audit trail records it: the task state changes ("moves").

A step records, with the input event that caused it (acceptance, a completed task, a retry, a migration),
the moves of its tasks grouped by kind, each group listing the nodes in the order they moved::

    {"moves": {"READY>COMPLETED": ["hv_site_survey_solo"], "FUTURE>COMPLETED": ["hv_gw_draft_plan_merge"],
               "LIKELY>READY": ["hv_draft_supply_plan"]}}

With them go the sequence flows the step took (``"flows": ["hv_f_accepted", ...]``, in the order taken, a
flow taken twice listed twice), so the dashboard's flow counts can be counted again from the trail exactly as
the steps counted them (the task rows alone do not tell which of a node's tasks a move was).

Only what happened is recorded — a task reached (ready, waiting), finished (completed, failed, cancelled) —
not SpiffWorkflow's guesses about the future (tasks it predicts as maybe, likely or future, which it
creates and drops as the process runs). Replay compares the same facts.

Trails written before this form carry a separate ``engine.transitions`` event listing every change as
``[node, old state, new state, task id]``; :func:`recorded_moves` reads both. (A step without an input event
records its moves in an ``engine.transitions`` event of this form.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..vocabulary import EventKind

STATE_NAMES = {1: "MAYBE", 2: "LIKELY", 4: "FUTURE", 8: "WAITING", 16: "READY", 32: "STARTED",
               64: "COMPLETED", 128: "ERROR", 256: "CANCELLED"}
PREDICTIONS = frozenset({"MAYBE", "LIKELY", "FUTURE"})
MOVES = "moves"
FLOWS = "flows"

Move = tuple[str, str, str, "str | None"]
"""(node id, old state, new state, task id if recorded) — old state "NEW" for a task the step created."""


def state_name(state: int | None) -> str:
    """A task state as recorded in the audit trail ("NEW" for a task that did not exist before)."""
    return STATE_NAMES.get(state or 0, "NEW") if state else "NEW"


def is_fact(old: str, new: str) -> bool:
    """Whether a move is something that happened (not a prediction being made or revised)."""
    return new not in PREDICTIONS and old != new


def record_moves(transitions: Iterable[tuple[Any, str, int | None, int]],
                 flows: Sequence[str] = ()) -> dict[str, Any]:
    """The payload fields recording a step's task state changes and the sequence flows it took (empty when
    nothing happened)."""
    groups: dict[str, list[str]] = {}
    for _, name, old, new in transitions:
        before, after = state_name(old), state_name(new)
        if is_fact(before, after):
            groups.setdefault(f"{before}>{after}", []).append(name)
    recorded: dict[str, Any] = {MOVES: groups} if groups else {}
    if flows:
        recorded[FLOWS] = list(flows)
    return recorded


def recorded_flows(payload: Mapping[str, Any]) -> list[str] | None:
    """The sequence flows a step took as its event records them; None for an event that does not record them
    (an event of a step that took none, or of a trail written before they were recorded)."""
    flows = payload.get(FLOWS)
    if not isinstance(flows, list):
        return None
    return [str(flow) for flow in flows]


def recorded_moves(kind: str, payload: Mapping[str, Any]) -> list[Move]:
    """The moves an event records that are facts: the ``moves`` of an event (an input, or an
    ``engine.transitions`` event of a step without one), or the ``changes`` of an ``engine.transitions`` event
    of the earlier form; nothing for an event without either."""
    if kind == EventKind.ENGINE_TRANSITIONS and MOVES not in payload:
        moves: list[Move] = []
        for change in payload.get("changes", ()):
            name, old, new = str(change[0]), str(change[1]), str(change[2])
            if is_fact(old, new):
                moves.append((name, old, new, str(change[3]) if len(change) > 3 else None))
        return moves
    groups = payload.get(MOVES)
    if not isinstance(groups, Mapping):
        return []
    out: list[Move] = []
    for move, names in groups.items():
        old, _, new = str(move).partition(">")
        out.extend((str(name), old, new, None) for name in names)
    return out
