"""Distributed-PV access rules: connection voltage limits, opinion letter, access-scheme time limit."""

from __future__ import annotations

from typing import Any

from handlers.context import HandlerContext
from handlers.errors import HandlerError
from handlers.labels import ResultField
from handlers.quantity import format_quantity, positive_count, positive_quantity
from handlers.settings import PolicySettings

CONNECTION_VOLTAGES = ("220V", "380V", "10kV")  # ascending


def voltage_limits_kw(policy: PolicySettings) -> dict[str, float]:
    """Return the maximum capacity (kW) per connection voltage."""
    return {
        "220V": policy.pv_max_kw_220v,
        "380V": policy.pv_max_kw_380v,
        "10kV": policy.pv_max_kw_10kv,
    }


def evaluate_pv_access(
    ctx: HandlerContext, capacity_kw: Any, connection_voltage: Any, connection_points: Any
) -> dict[str, Any]:
    """Check the requested connection voltage and return opinion-letter need, time limit, voltage."""
    capacity = positive_quantity(capacity_kw, "光伏装机容量（kW）", "capacity_kw")
    voltage = normalized_connection_voltage(connection_voltage)
    points = positive_count(connection_points, "并网点数量", "connection_points")
    policy = ctx.settings
    problem = per_point_problem(capacity, voltage, points, policy)
    if problem is not None:
        raise HandlerError(problem[1], problem[0])
    per_point = capacity / points
    limits = voltage_limits_kw(policy)
    suggested = next(v for v in CONNECTION_VOLTAGES if per_point <= limits[v])
    days = policy.pv_access_scheme_days_single if points == 1 else policy.pv_access_scheme_days_multi
    return {
        # At 380 V the confirmed access scheme stands for the 接入电网意见函 (domain.md, step 4).
        "opinion_letter_required": voltage == "10kV",
        "access_scheme_days": days,
        "suggested_voltage": suggested,
    }


def per_point_problem(capacity_kw: float, voltage: str, points: int,
                      policy: PolicySettings) -> tuple[str, str] | None:
    """Why a PV project cannot connect like this — the field at fault and a Chinese message — or None.

    The limits are per connection point (domain.md: 220 V ≤ 8 kW, 380 V ≤ 400 kW, 10 kV ≤ 6 MW per point): a
    project's capacity is shared over its points, and each point's share must fit its voltage."""
    limits = voltage_limits_kw(policy)
    per_point = capacity_kw / points
    kw, share = format_quantity(capacity_kw), format_quantity(round(per_point, 3))
    spread = f"（{points} 个并网点，每点约 {share} kW）" if points > 1 else ""
    top_voltage = CONNECTION_VOLTAGES[-1]
    if per_point > limits[top_voltage]:
        return "capacity_kw", (
            f"光伏装机容量 {kw} kW{spread}超过分布式光伏单个并网点上限 "
            f"{format_quantity(limits[top_voltage])} kW（{top_voltage}），不属于分布式光伏并网范围")
    if per_point > limits[voltage]:
        return "connection_voltage", (
            f"光伏装机容量 {kw} kW{spread}超过 {voltage} 单个并网点上限 {format_quantity(limits[voltage])} kW，"
            f"请改用更高电压等级并网或增加并网点")
    return None


def normalized_connection_voltage(value: Any) -> str:
    """Return the canonical spelling ("220V", "380V", "10kV") of a connection voltage."""
    if isinstance(value, str):
        compact = value.replace(" ", "").lower()
        for voltage in CONNECTION_VOLTAGES:
            if compact == voltage.lower():
                return voltage
    raise HandlerError(
        f"未知的并网电压：{value!r}（应为 {'、'.join(CONNECTION_VOLTAGES)} 之一）",
        "connection_voltage",
    )


RESULT_LABELS = {
    "opinion_letter_required": ResultField("需出具接入电网意见函"),
    "access_scheme_days": ResultField("接入方案时限（工作日）"),
    "suggested_voltage": ResultField("建议接入电压"),
}
