"""Supply-plan review rules for HV applications: 会审, dedicated line, big customer, voltage."""

from __future__ import annotations

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
    capacity = positive_quantity(capacity_kva, "申请容量（kVA）", "capacity_kva")
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
            f"申请容量 {kva} kVA ≥ {format_quantity(policy.joint_review_threshold_kva)} kVA，需会审"
        )
    if wants_dual:
        joint_review = True
        reasons.append("申请双电源供电，需会审")
    if wants_line:
        joint_review = True
        reasons.append("申请专线供电，需会审")

    line_min = format_quantity(policy.dedicated_line_min_kva)
    dedicated_line_allowed = capacity >= policy.dedicated_line_min_kva
    if wants_line and dedicated_line_allowed:
        reasons.append(f"申请容量 {kva} kVA ≥ {line_min} kVA，可专线供电")
    elif wants_line:
        reasons.append(f"申请容量 {kva} kVA 低于专线供电下限 {line_min} kVA，不予专线供电")

    big_customer = False
    if capacity >= policy.big_customer_kva:
        big_customer = True
        reasons.append(
            f"申请容量 {kva} kVA ≥ {format_quantity(policy.big_customer_kva)} kVA，列为大客户"
        )
    if annual_kwh is not None and annual_kwh >= policy.big_customer_annual_kwh:
        big_customer = True
        reasons.append(
            f"年用电量 {format_quantity(annual_kwh)} kWh ≥ "
            f"{format_quantity(policy.big_customer_annual_kwh)} kWh，列为大客户"
        )
    if important:
        big_customer = True
        reasons.append("属重要（高危）负荷，列为大客户")

    voltage_kv = suggested_hv_voltage_kv(capacity, policy)
    reasons.append(f"按申请容量 {kva} kVA 建议供电电压 {voltage_kv} kV")
    return {
        "joint_review": joint_review,
        "dedicated_line_allowed": dedicated_line_allowed,
        "big_customer": big_customer,
        "suggested_voltage_kv": voltage_kv,
        "reasons": reasons,
    }


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
