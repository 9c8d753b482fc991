"""The heatmap on the diagram, the conformance report and the run over every hash chain, as their users see them."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import update

from engine import Engine, tables
from cli.demo import Scenario
from tests.conftest import Clock, Staff
from tests.web.test_supervision import run


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
