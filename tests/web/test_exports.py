"""Event-log downloads: only 稽查 and 营销部 may take them; they stream, carry the filters, and parse."""

from __future__ import annotations

import csv
import io
from typing import Callable

import pytest
from lxml import etree

from engine import Engine
from cli.demo import drive, load_scenarios

from tests.conftest import PROCESSES, Clock, Staff

SCENARIOS = {s.name: s for s in load_scenarios(PROCESSES / "paths.json")}
XES = "{http://www.xes-standard.org/}"
URLS = ("/audit/export.csv", "/audit/export.xes")


def run(engine: Engine, clock: Clock, name: str, stop_after: int | None = None) -> str:
    last = None
    for last in drive(engine, SCENARIOS[name], stop_after):
        clock.advance(hours=1)
    assert last is not None
    return str(last.app_no)


@pytest.fixture
def apps(engine: Engine, clock: Clock) -> list[str]:
    made = [run(engine, clock, "lv_residential"), run(engine, clock, "hv_solo", 2)]
    clock.advance(days=3)
    return [*made, run(engine, clock, "pv_380v", 1)]


def csv_cases(body: str) -> list[str]:
    return list(dict.fromkeys(row["申请编号"] for row in csv.DictReader(io.StringIO(body.removeprefix("\ufeff")))))


@pytest.mark.parametrize("url", URLS)
def test_other_roles_are_refused(staff: Callable[[str], Staff], apps: list[str], url: str) -> None:
    assert staff("manager1").get(url).status_code == 403
    assert staff("frontdesk").get(url).status_code == 403


@pytest.mark.parametrize("url", URLS)
def test_anonymous_visitors_are_sent_to_log_in(client: Staff, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_auditor_downloads_csv_as_a_streamed_attachment(staff: Callable[[str], Staff], apps: list[str]) -> None:
    response = staff("auditor").get("/audit/export.csv")
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    assert response.headers["Content-Disposition"].endswith('.csv"')
    assert csv_cases(response.get_data(as_text=True)) == apps


def test_marketing_downloads_xes(staff: Callable[[str], Staff], apps: list[str]) -> None:
    response = staff("marketing").get("/audit/export.xes")
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["Content-Type"] == "application/xml; charset=utf-8"
    assert response.headers["Content-Disposition"].endswith('.xes"')
    root = etree.fromstring(response.get_data())
    names = [t.find(f"{XES}string[@key='concept:name']").get("value")
             for t in root.iter(f"{XES}trace")]
    assert names == apps


def test_filters_are_applied(staff: Callable[[str], Staff], apps: list[str]) -> None:
    auditor = staff("auditor")

    def cases(query: str) -> list[str]:
        response = auditor.get(f"/audit/export.csv?{query}")
        assert response.status_code == 200, response.status_code
        return csv_cases(response.get_data(as_text=True))

    assert cases("process=hv") == [apps[1]]
    assert cases(f"app={apps[2]}&app={apps[0]}") == [apps[0], apps[2]]
    assert cases("status=completed") == [apps[0]]
    assert cases("from=2026-11-24") == [apps[2]]
    assert cases("to=2026-11-23&process=lv") == [apps[0]]
    assert cases("from=2030-01-01") == []


def test_bad_filters_are_an_error_page_not_a_broken_download(staff: Callable[[str], Staff], apps: list[str]) -> None:
    auditor = staff("auditor")
    bad_date = auditor.get("/audit/export.xes?from=2026-13-01")
    assert bad_date.status_code == 400 and "YYYY-MM-DD" in bad_date.get_data(as_text=True)
    assert auditor.get("/audit/export.csv?process=xx").status_code == 400
    assert auditor.get("/audit/export.csv?app=HV20990101000001").status_code == 404
