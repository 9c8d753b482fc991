"""The modeller at the level of a desktop BPMN modeller, driven in Chromium as the process analyst would:
open a .bpmn from disk and download BPMN and SVG; bpmn-js in Chinese with zoom, fit, a minimap and a palette
that leaves the diagram clear; a properties panel for every marker the gate knows and a form editor, so that a
merged node gets its form and marks without editing files; problems while drawing, one per cause, in
Chinese; a warning before leaving unsaved edits; drafts deleted; the token simulation and the example paths
played on a draft."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from tests.browser.conftest import REPO, LiveServer, Person, initialised_server
from tests.browser.flow import PATHS, assert_clean, page_errors
from tests.browser.test_modeller import (BPMN, MID_INSPECTION, REMOVE_MID_INSPECTION, drop_mid_inspection_clocks,
                                         open_modeller, parse, save)

SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
CJK = re.compile(r"[\u4e00-\u9fff]")
ENGLISH = re.compile(r"[A-Za-z]{3,}[ ,.:;]+[A-Za-z]{3,}")


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of this module's own: these tests deploy new versions of hv."""
    server = initialised_server(tmp_path_factory.mktemp("modeller-editor"))
    yield server
    server.stop()


def select(person: Person, element_id: str) -> None:
    """Bring an element to the middle of the canvas and select it (its context pad opens beside it)."""
    person.page.evaluate("id => window.baozhuangModeller.reveal(id)", element_id)


def element_name(person: Person, element_id: str) -> str:
    return str(person.page.evaluate("id => window.baozhuangModeler.get('elementRegistry').get(id).businessObject.name",
                                    element_id))


def wait_for_problems(person: Person, count: int) -> None:
    person.page.wait_for_function("n => document.querySelectorAll('#modeller-problems li.problem').length === n", arg=count)


def test_open_a_bpmn_file_from_disk_and_download_it_as_bpmn_and_svg(person: Person, tmp_path: Path) -> None:
    page = person.page
    person.login("analyst")
    open_modeller(person, "/modeller/hv/edit")
    edited = (REPO / "processes" / "hv.bpmn").read_text(encoding="utf-8").replace('name="客户经理回访"', 'name="电话回访"', 1)
    disk = tmp_path / "hv-edited.bpmn"
    disk.write_text(edited, encoding="utf-8")
    page.set_input_files("#modeller-open", str(disk))
    # importing the whole HV diagram into the canvas is the slowest thing a page does here: on a busy machine
    # it has taken longer than the default wait
    page.wait_for_selector("#modeller-status:has-text('已打开文件「hv-edited.bpmn」')", timeout=60_000)
    assert element_name(person, "hv_follow_up") == "电话回访"
    assert page.locator("#modeller-deploy").is_disabled()  # opened, not saved
    page.wait_for_selector("#modeller-problems .ok-text")  # checked while open: it passes the gate

    with page.expect_download() as xml_download:
        page.click("#modeller-download-xml")
    assert xml_download.value.suggested_filename == "hv.bpmn"
    downloaded = parse(Path(xml_download.value.path()).read_bytes())
    assert downloaded.find(f".//{{{BPMN}}}userTask[@id='hv_follow_up']").get("name") == "电话回访"
    shipped = parse((REPO / "processes" / "hv.bpmn").read_bytes())
    assert len(list(downloaded.iter(f"{{{SPIFF}}}property"))) == len(list(shipped.iter(f"{{{SPIFF}}}property")))

    with page.expect_download() as svg_download:
        page.click("#modeller-download-svg")
    assert svg_download.value.suggested_filename == "hv.svg"
    svg = Path(svg_download.value.path()).read_text(encoding="utf-8")
    assert "<svg" in svg and "电话回访" in svg

    not_bpmn = tmp_path / "notes.bpmn"
    not_bpmn.write_text("<html><body>会议纪要</body></html>", encoding="utf-8")
    page.once("dialog", lambda dialog: dialog.accept())  # "the canvas has unsaved edits: replace it?"
    page.set_input_files("#modeller-open", str(not_bpmn))
    page.wait_for_selector("#modeller-status:has-text('不是可以打开的 BPMN 流程图')")
    person.shot("modeller-open-file")
    assert page_errors(person) == []


def test_the_modeller_speaks_chinese_and_keeps_the_diagram_in_view(person: Person) -> None:
    page = person.page
    person.login("analyst")
    open_modeller(person, "/modeller/hv/edit")
    palette = page.eval_on_selector_all(".djs-palette .entry", "els => els.map(e => e.getAttribute('aria-label'))")
    assert len(palette) >= 10 and all(CJK.search(t) and not ENGLISH.search(t) for t in palette), palette

    select(person, "hv_follow_up")
    pad = page.eval_on_selector_all(".djs-context-pad .entry[title]", "els => els.map(e => e.title)")
    assert "删除" in pad and "追加任务" in pad and all(CJK.search(t) for t in pad), pad
    page.click(".djs-context-pad .entry[data-action='replace']")
    page.wait_for_selector(".djs-popup .entry")
    replace = page.eval_on_selector_all(".djs-popup .entry", "els => els.map(e => e.textContent.trim() || e.title)")
    assert "服务任务" in replace and "人工任务" in replace, replace
    assert not [t for t in replace if ENGLISH.search(t) or (t and not CJK.search(t))], replace
    person.shot("modeller-replace-menu")
    page.keyboard.press("Escape")

    page.click("#modeller-search")
    search = page.locator(".djs-search-container input")
    search.wait_for()
    assert search.get_attribute("aria-label") == "在图中搜索"
    search.fill("回访")
    search.press("End")  # the search pad searches on a key going up
    page.wait_for_selector(".djs-search-results .djs-search-result")
    search.press("Enter")
    page.wait_for_function("() => window.baozhuangModeler.get('selection').get().some(e => e.id === 'hv_follow_up')")
    page.keyboard.press("Escape")
    assert "令牌模拟" in page.locator(".bts-toggle-mode").inner_text()

    zoom = "() => window.baozhuangModeler.get('canvas').zoom()"
    before = page.evaluate(zoom)
    page.click("#modeller-zoom-in")
    assert page.evaluate(zoom) > before
    page.click("#modeller-zoom-out")
    page.click("#modeller-zoom-out")
    assert page.evaluate(zoom) < before
    page.click("#modeller-fit")
    assert page.locator(".djs-minimap.open").count() == 1
    page.click("#modeller-minimap-toggle")
    assert page.locator(".djs-minimap.open").count() == 0
    page.click("#modeller-minimap-toggle")
    # the palette stands left of every shape of the diagram, never over one
    clear = page.evaluate("""() => {
        const palette = document.querySelector('.djs-palette').getBoundingClientRect();
        const shapes = [...document.querySelectorAll('.djs-shape')].map(s => s.getBoundingClientRect())
            .filter(r => r.width > 0);
        return { right: palette.right, left: Math.min(...shapes.map(r => r.left)), shapes: shapes.length };
    }""")
    assert clear["shapes"] > 40 and clear["right"] < clear["left"], clear
    person.shot("modeller-chinese")
    assert_clean(person, "modeller in Chinese")


def add_field(person: Person, key: str, title: str, kind: str, required: bool, options: str = "") -> None:
    page = person.page
    page.click("#form-editor button[name=add-field]")
    row = page.locator("#form-fields-rows tr").last
    row.locator("input[name=field-key]").fill(key)
    row.locator("input[name=field-title]").fill(title)
    row.locator("select[name=field-type]").select_option(kind)
    if required:
        row.locator("input[name=field-required]").check()
    if options:
        row.locator("textarea[name=field-options]").fill(options)


MERGE_ARCHIVE_AND_FOLLOW_UP = """() => {
  const modeler = window.baozhuangModeler;
  const registry = modeler.get('elementRegistry');
  const modeling = modeler.get('modeling');
  modeling.removeElements([registry.get('hv_follow_up')]);  // bpmn-js joins 归档 to 办结 itself
  modeling.updateLabel(registry.get('hv_archive'), '归档与回访');
  return registry.get('hv_archive').outgoing.map(flow => flow.target.id);
}"""


def test_a_merged_node_gets_a_new_form_a_site_work_mark_and_a_time_limit_without_editing_files(
        person: Person, live_server: LiveServer) -> None:
    page = person.page
    person.login("analyst")
    person.go("/modeller/")
    newest = int(page.locator("#process-hv tr[data-version]").first.get_attribute("data-version") or 0)
    open_modeller(person, f"/modeller/hv/edit?version={newest}")
    assert page.evaluate(MERGE_ARCHIVE_AND_FOLLOW_UP) == ["hv_end"]
    select(person, "hv_archive")
    panel = page.locator("#modeller-panel")
    # every marker the gate knows for a user task, with its values in Chinese
    for marker in ("assignee", "timeLimit", "clock", "fieldJob", "reviewMeeting"):
        assert panel.locator(f"[data-marker='{marker}']").count() == 1, marker
    field_job = panel.locator("select[data-marker='fieldJob']")
    assert "现场勘查" in field_job.inner_text() and "survey" not in field_job.inner_text()
    assert "设计文件审查" in panel.locator("select[data-marker='reviewMeeting']").inner_text()

    panel.locator("button[name=new-form]").click()
    page.wait_for_selector("#modeller-form-dialog[open]")
    page.fill("#form-editor input[name=form-file]", "hv_archive_follow_up")
    page.fill("#form-editor input[name=form-title]", "归档与回访")
    add_field(person, "满意度", "满意度", "integer", True)
    page.click("#form-dialog-apply")
    assert "字段名只能用小写英文字母" in page.locator("#form-editor-errors").inner_text()
    assert page.locator("#modeller-form-dialog[open]").count() == 1  # kept open, nothing lost
    page.locator("#form-fields-rows tr").last.locator("input[name=field-key]").fill("satisfaction_score")
    add_field(person, "archive_no", "档案号", "text", True)
    add_field(person, "follow_up_result", "回访结果", "text", True, "satisfied=满意\nunsatisfied=不满意")
    add_field(person, "followed_up_on", "回访日期", "date", False)
    person.shot("modeller-form-editor")
    page.click("#form-dialog-apply")
    page.wait_for_selector("#modeller-form-dialog:not([open])", state="attached")
    assert panel.locator("select[name=form]").input_value() == "hv_archive_follow_up.json"

    field_job.select_option("survey")
    limit = panel.locator("input[data-marker='timeLimit']")
    limit.fill("5")
    limit.press("Tab")
    page.fill("#modeller-comment", "归档与回访合并为一个环节")
    body = save(person)
    assert body["problems"] == [], body["problems"]
    forms = page.evaluate("async url => (await fetch(url)).json()", f"/modeller/hv/forms?draft={body['draft_id']}")
    assert forms["own"] == sorted({*forms["own"], "hv_archive_follow_up.json"})
    schema = forms["forms"]["hv_archive_follow_up.json"]
    assert schema["title"] == "归档与回访" and schema["required"] == ["satisfaction_score", "archive_no",
                                                                         "follow_up_result"]
    assert schema["properties"]["follow_up_result"]["enum"] == ["satisfied", "unsatisfied"]
    assert schema["properties"]["follow_up_result"]["x-enumNames"] == ["满意", "不满意"]
    assert schema["properties"]["followed_up_on"]["format"] == "date"

    page.click("#modeller-deploy")
    page.wait_for_selector("#modeller-deploy-dialog[open]")
    summary = page.locator("#deploy-dialog-summary").inner_text()
    assert "回访" in summary and "归档与回访" in summary, summary
    assert f"部署为第 {newest + 1} 版" in page.locator("#deploy-dialog-versions").inner_text()
    person.shot("modeller-deploy-confirm")
    with page.expect_response(lambda r: "/deploy" in r.url) as info:
        page.click("#deploy-dialog-confirm")
    assert info.value.status == 200
    page.wait_for_selector("#modeller-status.deployed")

    deployed = parse(page.evaluate("async url => (await fetch(url)).text()",
                                   f"/modeller/hv/xml?version={newest + 1}").encode("utf-8"))
    archive = deployed.find(f".//{{{BPMN}}}userTask[@id='hv_archive']")
    props = {p.get("name"): p.get("value") for p in archive.iter(f"{{{SPIFF}}}property")}
    assert props == {**props, "formJsonSchemaFilename": "hv_archive_follow_up.json", "fieldJob": "survey",
                     "timeLimit": "5"}
    version_forms = page.evaluate("async url => (await fetch(url)).json()", f"/modeller/hv/forms?version={newest + 1}")
    assert version_forms["forms"]["hv_archive_follow_up.json"] == schema
    assert_clean(person, "merged node deployed")


def test_problems_while_drawing_one_per_cause_in_chinese_and_saving_after_deleting_a_marked_element(
        person: Person) -> None:
    page = person.page
    person.login("analyst")
    open_modeller(person, "/modeller/hv/edit?version=1")
    page.wait_for_selector("#modeller-problems .ok-text")
    select(person, "hv_end")
    page.click(".djs-context-pad .entry[data-action='delete']")
    wait_for_problems(person, 1)  # not one strip per node that can no longer finish
    problem = page.locator("#modeller-problems li.problem")
    assert problem.get_attribute("data-element-id") == "hv_follow_up"
    assert "「客户经理回访」没有流出的顺序流" in problem.inner_text()
    assert page.locator('.problem-overlay[data-element-id="hv_follow_up"]').count() == 1
    assert "发现 1 个问题" in page.locator("#modeller-status").inner_text()
    assert page.locator("#modeller-deploy").is_disabled()

    select(person, "hv_site_survey_solo")
    limit = page.locator("#modeller-panel input[data-marker='timeLimit']")
    limit.fill("三天")
    limit.press("Tab")
    wait_for_problems(person, 2)
    listed = page.locator("#modeller-problems").inner_text()
    assert "流程走向（1）" in listed and "条件与表达式（1）" in listed
    assert "「三天」不是数据字段名" in listed
    assert not ENGLISH.search(re.sub(r"（[^）]*）|「[^」]*」|'[^']*'", "", listed)), listed
    person.shot("modeller-live-problems")

    select(person, "hv_follow_up")  # the element that carries the marker goes too
    page.click(".djs-context-pad .entry[data-action='delete']")
    body = save(person)
    status = page.locator("#modeller-status").inner_text()
    assert "保存失败" not in status and f"已保存为草稿 #{body['draft_id']}" in status
    assert {p["element_id"] for p in body["problems"]} == {"hv_archive", "hv_site_survey_solo"}
    assert page.locator('.problem-overlay[data-element-id="hv_archive"]').count() == 1
    assert page_errors(person) == []


def test_leaving_with_unsaved_edits_warns_and_a_draft_can_be_deleted(person: Person) -> None:
    page = person.page
    person.login("analyst")
    open_modeller(person, "/modeller/hv/edit?version=1")
    select(person, "hv_follow_up")
    name = page.locator("#modeller-panel input[name=name]")
    name.fill("客户回访（草稿，待删除）")
    name.press("Tab")
    draft_id = save(person)["draft_id"]
    name.fill("再次修改但不保存")
    name.press("Tab")
    dialogs: list[str] = []

    def leave(dialog: Any) -> None:
        dialogs.append(dialog.type)
        dialog.accept()

    page.on("dialog", leave)
    person.go("/modeller/")
    assert dialogs == ["beforeunload"]
    row = page.locator(f"tr[data-draft='{draft_id}']")
    assert row.count() == 1
    row.get_by_role("button", name="删除").click()
    page.wait_for_selector(f".flash:has-text('已删除高压流程的草稿 #{draft_id}')")
    assert dialogs == ["beforeunload", "confirm"]
    assert page.locator(f"tr[data-draft='{draft_id}']").count() == 0
    assert person.go(f"/modeller/hv/edit?draft={draft_id}").status == 404
    page.remove_listener("dialog", leave)


def test_token_simulation_and_example_paths_on_a_draft(person: Person) -> None:
    page = person.page
    person.login("analyst")
    open_modeller(person, "/modeller/hv/edit?version=1")
    page.click("#modeller-simulate")
    page.wait_for_selector("#modeller-simulate.active")
    page.wait_for_selector("#modeller-canvas .simulation")
    assert "令牌模拟" in page.locator(".bts-toggle-mode").inner_text()
    page.click(".djs-overlays[data-container-id='hv_start'] .bts-context-pad")
    page.click(".bts-palette [title='模拟日志']")
    page.wait_for_selector(".bts-log .bts-entry:has-text('流程开始')")
    person.shot("modeller-token-simulation")
    page.click("#modeller-simulate")
    page.wait_for_selector("#modeller-simulate:not(.active)")

    hv_paths = [key for key, path in PATHS.items() if path["variant"] == "hv"]
    page.click("#modeller-scenarios-run")
    rows = page.locator("#modeller-scenarios-rows tr[data-completed]")
    rows.first.wait_for()
    assert rows.count() == len(hv_paths)
    assert page.locator("#modeller-scenarios-rows tr[data-completed='false']").count() == 0
    page.locator("#modeller-scenarios-rows tr[data-scenario='hv_team']").click()
    covered = "#modeller-canvas .djs-element.scenario-covered[data-element-id='{}']"
    assert page.locator(covered.format("hv_site_survey_team")).count() == 1
    assert page.locator(covered.format("hv_site_survey_solo")).count() == 0
    person.shot("modeller-example-paths")

    page.evaluate(REMOVE_MID_INSPECTION, [MID_INSPECTION, "hv_gw_design_review_result", "hv_gw_review_skip_merge"])
    drop_mid_inspection_clocks(page)
    page.wait_for_selector("#modeller-problems .ok-text")
    page.click("#modeller-scenarios-run")
    stopped = page.locator("#modeller-scenarios-rows tr[data-scenario='hv_mid_inspection_sendback']")
    stopped.wait_for()
    page.wait_for_selector("#modeller-scenarios-rows tr[data-scenario='hv_mid_inspection_sendback'][data-completed='false']")
    assert "停在「客户申请中间检查」" in stopped.inner_text() and "hv_" not in stopped.inner_text()
    assert page.locator("#modeller-scenarios-rows tr[data-scenario='hv_solo'][data-completed='true']").count() == 1
    assert page_errors(person) == []
