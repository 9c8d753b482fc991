"""Hostile and broken diagrams, one shared list: the gate tests run them against the engine, the reliability
tests against the CLI and the HTTP deploy routes. Each must be rejected with its reasons and run nothing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine import Reason

from tests.engine.diagrams import loop, process, simple, user_task

SECRET = "TOP-SECRET"


@dataclass(frozen=True)
class Expect:
    """A reason the gate must give: its code (a prefix; alternatives split by |), the element it names, words in
    its message."""

    code: str
    element: str | None = None
    words: str = ""

    def found_in(self, reasons: Sequence[Reason]) -> bool:
        return any(r.code.startswith(tuple(self.code.split("|"))) and (self.element is None or r.element_id == self.element)
                   and self.words in r.message for r in reasons)


@dataclass(frozen=True)
class Hostile:
    """A diagram built in a scratch folder (where its canary file or secret lives), and what the gate says."""

    name: str
    build: Callable[[Path], bytes]
    expect: tuple[Expect, ...]
    canary: str | None = None  # a file in the scratch folder the diagram would create if any of it ran
    reads_secret: bool = False  # the diagram tries to pull scratch/secret.txt into a name

    def diagram(self, scratch: Path) -> bytes:
        if self.reads_secret:
            (scratch / "secret.txt").write_text(SECRET, encoding="utf-8")
        return self.build(scratch)

    def missing(self, reasons: Sequence[Reason]) -> list[Expect]:
        """The expected reasons not among these."""
        return [e for e in self.expect if not e.found_in(reasons)]


def _external_entity(scratch: Path) -> bytes:
    head = f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file://{scratch / "secret.txt"}">]>'
    return (head + simple().split("?>", 1)[1].replace('name="审核"', 'name="&x;"')).encode()


def _billion_laughs(_: Path) -> bytes:
    lol = "".join(f'<!ENTITY l{i} "' + f"&l{i - 1};" * 10 + '">' for i in range(1, 10))
    return f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY l0 "lol">{lol}]><d>&l9;</d>'.encode()


def _script_task(scratch: Path) -> bytes:
    script = (f'<bpmn:scriptTask id="review" name="x"><bpmn:script>open("{scratch / "pwned"}", "w").write("x")'
              "</bpmn:script></bpmn:scriptTask>")
    return simple(script).encode()


def _task_script(kind: str) -> Callable[[Path], bytes]:
    def build(scratch: Path) -> bytes:
        extra = (f'</spiffworkflow:properties><spiffworkflow:{kind}>open("{scratch / "pwned"}","w")'
                 f"</spiffworkflow:{kind}><spiffworkflow:properties>")
        return simple(user_task("review", extra=extra)).encode()
    return build


def _condition(template: str) -> Callable[[Path], bytes]:
    def build(scratch: Path) -> bytes:
        return loop(template.format(canary=scratch / "pwned").replace("'", "&apos;")).encode()
    return build


def _service(body: str) -> Callable[[Path], bytes]:
    return lambda _: simple(f'<bpmn:serviceTask id="review" name="规则"><bpmn:extensionElements>{body}'
                            "</bpmn:extensionElements></bpmn:serviceTask>").encode()


def _graph_errors(_: Path) -> bytes:
    return process(f"""
    <bpmn:startEvent id="start"/>
    {user_task("review")}
    {user_task("orphan", "孤立")}
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="nowhere"/>""", ["start", "review", "orphan", "end"]).encode()


def _busy_loop(_: Path) -> bytes:
    return process("""
    <bpmn:startEvent id="start"/>
    <bpmn:exclusiveGateway id="a" default="ab"/>
    <bpmn:exclusiveGateway id="b" default="ba"/>
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="s" sourceRef="start" targetRef="a"/>
    <bpmn:sequenceFlow id="ab" sourceRef="a" targetRef="b"/>
    <bpmn:sequenceFlow id="ba" sourceRef="b" targetRef="a"/>
    <bpmn:sequenceFlow id="out" sourceRef="b" targetRef="end"><bpmn:conditionExpression>True</bpmn:conditionExpression></bpmn:sequenceFlow>
    """, ["start", "a", "b", "end"]).encode()


def _fixed(data: bytes) -> Callable[[Path], bytes]:
    return lambda _: data


HOSTILE: tuple[Hostile, ...] = (
    Hostile("xxe_external_entity", _external_entity, (Expect("doctype"),), reads_secret=True),
    Hostile("billion_laughs", _billion_laughs, (Expect("doctype"),)),
    Hostile("utf16_doctype", _fixed('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE d [<!ENTITY a "b">]><d>&a;</d>'
                                    .encode("utf-16")), (Expect("doctype|not_"),)),
    Hostile("script_task", _script_task, (Expect("forbidden", "review"),), canary="pwned"),
    Hostile("pre_script", _task_script("preScript"), (Expect("forbidden", "review", "preScript"),), canary="pwned"),
    Hostile("post_script", _task_script("postScript"), (Expect("forbidden", "review", "postScript"),),
            canary="pwned"),
    Hostile("condition_os_system", _condition("__import__('os').system('touch {canary}')"),
            (Expect("expression", "f_fail"),), canary="pwned"),
    Hostile("condition_dunder", _condition("ok.__class__.__bases__"), (Expect("expression", "f_fail"),)),
    Hostile("condition_open", _condition("open('{canary}', 'w').write('x')"), (Expect("expression", "f_fail"),),
            canary="pwned"),
    Hostile("condition_eval", _condition("eval('1')"), (Expect("expression", "f_fail"),)),
    Hostile("condition_comprehension", _condition("[x for x in ok]"), (Expect("expression", "f_fail"),)),
    Hostile("unknown_operator", _service('<spiffworkflow:serviceTaskOperator id="launch_missiles" resultVariable="r"/>'),
            (Expect("unknown_operator", "review"),)),
    Hostile("bad_operator_parameters", _service(
        '<spiffworkflow:serviceTaskOperator id="select_survey_mode" resultVariable="r"><spiffworkflow:parameters>'
        '<spiffworkflow:parameter id="kva" type="any" value="1"/></spiffworkflow:parameters>'
        "</spiffworkflow:serviceTaskOperator>"),
        (Expect("missing_parameter", "review", "capacity_kva"), Expect("unknown_parameter", "review", "kva"))),
    Hostile("dangling_unreachable_dead_end", _graph_errors,
            (Expect("dangling_flow", "f2"), Expect("unreachable", "orphan"), Expect("dead_end", "review"))),
    Hostile("busy_loop", _busy_loop, (Expect("busy_loop"),)),
    Hostile("unknown_role_missing_form", lambda _: simple().replace('name="客户经理"', 'name="外包商"')
            .replace('value="t.json"', 'value="nope.json"').encode(),
            (Expect("unknown_role", "lane1"), Expect("missing_form", "review"))),
    Hostile("form_path_escape", lambda _: simple().replace('value="t.json"', 'value="../../../../etc/passwd"').encode(),
            (Expect("missing_form", "review"),)),
    Hostile("empty", _fixed(b""), (Expect("empty"),)),
    Hostile("binary_garbage", _fixed(b"\x00\xff garbage \x01"), (Expect("not_xml"),)),
    Hostile("html", _fixed(b"<html><body>hi</body></html>"), (Expect("not_bpmn"),)),
    Hostile("unclosed", _fixed(b"<bpmn:definitions xmlns:bpmn='http://www.omg.org/spec/BPMN/20100524/MODEL'>"
                               b"<unclosed>"), (Expect("not_xml"),)),
    Hostile("oversized", lambda _: simple().replace("</bpmn:definitions>", "<!--" + "x" * (3 * 1024 * 1024)
                                                    + "--></bpmn:definitions>").encode(), (Expect("too_large"),)),
    Hostile("schema_violation", lambda _: simple().replace('<bpmn:endEvent id="end"/>',
                                                           '<bpmn:endEvent id="end"/><bpmn:bogus id="b"/>').encode(),
            (Expect("schema"),)),
)


def hostile_ids() -> list[str]:
    return [h.name for h in HOSTILE]
