"""The heatmap on the diagram, the conformance report and the run over every hash chain, as their users see them."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from lxml import etree
from sqlalchemy import update

from engine import Engine, tables
from cli.demo import Scenario
from tests.conftest import Clock, Staff
from tests.web.test_supervision import run

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"


@pytest.fixture
def worked(engine: Engine, clock: Clock, scenarios: dict[str, Scenario]) -> list[str]:
    apps = [run(engine, clock, scenarios["hv_solo"]), run(engine, clock, scenarios["hv_team"]),
            run(engine, clock, scenarios["lv_residential"], lag=timedelta(days=3))]
    clock.advance(days=1)
    return apps


def test_supervisors_see_durations_and_on_time_shares_on_the_diagram(
        staff: Callable[[str], Staff], worked: list[str]) -> None:
    assert staff("manager1").get("/supervision/diagram").status_code == 403
    marketing = staff("marketing")
    page = marketing.get("/supervision/diagram?variant=hv")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "现场勘查" in text and "heat-5" in text
    body = marketing.get("/supervision/diagram.json?variant=hv").get_json()
    nodes = body["nodes"]
    assert nodes["hv_site_survey_solo"]["count"] == 1 and nodes["hv_archive"]["count"] == 2
    assert {n["level"] for n in nodes.values()} >= {1, 5}
    assert all(0 <= n["share"] <= 1 for n in nodes.values()) and max(n["share"] for n in nodes.values()) == 1
    assert "<bpmn:definitions" in body["xml"] or "definitions" in body["xml"]
    table = text.split('class="grid heat-table"')[1]
    assert "hv_" not in table  # names, never node ids
    assert marketing.get("/supervision/diagram?from=2026-13-01").status_code == 400


def test_auditors_check_a_period_and_download_it_for_excel(staff: Callable[[str], Staff], engine: Engine,
                                                           clock: Clock, worked: list[str]) -> None:
    assert staff("manager1").get("/audit/conformance").status_code == 403
    auditor = staff("auditor")
    page = auditor.get("/audit/conformance").get_data(as_text=True)
    assert "共检查 3 件，符合 2 件" in page and worked[2] in page and "补录" in page
    download = auditor.get("/audit/conformance.csv")
    assert download.status_code == 200 and download.headers["Content-Disposition"].startswith("attachment;")
    data = download.get_data()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert {r["申请编号"]: r["是否符合"] for r in rows} == {worked[0]: "是", worked[1]: "是", worked[2]: "否"}
    assert {r["业务类型"] for r in rows} == {"高压", "低压"}


def test_every_chain_is_verified_with_progress_and_a_tampered_one_is_named(
        staff: Callable[[str], Staff], engine: Engine, worked: list[str]) -> None:
    with engine.store.begin() as conn:
        app_id = conn.execute(tables.APPS.select().where(tables.APPS.c.app_no == worked[1])).one().id
        conn.execute(update(tables.EVENTS).where(tables.EVENTS.c.application_id == app_id,
                                                 tables.EVENTS.c.seq == 3).values(actor="someone_else"))
    auditor = staff("auditor")
    assert "开始核验" in auditor.get("/audit/chains").get_data(as_text=True)
    response = auditor.post("/audit/chains/run")
    lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines() if line.strip()]
    assert response.mimetype == "application/x-ndjson"
    total = lines[-2]["total"]
    assert lines[-2]["done"] == total and total >= 3
    result = lines[-1]["result"]
    assert result["checked"] == total and [b["app_no"] for b in result["broken"]] == [worked[1]]
    assert result["broken"][0]["seq"] == 3
    assert staff("manager1").post("/audit/chains/run").status_code == 403


def test_the_diagram_shows_how_often_each_path_was_taken(
        staff: Callable[[str], Staff], engine: Engine, clock: Clock, scenarios: dict[str, Scenario]) -> None:
    solo = [run(engine, clock, scenarios["hv_solo"]) for _ in range(2)]
    team = run(engine, clock, scenarios["hv_team"])
    run(engine, clock, scenarios["lv_residential"])  # another variant: not counted on the HV diagram
    clock.advance(days=1)
    marketing = staff("marketing")
    body = marketing.get("/supervision/diagram.json?variant=hv").get_json()
    flows = body["flows"]
    # the survey gateway split 2 : 1, and its labels say so
    assert flows["hv_f_survey_solo"]["count"] == 2 and flows["hv_f_survey_team"]["count"] == 1
    assert flows["hv_f_survey_solo"]["share"] == pytest.approx(2 / 3, abs=1e-3)
    assert flows["hv_f_survey_solo"]["label"] == "2 · 67%" and flows["hv_f_survey_team"]["label"] == "1 · 33%"
    # every flow counts exactly the applications whose trace took it (no example path loops); the trace follows
    # one parent per task, so a parallel join it passed adds the flows of its other arriving branches
    taken: dict[str, int] = {}
    for app_no in [*solo, team]:
        trace = engine.application_trace(app_no)
        root = etree.fromstring(trace.xml.encode("utf-8"))
        joins = {g.get("id") for g in root.iter(f"{{{BPMN}}}parallelGateway")
                 if len(root.findall(f".//{{{BPMN}}}sequenceFlow[@targetRef='{g.get('id')}']")) > 1}
        arriving = {f.get("id") for f in root.iter(f"{{{BPMN}}}sequenceFlow")
                    if f.get("targetRef") in joins and f.get("targetRef") in trace.completed}
        for flow in set(trace.flows) | arriving:
            taken[flow] = taken.get(flow, 0) + 1
    assert {f: v["count"] for f, v in flows.items() if v["count"]} == taken
    assert flows["hv_f_start"]["count"] == 3 and flows["hv_f_start"]["share"] is None  # not at a split
    assert flows["hv_f_start"]["weight"] == 1 and flows["hv_f_survey_team"]["weight"] == pytest.approx(1 / 3, abs=1e-3)
    # a parallel split: each branch is taken every time it is passed
    fork = next(s for s in body["splits"] if s["parallel"])
    assert fork["passed"] == 3 and all(b["count"] == 3 and b["share"] == 1 for b in fork["branches"])
    survey = next(s for s in body["splits"] if s["at"] == "勘查方式")
    assert survey["passed"] == 3 and {(b["to"], b["condition"], b["count"]) for b in survey["branches"]} == {
        ("现场勘查（客户经理）", "≤3000kVA", 2), ("现场勘查（勘查组）", ">3000kVA", 1)}
    # the page: the toggle, the legend and the splits table in words, never a flow id
    page = marketing.get("/supervision/diagram?variant=hv&view=flows").get_data(as_text=True)
    assert "路径频率" in page and 'data-view="flows"' in page and "连线上的数字" in page
    table = page.split('class="grid flow-table"')[1].split("</table>")[0]
    assert "勘查方式" in table and "≤3000kVA" in table and "67%" in table and "hv_" not in table
    # a period before any work: every flow zero, nothing divided by zero
    empty = marketing.get("/supervision/diagram.json?variant=hv&from=2020-01-01&to=2020-01-31").get_json()
    assert all(v["count"] == 0 and v["share"] in (None, 0) for v in empty["flows"].values())
