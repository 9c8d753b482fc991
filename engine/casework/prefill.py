"""What a task's form opens with: the defaults its form and the office's policy propose (产权分界点 and
运行维护责任 by voltage), what the case already holds for a form done again (``x-prefill``: a plan redrafted,
a contract revised), and — when the task was sent back — the previous submission, with who sent it back,
when and why.

A task was *sent back* when the step that opened it completed a task whose form says (``x-sendBack``, see
:mod:`engine.casework.decisions`) that the answer given sends the work back: 会审退回, 审查不通过… — or, for a
countersign whose last party passed, when another party refused since the task was last done.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from handlers.boundary import BOUNDARY_FIELDS, VOLTAGE_FIELDS, boundary_defaults, voltage_kv, voltage_of
from handlers.labels import value_key
from handlers.settings import PolicySettings

from ..definitions.versions import Definitions
from ..kernel.forms import FormDefinition
from ..store import Store
from ..store.tables import APPS, EVENTS
from ..vocabulary import INPUT_KINDS, EventKind
from .accounts import names_of
from .decisions import choice_name, reason_of, send_back_rule, sends_back
from .records import current_data
from .rows import find_item


@dataclass(frozen=True)
class SendBack:
    """Who sent a task back, when, with which decision and why."""

    node_id: str
    node_name: str
    by: str
    by_name: str
    at: datetime
    decision: str  # the decision by its label: 退回修改, 不通过
    reason: str


@dataclass(frozen=True)
class TaskPrefill:
    """A form's opening values and where they come from."""

    values: Mapping[str, Any]
    sent_back: SendBack | None = None
    previous_at: datetime | None = None  # when the previous submission (now in ``values``) was made
    # a voltage field of the form → each of its values → the defaults that go with it (a page swaps them in
    # when the voltage is changed, unless the person has edited them)
    defaults_by: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)


class Prefills:
    """Working out what a task's form opens with (nothing here writes)."""

    def __init__(self, store: Store, definitions: Definitions, policy: PolicySettings) -> None:
        self.store, self.definitions, self.policy = store, definitions, policy

    def for_task(self, task_id: str) -> TaskPrefill:
        """The opening values of a task's form, and the send-back that opened it, if any."""
        with self.store.read() as conn:
            item = find_item(conn, task_id)
            app = conn.execute(select(APPS.c.version_id, APPS.c.wf_meta)
                               .where(APPS.c.id == item["application_id"])).one()
            diagram = self.definitions.diagram(conn, app.version_id)
            form = diagram.form_for(item["node_id"])
            if form is None:
                return TaskPrefill({})
            data = current_data(conn, item["application_id"], json.loads(app.wf_meta))
            events = conn.execute(
                select(EVENTS.c.seq, EVENTS.c.kind, EVENTS.c.node_id, EVENTS.c.task_id, EVENTS.c.actor, EVENTS.c.at,
                       EVENTS.c.payload)
                .where(EVENTS.c.application_id == item["application_id"],
                       EVENTS.c.kind.in_([*INPUT_KINDS, EventKind.TASK_READY]))
                .order_by(EVENTS.c.seq)).all()
            opened = next((e.seq for e in events if e.kind == EventKind.TASK_READY and e.task_id == item["id"]), None)
            trigger = None
            if opened is not None:
                trigger = next((e for e in reversed(events) if e.seq < opened and e.kind in INPUT_KINDS), None)
            sent_back = None
            if trigger is not None and trigger.kind == EventKind.TASK_COMPLETED \
                    and not sends_back(diagram.form_for(trigger.node_id or ""),
                                       json.loads(trigger.payload).get("data", {})):
                # a countersign (会审) whose last party passed: the party that refused since this task was last
                # done sent it back (none did if the task itself comes first, going back)
                refused = next((e for e in reversed(events) if e.seq < opened and e.kind == EventKind.TASK_COMPLETED
                                and (e.node_id == item["node_id"] or sends_back(
                                    diagram.form_for(e.node_id or ""), json.loads(e.payload).get("data", {})))), None)
                if refused is not None and refused.node_id != item["node_id"]:
                    trigger = refused
            if trigger is not None and trigger.kind == EventKind.TASK_COMPLETED:
                decided = json.loads(trigger.payload).get("data", {})
                sender_form = diagram.form_for(trigger.node_id or "")
                if sends_back(sender_form, decided):
                    assert sender_form is not None
                    rule = send_back_rule(sender_form) or {}
                    node = diagram.nodes.get(trigger.node_id or "")
                    sent_back = SendBack(
                        trigger.node_id or "", node.name if node else sender_form.title, trigger.actor,
                        names_of(conn, [trigger.actor]).get(trigger.actor, "其他同事"), trigger.at,
                        choice_name(sender_form, str(rule.get("field")), decided.get(str(rule.get("field")))),
                        reason_of(sender_form, decided))
            previous = None
            if sent_back is not None and opened is not None:
                previous = next((e for e in reversed(events) if e.seq < opened and e.kind == EventKind.TASK_COMPLETED
                                 and e.node_id == item["node_id"]), None)
        values = self.defaults(form, data)
        if form.schema.get("x-prefill"):
            # a form done again (a plan redrafted, a contract revised) starts from what the case holds
            values.update({k: data[k] for k in form.fields if data.get(k) is not None})
        defaults_by = self._defaults_by_voltage(form)
        if previous is not None:
            submitted = json.loads(previous.payload).get("data", {})
            values.update({k: v for k, v in submitted.items() if k in form.fields and v is not None})
        return TaskPrefill(values, sent_back, previous.at if previous is not None else None, defaults_by)

    def defaults(self, form: FormDefinition, data: Mapping[str, Any]) -> dict[str, Any]:
        """A form's defaults: those its schema declares, then the boundary the policy proposes at the voltage
        the application has so far."""
        props = form.schema.get("properties", {})
        values = {name: prop["default"] for name, prop in props.items()
                  if isinstance(prop, Mapping) and "default" in prop}
        if any(f in props for f in BOUNDARY_FIELDS):
            proposed = boundary_defaults(self.policy, voltage_of(data))
            values.update({f: proposed[f] for f in BOUNDARY_FIELDS if f in props})
        return values

    def _defaults_by_voltage(self, form: FormDefinition) -> dict[str, dict[str, dict[str, Any]]]:
        """For a form that chooses its own voltage and proposes a boundary: the proposal at each voltage."""
        props = form.schema.get("properties", {})
        if not any(f in props for f in BOUNDARY_FIELDS):
            return {}
        result: dict[str, dict[str, dict[str, Any]]] = {}
        for name, prop in props.items():
            if not isinstance(prop, Mapping) or not isinstance(prop.get("enum"), list):
                continue
            options = {value_key(v): voltage_kv(v) for v in prop["enum"]}
            if name in VOLTAGE_FIELDS and \
                    all(kv is not None for kv in options.values()):
                result[name] = {key: {f: v for f, v in boundary_defaults(self.policy, kv).items() if f in props}
                                for key, kv in options.items()}
        return result

