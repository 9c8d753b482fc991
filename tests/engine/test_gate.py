"""The deploy-time gate: hostile or broken diagrams are rejected with reasons and run nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from engine import DiagramRejected, Engine

from tests.engine.diagrams import FORM, loop, process, simple, user_task
from tests.engine.hostile import HOSTILE, SECRET, Hostile, hostile_ids

REPO = Path(__file__).resolve().parents[2]
MIWG = REPO / "tests" / "fixtures" / "miwg"


@pytest.fixture
def forms_dir(tmp_path: Path) -> Path:
    d = tmp_path / "forms"
    d.mkdir()
    (d / "t.json").write_text(json.dumps(FORM, ensure_ascii=False), encoding="utf-8")
    return d


def test_a_clean_diagram_passes(bare_engine: Engine, forms_dir: Path) -> None:
    diagram = bare_engine.validate(simple().encode(), "ok.bpmn", forms_dir)
    assert diagram.process_id == "lv"
    assert diagram.nodes["review"].role == "customer_manager"
    assert diagram.form_for("review") is not None


@pytest.mark.parametrize("hostile", HOSTILE, ids=hostile_ids())
def test_hostile_diagram_is_rejected_with_its_reasons_and_runs_nothing(
        bare_engine: Engine, forms_dir: Path, tmp_path: Path, hostile: Hostile) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with pytest.raises(DiagramRejected) as info:
        bare_engine.validate(hostile.diagram(scratch), "x.bpmn", forms_dir)
    reasons = info.value.reasons
    assert not hostile.missing(reasons), [f"{r.code}@{r.element_id}: {r.message}" for r in reasons]
    assert not any(SECRET in str(r) for r in reasons)
    assert list(scratch.iterdir()) == ([scratch / "secret.txt"] if hostile.reads_secret else [])


def test_send_back_loop_with_a_user_task_is_fine(bare_engine: Engine, forms_dir: Path) -> None:
    assert bare_engine.validate(loop().encode(), "loop.bpmn", forms_dir).process_id == "lv"


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


def _reasons(engine: Engine, data: bytes, forms_dir: Path) -> list[tuple[str, str | None, str]]:
    with pytest.raises(DiagramRejected) as info:
        engine.validate(data, "x.bpmn", forms_dir)
    return [(r.code, r.element_id, r.message) for r in info.value.reasons]


def _chain(n: int, broken_after: int | None = None) -> bytes:
    """start → t1 → … → tn → end; with ``broken_after`` = k, the flow out of tk is missing."""
    tasks = [f"t{i}" for i in range(1, n + 1)]
    nodes = ["start", *tasks, "end"]
    flows = "".join(f'<bpmn:sequenceFlow id="f{i}" sourceRef="{a}" targetRef="{b}"/>'
                    for i, (a, b) in enumerate(zip(nodes, nodes[1:])) if broken_after is None or a != f"t{broken_after}")
    body = '<bpmn:startEvent id="start"/>' + "".join(user_task(t, f"环节{t[1:]}") for t in tasks)
    return process(body + '<bpmn:endEvent id="end"/>' + flows, nodes).encode()


def test_a_missing_flow_is_reported_once_at_its_cause_with_what_it_cuts_off(bare_engine: Engine,
                                                                           forms_dir: Path) -> None:
    reasons = _reasons(bare_engine, _chain(8, broken_after=5), forms_dir)
    # t1…t5 cannot finish because t5 has no way on; t6…t8 and end cannot be reached because t6 has no way in
    assert [(code, element) for code, element, _ in reasons] == [("unreachable", "t6"), ("dead_end", "t5")]
    assert "「环节5」没有流出的顺序流" in reasons[1][2] and "另有 5 个节点" in reasons[1][2]
    assert "「环节6」没有流入的顺序流" in reasons[0][2] and "另有 3 个节点" in reasons[0][2]


def test_deleting_the_end_event_is_one_problem_at_the_last_node(bare_engine: Engine, forms_dir: Path) -> None:
    data = _chain(4).replace(b'<bpmn:endEvent id="end"/>', b"").replace(b'<bpmn:sequenceFlow id="f4" sourceRef="t4" '
                                                                      b'targetRef="end"/>', b"")
    reasons = _reasons(bare_engine, data, forms_dir)
    assert len(reasons) == 1, reasons
    code, element, message = reasons[0]
    assert (code, element) == ("dead_end", "t4") and "没有结束事件" in message and "另有 4 个节点" in message


def test_a_loop_with_no_exit_is_one_problem(bare_engine: Engine, forms_dir: Path) -> None:
    data = process(f"""<bpmn:startEvent id="start"/>{user_task("a", "甲")}{user_task("b", "乙")}
        <bpmn:endEvent id="end"/>
        <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="a"/>
        <bpmn:sequenceFlow id="f2" sourceRef="a" targetRef="b"/>
        <bpmn:sequenceFlow id="f3" sourceRef="b" targetRef="a"/>""", ["start", "a", "b", "end"]).encode()
    reasons = _reasons(bare_engine, data, forms_dir)
    assert [(c, e) for c, e, _ in reasons] == [("unreachable", "end"), ("dead_end", "a")]
    assert "循环 「甲」、「乙」 没有出口" in reasons[1][2]


def test_an_exclusive_branch_without_condition_or_default_is_named(bare_engine: Engine, forms_dir: Path) -> None:
    data = loop().replace('<bpmn:exclusiveGateway id="gw" default="f_pass"/>', '<bpmn:exclusiveGateway id="gw"/>')
    reasons = _reasons(bare_engine, data.encode(), forms_dir)
    assert [(c, e) for c, e, _ in reasons] == [("no_condition", "f_pass")]
    assert "既没有条件也不是默认流向" in reasons[0][2]


def test_a_time_limit_written_in_words_is_refused(bare_engine: Engine, forms_dir: Path) -> None:
    in_words = simple(user_task("review", extra='<spiffworkflow:property name="timeLimit" value="三天"/>'))
    reasons = _reasons(bare_engine, in_words.encode(), forms_dir)
    assert [(c, e) for c, e, _ in reasons] == [("expression", "review")]
    assert reasons[0][2].startswith("时限（工作日） '三天' 不允许：「三天」不是数据字段名")
    in_digits = simple(user_task("review", extra='<spiffworkflow:property name="timeLimit" value="3"/>'))
    assert bare_engine.validate(in_digits.encode(), "x.bpmn", forms_dir).nodes["review"].properties["timeLimit"] == "3"


ENGLISH = re.compile(r"[A-Za-z]{3,}[ ,.:;]+[A-Za-z]{3,}")


def _unquoted(message: str) -> str:
    """A message without what it quotes from the diagram (names, ids, expressions)."""
    return re.sub(r"「[^」]*」|'[^']*'|\"[^\"]*\"|\([^)]*\)", "", message)


def test_every_reason_for_the_miwg_corpus_and_broken_xml_is_in_chinese(bare_engine: Engine) -> None:
    messages = []
    broken = [simple().replace('<bpmn:endEvent id="end"/>', '<bpmn:endEvent id="end" bogus="1"/>'),
              simple().replace('<bpmn:endEvent id="end"/>', '<bpmn:endEvent id="end"/><bpmn:bogus id="b"/>'),
              simple().replace('sourceRef="start" ', ""),
              simple().replace('id="end"', 'id="end end"')]
    for data in [p.read_bytes() for p in sorted(MIWG.rglob("*.bpmn"))] + [b.encode() for b in broken]:
        try:
            bare_engine.validate(data, "x.bpmn")
        except DiagramRejected as exc:
            messages.extend(r.message for r in exc.reasons)
    assert len(messages) > 100
    english = [m for m in messages if ENGLISH.search(_unquoted(m))]
    assert english == []
    schema = [m for m in messages if "BPMN 2.0 规范" in m]
    assert any("不允许有属性 bogus" in m for m in schema) and any("此处不允许出现元素「bogus」" in m for m in schema)


def test_a_task_with_two_ways_out_is_told_to_use_a_gateway(bare_engine: Engine, forms_dir: Path) -> None:
    data = _chain(2).replace(b'<bpmn:endEvent id="end"/>',
                             b'<bpmn:endEvent id="end"/><bpmn:sequenceFlow id="extra" sourceRef="t1" targetRef="end"/>')
    reasons = _reasons(bare_engine, data, forms_dir)
    assert [(c, e) for c, e, _ in reasons] == [("multiple_outgoing", "t1")]
    assert "「环节1」有 2 条流出的顺序流" in reasons[0][2] and "网关" in reasons[0][2]
