"""The weekly design-review meeting (设计审查例会): the review tasks waiting are gathered on one agenda,
decided one by one in the meeting, and the minutes (attendees, decisions) are kept.

A BPMN user task marked ``reviewMeeting=<kind>`` in its diagram is decided here. Deciding an item
completes the underlying task through the engine — form validation, the process running on, the audit
event — with the meeting as the authority, and marks the agenda item in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, insert, select, update

from ..casework.rows import find_item
from ..errors import BaozhuangError, Conflict, Forbidden, FormValidationError, InvalidInput, NotFound
from ..kernel.forms import FormDefinition
from ..kernel.loading import Marker
from ..results import StepResult
from ..store import Store
from ..store.tables import AGENDA, ITEMS, MEETINGS
from ..vocabulary import ROLES, Role, TaskStatus

MEETING_ROLES = (Role.PLANNING, Role.CUSTOMER_MANAGER, Role.MARKETING)
DECISIONS: Mapping[str, str] = {"pass": "通过", "fail": "不通过，退回整改"}
# How a meeting's decision fills the form of each kind of review task.
REVIEW_FORMS: Mapping[str, Mapping[str, str]] = {
    "design_review": {"result": "design_review_result", "opinion": "design_review_opinion",
                      "documents": "design_documents", "submitted_on": "design_submitted_on"},
}

REVIEW_MEETING = "reviewMeeting"
MARKERS = (Marker(REVIEW_MEETING, {kind: "设计文件审查" for kind in REVIEW_FORMS}, person_tasks_only=True,
                  title="审查例会", hint="在每周审查例会上集中审议并作出决定的环节"),)
"""A user task marked reviewMeeting=<kind> is decided at the meeting (the gate checks the kind)."""


class CompleteTask(Protocol):
    """Completing a task under an authority (engine.casework.steps.Steps.complete)."""

    def __call__(self, task_id: str, user: str, data: Mapping[str, Any], uploads: Iterable[Any] = (),
                 authority: Any = None) -> StepResult: ...


@dataclass(frozen=True)
class Authority:
    """Who decides a task when it is not its assignee: the roles allowed, what the audit event records,
    and a write to make in the same transaction."""

    roles: tuple[str, ...]
    record: Mapping[str, Any]
    also: Callable[[Connection], None] = field(default=lambda conn: None)

    def refusal(self, node_name: str, username: str, roles: Iterable[str]) -> str | None:
        """Why this person may not decide the task under this authority; None if they may."""
        if set(self.roles) & set(roles):
            return None
        names = "、".join(ROLES.get(r, r) for r in self.roles)
        return f"「{node_name}」须由{names}在会上决定，您没有这些角色"


@dataclass(frozen=True)
class AgendaItem:
    """One review on the agenda: the task, and the decision once taken."""

    id: int
    task_id: str
    app_no: str
    customer_name: str
    position: int
    task_status: str
    waiting_since: datetime | None
    decision: str | None
    opinion: str
    decided_by: str | None
    decided_at: datetime | None

    @property
    def decision_name(self) -> str:
        if self.decision:
            return DECISIONS.get(self.decision, self.decision)
        return "会外已办理" if self.task_status != "ready" else "未决（顺延）"


@dataclass(frozen=True)
class MeetingInfo:
    """A meeting, its agenda and, once closed, its minutes."""

    id: int
    week_start: date
    chair: str
    status: str
    created_at: datetime
    closed_at: datetime | None
    attendees: tuple[str, ...]
    notes: str
    items: tuple[AgendaItem, ...]

    @property
    def title(self) -> str:
        end = self.week_start + timedelta(days=6)
        return f"设计审查例会（{self.week_start:%Y年%m月%d日}–{end:%m月%d日}）"

    @property
    def undecided(self) -> tuple[AgendaItem, ...]:
        return tuple(i for i in self.items if i.decision is None and i.task_status == "ready")


@dataclass(frozen=True)
class Decision:
    """The meeting's decision on one agenda item."""

    decision: str
    opinion: str
    documents_checked: bool = True


@dataclass(frozen=True)
class ItemOutcome:
    """What deciding one item did: ``error`` is the reason it was not decided (the others still were)."""

    item_id: int
    app_no: str
    decision: str
    error: str | None = None


class ReviewMeetings:
    """Open a meeting on the reviews waiting, decide them, close it with the minutes."""

    def __init__(self, store: Store, clock: Callable[[], datetime],
                 marked_nodes: Callable[[str], Mapping[str, tuple[str, FormDefinition | None]]],
                 complete: CompleteTask, roles_of: Callable[[Connection, str], list[str]]) -> None:
        self.store, self.clock, self.marked_nodes = store, clock, marked_nodes
        self.complete, self.roles_of = complete, roles_of

    def open(self, week_start: date, by: str) -> MeetingInfo:
        """Open the meeting of the week containing ``week_start`` with every review task now waiting
        (and not already on another open meeting's agenda)."""
        monday = week_start - timedelta(days=week_start.weekday())
        marked = self.marked_nodes(REVIEW_MEETING)
        now = self.clock()
        with self.store.transaction() as s:
            conn = s.connection()
            self._require_role(conn, by)
            if conn.execute(select(MEETINGS.c.id).where(MEETINGS.c.week_start == monday,
                                                        MEETINGS.c.status == "open")).first() is not None:
                raise Conflict(f"{monday:%m月%d日}所在周的审查例会已经召开，请在该会议中继续")
            on_agenda = (select(AGENDA.c.task_id).join(MEETINGS, MEETINGS.c.id == AGENDA.c.meeting_id)
                         .where(MEETINGS.c.status == "open"))
            waiting = conn.execute(
                select(ITEMS.c.id, ITEMS.c.app_no, ITEMS.c.customer_name)
                .where(ITEMS.c.status == TaskStatus.READY, ITEMS.c.node_id.in_(list(marked)), ITEMS.c.id.not_in(on_agenda))
                .order_by(ITEMS.c.created_at, ITEMS.c.id)).all() if marked else []
            meeting_id = conn.execute(insert(MEETINGS).returning(MEETINGS.c.id), {
                "week_start": monday, "chair": by, "status": "open", "created_at": now, "closed_at": None,
                "attendees": "[]", "notes": ""}).scalar_one()
            if waiting:
                conn.execute(insert(AGENDA), [{
                    "meeting_id": meeting_id, "task_id": w.id, "app_no": w.app_no, "customer_name": w.customer_name,
                    "position": n + 1, "decision": None, "opinion": "", "decided_by": None, "decided_at": None}
                    for n, w in enumerate(waiting)])
        return self.meeting(meeting_id)

    def meetings(self, limit: int = 50) -> list[MeetingInfo]:
        """Meetings, newest first."""
        with self.store.reading() as s:
            ids = s.connection().execute(select(MEETINGS.c.id).order_by(MEETINGS.c.week_start.desc(),
                                                                        MEETINGS.c.id.desc()).limit(limit)).scalars()
            return [self._meeting(s.connection(), i) for i in ids]

    def meeting(self, meeting_id: int) -> MeetingInfo:
        """One meeting with its agenda."""
        with self.store.reading() as s:
            return self._meeting(s.connection(), meeting_id)

    def decide(self, meeting_id: int, decisions: Mapping[int, Decision], by: str) -> list[ItemOutcome]:
        """Decide agenda items; each completes its task in its own transaction, so one refused item (a bad
        opinion, a task finished elsewhere) does not undo the others. Outcomes in agenda order."""
        meeting = self.meeting(meeting_id)
        if meeting.status != "open":
            raise Conflict("该例会已结束，不能再作决定")
        items = {i.id: i for i in meeting.items}
        unknown = [str(i) for i in decisions if i not in items]
        if unknown:
            raise InvalidInput(f"议题不在本次例会中：{'、'.join(unknown)}")
        marked = self.marked_nodes(REVIEW_MEETING)
        outcomes = []
        for item_id in sorted(decisions, key=lambda i: items[i].position):
            item, decision = items[item_id], decisions[item_id]
            try:
                self._decide_one(meeting_id, item, decision, by, marked)
                outcomes.append(ItemOutcome(item_id, item.app_no, decision.decision))
            except BaozhuangError as exc:
                outcomes.append(ItemOutcome(item_id, item.app_no, decision.decision, str(exc)))
        return outcomes

    def _decide_one(self, meeting_id: int, item: AgendaItem, decision: Decision, by: str,
                    marked: Mapping[str, tuple[str, Any]]) -> None:
        if decision.decision not in DECISIONS:
            raise FormValidationError("请选择审查结论", {"decision": "请选择审查结论"})
        opinion = decision.opinion.strip()
        if not opinion:
            raise FormValidationError("请填写审查意见（不通过时写明退回原因）", {"opinion": "请填写审查意见"})
        if item.decision is not None:
            raise Conflict(f"{item.app_no} 已在会上决定")
        with self.store.read() as conn:
            task = find_item(conn, item.task_id)
        kind, form = marked.get(task["node_id"], (None, None))
        fields = REVIEW_FORMS.get(kind or "")
        if fields is None:
            raise InvalidInput(f"「{task['node_name']}」不是会议审查的环节")
        data: dict[str, Any] = {fields["result"]: decision.decision, fields["opinion"]: opinion}
        if "documents" in fields:
            options = (form.schema.get("properties", {}).get(fields["documents"], {}).get("items", {}).get("enum", [])
                       if form is not None else [])
            data[fields["documents"]] = list(options) if decision.documents_checked else []
        if "submitted_on" in fields:
            data[fields["submitted_on"]] = task["created_at"].date().isoformat()
        now = self.clock()

        def mark(conn: Connection) -> None:
            changed = conn.execute(update(AGENDA).where(AGENDA.c.id == item.id, AGENDA.c.decision.is_(None))
                                   .values(decision=decision.decision, opinion=opinion, decided_by=by,
                                           decided_at=now)).rowcount
            if changed != 1:
                raise Conflict(f"{item.app_no} 已在会上决定")

        authority = Authority(MEETING_ROLES, {"meeting": meeting_id, "decided_in": "design_review_meeting"}, mark)
        self.complete(item.task_id, by, data, authority=authority)

    def close(self, meeting_id: int, by: str, attendees: Iterable[str], notes: str) -> MeetingInfo:
        """End the meeting and keep its minutes; undecided items stay waiting for the next one."""
        people = [a.strip() for a in attendees if a.strip()]
        if not people:
            raise FormValidationError("请填写参会人员", {"attendees": "请填写参会人员"})
        if len(notes) > 5000 or any(len(p) > 64 for p in people) or len(people) > 50:
            raise FormValidationError("会议纪要过长（纪要不超过 5000 字，参会人员不超过 50 人）",
                                      {"notes": "过长"})
        with self.store.transaction() as s:
            conn = s.connection()
            self._require_role(conn, by)
            row = conn.execute(select(MEETINGS).where(MEETINGS.c.id == meeting_id).with_for_update()).one_or_none()
            if row is None:
                raise NotFound(f"例会不存在：{meeting_id}")
            if row.status != "open":
                raise Conflict("该例会已经结束")
            conn.execute(update(MEETINGS).where(MEETINGS.c.id == meeting_id).values(
                status="closed", closed_at=self.clock(), attendees=json.dumps(people, ensure_ascii=False),
                notes=notes.strip()))
        return self.meeting(meeting_id)

    def _require_role(self, conn: Connection, by: str) -> None:
        roles = self.roles_of(conn, by)
        if not set(MEETING_ROLES) & set(roles):
            raise Forbidden("审查例会由客户经理、发展策划或营销部组织")

    def _meeting(self, conn: Connection, meeting_id: int) -> MeetingInfo:
        row = conn.execute(select(MEETINGS).where(MEETINGS.c.id == meeting_id)).one_or_none()
        if row is None:
            raise NotFound(f"例会不存在：{meeting_id}")
        items = conn.execute(
            select(AGENDA, ITEMS.c.status.label("task_status"), ITEMS.c.created_at.label("waiting_since"))
            .join(ITEMS, ITEMS.c.id == AGENDA.c.task_id, isouter=True)
            .where(AGENDA.c.meeting_id == meeting_id).order_by(AGENDA.c.position)).mappings().all()
        return MeetingInfo(row.id, row.week_start, row.chair, row.status, row.created_at, row.closed_at,
                           tuple(json.loads(row.attendees)), row.notes, tuple(
                               AgendaItem(i["id"], i["task_id"], i["app_no"], i["customer_name"], i["position"],
                                          i["task_status"] or "missing", i["waiting_since"], i["decision"],
                                          i["opinion"], i["decided_by"], i["decided_at"]) for i in items))
