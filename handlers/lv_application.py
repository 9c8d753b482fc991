"""Low-voltage application path: the two-step simple path or the standard chain, and the voltage."""

from __future__ import annotations

from typing import Any

from handlers.context import HandlerContext
from handlers.errors import HandlerError
from handlers.labels import ResultField
from handlers.quantity import positive_quantity

CUSTOMER_TYPES = {
    "residential": "居民",
    "small_micro": "小微企业（非居民）",
    "non_residential": "其他非居民",
}


def classify_lv_application(ctx: HandlerContext, customer_type: Any, capacity_kw: Any) -> dict[str, Any]:
    """Return {"path", "supply_voltage", "three_zero"} for an LV application."""
    if customer_type not in CUSTOMER_TYPES:
        allowed = "、".join(CUSTOMER_TYPES)
        raise HandlerError(
            f"未知的低压客户类型：{customer_type!r}（应为 {allowed} 之一）", "customer_type"
        )
    capacity = positive_quantity(capacity_kw, "申请容量（kW）", "capacity_kw")
    policy = ctx.settings
    three_zero = customer_type == "small_micro" and capacity <= policy.three_zero_max_kw
    path = "simple" if customer_type == "residential" or three_zero else "standard"
    supply_voltage = "220V" if capacity < policy.lv_single_phase_max_kw else "380V"
    return {"path": path, "supply_voltage": supply_voltage, "three_zero": three_zero}


RESULT_LABELS = {
    "path": ResultField("办理路径", {"simple": "简化流程（受理签约→施工接电）", "standard": "常规流程"}),
    "supply_voltage": ResultField("供电电压", {"220V": "单相220V", "380V": "三相380V"}),
    "three_zero": ResultField("三零服务"),
}
