"""Deterministic replay: every path re-executes to the recorded result; tampering and rule changes show."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import handlers
from engine import Engine
from cli.demo import actor_for, do_field_work, drive, load_scenarios
from engine.store.models import Application, AuditEvent, WorkflowTaskRow
from handlers.errors import HandlerError

from tests.conftest import PROCESSES, Clock, make_engine
from tests.databases import database_url

SCENARIOS = load_scenarios(PROCESSES / "paths.json")
BY_NAME = {s.name: s for s in SCENARIOS}


def finished(engine: Engine, name: str, steps: int | None = None) -> str:
    last = None
    for last in drive(engine, BY_NAME[name], steps):
        pass
    assert last is not None
    return last.app_no


@pytest.mark.parametrize("mode", ["recorded", "rerun"])
def test_every_path_replays_to_what_was_recorded(engine: Engine, mode: str) -> None:
    for scenario in SCENARIOS:
        app_no = finished(engine, scenario.name)
        report = engine.replay(app_no, mode, by="auditor")
        assert report.verified, (scenario.name, report.message)
        assert len(report.steps) == len(scenario.steps) + 1
        assert all(step.matches for step in report.steps)


def test_steps_show_the_application_as_it_stood(engine: Engine) -> None:
    app_no = finished(engine, "hv_design_review_sendback")
    report = engine.replay(app_no, by="auditor")
    sizes = [len(step.completed) for step in report.steps]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    first, last = report.steps[0], report.steps[-1]
    assert first.kind == "application.started" and first.active == ("hv_site_survey_solo",)
    assert last.active == () and "hv_follow_up" in last.completed
    review = [s for s in report.steps if s.node_id == "hv_design_review"]
    assert [s.data["design_review_result"] for s in review] == ["fail", "pass"]
    trace = engine.application_trace(app_no)
    assert set(last.completed) == set(trace.completed) and set(last.flows) == set(trace.flows)


def test_a_running_application_replays_up_to_where_it_waits(engine: Engine) -> None:
    app_no = finished(engine, "pv_10kv", 5)
    report = engine.replay(app_no, by="auditor")
    assert report.verified and len(report.steps) == 6
    assert report.steps[-1].active == tuple(t.node_id for t in engine.application(app_no).open_tasks)


def test_an_altered_stored_state_is_caught(engine: Engine) -> None:
    app_no = finished(engine, "lv_non_residential")
    with engine.store.transaction() as s:
        app_id = s.scalar(select(Application.id).where(Application.app_no == app_no))
        row = s.scalars(select(WorkflowTaskRow).where(WorkflowTaskRow.application_id == app_id)
                        .where(WorkflowTaskRow.payload.contains('"capacity_kw"'))).first()
        assert row is not None
        row.payload = row.payload.replace('"capacity_kw":', '"capacity_kw_x":', 1)
    engine.forget_cached_workflows()
    report = engine.replay(app_no, by="auditor")
    assert not report.verified and "存储的流程状态与重放结果不一致" in report.message


def test_an_altered_recorded_input_diverges_at_that_step(engine: Engine) -> None:
    app_no = finished(engine, "hv_design_review_sendback")
    with engine.store.transaction() as s:
        app_id = s.scalar(select(Application.id).where(Application.app_no == app_no))
        event = s.scalars(select(AuditEvent).where(AuditEvent.application_id == app_id,
                                                   AuditEvent.node_id == "hv_design_review",
                                                   AuditEvent.kind == "task.completed").order_by(AuditEvent.seq)).first()
        assert event is not None
        payload = json.loads(event.payload)
        payload["data"]["design_review_result"] = "pass"  # pretend the first review had passed
        event.payload = json.dumps(payload, ensure_ascii=False)
        seq = event.seq
    report = engine.replay(app_no, by="auditor")
    assert not report.verified
    bad = report.first_divergence
    assert bad is not None and bad.event_seq == seq and bad.node_id == "hv_design_review"
    assert not engine.verify_audit(app_no).intact  # and the chain says so too


def test_rerun_shows_what_todays_rules_would_decide_differently(tmp_path: Path, clock: Clock) -> None:
    old_rules = make_engine(tmp_path / "a", clock)
    app_no = finished(old_rules, "hv_solo")  # 800 kVA: a solo survey under the 3000 kVA rule
    database = old_rules.config.database_url
    old_rules.dispose()
    new_rules = Engine({"database_url": database, "documents_dir": tmp_path / "a" / "documents",
                        "policy": {"survey_team_threshold_kva": 500}}, clock=clock)
    assert new_rules.replay(app_no, "recorded", by="auditor").verified  # the record itself is intact
    report = new_rules.replay(app_no, "rerun", by="auditor")
    assert not report.verified
    first = report.first_divergence
    assert first is not None and first.kind == "application.started"
    assert "select_survey_mode" in (first.difference or "") and '"team"' in (first.difference or "")


def test_a_handler_failure_and_its_retry_replay(tmp_path: Path, clock: Clock) -> None:
    calls: list[int] = []
    registry = dict(handlers.build_registry())
    real = registry["select_survey_mode"]

    def flaky(ctx: Any, capacity_kva: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise HandlerError("勘查排程系统暂不可用")
        return real.func(ctx, capacity_kva)

    registry["select_survey_mode"] = handlers.Operator("select_survey_mode", flaky, real.required, real.optional,
                                                       real.title)
    engine = Engine({"database_url": database_url(tmp_path, "r.db"), "documents_dir": tmp_path / "d"},
                    clock=clock, registry=registry)
    engine.init_schema()
    engine.deploy_shipped()
    from cli.demo import create_demo_users

    create_demo_users(engine)
    result = engine.start("hv", BY_NAME["hv_solo"].start, "frontdesk")
    assert result.status == "error"
    result = engine.retry(result.app_no, "marketing")
    task = result.ready_tasks[0]
    do_field_work(engine, task.id, actor_for(engine, task.role, task.assignee))
    engine.complete(task.id, actor_for(engine, task.role, task.assignee), BY_NAME["hv_solo"].steps[0].data)
    report = engine.replay(result.app_no, by="auditor")
    assert report.verified, report.message
    assert [s.kind for s in report.steps][:2] == ["application.started", "application.retried"]
