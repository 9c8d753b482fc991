"""Hardened XML loading and the deploy-time validation gate.

A diagram reaches SpiffWorkflow only as an lxml tree we parsed ourselves (no DTD, no entities,
no network, size-limited), and only after every check below has passed.  Every problem found is
reported at once, as a :class:`Reason` naming the element, so an analyst can fix them in one go.

The gate knows no feature: a feature that reads a property of the diagram's nodes (site work,
meeting decisions, time limits) registers a :class:`Marker` describing it, and the gate checks every
node against the markers it is given.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from handlers.labels import enum_labels
from handlers.settings import PolicySettings

from ..errors import DiagramRejected, Reason
from ..vocabulary import role_for_lane
from . import expressions
from .forms import FormContext, FormDefinition, check_schema

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}
DEFAULT_MAX_BYTES = 2 * 1024 * 1024

#: Elements that would run code, or that this engine does not execute.
FORBIDDEN = {
    "scriptTask": "脚本任务不允许：上传的流程图不得执行代码",
    "script": "脚本不允许：上传的流程图不得执行代码",
    "businessRuleTask": "业务规则任务（DMN）暂不支持",
    "callActivity": "调用活动暂不支持：每个流程必须自成一体",
    "adHocSubProcess": "自由子流程暂不支持",
    "transaction": "事务子流程暂不支持",
    "subProcess": "子流程暂不支持",
    "multiInstanceLoopCharacteristics": "多实例循环暂不支持",
    "standardLoopCharacteristics": "标准循环暂不支持",
    "complexGateway": "复杂网关暂不支持",
}
FORBIDDEN_SPIFF = {
    "preScript": "前置脚本（preScript）不允许：上传的流程图不得执行代码",
    "postScript": "后置脚本（postScript）不允许：上传的流程图不得执行代码",
}
FLOW_NODES = {
    "startEvent", "endEvent", "userTask", "manualTask", "serviceTask", "task", "sendTask",
    "receiveTask", "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway",
    "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
} | set(FORBIDDEN)
ACTIVITIES = frozenset({"userTask", "manualTask", "serviceTask", "task", "sendTask", "receiveTask"})
WAIT_STATES = {"userTask", "manualTask", "receiveTask", "intermediateCatchEvent", "eventBasedGateway"}
PERSON_TASKS = {"userTask", "manualTask"}

_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


@dataclass(frozen=True)
class Marker:
    """A node property (``spiffworkflow:property``) a feature reads, and what the gate accepts for it.

    ``values``: the accepted values (value → Chinese name), or None for any; ``expression``: the value is
    an expression of the safe language (checked as such); ``person_tasks_only``: only user/manual tasks
    may carry it; ``title`` and ``hint``: what the modeller's properties panel calls it and says of it;
    ``on``: the kinds of node the panel offers it on (by default person tasks, or every activity).

    ``process_check`` makes it a property of the process itself (``bpmn:process``'s own extension
    elements), and ``name`` the prefix of such properties' names (``policyClock.`` for
    ``policyClock.plan_reply``): the check gets a property's name, its value and the diagram's node table,
    and returns every problem it finds, in Chinese; the gate reports them at the process.
    """

    name: str
    values: Mapping[str, str] | None = None
    expression: bool = False
    person_tasks_only: bool = False
    title: str = ""
    hint: str = ""
    on: frozenset[str] = frozenset()

    @property
    def kinds(self) -> frozenset[str]:
        """The kinds of node this property belongs on."""
        if self.on:
            return self.on
        return frozenset(PERSON_TASKS) if self.person_tasks_only else ACTIVITIES
    process_check: Callable[[str, str, Mapping[str, "NodeInfo"]], Sequence[str]] | None = None


FORM_MARKER = "formJsonSchemaFilename"
KERNEL_MARKERS = (Marker("assignee", expression=True, title="指派给（流程变量）", on=frozenset({"userTask", "manualTask"}),
                         hint="例如 customer_manager：由该变量中的人办理；留空则由泳道角色认领"),
                  Marker(FORM_MARKER, title="表单", on=frozenset({"userTask", "manualTask", "startEvent"}),
                         hint="人工任务必填；开始事件的表单即受理表单"))
"""The properties the kernel itself reads: who a task goes to, and its form."""


@dataclass(frozen=True)
class NodeInfo:
    """What the engine needs to know about one flow node of a deployed diagram."""

    id: str
    name: str
    kind: str
    role: str | None
    form: str | None
    assignee: str | None
    properties: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ParsedDiagram:
    """A diagram that passed the gate: its spec, forms and node table."""

    process_id: str
    name: str
    xml: bytes
    sha256: str
    spec: Any
    subprocess_specs: Mapping[str, Any]
    forms: Mapping[str, FormDefinition]
    nodes: Mapping[str, NodeInfo]
    start_form: str | None
    flows: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    properties: Mapping[str, str] = field(default_factory=dict)  # the process's own (policy clocks)

    @cached_property
    def labels(self) -> Mapping[str, Mapping[str, str]]:
        """Field → stored value → Chinese name, from every form's enum and x-enumNames (for handlers)."""
        return enum_labels(form.schema for form in self.forms.values())

    @cached_property
    def field_titles(self) -> Mapping[str, str]:
        """Field → its Chinese title in the first form that has it (for messages naming another step's field)."""
        titles: dict[str, str] = {}
        for form in self.forms.values():
            for name in form.fields:
                titles.setdefault(name, form.label(name))
        return titles

    def form_context(self, data: Mapping[str, Any], now: datetime, settings: PolicySettings) -> FormContext:
        """What this diagram's forms' rules see at a step: the data so far, the moment, the policy figures."""
        return FormContext(data, now, settings, self.field_titles)

    def form_for(self, node_id: str) -> FormDefinition | None:
        """The form of a node, if it has one."""
        node = self.nodes.get(node_id)
        if node is None or node.form is None:
            return None
        return self.forms.get(node.form)


FormSource = Callable[[str], Any]
"""Looks a form definition up by file name: returns the parsed JSON, or None if there is none."""


def parse_xml(data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._ElementTree:
    """Parse untrusted XML safely, or raise DiagramRejected with the reason."""
    if len(data) > max_bytes:
        raise DiagramRejected([Reason("too_large", f"文件过大：{len(data)} 字节，上限 {max_bytes} 字节")])
    if not data.strip():
        raise DiagramRejected([Reason("empty", "文件为空")])
    if _DOCTYPE.search(data):
        raise DiagramRejected([Reason("doctype", "不允许 DOCTYPE 或实体声明（可能是 XML 外部实体或实体膨胀攻击）")])
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
        huge_tree=False, remove_comments=False, collect_ids=False,
    )
    try:
        tree = etree.ElementTree(etree.fromstring(data, parser))
    except etree.XMLSyntaxError as exc:
        raise DiagramRejected([Reason("not_xml", f"不是格式正确的 XML：第 {exc.lineno} 行：{exc.msg}")]) from exc
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise DiagramRejected([Reason("doctype", "不允许 DOCTYPE 或实体声明")])
    root = tree.getroot()
    if root.tag != f"{{{BPMN_NS}}}definitions":
        raise DiagramRejected([Reason("not_bpmn", f"不是 BPMN 2.0 文件：根元素是 {root.tag}，应为 bpmn:definitions")])
    return tree


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _properties(node: etree._Element) -> dict[str, str]:
    props = {}
    for prop in node.xpath("./bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", namespaces=NS):
        props[prop.get("name", "")] = prop.get("value", "")
    return props


def validate_diagram(
    data: bytes,
    *,
    filename: str,
    forms: FormSource,
    operators: Mapping[str, Any],
    markers: Sequence[Marker] = (),
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ParsedDiagram:
    """Run every check of the deploy-time gate; return the parsed diagram or raise DiagramRejected."""
    known = {m.name: m for m in (*KERNEL_MARKERS, *markers)}
    try:
        tree = parse_xml(data, max_bytes)
    except DiagramRejected as exc:
        raise DiagramRejected(exc.reasons, filename) from None
    reasons: list[Reason] = []
    root = tree.getroot()

    schema_reasons = _check_xsd(tree)
    reasons.extend(schema_reasons)

    processes = root.findall(f"{{{BPMN_NS}}}process")
    executable = [p for p in processes if p.get("isExecutable", "false").lower() == "true"]
    if len(processes) == 1 and not executable:
        executable = processes
    if len(executable) != 1:
        reasons.append(Reason("process_count", f"必须恰有一个可执行流程（isExecutable=\"true\"），实际 {len(executable)} 个"))
        raise DiagramRejected(reasons, filename)
    process = executable[0]

    element_ids = {el.get("id") for el in root.iter()
                   if isinstance(el.tag, str) and el.get("id") and etree.QName(el).namespace != SPIFF_NS}
    nodes, node_reasons, loaded_forms, start_form = _check_nodes(process, forms, operators, element_ids, known)
    reasons.extend(node_reasons)
    process_properties = _properties(process)
    reasons.extend(_check_process_markers(process.get("id"), process_properties, nodes, markers))
    reasons.extend(_check_expressions(process, known))
    reasons.extend(_check_graph(process))
    if reasons:
        raise DiagramRejected(reasons, filename)

    # Only now does SpiffWorkflow see the tree: it has no scripts, entities or unknown operators.
    try:
        parser = SpiffBpmnParser(validator=None)
        parser.add_bpmn_xml(tree, filename)
        pid = process.get("id")
        spec = parser.get_spec(pid)
        subprocess_specs = parser.get_subprocess_specs(pid)
    except ValidationException as exc:
        raise DiagramRejected([Reason("spiff", spiff_message(exc), exc.id or None)], filename) from exc
    except (SpiffWorkflowException, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise DiagramRejected([Reason("spiff", spiff_message(exc), getattr(exc, "id", None) or None)],
                              filename) from exc

    flows: dict[tuple[str, str], tuple[str, ...]] = {}
    for flow in process.findall(f"{{{BPMN_NS}}}sequenceFlow"):
        key = (flow.get("sourceRef", ""), flow.get("targetRef", ""))
        flows[key] = flows.get(key, ()) + (flow.get("id", ""),)
    return ParsedDiagram(
        flows=flows,
        process_id=pid,
        name=process.get("name") or pid,
        xml=data,
        sha256=hashlib.sha256(data).hexdigest(),
        spec=spec,
        subprocess_specs=subprocess_specs,
        forms=loaded_forms,
        nodes=nodes,
        start_form=start_form,
        properties=process_properties,
    )


def _check_xsd(tree: etree._ElementTree) -> list[Reason]:
    schema = VALIDATOR.validator
    # SpiffWorkflow's own preprocessing (bpmn-js correlation quirk) works on a copy, not on the tree we keep.
    candidate = etree.ElementTree(etree.fromstring(etree.tostring(tree)))
    VALIDATOR.preprocess(candidate)
    if schema.validate(candidate):
        return []
    # The copy has no XML declaration: its lines are shifted from the file's by the root's offset.
    shift = (tree.getroot().sourceline or 1) - (candidate.getroot().sourceline or 1)
    by_line: dict[int, etree._Element] = {}
    for el in candidate.iter():
        if isinstance(el.tag, str) and el.sourceline is not None:
            by_line.setdefault(el.sourceline, el)
    out = []
    for err in list(schema.error_log)[:20]:
        el = by_line.get(err.line)
        owner = el
        while owner is not None and not owner.get("id"):
            owner = owner.getparent()
        element_id = owner.get("id") if owner is not None and owner is not candidate.getroot() else None
        out.append(Reason("schema", f"第 {err.line + shift} 行：{schema_message(err.message)}", element_id))
    return out


ELEMENT_NAMES: Mapping[str, str] = {
    "definitions": "流程定义", "process": "流程", "laneSet": "泳道集", "lane": "泳道", "flowNodeRef": "泳道成员",
    "startEvent": "开始事件", "endEvent": "结束事件", "userTask": "用户任务", "manualTask": "人工任务",
    "serviceTask": "服务任务", "task": "任务", "sendTask": "发送任务", "receiveTask": "接收任务",
    "scriptTask": "脚本任务", "exclusiveGateway": "排他网关", "parallelGateway": "并行网关",
    "inclusiveGateway": "包容网关", "eventBasedGateway": "事件网关", "sequenceFlow": "顺序流",
    "conditionExpression": "条件表达式", "extensionElements": "扩展属性", "incoming": "流入连线",
    "outgoing": "流出连线", "intermediateCatchEvent": "中间捕获事件", "intermediateThrowEvent": "中间抛出事件",
    "boundaryEvent": "边界事件", "documentation": "说明", "collaboration": "协作", "participant": "参与者",
    "BPMNDiagram": "图形", "BPMNPlane": "图面", "BPMNShape": "图形元素", "BPMNEdge": "连线图形",
    "Bounds": "位置与大小", "waypoint": "连线折点", "BPMNLabel": "标签",
}
_XSD_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"Element '(?P<el>[^']+)': This element is not expected\."), "此处不允许出现元素「{el}」"),
    (re.compile(r"Element '(?P<el>[^']+)', attribute '(?P<attr>[^']+)': The attribute '[^']+' is not allowed\."),
     "元素「{el}」不允许有属性 {attr}"),
    (re.compile(r"Element '(?P<el>[^']+)': The attribute '(?P<attr>[^']+)' is required but missing\."),
     "元素「{el}」缺少必需的属性 {attr}"),
    (re.compile(r"Element '(?P<el>[^']+)', attribute 'id': '(?P<value>[^']*)' is not a valid value of the atomic "
                r"type 'xs:ID'\."),
     "元素「{el}」的标识「{value}」无效或与另一个元素重复（标识须唯一，以字母或下划线开头，不含空格）"),
    (re.compile(r"Element '(?P<el>[^']+)', attribute '(?P<attr>[^']+)': '(?P<value>[^']*)' is not a valid value of "
                r"the (?:atomic|list|union) type '(?P<type>[^']+)'\."),
     "元素「{el}」的属性 {attr} 的取值「{value}」不符合类型 {type}"),
    (re.compile(r"Element '(?P<el>[^']+)': '(?P<value>[^']*)' is not a valid value of the (?:atomic|list|union) type "
                r"'(?P<type>[^']+)'\."),
     "元素「{el}」的内容「{value}」不符合类型 {type}"),
    (re.compile(r"Element '(?P<el>[^']+)': Missing child element\(s\)\."), "元素「{el}」缺少必需的子元素"),
    (re.compile(r"Element '(?P<el>[^']+)': Character content other than whitespace is not allowed"),
     "元素「{el}」中不允许有文字内容"),
    (re.compile(r"Element '(?P<el>[^']+)'(?:, attribute '(?P<attr>[^']+)')?: No match found for key-sequence"),
     "元素「{el}」引用了不存在的元素"),
)


def _element_name(qualified: str) -> str:
    local = qualified.rsplit("}", 1)[-1]
    return ELEMENT_NAMES.get(local, local)


def schema_message(message: str) -> str:
    """An XSD validation message of libxml2 in Chinese (never the English text itself)."""
    for pattern, template in _XSD_PATTERNS:
        match = pattern.search(message)
        if match:
            values = {k: (v or "") for k, v in match.groupdict().items()}
            if "el" in values:
                values["el"] = _element_name(values["el"])
            return "不符合 BPMN 2.0 规范：" + template.format(**values)
    element = re.match(r"Element '([^']+)'", message)
    where = f"元素「{_element_name(element.group(1))}」" if element else "该处"
    return f"不符合 BPMN 2.0 规范：{where}的写法不符合 BPMN 2.0 的 XML Schema"


_SPIFF_MESSAGES: tuple[tuple[str, str], ...] = (
    ("Non-default exclusive outgoing sequence flow without condition", "网关的出口连线没有条件，也不是默认流向"),
    ("Multiple outgoing flows are not supported", "任务只能有一条流出的顺序流，要分支请加网关"),
    ("is not executable", "流程没有标为可执行（isExecutable）"),
    ("No start event found", "流程没有开始事件"),
    ("Time Specification", "定时事件的时间格式无法识别（应为 ISO 8601，如 P3D）"),
    ("There is no support implemented for this task type", "不支持这种任务类型"),
    ("Duplicate process ID", "流程标识重复"),
    ("A Service Task must have an operator", "服务任务必须指定处理规则"),
    ("Conditional event definition with missing condition", "条件事件缺少条件"),
    ("identifier is missing", "事件定义缺少引用的消息、信号或错误"),
)


def spiff_message(exc: BaseException) -> str:
    """What SpiffWorkflow's parser said, in Chinese: the known messages translated, any other named only."""
    text = str(exc)
    for english, chinese in _SPIFF_MESSAGES:
        if english in text:
            return f"流程解析失败：{chinese}"
    return "流程解析失败：流程引擎无法解析该元素的设置，请检查其类型和属性"


def _check_nodes(
    process: etree._Element,
    forms: FormSource,
    operators: Mapping[str, Any],
    element_ids: set[str],
    markers: Mapping[str, Marker],
) -> tuple[dict[str, NodeInfo], list[Reason], dict[str, FormDefinition], str | None]:
    reasons: list[Reason] = []
    nodes: dict[str, NodeInfo] = {}
    loaded: dict[str, FormDefinition] = {}
    start_forms: list[str] = []

    lanes: dict[str, str] = {}
    for lane in process.iter(f"{{{BPMN_NS}}}lane"):
        lane_name = lane.get("name") or ""
        if role_for_lane(lane_name) is None:
            reasons.append(Reason("unknown_role", f"泳道「{lane_name}」不是已知角色", lane.get("id")))
        for ref in lane.findall(f"{{{BPMN_NS}}}flowNodeRef"):
            lanes[(ref.text or "").strip()] = lane_name

    def load_form(name: str, element_id: str) -> str | None:
        if name in loaded:
            return name
        schema = forms(name)
        if schema is None:
            reasons.append(Reason("missing_form", f"找不到表单定义 {name}", element_id))
            return None
        problems = check_schema(name, schema)
        for problem in problems:
            reasons.append(Reason("bad_form", problem, element_id))
        if problems:
            return None
        loaded[name] = FormDefinition(name, schema)
        return name

    for el in process.iter():
        if not isinstance(el.tag, str):
            continue
        ns, kind = etree.QName(el).namespace, _local(el.tag)
        el_id = el.get("id") or el.getparent().get("id")
        if ns == BPMN_NS and kind in FORBIDDEN:
            reasons.append(Reason("forbidden", FORBIDDEN[kind], el_id))
        if ns == SPIFF_NS and kind in FORBIDDEN_SPIFF:
            owner = el.getparent().getparent()
            reasons.append(Reason("forbidden", FORBIDDEN_SPIFF[kind], owner.get("id") if owner is not None else None))
        if ns != BPMN_NS or kind not in FLOW_NODES or kind in FORBIDDEN:
            continue
        node_id = el.get("id", "")
        props = _properties(el)
        lane_name = lanes.get(node_id)
        role = role_for_lane(lane_name) if lane_name else None
        form_name = props.get("formJsonSchemaFilename") or None
        if form_name:
            form_name = load_form(form_name, node_id)
        if kind in PERSON_TASKS:
            if role is None:
                reasons.append(Reason("no_lane", "人工任务必须放在某个角色泳道中", node_id))
            if not props.get("formJsonSchemaFilename"):
                reasons.append(Reason("no_form", "人工任务必须指定表单（formJsonSchemaFilename）", node_id))
        if kind == "startEvent" and form_name:
            start_forms.append(form_name)
        assignee = props.get("assignee") or None
        reasons.extend(_check_markers(node_id, kind, props, markers))
        if kind == "serviceTask":
            reasons.extend(_check_operator(el, operators, element_ids))
        nodes[node_id] = NodeInfo(node_id, el.get("name") or node_id, kind, role, form_name, assignee, props)
    return nodes, reasons, loaded, (start_forms[0] if start_forms else None)


def _check_markers(node_id: str, kind: str, props: Mapping[str, str], markers: Mapping[str, Marker]) -> list[Reason]:
    """Each registered marker a node carries: on the kind of node it belongs to, with a known value."""
    reasons = []
    for name, value in props.items():
        marker = markers.get(name)
        if marker is None:
            continue
        if marker.person_tasks_only and kind not in PERSON_TASKS:
            reasons.append(Reason("bad_marker", f"{name} 只能标在人工任务上", node_id))
        elif marker.values is not None and value not in marker.values:
            reasons.append(Reason("bad_marker", f"{name}={value!r} 未知（可用：{'、'.join(marker.values)}）", node_id))
    return reasons


def _check_process_markers(process_id: str | None, props: Mapping[str, str], nodes: Mapping[str, NodeInfo],
                           markers: Sequence[Marker]) -> list[Reason]:
    """Each process-level property a registered marker claims (by name prefix), checked by that marker."""
    reasons: list[Reason] = []
    checks = [m for m in markers if m.process_check is not None]
    for name, value in props.items():
        for marker in checks:
            if name.startswith(marker.name) and marker.process_check is not None:
                reasons.extend(Reason("bad_marker", problem, process_id)
                               for problem in marker.process_check(name, value, nodes))
    return reasons


def _check_operator(task: etree._Element, operators: Mapping[str, Any], element_ids: set[str]) -> list[Reason]:
    task_id = task.get("id")
    ops = task.xpath("./bpmn:extensionElements/spiffworkflow:serviceTaskOperator", namespaces=NS)
    if len(ops) != 1:
        return [Reason("no_operator", "服务任务必须恰有一个 serviceTaskOperator", task_id)]
    op = ops[0]
    name = op.get("id", "")
    if name not in operators:
        return [Reason("unknown_operator", f"服务任务调用了未注册的处理器 {name!r}", task_id)]
    out = []
    if name in element_ids:
        out.append(Reason("operator_id_clash", f"处理器名 {name!r} 与图中某元素 id 相同（解析器会混淆）", task_id))
    given = {p.get("id", "") for p in op.xpath(".//spiffworkflow:parameter", namespaces=NS)}
    operator = operators[name]
    missing = sorted(set(operator.required) - given)
    unknown = sorted(given - set(operator.required) - set(operator.optional))
    if missing:
        out.append(Reason("missing_parameter", f"处理器 {name} 缺少参数：{'、'.join(missing)}", task_id))
    if unknown:
        out.append(Reason("unknown_parameter", f"处理器 {name} 没有参数：{'、'.join(unknown)}", task_id))
    return out


def _check_expressions(process: etree._Element, markers: Mapping[str, Marker]) -> list[Reason]:
    reasons = []
    found: list[tuple[str | None, str, str]] = []
    for el in process.iter():
        if not isinstance(el.tag, str):
            continue
        kind = _local(el.tag)
        owner = el.getparent()
        owner_id = owner.get("id") if owner is not None else None
        if kind in ("conditionExpression", "timeDate", "timeDuration", "timeCycle", "completionCondition",
                    "loopCardinality", "loopCondition", "messagePath", "formalExpression"):
            found.append((owner_id if kind != "conditionExpression" else owner_id, kind, el.text or ""))
        elif kind == "parameter" and etree.QName(el).namespace == SPIFF_NS and "value" in el.attrib:
            task = el.getparent().getparent().getparent().getparent()
            found.append((task.get("id") if task is not None else None, "parameter", el.get("value", "")))
        elif (kind == "property" and etree.QName(el).namespace == SPIFF_NS
              and el.get("name") in markers and markers[el.get("name", "")].expression):
            task = el.getparent().getparent().getparent()
            found.append((task.get("id") if task is not None else None, el.get("name", ""), el.get("value", "")))
    for element_id, kind, source in found:
        text = source.strip()
        marker = markers.get(kind)
        what = f"{marker.title or marker.name}" if marker is not None else "表达式"
        for problem in expression_problems(text):
            reasons.append(Reason("expression", f"{what} {text!r} 不允许：{problem}", element_id))
    return reasons


_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def expression_problems(source: str) -> list[str]:
    """What is wrong with an expression a diagram carries: the safe language's checks, and every name it reads
    being a data field's name (fields are named in ASCII: a Chinese word such as 三天 is not one, though Python
    would take it for a name)."""
    problems = expressions.check(source)
    if problems:
        return problems
    strangers = sorted(n for n in expressions.compile_expression(source).names if not _FIELD_NAME.fullmatch(n))
    return [f"「{name}」不是数据字段名（字段名只用英文字母、数字和下划线；数字请写阿拉伯数字，如 3）"
            for name in strangers]


def _check_graph(process: etree._Element) -> list[Reason]:
    """Every node reachable from a start and able to reach an end, every loop through a wait state, every
    branch of an exclusive gateway decided.

    A broken flow makes many nodes unable to reach an end (or unreachable); each problem is reported once, at
    its root cause — the node with no way on, or the loop with no exit — with how many nodes it cuts off.
    """
    kinds: dict[str, str] = {}
    names: dict[str, str] = {}
    for el in process:
        if isinstance(el.tag, str) and _local(el.tag) in FLOW_NODES:
            kinds[el.get("id", "")] = _local(el.tag)
            names[el.get("id", "")] = (el.get("name") or "").strip() or el.get("id", "")
    succ: dict[str, set[str]] = {n: set() for n in kinds}
    pred: dict[str, set[str]] = {n: set() for n in kinds}
    reasons = []
    outgoing: dict[str, list[etree._Element]] = {n: [] for n in kinds}
    for flow in process.findall(f"{{{BPMN_NS}}}sequenceFlow"):
        src, dst = flow.get("sourceRef", ""), flow.get("targetRef", "")
        for end in (src, dst):
            if end not in kinds:
                reasons.append(Reason("dangling_flow", f"顺序流引用了不存在的节点 {end!r}", flow.get("id")))
        if src in kinds and dst in kinds:
            succ[src].add(dst)
            pred[dst].add(src)
            outgoing[src].append(flow)
    for el in process.findall(f"{{{BPMN_NS}}}boundaryEvent"):
        host = el.get("attachedToRef", "")
        if host in kinds:
            succ[host].add(el.get("id", ""))
            pred[el.get("id", "")].add(host)
        else:
            reasons.append(Reason("dangling_boundary", f"边界事件依附的节点 {host!r} 不存在", el.get("id")))
    starts = [n for n, k in kinds.items() if k == "startEvent"]
    ends = [n for n, k in kinds.items() if k == "endEvent"]
    reachable = _closure(starts, succ)
    finishing = _closure(ends, pred)
    unreachable = {n for n in kinds if n not in reachable}
    stuck = {n for n in reachable if n not in finishing}
    if not starts:
        reasons.append(Reason("no_start", "流程没有开始事件"))
    else:
        reasons.extend(_root_causes(unreachable, pred, succ, names, "unreachable"))
    dead_ends = _root_causes(stuck, succ, pred, names, "dead_end", no_end=not ends)
    if not ends and not dead_ends:
        reasons.append(Reason("no_end", "流程没有结束事件"))
    reasons.extend(dead_ends)
    for component in _cycles(succ):
        if not any(kinds[n] in WAIT_STATES for n in component):
            first = sorted(component)[0]
            members = "、".join(f"「{names[n]}」" for n in sorted(component))
            reasons.append(Reason("busy_loop", f"循环 {members} 中没有等待节点（人工任务或捕获事件），会无限空转", first))
    for node, flows in outgoing.items():
        if kinds[node] in ACTIVITIES and len(flows) > 1:
            reasons.append(Reason("multiple_outgoing", f"「{names[node]}」有 {len(flows)} 条流出的顺序流：任务只能有一个出口，"
                                  "要分支请在其后加网关", node))
    for gateway, flows in outgoing.items():
        if kinds[gateway] != "exclusiveGateway" or len(flows) < 2:
            continue
        default = process.xpath("./*[@id=$gid]/@default", gid=gateway)
        for flow in flows:
            if flow.get("id") in default or flow.find(f"{{{BPMN_NS}}}conditionExpression") is not None:
                continue
            reasons.append(Reason("no_condition", f"网关「{names[gateway]}」有多个出口，这条连线既没有条件也不是默认流向"
                                  "（请写条件，或把它设为默认流向）", flow.get("id")))
    return reasons


def _root_causes(cut_off: set[str], ahead: Mapping[str, set[str]], behind: Mapping[str, set[str]],
                 names: Mapping[str, str], code: str, no_end: bool = False) -> list[Reason]:
    """One reason per root cause of a set of cut-off nodes, looking ``ahead`` (towards the ends for
    "cannot finish", back towards the start for "unreachable"): a node or loop from which no edge leaves the
    set's far side is the cause; every other node of the set is cut off because of one.

    ``cut_off`` is closed under ``ahead`` (what follows a node that cannot finish cannot finish either), so the
    components with no edge ahead to another component are exactly the causes."""
    if not cut_off:
        return []
    within = {n: {m for m in ahead[n] if m in cut_off} for n in cut_off}
    reasons = []
    for component in _strong_components(within):
        members = sorted(component)
        if any(m not in component for n in members for m in within[n]):
            continue
        affected = len(_closure(members, {n: {m for m in behind[n] if m in cut_off} for n in cut_off})) - len(members)
        also = f"；因此另有 {affected} 个节点{'也无法到达结束事件' if code == 'dead_end' else '也无法到达'}" if affected else ""
        looped = len(members) > 1 or members[0] in within[members[0]]
        label = "、".join(f"「{names[n]}」" for n in members)
        if code == "dead_end" and looped:
            message = f"循环 {label} 没有出口，进入后流程无法结束{also}"
        elif code == "dead_end":
            more = "（流程没有结束事件，请在其后加上结束事件）" if no_end else ""
            message = f"{label}没有流出的顺序流，流程到此无法继续{more}{also}"
        elif looped:
            message = f"循环 {label} 没有入口，从开始事件无法到达{also}"
        else:
            message = f"{label}没有流入的顺序流，从开始事件无法到达该节点{also}"
        reasons.append(Reason(code, message, members[0]))
    return reasons


def _closure(seeds: Iterable[str], edges: Mapping[str, set[str]]) -> set[str]:
    seen = set(seeds)
    stack = list(seen)
    while stack:
        for nxt in edges.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _cycles(succ: Mapping[str, set[str]]) -> list[set[str]]:
    """Strongly connected components that form a cycle."""
    return [c for c in _strong_components(succ)
            if len(c) > 1 or next(iter(c)) in succ.get(next(iter(c)), ())]


def _strong_components(succ: Mapping[str, set[str]]) -> list[set[str]]:
    """Every strongly connected component (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[set[str]] = []
    counter = 0
    for root in sorted(succ):
        if root in index:
            continue
        work = [(root, iter(sorted(succ[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(succ.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                out.append(component)
    return out


def forms_from_directory(directory: Any) -> FormSource:
    """A FormSource reading ``<directory>/<name>`` (names may not leave the directory)."""
    from pathlib import Path

    base = Path(directory).resolve()

    def read(name: str) -> Any:
        path = (base / name).resolve()
        if base not in path.parents or not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    return read
