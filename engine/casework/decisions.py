"""What a completed task decided, in words, and whether that decision sent the work back.

A form says which of its answers sends the application back with the annotation ``x-sendBack``::

    "x-sendBack": {"field": "joint_review_result", "values": ["reject"], "reason": "joint_review_opinion"}

— the field holding the decision, the values of it that send the work back (会审退回, 审查不通过…), and the
field holding the reason. A process analyst edits it with the form; nothing here knows a node by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handlers.labels import value_key

from ..kernel.forms import FormDefinition

SEND_BACK = "x-sendBack"
OPINION_SUFFIXES = ("_opinion", "_reason", "_notes", "_comment")
"""Text fields that carry a decision's reasons (审查意见, 整改说明…) when the form names no reason field."""


def send_back_rule(form: FormDefinition | None) -> Mapping[str, Any] | None:
    """The form's x-sendBack annotation, if it has a well-formed one."""
    rule = form.schema.get(SEND_BACK) if form is not None else None
    if not isinstance(rule, Mapping) or not isinstance(rule.get("field"), str):
        return None
    if not isinstance(rule.get("values"), list):
        return None
    return rule


def sends_back(form: FormDefinition | None, data: Mapping[str, Any]) -> bool:
    """Whether what was submitted on this form sends the work back."""
    rule = send_back_rule(form)
    return rule is not None and value_key(data.get(rule["field"])) in {value_key(v) for v in rule["values"]}


def choice_name(form: FormDefinition, field: str, value: Any) -> str:
    """The Chinese name of a stored choice (x-enumNames), else the value as typed."""
    prop = form.schema.get("properties", {}).get(field, {})
    values, names = prop.get("enum"), prop.get("x-enumNames")
    if isinstance(values, list) and isinstance(names, list):
        for v, n in zip(values, names):
            if value_key(v) == value_key(value):
                return str(n)
    if isinstance(value, bool):
        return "是" if value else "否"
    return "" if value is None else str(value)


def reason_of(form: FormDefinition | None, data: Mapping[str, Any]) -> str:
    """The reasons given with a decision: the form's reason field, else its opinion-like text fields."""
    if form is None:
        return ""
    rule = send_back_rule(form)
    if rule is not None and isinstance(rule.get("reason"), str):
        return str(data.get(rule["reason"]) or "").strip()
    texts = [str(data.get(f) or "").strip() for f in form.fields if f.endswith(OPINION_SUFFIXES)]
    return "；".join(t for t in texts if t)


def summary(form: FormDefinition | None, data: Mapping[str, Any]) -> str:
    """A decision in one line: each single choice by its label (审批结论：退回修改), then the reasons."""
    if form is None:
        return ""
    props = form.schema.get("properties", {})
    parts = [f"{form.label(f)}：{choice_name(form, f, data[f])}" for f in form.fields
             if isinstance(props.get(f), Mapping) and "enum" in props[f] and data.get(f) is not None]
    reason = reason_of(form, data)
    if reason:
        parts.append(f"意见：{reason}")
    return "；".join(parts)
