"""Contract fields: read from the application's data, defaulted from policy, formatted for print.

Every field a template prints comes from here as non-empty text; a required datum that is absent
or blank is collected, and all of them are reported at once by their Chinese labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handlers.context import HandlerContext
from handlers.contracts.kinds import ContractKind
from handlers.errors import HandlerError
from handlers.pv_access import normalized_connection_voltage
from handlers.quantity import (
    format_quantity,
    optional_non_negative_quantity,
    positive_count,
    positive_quantity,
)
from handlers.settings import PolicySettings

LABELS: dict[str, str] = {
    "customer_name": "用电人名称",
    "customer_address": "用电人地址",
    "address": "用电地址",
    "legal_representative": "法定代表人",
    "contact_name": "联系人",
    "contact_phone": "联系电话",
    "tariff_class": "用电性质（电价类别）",
    "capacity_kva": "合同容量（kVA）",
    "capacity_kw": "用电容量（kW）",
    "transformer_capacity_kva": "变压器单台容量（kVA）",
    "transformer_count": "变压器台数",
    "supply_voltage_kv": "供电电压（kV）",
    "lv_rules.supply_voltage": "供电电压",
    "supply_mode": "供电方式（单/双电源）",
    "source_line": "电源线路",
    "backup_source_line": "备用电源线路",
    "metering_method": "计量方式",
    "metering_point": "计量点",
    "property_boundary": "产权分界点",
    "maintenance_duty": "运行维护责任",
    "billing_period": "抄表结算方式",
    "deposit_amount": "预付电费（保证金）",
    "contract_term_years": "合同期限（年）",
    "connection_voltage": "并网电压",
    "access_point": "并网点",
    "consumption_mode": "消纳方式",
}

TARIFF_CLASSES = {
    "large_industry": "大工业用电",
    "general_commercial": "一般工商业用电",
    "agriculture": "农业生产用电",
    "residential": "居民生活用电",
}
SUPPLY_MODES = {"single": "单电源供电", "dual": "双电源供电（主供电源 + 备用电源）"}
CONSUMPTION_MODES = {"self_use_surplus": "自发自用、余电上网", "full_grid": "全额上网"}
_LV_VOLTAGES = {"220V": "220 V（单相）", "380V": "380 V（三相）"}
_PV_VOLTAGES = {"220V": "220 V", "380V": "380 V", "10kV": "10 kV"}


class _Reader:
    """Reads data fields, remembering which required ones are missing instead of failing on the first."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
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

    def choice(self, field: str, labels: Mapping[str, str]) -> str:
        value = self.require(field)
        if value is None:
            return ""
        if value not in labels:
            raise HandlerError(
                f"{LABELS[field]}取值无效：{value!r}（应为 {'、'.join(labels)} 之一）", field
            )
        return labels[value]


def contract_fields(kind: ContractKind, ctx: HandlerContext) -> dict[str, str]:
    """Return every printable field of a ``kind`` contract, or raise HandlerError listing the gaps."""
    policy = ctx.settings
    tariff_code = ctx.data.get("tariff_class")
    is_resident = kind.key == "residential" or tariff_code == "residential"
    reader = _Reader(_with_standard_lv_terms(kind, ctx.data, policy))

    fields: dict[str, str] = {
        "title": kind.title,
        "contract_no": f"{ctx.application_no}-{kind.key.upper()}",
        "generated_on": f"{ctx.now.year}年{ctx.now.month}月{ctx.now.day}日",
        "supplier_role": kind.supplier_role,
        "customer_role": kind.customer_role,
        "supplier_name": policy.supplier_name,
        "supplier_address": policy.supplier_address,
        "supplier_legal_representative": policy.supplier_legal_representative,
        "supplier_contact": policy.supplier_contact,
        "customer_name": reader.text("customer_name"),
        "usage_address": reader.text("address"),
        "contact": f"{reader.text('contact_name')} {reader.text('contact_phone')}",
        "tariff": reader.choice("tariff_class", TARIFF_CLASSES),
        "metering_method": reader.text("metering_method"),
        "metering_point": reader.text("metering_point"),
        "maintenance_duty": reader.text("maintenance_duty"),
        "billing_period": reader.text("billing_period")
        if reader.present("billing_period")
        else policy.billing_period,
        "penalty": _penalty(policy, is_resident),
    }
    # The party address may differ from the supply address (a company's seat); default to the latter.
    fields["customer_address"] = (
        reader.text("customer_address") if reader.present("customer_address") else fields["usage_address"]
    )
    # Households (居民, including household PV) have no legal representative.
    if not is_resident:
        fields["legal_representative"] = reader.text("legal_representative")
    # The utility buys a PV owner's power: a purchase or dispatch contract carries no prepayment.
    fields["deposit"] = "不收取预付电费（保证金）" if kind.is_pv and not reader.present("deposit_amount") else _deposit(reader)
    fields["term"] = _term(kind, reader, policy)

    if kind.is_pv:
        fields.update(_pv_fields(reader, policy))
    elif kind.key == "hv_supply":
        fields.update(_hv_fields(reader, policy))
    else:
        fields.update(_lv_fields(kind, reader, policy))

    if reader.missing:
        raise HandlerError(
            f"{kind.title}缺少字段：{'、'.join(reader.missing)}",
            field=_first_missing_field(reader.missing),
        )
    return fields


def _with_standard_lv_terms(kind: ContractKind, data: Mapping[str, Any], policy: PolicySettings) -> Mapping[str, Any]:
    """Data completed with the standard LV terms where the contract is signed at acceptance."""
    lv_rules = data.get("lv_rules")
    simple_path = isinstance(lv_rules, Mapping) and lv_rules.get("path") == "simple"
    if not (kind.key == "residential" or (kind.key == "lv_supply" and simple_path)):
        return data
    standard = {
        "metering_method": policy.lv_standard_metering_method,
        "metering_point": policy.lv_standard_metering_point,
        "maintenance_duty": policy.lv_standard_maintenance_duty,
        "source_line": policy.lv_standard_source_line,
        "supply_mode": "single",
        "deposit_amount": policy.lv_standard_deposit,
    }
    completed = dict(data)
    for field, value in standard.items():
        if completed.get(field) in (None, ""):
            completed[field] = value
    return completed


def _hv_fields(reader: _Reader, policy: PolicySettings) -> dict[str, str]:
    fields = {
        "capacity": _quantity(reader, "capacity_kva", "kVA"),
        "transformers": _transformers(reader),
    }
    voltage_kv: float | None = None
    if reader.present("supply_voltage_kv"):
        voltage_kv = positive_quantity(
            reader.raw("supply_voltage_kv"), LABELS["supply_voltage_kv"], "supply_voltage_kv"
        )
        fields["supply_voltage"] = f"{format_quantity(voltage_kv)} kV"
    else:
        reader.require("supply_voltage_kv")
        fields["supply_voltage"] = ""
    fields.update(_supply_mode(reader))
    if reader.present("property_boundary"):
        fields["property_boundary"] = reader.text("property_boundary")
    elif voltage_kv is not None and voltage_kv >= policy.property_boundary_pole_min_kv:
        fields["property_boundary"] = policy.hv_property_boundary_high_voltage
    else:
        fields["property_boundary"] = policy.hv_property_boundary
    return fields


def _lv_fields(kind: ContractKind, reader: _Reader, policy: PolicySettings) -> dict[str, str]:
    fields = {
        "capacity": _quantity(reader, "capacity_kw", "kW"),
        "supply_voltage": reader.choice("lv_rules.supply_voltage", _LV_VOLTAGES),
        "property_boundary": reader.text("property_boundary")
        if reader.present("property_boundary")
        else policy.lv_property_boundary,
    }
    # LV customers are normally fed from a public distribution transformer; a 居民 never has one.
    has_transformers = reader.present("transformer_count") or reader.present("transformer_capacity_kva")
    if kind.key == "lv_supply" and has_transformers:
        fields["transformers"] = _transformers(reader)
    else:
        fields["transformers"] = "无用户专用变压器，由供电人公用配电变压器供电"
    fields.update(_supply_mode(reader))
    return fields


def _pv_fields(reader: _Reader, policy: PolicySettings) -> dict[str, str]:
    fields = {
        "capacity": _quantity(reader, "capacity_kw", "kW"),
        "access_point": reader.text("access_point"),
        "source_line": reader.text("source_line"),
        "consumption_mode": reader.choice("consumption_mode", CONSUMPTION_MODES),
    }
    voltage: str | None = None
    if reader.present("connection_voltage"):
        voltage = normalized_connection_voltage(reader.raw("connection_voltage"))
        fields["supply_voltage"] = _PV_VOLTAGES[voltage]
    else:
        reader.require("connection_voltage")
        fields["supply_voltage"] = ""
    # A 10 kV connection goes through the owner's step-up transformer; at 220/380 V there is none.
    if voltage == "10kV":
        fields["transformers"] = _transformers(reader)
    else:
        fields["transformers"] = "无升压变压器，逆变器低压直接并网"
    fields["supply_description"] = f"经并网点{fields['access_point']}接入{fields['source_line']}"
    if reader.present("property_boundary"):
        fields["property_boundary"] = reader.text("property_boundary")
    elif voltage == "10kV":
        fields["property_boundary"] = policy.hv_property_boundary
    else:
        fields["property_boundary"] = policy.lv_property_boundary
    return fields


def _supply_mode(reader: _Reader) -> dict[str, str]:
    mode = reader.raw("supply_mode")
    label = reader.choice("supply_mode", SUPPLY_MODES)
    source = reader.text("source_line")
    fields = {"supply_mode": label, "source_line": source}
    if mode == "dual":
        backup = reader.text("backup_source_line")
        fields["backup_source_line"] = backup
        fields["supply_description"] = f"主供电源取自{source}，备用电源取自{backup}"
    else:
        fields["supply_description"] = f"电源取自{source}"
    return fields


def _quantity(reader: _Reader, field: str, unit: str) -> str:
    value = reader.require(field)
    if value is None:
        return ""
    return f"{format_quantity(positive_quantity(value, LABELS[field], field))} {unit}"


def _transformers(reader: _Reader) -> str:
    count_value = reader.require("transformer_count")
    capacity_value = reader.require("transformer_capacity_kva")
    if count_value is None or capacity_value is None:
        return ""
    count = positive_count(count_value, LABELS["transformer_count"], "transformer_count")
    unit_kva = positive_quantity(
        capacity_value, LABELS["transformer_capacity_kva"], "transformer_capacity_kva"
    )
    total = format_quantity(unit_kva * count)
    return f"{count} 台，单台容量 {format_quantity(unit_kva)} kVA，合计 {total} kVA"


def _deposit(reader: _Reader) -> str:
    value = reader.require("deposit_amount")
    if value is None:
        return ""
    amount = optional_non_negative_quantity(value, LABELS["deposit_amount"], "deposit_amount")
    if not amount:
        return "不收取预付电费（保证金）"
    return f"人民币 {amount:,.2f} 元"


def _term(kind: ContractKind, reader: _Reader, policy: PolicySettings) -> str:
    if reader.present("contract_term_years"):
        years = positive_count(
            reader.raw("contract_term_years"), LABELS["contract_term_years"], "contract_term_years"
        )
        return f"{years} 年"
    if kind.key == "residential":
        return policy.residential_contract_term
    years_by_kind = {
        "hv_supply": policy.hv_contract_term_years,
        "lv_supply": policy.lv_contract_term_years,
    }
    return f"{years_by_kind.get(kind.key, policy.pv_contract_term_years)} 年"


def _penalty(policy: PolicySettings, is_resident: bool) -> str:
    def per_mille(rate: float) -> str:
        return f"{format_quantity(rate * 1000)}‰"

    if is_resident:
        return f"逾期未交电费的，每日按欠费金额的 {per_mille(policy.penalty_rate_residential_per_day)} 计付违约金"
    return (
        f"逾期未交电费的，当年欠费部分每日按欠费金额的 {per_mille(policy.penalty_rate_current_year_per_day)}、"
        f"跨年度欠费部分每日按欠费金额的 {per_mille(policy.penalty_rate_cross_year_per_day)} 计付违约金"
    )


def _first_missing_field(labels: list[str]) -> str | None:
    by_label = {label: field for field, label in LABELS.items()}
    return by_label.get(labels[0])
