"""Contract generation: every kind renders every field to DOCX and HTML, gaps fail loudly, PDF works.

The data below is stored data as the forms submit it (codes for enumerated fields); the contexts carry
the Chinese names of those codes read from processes/forms, as the engine hands them to handlers.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import docx
import pytest

from handlers import HandlerContext, HandlerError, PolicySettings, render_pdf
from handlers.contracts import generate_contract
from handlers.labels import enum_labels

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
FORMS = Path(__file__).resolve().parents[2] / "processes" / "forms"


class FakeServices:
    """Keeps saved documents in memory so tests can open them."""

    def __init__(self) -> None:
        self.documents: dict[str, tuple[str, str, str, bytes]] = {}

    def manager_workloads(self) -> Mapping[str, int]:
        return {}

    def save_document(self, kind: str, filename: str, media_type: str, content: bytes) -> str:
        document_id = f"doc-{len(self.documents) + 1}"
        self.documents[document_id] = (kind, filename, media_type, content)
        return document_id

    def send_notice(self, event: str, recipient: str, message: str) -> str:
        raise AssertionError("these rules send no notices")


@cache
def form_labels(variant: str) -> dict[str, dict[str, str]]:
    """The Chinese names of every enumerated value of a variant's forms (what the engine gives handlers)."""
    return enum_labels(json.loads(path.read_text(encoding="utf-8")) for path in sorted(FORMS.glob(f"{variant}_*.json")))


PARTY = {
    "customer_name": "示例钢铁有限公司",
    "customer_type": "enterprise",
    "id_document_type": "business_licence",
    "id_document_no": "91320500MA1TEST01X",
    "address": "示例市高新区工业大道 88 号",
    "customer_address": "示例市高新区管委会大楼 1201 室",
    "industry": "黑色金属冶炼和压延加工业",
    "legal_representative": "赵大山",
    "contact_name": "钱小川",
    "contact_phone": "13800000000",
    "bank_name": "中国银行示例高新支行",
    "bank_account_no": "4567123409876543",
    "tax_no": "91320500MA1TEST01X",
}

HV_DATA = {
    **PARTY,
    "tariff_class": "large_industry",
    "capacity_kva": 2500,
    "dedicated_line": False,
    "plan_rules": {"joint_review": True, "dedicated_line_allowed": False, "big_customer": True},
    # the supply plan
    "supply_voltage_kv": 10,
    "supply_mode": "dual",
    "source_line": "东郊变 10kV 912 线",
    "backup_source_line": "西郊变 10kV 915 线",
    "transformer_capacity_kva": 1250,
    "transformer_count": 2,
    "receiving_point": "用户 10kV 配电室",
    "load_grade": "second",
    "reactive_compensation_kvar": 600,
    "metering_method": "high_supply_high_metering",
    "metering_point": "用户配电室进线柜",
    "ct_ratio": "150/5",
    "pt_ratio": "10000/100",
    "meter_accuracy_class": "0.5S",
    "metering_at_boundary": True,
    "equipment_list": ["10kV 开关柜 8 面"],
    "property_boundary": "用户站外 912 线 1 号杆",
    "maintenance_duty": "双方各自负责产权范围内设施的运行维护",
    # the contract terms
    "billing_period": "installments",
    "deposit_amount": 50000,
    "late_payment_rate_per_day": 2,
    "late_payment_rate_cross_year_per_day": 3,
    "contract_term_years": 3,
    "meter_reading_day": 20,
    "payment_due_days": 10,
    "basic_charge_basis": "capacity",
    "power_purchase_mode": "agency",
    "dispute_resolution": "court",
}

LV_DATA = {  # a 三零 small business: signed at acceptance, on the standard LV terms
    **PARTY,
    "customer_name": "示例便利店",
    "customer_type": "small_micro",
    "tariff_class": "general_commercial",
    "capacity_kw": 30,
    "lv_rules": {"path": "simple", "supply_voltage": "380V", "three_zero": True},
}

LV_SURVEYED = {  # a non-residential customer on the standard chain: the plan reply decides
    **PARTY,
    "customer_name": "示例食品有限公司",
    "customer_type": "non_residential",
    "tariff_class": "general_commercial",
    "capacity_kw": 8,
    "lv_rules": {"path": "standard", "supply_voltage": "220V", "three_zero": False},
    "supply_voltage": "380V",
    "supply_mode": "single",
    "source_line": "幸福台区 0.4kV 2 号出线",
    "metering_method": "direct",
    "metering_point": "表箱内计量表计",
    "property_boundary": "低压接户线最后支持物",
    "maintenance_duty": "双方各自负责产权范围内设施的运行维护",
    "deposit_amount": 0,
}

RESIDENTIAL_DATA = {
    "customer_name": "张小民",
    "customer_type": "residential",
    "id_document_type": "resident_id_card",
    "id_document_no": "320502199001011234",
    "address": "示例市幸福小区 3 幢 501 室",
    "contact_name": "张小民",
    "contact_phone": "13900000000",
    "legal_representative": None,
    "tariff_class": "residential",
    "capacity_kw": 8,
    "lv_rules": {"path": "simple", "supply_voltage": "220V", "three_zero": False},
}

PV_DATA = {
    **PARTY,
    "customer_name": "示例新能源科技有限公司",
    "customer_type": "legal_person",
    "tariff_class": "general_commercial",
    "capacity_kw": 800,
    "connection_voltage": "10kV",
    "consumption_mode": "self_use_surplus",
    "access_point": "厂区 10kV 并网柜",
    "source_line": "南郊变 10kV 921 线",
    "metering_method": "generation_and_bidirectional",
    "metering_point": "并网点及关口计量柜",
    "property_boundary": "并网点",
    "maintenance_duty": "双方各自负责产权范围内设施的运行维护",
    "transformer_capacity_kva": 1000,
    "transformer_count": 1,
    "inverter_count": 8,
    "inverter_capacity_kw": 100,
    "feed_in_price_basis": "coal_benchmark",
    "feed_in_price": 0.391,
    "settlement_bank": "中国工商银行示例南郊支行",
    "settlement_account_name": "示例新能源科技有限公司",
    "settlement_account_no": "1102020709000765432",
}

CASES = {
    "hv_supply": ("hv", HV_DATA, "高压供用电合同"),
    "hv_dispatch": ("hv", HV_DATA, "双电源用户调度协议"),
    "lv_supply": ("lv", LV_DATA, "低压供用电合同"),
    "residential": ("lv", RESIDENTIAL_DATA, "居民供用电协议"),
    "pv_purchase": ("pv", PV_DATA, "分布式光伏发电项目购售电合同"),
    "pv_dispatch": ("pv", PV_DATA, "分布式光伏发电项目并网调度协议"),
}

# What each kind's rendering must show, on top of the data values themselves.
EXPECTED_TEXT = {
    "hv_supply": ["大工业", "二级重要电力用户", "2 台，单台容量 1250 kVA，合计 2500 kVA", "合同容量为 2500 kVA", "10kV",
                  "双电源", "高供高计", "0.5S级", "分次结算", "按变压器容量", "由电网企业代理购电", "3 年", "2‰", "3‰",
                  "营业执照（统一社会信用代码）", "《双电源用户调度协议》"],
    "hv_dispatch": ["2500 kVA", "10kV", "东郊变 10kV 912 线", "西郊变 10kV 915 线", "防倒送电",
                    f"{PolicySettings().dispatch_phone}"],
    "lv_supply": ["一般工商业", "30 kW", "三相380V", "单电源", "低压接户线最后支持物", "5 年", "公用配电变压器",
                  "低供低计"],
    "residential": ["居民生活", "8 kW", "单相220V", "长期", "1‰", "不收取", "低压接户线最后支持物", "居民身份证",
                    "不适用（自然人）"],
    "pv_purchase": ["自发自用、余电上网", "800 kW", "10kV", "1 台，单台容量 1000 kVA", "当地燃煤发电基准价",
                    "0.391 元/千瓦时", "8 台，单台额定功率 100 kW", "发电量计量+关口双向计量"],
    "pv_dispatch": ["自发自用、余电上网", "800 kW", "10kV", "服从", "8 台，单台额定功率 100 kW"],
}

# Data a kind does not print: a dispatch agreement settles no bills and lists no meters; the PV owner is paid
# into the settlement account collected at the acceptance request, not a billing account.
NOT_PRINTED = {
    "hv_dispatch": {"industry", "maintenance_duty", "ct_ratio", "pt_ratio"},
    "pv_purchase": {"industry", "bank_name", "bank_account_no"},
    "pv_dispatch": {"industry", "bank_name", "bank_account_no"},
}

SUPPLIER_TEXT = ["国网示例市供电公司", "示例市示例区人民路 1 号", "李建国", "95598"]


def make_ctx(variant: str, data: Mapping[str, Any], settings: PolicySettings | None = None) -> HandlerContext:
    return HandlerContext(
        application_no=f"{variant.upper()}20261123000042",
        variant=variant,
        data=data,
        settings=settings or PolicySettings(),
        services=FakeServices(),
        now=datetime(2026, 11, 23, 9, 30),
        labels=form_labels(variant),
    )


def saved(ctx: HandlerContext, document_id: str) -> tuple[str, str, str, bytes]:
    services = ctx.services
    assert isinstance(services, FakeServices)
    return services.documents[document_id]


def html_of(ctx: HandlerContext, kind: str) -> str:
    return saved(ctx, generate_contract(ctx, kind)["documents"]["html"])[3].decode("utf-8")


def docx_text(content: bytes) -> str:
    document = docx.Document(io.BytesIO(content))
    parts = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts)


def data_values(kind: str, variant: str, data: Mapping[str, Any]) -> list[str]:
    """The customer-supplied strings (not codes) that must appear verbatim in the contract."""
    codes = form_labels(variant)
    return [value for key, value in data.items()
            if isinstance(value, str) and key not in codes and key not in NOT_PRINTED.get(kind, ())]


@pytest.mark.parametrize("kind", list(CASES))
def test_each_kind_renders_docx_and_html_with_every_field(kind: str) -> None:
    variant, data, title = CASES[kind]
    ctx = make_ctx(variant, data)
    result = generate_contract(ctx, kind)
    assert result["kind"] == kind
    assert result["title"] == title

    docx_kind, docx_name, docx_type, docx_bytes = saved(ctx, result["documents"]["docx"])
    html_kind, html_name, html_type, html_bytes = saved(ctx, result["documents"]["html"])
    assert (docx_kind, docx_type) == (kind, DOCX_TYPE)
    assert (html_kind, html_type) == (kind, "text/html")
    assert docx_name.endswith(".docx") and html_name.endswith(".html")

    word = docx_text(docx_bytes)
    html = html_bytes.decode("utf-8")
    for expected in [title, *data_values(kind, variant, data), *EXPECTED_TEXT[kind], *SUPPLIER_TEXT]:
        assert expected in word, f"{expected!r} missing from DOCX"
        assert expected in html, f"{expected!r} missing from HTML"


def test_a_household_has_no_legal_representative_and_signs_in_person() -> None:
    html = html_of(make_ctx("lv", RESIDENTIAL_DATA), "residential")
    assert "不适用（自然人）" in html
    assert "用电人（签字）" in html and "本人或委托代理人（签字）" in html
    assert "公用配电变压器" in html


def test_missing_fields_are_all_named_by_their_chinese_labels() -> None:
    data = {key: value for key, value in HV_DATA.items() if key not in {"metering_point", "maintenance_duty",
                                                                         "receiving_point"}}
    data["contact_phone"] = "   "
    with pytest.raises(HandlerError) as caught:
        generate_contract(make_ctx("hv", data), "hv_supply")
    message = caught.value.message
    assert message.startswith("高压供用电合同缺少字段：")
    for label in ("计量点", "运行维护责任", "联系电话", "受电点"):
        assert label in message


def test_hv_property_boundary_defaults_by_supply_voltage() -> None:
    base = {key: value for key, value in HV_DATA.items() if key != "property_boundary"}
    low = html_of(make_ctx("hv", base), "hv_supply")
    high = html_of(make_ctx("hv", base | {"supply_voltage_kv": 35, "transformer_capacity_kva": 10000}), "hv_supply")
    assert "用户站外第一断路器或第一支持物" in low
    assert "用户站外第一基电杆" in high


def test_dual_supply_without_backup_line_is_missing_a_field() -> None:
    data = {key: value for key, value in HV_DATA.items() if key != "backup_source_line"}
    with pytest.raises(HandlerError, match="备用电源线路"):
        generate_contract(make_ctx("hv", data), "hv_supply")


def test_a_code_the_forms_do_not_name_is_rejected_with_its_value() -> None:
    with pytest.raises(HandlerError) as caught:
        generate_contract(make_ctx("hv", HV_DATA | {"tariff_class": "steel"}), "hv_supply")
    assert "'steel'" in caught.value.message and "large_industry（大工业）" in caught.value.message
    assert caught.value.field == "tariff_class"


def test_configured_policy_text_reaches_the_contract() -> None:
    settings = PolicySettings.from_mapping({"supplier_name": "国网甲市供电公司", "lv_contract_term_years": 2})
    html = html_of(make_ctx("lv", LV_DATA, settings), "lv_supply")
    assert "国网甲市供电公司" in html
    assert "有效期为 2 年" in html


def test_unknown_kind_and_wrong_variant_are_rejected() -> None:
    with pytest.raises(HandlerError, match="未知的合同类型"):
        generate_contract(make_ctx("hv", HV_DATA), "lease")
    with pytest.raises(HandlerError, match="不适用"):
        generate_contract(make_ctx("hv", HV_DATA), "residential")


def test_customer_text_is_escaped_in_html() -> None:
    html = html_of(make_ctx("lv", LV_DATA | {"customer_name": "A<b>&C 商行"}), "lv_supply")
    assert "A&lt;b&gt;&amp;C 商行" in html
    assert "<b>" not in html


def test_same_input_gives_the_same_bytes() -> None:
    first, second = make_ctx("hv", HV_DATA), make_ctx("hv", HV_DATA)
    a = generate_contract(first, "hv_supply")["documents"]
    b = generate_contract(second, "hv_supply")["documents"]
    assert saved(first, a["docx"])[3] == saved(second, b["docx"])[3]
    assert saved(first, a["html"])[3] == saved(second, b["html"])[3]


def test_docx_core_properties_carry_the_context_time() -> None:
    ctx = make_ctx("hv", HV_DATA)
    content = saved(ctx, generate_contract(ctx, "hv_supply")["documents"]["docx"])[3]
    properties = docx.Document(io.BytesIO(content)).core_properties
    assert properties.created is not None
    assert properties.created.replace(tzinfo=None) == datetime(2026, 11, 23, 9, 30)
    assert properties.title == "高压供用电合同"


def test_render_pdf_produces_a_pdf_with_the_customer_name() -> None:
    pdf = render_pdf(html_of(make_ctx("lv", RESIDENTIAL_DATA), "residential"))
    assert pdf.startswith(b"%PDF")
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        pytest.fail("pdftotext (poppler-utils) is not installed: scripts/setup.sh installs it")
    text = subprocess.run([pdftotext, "-", "-"], input=pdf, capture_output=True, check=True).stdout
    assert "张小民" in text.decode("utf-8")


def test_contract_signed_at_acceptance_takes_the_standard_lv_terms() -> None:
    settings = PolicySettings.from_mapping({"lv_standard_metering_point": "单元楼道集中表箱"})
    html = html_of(make_ctx("lv", RESIDENTIAL_DATA, settings), "residential")
    assert "单元楼道集中表箱" in html
    assert settings.lv_standard_metering_method in html and settings.lv_standard_source_line in html


def test_standard_lv_terms_do_not_cover_a_surveyed_non_residential_contract() -> None:
    bare = {key: value for key, value in LV_SURVEYED.items() if key not in ("metering_point", "maintenance_duty")}
    with pytest.raises(HandlerError) as caught:
        generate_contract(make_ctx("lv", bare), "lv_supply")
    assert "计量点" in caught.value.message and "运行维护责任" in caught.value.message
    bare["lv_rules"] = {"path": "simple", "supply_voltage": "380V", "three_zero": True}
    assert generate_contract(make_ctx("lv", bare), "lv_supply")["kind"] == "lv_supply"
