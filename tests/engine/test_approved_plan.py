"""The approved plan drives the rules; a customer's refusal sends the case back; 会审 is a countersign; the
forms' business rules refuse what no office could approve — before anything is written."""

from __future__ import annotations

from typing import Any

import pytest

from cli.demo import Scenario, actor_for, do_field_work, drive
from engine import Engine, FormValidationError, StepResult

from tests.conftest import Clock


def run(engine: Engine, scenario: Scenario) -> tuple[StepResult, list[str]]:
    """Drive a scenario to its end; the nodes completed, in order."""
    seen: list[str] = []
    last = None
    for index, last in enumerate(drive(engine, scenario)):
        if index:
            seen.append(scenario.steps[index - 1].node)
    assert last is not None
    return last, seen


def until(engine: Engine, scenario: Scenario, node: str, occurrence: int = 1) -> tuple[StepResult, Any]:
    """Drive a scenario until the n-th time a task of ``node`` waits; that result and task (site work done)."""
    count = 0
    for result in drive(engine, scenario):
        task = next((t for t in result.ready_tasks if t.node_id == node), None)
        if task is not None:
            count += 1
            if count == occurrence:
                do_field_work(engine, task.id, actor_for(engine, task.role, task.assignee))
                return result, task
    raise AssertionError(f"{scenario.name} never reaches {node} #{occurrence}")


def refused(engine: Engine, task: Any, data: dict[str, Any]) -> dict[str, str]:
    """Submit a task expecting a refusal: the field errors; the task still waits and the case is unchanged."""
    before = engine.application(task.app_no)
    with pytest.raises(FormValidationError) as caught:
        engine.complete(task.id, actor_for(engine, task.role, task.assignee), data)
    after = engine.application(task.app_no)
    assert engine.task(task.id).status == "ready"
    assert (after.data, len(after.history), after.documents) == (before.data, len(before.history), before.documents)
    return caught.value.field_errors


# ----------------------------------------------------------------------------- the approved plan decides


def test_a_plan_at_35kv_takes_design_review_and_mid_inspection_though_10kv_was_asked(
        engine: Engine, scenarios: dict[str, Scenario]) -> None:
    scenario = scenarios["hv_plan_35kv"]
    assert scenario.start["voltage_kv"] == 10 and not scenario.start["important_load"]
    result, seen = run(engine, scenario)
    assert result.status == "completed"
    assert "hv_design_review" in seen and "hv_mid_inspection" in seen
    _, plain = run(engine, scenarios["hv_solo"])  # the same application with a 10 kV plan skips them
    assert "hv_design_review" not in plain and "hv_mid_inspection" not in plain


def test_a_dual_supply_plan_the_customer_did_not_ask_for_is_reviewed_jointly_with_dispatch(
        engine: Engine, scenarios: dict[str, Scenario]) -> None:
    scenario = scenarios["hv_plan_dual_unasked"]
    assert scenario.start["dual_supply"] is False and scenario.start["capacity_kva"] < 2000
    result, seen = run(engine, scenario)
    assert {"hv_joint_review", "hv_joint_review_design", "hv_joint_review_dispatch"} <= set(seen)
    assert "hv_plan_approval" not in seen
    data = engine.application(result.app_no).data
    assert data["plan_rules"]["joint_review"] is True and "双电源供电，需会审" in data["plan_rules"]["reasons"]
    assert [v["party"] for v in data["joint_review_outcome"]["votes"]] == ["planning", "design", "dispatch"]


def test_a_load_graded_important_in_the_plan_goes_through_design_review(engine: Engine,
                                                                       scenarios: dict[str, Scenario]) -> None:
    # the customer did not declare an important load; the plan grades it second-class important
    scenario = scenarios["hv_dual_large"]
    assert scenario.start["important_load"] is False
    _, seen = run(engine, scenario)
    assert "hv_design_review" in seen and "hv_mid_inspection" in seen


# ----------------------------------------------------------------------------- 会审 as a countersign


def test_any_party_refusing_sends_the_plan_back_with_its_reasons(engine: Engine,
                                                                  scenarios: dict[str, Scenario]) -> None:
    scenario = scenarios["hv_dispatch_rejects"]
    redraft, _ = until(engine, scenario, "hv_draft_supply_plan", 2)
    outcome = engine.application(redraft.app_no).data["joint_review_outcome"]
    assert outcome["result"] == "reject" and outcome["round"] == 1
    assert outcome["reasons"] == ["调度：备用电源须取自另一座变电站"]
    assert "退回重新拟定方案" in outcome["message"]
    result, seen = run(engine, scenario)
    assert result.status == "completed" and seen.count("hv_draft_supply_plan") == 2
    final = engine.application(result.app_no).data["joint_review_outcome"]
    assert final["result"] == "pass" and final["round"] == 2


@pytest.mark.parametrize("order", [("hv_joint_review", "hv_joint_review_design"),
                                   ("hv_joint_review_design", "hv_joint_review")])
def test_a_fresh_pass_is_not_undone_by_last_rounds_refusal(engine: Engine, scenarios: dict[str, Scenario],
                                                           order: tuple[str, str]) -> None:
    # round 1: planning refuses, design passes; round 2: both pass, in either order. Each parallel branch still
    # carries the other party's decision of round 1: a field per party would let the stale 'reject' win.
    scenario = scenarios["hv_joint_review_sendback"]
    votes = {"hv_joint_review": ("joint_review_result", "joint_review_opinion"),
             "hv_joint_review_design": ("joint_design_result", "joint_design_opinion")}
    result, _ = until(engine, scenario, "hv_joint_review")
    plan = next(s.data for s in scenario.steps if s.node == "hv_draft_supply_plan")
    for round_no, decisions in ((1, {"hv_joint_review": "reject", "hv_joint_review_design": "pass"}),
                                (2, {"hv_joint_review": "pass", "hv_joint_review_design": "pass"})):
        for node in order:
            task = next(t for t in result.ready_tasks if t.node_id == node)
            field, opinion = votes[node]
            result = engine.complete(task.id, actor_for(engine, task.role, task.assignee),
                                     {field: decisions[node], opinion: f"第 {round_no} 轮意见"})
        if round_no == 1:
            (draft,) = result.ready_tasks
            assert draft.node_id == "hv_draft_supply_plan"
            result = engine.complete(draft.id, "manager1", dict(plan))
    assert [t.node_id for t in result.ready_tasks] == ["hv_reply_supply_plan"]
    outcome = engine.application(result.app_no).data["joint_review_outcome"]
    assert (outcome["result"], outcome["round"]) == ("pass", 2)


def test_dispatch_takes_part_only_for_dual_supply(engine: Engine, scenarios: dict[str, Scenario]) -> None:
    single, _ = until(engine, scenarios["hv_team"], "hv_joint_review")
    assert {t.node_id for t in single.ready_tasks} == {"hv_joint_review", "hv_joint_review_design"}
    dual, _ = until(engine, scenarios["hv_joint_review"], "hv_joint_review")
    assert {(t.node_id, t.role) for t in dual.ready_tasks} == {
        ("hv_joint_review", "planning"), ("hv_joint_review_design", "design"), ("hv_joint_review_dispatch", "dispatch")}


# ----------------------------------------------------------------------------- the customer's no


def test_a_customer_refusing_the_plan_sends_it_back_to_be_redrafted(engine: Engine,
                                                                    scenarios: dict[str, Scenario]) -> None:
    scenario = scenarios["hv_plan_refused"]
    _, confirm = until(engine, scenario, "hv_customer_confirm_plan")
    errors = refused(engine, confirm, {"plan_confirmed": False, "plan_confirmed_on": "2025-03-14"})
    assert errors["customer_remarks"] == "客户意见：客户不同意时必须写明理由：流程据此退回重新拟定"
    result, seen = run(engine, scenario)
    assert result.status == "completed"
    assert seen.count("hv_draft_supply_plan") == 2 and seen.count("hv_customer_confirm_plan") == 2
    assert seen.index("hv_customer_confirm_plan") < len(seen) - 1 - seen[::-1].index("hv_draft_supply_plan")


@pytest.mark.parametrize("name,sign,redo", [
    ("hv_contract_refused", "hv_sign_contract", "hv_draft_contract"),
    ("lv_contract_refused", "lv_sign_contract", "lv_revise_contract"),
    ("pv_contracts_refused", "pv_sign_contracts", "pv_revise_contracts"),
])
def test_a_refused_contract_is_revised_regenerated_and_signed_again(engine: Engine, scenarios: dict[str, Scenario],
                                                                    name: str, sign: str, redo: str) -> None:
    result, seen = run(engine, scenarios[name])
    assert result.status == "completed" and seen.count(sign) == 2
    first, second = [i for i, n in enumerate(seen) if n == sign]
    assert redo in seen[first:second]
    app = engine.application(result.app_no)
    contracts = [d for d in app.documents if d.filename.endswith(".html")]
    assert len(contracts) >= 2 and len({d.sha256 for d in contracts}) == len(contracts)  # generated anew


def test_the_revised_lv_contract_carries_the_revised_terms(engine: Engine, scenarios: dict[str, Scenario]) -> None:
    result, _ = run(engine, scenarios["lv_contract_refused"])
    html = [engine.document(d.id)[1].decode("utf-8") for d in engine.application(result.app_no).documents
            if d.filename.endswith(".html")]
    assert "仲裁" in html[0] and "苏州仲裁委员会" in html[0]
    assert "苏州仲裁委员会" not in html[-1] and "人民法院" in html[-1]


def test_an_owner_refusing_the_scheme_sends_it_back(engine: Engine, scenarios: dict[str, Scenario]) -> None:
    result, seen = run(engine, scenarios["pv_scheme_refused"])
    assert result.status == "completed" and seen.count("pv_draft_access_scheme") == 2
    _, confirm = until(engine, scenarios["pv_380v"], "pv_owner_confirm_scheme")
    errors = refused(engine, confirm, {"scheme_confirmed": False, "scheme_confirmed_on": "2025-03-22"})
    assert "必须写明理由" in errors["owner_remarks"]


def test_a_residential_customer_not_signing_is_told_to_withdraw(engine: Engine,
                                                                scenarios: dict[str, Scenario]) -> None:
    _, sign = until(engine, scenarios["lv_residential"], "lv_sign_simple")
    errors = refused(engine, sign, {"signed": False, "signed_on": "2025-03-03"})
    assert "撤销申请" in errors["signed"]


# ----------------------------------------------------------------------------- dispatch agreement


def test_a_dual_supply_large_customer_signs_the_dispatch_agreement_with_dispatch(
        engine: Engine, scenarios: dict[str, Scenario]) -> None:
    _, agreement = until(engine, scenarios["hv_dual_large"], "hv_sign_dispatch_agreement")
    assert agreement.role == "dispatch"
    errors = refused(engine, agreement, {"dispatch_agreement_signed": True, "backfeed_protection_checked": False,
                                         "dispatch_signed_on": "2025-06-11", "dispatch_contact": "张伟"})
    assert "防倒送电" in errors["backfeed_protection_checked"]
    result, seen = run(engine, scenarios["hv_dual_large"])
    assert "hv_sign_dispatch_agreement" in seen
    titles = {d.kind for d in engine.application(result.app_no).documents}
    assert "hv_dispatch" in titles  # the 双电源用户调度协议 generated with the supply contract
    _, small = run(engine, scenarios["hv_joint_review"])  # dual supply, not a large customer: no agreement
    assert "hv_sign_dispatch_agreement" not in small


# ----------------------------------------------------------------------------- what no office approves


def plan_data(scenarios: dict[str, Scenario], **changes: Any) -> dict[str, Any]:
    data = dict(next(s.data for s in scenarios["hv_solo"].steps if s.node == "hv_draft_supply_plan"))
    data.update(changes)
    return data


@pytest.mark.parametrize("changes,field,message", [
    ({"supply_dedicated_line": True}, "supply_dedicated_line", "不低于 4000 kVA"),
    ({"transformer_capacity_kva": 1250, "transformer_count": 2, "metering_method": "high_supply_low_metering"},
     "metering_method", "大客户应采用高供高计"),
    ({"load_grade": "first", "metering_method": "high_supply_low_metering"}, "metering_method", "重要"),
    ({"supply_mode": "dual", "backup_source_line": None}, "backup_source_line", "双电源供电必须填写备用电源线路"),
    ({"supply_mode": "dual", "backup_source_line": "110kV星湖变 10kV星湖线"}, "backup_source_line", "同一线路"),
    ({"transformer_capacity_kva": 5000, "transformer_count": 2, "supply_dedicated_line": True}, "supply_voltage_kv",
     "不低于 35 kV"),
    ({"transformer_capacity_kva": 1_000_000, "transformer_count": 2}, "transformer_capacity_kva", "合理上限"),
])
def test_a_plan_no_office_could_approve_is_refused_at_its_field(engine: Engine, scenarios: dict[str, Scenario],
                                                                changes: dict[str, Any], field: str,
                                                                message: str) -> None:
    _, draft = until(engine, scenarios["hv_solo"], "hv_draft_supply_plan")
    errors = refused(engine, draft, plan_data(scenarios, **changes))
    assert message in errors[field], errors


def test_a_dedicated_line_from_4000_kva_is_granted_and_printed_with_its_take_back(
        engine: Engine, scenarios: dict[str, Scenario]) -> None:
    result, _ = run(engine, scenarios["hv_team"])  # 2 x 2500 kVA, dedicated line
    html = next(engine.document(d.id)[1].decode("utf-8") for d in engine.application(result.app_no).documents
                if d.kind == "hv_supply" and d.filename.endswith(".html"))
    assert "专线供电" in html and "收回作为公用线路" in html


def accept(engine: Engine, process: str, data: dict[str, Any]) -> dict[str, str]:
    """Accept expecting a refusal: its field errors, and no application was created."""
    before = len(engine.applications(limit=1000))
    with pytest.raises(FormValidationError) as caught:
        engine.start(process, data, "frontdesk")
    assert len(engine.applications(limit=1000)) == before
    return caught.value.field_errors


@pytest.mark.parametrize("name,changes,field,message", [
    ("hv_solo", {"capacity_kva": 1_000_000_000}, "capacity_kva", "合理上限"),
    ("hv_solo", {"dedicated_line": True}, "dedicated_line", "4000 kVA"),
    ("hv_solo", {"first_contact_at": "yesterday"}, "first_contact_at", "格式应为日期时间"),
    ("hv_solo", {"first_contact_at": "2026-12-01T09:00:00+08:00"}, "first_contact_at", "不能晚于当前时间"),
    ("hv_solo", {"first_contact_at": "2025-02-30T09:00:00+08:00"}, "first_contact_at", "格式应为日期时间"),
    ("lv_residential", {"capacity_kw": 500}, "capacity_kw", "居民两步办电上限"),
    ("lv_non_residential", {"capacity_kw": 5000}, "capacity_kw", "低压供电上限"),
    ("pv_380v", {"capacity_kw": 800}, "connection_voltage", "380V 单个并网点上限 400 kW"),
    ("pv_10kv", {"capacity_kw": 12000}, "capacity_kw", "不属于分布式光伏"),
])
def test_an_impossible_application_is_refused_at_its_field_and_nothing_is_created(
        engine: Engine, scenarios: dict[str, Scenario], name: str, changes: dict[str, Any], field: str,
        message: str) -> None:
    scenario = scenarios[name]
    errors = accept(engine, scenario.process, {**scenario.start, **changes})
    assert message in errors[field], errors


def test_pv_limits_are_per_connection_point(engine: Engine, scenarios: dict[str, Scenario]) -> None:
    two_points = engine.start("pv", {**scenarios["pv_380v"].start, "capacity_kw": 800, "connection_points": 2},
                              "frontdesk")
    assert two_points.status == "running"  # 400 kW at each of two 380 V points
    three = engine.start("pv", {**scenarios["pv_10kv"].start, "capacity_kw": 12000, "connection_points": 3},
                         "frontdesk")
    assert three.status == "running"
    errors = accept(engine, "pv", {**scenarios["pv_380v"].start, "capacity_kw": 801, "connection_points": 2})
    assert "2 个并网点，每点约 400.5 kW" in errors["connection_voltage"]


@pytest.mark.parametrize("node,changes,field,message", [
    ("hv_reply_supply_plan", {"plan_replied_on": "2025-03-12", "plan_valid_until": "2025-03-01"},
     "plan_valid_until", "应晚于答复日期"),
    ("hv_customer_confirm_plan", {"plan_confirmed_on": "2025-03-01"}, "plan_confirmed_on", "不早于答复日期"),
    ("hv_completion_inspection", {"completion_inspected_on": "2025-05-30"}, "completion_inspected_on",
     "不早于竣工报验时间"),
])
def test_dates_out_of_order_are_refused(engine: Engine, scenarios: dict[str, Scenario], node: str,
                                        changes: dict[str, Any], field: str, message: str) -> None:
    scenario = scenarios["hv_solo"]
    _, task = until(engine, scenario, node)
    data = dict(next(s.data for s in scenario.steps if s.node == node))
    errors = refused(engine, task, {**data, **changes})
    assert message in errors[field], errors


def test_the_lv_contract_takes_the_voltage_of_the_plan_not_of_the_classifier(
        engine: Engine, scenarios: dict[str, Scenario], clock: Clock) -> None:
    scenario = scenarios["lv_non_residential"]
    start = {**scenario.start, "capacity_kw": 8}  # the classifier says single-phase 220 V
    started = engine.start("lv", start, "frontdesk")
    assert engine.application(started.app_no).data["lv_rules"]["supply_voltage"] == "220V"
    result = started
    for step in scenario.steps:
        task = next(t for t in result.ready_tasks if t.node_id == step.node)
        actor = actor_for(engine, task.role, task.assignee)
        do_field_work(engine, task.id, actor)
        data = {**step.data, "load_confirmed": 8} if step.node == "lv_site_survey" else dict(step.data)
        result = engine.complete(task.id, actor, data)  # the plan reply says 380V
    html = next(engine.document(d.id)[1].decode("utf-8") for d in engine.application(result.app_no).documents
                if d.filename.endswith(".html"))
    assert "三相380V" in html and "单相220V" not in html


def test_single_phase_is_refused_for_a_load_it_cannot_carry(engine: Engine, scenarios: dict[str, Scenario]) -> None:
    scenario = scenarios["lv_non_residential"]
    _, reply = until(engine, scenario, "lv_reply_supply_plan")
    data = dict(next(s.data for s in scenario.steps if s.node == "lv_reply_supply_plan"))
    errors = refused(engine, reply, {**data, "supply_voltage": "220V"})
    assert "不能单相 220V 供电" in errors["supply_voltage"]
