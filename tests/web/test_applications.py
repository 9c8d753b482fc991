"""Searching applications, the application page (diagram, timeline, data, tasks, documents) and downloads."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Callable

import pytest

import handlers
from engine import Engine, StepResult, Upload
from cli.demo import actor_for, create_demo_users, do_field_work, drive
from handlers.errors import HandlerError
from webui import create_app

from tests.conftest import Clock, Staff
from tests.databases import database_url

STEP = {"hours": 2, "minutes": 15}
"""Every scenario step below takes this long, so each timeline entry says 2小时15分."""


def run(engine: Engine, clock: Clock, scenario: Any, stop_after: int | None = None) -> StepResult:
    """Drive a scenario with the clock moving 2h15 between steps; the last result."""
    last = None
    for last in drive(engine, scenario, stop_after):
        clock.advance(**STEP)
    assert last is not None
    return last


def page_text(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return str(response.get_data(as_text=True))


# ----------------------------------------------------------------------------- search


@pytest.fixture
def three(engine: Engine, clock: Clock, scenarios: dict[str, Any]) -> dict[str, StepResult]:
    """A completed LV application (day 1), a running HV one (day 2) and a running PV one (day 3)."""
    lv = run(engine, clock, scenarios["lv_residential"])
    clock.advance(days=1)
    hv = run(engine, clock, scenarios["hv_solo"], stop_after=2)
    clock.advance(days=1)
    pv = run(engine, clock, scenarios["pv_380v"], stop_after=1)
    return {"lv": lv, "hv": hv, "pv": pv}


def found(user: Staff, query: str) -> set[str]:
    text = page_text(user.get("/applications/?" + query))
    return set(re.findall(r'href="/applications/([A-Z]{2}\d+)"', text))


def test_search_by_number_exact_or_prefix(three: dict[str, StepResult], staff: Callable[[str], Staff]) -> None:
    user = staff("manager1")
    hv = three["hv"].app_no
    assert found(user, f"app_no={hv}") == {hv}
    assert found(user, f"app_no={hv[:6].lower()}") == {hv}
    assert found(user, "app_no=XX999") == set()


def test_search_by_customer_variant_status_and_date(three: dict[str, StepResult], engine: Engine,
                                                     staff: Callable[[str], Staff]) -> None:
    user = staff("auditor")
    lv, hv, pv = three["lv"].app_no, three["hv"].app_no, three["pv"].app_no
    hv_customer = engine.application(hv).customer_name
    assert hv in found(user, f"customer={hv_customer[2:5]}")
    assert found(user, "variant=pv") == {pv}
    assert found(user, "status=completed") == {lv}
    assert found(user, "status=running") == {hv, pv}
    assert found(user, "created_from=2026-11-24&created_to=2026-11-24") == {hv}
    assert found(user, "created_from=2026-11-24") == {hv, pv}
    assert found(user, "created_to=2026-11-23") == {lv}
    page = page_text(user.get("/applications/?created_from=not-a-date"))
    assert "不是有效日期" in page and len(set(re.findall(r'/applications/([A-Z]{2}\d+)"', page))) == 3


def test_search_paginates_and_counts(engine: Engine, clock: Clock, scenarios: dict[str, Any],
                                     staff: Callable[[str], Staff]) -> None:
    made = [engine.start("lv", scenarios["lv_residential"].start, "frontdesk").app_no for _ in range(23)]
    user = staff("manager1")
    first = page_text(user.get("/applications/?variant=lv"))
    assert re.search(r'<strong class="total">23</strong>', first) and "第 1/2 页" in first
    assert len(set(re.findall(r'href="/applications/([A-Z]{2}\d+)"', first))) == 20
    assert "page=2" in first and "variant=lv" in first
    second = found(user, "variant=lv&page=2")
    assert len(second) == 3 and second | found(user, "variant=lv") == set(made)


# ----------------------------------------------------------------------------- the application page


def test_running_application_page(engine: Engine, clock: Clock, scenarios: dict[str, Any],
                                  staff: Callable[[str], Staff]) -> None:
    result = run(engine, clock, scenarios["hv_solo"], stop_after=2)
    app_no = result.app_no
    (open_task,) = result.ready_tasks
    engine.claim(open_task.id, "marketing")
    page = page_text(staff("auditor").get(f"/applications/{app_no}"))
    assert app_no in page and "江南精密机械有限公司" in page and "高压" in page and "第 1 版" in page
    assert "进行中" in page and "柜台受理员 张敏" in page
    assert "审计链完整" in page
    # data: Chinese labels, enum values by their names, not keys
    assert "客户名称" in page and "证件类型" in page and "营业执照（统一社会信用代码）" in page
    assert "business_licence" not in page
    # timeline: each step by name, who did it, when it became ready and was done, how long it took
    row = re.search(r"<tr class=\"tl-task tl-done\">(.*?)</tr>", page, re.S)
    assert row and "现场勘查（客户经理）" in row.group(1) and "客户经理 李强" in row.group(1)
    assert "2026-11-23 09:00" in row.group(1) and "2026-11-23 11:15" in row.group(1) and "2小时15分" in row.group(1)
    assert "受理申请" in page and "指派客户经理" in page and "认领「供电方案审批」" in page
    assert "engine.transitions" not in page and "STARTED" not in page
    # the open task links to its task page
    assert f'href="/tasks/{open_task.id}"' in page and "供电方案审批" in page


def test_completed_application_lists_contracts_with_downloads(engine: Engine, clock: Clock,
                                                              scenarios: dict[str, Any],
                                                              staff: Callable[[str], Staff]) -> None:
    app_no = run(engine, clock, scenarios["hv_solo"]).app_no
    info = engine.application(app_no)
    docx = next(d for d in info.documents if d.filename.endswith(".docx"))
    html = next(d for d in info.documents if d.media_type == "text/html")
    page = page_text(staff("manager1").get(f"/applications/{app_no}"))
    assert "已办结" in page and "办结" in page and "审计链完整" in page
    assert "高压供用电合同" in page and docx.filename in page
    assert f'href="/documents/{docx.id}"' in page and f'href="/documents/{html.id}/pdf"' in page
    assert "下载 DOCX" in page and "下载 PDF" in page


def test_error_status_shows_the_message(tmp_path: Any, clock: Clock, scenarios: dict[str, Any]) -> None:
    def broken(ctx: Any, **_: Any) -> Any:
        raise HandlerError("勘查规则服务不可用")

    registry = dict(handlers.build_registry())
    good = registry["select_survey_mode"]
    registry["select_survey_mode"] = handlers.Operator(good.name, broken, good.required, good.optional, good.title)
    engine = Engine({"database_url": database_url(tmp_path, "err.db"), "documents_dir": tmp_path / "docs"},
                    registry=registry, clock=clock)
    engine.init_schema()
    engine.deploy_shipped()
    create_demo_users(engine)
    result = engine.start("hv", scenarios["hv_solo"].start, "frontdesk")
    assert result.status == "error"
    client = create_app({"TESTING": True, "SECRET_KEY": "t"}, engine=engine).test_client()
    user = Staff(client).login("manager1")
    page = page_text(user.get(f"/applications/{result.app_no}"))
    assert "异常" in page and "勘查规则服务不可用" in page
    assert "流程异常" in page  # the timeline entry


def test_diagram_json_matches_the_engine_trace(engine: Engine, clock: Clock, scenarios: dict[str, Any],
                                               staff: Callable[[str], Staff]) -> None:
    app_no = run(engine, clock, scenarios["pv_380v"], stop_after=3).app_no
    response = staff("manager1").get(f"/applications/{app_no}/diagram.json")
    assert response.status_code == 200 and response.is_json
    body = response.get_json()
    trace = engine.application_trace(app_no)
    assert body["xml"] == trace.xml and 'id="pv"' in body["xml"]
    assert body["completed"] == list(trace.completed) and "pv_site_survey" in body["completed"]
    assert body["active"] == list(trace.active) == [t.node_id for t in engine.application(app_no).open_tasks]
    assert body["flows"] == list(trace.flows) and body["flows"]


def test_viewer_page_loads_bpmn_js_from_vendor_and_passes_only_a_url(
        engine: Engine, clock: Clock, scenarios: dict[str, Any], staff: Callable[[str], Staff]) -> None:
    app_no = run(engine, clock, scenarios["lv_residential"], stop_after=1).app_no
    user = staff("manager1")
    page = page_text(user.get(f"/applications/{app_no}"))
    assert "/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js" in page
    for css in ("assets/diagram-js.css", "assets/bpmn-js.css", "assets/bpmn-font/css/bpmn-embedded.css"):
        assert f"/vendor/bpmn-js/{css}" in page
    assert f'data-diagram-url="/applications/{app_no}/diagram.json"' in page and "/static/viewer.js" in page
    inline = [s for s in re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S) if s[1].strip()]
    assert inline == []
    assert user.get("/vendor/bpmn-js/../../package.json").status_code == 404
    assert user.get("/vendor/bpmn-js/%2e%2e/%2e%2e/package.json").status_code == 404
    assert user.get("/vendor/left-pad/index.js").status_code == 404


def test_unknown_application_and_document_are_404_in_chinese(engine: Engine, staff: Callable[[str], Staff]) -> None:
    user = staff("manager1")
    for url in ("/applications/HV20990101000001", "/applications/HV20990101000001/diagram.json",
                "/documents/00000000-0000-0000-0000-000000000000",
                "/documents/00000000-0000-0000-0000-000000000000/pdf"):
        response = user.get(url)
        assert response.status_code == 404, url
        assert "不存在" in response.get_data(as_text=True)


def test_anonymous_visitors_go_to_login(client: Staff) -> None:
    for url in ("/applications/", "/applications/HV20261123000001", "/applications/HV20261123000001/diagram.json",
                "/documents/x", "/documents/x/pdf"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


# ----------------------------------------------------------------------------- documents


def test_upload_is_listed_and_downloads_with_a_utf8_filename(engine: Engine, clock: Clock,
                                                             scenarios: dict[str, Any],
                                                             staff: Callable[[str], Staff]) -> None:
    scenario = scenarios["hv_solo"]
    result = run(engine, clock, scenario, stop_after=5)
    step = scenario.steps[5]
    (task,) = [t for t in result.ready_tasks if t.node_id == step.node == "hv_completion_request"]
    content = b"%PDF-1.4 fake report"
    do_field_work(engine, task.id, actor_for(engine, task.role, task.assignee))
    engine.complete(task.id, actor_for(engine, task.role, task.assignee), step.data,
                    [Upload("completion_report", "竣工报告.pdf", "application/pdf", content)])
    (doc,) = engine.application(result.app_no).documents
    user = staff("auditor")
    page = page_text(user.get(f"/applications/{result.app_no}"))
    assert "上传资料" in page and "竣工报告.pdf" in page and f'href="/documents/{doc.id}"' in page
    assert "上传资料 1 份" in page  # the timeline says the step came with a file
    response = user.get(f"/documents/{doc.id}")
    assert response.status_code == 200 and response.data == content
    assert response.headers["Content-Type"] == "application/pdf"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment") and "filename*=UTF-8''%E7%AB%A3%E5%B7%A5%E6%8A%A5%E5%91%8A.pdf" \
        in disposition
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_contract_downloads_as_docx_and_as_pdf(engine: Engine, clock: Clock, scenarios: dict[str, Any],
                                               staff: Callable[[str], Staff]) -> None:
    app_no = run(engine, clock, scenarios["lv_residential"]).app_no
    docs = engine.application(app_no).documents
    docx = next(d for d in docs if d.filename.endswith(".docx"))
    html = next(d for d in docs if d.media_type == "text/html")
    user = staff("manager1")
    response = user.get(f"/documents/{docx.id}")
    assert response.status_code == 200 and response.data[:2] == b"PK" and len(response.data) == docx.size
    assert response.headers["Content-Type"] == docx.media_type
    assert f'filename={docx.filename}' in response.headers["Content-Disposition"] \
        or f'filename="{docx.filename}"' in response.headers["Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    served_html = user.get(f"/documents/{html.id}")
    assert served_html.headers["Content-Disposition"].startswith("attachment")  # never rendered in our origin
    # Renders the PDF on first request: about a second.
    pdf = user.get(f"/documents/{html.id}/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert pdf.headers["Content-Type"] == "application/pdf" and ".pdf" in pdf.headers["Content-Disposition"]
    page = page_text(user.get(f"/applications/{app_no}"))
    kept = next(d for d in engine.application(app_no).documents if d.media_type == "application/pdf")
    assert f'href="/documents/{kept.id}"' in page  # later the kept PDF is offered directly
    from_docx = user.get(f"/documents/{docx.id}/pdf")  # the contract's DOCX names the same PDF
    assert from_docx.status_code == 200 and from_docx.data == pdf.data
    assert user.get(f"/documents/{kept.id[:8]}xyz/pdf").status_code == 404


def test_durations_read_like_a_clerk_says_them() -> None:
    from webui.applications import duration_text

    start = datetime(2026, 1, 1, 9, 0)
    assert duration_text(start, datetime(2026, 1, 1, 9, 0, 30)) == "不到1分钟"
    assert duration_text(start, datetime(2026, 1, 1, 9, 5)) == "5分"
    assert duration_text(start, datetime(2026, 1, 1, 11, 15)) == "2小时15分"
    assert duration_text(start, datetime(2026, 1, 1, 12, 0)) == "3小时"
    assert duration_text(start, datetime(2026, 1, 4, 11, 0)) == "3天2小时"
