"""What the contracts state, term by term (issue 16): Chinese names for codes, capacities that add up,
the negotiated late-payment rate within the regulatory cap, the plan's voltage, PV purchase terms,
the dedicated-line take-back, the dual-supply dispatch agreement, metering, tariff and dispute clauses."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from handlers import HandlerError, PolicySettings, render_pdf
from handlers.contracts import build_contract, generate_contract
from handlers.contracts.document import Clause, ContractDocument, Paragraph, SignatureParty, Signatures, Span
from handlers.contracts.html_output import render_html
from handlers.contracts.kinds import CONTRACT_KINDS
from handlers.labels import enum_labels, value_key
from tests.unit.test_handlers_contracts import (
    HV_DATA,
    LV_SURVEYED,
    PV_DATA,
    RESIDENTIAL_DATA,
    html_of,
    make_ctx,
    saved,
)

REPO = Path(__file__).resolve().parents[2]


def text_of(variant: str, data: dict[str, Any], kind: str, settings: PolicySettings | None = None) -> str:
    return "\n".join(build_contract(make_ctx(variant, data, settings), kind).texts())


def clause(text: str, title: str) -> str:
    """The body of the clause with this heading."""
    match = re.search(rf"【{title}】([^\n]*)", text)
    assert match, f"no clause {title}"
    return match.group(1)


# --- one mapping of codes to Chinese names: the forms' -------------------------------------------------------


def test_labels_come_from_enum_and_x_enum_names_of_the_forms() -> None:
    schemas = [
        {"properties": {"mode": {"enum": ["single", "dual"], "x-enumNames": ["单电源", "双电源"]},
                        "kv": {"enum": [10, 35], "x-enumNames": ["10kV", "35kV"]},
                        "docs": {"type": "array", "items": {"enum": ["id"], "x-enumNames": ["身份证"]}},
                        "free": {"type": "string"}}},
        {"properties": {"mode": {"enum": ["single"], "x-enumNames": ["另一个名称"]}}},
    ]
    labels = enum_labels(schemas)
    assert labels == {"mode": {"single": "单电源", "dual": "双电源"}, "kv": {"10": "10kV", "35": "35kV"},
                      "docs": {"id": "身份证"}}
    assert value_key(35) == value_key(35.0) == "35" and value_key(True) == "true"


@pytest.mark.parametrize("period,name", [("monthly", "按月结算"), ("installments", "分次结算")])
def test_codes_print_by_the_names_their_form_gives_them(period: str, name: str) -> None:
    text = text_of("hv", HV_DATA | {"billing_period": period}, "hv_supply")
    assert f"电费结算方式为{name}" in text
    assert period not in text and "high_supply_high_metering" not in text and "高供高计" in text


def test_renaming_a_value_in_the_form_renames_it_in_the_contract() -> None:
    ctx = make_ctx("hv", HV_DATA)
    labels = {field: dict(names) for field, names in ctx.labels.items()}
    labels["metering_method"]["high_supply_high_metering"] = "高压侧计量（高供高计）"
    document = build_contract(type(ctx)(**{**ctx.__dict__, "labels": labels}), "hv_supply")
    assert "用电计量方式为高压侧计量（高供高计）" in "".join(document.texts())


# --- capacities ------------------------------------------------------------------------------------------------


def test_hv_contract_capacity_is_the_transformers_count_times_their_unit_capacity() -> None:
    text = text_of("hv", HV_DATA | {"transformer_count": 2, "transformer_capacity_kva": 2500}, "hv_supply")
    assert "合同容量为 5000 kVA" in text
    assert "2 台，单台容量 2500 kVA，合计 5000 kVA" in text
    assert "合计 10000 kVA" not in text
    form = json.loads((REPO / "processes/forms/hv_draft_supply_plan.json").read_text(encoding="utf-8"))
    assert "单台" in form["properties"]["transformer_capacity_kva"]["title"]  # the form asks what the contract multiplies


# --- the late-payment penalty ----------------------------------------------------------------------------------


def test_the_negotiated_late_payment_rates_are_printed() -> None:
    text = text_of("hv", HV_DATA | {"late_payment_rate_per_day": 1.2, "late_payment_rate_cross_year_per_day": 2.5},
                   "hv_supply")
    penalty = clause(text, "电费违约金")
    assert "当年欠费部分，每日按欠费总额的 1.2‰" in penalty and "跨年度欠费部分，每日按欠费总额的 2.5‰" in penalty


@pytest.mark.parametrize("field,rate,cap", [("late_payment_rate_per_day", 2.5, "2‰"),
                                            ("late_payment_rate_cross_year_per_day", 3.5, "3‰")])
def test_a_rate_above_the_regulatory_cap_is_refused(field: str, rate: float, cap: str) -> None:
    with pytest.raises(HandlerError) as caught:
        generate_contract(make_ctx("hv", HV_DATA | {field: rate}), "hv_supply")
    assert caught.value.field == field and f"上限 {cap}" in caught.value.message


def test_the_cap_is_a_policy_setting_and_the_form_allows_no_more() -> None:
    lower = PolicySettings.from_mapping({"penalty_rate_current_year_per_day": 0.0015})
    with pytest.raises(HandlerError, match="上限 1.5‰"):
        generate_contract(make_ctx("hv", HV_DATA | {"late_payment_rate_per_day": 2}, lower), "hv_supply")
    form = json.loads((REPO / "processes/forms/hv_draft_contract.json").read_text(encoding="utf-8"))
    policy = PolicySettings()
    assert form["properties"]["late_payment_rate_per_day"]["maximum"] / 1000 == policy.penalty_rate_current_year_per_day
    assert (form["properties"]["late_payment_rate_cross_year_per_day"]["maximum"] / 1000
            == policy.penalty_rate_cross_year_per_day)


def test_standard_contracts_print_the_regulatory_rates() -> None:
    assert "每日按欠费总额的 1‰" in clause(text_of("lv", RESIDENTIAL_DATA, "residential"), "电费违约金")
    lv = clause(text_of("lv", LV_SURVEYED, "lv_supply"), "电费违约金")
    assert "2‰" in lv and "3‰" in lv


# --- the approved plan decides ---------------------------------------------------------------------------------


def test_lv_voltage_is_the_plan_replys_not_the_classifiers() -> None:
    text = text_of("lv", LV_SURVEYED, "lv_supply")  # 8 kW: the classifier said 220 V, the plan says 380 V
    assert "以 三相380V 电压" in text and "220V" not in text
    assert "标称电压的 ±7%" in text  # and the three-phase deviation standard, not the single-phase one


# --- distributed PV --------------------------------------------------------------------------------------------


NATURAL_PERSON_PV = PV_DATA | {
    "customer_name": "李秀英", "customer_type": "natural_person", "id_document_type": "resident_id_card",
    "id_document_no": "320584197603031234", "legal_representative": None, "tax_no": None,
    "tariff_class": "general_commercial", "consumption_mode": "full_grid", "connection_voltage": "220V",
    "capacity_kw": 8, "inverter_count": 1, "inverter_capacity_kw": 8, "settlement_account_name": "李秀英",
}


def test_a_natural_person_with_a_non_residential_tariff_gets_both_pv_contracts() -> None:
    for kind in ("pv_purchase", "pv_dispatch"):
        text = text_of("pv", NATURAL_PERSON_PV, kind)
        assert "法定代表人（负责人）\n李建国\n不适用（自然人）" in text  # no legal representative asked for
        assert f"{CONTRACT_KINDS[kind].customer_role}（签字）" in text and "姓名：李秀英" in text
    assert "执行一般工商业用电电价" in clause(text_of("pv", NATURAL_PERSON_PV, "pv_purchase"), "消纳方式")


def test_pv_purchase_pays_the_owner_at_the_price_basis_and_charges_no_consumer_penalty() -> None:
    text = text_of("pv", PV_DATA, "pv_purchase")
    payment = clause(text, "支付")
    assert f"{PolicySettings().pv_payment_due_days} 日内" in payment
    for value in (PV_DATA["settlement_bank"], PV_DATA["settlement_account_name"], PV_DATA["settlement_account_no"]):
        assert value in payment
    assert "当地燃煤发电基准价" in clause(text, "上网电价") and "0.391 元/千瓦时" in clause(text, "上网电价")
    assert "余电上网电量" in clause(text, "购电义务")
    assert "电费违约金" not in text and "逾期交纳电费" not in text
    assert "逾期付款利息" in clause(text, "购电人的责任")
    full_grid = text_of("pv", PV_DATA | {"consumption_mode": "full_grid"}, "pv_purchase")
    assert "全部上网电量" in clause(full_grid, "购电义务")
    market = text_of("pv", PV_DATA | {"feed_in_price_basis": "market", "feed_in_price": None}, "pv_purchase")
    assert "参与电力市场交易形成的价格" in clause(market, "上网电价") and "元/千瓦时" not in clause(market, "上网电价")


def test_the_dispatch_agreement_states_dispatch_equipment_safety_communication_and_outages() -> None:
    high = text_of("pv", PV_DATA, "pv_dispatch")
    low = text_of("pv", NATURAL_PERSON_PV, "pv_dispatch")
    assert "调度管辖" in clause(high, "调度管辖") and "配电网调度管理" in clause(low, "调度管辖")
    assert "8 台，单台额定功率 100 kW" in clause(high, "设备参数")
    assert "防孤岛" in clause(high, "保护配置") and "通信通道" in clause(high, "通信与信息")
    assert "用电信息采集系统" in clause(low, "通信与信息")
    assert f"提前 {PolicySettings().planned_outage_notice_days} 日" in clause(high, "检修与停电")


# --- HV supply ----------------------------------------------------------------------------------------------------


def dedicated(**changes: Any) -> dict[str, Any]:
    return HV_DATA | {"dedicated_line": True, "supply_dedicated_line": True, "transformer_capacity_kva": 2500,
                      "plan_rules": {**HV_DATA["plan_rules"], "dedicated_line_allowed": True}} | changes


def test_a_dedicated_line_is_taken_back_if_its_load_is_not_reached_in_time() -> None:
    policy = PolicySettings()
    text = text_of("hv", dedicated(), "hv_supply")
    take_back = clause(text, "专线供电")
    assert f"{policy.dedicated_line_takeback_years} 年内" in take_back
    assert f"{policy.dedicated_line_min_kva:.0f} kVA 及以上" in take_back and "收回作为公用线路" in take_back
    longer = text_of("hv", dedicated(), "hv_supply", PolicySettings.from_mapping({"dedicated_line_takeback_years": 3}))
    assert "3 年内" in clause(longer, "专线供电")


def test_the_approved_plan_not_the_request_decides_the_dedicated_line_clause() -> None:
    # asked for at acceptance, not granted by the plan: no dedicated-line clause
    assert "【专线供电】" not in text_of("hv", dedicated(supply_dedicated_line=False), "hv_supply")
    # granted by the plan although the acceptance did not ask: the clause is there
    assert "【专线供电】" in text_of("hv", dedicated(dedicated_line=False), "hv_supply")


def test_a_dual_supply_large_customer_also_gets_a_dispatch_agreement() -> None:
    ctx = make_ctx("hv", HV_DATA)
    result = generate_contract(ctx, "hv_supply")
    [companion] = result["companion_contracts"]
    assert (companion["kind"], companion["title"]) == ("hv_dispatch", CONTRACT_KINDS["hv_dispatch"].title)
    assert saved(ctx, companion["documents"]["docx"])[0] == "hv_dispatch"
    dispatch = saved(ctx, companion["documents"]["html"])[3].decode()
    assert "防倒送电" in dispatch and "HV20261123000042-GY" in dispatch  # it names the supply contract
    assert "《双电源用户调度协议》" in saved(ctx, result["documents"]["html"])[3].decode()
    not_large = HV_DATA | {"plan_rules": {**HV_DATA["plan_rules"], "big_customer": False}}
    single = HV_DATA | {"supply_mode": "single", "backup_source_line": None}
    for data in (not_large, single):
        assert "companion_contracts" not in generate_contract(make_ctx("hv", data), "hv_supply")


def test_metering_states_ratios_losses_and_the_mixed_tariff_share() -> None:
    text = text_of("hv", HV_DATA, "hv_supply")
    assert "电流互感器变比 150/5" in clause(text, "计量方式") and "电压互感器变比 10000/100" in clause(text, "计量方式")
    assert "【损耗承担】" not in text  # metered at the boundary, on the HV side
    low_side = text_of("hv", HV_DATA | {"metering_method": "high_supply_low_metering", "pt_ratio": None},
                       "hv_supply")
    assert "变损" in clause(low_side, "损耗承担") and "电压互感器" not in clause(low_side, "计量方式")
    off_boundary = text_of("hv", HV_DATA | {"metering_at_boundary": False}, "hv_supply")
    assert "线路损耗" in clause(off_boundary, "损耗承担") and "变损" not in clause(off_boundary, "损耗承担")
    mixed = text_of("hv", HV_DATA | {"secondary_tariff_class": "general_commercial",
                                     "secondary_share_method": "fixed_ratio", "secondary_share_value": 5}, "hv_supply")
    assert "一般工商业用电采用定比方式，按总用电量的 5%核定" in clause(mixed, "定比定量")
    assert "七日" not in clause(text, "计量异议") and f"{PolicySettings().meter_test_days} 日内校验" in text


def test_high_side_metering_needs_a_voltage_transformer_ratio() -> None:
    with pytest.raises(HandlerError, match="电压互感器变比"):
        generate_contract(make_ctx("hv", HV_DATA | {"pt_ratio": None}), "hv_supply")


@pytest.mark.parametrize("variant,data,kind,standard", [
    ("hv", HV_DATA, "hv_supply", "0.90"),
    ("hv", HV_DATA | {"tariff_class": "general_commercial", "power_purchase_mode": "market"}, "hv_supply", "0.85"),
    ("lv", LV_SURVEYED | {"tariff_class": "agriculture", "capacity_kw": 150}, "lv_supply", "0.80"),
    ("lv", LV_SURVEYED, "lv_supply", None),
])
def test_power_factor_standard_by_customer_and_capacity(variant: str, data: dict[str, Any], kind: str,
                                                         standard: str | None) -> None:
    tariff = clause(text_of(variant, data, kind), "电价")
    if standard is None:
        assert "不执行功率因数调整电费" in tariff
    else:
        assert f"功率因数考核标准为 {standard}" in tariff and "《功率因数调整电费办法》" in tariff


def test_tariff_clause_two_part_time_of_use_and_market_purchase() -> None:
    tariff = clause(text_of("hv", HV_DATA | {"basic_charge_basis": "demand", "contracted_demand_kw": 1800,
                                             "power_purchase_mode": "market"}, "hv_supply"), "电价")
    assert "两部制电价：基本电费按合同最大需量计收，合同最大需量 1800 kW" in tariff
    assert "峰谷分时电价" in tariff and "发改价格〔2021〕1439号" in tariff
    assert "购电方式为：直接参与电力市场交易" in tariff and "代理购电价格" not in tariff
    residential = clause(text_of("lv", RESIDENTIAL_DATA, "residential"), "电价")
    assert "居民阶梯电价" in residential and "1439号" not in residential and "两部制" not in residential
    with pytest.raises(HandlerError, match="基本电费计收方式"):
        generate_contract(make_ctx("hv", {k: v for k, v in HV_DATA.items() if k != "basic_charge_basis"}), "hv_supply")


@pytest.mark.parametrize("voltage_kv,deviation", [(35, "正、负偏差绝对值之和不超过标称电压的 10%"),
                                                  (10, "标称电压的 ±7%")])
def test_supply_quality_follows_the_voltage(voltage_kv: int, deviation: str) -> None:
    quality = clause(text_of("hv", HV_DATA | {"supply_voltage_kv": voltage_kv}, "hv_supply"), "供电质量")
    assert deviation in quality and "±0.2 Hz" in quality
    assert "+7%、−10%" in clause(text_of("lv", RESIDENTIAL_DATA, "residential"), "供电质量")


def test_notice_periods_are_policy_settings() -> None:
    policy = PolicySettings.from_mapping({"planned_outage_notice_days": 5, "orderly_curtailment_notice_hours": 48})
    text = text_of("hv", HV_DATA, "hv_supply", policy)
    assert "应提前 5 日通知" in clause(text, "停电通知") and "提前 48 小时" in clause(text, "有序用电")


# --- parties, disputes, the notice ---------------------------------------------------------------------------------


def test_an_authorised_agent_is_named_with_the_power_of_attorney() -> None:
    text = text_of("hv", HV_DATA | {"agent_name": "孙代理", "agent_id_no": "320502198001011234"}, "hv_supply")
    assert "孙代理（身份证件号码：320502198001011234），持示例钢铁有限公司出具的授权委托书" in text
    assert re.search(r"委托代理人\n[^\n]+\n无\n", text_of("hv", HV_DATA, "hv_supply"))


def test_dispute_resolution_is_the_chosen_one_or_left_to_choose_at_signing() -> None:
    court = clause(text_of("hv", HV_DATA, "hv_supply"), "争议解决")
    assert "向人民法院提起诉讼" in court and f"{HV_DATA['address']}所在地有管辖权的人民法院管辖" in court
    arbitration = clause(text_of("hv", HV_DATA | {"dispute_resolution": "arbitration",
                                                  "arbitration_commission": "示例仲裁委员会"}, "hv_supply"), "争议解决")
    assert "由示例仲裁委员会按照" in arbitration and "人民法院" not in arbitration
    open_choice = clause(text_of("lv", RESIDENTIAL_DATA, "residential"), "争议解决")
    assert "第____种方式" in open_choice and "仲裁委员会仲裁" in open_choice and "人民法院提起诉讼" in open_choice
    with pytest.raises(HandlerError, match="仲裁委员会"):
        generate_contract(make_ctx("hv", HV_DATA | {"dispute_resolution": "arbitration"}), "hv_supply")


def test_clauses_limiting_the_customers_rights_are_emphasised_under_the_article_496_notice() -> None:
    document = build_contract(make_ctx("hv", HV_DATA), "hv_supply")
    emphasised = {block.title for block in document.blocks if isinstance(block, Clause)
                  and any(span.bold for span in block.spans)}
    assert {"停电通知", "有序用电", "电费违约金", "窃电", "供电人的责任", "解除"} <= emphasised
    assert "【用电地址】" in "\n".join(document.texts()) and "用电地址" not in emphasised
    assert "《中华人民共和国民法典》第四百九十六条" in "\n".join(document.texts())


def test_the_wording_lives_in_the_templates_not_in_python() -> None:
    package = REPO / "handlers" / "contracts"
    python = "\n".join(path.read_text(encoding="utf-8") for path in package.glob("*.py"))
    templates = "\n".join(path.read_text(encoding="utf-8") for path in (package / "templates").glob("*.xml.j2"))
    for wording in ("第四百九十六条", "电费违约金", "防倒送电", "收回作为公用线路", "代理购电", "违约使用电费"):
        assert wording in templates and wording not in python
    for kind in CONTRACT_KINDS.values():
        assert (package / "templates" / kind.template).is_file()


def test_html_names_the_contract_number_in_every_page_footer() -> None:
    html = html_of(make_ctx("lv", RESIDENTIAL_DATA), "residential")
    assert "@bottom-center" in html and "counter(page)" in html and "counter(pages)" in html
    assert "LV20261123000042-JM" in html.split("@bottom-center")[-1]
    assert 'class="signatures"' in html and "break-inside: avoid" in html


def test_a_signature_block_is_never_split_across_pages() -> None:
    """Twenty signature blocks after growing runs of filler land at every height of a page; none may split."""
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        pytest.fail("pdftotext (poppler-utils) is not installed: scripts/setup.sh installs it")
    blocks: list[Any] = []
    for n in range(1, 21):
        blocks += [Paragraph((Span(f"填充第 {n} 组的一行文字。"),))] * n
        parties = tuple(SignatureParty(f"甲{n}方（盖章）" if side else f"乙{n}方（盖章）",
                                       (f"名称：{side}{n}", "法定代表人或委托代理人（签字）：", "________",
                                        f"签订日期{n}：______年____月____日")) for side in (0, 1))
        blocks.append(Signatures((Paragraph((Span(f"（以下无正文{n}）"),)),), parties))
    pdf = render_pdf(render_html(ContractDocument("分页测试", "T-1", tuple(blocks))))
    text = subprocess.run([pdftotext, "-layout", "-", "-"], input=pdf, capture_output=True, check=True).stdout
    pages = text.decode("utf-8").split("\f")
    assert len(pages) > 5
    for n in range(1, 21):
        holding = [i for i, page in enumerate(pages) if f"无正文{n}）" in page or f"签订日期{n}：" in page
                   or f"甲{n}方" in page or f"乙{n}方" in page]
        assert len(set(holding)) == 1, (n, holding)
