"""Form checks: the business rules a submission must meet before anything is created or moves on.

A form names its check in its schema (``"x-check": "hv_supply_plan"``); the engine runs it after the schema
itself is satisfied, so every value has its declared type. A check answers field → Chinese message for each
rule broken, shown next to that field; nothing is written when any is. The checks take the submitted data,
the application's data before this step (empty at acceptance) and the policy figures::

    check(submitted, earlier, settings) -> {field: message}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from handlers.pv_access import per_point_problem
from handlers.quantity import format_quantity
from handlers.review import big_customer_reasons, suggested_hv_voltage_kv
from handlers.settings import PolicySettings

FormCheck = Callable[[Mapping[str, Any], Mapping[str, Any], PolicySettings], dict[str, str]]
HIGH_METERING = "high_supply_high_metering"


def _number(value: Any) -> float | None:
    """A numeric value as float, or None for anything else (the schema already checked the type)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:
        return float("inf")


def check_hv_application(submitted: Mapping[str, Any], earlier: Mapping[str, Any],
                         settings: PolicySettings) -> dict[str, str]:
    """HV acceptance: a capacity a real customer could have; a dedicated line only from 4000 kVA (seed 002 4.5)."""
    errors: dict[str, str] = {}
    capacity = _number(submitted.get("capacity_kva"))
    if capacity is None:
        return errors
    if capacity > settings.hv_max_kva:
        errors["capacity_kva"] = (f"申请容量超过单个高压用户的合理上限 {format_quantity(settings.hv_max_kva)} kVA，"
                                  "请核实数值和单位（kVA）")
    elif submitted.get("dedicated_line") is True and capacity < settings.dedicated_line_min_kva:
        errors["dedicated_line"] = (f"专线供电只受理容量不低于 {format_quantity(settings.dedicated_line_min_kva)} kVA "
                                    f"的申请（本次申请 {format_quantity(capacity)} kVA），请改为公用线路供电")
    return errors


def check_lv_application(submitted: Mapping[str, Any], earlier: Mapping[str, Any],
                         settings: PolicySettings) -> dict[str, str]:
    """LV acceptance: within what low voltage supplies; a household within the two-step residential path."""
    capacity = _number(submitted.get("capacity_kw"))
    if capacity is None:
        return {}
    if capacity > settings.lv_max_kw:
        return {"capacity_kw": (f"申请容量超过低压供电上限 {format_quantity(settings.lv_max_kw)} kW，"
                                "请核实数值，或按高压业务受理")}
    if submitted.get("customer_type") == "residential" and capacity > settings.lv_residential_max_kw:
        return {"capacity_kw": (f"居民用电申请容量 {format_quantity(capacity)} kW 超过居民两步办电上限 "
                                f"{format_quantity(settings.lv_residential_max_kw)} kW，请核实容量，"
                                "或按非居民用电受理")}
    return {}


def check_pv_application(submitted: Mapping[str, Any], earlier: Mapping[str, Any],
                         settings: PolicySettings) -> dict[str, str]:
    """PV acceptance: each connection point's share of the capacity within its voltage's limit."""
    return _pv_points(_number(submitted.get("capacity_kw")), submitted.get("connection_voltage"),
                      submitted.get("connection_points"), settings)


def check_pv_access_scheme(submitted: Mapping[str, Any], earlier: Mapping[str, Any],
                           settings: PolicySettings) -> dict[str, str]:
    """The access scheme's final voltage must carry each connection point's share of the capacity."""
    return _pv_points(_number(earlier.get("capacity_kw")), submitted.get("connection_voltage"),
                      earlier.get("connection_points"), settings)


def _pv_points(capacity: float | None, voltage: Any, points: Any, settings: PolicySettings) -> dict[str, str]:
    if capacity is None or capacity <= 0 or not isinstance(voltage, str):
        return {}
    if isinstance(points, bool) or not isinstance(points, int) or points < 1:
        return {}
    problem = per_point_problem(capacity, voltage, points, settings)
    return {problem[0]: problem[1]} if problem else {}


def check_hv_supply_plan(submitted: Mapping[str, Any], earlier: Mapping[str, Any],
                         settings: PolicySettings) -> dict[str, str]:
    """A supply plan the office may approve: a dedicated line only from 4000 kVA, a big customer metered
    高供高计 (seed 002 4.4), a backup source other than the main one, a voltage fit for the capacity."""
    errors: dict[str, str] = {}
    unit, count = _number(submitted.get("transformer_capacity_kva")), submitted.get("transformer_count")
    if unit is None or isinstance(count, bool) or not isinstance(count, int):
        return errors
    total = unit * count
    kva = format_quantity(total)
    if total > settings.hv_max_kva:
        errors["transformer_capacity_kva"] = (f"受电变压器合计 {kva} kVA 超过单个高压用户的合理上限 "
                                              f"{format_quantity(settings.hv_max_kva)} kVA，请核实")
        return errors
    if submitted.get("supply_dedicated_line") is True and total < settings.dedicated_line_min_kva:
        errors["supply_dedicated_line"] = (f"专线供电须受电容量不低于 {format_quantity(settings.dedicated_line_min_kva)} "
                                           f"kVA（本方案合计 {kva} kVA），不能以专线供电")
    source, backup = submitted.get("source_line"), submitted.get("backup_source_line")
    if submitted.get("supply_mode") == "dual" and isinstance(source, str) and isinstance(backup, str) \
            and backup.strip() and backup.strip() == source.strip():
        errors["backup_source_line"] = "备用电源不能与主供电源为同一线路：双电源须来自两路电源"
    voltage = _number(submitted.get("supply_voltage_kv"))
    suggested = suggested_hv_voltage_kv(total, settings)
    if voltage is not None and voltage < suggested:
        errors["supply_voltage_kv"] = (f"受电容量合计 {kva} kVA 应以不低于 {suggested} kV 的电压供电"
                                       f"（按容量—电压对照），{format_quantity(voltage)} kV 带不了这么大的负荷")
    annual = _number(earlier.get("annual_consumption_kwh"))
    important = submitted.get("load_grade") not in (None, "ordinary")
    big, reasons = big_customer_reasons(total, annual, important, settings)
    if big and submitted.get("metering_method") != HIGH_METERING:
        errors["metering_method"] = f"大客户应采用高供高计（{reasons[0]}）"
    return errors


def check_lv_supply_plan(submitted: Mapping[str, Any], earlier: Mapping[str, Any],
                         settings: PolicySettings) -> dict[str, str]:
    """Single-phase 220 V only below the single-phase limit (domain.md: 220 V below 10 kW)."""
    capacity = _number(earlier.get("capacity_kw"))
    if submitted.get("supply_voltage") == "220V" and capacity is not None \
            and capacity >= settings.lv_single_phase_max_kw:
        return {"supply_voltage": (f"申请容量 {format_quantity(capacity)} kW 不能单相 220V 供电（单相仅限 "
                                   f"{format_quantity(settings.lv_single_phase_max_kw)} kW 以下），请选择 380V")}
    return {}


FORM_CHECKS: Mapping[str, FormCheck] = MappingProxyType({
    "hv_application": check_hv_application,
    "lv_application": check_lv_application,
    "pv_application": check_pv_application,
    "hv_supply_plan": check_hv_supply_plan,
    "lv_supply_plan": check_lv_supply_plan,
    "pv_access_scheme": check_pv_access_scheme,
})
"""The checks a form may name (``x-check``); the deploy gate refuses a form naming any other."""
