"""Contract fields: read from the application's data, defaulted from policy, formatted for print.

Every text a template prints comes from here. Enumerated values are printed by the Chinese names
their forms give them (``ctx.labels``), never by their stored codes. A required datum that is
absent or blank is collected, and all of them are reported at once by their Chinese labels.
Besides text, the templates get flags to choose wording by (``dual_supply``, ``two_part_tariff``
…) and ``None`` for optional data the contract can do without (an authorised agent, a tax number).

Which data decides: the approved plan, not the application (domain.md). Voltage, supply mode,
transformers and metering come from the supply plan (HV) or the plan reply (LV); a contract signed
at acceptance (居民, 三零) takes the standard LV terms from policy instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handlers.context import HandlerContext
from handlers.contracts.kinds import CONTRACT_KINDS, ContractKind
from handlers.errors import HandlerError
from handlers.labels import value_key
from handlers.pv_access import normalized_connection_voltage
from handlers.quantity import (
    format_quantity,
    optional_non_negative_quantity,
    positive_count,
    positive_quantity,
)
from handlers.settings import PolicySettings

# Chinese names of the data fields, for the message that lists what is missing or wrong.
LABELS: dict[str, str] = {
    "customer_name": "用电人名称",
    "customer_type": "客户类别",
    "customer_address": "用电人住所",
    "id_document_type": "证件类型",
    "id_document_no": "证件号码",
    "address": "用电地址",
    "industry": "行业分类",
    "legal_representative": "法定代表人",
    "agent_name": "委托代理人",
    "agent_id_no": "委托代理人身份证件号码",
    "contact_name": "联系人",
    "contact_phone": "联系电话",
    "bank_name": "开户银行",
    "bank_account_no": "银行账号",
    "tax_no": "纳税人识别号",
    "tariff_class": "用电性质（电价类别）",
    "load_grade": "负荷重要性等级",
    "receiving_point": "受电点",
    "capacity_kva": "合同容量（kVA）",
    "capacity_kw": "用电容量（kW）",
    "transformer_capacity_kva": "变压器单台容量（kVA）",
    "transformer_count": "变压器台数",
    "equipment_list": "主要受电设备清单",
    "supply_voltage_kv": "供电电压（kV）",
    "supply_voltage": "供电电压",
    "lv_rules.supply_voltage": "供电电压",
    "supply_mode": "供电方式（单/双电源）",
    "source_line": "电源线路",
    "backup_source_line": "备用电源线路",
    "reactive_compensation_kvar": "无功补偿容量（kvar）",
    "metering_method": "计量方式",
    "metering_point": "计量点",
    "ct_ratio": "电流互感器变比",
    "pt_ratio": "电压互感器变比",
    "meter_accuracy_class": "电能表准确度等级",
    "metering_at_boundary": "计量点是否设在产权分界处",
    "secondary_tariff_class": "定比定量的电价类别",
    "secondary_share_method": "定比定量方式",
    "secondary_share_value": "定比比例或定量电量",
    "property_boundary": "产权分界点",
    "maintenance_duty": "运行维护责任",
    "billing_period": "电费结算方式",
    "meter_reading_day": "抄表例日",
    "payment_due_days": "交费期限（日）",
    "deposit_amount": "预付电费（保证金）",
    "late_payment_rate_per_day": "当年欠费违约金日比例（‰）",
    "late_payment_rate_cross_year_per_day": "跨年度欠费违约金日比例（‰）",
    "basic_charge_basis": "基本电费计收方式",
    "contracted_demand_kw": "合同最大需量（kW）",
    "power_purchase_mode": "购电方式",
    "dispute_resolution": "争议解决方式",
    "arbitration_commission": "仲裁委员会",
    "contract_term_years": "合同期限（年）",
    "connection_voltage": "并网电压",
    "access_point": "并网点",
    "consumption_mode": "消纳方式",
    "inverter_count": "逆变器台数",
    "inverter_capacity_kw": "逆变器单台额定功率（kW）",
    "feed_in_price_basis": "上网电价依据",
    "feed_in_price": "上网电价（元/千瓦时）",
    "settlement_bank": "结算开户银行",
    "settlement_account_name": "结算账户名",
    "settlement_account_no": "结算账号",
}

NATURAL_PERSON_TYPES = frozenset({"residential", "natural_person"})  # customer types without a legal person
COMMERCIAL_TARIFFS = frozenset({"large_industry", "general_commercial"})  # 工商业用电 since 2021
_NO_DEPOSIT = "不收取预付电费（保证金）"


class _Reader:
    """Reads data fields, remembering which required ones are missing instead of failing on the first."""

    def __init__(self, data: Mapping[str, Any], labels: Mapping[str, Mapping[str, str]]) -> None:
        self.data = data
        self.labels = labels
        self.missing: list[str] = []

    def raw(self, field: str) -> Any:
        if field == "lv_rules.supply_voltage":
            rules = self.data.get("lv_rules")
            return rules.get("supply_voltage") if isinstance(rules, Mapping) else None
        return self.data.get(field)

    def present(self, field: str) -> bool:
        value = self.raw(field)
        return not (value is None or (isinstance(value, str) and not value.strip()))

    def require(self, field: str) -> Any:
        """Return the datum, or None after recording it as missing."""
        if not self.present(field):
            if LABELS[field] not in self.missing:
                self.missing.append(LABELS[field])
            return None
        value = self.raw(field)
        return value.strip() if isinstance(value, str) else value

    def text(self, field: str) -> str:
        value = self.require(field)
        return "" if value is None else str(value)

    def optional(self, field: str) -> str | None:
        """The datum as text, or None when it was not given."""
        return str(self.raw(field)).strip() if self.present(field) else None

    def choice(self, field: str, value: Any = None, names_from: str | None = None) -> str:
        """The Chinese name of an enumerated datum (or of ``value``), as the forms name it."""
        if value is None:
            value = self.require(field)
            if value is None:
                return ""
        names = self.labels.get(names_from or field.rsplit(".", 1)[-1], {})
        name = names.get(value_key(value))
        if name is None:
            known = "、".join(f"{code}（{label}）" for code, label in names.items()) or "表单未定义任何取值"
            raise HandlerError(f"{LABELS[field]}取值无效：{value!r}（应为 {known} 之一）", field)
        return name

    def quantity(self, field: str) -> float | None:
        value = self.require(field)
        return None if value is None else positive_quantity(value, LABELS[field], field)

    def count(self, field: str) -> int | None:
        value = self.require(field)
        return None if value is None else positive_count(value, LABELS[field], field)

    def flag(self, field: str) -> bool | None:
        value = self.require(field)
        if value is None or isinstance(value, bool):
            return value
        raise HandlerError(f"{LABELS[field]}应为是或否，收到：{value!r}", field)


def contract_fields(kind: ContractKind, ctx: HandlerContext) -> dict[str, Any]:
    """Return every printable field of a ``kind`` contract, or raise HandlerError listing the gaps."""
    policy = ctx.settings
    reader = _Reader(ctx.data, ctx.labels)
    fields: dict[str, Any] = {
        "title": kind.title,
        "contract_no": f"{ctx.application_no}-{kind.number_suffix}",
        "generated_on": f"{ctx.now.year}年{ctx.now.month}月{ctx.now.day}日",
        "supplier_role": kind.supplier_role,
        "customer_role": kind.customer_role,
        "supplier_name": policy.dispatch_centre if kind.supplier_role == "调度方" else policy.supplier_name,
        "supplier_company": policy.supplier_name,
        "supplier_address": policy.supplier_address,
        "supplier_credit_code": policy.supplier_credit_code,
        "supplier_legal_representative": policy.supplier_legal_representative,
        "supplier_contact": policy.supplier_contact,
        "supplier_bank": policy.supplier_bank,
        "supplier_account_no": policy.supplier_account_no,
        "dispatch_phone": policy.dispatch_phone,
        "usage_address": reader.text("address"),
        "term_years": _term_years(kind, reader, policy),
        "planned_outage_days": policy.planned_outage_notice_days,
        "temporary_outage_hours": policy.temporary_outage_notice_hours,
        "curtailment_hours": policy.orderly_curtailment_notice_hours,
        "meter_test_days": policy.meter_test_days,
        "dispatch_agreement": kind.key == "hv_supply" and needs_dispatch_agreement(ctx),
        "supply_contract_no": f"{ctx.application_no}-{CONTRACT_KINDS['hv_supply'].number_suffix}",
    }
    fields["term"] = f"{fields['term_years']} 年" if fields["term_years"] else policy.residential_contract_term
    fields.update(_party(kind, reader))
    fields.update(_dispute(reader))
    if kind.is_pv:
        fields.update(_pv(reader, policy))
    elif kind.key in ("hv_supply", "hv_dispatch"):
        fields.update(_hv(reader, policy))
    else:
        fields.update(_lv(kind, reader, policy))
    if kind.is_supply:
        fields.update(_billing(kind, reader, policy, fields))

    if reader.missing:
        raise HandlerError(
            f"{kind.title}缺少字段：{'、'.join(reader.missing)}",
            field=_first_missing_field(reader.missing),
        )
    return fields


def needs_dispatch_agreement(ctx: HandlerContext) -> bool:
    """A dual-supply large customer signs a dispatch agreement with the supply contract (seed 002, 4.13)."""
    rules = ctx.data.get("plan_rules")
    big_customer = isinstance(rules, Mapping) and rules.get("big_customer") is True
    return ctx.data.get("supply_mode") == "dual" and big_customer


# --- the parties ------------------------------------------------------------------------------------


def _party(kind: ContractKind, reader: _Reader) -> dict[str, Any]:
    customer_type = reader.raw("customer_type")
    natural_person = kind.key == "residential" or customer_type in NATURAL_PERSON_TYPES
    fields: dict[str, Any] = {
        "customer_name": reader.text("customer_name"),
        "natural_person": natural_person,
        "customer_id_kind": reader.choice("id_document_type"),
        "customer_id_no": reader.text("id_document_no"),
        "contact": f"{reader.text('contact_name')} {reader.text('contact_phone')}",
        "industry": reader.optional("industry"),
        # Households have no legal representative; a company must name one.
        "legal_representative": None if natural_person else reader.text("legal_representative"),
        "tax_no": None if natural_person else reader.optional("tax_no"),
        "agent": None,
    }
    # The party's seat may differ from the supply address (a company's registered office).
    fields["customer_address"] = reader.optional("customer_address") or reader.text("address")
    if reader.present("agent_name"):
        fields["agent"] = f"{reader.text('agent_name')}（身份证件号码：{reader.text('agent_id_no')}）"
    if kind.is_pv:
        # The owner is paid into the settlement account collected at the acceptance request.
        fields["bank_name"] = reader.text("settlement_bank")
        fields["bank_account_name"] = reader.text("settlement_account_name")
        fields["bank_account_no"] = reader.text("settlement_account_no")
    else:
        fields["bank_name"] = reader.optional("bank_name")
        fields["bank_account_name"] = fields["customer_name"]
        fields["bank_account_no"] = reader.optional("bank_account_no")
    return fields


def _dispute(reader: _Reader) -> dict[str, Any]:
    """The chosen way to settle disputes, or None: the contract then offers both, to tick at signing."""
    choice = reader.raw("dispute_resolution")
    fields: dict[str, Any] = {"dispute": None, "arbitration": False, "arbitration_commission": None}
    if choice is None:
        return fields
    fields["dispute"] = reader.choice("dispute_resolution")
    if choice == "arbitration":
        fields["arbitration"] = True
        fields["arbitration_commission"] = reader.text("arbitration_commission")
    return fields


# --- high voltage -----------------------------------------------------------------------------------


def _hv(reader: _Reader, policy: PolicySettings) -> dict[str, Any]:
    count = reader.count("transformer_count")
    unit_kva = reader.quantity("transformer_capacity_kva")
    voltage_kv = reader.quantity("supply_voltage_kv")
    mode = reader.raw("supply_mode")
    # The approved plan grants the dedicated line (its check refuses one below the minimum), not the request.
    dedicated = reader.raw("supply_dedicated_line") is True
    fields: dict[str, Any] = {
        "tariff": reader.choice("tariff_class"),
        "load_grade": reader.choice("load_grade"),
        "receiving_point": reader.text("receiving_point"),
        "supply_voltage": reader.choice("supply_voltage_kv"),
        "voltage_band": _voltage_band(voltage_kv),
        "dedicated_line": dedicated,
        "dedicated_line_min_kva": format_quantity(policy.dedicated_line_min_kva),
        "dedicated_line_takeback_years": policy.dedicated_line_takeback_years,
        "metering_method": reader.choice("metering_method"),
        "metering_point": reader.text("metering_point"),
        "ct_ratio": reader.text("ct_ratio"),
        "pt_ratio": None,
        "meter_accuracy": reader.choice("meter_accuracy_class"),
        # Metered on the LV side of the customer's transformers: their losses are added (变损).
        "transformer_losses": reader.raw("metering_method") == "high_supply_low_metering",
        "maintenance_duty": reader.text("maintenance_duty"),
        "equipment": _lines(reader.raw("equipment_list")),
        "mixed_tariff": _mixed_tariff(reader),
    }
    fields.update(_supply_mode(reader, mode))
    if reader.raw("metering_method") == "high_supply_high_metering":
        fields["pt_ratio"] = reader.text("pt_ratio")  # metered on the HV side: through voltage transformers
    at_boundary = reader.flag("metering_at_boundary")
    fields["metering_at_boundary"] = at_boundary is not False
    total_kva = None if count is None or unit_kva is None else count * unit_kva
    fields["transformer_count"] = count
    fields["transformer_unit"] = "" if unit_kva is None else f"{format_quantity(unit_kva)} kVA"
    fields["capacity"] = "" if total_kva is None else f"{format_quantity(total_kva)} kVA"
    fields["transformers"] = (
        "" if total_kva is None or unit_kva is None
        else f"{count} 台，单台容量 {format_quantity(unit_kva)} kVA，合计 {format_quantity(total_kva)} kVA"
    )
    fields["reactive_compensation"] = _kvar(reader, required=True)
    fields["power_factor"] = _power_factor(reader.raw("tariff_class"), total_kva, True, policy)
    if reader.present("property_boundary"):
        fields["property_boundary"] = reader.text("property_boundary")
    elif voltage_kv is not None and voltage_kv >= policy.property_boundary_pole_min_kv:
        fields["property_boundary"] = policy.hv_property_boundary_high_voltage
    else:
        fields["property_boundary"] = policy.hv_property_boundary
    return fields


def _voltage_band(voltage_kv: float | None) -> str:
    """Which voltage-deviation standard applies (GB/T 12325): 35 kV and above, or 20 kV and below."""
    return "high" if voltage_kv is not None and voltage_kv >= 35 else "medium"


def _supply_mode(reader: _Reader, mode: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "supply_mode": reader.choice("supply_mode", mode) if mode is not None else reader.choice("supply_mode"),
        "dual_supply": mode == "dual",
        "source_line": reader.text("source_line"),
        "backup_source_line": reader.text("backup_source_line") if mode == "dual" else None,
    }
    return fields


def _mixed_tariff(reader: _Reader) -> str | None:
    """定比定量: the share of a second tariff class inside one meter's energy, where it was agreed."""
    if not reader.present("secondary_tariff_class"):
        return None
    tariff = reader.choice("secondary_tariff_class", names_from="tariff_class")
    method = reader.raw("secondary_share_method")
    value = reader.quantity("secondary_share_value")
    if value is None or method is None:
        reader.require("secondary_share_method")
        return ""
    share = f"总用电量的 {format_quantity(value)}%" if method == "fixed_ratio" else f"每月 {format_quantity(value)} kWh"
    return f"{tariff}用电采用{reader.choice('secondary_share_method')}方式，按{share}核定"


def _kvar(reader: _Reader, required: bool) -> str | None:
    value = reader.require("reactive_compensation_kvar") if required else reader.raw("reactive_compensation_kvar")
    if value is None:
        return None
    kvar = optional_non_negative_quantity(value, LABELS["reactive_compensation_kvar"], "reactive_compensation_kvar")
    return f"{format_quantity(kvar or 0)} kvar"


def _power_factor(tariff: Any, capacity: float | None, high_voltage: bool, policy: PolicySettings) -> str | None:
    """The power-factor standard of 《功率因数调整电费办法》, or None below the capacity it starts at."""
    if capacity is None or tariff == "residential" or capacity < policy.power_factor_min_capacity:
        return None
    if tariff == "agriculture":
        standard = policy.power_factor_agriculture
    elif tariff == "large_industry" and high_voltage and capacity >= policy.power_factor_hv_industrial_min_kva:
        standard = policy.power_factor_hv_industrial
    else:
        standard = policy.power_factor_general
    return f"{standard:.2f}"


def _lines(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(str(line).strip() for line in value if str(line).strip())


# --- low voltage ------------------------------------------------------------------------------------


def _lv(kind: ContractKind, reader: _Reader, policy: PolicySettings) -> dict[str, Any]:
    rules = reader.raw("lv_rules")
    # A contract signed at acceptance (居民, 三零) has no plan yet: the standard LV terms stand for it.
    standard = kind.key == "residential" or (isinstance(rules, Mapping) and rules.get("path") == "simple")
    capacity_kw = reader.quantity("capacity_kw")
    # The plan reply's voltage decides; before any plan, the classifier's.
    voltage_field = "supply_voltage" if reader.present("supply_voltage") else "lv_rules.supply_voltage"
    voltage_code = reader.raw(voltage_field)
    fields: dict[str, Any] = {
        "tariff": reader.choice("tariff_class"),
        "load_grade": None,
        "receiving_point": policy.lv_standard_receiving_point,
        "capacity": "" if capacity_kw is None else f"{format_quantity(capacity_kw)} kW",
        "transformers": "无用户专用变压器，由供电人公用配电变压器供电",
        "equipment": (),
        "supply_voltage": reader.choice(voltage_field, names_from="supply_voltage"),
        "voltage_band": "single_phase" if voltage_code == "220V" else "medium",
        "dedicated_line": False,
        "dual_supply": False,
        "backup_source_line": None,
        "pt_ratio": None,
        "ct_ratio": None,
        "meter_accuracy": None,
        "transformer_losses": False,
        "metering_at_boundary": True,
        "mixed_tariff": None,
        "reactive_compensation": None,
        "power_factor": _power_factor(reader.raw("tariff_class"), capacity_kw, False, policy),
    }
    fields["supply_mode"] = reader.choice("supply_mode", reader.raw("supply_mode") or "single")
    if standard:
        fields.update(
            source_line=reader.optional("source_line") or policy.lv_standard_source_line,
            metering_method=f"低供低计（{policy.lv_standard_metering_method}）",
            metering_point=reader.optional("metering_point") or policy.lv_standard_metering_point,
            maintenance_duty=reader.optional("maintenance_duty") or policy.lv_standard_maintenance_duty,
        )
    else:
        fields.update(
            source_line=reader.text("source_line"),
            metering_method=f"低供低计（{reader.choice('metering_method')}）",
            metering_point=reader.text("metering_point"),
            maintenance_duty=reader.text("maintenance_duty"),
        )
        if reader.raw("metering_method") == "via_ct":
            fields["ct_ratio"] = reader.text("ct_ratio")
        fields["reactive_compensation"] = _kvar(reader, required=False)
    fields["property_boundary"] = reader.optional("property_boundary") or policy.lv_property_boundary
    return fields


# --- billing (the supply contracts) -----------------------------------------------------------------


def _billing(kind: ContractKind, reader: _Reader, policy: PolicySettings, fields: Mapping[str, Any]) -> dict[str, Any]:
    tariff = reader.raw("tariff_class")
    resident = kind.key == "residential" or tariff == "residential"
    commercial = tariff in COMMERCIAL_TARIFFS
    negotiated = kind.key == "hv_supply"  # the HV contract's terms are drafted in their own form
    billing: dict[str, Any] = {
        "commercial_tariff": commercial,
        "residential_tariff": resident,
        "time_of_use": commercial,
        "two_part_tariff": False,
        "basic_charge": None,
        "power_purchase": None,
        "market_purchase": reader.raw("power_purchase_mode") == "market",
    }
    if negotiated:
        billing["billing_period"] = reader.choice("billing_period")
        billing["meter_reading_day"] = _day_of_month(reader)
        billing["payment_due_days"] = reader.count("payment_due_days") or ""
        billing["penalty"] = _negotiated_penalty(reader, policy)
        if tariff == "large_industry":
            billing["two_part_tariff"] = True
            billing["basic_charge"] = _basic_charge(reader, fields)
        if commercial:
            billing["power_purchase"] = reader.choice("power_purchase_mode")
    else:
        billing["billing_period"] = policy.billing_period
        billing["meter_reading_day"] = policy.standard_meter_reading_day
        billing["payment_due_days"] = policy.standard_payment_due_days
        billing["penalty"] = _standard_penalty(policy, resident)
    billing["deposit"] = _deposit(reader, policy, standard=not reader.present("deposit_amount"))
    billing["has_deposit"] = billing["deposit"] != _NO_DEPOSIT
    return billing


def _day_of_month(reader: _Reader) -> int | str:
    day = reader.count("meter_reading_day")
    if day is not None and day > 28:
        raise HandlerError(f"抄表例日应在每月 1 至 28 日之间，收到：{day}", "meter_reading_day")
    return day or ""


def _basic_charge(reader: _Reader, fields: Mapping[str, Any]) -> str:
    """Two-part tariff: the basic charge by transformer capacity or by contracted maximum demand."""
    basis = reader.raw("basic_charge_basis")
    name = reader.choice("basic_charge_basis")
    if basis == "demand":
        demand = reader.quantity("contracted_demand_kw")
        return f"{name}计收，合同最大需量 {format_quantity(demand or 0)} kW"
    return f"{name}计收，计费容量 {fields['capacity']}" if name else ""


def _per_mille(rate: float) -> str:
    return f"{format_quantity(round(rate * 1000, 6))}‰"


def _negotiated_penalty(reader: _Reader, policy: PolicySettings) -> str:
    """The rates agreed in the contract form, each at most the cap of 《供电营业规则》."""
    rates = []
    for field, cap in (
        ("late_payment_rate_per_day", policy.penalty_rate_current_year_per_day),
        ("late_payment_rate_cross_year_per_day", policy.penalty_rate_cross_year_per_day),
    ):
        value = reader.require(field)
        per_mille = optional_non_negative_quantity(value, LABELS[field], field) if value is not None else None
        if per_mille is not None and per_mille / 1000 > cap + 1e-12:
            raise HandlerError(
                f"{LABELS[field]} {format_quantity(per_mille)}‰ 超过《供电营业规则》规定的上限 {_per_mille(cap)}",
                field,
            )
        rates.append(_per_mille((per_mille or 0) / 1000))
    return (
        f"当年欠费部分，每日按欠费总额的 {rates[0]} 计付；跨年度欠费部分，每日按欠费总额的 {rates[1]} 计付"
    )


def _standard_penalty(policy: PolicySettings, resident: bool) -> str:
    if resident:
        return f"每日按欠费总额的 {_per_mille(policy.penalty_rate_residential_per_day)} 计付"
    return (
        f"当年欠费部分，每日按欠费总额的 {_per_mille(policy.penalty_rate_current_year_per_day)} 计付；"
        f"跨年度欠费部分，每日按欠费总额的 {_per_mille(policy.penalty_rate_cross_year_per_day)} 计付"
    )


def _deposit(reader: _Reader, policy: PolicySettings, standard: bool) -> str:
    amount = policy.lv_standard_deposit if standard else optional_non_negative_quantity(
        reader.raw("deposit_amount"), LABELS["deposit_amount"], "deposit_amount"
    )
    if not amount:
        return _NO_DEPOSIT
    return f"人民币 {amount:,.2f} 元"


# --- distributed PV ---------------------------------------------------------------------------------


def _pv(reader: _Reader, policy: PolicySettings) -> dict[str, Any]:
    capacity_kw = reader.quantity("capacity_kw")
    inverters = reader.count("inverter_count")
    inverter_kw = reader.quantity("inverter_capacity_kw")
    fields: dict[str, Any] = {
        "tariff": reader.choice("tariff_class"),
        "capacity": "" if capacity_kw is None else f"{format_quantity(capacity_kw)} kW",
        "access_point": reader.text("access_point"),
        "source_line": reader.text("source_line"),
        "consumption_mode": reader.choice("consumption_mode"),
        "full_grid": reader.raw("consumption_mode") == "full_grid",
        "metering_method": reader.choice("metering_method"),
        "metering_point": reader.text("metering_point"),
        "maintenance_duty": reader.text("maintenance_duty"),
        "inverters": "" if inverters is None or inverter_kw is None else (
            f"{inverters} 台，单台额定功率 {format_quantity(inverter_kw)} kW，"
            f"合计 {format_quantity(inverters * inverter_kw)} kW"
        ),
        "price_basis": reader.choice("feed_in_price_basis"),
        "price": None,
        "settlement_period": policy.pv_settlement_period,
        "payment_due_days": policy.pv_payment_due_days,
    }
    if reader.raw("feed_in_price_basis") == "coal_benchmark":
        price = reader.quantity("feed_in_price")
        fields["price"] = None if price is None else f"{format_quantity(price)} 元/千瓦时（含税）"
    voltage: str | None = None
    if reader.present("connection_voltage"):
        voltage = normalized_connection_voltage(reader.raw("connection_voltage"))
        fields["supply_voltage"] = reader.choice("connection_voltage", voltage)
    else:
        reader.require("connection_voltage")
        fields["supply_voltage"] = ""
    fields["high_voltage"] = voltage == "10kV"
    # A 10 kV connection goes through the owner's step-up transformer; at 220/380 V there is none.
    if voltage == "10kV":
        count = reader.count("transformer_count")
        unit_kva = reader.quantity("transformer_capacity_kva")
        fields["transformers"] = "" if count is None or unit_kva is None else (
            f"{count} 台，单台容量 {format_quantity(unit_kva)} kVA，合计 {format_quantity(count * unit_kva)} kVA"
        )
    else:
        fields["transformers"] = "无升压变压器，逆变器低压直接并网"
    if reader.present("property_boundary"):
        fields["property_boundary"] = reader.text("property_boundary")
    elif voltage == "10kV":
        fields["property_boundary"] = policy.hv_property_boundary
    else:
        fields["property_boundary"] = policy.lv_property_boundary
    return fields


# --- term ---------------------------------------------------------------------------------------------


def _term_years(kind: ContractKind, reader: _Reader, policy: PolicySettings) -> int | None:
    """The term in years; None for a residential contract, which runs until the account is closed."""
    if reader.present("contract_term_years"):
        return positive_count(
            reader.raw("contract_term_years"), LABELS["contract_term_years"], "contract_term_years"
        )
    if kind.key == "residential":
        return None
    years_by_kind = {
        "hv_supply": policy.hv_contract_term_years,
        "hv_dispatch": policy.hv_contract_term_years,
        "lv_supply": policy.lv_contract_term_years,
    }
    return years_by_kind.get(kind.key, policy.pv_contract_term_years)


def _first_missing_field(labels: list[str]) -> str | None:
    by_label = {label: field for field, label in LABELS.items()}
    return by_label.get(labels[0])
