"""Contract generation: every kind renders every field to DOCX and HTML, gaps fail loudly, PDF works."""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import docx
import pytest

from handlers import HandlerContext, HandlerError, PolicySettings, render_pdf
from handlers.contracts import generate_contract

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


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


PARTIES = {
    "customer_name": "示例钢铁有限公司",
    "address": "示例市高新区工业大道 88 号",
    "legal_representative": "赵大山",
    "contact_name": "钱小川",
    "contact_phone": "13800000000",
    "metering_method": "高供高计",
    "metering_point": "用户配电室进线柜",
    "maintenance_duty": "双方各自负责产权范围内设施的运行维护",
    "deposit_amount": 50000,
}

HV_DATA = {
    **PARTIES,
    "tariff_class": "large_industry",
    "capacity_kva": 2500,
    "transformer_capacity_kva": 1250,
    "transformer_count": 2,
    "supply_voltage_kv": 10,
    "supply_mode": "dual",
    "source_line": "东郊变 10kV 912 线",
    "backup_source_line": "西郊变 10kV 915 线",
    "property_boundary": "用户站外 912 线 1 号杆",
    "billing_period": "按月抄表、每月结算两次",
    "contract_term_years": 3,
}

LV_DATA = {
    **PARTIES,
    "customer_name": "示例便利店",
    "tariff_class": "general_commercial",
    "capacity_kw": 30,
    "lv_rules": {"path": "simple", "supply_voltage": "380V", "three_zero": True},
    "supply_mode": "single",
    "source_line": "幸福台区 0.4kV 2 号出线",
    "metering_method": "低供低计",
    "metering_point": "表箱内计量表计",
}

RESIDENTIAL_DATA = {
    key: value for key, value in LV_DATA.items() if key != "legal_representative"
} | {
    "customer_name": "张小民",
    "tariff_class": "residential",
    "capacity_kw": 8,
    "lv_rules": {"path": "simple", "supply_voltage": "220V", "three_zero": False},
    "deposit_amount": 0,
}

PV_DATA = {
    **PARTIES,
    "customer_name": "示例新能源科技有限公司",
    "tariff_class": "general_commercial",
    "capacity_kw": 800,
    "connection_voltage": "10kV",
    "access_point": "厂区 10kV 并网柜",
    "source_line": "南郊变 10kV 921 线",
    "consumption_mode": "self_use_surplus",
    "transformer_capacity_kva": 1000,
    "transformer_count": 1,
}

CASES = {
    "hv_supply": ("hv", HV_DATA, "高压供用电合同"),
    "lv_supply": ("lv", LV_DATA, "低压供用电合同"),
    "residential": ("lv", RESIDENTIAL_DATA, "居民供用电协议"),
    "pv_purchase": ("pv", PV_DATA, "购售电合同"),
    "pv_dispatch": ("pv", PV_DATA, "并网调度协议"),
}

# What each kind's rendering must show, on top of the data values themselves.
EXPECTED_TEXT = {
    "hv_supply": ["大工业用电", "2500 kVA", "2 台，单台容量 1250 kVA，合计 2500 kVA", "10 kV", "双电源供电",
                  "3 年", "2‰", "3‰"],
    "lv_supply": ["一般工商业用电", "30 kW", "380 V", "单电源供电", "低压接户线最后支持物", "按月抄表结算", "5 年",
                  "公用配电变压器"],
    "residential": ["居民生活用电", "8 kW", "220 V", "长期", "1‰", "不收取", "低压接户线最后支持物"],
    "pv_purchase": ["自发自用、余电上网", "800 kW", "10 kV", "1 台，单台容量 1000 kVA", "用户站外第一断路器或第一支持物"],
    "pv_dispatch": ["自发自用、余电上网", "800 kW", "10 kV", "服从", "用户站外第一断路器或第一支持物"],
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
    )


def saved(ctx: HandlerContext, document_id: str) -> tuple[str, str, str, bytes]:
    services = ctx.services
    assert isinstance(services, FakeServices)
    return services.documents[document_id]


def docx_text(content: bytes) -> str:
    document = docx.Document(io.BytesIO(content))
    parts = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts)


def data_values(data: Mapping[str, Any]) -> list[str]:
    """The customer-supplied strings that must appear verbatim in the contract."""
    return [value for key, value in data.items() if isinstance(value, str) and key != "tariff_class"
            and key not in {"supply_mode", "consumption_mode", "connection_voltage"}]


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
    for expected in [title, *data_values(data), *EXPECTED_TEXT[kind], *SUPPLIER_TEXT]:
        assert expected in word, f"{expected!r} missing from DOCX"
        assert expected in html, f"{expected!r} missing from HTML"


def test_residential_needs_no_legal_representative_or_transformers() -> None:
    ctx = make_ctx("lv", RESIDENTIAL_DATA)
    html = saved(ctx, generate_contract(ctx, "residential")["documents"]["html"])[3].decode()
    assert "不适用（居民用户）" in html
    assert "户主或委托代理人" in html


def test_missing_fields_are_all_named_by_their_chinese_labels() -> None:
    data = {key: value for key, value in HV_DATA.items() if key not in {"metering_point", "maintenance_duty"}}
    data["contact_phone"] = "   "
    with pytest.raises(HandlerError) as caught:
        generate_contract(make_ctx("hv", data), "hv_supply")
    message = caught.value.message
    assert message.startswith("高压供用电合同缺少字段：")
    for label in ("计量点", "运行维护责任", "联系电话"):
        assert label in message


def test_hv_property_boundary_defaults_by_supply_voltage() -> None:
    base = {key: value for key, value in HV_DATA.items() if key != "property_boundary"}
    low = make_ctx("hv", base)
    high = make_ctx("hv", base | {"supply_voltage_kv": 35, "capacity_kva": 20000})
    low_html = saved(low, generate_contract(low, "hv_supply")["documents"]["html"])[3].decode()
    high_html = saved(high, generate_contract(high, "hv_supply")["documents"]["html"])[3].decode()
    assert "用户站外第一断路器或第一支持物" in low_html
    assert "用户站外第一基电杆" in high_html


def test_dual_supply_without_backup_line_is_missing_a_field() -> None:
    data = {key: value for key, value in HV_DATA.items() if key != "backup_source_line"}
    with pytest.raises(HandlerError, match="备用电源线路"):
        generate_contract(make_ctx("hv", data), "hv_supply")


def test_invalid_tariff_class_is_rejected_with_its_value() -> None:
    with pytest.raises(HandlerError) as caught:
        generate_contract(make_ctx("hv", HV_DATA | {"tariff_class": "steel"}), "hv_supply")
    assert "'steel'" in caught.value.message
    assert caught.value.field == "tariff_class"


def test_configured_policy_text_reaches_the_contract() -> None:
    settings = PolicySettings.from_mapping({"supplier_name": "国网甲市供电公司", "lv_contract_term_years": 2})
    ctx = make_ctx("lv", LV_DATA, settings)
    html = saved(ctx, generate_contract(ctx, "lv_supply")["documents"]["html"])[3].decode()
    assert "国网甲市供电公司" in html
    assert "2 年" in html


def test_unknown_kind_and_wrong_variant_are_rejected() -> None:
    with pytest.raises(HandlerError, match="未知的合同类型"):
        generate_contract(make_ctx("hv", HV_DATA), "lease")
    with pytest.raises(HandlerError, match="不适用"):
        generate_contract(make_ctx("hv", HV_DATA), "residential")


def test_customer_text_is_escaped_in_html() -> None:
    ctx = make_ctx("lv", LV_DATA | {"customer_name": "A<b>&C 商行"})
    html = saved(ctx, generate_contract(ctx, "lv_supply")["documents"]["html"])[3].decode()
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
    ctx = make_ctx("hv", HV_DATA)
    html = saved(ctx, generate_contract(ctx, "hv_supply")["documents"]["html"])[3].decode()
    pdf = render_pdf(html)
    assert pdf.startswith(b"%PDF")
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    text = subprocess.run([pdftotext, "-", "-"], input=pdf, capture_output=True, check=True).stdout
    assert "示例钢铁有限公司" in text.decode("utf-8")


STANDARD_TERM_FIELDS = ("metering_method", "metering_point", "maintenance_duty", "source_line", "supply_mode",
                        "deposit_amount")


def test_contract_signed_at_acceptance_takes_the_standard_lv_terms() -> None:
    settings = PolicySettings.from_mapping({"lv_standard_metering_point": "单元楼道集中表箱"})
    bare = {key: value for key, value in RESIDENTIAL_DATA.items() if key not in STANDARD_TERM_FIELDS}
    ctx = make_ctx("lv", bare, settings)
    html = saved(ctx, generate_contract(ctx, "residential")["documents"]["html"])[3].decode()
    assert "单元楼道集中表箱" in html
    assert settings.lv_standard_metering_method in html and settings.lv_standard_source_line in html


def test_standard_lv_terms_do_not_cover_a_surveyed_non_residential_contract() -> None:
    bare = {key: value for key, value in LV_DATA.items() if key not in STANDARD_TERM_FIELDS}
    bare["lv_rules"] = {"path": "standard", "supply_voltage": "380V", "three_zero": False}
    with pytest.raises(HandlerError) as caught:
        generate_contract(make_ctx("lv", bare), "lv_supply")
    assert "计量点" in caught.value.message
    bare["lv_rules"] = {"path": "simple", "supply_voltage": "380V", "three_zero": True}
    assert generate_contract(make_ctx("lv", bare), "lv_supply")["kind"] == "lv_supply"


def test_pv_contracts_need_no_deposit() -> None:
    data = {key: value for key, value in PV_DATA.items() if key != "deposit_amount"}
    ctx = make_ctx("pv", data)
    html = saved(ctx, generate_contract(ctx, "pv_purchase")["documents"]["html"])[3].decode()
    assert "不收取预付电费" in html
