"""Policy figures the rules use; every default is the one in domain.md, each can be overridden."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from handlers.errors import HandlerError


@dataclass(frozen=True)
class PolicySettings:
    """Every configurable policy figure and text used by the handlers."""

    # Survey and supply-plan review (HV), in kVA of applied capacity.
    survey_team_threshold_kva: float = 3000  # ≤ this: solo survey by the customer manager
    joint_review_threshold_kva: float = 2000  # ≥ this: 会审 required
    dedicated_line_min_kva: float = 4000  # a 专线 is granted only from here up
    big_customer_kva: float = 2000
    big_customer_annual_kwh: float = 5_000_000
    # Suggested HV supply voltage: the first band whose upper capacity bound (kVA, inclusive) covers
    # the application; above the last band, hv_top_voltage_kv. Figures follow the usual State Grid
    # guidance (10 kV up to ~8 MVA, 35 kV up to ~40 MVA, 110 kV up to ~100 MVA, else 220 kV).
    hv_voltage_bands: tuple[tuple[float, int], ...] = ((8000, 10), (40000, 35), (100000, 110))
    hv_top_voltage_kv: int = 220
    # The largest single HV application taken as real: beyond it the figure is a slip (VA typed as kVA) or a probe.
    hv_max_kva: float = 500_000

    # Low voltage, in kW.
    lv_single_phase_max_kw: float = 10  # below this: single-phase 220 V, otherwise 380 V
    three_zero_max_kw: float = 160  # 三零 service for small/micro non-residential customers
    lv_residential_max_kw: float = 100  # a household beyond this is no two-step residential application
    lv_max_kw: float = 500  # beyond this a low-voltage supply is not offered: apply for high voltage

    # Distributed PV, in kW per connection.
    pv_max_kw_220v: float = 8
    pv_max_kw_380v: float = 400
    pv_max_kw_10kv: float = 6000
    pv_access_scheme_days_single: int = 20  # working days to reply the access scheme, single point
    pv_access_scheme_days_multi: int = 30

    # The utility as a contract party.
    supplier_name: str = "国网示例市供电公司"
    supplier_address: str = "示例市示例区人民路 1 号"
    supplier_legal_representative: str = "李建国"
    supplier_contact: str = "供电服务热线 95598"
    supplier_credit_code: str = "913205001347568904"  # 统一社会信用代码, also the tax number
    supplier_bank: str = "中国工商银行示例市分行营业部"
    supplier_account_no: str = "1102020109000012345"
    dispatch_centre: str = "国网示例市供电公司电力调度控制中心"  # 调度方 of the dispatch agreements
    dispatch_phone: str = "0512-65000000"

    # Billing. The three penalty rates are the caps of 《供电营业规则》 (电费违约金): standard contracts
    # print them, and a rate negotiated in a contract form may not exceed them.
    billing_period: str = "按月抄表结算"
    penalty_rate_residential_per_day: float = 0.001  # 1‰ of the arrears per day
    penalty_rate_current_year_per_day: float = 0.002  # non-residential, arrears of the current year
    penalty_rate_cross_year_per_day: float = 0.003  # non-residential, arrears carried across a year
    standard_meter_reading_day: int = 10  # 抄表例日 of standard (LV, residential) contracts
    standard_payment_due_days: int = 15  # days after the bill to pay, standard contracts

    # Supply quality, outages and metering (供电营业规则; printed in the supply contracts).
    planned_outage_notice_days: int = 7  # 计划检修停电，提前通知或公告
    temporary_outage_notice_hours: int = 24  # 临时检修停电，提前通知重要用户或公告
    orderly_curtailment_notice_hours: int = 24  # 有序用电，提前通知
    meter_test_days: int = 7  # a disputed meter is tested within this many days of the request
    dedicated_line_takeback_years: int = 2  # a 专线 not loaded to dedicated_line_min_kva by then is taken back

    # Power factor standards (功率因数调整电费办法) by customer, and from which capacity they apply.
    power_factor_hv_industrial: float = 0.90  # HV 大工业 from power_factor_hv_industrial_min_kva
    power_factor_hv_industrial_min_kva: float = 160
    power_factor_general: float = 0.85  # other customers from power_factor_min_capacity
    power_factor_agriculture: float = 0.80  # agricultural customers from power_factor_min_capacity
    power_factor_min_capacity: float = 100  # kVA or kW; below it no power-factor adjustment

    # Distributed PV purchase: the utility pays the owner for each settlement period.
    pv_settlement_period: str = "按月结算"
    pv_payment_due_days: int = 20  # days after a period's end to pay the owner

    # Contract terms.
    hv_contract_term_years: int = 5
    lv_contract_term_years: int = 5
    pv_contract_term_years: int = 5
    residential_contract_term: str = "长期"

    # Standard LV service (居民 and 三零 customers take a standard contract at acceptance, before any
    # survey): these terms stand unless the application data says otherwise.
    lv_standard_metering_method: str = "低压直接接入式智能电能表计量"
    lv_standard_metering_point: str = "产权分界处计量表箱"
    lv_standard_maintenance_duty: str = "产权分界点电源侧由供电人负责运行维护，负荷侧由用电人负责运行维护"
    lv_standard_source_line: str = "就近公用配电台区低压线路"
    lv_standard_deposit: float = 0
    lv_standard_receiving_point: str = "用电人低压进户总开关"

    # Property boundary (产权分界点) defaults.
    lv_property_boundary: str = "低压接户线最后支持物"
    hv_property_boundary: str = "用户站外第一断路器或第一支持物"
    hv_property_boundary_high_voltage: str = "用户站外第一基电杆"
    property_boundary_pole_min_kv: float = 35  # from this supply voltage up, the pole rule applies
    # The maintenance duty a plan proposes, split at the property boundary ({boundary} is filled in).
    maintenance_duty_at_boundary: str = "以{boundary}为分界，电源侧设施由供电企业负责运行维护，负荷侧设施由客户负责运行维护"

    # The customer's side: notices, the qualified firms list (三不指定), 回访, complaints and reports.
    service_hotline: str = "95598"  # printed in every notice to the customer
    firms_shown_per_kind: int = 5  # qualified firms shown of each kind, in rotation (seed 002: at least five)
    follow_up_working_days: int = 3  # the independent 回访 is due this many working days after power on
    complaint_reply_working_days: int = 5  # a complaint (投诉) is answered within this many working days
    report_reply_working_days: int = 10  # a report (举报) is answered within this many working days
    customer_cases_per_day: int = 3  # complaints and reports one application may file per day on the web

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> PolicySettings:
        """Build settings from defaults plus ``mapping``'s overrides; unknown keys or wrong types fail."""
        fields = {field.name: field for field in dataclasses.fields(cls)}
        unknown = sorted(set(mapping) - set(fields))
        if unknown:
            raise HandlerError(
                f"未知的政策参数：{'、'.join(unknown)}；可用参数：{'、'.join(fields)}", unknown[0]
            )
        # Annotations are strings here (postponed evaluation): "int", "float", "str" or the bands tuple.
        overrides = {
            name: _checked(name, value, str(fields[name].type)) for name, value in mapping.items()
        }
        return dataclasses.replace(cls(), **overrides)


def _checked(name: str, value: Any, type_name: str) -> Any:
    """Validate one override against its field's declared type."""
    if type_name == "str":
        if not isinstance(value, str) or not value.strip():
            raise HandlerError(f"政策参数 {name} 必须为非空文本，收到：{value!r}", name)
        return value
    if type_name.startswith("tuple"):
        return _checked_bands(name, value)
    if type_name == "int":
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise HandlerError(f"政策参数 {name} 必须为正整数，收到：{value!r}", name)
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HandlerError(f"政策参数 {name} 必须为数字，收到：{value!r}", name)
    if not math.isfinite(value) or value <= 0:
        raise HandlerError(f"政策参数 {name} 必须为大于 0 的有限数值，收到：{value!r}", name)
    return value


def _checked_bands(name: str, value: Any) -> tuple[tuple[float, int], ...]:
    """Accept bands as a list of [max_kva, voltage_kv] pairs, ascending in both."""
    message = f"政策参数 {name} 必须为按容量递增的 [容量上限kVA, 电压kV] 列表，收到：{value!r}"
    if not isinstance(value, (list, tuple)) or not value:
        raise HandlerError(message, name)
    bands: list[tuple[float, int]] = []
    for pair in value:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise HandlerError(message, name)
        max_kva, voltage_kv = pair
        if (
            isinstance(max_kva, bool)
            or not isinstance(max_kva, (int, float))
            or isinstance(voltage_kv, bool)
            or not isinstance(voltage_kv, int)
            or not math.isfinite(max_kva)
            or max_kva <= 0
            or voltage_kv <= 0
        ):
            raise HandlerError(message, name)
        if bands and (max_kva <= bands[-1][0] or voltage_kv <= bands[-1][1]):
            raise HandlerError(message, name)
        bands.append((max_kva, voltage_kv))
    return tuple(bands)
