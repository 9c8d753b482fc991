"""Small hand-written diagrams for gate and runtime tests."""

from __future__ import annotations

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
  id="defs" targetNamespace="http://example.com/test">"""

FORM = {"title": "测试表单", "type": "object", "additionalProperties": False, "required": ["ok"],
        "properties": {"ok": {"type": "string", "title": "结论", "enum": ["pass", "fail"], "x-enumNames": ["通过", "不通过"]},
                       "n": {"type": "integer", "title": "数量", "minimum": 0}}}


def user_task(tid: str, name: str = "审核", extra: str = "") -> str:
    return f"""<bpmn:userTask id="{tid}" name="{name}">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="t.json"/>{extra}
      </spiffworkflow:properties></bpmn:extensionElements>
    </bpmn:userTask>"""


def process(body: str, lane_nodes: list[str], lane_name: str = "客户经理", pid: str = "lv") -> str:
    refs = "".join(f"<bpmn:flowNodeRef>{n}</bpmn:flowNodeRef>" for n in lane_nodes)
    return f"""{HEAD}
  <bpmn:process id="{pid}" name="测试流程" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="lane1" name="{lane_name}">{refs}</bpmn:lane></bpmn:laneSet>
    {body}
  </bpmn:process>
</bpmn:definitions>"""


def simple(task_body: str | None = None) -> str:
    """start → user task → end, optionally with a different middle element."""
    middle = task_body or user_task("review")
    return process(f"""
    <bpmn:startEvent id="start"/>
    {middle}
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end"/>""", ["start", "review", "end"])


def loop(limit_condition: str = 'ok == "fail"') -> str:
    """start → review ⇄ (gateway sends back on fail) → end: a send-back loop with a wait state."""
    return process(f"""
    <bpmn:startEvent id="start"/>
    {user_task("review")}
    <bpmn:exclusiveGateway id="gw" default="f_pass"/>
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="gw"/>
    <bpmn:sequenceFlow id="f_fail" name="不通过" sourceRef="gw" targetRef="review">
      <bpmn:conditionExpression>{limit_condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_pass" name="通过" sourceRef="gw" targetRef="end"/>""", ["start", "review", "gw", "end"])
