"""Task lists, reassignment, uploads, diagram traces, API tokens and 一证受理 at the engine level."""

from __future__ import annotations

from typing import Any

import pytest

from engine import Engine, Forbidden, FormValidationError, InvalidInput, Upload
from cli.demo import actor_for, do_field_work, drive, load_scenarios

from tests.conftest import PROCESSES

SCENARIOS = {s.name: s for s in load_scenarios(PROCESSES / "paths.json")}


def started(engine: Engine, name: str, steps: int = 0) -> Any:
    last = None
    for last in drive(engine, SCENARIOS[name], stop_after=steps):
        pass
    return last


def test_pool_mine_and_all_scopes(engine: Engine) -> None:
    for _ in range(3):
        started(engine, "lv_residential")
    pool = engine.task_page("frontdesk", scope="pool")
    assert pool.total == 3 and {t.node_id for t in pool.items} == {"lv_sign_simple"}
    engine.claim(pool.items[0].id, "frontdesk")
    assert engine.task_page("frontdesk", scope="pool").total == 2
    mine = engine.task_page("frontdesk", scope="mine")
    assert [t.id for t in mine.items] == [pool.items[0].id]
    assert engine.task_page("metering", scope="pool").total == 0
    with pytest.raises(Forbidden):
        engine.task_page("frontdesk", scope="all")
    assert engine.task_page("marketing", scope="all").total == 3


def test_filters_search_and_pagination(engine: Engine) -> None:
    first = started(engine, "lv_residential")
    for _ in range(4):
        started(engine, "lv_residential")
    started(engine, "pv_380v")
    page1 = engine.task_page("marketing", scope="all", process_key="lv", per_page=2, page=1)
    page3 = engine.task_page("marketing", scope="all", process_key="lv", per_page=2, page=3)
    assert (page1.total, page1.pages, len(page1.items), len(page3.items)) == (5, 3, 2, 1)
    assert not {t.id for t in page1.items} & {t.id for t in page3.items}
    assert engine.task_page("marketing", scope="all", search=first.app_no).total == 1
    customer = SCENARIOS["pv_380v"].start["customer_name"]
    hits = engine.task_page("marketing", scope="all", search=customer[1:3])
    assert hits.total >= 1 and all(customer[1:3] in t.customer_name for t in hits.items)
    assert engine.task_page("marketing", scope="all", node_id="pv_site_survey").total == 1
    assert engine.task_page("marketing", scope="all", search="%").total == 0  # LIKE wildcards are literal


def test_customer_search_ignores_latin_case_on_every_database(engine: Engine) -> None:
    start = {**SCENARIOS["lv_residential"].start, "customer_name": "Sunrise 光伏合作社"}
    app_no = engine.start("lv", start, "frontdesk").app_no
    for term in ("sunrise", "SUNRISE", "Sunrise 光伏"):
        assert [t.app_no for t in engine.task_page("marketing", scope="all", search=term).items] == [app_no]
        assert [a.app_no for a in engine.search_applications(customer=term).items] == [app_no]


def test_a_search_longer_than_any_name_finds_nothing_on_every_database(engine: Engine) -> None:
    name = "星" * 100  # as long as the form lets a name be
    app_no = engine.start("lv", {**SCENARIOS["lv_residential"].start, "customer_name": name}, "frontdesk").app_no
    assert [t.app_no for t in engine.task_page("marketing", scope="all", search=name).items] == [app_no]
    for term in (name + "星", "星" * 257, "x" * 300_000):  # SQLite refuses LIKE patterns over 50,000 bytes
        assert engine.task_page("marketing", scope="all", search=term).total == 0
        assert engine.search_applications(customer=term).total == 0


def test_supervisor_reassigns_to_someone_with_the_role(engine: Engine) -> None:
    result = started(engine, "hv_solo")
    task = result.ready_tasks[0]
    other = "manager2" if task.assignee == "manager1" else "manager1"
    with pytest.raises(Forbidden):
        engine.reassign(task.id, other, "manager1")
    with pytest.raises(InvalidInput):
        engine.reassign(task.id, "metering", "marketing")
    moved = engine.reassign(task.id, other, "marketing")
    assert moved.assignee == other
    with pytest.raises(Forbidden):
        do_field_work(engine, task.id, task.assignee or "manager1")
        engine.complete(task.id, task.assignee or "manager1", SCENARIOS["hv_solo"].steps[0].data)
    assert any(e.kind == "task.reassigned" for e in engine.application(task.app_no).history)


PDF = b"%PDF-1.4\n% test\n"


def _at_design_review(engine: Engine) -> Any:
    scenario = SCENARIOS["hv_design_review_sendback"]
    index = next(i for i, s in enumerate(scenario.steps) if s.node == "hv_design_review")
    result = started(engine, "hv_design_review_sendback", index)
    task = next(t for t in result.ready_tasks if t.node_id == "hv_design_review")
    return task, dict(scenario.steps[index].data)


def test_uploads_are_checked_stored_and_audited(engine: Engine) -> None:
    task, data = _at_design_review(engine)
    data["design_documents"] = []
    actor = actor_for(engine, task.role, task.assignee)
    with pytest.raises(FormValidationError) as info:
        engine.complete(task.id, actor, data, [Upload("design_drawings", "x.exe", "application/x-msdownload", b"MZ")])
    assert set(info.value.field_errors) == {"design_drawings", "designer_qualification"}
    uploads = [Upload("design_drawings", "../../etc/图纸.pdf", "application/pdf", PDF),
               Upload("designer_qualification", "资质.png", "image/png", b"\x89PNG\r\n\x1a\n....")]
    engine.complete(task.id, actor, data, uploads)
    app = engine.application(task.app_no)
    stored = {d.filename: d for d in app.documents if d.kind.startswith("upload:")}
    assert set(stored) == {"图纸.pdf", "资质.png"}
    info_, content = engine.document(stored["图纸.pdf"].id)
    assert content == PDF
    event = next(e for e in app.history if e.kind == "task.completed" and e.node_id == "hv_design_review")
    assert {d["key"] for d in event.payload["documents"]} == {"design_drawings", "designer_qualification"}


def test_trace_marks_completed_active_nodes_and_taken_flows(engine: Engine) -> None:
    result = started(engine, "hv_solo", 3)
    trace = engine.application_trace(result.app_no)
    assert "hv_site_survey_solo" in trace.completed and "hv_plan_approval" in trace.completed
    assert [t.node_id for t in result.ready_tasks] == list(trace.active)
    assert "hv_site_survey_team" not in trace.completed + trace.active
    assert trace.flows and all(f in trace.xml for f in trace.flows)
    assert trace.xml.lstrip().startswith("<?xml")


def test_api_tokens_stand_for_their_user(engine: Engine) -> None:
    token = engine.create_api_token("frontdesk", "网上国网", by="admin")
    user = engine.user_for_token(token)
    assert user is not None and user.username == "frontdesk"
    assert engine.user_for_token(token + "x") is None
    assert engine.user_for_token("") is None


def test_one_identity_document_is_enough_and_needed(engine: Engine) -> None:
    start = dict(SCENARIOS["lv_residential"].start)
    form = engine.start_form("lv")
    assert form is not None
    assert form.schema.get("x-identityDocuments"), "the acceptance form must declare its identity documents (一证受理)"
    start["documents_received"] = ["property_proof"]
    with pytest.raises(FormValidationError) as info:
        engine.start("lv", start, "frontdesk")
    assert "一证受理" in info.value.field_errors["documents_received"]
    start["documents_received"] = [form.schema["x-identityDocuments"][0]]
    assert engine.start("lv", start, "frontdesk").status == "running"
