"""The process analyst at the modeller: a load/save round trip keeps every extension element and the layout;
removing 中间检查 and deploying changes the path new applications take; an unsafe condition is shown on
its element and blocks deployment; every MIWG reference diagram opens."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from tests.browser.conftest import REPO, LiveServer, Person, initialised_server
from tests.browser.flow import (
    PATHS,
    assert_clean,
    diagram_shot,
    open_tasks,
    page_errors,
    run_path,
    start_with_cli,
    wait_for_diagram,
)

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"
MIWG = Path(__file__).resolve().parents[1] / "fixtures" / "miwg"

# 中间检查 with the customer's request for it, its send-back loop: the two gateways around it and 隐蔽工程整改.
MID_INSPECTION = ["hv_mid_inspection_request", "hv_gw_mid_inspection_loop", "hv_mid_inspection",
                  "hv_gw_mid_inspection_result", "hv_concealed_rectify"]


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of this module's own: deploying an edited hv must not change the other browser tests' hv."""
    server = initialised_server(tmp_path_factory.mktemp("modeller"))
    yield server
    server.stop()


def open_modeller(person: Person, path: str) -> None:
    person.go(path)
    person.page.wait_for_selector("#modeller.modeller-ready .djs-container")
    person.page.wait_for_function("() => window.baozhuangModeler && !document.getElementById('modeller-save').disabled")


def save(person: Person) -> dict[str, Any]:
    """Click 保存并校验 and return the JSON the server answered."""
    with person.page.expect_response(lambda r: r.url.endswith("/modeller/hv/drafts")) as info:
        person.page.click("#modeller-save")
    response = info.value
    assert response.status == 200, response.text()
    person.page.wait_for_selector("#modeller-status:has-text('已保存为草稿')")
    return dict(response.json())


def draft_xml(person: Person, draft_id: int) -> bytes:
    text = person.page.evaluate("async url => (await fetch(url)).text()", f"/modeller/hv/xml?draft={draft_id}")
    return str(text).encode("utf-8")


def parse(data: bytes) -> Any:
    return etree.fromstring(data, etree.XMLParser(remove_blank_text=True, resolve_entities=False))


def extension_elements(root: Any) -> set[tuple[str, bytes]]:
    """(owner id, canonical XML of one spiffworkflow extension element) for every one in the diagram."""
    out = set()
    for ext in root.iter(f"{{{BPMN}}}extensionElements"):
        owner = ext.getparent().get("id")
        for child in ext:
            out.add((owner, etree.tostring(child, method="c14n", exclusive=True)))
    return out


def layout(root: Any) -> tuple[dict[str, tuple[float, ...]], dict[str, int]]:
    """Shape bounds per element and the number of waypoints per edge."""
    shapes = {}
    for shape in root.iter(f"{{{BPMNDI}}}BPMNShape"):
        bounds = shape.find(f"{{{DC}}}Bounds")
        shapes[shape.get("bpmnElement")] = tuple(float(bounds.get(k)) for k in ("x", "y", "width", "height"))
    edges = {edge.get("bpmnElement"): len(edge.findall(f"{{{DI}}}waypoint")) for edge in root.iter(f"{{{BPMNDI}}}BPMNEdge")}
    return shapes, edges


def test_saving_without_edits_keeps_extension_elements_and_layout(person: Person) -> None:
    person.login("analyst")
    open_modeller(person, "/modeller/hv/edit?version=1")
    person.shot("modeller-hv")
    body = save(person)
    assert body["problems"] == [] and body["deployable"] is True
    saved = parse(draft_xml(person, body["draft_id"]))
    shipped = parse((REPO / "processes" / "hv.bpmn").read_bytes())
    assert len(extension_elements(shipped)) >= 25  # every user and service task has some
    assert extension_elements(saved) == extension_elements(shipped)
    assert layout(saved) == layout(shipped)
    assert not person.page.locator("#modeller-deploy").is_disabled()
    assert_clean(person, "modeller round trip")


REMOVE_MID_INSPECTION = """([ids, from, to]) => {
  const modeler = window.baozhuangModeler;
  const registry = modeler.get('elementRegistry');
  const modeling = modeler.get('modeling');
  modeling.removeElements(ids.map(id => registry.get(id)));
  const gateway = registry.get(from);
  const flow = modeling.connect(gateway, registry.get(to), { type: 'bpmn:SequenceFlow' });
  modeling.updateLabel(flow, '通过');
  modeling.updateProperties(gateway, { default: flow.businessObject });
  return flow.id;
}"""


def drop_mid_inspection_clocks(page: Any) -> None:
    """The policy clocks go with the nodes: 中间检查's is deleted, the plan's validity no longer guards the request
    (edited in the properties panel of the pool, as an analyst does)."""
    page.evaluate("() => { const m = window.baozhuangModeler;"
                  " m.get('selection').select(m.get('elementRegistry').get('hv_participant')); }")
    mid_clock = page.locator("#modeller-panel textarea[name='policyClock.mid_inspection']")
    mid_clock.fill("")
    mid_clock.dispatch_event("change")
    validity = page.locator("#modeller-panel textarea[name='policyClock.plan_validity']")
    validity.fill(validity.input_value().replace("hv_mid_inspection_request, ", ""))
    validity.dispatch_event("change")


def test_analyst_removes_mid_inspection_and_new_applications_skip_it(person: Person, live_server: LiveServer,
                                                                     tmp_path: Path) -> None:
    page = person.page
    person.login("analyst")
    person.go("/modeller/")
    page.get_by_role("link", name="流程设计").wait_for()
    page.locator("#process-hv").get_by_role("link", name="编辑最新版（第 1 版）").click()
    open_modeller(person, page.url.replace(live_server.url, ""))
    new_flow = page.evaluate(REMOVE_MID_INSPECTION, [MID_INSPECTION, "hv_gw_design_review_result",
                                                       "hv_gw_review_skip_merge"])
    assert page.locator("#modeller-deploy").is_disabled()  # edited, not saved
    drop_mid_inspection_clocks(page)
    person.shot("modeller-hv-clocks")
    page.fill("#modeller-comment", "改革：取消中间检查")
    body = save(person)
    assert body["problems"] == [], body["problems"]
    assert page.locator("#modeller-problems").inner_text() == "校验通过：没有发现问题。"
    person.shot("modeller-hv-saved-clean")
    page.click("#modeller-deploy")  # shows what changes and asks first
    page.wait_for_selector("#modeller-deploy-dialog[open] #deploy-dialog-summary li")
    assert "中间检查" in page.locator("#deploy-dialog-summary").inner_text()
    with page.expect_response(lambda r: "/deploy" in r.url) as info:
        page.click("#deploy-dialog-confirm")
    assert info.value.status == 200
    page.wait_for_selector("#modeller-status.deployed")
    assert "第 2 版" in page.locator("#modeller-status").inner_text()
    assert page.locator("#modeller-deploy").is_disabled()
    person.go("/modeller/")
    assert "改革：取消中间检查" in page.locator('#process-hv tr[data-version="2"]').inner_text()
    assert_clean(person, "modeller deploy")

    app_no = start_with_cli(live_server, tmp_path, "hv_mid_inspection_sendback", customer_name="改革验证机械有限公司")
    steps = PATHS["hv_mid_inspection_sendback"]["steps"]
    through_design = steps[:[node for node, _ in steps].index("hv_design_review") + 1]
    run_path(person, live_server, app_no, through_design)
    waiting = open_tasks(live_server, app_no)
    assert "hv_completion_request" in waiting and "hv_mid_inspection" not in waiting

    person.go(f"/applications/{app_no}")
    wait_for_diagram(person)
    assert "第 2 版" in page.locator(".app-facts").inner_text()
    diagram = page.locator("#diagram")
    for gone in MID_INSPECTION:
        assert diagram.locator(f'[data-element-id="{gone}"]').count() == 0
    assert diagram.locator(f'.djs-connection.taken[data-element-id="{new_flow}"]').count() == 1
    assert diagram.locator('.djs-element.active[data-element-id="hv_completion_request"]').count() == 1
    diagram_shot(person, "modeller-reformed-application")
    assert_clean(person, "application on the reformed version")


def test_an_unsafe_condition_is_shown_on_its_flow_and_blocks_deploy(person: Person) -> None:
    page = person.page
    person.login("analyst")
    open_modeller(person, "/modeller/hv/edit?version=1")
    page.evaluate("""id => { const m = window.baozhuangModeler;
                     m.get('selection').select(m.get('elementRegistry').get(id)); }""", "hv_f_design_fail")
    condition = page.locator("#modeller-panel textarea[name=condition]")
    assert condition.input_value() == 'design_review_result == "fail"'
    condition.fill("__import__('os')")
    condition.press("Tab")  # change fires when the field is left
    body = save(person)
    assert body["deployable"] is False
    assert any(p["element_id"] == "hv_f_design_fail" for p in body["problems"])
    overlay = page.locator('.problem-overlay[data-element-id="hv_f_design_fail"]')
    overlay.wait_for()
    assert "不允许" in overlay.inner_text()
    assert page.locator('.djs-connection.has-problem[data-element-id="hv_f_design_fail"]').count() == 1
    assert "hv_f_design_fail" in page.locator("#modeller-problems").inner_text()
    assert page.locator("#modeller-deploy").is_disabled()
    person.shot("modeller-problem-overlay")
    stored = draft_xml(person, body["draft_id"]).decode()
    assert "__import__" in stored
    assert page_errors(person) == []


def test_every_miwg_reference_diagram_opens(person: Person) -> None:
    files = sorted(MIWG.rglob("*.bpmn"))
    assert len(files) == 42
    person.login("analyst")
    open_modeller(person, "/modeller/hv/edit")
    failures = {}
    for path in files:
        result = person.page.evaluate("""async xml => {
            try { const warnings = await window.baozhuangModeller.open(xml);
                  return { ok: true, warnings: warnings.length,
                           shapes: window.baozhuangModeler.get('elementRegistry').getAll().length }; }
            catch (err) { return { ok: false, error: String(err && err.message || err) }; } }""",
                                      path.read_text(encoding="utf-8"))
        if not result["ok"] or result["shapes"] < 2:
            failures[str(path.relative_to(MIWG))] = result
    assert failures == {}, json.dumps(failures, ensure_ascii=False, indent=1)
    person.shot("modeller-miwg-last")
    assert page_errors(person) == []


def test_rename_compare_preview_and_migrate_a_running_application(person: Person, live_server: LiveServer,
                                                                  tmp_path: Path) -> None:
    page = person.page
    app_no = start_with_cli(live_server, tmp_path, "hv_solo", customer_name="迁移验证电子有限公司")
    person.login("analyst")
    person.go("/modeller/")
    before = int(page.locator("#process-hv tr[data-version]").first.get_attribute("data-version") or 0)
    open_modeller(person, f"/modeller/hv/edit?version={before}")
    page.evaluate("""id => { const m = window.baozhuangModeler;
                     m.get('selection').select(m.get('elementRegistry').get(id)); }""", "hv_follow_up")
    name = page.locator("#modeller-panel input[name=name]")
    name.fill("客户满意度回访")
    name.press("Tab")
    limit = page.locator("#modeller-panel input[name=timeLimit]")
    limit.fill("3")
    limit.press("Tab")
    body = save(person)
    assert body["problems"] == []
    saved = parse(draft_xml(person, body["draft_id"]))
    follow_up = saved.find(f".//{{{BPMN}}}userTask[@id='hv_follow_up']")
    assert follow_up.get("name") == "客户满意度回访"
    props = {p.get("name"): p.get("value") for p in follow_up.iter("{http://spiffworkflow.org/bpmn/schema/1.0/core}property")}
    assert props["timeLimit"] == "3" and props["formJsonSchemaFilename"] == "hv_follow_up.json"

    page.locator("#modeller-impact").click()
    page.wait_for_url(f"**/modeller/drafts/{body['draft_id']}/impact")
    assert page.locator(".impact-summary li").count() >= 1
    assert page.locator(f'table.impact-apps tr[data-app-no="{app_no}"]').count() == 1
    person.shot("modeller-impact")
    assert_clean(person, "impact page")

    page.go_back()
    open_modeller(person, page.url.replace(live_server.url, ""))
    page.click("#modeller-deploy")
    page.wait_for_selector("#modeller-deploy-dialog[open]")
    with page.expect_response(lambda r: "/deploy" in r.url):
        page.click("#deploy-dialog-confirm")
    page.wait_for_selector("#modeller-status.deployed")
    after = before + 1

    person.go(f"/modeller/hv/diff?from={before}&to={after}")
    page.wait_for_selector("#diff-from.diagram-ready")
    page.wait_for_selector("#diff-to.diagram-ready")
    assert "客户满意度回访" in page.locator(".diff-summary").inner_text()
    assert page.locator('#diff-to .djs-element.diff-changed[data-element-id="hv_follow_up"]').count() == 1
    person.shot("modeller-diff")
    assert_clean(person, "diff page")

    person.go(f"/modeller/hv/migrate?to={after}")
    page.fill("input[name=app_nos]", app_no)
    page.get_by_role("button", name="试算迁移方案").click()
    row = page.locator(f'table.migrate-plan tr[data-app-no="{app_no}"]')
    assert "可迁移" in row.inner_text(), row.inner_text()
    page.locator("#migrate-run button[type=submit]").click()
    page.wait_for_selector("#migrate-result:not([hidden])")
    assert page.locator("#migrate-progress").evaluate("p => p.value === p.max")
    assert app_no in page.locator("#migrate-result .migrated-count").inner_text()
    person.shot("modeller-migrated")
    assert_clean(person, "migration page")
    person.go(f"/applications/{app_no}")
    assert f"第 {after} 版" in page.locator(".app-facts").inner_text()
