"""The operator registry, policy settings, application numbering and notifications."""

from __future__ import annotations

import ast
import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from handlers import (
    HandlerContext,
    HandlerError,
    LogNotifier,
    PolicySettings,
    application_number,
    build_registry,
    call_operator,
)
from handlers.notify import NoticeFacts, customer_notice

HANDLERS_DIR = Path(__file__).resolve().parents[2] / "handlers"


class FakeServices:
    """Handler services with a fixed manager roster; documents are kept in memory."""

    def __init__(self, workloads: Mapping[str, int] | None = None) -> None:
        self.workloads = dict(workloads or {"li": 3, "wang": 1})
        self.documents: list[tuple[str, str, str, bytes]] = []
        self.notices: list[tuple[str, str, str]] = []

    def manager_workloads(self) -> Mapping[str, int]:
        return self.workloads

    def save_document(self, kind: str, filename: str, media_type: str, content: bytes) -> str:
        self.documents.append((kind, filename, media_type, content))
        return f"doc-{len(self.documents)}"

    def send_notice(self, event: str, recipient: str, message: str) -> str:
        self.notices.append((event, recipient, message))
        return "queued"


@pytest.fixture
def ctx() -> HandlerContext:
    return HandlerContext(
        application_no="HV20261123000042",
        variant="hv",
        data={"customer_name": "示例钢铁有限公司"},
        settings=PolicySettings(),
        services=FakeServices(),
        now=datetime(2026, 11, 23, 9, 0),
    )


# --- registry ----------------------------------------------------------------------------------


def test_registry_lists_every_operator_with_a_chinese_title() -> None:
    registry = build_registry()
    assert set(registry) == {
        "select_survey_mode",
        "evaluate_supply_plan",
        "assign_customer_manager",
        "classify_lv_application",
        "evaluate_pv_access",
        "generate_contract",
        "record_countersign",
        "decide_countersign",
        "notify",
    }
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in op.title) for op in registry.values())


def test_required_and_optional_params_come_from_the_signature() -> None:
    registry = build_registry()
    assert registry["select_survey_mode"].required == ("capacity_kva",)
    assert registry["assign_customer_manager"].required == ()
    assert registry["assign_customer_manager"].optional == ("preferred_manager",)
    assert registry["notify"].required == ("event", "recipient")
    assert registry["evaluate_supply_plan"].required == (
        "capacity_kva",
        "dual_supply",
        "dedicated_line",
        "annual_consumption_kwh",
        "important_load",
    )


def test_call_operator_runs_the_rule_and_returns_json_ready_data(ctx: HandlerContext) -> None:
    registry = build_registry()
    assert call_operator(registry, "select_survey_mode", ctx, {"capacity_kva": 3001}) == "team"
    result = call_operator(
        registry,
        "evaluate_supply_plan",
        ctx,
        {
            "capacity_kva": 2500,
            "dual_supply": False,
            "dedicated_line": False,
            "annual_consumption_kwh": None,
            "important_load": False,
        },
    )
    assert json.loads(json.dumps(result)) == result
    assert result["joint_review"] is True
    assert call_operator(registry, "assign_customer_manager", ctx, {}) == "wang"


def test_call_operator_rejects_unknown_params(ctx: HandlerContext) -> None:
    with pytest.raises(HandlerError) as caught:
        call_operator(build_registry(), "select_survey_mode", ctx, {"capacity_kva": 1, "kva": 2})
    assert "kva" in caught.value.message
    assert "不接受参数" in caught.value.message


def test_call_operator_rejects_missing_params(ctx: HandlerContext) -> None:
    with pytest.raises(HandlerError) as caught:
        call_operator(build_registry(), "classify_lv_application", ctx, {"customer_type": "residential"})
    assert "capacity_kw" in caught.value.message
    assert "缺少参数" in caught.value.message


def test_call_operator_rejects_unknown_operator(ctx: HandlerContext) -> None:
    with pytest.raises(HandlerError, match="未知的处理规则"):
        call_operator(build_registry(), "approve_everything", ctx, {})


def test_handlers_import_no_web_workflow_or_engine_code() -> None:
    forbidden = {"flask", "SpiffWorkflow", "engine", "webui"}
    for path in HANDLERS_DIR.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                roots = {node.module.split(".")[0]}
            else:
                continue
            assert not roots & forbidden, f"{path.name} imports {roots & forbidden}"


# --- settings ----------------------------------------------------------------------------------


def test_settings_defaults_are_the_domain_figures() -> None:
    settings = PolicySettings()
    assert settings.survey_team_threshold_kva == 3000
    assert settings.joint_review_threshold_kva == 2000
    assert settings.dedicated_line_min_kva == 4000
    assert settings.big_customer_annual_kwh == 5_000_000
    assert settings.three_zero_max_kw == 160
    assert (settings.pv_max_kw_220v, settings.pv_max_kw_380v, settings.pv_max_kw_10kv) == (8, 400, 6000)
    assert settings.supplier_name == "国网示例市供电公司"


def test_from_mapping_applies_overrides_and_keeps_other_defaults() -> None:
    settings = PolicySettings.from_mapping({"survey_team_threshold_kva": 2500, "supplier_name": "国网甲市供电公司"})
    assert settings.survey_team_threshold_kva == 2500
    assert settings.supplier_name == "国网甲市供电公司"
    assert settings.joint_review_threshold_kva == 2000


def test_from_mapping_rejects_unknown_keys() -> None:
    with pytest.raises(HandlerError) as caught:
        PolicySettings.from_mapping({"survey_threshold": 2500})
    assert "survey_threshold" in caught.value.message
    assert caught.value.field == "survey_threshold"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("survey_team_threshold_kva", "3000"),
        ("survey_team_threshold_kva", True),
        ("survey_team_threshold_kva", -1),
        ("pv_access_scheme_days_single", 20.5),
        ("supplier_name", 42),
        ("hv_voltage_bands", [[40000, 35], [8000, 10]]),
    ],
)
def test_from_mapping_rejects_wrong_types(key: str, value: Any) -> None:
    with pytest.raises(HandlerError) as caught:
        PolicySettings.from_mapping({key: value})
    assert key in caught.value.message


# --- numbering ---------------------------------------------------------------------------------


def test_application_number_has_prefix_date_and_six_digit_sequence() -> None:
    assert application_number("hv", date(2026, 11, 23), 42) == "HV20261123000042"
    assert application_number("lv", date(2026, 1, 5), 1) == "LV20260105000001"
    assert application_number("pv", date(2026, 1, 5), 999_999) == "PV20260105999999"


@pytest.mark.parametrize(
    ("variant", "sequence"), [("hv", 0), ("hv", 1_000_000), ("hv", -5), ("hv", True), ("xx", 1), ("HV", 1)]
)
def test_application_number_rejects_bad_variant_or_sequence(variant: str, sequence: int) -> None:
    with pytest.raises(HandlerError):
        application_number(variant, date(2026, 11, 23), sequence)


# --- notifications -----------------------------------------------------------------------------


def test_notify_hands_the_message_to_the_engine_for_the_customers_registered_phone(ctx: HandlerContext) -> None:
    ctx = replace(ctx, data={**ctx.data, "contact_phone": "13912345678"})
    result = call_operator(build_registry(), "notify", ctx, {"event": "power_on", "recipient": "customer"})
    assert result["channel"] == "queued"
    assert "已送电" in result["message"] and "HV20261123000042" in result["message"]
    services = ctx.services
    assert isinstance(services, FakeServices)
    assert services.notices == [("power_on", "13912345678", result["message"])]


def test_the_power_on_message_carries_safety_advice_and_a_number_to_call(ctx: HandlerContext) -> None:
    ctx = replace(ctx, settings=PolicySettings(service_hotline="0512-96598"))
    message = call_operator(build_registry(), "notify", ctx, {"event": "power_on", "recipient": "x"})["message"]
    assert "安全用电提示" in message and "私拉乱接" in message
    assert "0512-96598" in message


def test_an_explicit_recipient_is_kept(ctx: HandlerContext) -> None:
    call_operator(build_registry(), "notify", ctx, {"event": "supply_plan_reply", "recipient": "钱小川"})
    services = ctx.services
    assert isinstance(services, FakeServices)
    assert [(e, r) for e, r, _ in services.notices] == [("supply_plan_reply", "钱小川")]


def test_the_acceptance_notice_lists_what_is_missing_the_firms_and_the_manager() -> None:
    facts = NoticeFacts("示例钢铁有限公司", "HV20261123000042", "95598", "李强", "0512-65001234",
                        received=["营业执照"], missing=["用电地址产权证明", "用电负荷及设备清单"],
                        firms={"设计单位": ["甲设计院", "乙设计院"], "施工单位": ["丙建设"]})
    text = customer_notice("application_accepted", facts)
    assert "已受理" in text and "HV20261123000042" in text
    assert "一次性告知，尚需提交：用电地址产权证明、用电负荷及设备清单" in text and "已收资料：营业执照" in text
    assert "不指定设计、施工和设备供应单位" in text and "设计单位：甲设计院、乙设计院；施工单位：丙建设" in text
    assert "李强（电话 0512-65001234）" in text
    complete = customer_notice("application_accepted", replace(facts, missing=()))
    assert "尚需提交" not in complete and "所需资料已齐全" in complete


def test_notify_rejects_unknown_event(ctx: HandlerContext) -> None:
    with pytest.raises(HandlerError, match="未知的通知事件"):
        call_operator(build_registry(), "notify", ctx, {"event": "party", "recipient": "x"})


def test_the_default_notifier_logs_to_baozhuang_notify(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="baozhuang.notify"):
        assert LogNotifier().send("13912345678", "供电方案已答复") == "log"
    assert any(r.name == "baozhuang.notify" and "供电方案" in r.getMessage() for r in caplog.records)
