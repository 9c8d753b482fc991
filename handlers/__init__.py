"""Business rules of 业扩报装 as plain typed functions, and the registry the engine calls them by.

Every operator is ``func(ctx: HandlerContext, **params) -> JSON-serialisable value``; its required
and optional parameters are read from its signature, so they are never listed twice. Forms name the
checks of :data:`FORM_CHECKS` (``x-check``) that a submission must pass. Errors::

    HandlerError    bad or missing input to a rule; .message (Chinese), .field
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from handlers import lv_application, notify, pv_access, review, survey
from handlers.assignment import assign_customer_manager
from handlers.checks import FORM_CHECKS, FormCheck
from handlers.context import HandlerContext, HandlerServices
from handlers.contracts import generate_contract, render_pdf
from handlers.countersign import decide_countersign, record_countersign
from handlers.errors import HandlerError
from handlers.labels import ResultField, ResultLabels
from handlers.lv_application import classify_lv_application
from handlers.notify import LogNotifier, Notifier, make_notify
from handlers.numbering import application_number
from handlers.pv_access import evaluate_pv_access
from handlers.review import evaluate_supply_plan
from handlers.settings import PolicySettings
from handlers.survey import select_survey_mode

__all__ = [
    "FORM_CHECKS",
    "FormCheck",
    "HandlerContext",
    "HandlerError",
    "HandlerServices",
    "LogNotifier",
    "Notifier",
    "Operator",
    "PolicySettings",
    "ResultField",
    "ResultLabels",
    "application_number",
    "build_registry",
    "call_operator",
    "render_pdf",
]


@dataclass(frozen=True)
class Operator:
    """A named business rule the engine can call from a process."""

    name: str
    func: Callable[..., Any]
    required: tuple[str, ...]
    optional: tuple[str, ...]
    title: str
    # how a person reads the result: its parts' titles and the Chinese names of their values
    result_labels: ResultLabels = field(default_factory=dict)


def _operator(name: str, func: Callable[..., Any], title: str,
              result_labels: ResultLabels | None = None) -> Operator:
    """Describe ``func``; every parameter after ``ctx`` is required unless it has a default."""
    params = list(inspect.signature(func).parameters.values())[1:]
    required = tuple(p.name for p in params if p.default is inspect.Parameter.empty)
    optional = tuple(p.name for p in params if p.default is not inspect.Parameter.empty)
    return Operator(name, func, required, optional, title, MappingProxyType(dict(result_labels or {})))


def build_registry() -> Mapping[str, Operator]:
    """Return the read-only registry of operators."""
    operators = [
        _operator("select_survey_mode", select_survey_mode, "确定勘查方式", survey.RESULT_LABELS),
        _operator("evaluate_supply_plan", evaluate_supply_plan, "供电方案审批规则", review.RESULT_LABELS),
        _operator("assign_customer_manager", assign_customer_manager, "指派客户经理",
                  {"": ResultField("客户经理")}),
        _operator("classify_lv_application", classify_lv_application, "低压业务分类", lv_application.RESULT_LABELS),
        _operator("evaluate_pv_access", evaluate_pv_access, "光伏接入规则", pv_access.RESULT_LABELS),
        _operator("generate_contract", generate_contract, "生成合同"),
        _operator("record_countersign", record_countersign, "记录会审意见"),
        _operator("decide_countersign", decide_countersign, "会审结论汇总"),
        _operator("notify", make_notify(), "通知客户", notify.RESULT_LABELS),
    ]
    return MappingProxyType({operator.name: operator for operator in operators})


def call_operator(
    registry: Mapping[str, Operator], name: str, ctx: HandlerContext, params: Mapping[str, Any]
) -> Any:
    """Check ``params`` against the operator's signature, call it and return its JSON-ready result."""
    operator = registry.get(name)
    if operator is None:
        raise HandlerError(f"未知的处理规则：{name!r}（可用：{'、'.join(registry)}）")
    known = set(operator.required) | set(operator.optional)
    unknown = sorted(set(params) - known)
    if unknown:
        raise HandlerError(
            f"处理规则“{operator.title}”（{name}）不接受参数：{'、'.join(unknown)}", unknown[0]
        )
    missing = [param for param in operator.required if param not in params]
    if missing:
        raise HandlerError(
            f"处理规则“{operator.title}”（{name}）缺少参数：{'、'.join(missing)}", missing[0]
        )
    result = operator.func(ctx, **params)
    # The result goes into process data, which is stored as JSON; fail here, next to the cause.
    json.dumps(result, ensure_ascii=False, allow_nan=False)
    return result
