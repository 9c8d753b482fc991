"""会审 as a countersign: several parties decide the same supply plan in parallel; any refusal sends it back.

Seed 002 (4.7): a plan asking for a dedicated line, dual supply, or ≥ 2000 kVA is reviewed jointly by planning,
design and dispatch. In the diagram each party decides in its own parallel branch, and a service task after
each decision records it (:func:`record_countersign`); when the branches meet, :func:`decide_countersign`
passes the plan only if every party of the round passed it. Each evaluation of a drafted plan opens a new
round (``plan_rules["review_round"]``, counted by :func:`handlers.review.evaluate_supply_plan`).

Why a ledger of votes rather than one field per party: when parallel branches meet, the engine merges their
data key by key, and every branch still carries the *previous* round's decisions of the other parties — a stale
decision would overwrite a fresh one. The ledger is a mapping keyed ``"<round>:<party>"``: a key is written in
one branch only, the merge keeps every key of every branch, so every vote of every round survives, and the
decision reads only the current round's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handlers.context import HandlerContext
from handlers.errors import HandlerError

RESULTS = {"pass": "通过", "reject": "退回修改"}


def record_countersign(ctx: HandlerContext, party: Any, result: Any, opinion: Any,
                       round: Any) -> dict[str, dict[str, Any]]:
    """The ledger of votes (``joint_review_votes``) with this party's decision in this round added."""
    round_no = _round(round)
    if not isinstance(party, str) or not party:
        raise HandlerError(f"会审参与方代号应为非空文本，收到：{party!r}", "party")
    if result not in RESULTS:
        raise HandlerError(f"会审结论应为 {'、'.join(RESULTS)} 之一，收到：{result!r}", "result")
    ledger = ctx.data.get("joint_review_votes")
    votes = {str(k): dict(v) for k, v in ledger.items() if isinstance(v, Mapping)} if isinstance(ledger, Mapping) else {}
    votes[f"{round_no}:{party}"] = {"round": round_no, "party": party, "result": result, "opinion": str(opinion or "")}
    return votes


def decide_countersign(ctx: HandlerContext, parties: Any, round: Any) -> dict[str, Any]:
    """The round's outcome: ``pass`` only if every party (``[[key, Chinese name], …]``) passed; otherwise
    ``reject`` with the refusing parties' reasons."""
    round_no = _round(round)
    names = _parties(parties)
    ledger = ctx.data.get("joint_review_votes")
    ledger = ledger if isinstance(ledger, Mapping) else {}
    cast: dict[str, Mapping[str, Any]] = {}
    for party in names:
        vote = ledger.get(f"{round_no}:{party}")
        if isinstance(vote, Mapping):
            cast[party] = vote
    missing = [names[p] for p in names if p not in cast]
    if missing:
        raise HandlerError(f"第 {round_no} 轮会审缺少 {'、'.join(missing)} 的结论", "joint_review_votes")
    votes = [{"party": p, "name": names[p], "result": str(cast[p].get("result")),
              "opinion": str(cast[p].get("opinion") or "")} for p in names]
    refused = [v for v in votes if v["result"] == "reject"]
    if refused:
        reasons = [f"{v['name']}：{v['opinion'] or '未写明理由'}" for v in refused]
        message = f"第 {round_no} 轮会审未通过，退回重新拟定方案。" + "；".join(reasons)
    else:
        reasons = [f"{v['name']}：通过" for v in votes]
        message = f"第 {round_no} 轮会审通过（{'、'.join(names.values())}）"
    return {"result": "reject" if refused else "pass", "round": round_no, "votes": votes, "reasons": reasons,
            "message": message}


def _round(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise HandlerError(f"会审轮次应为正整数，收到：{value!r}", "round")
    return value


def _parties(value: Any) -> dict[str, str]:
    if not isinstance(value, list) or not value:
        raise HandlerError(f"会审参与方必须为非空列表，收到：{value!r}", "parties")
    names: dict[str, str] = {}
    for party in value:
        if not isinstance(party, list) or len(party) != 2 or not all(isinstance(p, str) and p for p in party):
            raise HandlerError(f"会审参与方应为 [代号, 名称]，收到：{party!r}", "parties")
        names[party[0]] = party[1]
    return names
