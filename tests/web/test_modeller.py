"""The analysts' pages: versions and drafts, the XML the modeller loads, save → problems → deploy, the
version diff, the impact preview and the migration of running applications."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine import Engine
from tests.conftest import PROCESSES, Staff

HV = (PROCESSES / "hv.bpmn").read_text(encoding="utf-8")


def json_post(user: Staff, url: str, body: dict[str, Any]) -> Any:
    """POST JSON the way the modeller page does: the CSRF token in the X-CSRFToken header."""
    return user.client.post(url, json=body, headers={"X-CSRFToken": user.csrf_token()})


REFORM = (Path(__file__).resolve().parents[1] / "engine" / "fixtures" / "hv_reform.bpmn").read_text(encoding="utf-8")
"""hv after the reform: 设计文件审查 and 中间检查 (with their send-backs) removed for every customer."""


def with_unknown_operator(xml: str) -> str:
    changed = xml.replace('serviceTaskOperator id="select_survey_mode"', 'serviceTaskOperator id="no_such_rule"')
    assert changed != xml
    return changed


def with_script_task(xml: str) -> str:
    changed = re.sub(r'<bpmn:serviceTask id="hv_select_survey_mode"(.*?)</bpmn:serviceTask>',
                     '<bpmn:scriptTask id="hv_select_survey_mode" name="确定勘查方式" scriptFormat="python">'
                     '<bpmn:incoming>hv_f_assigned</bpmn:incoming><bpmn:outgoing>hv_f_mode_selected</bpmn:outgoing>'
                     '<bpmn:script>survey_mode = "solo"</bpmn:script></bpmn:scriptTask>', xml, flags=re.DOTALL)
    assert changed != xml
    return changed


@pytest.fixture
def analyst(staff: Callable[[str], Staff]) -> Staff:
    return staff("analyst")


def test_only_analysts_edit_and_marketing_only_reads(staff: Callable[[str], Staff]) -> None:
    frontdesk, marketing = staff("frontdesk"), staff("marketing")
    for url in ("/modeller/", "/modeller/hv/edit", "/modeller/hv/xml?version=1", "/modeller/hv/diff?from=1&to=1"):
        assert frontdesk.get(url).status_code == 403, url
    assert frontdesk.post("/modeller/drafts/1/deploy").status_code == 403
    assert json_post(frontdesk, "/modeller/hv/drafts", {"xml": HV}).status_code == 403
    assert marketing.get("/modeller/").status_code == 200
    assert marketing.get("/modeller/hv/xml?version=1").status_code == 200
    assert marketing.get("/modeller/hv/edit").status_code == 403
    assert json_post(marketing, "/modeller/hv/drafts", {"xml": HV}).status_code == 403
    assert marketing.get("/modeller/hv/migrate").status_code == 403


def test_anonymous_visitors_are_sent_to_login(client: Staff) -> None:
    response = client.get("/modeller/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_list_shows_versions_with_running_applications(analyst: Staff, engine: Engine,
                                                       scenarios: dict[str, Any]) -> None:
    engine.start("hv", scenarios["hv_solo"].start, "frontdesk")
    engine.start("hv", scenarios["hv_team"].start, "frontdesk")
    page = analyst.get("/modeller/").get_data(as_text=True)
    assert "流程设计" in page  # the nav link
    hv = page[page.index('id="process-hv"'):page.index('id="process-lv"')]
    row = re.search(r'<tr data-version="1">(.*?)</tr>', hv, re.DOTALL)
    assert row, hv
    assert '<td class="running">2</td>' in row.group(1)
    assert "随系统发布的流程" in row.group(1)
    assert "/modeller/hv/edit?version=1" in hv


def test_nav_link_only_for_analysts(staff: Callable[[str], Staff]) -> None:
    assert "流程设计" in staff("analyst").get("/modeller/").get_data(as_text=True)
    assert "/modeller/" not in staff("frontdesk").get("/").get_data(as_text=True)


def test_xml_endpoint_returns_the_version_xml(analyst: Staff, engine: Engine) -> None:
    response = analyst.get("/modeller/hv/xml?version=1")
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    assert response.get_data(as_text=True) == engine.version_xml("hv", 1)
    assert analyst.get("/modeller/hv/xml?version=99").status_code == 404
    assert analyst.get("/modeller/nope/xml").status_code == 404


def edit_config(user: Staff, url: str) -> dict[str, Any]:
    page = user.get(url).get_data(as_text=True)
    match = re.search(r'data-config="([^"]+)"', page)
    assert match, page
    return dict(json.loads(html.unescape(match.group(1))))


def test_edit_page_passes_markers_operators_and_roles_as_data(analyst: Staff, engine: Engine) -> None:
    page = analyst.get("/modeller/hv/edit?version=1").get_data(as_text=True)
    assert "/vendor/modeller-kit/modeller-kit.js" in page
    assert re.findall(r"<script(?![^>]*\bsrc=)", page) == []  # no inline scripts: data rides on data-*
    config = edit_config(analyst, "/modeller/hv/edit?version=1")
    assert config["xmlUrl"] == "/modeller/hv/xml?version=1"
    assert config["formsUrl"] == "/modeller/hv/forms?version=1"
    operator = next(o for o in config["operators"] if o["name"] == "select_survey_mode")
    assert operator["title"] == "确定勘查方式" and operator["required"] == ["capacity_kva"]
    assert "客户经理" in config["roles"]
    # every marker the engine's gate registers, with Chinese names for it and its values
    markers = {m["name"]: m for m in config["markers"]}
    assert set(markers) == {m.name for m in engine.markers()}
    assert {"timeLimit", "clock", "fieldJob", "reviewMeeting", "assignee", "formJsonSchemaFilename"} <= set(markers)
    assert markers["fieldJob"]["title"] == "现场作业" and ["survey", "现场勘查"] in markers["fieldJob"]["values"]
    assert markers["reviewMeeting"]["values"] == [["design_review", "设计文件审查"]]
    assert markers["timeLimit"]["expression"] is True and markers["timeLimit"]["values"] is None
    assert "startEvent" in markers["formJsonSchemaFilename"]["kinds"]
    assert all(re.search(r"[\u4e00-\u9fff]", m["title"]) for m in config["markers"])


def test_forms_of_a_version_and_of_a_draft(analyst: Staff, engine: Engine) -> None:
    body = analyst.get("/modeller/hv/forms?version=1").get_json()
    assert body["forms"]["hv_plan_approval.json"]["title"] == "供电方案审批"
    assert "hv_plan_approval.json" in body["own"] and "lv_accept.json" not in body["own"]
    assert "lv_accept.json" in body["forms"]  # a shipped form a node may be given
    own = {"hv_follow_up.json": {**body["forms"]["hv_follow_up.json"], "title": "回访（新）"}}
    draft_id = json_post(analyst, "/modeller/hv/drafts", {"xml": HV, "forms": own}).get_json()["draft_id"]
    draft_forms = analyst.get(f"/modeller/hv/forms?draft={draft_id}").get_json()
    assert draft_forms["own"] == ["hv_follow_up.json"]
    assert draft_forms["forms"]["hv_follow_up.json"]["title"] == "回访（新）"
    assert analyst.get(f"/modeller/lv/forms?draft={draft_id}").status_code == 404
    assert analyst.get("/modeller/hv/forms?version=9").status_code == 404


MERGED_FORM = {
    "$schema": "https://json-schema.org/draft/2020-12/schema", "title": "方案答复与确认", "type": "object",
    "properties": {
        "plan_confirmed": {"type": "boolean", "title": "客户已确认方案"},
        "reply_method": {"type": "string", "title": "答复方式", "enum": ["written", "online"],
                         "x-enumNames": ["书面", "网上国网"]},
    },
    "required": ["plan_confirmed", "reply_method"], "additionalProperties": False,
}


def with_merged_reply(xml: str) -> str:
    """答复供电方案 given a new form of the draft's own, a site-work mark and a time limit."""
    changed = xml.replace('<spiffworkflow:property name="formJsonSchemaFilename" value="hv_reply_supply_plan.json"/>',
                          '<spiffworkflow:property name="formJsonSchemaFilename" value="hv_merged_reply.json"/>'
                          '<spiffworkflow:property name="fieldJob" value="survey"/>', 1)
    assert changed != xml
    return changed


def test_a_draft_carries_its_own_forms_through_check_save_and_deploy(analyst: Staff, engine: Engine) -> None:
    merged = with_merged_reply(HV)
    missing = json_post(analyst, "/modeller/hv/check", {"xml": merged}).get_json()["problems"]
    assert [(p["code"], p["element_id"]) for p in missing] == [("missing_form", "hv_reply_supply_plan")]
    forms = {"hv_merged_reply.json": MERGED_FORM}
    assert json_post(analyst, "/modeller/hv/check", {"xml": merged, "forms": forms}).get_json() == {"problems": []}
    assert engine.drafts("hv") == []  # checking stores nothing

    saved = json_post(analyst, "/modeller/hv/drafts", {"xml": merged, "forms": forms, "comment": "合并答复"}).get_json()
    assert saved["problems"] == [] and saved["deployable"] is True
    # saving again without forms keeps the forms the draft has
    again = json_post(analyst, "/modeller/hv/drafts", {"xml": merged, "draft_id": saved["draft_id"]}).get_json()
    assert again["problems"] == []

    diff = analyst.get(f"/modeller/drafts/{saved['draft_id']}/diff").get_json()
    assert (diff["from_version"], diff["to_version"]) == (1, 2)
    changed = next(line for line in diff["summary"] if "答复供电方案" in line)
    # properties and their values by the Chinese names the gate's markers give them, forms by their titles
    assert "现场作业 无 改为 现场勘查" in changed and "fieldJob" not in changed and "survey" not in changed
    assert "改为 「方案答复与确认」（hv_merged_reply.json）" in changed

    deployed = json_post(analyst, f"/modeller/drafts/{saved['draft_id']}/deploy", {})
    assert deployed.status_code == 200, deployed.get_data(as_text=True)
    assert engine.version_forms("hv", 2)["hv_merged_reply.json"] == MERGED_FORM
    assert "hv_reply_supply_plan.json" not in engine.version_forms("hv", 2)
    assert '<spiffworkflow:property name="fieldJob" value="survey"/>' in engine.version_xml("hv", 2)


@pytest.mark.parametrize("forms, message", [
    ({"../etc/passwd": {}}, "文件名"),
    ({"a.json": "not an object"}, "JSON 对象"),
    (["a.json"], "对象"),
])
def test_bad_forms_are_refused_with_a_chinese_message(analyst: Staff, engine: Engine, forms: Any,
                                                      message: str) -> None:
    for url in ("/modeller/hv/check", "/modeller/hv/drafts"):
        response = json_post(analyst, url, {"xml": HV, "forms": forms})
        assert response.status_code == 400
        assert message in response.get_json()["error"]["message"]
    assert engine.drafts("hv") == []


def test_live_check_reports_one_root_cause_in_chinese(analyst: Staff) -> None:
    no_end = re.sub(r'<bpmn:endEvent id="hv_end".*?</bpmn:endEvent>', "", HV, flags=re.DOTALL)
    no_end = re.sub(r'<bpmn:sequenceFlow id="(hv_f_followed_up)"[^>]*/>', "", no_end)
    no_end = re.sub(r'<bpmndi:BPMNShape id="[^"]*" bpmnElement="hv_end".*?</bpmndi:BPMNShape>', "", no_end,
                    flags=re.DOTALL)
    problems = json_post(analyst, "/modeller/hv/check", {"xml": no_end}).get_json()["problems"]
    roots = [p for p in problems if p["code"] == "dead_end"]
    assert [p["element_id"] for p in roots] == ["hv_follow_up"], problems
    assert "回访" in roots[0]["message"] and "没有流出的顺序流" in roots[0]["message"]
    assert all(not re.search(r"[A-Za-z]{3,} [A-Za-z]{3,}", p["message"]) for p in problems), problems


def test_a_time_limit_in_words_is_rejected(analyst: Staff) -> None:
    in_words = HV.replace('<spiffworkflow:property name="timeLimit" value="2"/>',
                          '<spiffworkflow:property name="timeLimit" value="三天"/>', 1)
    assert in_words != HV
    problems = json_post(analyst, "/modeller/hv/check", {"xml": in_words}).get_json()["problems"]
    assert len(problems) == 1 and problems[0]["code"] == "expression"
    assert "时限" in problems[0]["message"] and "「三天」不是数据字段名" in problems[0]["message"]


def test_check_is_for_analysts_only(staff: Callable[[str], Staff]) -> None:
    for name in ("marketing", "frontdesk"):
        assert json_post(staff(name), "/modeller/hv/check", {"xml": HV}).status_code == 403
        assert json_post(staff(name), "/modeller/hv/scenarios", {"xml": HV}).status_code == 403
    assert json_post(staff("analyst"), "/modeller/hv/check", {}).status_code == 400


def test_example_paths_played_on_a_draft(analyst: Staff) -> None:
    paths = [p for p in json.loads((PROCESSES / "paths.json").read_text(encoding="utf-8")) if p["variant"] == "hv"]
    runs = json_post(analyst, "/modeller/hv/scenarios", {"xml": HV}).get_json()["runs"]
    assert [r["key"] for r in runs] == [p["key"] for p in paths]
    assert all(r["completed"] and r["problem"] is None for r in runs), runs
    team = next(r for r in runs if r["key"] == "hv_team")
    assert "hv_site_survey_team" in team["covered"] and "hv_site_survey_solo" not in team["covered"]
    assert team["flows"]

    reformed = json_post(analyst, "/modeller/hv/scenarios", {"xml": REFORM}).get_json()["runs"]
    stopped = {r["key"]: r for r in reformed if not r["completed"]}
    assert "hv_mid_inspection_sendback" in stopped
    # the reform removed the design review with the customer's submission to it: the path stops where it
    # would submit the design, having covered what came before
    assert stopped["hv_mid_inspection_sendback"]["stopped_at"] == "hv_design_submit"
    assert "hv_design_review" not in stopped["hv_mid_inspection_sendback"]["covered"]
    assert "hv_plan_approval" in stopped["hv_mid_inspection_sendback"]["covered"]
    # what a person reads names the nodes, never their ids
    assert stopped["hv_mid_inspection_sendback"]["stopped_name"] == "客户报送设计文件"
    assert "客户报送设计文件" in stopped["hv_mid_inspection_sendback"]["problem"]
    assert not re.search(r"hv_[a-z_]+", stopped["hv_mid_inspection_sendback"]["problem"])
    assert "hv_solo" not in stopped

    broken = json_post(analyst, "/modeller/hv/scenarios", {"xml": with_unknown_operator(HV)}).get_json()
    assert broken["runs"] == [] and broken["problems"][0]["code"] == "unknown_operator"


def test_deleting_a_draft_hides_it_and_keeps_a_record(analyst: Staff, engine: Engine) -> None:
    draft_id = json_post(analyst, "/modeller/hv/drafts", {"xml": REFORM}).get_json()["draft_id"]
    response = analyst.post(f"/modeller/drafts/{draft_id}/delete", {})
    assert response.status_code == 302 and response.headers["Location"].endswith("/modeller/")
    listing = analyst.get("/modeller/").get_data(as_text=True)
    assert f'data-draft="{draft_id}"' not in listing and f"已删除高压流程的草稿 #{draft_id}" in listing
    for url in (f"/modeller/hv/edit?draft={draft_id}", f"/modeller/hv/xml?draft={draft_id}",
                f"/modeller/drafts/{draft_id}/impact", f"/modeller/drafts/{draft_id}/diff"):
        assert analyst.get(url).status_code == 404, url
    assert json_post(analyst, f"/modeller/drafts/{draft_id}/deploy", {}).status_code == 404
    assert json_post(analyst, "/modeller/hv/drafts", {"xml": HV, "draft_id": draft_id}).status_code == 404
    assert analyst.post(f"/modeller/drafts/{draft_id}/delete", {}).status_code == 404
    with engine.store.reading() as s:
        from engine.store.models import ProcessDraft
        row = s.get(ProcessDraft, draft_id)
        assert row is not None and row.deleted_by == "analyst" and row.deleted_at is not None


def test_only_analysts_delete_drafts(staff: Callable[[str], Staff], engine: Engine) -> None:
    draft = engine.save_draft("hv", REFORM.encode(), "analyst")
    assert staff("marketing").post(f"/modeller/drafts/{draft.id}/delete", {}).status_code == 403
    assert [d.id for d in engine.drafts("hv")] == [draft.id]


def test_saving_a_good_draft_then_deploying_makes_a_new_version(analyst: Staff, engine: Engine) -> None:
    response = json_post(analyst, "/modeller/hv/drafts", {"xml": REFORM, "comment": "取消中间检查"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["problems"] == [] and body["deployable"] is True
    draft_id = body["draft_id"]
    assert engine.draft(draft_id)[0].comment == "取消中间检查"
    listing = analyst.get("/modeller/").get_data(as_text=True)
    assert f'data-draft="{draft_id}"' in listing

    deployed = json_post(analyst, f"/modeller/drafts/{draft_id}/deploy", {"comment": "改革：普通10kV取消中间检查"})
    assert deployed.status_code == 200, deployed.get_data(as_text=True)
    assert deployed.get_json()["version"] == 2
    newest = engine.versions("hv")[0]
    assert (newest.version, newest.deployed_by, newest.comment) == (2, "analyst", "改革：普通10kV取消中间检查")
    assert 'id="hv_mid_inspection"' not in engine.version_xml("hv", 2)
    # the deployed draft is kept; deploying it again is a conflict
    assert json_post(analyst, f"/modeller/drafts/{draft_id}/deploy", {}).status_code == 409


def test_deploy_by_form_redirects_to_the_list(analyst: Staff, engine: Engine) -> None:
    draft_id = json_post(analyst, "/modeller/hv/drafts", {"xml": REFORM}).get_json()["draft_id"]
    response = analyst.post(f"/modeller/drafts/{draft_id}/deploy", {"comment": "表单部署"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/modeller/")
    assert engine.versions("hv")[0].comment == "表单部署"


@pytest.mark.parametrize("broken, code", [(with_unknown_operator, "unknown_operator"), (with_script_task, "forbidden")])
def test_a_draft_with_problems_is_kept_and_deploy_is_refused(analyst: Staff, engine: Engine,
                                                              broken: Callable[[str], str], code: str) -> None:
    response = json_post(analyst, "/modeller/hv/drafts", {"xml": broken(HV)})
    assert response.status_code == 200
    body = response.get_json()
    assert body["deployable"] is False
    problem = next(p for p in body["problems"] if p["code"] == code)
    assert problem["element_id"] == "hv_select_survey_mode"
    assert re.search(r"[\u4e00-\u9fff]", problem["message"])  # a Chinese message
    refused = json_post(analyst, f"/modeller/drafts/{body['draft_id']}/deploy", {})
    assert refused.status_code == 400
    reasons = refused.get_json()["error"]["problems"]
    assert any(r["element_id"] == "hv_select_survey_mode" for r in reasons)
    by_form = analyst.post(f"/modeller/drafts/{body['draft_id']}/deploy", {})
    assert by_form.status_code == 400 and "hv_select_survey_mode" in by_form.get_data(as_text=True)
    assert [v.version for v in engine.versions("hv")] == [1]


def test_saving_again_updates_the_same_draft(analyst: Staff, engine: Engine) -> None:
    first = json_post(analyst, "/modeller/hv/drafts", {"xml": with_unknown_operator(HV)}).get_json()
    second = json_post(analyst, "/modeller/hv/drafts",
                       {"xml": REFORM, "draft_id": first["draft_id"]}).get_json()
    assert second["draft_id"] == first["draft_id"] and second["deployable"] is True
    assert len(engine.drafts("hv")) == 1


def test_save_without_csrf_token_is_refused(analyst: Staff) -> None:
    response = analyst.client.post("/modeller/hv/drafts", json={"xml": HV})
    assert response.status_code == 400


def test_draft_xml_and_edit_page(analyst: Staff) -> None:
    draft_id = json_post(analyst, "/modeller/hv/drafts", {"xml": with_unknown_operator(HV)}).get_json()["draft_id"]
    assert "no_such_rule" in analyst.get(f"/modeller/hv/xml?draft={draft_id}").get_data(as_text=True)
    page = analyst.get(f"/modeller/hv/edit?draft={draft_id}").get_data(as_text=True)
    assert "unknown_operator" in page  # the stored problems are handed to the page
    assert analyst.get(f"/modeller/lv/edit?draft={draft_id}").status_code == 404


def test_diff_page_shows_the_summary(analyst: Staff, staff: Callable[[str], Staff], engine: Engine) -> None:
    draft = engine.save_draft("hv", REFORM.encode(), "analyst")
    engine.deploy_draft(draft.id, "analyst", "取消中间检查")
    diff = engine.version_diff("hv", 1, 2, by="analyst")
    assert diff.summary
    for user in (analyst, staff("marketing")):
        page = user.get("/modeller/hv/diff?from=1&to=2").get_data(as_text=True)
        for sentence in diff.summary:
            assert str(sentence).replace('"', "&#34;") in page or str(sentence) in page
        assert 'data-xml-url="/modeller/hv/xml?version=1"' in page
        assert 'data-xml-url="/modeller/hv/xml?version=2"' in page


def test_impact_page_renders(analyst: Staff, engine: Engine, scenarios: dict[str, Any]) -> None:
    engine.start("hv", scenarios["hv_solo"].start, "frontdesk")
    draft_id = json_post(analyst, "/modeller/hv/drafts", {"xml": REFORM}).get_json()["draft_id"]
    response = analyst.get(f"/modeller/drafts/{draft_id}/impact")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    report = engine.impact_preview("hv", REFORM.encode(), by="analyst")
    assert report.applications
    for sentence in report.summary:
        assert sentence in page
    for app in report.applications:
        assert f'data-app-no="{app.app_no}"' in page


def test_impact_of_a_broken_draft_lists_its_problems(analyst: Staff) -> None:
    draft_id = json_post(analyst, "/modeller/hv/drafts", {"xml": with_unknown_operator(HV)}).get_json()["draft_id"]
    page = analyst.get(f"/modeller/drafts/{draft_id}/impact").get_data(as_text=True)
    assert "未通过校验" in page and "no_such_rule" in page


def test_migrate_pages(analyst: Staff, engine: Engine, scenarios: dict[str, Any]) -> None:
    started = engine.start("hv", scenarios["hv_solo"].start, "frontdesk")
    draft = engine.save_draft("hv", REFORM.encode(), "analyst")
    engine.deploy_draft(draft.id, "analyst")
    page = analyst.get("/modeller/hv/migrate?to=2")
    assert page.status_code == 200 and "迁移" in page.get_data(as_text=True)
    app_no = started.app_no
    plan_page = analyst.post("/modeller/hv/migrate/plan", {"to": "2", "status": "running", "app_nos": ""})
    assert plan_page.status_code == 200
    text = plan_page.get_data(as_text=True)
    assert f'data-app-no="{app_no}"' in text
    plan = engine.migration_plan("hv", 2, by="analyst")
    run = analyst.post("/modeller/hv/migrate/run", {"to": "2", "app_nos": app_no})
    assert run.status_code == 200 and run.mimetype == "application/x-ndjson"
    lines = [json.loads(line) for line in run.get_data(as_text=True).splitlines() if line.strip()]
    assert lines[0]["done"] == 0
    result = lines[-1]["result"]
    safe = {v.app_no for v in plan.safe}
    assert set(result["migrated"]) == safe & {app_no}
    if app_no in safe:
        assert engine.application(app_no).version == 2
    else:
        assert engine.application(app_no).version == 1 and result["skipped"]


def test_unknown_draft_is_404(analyst: Staff) -> None:
    assert analyst.get("/modeller/drafts/999/impact").status_code == 404
    assert json_post(analyst, "/modeller/drafts/999/deploy", {}).status_code == 404
