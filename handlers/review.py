"""Supply-plan review rules for HV applications: 会审, dedicated line, big customer, voltage.

The diagram feeds :func:`evaluate_supply_plan` with the *drafted plan's* figures (its transformer capacity,
supply mode, dedicated line, load grade): the approved plan decides, not what the customer asked for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handlers.context import HandlerContext
from handlers.flag import required_flag
from handlers.labels import ResultField
from handlers.quantity import (
    format_quantity,
    optional_non_negative_quantity,
    positive_quantity,
)
from handlers.settings import PolicySettings


def evaluate_supply_plan(
    ctx: HandlerContext,
    capacity_kva: Any,
    dual_supply: Any,
    dedicated_line: Any,
    annual_consumption_kwh: Any,
    important_load: Any,
) -> dict[str, Any]:
    """Decide joint review, dedicated-line eligibility, big-customer status and a supply voltage."""
    policy = ctx.settings
    capacity = positive_quantity(capacity_kva, "供电容量（kVA）", "capacity_kva")
    wants_dual = required_flag(dual_supply, "是否双电源", "dual_supply")
    wants_line = required_flag(dedicated_line, "是否申请专线", "dedicated_line")
    # The yearly estimate is often unknown at plan time; None means "not estimated", not zero.
    annual_kwh = optional_non_negative_quantity(
        annual_consumption_kwh, "年用电量（kWh）", "annual_consumption_kwh"
    )
    important = required_flag(important_load, "是否重要负荷", "important_load")
    kva = format_quantity(capacity)
    reasons: list[str] = []

    joint_review = False
    if capacity >= policy.joint_review_threshold_kva:
        joint_review = True
        reasons.append(
            f"容量 {kva} kVA ≥ {format_quantity(policy.joint_review_threshold_kva)} kVA，需会审"
        )
    if wants_dual:
        joint_review = True
        reasons.append("双电源供电，需会审")
    if wants_line:
        joint_review = True
        reasons.append("专线供电，需会审")

    line_min = format_quantity(policy.dedicated_line_min_kva)
    dedicated_line_allowed = capacity >= policy.dedicated_line_min_kva
    if wants_line and dedicated_line_allowed:
        reasons.append(f"容量 {kva} kVA ≥ {line_min} kVA，可专线供电")
    elif wants_line:
        reasons.append(f"容量 {kva} kVA 低于专线供电下限 {line_min} kVA，不予专线供电")

    big_customer, big_reasons = big_customer_reasons(capacity, annual_kwh, important, policy)
    reasons.extend(big_reasons)

    voltage_kv = suggested_hv_voltage_kv(capacity, policy)
    reasons.append(f"按容量 {kva} kVA 建议供电电压不低于 {voltage_kv} kV")
    previous = ctx.data.get("plan_rules")
    last_round = previous.get("review_round") if isinstance(previous, Mapping) else None
    return {
        "joint_review": joint_review,
        # Every evaluation of a drafted plan opens a new review round (a countersign counts votes per round).
        "review_round": (last_round if isinstance(last_round, int) and not isinstance(last_round, bool) else 0) + 1,
        "dedicated_line_allowed": dedicated_line_allowed,
        "big_customer": big_customer,
        "suggested_voltage_kv": voltage_kv,
        "reasons": reasons,
    }


def big_customer_reasons(capacity_kva: float, annual_kwh: float | None, important: bool,
                         policy: PolicySettings) -> tuple[bool, list[str]]:
    """Whether a customer is a big customer (大客户, seed 002 4.1), and why: ≥ 2000 kVA, ≥ 5,000,000 kWh a year,
    or an important (high-risk) load."""
    reasons: list[str] = []
    kva = format_quantity(capacity_kva)
    if capacity_kva >= policy.big_customer_kva:
        reasons.append(f"容量 {kva} kVA ≥ {format_quantity(policy.big_customer_kva)} kVA，列为大客户")
    if annual_kwh is not None and annual_kwh >= policy.big_customer_annual_kwh:
        reasons.append(
            f"年用电量 {format_quantity(annual_kwh)} kWh ≥ "
            f"{format_quantity(policy.big_customer_annual_kwh)} kWh，列为大客户"
        )
    if important:
        reasons.append("属重要（高危）负荷，列为大客户")
    return bool(reasons), reasons


def suggested_hv_voltage_kv(capacity_kva: float, policy: PolicySettings) -> int:
    """Return the supply voltage (kV) of the first configured band that covers the capacity."""
    for max_kva, voltage_kv in policy.hv_voltage_bands:
        if capacity_kva <= max_kva:
            return voltage_kv
    return policy.hv_top_voltage_kv


RESULT_LABELS = {
    "joint_review": ResultField("需会审"),
    "dedicated_line_allowed": ResultField("可批专线"),
    "big_customer": ResultField("大客户"),
    "suggested_voltage_kv": ResultField("建议供电电压（kV）"),
    "reasons": ResultField("依据"),
}
