"""The auditor pages (稽查): who may see them, searching by who acted, the step-through replay and its JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import text

import handlers
from engine import Engine, ReplayReport, ReplayStep, StepResult
from cli.demo import drive
from handlers import Operator
from webui import create_app
from webui.audit import REPLAY_OK, replay_payload, replay_verdict

from tests.conftest import Clock, Staff


def run(engine: Engine, clock: Clock, scenario: Any, stop_after: int | None = None) -> StepResult:
    """Drive a scenario, the clock moving an hour per step; the last result."""
    last = None
    for last in drive(engine, scenario, stop_after):
        clock.advance(hours=1)
    assert last is not None
    return last


def page_text(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return str(response.get_data(as_text=True))


def found(user: Staff, query: str) -> set[str]:
    text_ = page_text(user.get("/audit/?" + query))
    return set(re.findall(r'href="/audit/([A-Z]{2}\d+)"', text_))


@pytest.fixture
def hv_done(engine: Engine, clock: Clock, scenarios: dict[str, Any]) -> str:
    """A high-voltage application driven to the end along its plainest path."""
    return run(engine, clock, scenarios["hv_solo"]).app_no


# ----------------------------------------------------------------------------- who may audit


@pytest.mark.parametrize("username", ["manager1", "frontdesk", "metering"])
def test_only_auditors_and_marketing_may_open_the_audit_pages(
        username: str, hv_done: str, staff: Callable[[str], Staff]) -> None:
    user = staff(username)
    for url in ("/audit/", f"/audit/{hv_done}", f"/audit/{hv_done}/replay.json"):
        response = user.get(url)
        assert response.status_code == 403, url
    assert "稽查" not in page_text(user.get("/applications/")).split("</nav>")[0].split('class="mainnav"')[1]


@pytest.mark.parametrize("username", ["auditor", "marketing"])
def test_auditors_and_marketing_see_the_audit_pages_and_the_nav_link(
        username: str, hv_done: str, staff: Callable[[str], Staff]) -> None:
    user = staff(username)
    index = page_text(user.get("/audit/"))
    assert 'href="/audit/"' in index.split("</nav>")[0]
    assert hv_done in index
    assert page_text(user.get(f"/audit/{hv_done}"))


def test_anonymous_visitors_are_sent_to_login(client: Staff) -> None:
    response = client.get("/audit/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_audit_pages_accept_no_posts(hv_done: str, staff: Callable[[str], Staff]) -> None:
    user = staff("auditor")
    for url in ("/audit/", f"/audit/{hv_done}", f"/audit/{hv_done}/replay.json"):
        assert user.post(url).status_code == 405, url


def test_an_unknown_application_is_404(staff: Callable[[str], Staff]) -> None:
    user = staff("auditor")
    assert user.get("/audit/HV999999999").status_code == 404
    assert user.get("/audit/HV999999999/replay.json").status_code == 404


# ----------------------------------------------------------------------------- search


@pytest.fixture
def three(engine: Engine, clock: Clock, scenarios: dict[str, Any]) -> dict[str, str]:
    """A completed LV application (day 1), an HV one whose plan marketing has approved (day 2), and a PV one
    just accepted (day 3)."""
    lv = run(engine, clock, scenarios["lv_residential"]).app_no
    clock.advance(days=1)
    hv = run(engine, clock, scenarios["hv_solo"], stop_after=3).app_no  # up to and including 方案审批 by marketing
    clock.advance(days=1)
    pv = run(engine, clock, scenarios["pv_380v"], stop_after=0).app_no
    return {"lv": lv, "hv": hv, "pv": pv}


def test_search_by_number_customer_variant_status_and_date(three: dict[str, str], engine: Engine,
                                                           staff: Callable[[str], Staff]) -> None:
    user = staff("auditor")
    lv, hv, pv = three["lv"], three["hv"], three["pv"]
    assert found(user, f"app_no={hv}") == {hv}
    assert found(user, f"app_no={hv[:4].lower()}") == {hv}
    customer = engine.application(pv).customer_name
    assert pv in found(user, f"customer={customer[1:4]}")
    assert found(user, "variant=lv") == {lv}
    assert found(user, "status=completed") == {lv}
    assert found(user, "created_from=2026-11-24&created_to=2026-11-24") == {hv}
    assert found(user, "") == {lv, hv, pv}


def test_search_by_who_acted_on_an_application(three: dict[str, str], engine: Engine,
                                               staff: Callable[[str], Staff]) -> None:
    user = staff("auditor")
    acted = {app_no for app_no in three.values()
             if any(e.actor == "marketing" for e in engine.application(app_no).history)}
    assert three["hv"] in acted and three["pv"] not in acted
    assert found(user, "actor=marketing") == acted
    assert found(user, "actor=marketing&variant=hv") == {three["hv"]}
    assert found(user, "actor=frontdesk") == set(three.values())  # frontdesk accepted all three
    page = page_text(user.get("/audit/?actor=marketing"))
    assert re.search(r'<option value="marketing"\s+selected>', page)


def test_an_unknown_actor_is_ignored_with_a_warning(three: dict[str, str], staff: Callable[[str], Staff]) -> None:
    page = page_text(staff("auditor").get("/audit/?actor=nobody"))
    assert "没有用户“nobody”" in page
    assert len(set(re.findall(r'href="/audit/([A-Z]{2}\d+)"', page))) == 3


def test_export_links_carry_the_current_filters(three: dict[str, str], staff: Callable[[str], Staff]) -> None:
    page = page_text(staff("auditor").get("/audit/?variant=hv&actor=marketing&page=1"))
    for ext in ("csv", "xes"):
        link = re.search(rf'href="(/audit/export\.{ext}[^"]*)"', page)
        assert link, ext
        assert "variant=hv" in link.group(1) and "actor=marketing" in link.group(1)
        assert "page=" not in link.group(1)


def test_search_paginates(engine: Engine, clock: Clock, scenarios: dict[str, Any],
                          staff: Callable[[str], Staff]) -> None:
    for _ in range(23):
        run(engine, clock, scenarios["lv_residential"], stop_after=0)
    user = staff("auditor")
    first = page_text(user.get("/audit/?variant=lv"))
    assert '<strong class="total">23</strong>' in first and "第 1/2 页" in first
    assert 'href="/audit/?page=2&amp;variant=lv"' in first
    assert len(found(user, "variant=lv&page=2")) == 3


# ----------------------------------------------------------------------------- the step-through page


def test_the_replay_page_shows_the_header_both_verdicts_and_a_timeline(
        hv_done: str, engine: Engine, staff: Callable[[str], Staff]) -> None:
    app = engine.application(hv_done)
    page = page_text(staff("auditor").get(f"/audit/{hv_done}?step=3"))
    assert hv_done in page and app.customer_name in page and "高压" in page and "已办结" in page
    assert '<p class="audit audit-ok chain-verdict">✔ 审计链完整' in page
    assert '<p class="audit audit-ok replay-verdict">✔ 重放核验通过：每一步的结果都与记录一致' in page
    steps = re.findall(r'<a href="\?step=(\d+)" data-step="\d+"', page)
    completed_tasks = [e for e in app.history if e.kind == "task.completed"]
    assert len(steps) == 1 + len(completed_tasks)  # the acceptance, then every completed task
    assert "受理申请" in page and "现场勘查" in page
    assert 'data-step="3"' in page and re.search(r'<li class="current">\s*<a href="\?step=3"', page)
    assert f'data-replay-url="/audit/{hv_done}/replay.json"' in page
    assert "<script>" not in page  # data reaches the script through data-* attributes only


def test_a_tampered_audit_event_shows_the_broken_chain_in_red(
        hv_done: str, engine: Engine, staff: Callable[[str], Staff]) -> None:
    with engine.store.transaction() as s:
        seq = s.execute(text("SELECT min(e.seq) FROM audit_events e JOIN applications a ON a.id = e.application_id "
                             "WHERE a.app_no = :no AND e.kind = 'task.completed'"), {"no": hv_done}).scalar_one()
        s.execute(text("UPDATE audit_events SET payload = :p WHERE seq = :seq AND application_id = "
                       "(SELECT id FROM applications WHERE app_no = :no)"),
                  {"p": json.dumps({"data": {"survey_findings": "篡改后的勘查意见"}}, ensure_ascii=False),
                   "seq": seq, "no": hv_done})
    page = page_text(staff("auditor").get(f"/audit/{hv_done}"))
    broken = re.search(r'<p class="audit audit-broken chain-verdict" role="alert">([^<]*)</p>', page)
    assert broken, "the broken chain is not shown in red"
    assert f"第 {seq} 条事件被篡改/缺失" in broken.group(1)
    assert "审计链完整" not in page


def test_replay_json_has_every_step_with_markers_and_labelled_data(
        hv_done: str, engine: Engine, staff: Callable[[str], Staff]) -> None:
    response = staff("auditor").get(f"/audit/{hv_done}/replay.json")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["app_no"] == hv_done and body["mode"] == "recorded" and body["verified"] is True
    assert body["verdict"] == REPLAY_OK
    assert body["xml"] == engine.application_xml(hv_done)
    steps = body["steps"]
    assert [s["number"] for s in steps] == list(range(1, len(steps) + 1))
    assert steps[0]["kind"] == "application.started" and steps[0]["title"] == "受理申请"
    assert steps[0]["actor_name"] == "柜台受理员 张敏"
    assert steps[0]["active"] == ["hv_site_survey_solo"]
    for step in steps:
        assert set(step) >= {"completed", "active", "flows", "data", "sections", "removed", "matches", "at_text"}
        assert step["matches"] is True
    # the diagram fills up step by step: each step's completed nodes include the previous step's
    for before, after in pairwise(steps):
        assert set(before["completed"]) <= set(after["completed"]), after["title"]
        assert len(after["completed"]) > len(before["completed"])
    assert steps[-1]["active"] == [] and set(engine.application_trace(hv_done).completed) == set(steps[-1]["completed"])
    # data as of each step, with the acceptance form's Chinese labels
    assert "survey_findings" not in steps[0]["data"] and "survey_findings" in steps[1]["data"]
    accepted = steps[0]["sections"][0]
    assert accepted["title"] == "受理信息"
    assert {"label": "客户名称", "value": engine.application(hv_done).customer_name, "change": None,
            "before": None} in accepted["rows"]
    survey = steps[1]
    assert survey["node_id"] == "hv_site_survey_solo" and survey["actor"] == "manager1"
    rows = {r["label"]: r for s in survey["sections"] for r in s["rows"]}
    assert rows["客户名称"]["change"] is None
    changed = [r for s in survey["sections"] for r in s["rows"] if r["change"]]
    assert changed and all(r["change"] == "added" for r in changed)
    assert survey["changed"] == len(changed)
    assert steps[0]["changed"] is None


def test_rerun_mode_replays_by_todays_rules(hv_done: str, staff: Callable[[str], Staff]) -> None:
    body = staff("marketing").get(f"/audit/{hv_done}/replay.json?mode=rerun").get_json()
    assert body["mode"] == "rerun" and body["mode_label"] == "按今日规则重放"
    assert body["steps"] and all("matches" in s for s in body["steps"])


def test_rerun_marks_the_step_where_todays_rules_would_decide_differently(
        hv_done: str, engine: Engine, clock: Clock) -> None:
    """Today's survey-mode rule sends every survey to the team: the acceptance step no longer matches."""
    registry = dict(handlers.build_registry())
    old = registry["select_survey_mode"]
    registry["select_survey_mode"] = Operator(old.name, lambda ctx, **params: "team", old.required, old.optional,
                                              old.title)
    today = Engine({"database_url": engine.config.database_url, "documents_dir": engine.config.documents_dir},
                   registry=registry, clock=clock)
    try:
        user = Staff(create_app({"TESTING": True, "SECRET_KEY": "test-secret"}, engine=today).test_client())
        body = user.login("auditor").get(f"/audit/{hv_done}/replay.json?mode=rerun").get_json()
        assert body["verified"] is False
        first = body["steps"][0]
        assert first["matches"] is False and "team" in first["difference"]
        assert body["verdict"].startswith("重放发现不一致：第 1 步「受理申请」与记录不符 — ")
        recorded = user.get(f"/audit/{hv_done}/replay.json").get_json()
        assert recorded["verified"] is True  # as recorded, nothing changed
    finally:
        today.dispose()


def test_an_unknown_mode_falls_back_to_the_recorded_replay(hv_done: str, staff: Callable[[str], Staff]) -> None:
    assert staff("auditor").get(f"/audit/{hv_done}/replay.json?mode=bogus").get_json()["mode"] == "recorded"


# ----------------------------------------------------------------------------- the payload, from a fake report


def _step(index: int, kind: str, node_id: str | None, data: dict[str, Any], *, matches: bool = True,
          difference: str | None = None) -> ReplayStep:
    return ReplayStep(index=index, event_seq=index * 3 + 1, kind=kind, node_id=node_id, node_name=None,
                      actor="manager1" if index else "frontdesk", at=datetime(2026, 11, 23, 9) + timedelta(hours=index),
                      completed=("start",) if index else (), active=("task",), flows=(), data=data, matches=matches,
                      difference=difference)


FAKE_XML = ('<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"><process id="p">'
            '<userTask id="hv_site_survey_solo" name="现场勘查（客户经理）"/></process></definitions>')


def test_payload_marks_what_changed_and_what_was_removed_since_the_step_before() -> None:
    report = ReplayReport("HV1", "recorded", True, REPLAY_OK, (
        _step(0, "application.started", None, {"a": 1, "b": "x", "gone": True}),
        _step(1, "task.completed", "hv_site_survey_solo", {"a": 2, "b": "x", "c": [1, 2]}),
    ))
    body = replay_payload(report, FAKE_XML, None, {}, {"manager1": "客户经理 李强"})
    first, second = body["steps"]
    assert first["title"] == "受理申请" and second["title"] == "现场勘查（客户经理）"
    assert second["actor_name"] == "客户经理 李强" and first["actor_name"] == "frontdesk"
    rows = {r["label"]: r for s in second["sections"] for r in s["rows"]}
    assert rows["a"] == {"label": "a", "value": "2", "change": "changed", "before": "1"}
    assert rows["b"]["change"] is None
    assert rows["c"]["change"] == "added" and rows["c"]["value"] == "1、2"
    assert second["removed"] == [{"section": "系统记录（流程自动判定或生成）", "label": "gone", "before": "是"}]
    assert second["changed"] == 3


def test_the_verdict_names_the_first_diverging_step_and_how() -> None:
    report = ReplayReport("HV1", "rerun", False, "第 2 步不一致", (
        _step(0, "application.started", None, {}),
        _step(1, "task.completed", "hv_site_survey_solo", {}, matches=False, difference="结果为 B，当时记录为 A"),
    ))
    verdict = replay_verdict(report, {"hv_site_survey_solo": "现场勘查（客户经理）"})
    assert verdict == "重放发现不一致：第 2 步「现场勘查（客户经理）」与记录不符 — 结果为 B，当时记录为 A"
    body = replay_payload(report, FAKE_XML, None, {}, {})
    assert body["verified"] is False and body["steps"][1]["matches"] is False
    assert body["steps"][1]["difference"] == "结果为 B，当时记录为 A"
