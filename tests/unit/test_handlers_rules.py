"""Business rules: survey mode, supply-plan review, manager assignment, LV classification, PV access."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pytest

from handlers import HandlerContext, HandlerError, PolicySettings
from handlers.assignment import assign_customer_manager
from handlers.lv_application import classify_lv_application
from handlers.pv_access import evaluate_pv_access
from handlers.review import evaluate_supply_plan
from handlers.survey import select_survey_mode


class FakeServices:
    """Handler services with a fixed manager roster and an in-memory document store."""

    def __init__(self, workloads: Mapping[str, int] | None = None) -> None:
        self.workloads = dict(workloads or {})
        self.documents: dict[str, tuple[str, str, str, bytes]] = {}

    def manager_workloads(self) -> Mapping[str, int]:
        return self.workloads

    def save_document(self, kind: str, filename: str, media_type: str, content: bytes) -> str:
        document_id = f"doc-{len(self.documents) + 1}"
        self.documents[document_id] = (kind, filename, media_type, content)
        return document_id

    def send_notice(self, event: str, recipient: str, message: str) -> str:
        raise AssertionError("these rules send no notices")


def make_ctx(
    variant: str = "hv",
    settings: PolicySettings | None = None,
    workloads: Mapping[str, int] | None = None,
    data: Mapping[str, Any] | None = None,
) -> HandlerContext:
    return HandlerContext(
        application_no="HV20261123000001",
        variant=variant,
        data=data or {},
        settings=settings or PolicySettings(),
        services=FakeServices(workloads),
        now=datetime(2026, 11, 23, 9, 0),
    )


# --- survey mode -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("capacity", "mode"), [(2999, "solo"), (3000, "solo"), (3001, "team"), (3000.5, "team")]
)
def test_survey_is_solo_up_to_and_including_3000_kva(capacity: float, mode: str) -> None:
    assert select_survey_mode(make_ctx(), capacity) == mode


def test_survey_accepts_decimal_strings_from_forms() -> None:
    assert select_survey_mode(make_ctx(), "3000") == "solo"
    assert select_survey_mode(make_ctx(), " 3001.5 ") == "team"


@pytest.mark.parametrize(
    "bad", [0, -1, -3000.0, None, "abc", "", True, False, math.nan, math.inf, "1e3", "nan", [3000]]
)
def test_survey_rejects_invalid_capacity_naming_the_value(bad: Any) -> None:
    with pytest.raises(HandlerError) as caught:
        select_survey_mode(make_ctx(), bad)
    assert "申请容量" in caught.value.message
    assert repr(bad) in caught.value.message
    assert caught.value.field == "capacity_kva"


def test_configured_survey_threshold_changes_the_mode() -> None:
    settings = PolicySettings.from_mapping({"survey_team_threshold_kva": 2000})
    assert select_survey_mode(make_ctx(settings=settings), 2500) == "team"
    assert select_survey_mode(make_ctx(), 2500) == "solo"


# --- supply plan -------------------------------------------------------------------------------


def plan(capacity: Any, **overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "dual_supply": False,
        "dedicated_line": False,
        "annual_consumption_kwh": None,
        "important_load": False,
    }
    params.update(overrides)
    settings = params.pop("settings", None)
    return evaluate_supply_plan(make_ctx(settings=settings), capacity, **params)


def test_joint_review_starts_at_2000_kva() -> None:
    assert plan(1999)["joint_review"] is False
    assert plan(2000)["joint_review"] is True
    assert any("2000 kVA" in reason and "会审" in reason for reason in plan(2000)["reasons"])


def test_dual_supply_or_dedicated_line_request_forces_joint_review_below_threshold() -> None:
    assert plan(500, dual_supply=True)["joint_review"] is True
    assert plan(500, dedicated_line=True)["joint_review"] is True
    assert "双电源供电，需会审" in plan(500, dual_supply=True)["reasons"]


def test_dedicated_line_is_allowed_only_from_4000_kva() -> None:
    refused = plan(3999, dedicated_line=True)
    granted = plan(4000, dedicated_line=True)
    assert refused["dedicated_line_allowed"] is False
    assert granted["dedicated_line_allowed"] is True
    assert any("不予专线" in reason for reason in refused["reasons"])


def test_big_customer_by_capacity_energy_or_important_load() -> None:
    assert plan(1999)["big_customer"] is False
    assert plan(2000)["big_customer"] is True
    assert plan(100, annual_consumption_kwh=4_999_999)["big_customer"] is False
    assert plan(100, annual_consumption_kwh=5_000_000)["big_customer"] is True
    assert plan(100, annual_consumption_kwh="5000000")["big_customer"] is True
    assert plan(100, important_load=True)["big_customer"] is True


def test_small_plain_application_fires_no_review_rule() -> None:
    result = plan(800)
    assert result["joint_review"] is False
    assert result["big_customer"] is False
    assert result["dedicated_line_allowed"] is False
    assert result["suggested_voltage_kv"] == 10


@pytest.mark.parametrize(
    ("capacity", "voltage"), [(8000, 10), (8001, 35), (40000, 35), (40001, 110), (100001, 220)]
)
def test_suggested_voltage_follows_capacity_bands(capacity: float, voltage: int) -> None:
    assert plan(capacity)["suggested_voltage_kv"] == voltage


def test_configured_bands_change_the_suggested_voltage() -> None:
    settings = PolicySettings.from_mapping({"hv_voltage_bands": [[15000, 10], [50000, 35]]})
    assert plan(12000, settings=settings)["suggested_voltage_kv"] == 10
    assert plan(60000, settings=settings)["suggested_voltage_kv"] == 220


def test_supply_plan_rejects_non_boolean_flags() -> None:
    with pytest.raises(HandlerError) as caught:
        plan(1000, dual_supply="否")
    assert caught.value.field == "dual_supply"
    assert "'否'" in caught.value.message


def test_supply_plan_rejects_negative_energy() -> None:
    with pytest.raises(HandlerError, match="年用电量"):
        plan(1000, annual_consumption_kwh=-1)


# --- customer manager assignment ---------------------------------------------------------------


def test_customer_choice_wins_even_if_busier() -> None:
    ctx = make_ctx(workloads={"wang": 9, "li": 1})
    assert assign_customer_manager(ctx, "wang") == "wang"


def test_least_loaded_manager_is_assigned_when_no_choice() -> None:
    ctx = make_ctx(workloads={"wang": 9, "li": 1, "zhao": 4})
    assert assign_customer_manager(ctx) == "li"
    assert assign_customer_manager(ctx, "") == "li"


def test_tie_goes_to_first_username_alphabetically() -> None:
    ctx = make_ctx(workloads={"zhao": 2, "chen": 2, "wang": 3})
    assert assign_customer_manager(ctx, None) == "chen"


def test_unknown_preferred_manager_is_rejected() -> None:
    with pytest.raises(HandlerError) as caught:
        assign_customer_manager(make_ctx(workloads={"li": 0}), "nobody")
    assert "nobody" in caught.value.message


def test_no_active_manager_is_an_error() -> None:
    with pytest.raises(HandlerError, match="没有在岗的客户经理"):
        assign_customer_manager(make_ctx(workloads={}))


# --- LV classification -------------------------------------------------------------------------


def test_lv_voltage_is_single_phase_below_10_kw() -> None:
    ctx = make_ctx("lv")
    assert classify_lv_application(ctx, "residential", 9.99)["supply_voltage"] == "220V"
    assert classify_lv_application(ctx, "residential", 10)["supply_voltage"] == "380V"


def test_residential_takes_the_simple_path_without_three_zero() -> None:
    result = classify_lv_application(make_ctx("lv"), "residential", 8)
    assert result == {"path": "simple", "supply_voltage": "220V", "three_zero": False}


def test_small_micro_is_three_zero_up_to_160_kw() -> None:
    ctx = make_ctx("lv")
    assert classify_lv_application(ctx, "small_micro", 160) == {
        "path": "simple",
        "supply_voltage": "380V",
        "three_zero": True,
    }
    above = classify_lv_application(ctx, "small_micro", 160.1)
    assert above["path"] == "standard"
    assert above["three_zero"] is False


def test_other_non_residential_takes_the_standard_path() -> None:
    result = classify_lv_application(make_ctx("lv"), "non_residential", 50)
    assert result["path"] == "standard"
    assert result["three_zero"] is False


def test_lv_rejects_unknown_customer_type_and_bad_capacity() -> None:
    with pytest.raises(HandlerError, match="未知的低压客户类型"):
        classify_lv_application(make_ctx("lv"), "factory", 50)
    with pytest.raises(HandlerError, match="申请容量"):
        classify_lv_application(make_ctx("lv"), "residential", 0)


# --- PV access ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("voltage", "at_limit", "over_limit"),
    [("220V", 8, 8.01), ("380V", 400, 400.01), ("10kV", 6000, 6000.1)],
)
def test_pv_capacity_limit_per_connection_voltage(
    voltage: str, at_limit: float, over_limit: float
) -> None:
    ctx = make_ctx("pv")
    assert evaluate_pv_access(ctx, at_limit, voltage, 1)["suggested_voltage"] == voltage
    with pytest.raises(HandlerError) as caught:
        evaluate_pv_access(ctx, over_limit, voltage, 1)
    assert str(over_limit) in caught.value.message
    assert "上限" in caught.value.message


def test_pv_above_6_mw_is_not_distributed_pv() -> None:
    with pytest.raises(HandlerError, match="分布式光伏"):
        evaluate_pv_access(make_ctx("pv"), 7000, "10kV", 1)


def test_pv_opinion_letter_only_at_10_kv_and_scheme_days_by_points() -> None:
    ctx = make_ctx("pv")
    low = evaluate_pv_access(ctx, 5, "380V", 1)
    high = evaluate_pv_access(ctx, 9000, "10kV", 3)
    assert low == {"opinion_letter_required": False, "access_scheme_days": 20, "suggested_voltage": "220V"}
    assert high == {"opinion_letter_required": True, "access_scheme_days": 30, "suggested_voltage": "10kV"}


def test_pv_rejects_unknown_voltage_and_zero_points() -> None:
    with pytest.raises(HandlerError, match="并网电压"):
        evaluate_pv_access(make_ctx("pv"), 5, "35kV", 1)
    with pytest.raises(HandlerError, match="并网点数量"):
        evaluate_pv_access(make_ctx("pv"), 5, "380V", 0)
