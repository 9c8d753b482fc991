"""The deploy-time gate: hostile or broken diagrams are rejected with reasons and run nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import DiagramRejected, Engine

from .diagrams import FORM, loop, process, simple, user_task

REPO = Path(__file__).resolve().parents[2]
MIWG = REPO.parent / "shared" / "corpus" / "miwg"


@pytest.fixture
def forms_dir(tmp_path: Path) -> Path:
    d = tmp_path / "forms"
    d.mkdir()
    (d / "t.json").write_text(json.dumps(FORM, ensure_ascii=False), encoding="utf-8")
    return d


def reasons_of(engine: Engine, xml: str | bytes, forms_dir: Path) -> list[str]:
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    with pytest.raises(DiagramRejected) as info:
        engine.validate(data, "x.bpmn", forms_dir)
    return [f"{r.code}@{r.element_id}: {r.message}" for r in info.value.reasons]


def test_a_clean_diagram_passes(bare_engine: Engine, forms_dir: Path) -> None:
    diagram = bare_engine.validate(simple().encode(), "ok.bpmn", forms_dir)
    assert diagram.process_id == "lv"
    assert diagram.nodes["review"].role == "customer_manager"
    assert diagram.form_for("review") is not None


def test_external_entity_is_rejected_and_not_read(bare_engine: Engine, forms_dir: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    xml = f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]>' + simple().split("?>", 1)[1].replace(
        'name="审核"', 'name="&x;"')
    reasons = reasons_of(bare_engine, xml, forms_dir)
    assert any(r.startswith("doctype") for r in reasons)
    assert not any("TOP-SECRET" in r for r in reasons)


def test_entity_expansion_bomb_is_rejected_quickly(bare_engine: Engine, forms_dir: Path) -> None:
    lol = "".join(f'<!ENTITY l{i} "' + f"&l{i-1};" * 10 + '">' for i in range(1, 10))
    xml = f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY l0 "lol">{lol}]><d>&l9;</d>'
    assert any(r.startswith("doctype") for r in reasons_of(bare_engine, xml, forms_dir))


def test_utf16_doctype_is_still_caught(bare_engine: Engine, forms_dir: Path) -> None:
    xml = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE d [<!ENTITY a "b">]><d>&a;</d>'.encode("utf-16")
    assert any(r.startswith("doctype") or r.startswith("not_") for r in reasons_of(bare_engine, xml, forms_dir))


def test_script_task_is_rejected_and_never_runs(bare_engine: Engine, forms_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    script = f'<bpmn:scriptTask id="review" name="x"><bpmn:script>open("{marker}", "w").write("x")</bpmn:script></bpmn:scriptTask>'
    reasons = reasons_of(bare_engine, simple(script), forms_dir)
    assert any(r.startswith("forbidden@review") for r in reasons)
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["preScript", "postScript"])
def test_pre_and_post_scripts_are_rejected(bare_engine: Engine, forms_dir: Path, kind: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    extra = f'</spiffworkflow:properties><spiffworkflow:{kind}>open("{marker}","w")</spiffworkflow:{kind}><spiffworkflow:properties>'
    reasons = reasons_of(bare_engine, simple(user_task("review", extra=extra)), forms_dir)
    assert any(r.startswith("forbidden@review") and kind in r for r in reasons)
    assert not marker.exists()


@pytest.mark.parametrize("condition", [
    "__import__('os').system('touch /tmp/bz-pwned')",
    "ok.__class__.__bases__",
    "open('/etc/passwd').read()",
    "eval('1')",
    "[x for x in ok]",
])
def test_unsafe_conditions_are_rejected(bare_engine: Engine, forms_dir: Path, condition: str) -> None:
    reasons = reasons_of(bare_engine, loop(condition.replace("'", "&apos;")), forms_dir)
    assert any(r.startswith("expression@f_fail") for r in reasons), reasons
    assert not Path("/tmp/bz-pwned").exists()


def test_unknown_operator_and_bad_parameters_are_named(bare_engine: Engine, forms_dir: Path) -> None:
    svc = """<bpmn:serviceTask id="review" name="规则">
      <bpmn:extensionElements><spiffworkflow:serviceTaskOperator id="launch_missiles" resultVariable="r"/>
      </bpmn:extensionElements></bpmn:serviceTask>"""
    assert any(r.startswith("unknown_operator@review") for r in reasons_of(bare_engine, simple(svc), forms_dir))
    svc2 = """<bpmn:serviceTask id="review" name="规则">
      <bpmn:extensionElements><spiffworkflow:serviceTaskOperator id="select_survey_mode" resultVariable="r">
      <spiffworkflow:parameters><spiffworkflow:parameter id="kva" type="any" value="1"/></spiffworkflow:parameters>
      </spiffworkflow:serviceTaskOperator></bpmn:extensionElements></bpmn:serviceTask>"""
    reasons = reasons_of(bare_engine, simple(svc2), forms_dir)
    assert any(r.startswith("missing_parameter@review") and "capacity_kva" in r for r in reasons)
    assert any(r.startswith("unknown_parameter@review") and "kva" in r for r in reasons)


def test_dangling_flow_unreachable_node_and_dead_end(bare_engine: Engine, forms_dir: Path) -> None:
    xml = process(f"""
    <bpmn:startEvent id="start"/>
    {user_task("review")}
    {user_task("orphan", "孤立")}
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="nowhere"/>""", ["start", "review", "orphan", "end"])
    reasons = reasons_of(bare_engine, xml, forms_dir)
    assert any(r.startswith("dangling_flow@f2") for r in reasons)
    assert any(r.startswith("unreachable@orphan") for r in reasons)
    assert any(r.startswith("dead_end@review") for r in reasons)


def test_cycle_without_wait_state_is_rejected(bare_engine: Engine, forms_dir: Path) -> None:
    xml = process("""
    <bpmn:startEvent id="start"/>
    <bpmn:exclusiveGateway id="a" default="ab"/>
    <bpmn:exclusiveGateway id="b" default="ba"/>
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="s" sourceRef="start" targetRef="a"/>
    <bpmn:sequenceFlow id="ab" sourceRef="a" targetRef="b"/>
    <bpmn:sequenceFlow id="ba" sourceRef="b" targetRef="a"/>
    <bpmn:sequenceFlow id="out" sourceRef="b" targetRef="end"><bpmn:conditionExpression>True</bpmn:conditionExpression></bpmn:sequenceFlow>
    """, ["start", "a", "b", "end"])
    assert any(r.startswith("busy_loop@") for r in reasons_of(bare_engine, xml, forms_dir))


def test_send_back_loop_with_a_user_task_is_fine(bare_engine: Engine, forms_dir: Path) -> None:
    assert bare_engine.validate(loop().encode(), "loop.bpmn", forms_dir).process_id == "lv"


def test_unknown_lane_role_and_missing_form(bare_engine: Engine, forms_dir: Path) -> None:
    xml = simple().replace('name="客户经理"', 'name="外包商"').replace('value="t.json"', 'value="nope.json"')
    reasons = reasons_of(bare_engine, xml, forms_dir)
    assert any(r.startswith("unknown_role@lane1") for r in reasons)
    assert any(r.startswith("missing_form@review") for r in reasons)


def test_form_name_cannot_escape_the_forms_folder(bare_engine: Engine, forms_dir: Path) -> None:
    xml = simple().replace('value="t.json"', 'value="../../../../etc/passwd"')
    assert any(r.startswith("missing_form@review") for r in reasons_of(bare_engine, xml, forms_dir))


@pytest.mark.parametrize("payload,code", [
    (b"", "empty"),
    (b"\x00\xff garbage \x01", "not_xml"),
    (b"<html><body>hi</body></html>", "not_bpmn"),
    (b"<bpmn:definitions xmlns:bpmn='http://www.omg.org/spec/BPMN/20100524/MODEL'><unclosed>", "not_xml"),
])
def test_garbage_and_non_bpmn_xml(bare_engine: Engine, forms_dir: Path, payload: bytes, code: str) -> None:
    assert any(r.startswith(code) for r in reasons_of(bare_engine, payload, forms_dir))


def test_oversized_file_is_rejected_before_parsing(bare_engine: Engine, forms_dir: Path) -> None:
    big = simple().replace("</bpmn:definitions>", "<!--" + "x" * (3 * 1024 * 1024) + "--></bpmn:definitions>")
    assert any(r.startswith("too_large") for r in reasons_of(bare_engine, big, forms_dir))


def test_schema_violations_are_listed(bare_engine: Engine, forms_dir: Path) -> None:
    xml = simple().replace('<bpmn:endEvent id="end"/>', '<bpmn:endEvent id="end"/><bpmn:bogus id="b"/>')
    assert any(r.startswith("schema") for r in reasons_of(bare_engine, xml, forms_dir))


def test_rejected_deploy_stores_nothing(bare_engine: Engine, forms_dir: Path) -> None:
    with pytest.raises(DiagramRejected):
        bare_engine.deploy(loop("open('x')").encode(), "bad.bpmn", "analyst", forms_dir=forms_dir)
    assert bare_engine.versions() == []
    v = bare_engine.deploy(loop().encode(), "good.bpmn", "analyst", "ok", forms_dir=forms_dir)
    assert (v.process_key, v.version) == ("lv", 1)


def test_every_miwg_corpus_file_is_accepted_or_rejected_with_reasons(bare_engine: Engine) -> None:
    files = sorted(MIWG.rglob("*.bpmn"))
    assert len(files) >= 40
    for path in files:
        try:
            bare_engine.validate(path.read_bytes(), path.name)
        except DiagramRejected as exc:
            assert exc.reasons, path
            assert all(str(r) for r in exc.reasons)
