"""The migration pages as an analyst uses them, and what the manager and the auditor see afterwards."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from engine import Engine
from cli.demo import drive, load_scenarios
from tests.conftest import PROCESSES, Staff

REFORM = (Path(__file__).resolve().parents[1] / "engine" / "fixtures" / "hv_reform.bpmn").read_bytes()
SCENARIOS = {s.name: s for s in load_scenarios(PROCESSES / "paths.json")}


def stop_after(engine: Engine, name: str, steps: int) -> str:
    last = None
    for last in drive(engine, SCENARIOS[name], steps):
        pass
    assert last is not None
    return last.app_no


def run_lines(response: object) -> list[dict[str, object]]:
    return [json.loads(line) for line in response.get_data(as_text=True).splitlines() if line.strip()]  # type: ignore[attr-defined]


def test_the_analyst_ticks_which_applications_move_and_the_others_stay(
        staff: Callable[[str], Staff], engine: Engine) -> None:
    first = stop_after(engine, "hv_solo", 1)
    second = stop_after(engine, "hv_solo", 5)  # past the gateway v2 removes
    engine.deploy(REFORM, "hv.bpmn", "analyst")
    analyst = staff("analyst")
    page = analyst.post("/modeller/hv/migrate/plan", {"to": "2", "status": "running", "app_nos": ""})
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    for app_no in (first, second):
        assert f'name="chosen" value="{app_no}"' in text
    assert "不涉及办理工作" in text and "可迁移 2 件" in text
    assert "hv_" not in text.split("迁移方案（试算）")[1].replace("/applications/", "")  # names, never node ids

    run = analyst.post("/modeller/hv/migrate/run", {"to": "2", "choosing": "1", "chosen": [second]})
    result = run_lines(run)[-1]["result"]
    assert result == {"migrated": [second], "skipped": []}
    assert engine.application(second).version == 2 and engine.application(first).version == 1
    nothing = analyst.post("/modeller/hv/migrate/run", {"to": "2", "choosing": "1"})
    assert nothing.status_code == 400 and "请至少勾选一件" in nothing.get_data(as_text=True)


def test_a_mapping_that_does_not_fit_is_refused_next_to_the_mapping(
        staff: Callable[[str], Staff], engine: Engine) -> None:
    stop_after(engine, "hv_design_review_sendback", 6)  # waiting at 设计文件审查, which v2 removes
    engine.deploy(REFORM, "hv.bpmn", "analyst")
    analyst = staff("analyst")
    page = analyst.get("/modeller/hv/migrate?to=2").get_data(as_text=True)
    assert 'name="map__hv_design_review"' in page and "设计文件审查" in page
    refused = analyst.post("/modeller/hv/migrate/plan", {"to": "2", "status": "running",
                                                         "map__hv_design_review": "hv_archive"})
    text = refused.get_data(as_text=True)
    assert refused.status_code == 400 and 'id="mapping-problem"' in text and "由不同角色办理" in text
    assert '<option value="hv_archive" selected>' in text  # the choice is kept


def test_after_migrating_the_page_shows_the_data_and_the_replay_draws_each_step_on_its_version(
        staff: Callable[[str], Staff], engine: Engine) -> None:
    app_no = stop_after(engine, "hv_design_review_sendback", 12)  # past both reviews, waiting at 竣工检验
    engine.deploy(REFORM, "hv.bpmn", "analyst")
    assert engine.migrate(engine.migration_plan("hv", 2, by="analyst"), "analyst").migrated == (app_no,)
    engine.forget_cached_workflows()

    manager = staff("marketing")
    shown = manager.get(f"/applications/{app_no}").get_data(as_text=True)
    assert "暂无资料" not in shown and engine.application(app_no).data["customer_name"] in shown

    auditor = staff("auditor")
    report = auditor.get(f"/audit/{app_no}/replay.json").get_json()
    assert report["verified"], report["message"]
    versions = [s["version"] for s in report["steps"]]
    migrated = next(i for i, s in enumerate(report["steps"]) if s["kind"] == "application.migrated")
    assert set(versions[:migrated]) == {1} and set(versions[migrated:]) == {2}
    assert set(report["xmls"]) == {"1", "2"} and "hv_mid_inspection" in report["xmls"]["1"]
    assert "hv_mid_inspection" not in report["xmls"]["2"]
    step = report["steps"][migrated]
    assert step["removed"] == [] and step["changed"] == 0 and step["kind_label"] == "迁移"
