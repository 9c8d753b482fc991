"""What changed between two deployed versions of a process, node by node and flow by flow, in Chinese.

The comparison reads the two versions' own XML (the node table of :class:`ParsedDiagram` and the
sequence flows with their conditions), matching elements by id; it is deterministic: the same two
versions always give the same diff in the same order (document order of the diagrams).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..kernel.loading import BPMN_NS, NS, NodeInfo, ParsedDiagram, parse_xml
from ..vocabulary import ROLES
from ..results import FlowChange, NodeChange, VersionDiff

KIND_NAMES = {
    "startEvent": "开始事件", "endEvent": "结束事件", "userTask": "环节", "manualTask": "环节",
    "serviceTask": "自动环节", "task": "环节", "sendTask": "环节", "receiveTask": "环节",
    "exclusiveGateway": "网关", "parallelGateway": "网关", "inclusiveGateway": "网关",
    "eventBasedGateway": "网关", "intermediateCatchEvent": "事件", "intermediateThrowEvent": "事件",
    "boundaryEvent": "边界事件",
}
PROPERTY_NAMES = {"timeLimit": "时限", "formJsonSchemaFilename": "表单", "assignee": "处理人"}
PropertyNames = Mapping[str, tuple[str, Mapping[str, str] | None]]
"""A node property → its Chinese name and, when it has a fixed set of values, their Chinese names (the gate's
markers)."""


@dataclass(frozen=True)
class _Flow:
    id: str
    source: str
    target: str
    condition: str | None


@dataclass(frozen=True)
class _Outline:
    """The parts of a version the diff compares beyond the node table."""

    flows: Mapping[str, _Flow]
    defaults: Mapping[str, str]  # gateway id -> id of its default flow
    operators: Mapping[str, tuple[str, tuple[tuple[str, str], ...]]]  # service task id -> (operator, params)


def _outline(diagram: ParsedDiagram) -> _Outline:
    root = parse_xml(diagram.xml, max_bytes=len(diagram.xml) + 1).getroot()
    process = next(p for p in root.findall(f"{{{BPMN_NS}}}process") if p.get("id") == diagram.process_id)
    flows: dict[str, _Flow] = {}
    for flow in process.findall(f"{{{BPMN_NS}}}sequenceFlow"):
        cond = flow.find(f"{{{BPMN_NS}}}conditionExpression")
        text = (cond.text or "").strip() if cond is not None else None
        flows[flow.get("id", "")] = _Flow(flow.get("id", ""), flow.get("sourceRef", ""), flow.get("targetRef", ""),
                                          text or None)
    defaults = {el.get("id", ""): el.get("default", "") for el in process
                if isinstance(el.tag, str) and el.get("default")}
    operators = {}
    for task in process.findall(f"{{{BPMN_NS}}}serviceTask"):
        for op in task.xpath("./bpmn:extensionElements/spiffworkflow:serviceTaskOperator", namespaces=NS):
            params = tuple(sorted((p.get("id", ""), p.get("value", ""))
                                  for p in op.xpath(".//spiffworkflow:parameter", namespaces=NS)))
            operators[task.get("id", "")] = (op.get("id", ""), params)
    return _Outline(flows, defaults, operators)


def _role(role: str | None) -> str:
    return ROLES.get(role, role) if role else "无"


def _cond(text: str | None) -> str:
    return f"「{text}」" if text else "无条件"


class _Differ:
    """Compares two versions; the methods each produce one part of the diff."""

    def __init__(self, old: ParsedDiagram, new: ParsedDiagram, properties: PropertyNames | None = None) -> None:
        self.old, self.new = old, new
        self.old_outline, self.new_outline = _outline(old), _outline(new)
        self.properties = properties or {}

    def form(self, diagram: ParsedDiagram, name: str | None) -> str:
        form = diagram.forms.get(name) if name else None
        return f"「{form.title}」（{name}）" if form is not None else (name or "无")

    def property_change(self, key: str, before: str | None, after: str | None) -> str:
        title, values = self.properties.get(key, (PROPERTY_NAMES.get(key, "属性 " + key), None))

        def shown(value: str | None) -> str:
            return (values or {}).get(value, value) if value else "无"

        return f"{title} {shown(before)} 改为 {shown(after)}"

    def label(self, node_id: str) -> str:
        node = self.new.nodes.get(node_id) or self.old.nodes.get(node_id)
        return f"「{node.name}」" if node is not None else f"「{node_id}」"

    def node_changes(self, old: NodeInfo, new: NodeInfo) -> list[str]:
        parts = []
        if old.kind != new.kind:
            parts.append(f"类型 {old.kind} 改为 {new.kind}")
        if old.name != new.name:
            parts.append(f"名称「{old.name}」改为「{new.name}」")
        if old.role != new.role:
            parts.append(f"角色（泳道）{_role(old.role)} 改为 {_role(new.role)}")
        if old.form != new.form:
            parts.append(f"表单 {self.form(self.old, old.form)} 改为 {self.form(self.new, new.form)}")
        if old.assignee != new.assignee:
            parts.append(f"处理人规则 {old.assignee or '无'} 改为 {new.assignee or '无'}")
        for key in sorted(set(old.properties) | set(new.properties)):
            if key in ("formJsonSchemaFilename", "assignee"):
                continue
            before, after = old.properties.get(key), new.properties.get(key)
            if before != after:
                parts.append(self.property_change(key, before, after))
        op_before, op_after = self.old_outline.operators.get(old.id), self.new_outline.operators.get(new.id)
        if op_before != op_after:
            if op_before and op_after and op_before[0] == op_after[0]:
                parts.append(f"处理器 {op_after[0]} 的参数改变")
            else:
                parts.append(f"处理器 {op_before[0] if op_before else '无'} 改为 {op_after[0] if op_after else '无'}")
        for flow_id, flow in self.old_outline.flows.items():
            now = self.new_outline.flows.get(flow_id)
            if flow.source == old.id and now is not None and now.source == new.id and flow.condition != now.condition:
                parts.append(f"出口 {flow_id} 的条件由{_cond(flow.condition)}改为{_cond(now.condition)}")
        default_before = self.old_outline.defaults.get(old.id)
        default_after = self.new_outline.defaults.get(new.id)
        if default_before != default_after:
            parts.append(f"默认出口由 {default_before or '无'} 改为 {default_after or '无'}")
        return parts

    def flow_changes(self) -> tuple[list[FlowChange], list[str]]:
        changes: list[FlowChange] = []
        sentences: list[str] = []
        before, after = self.old_outline.flows, self.new_outline.flows
        for flow_id, flow in after.items():
            old = before.get(flow_id)
            route = f"{self.label(flow.source)}→{self.label(flow.target)}"
            if old is None:
                changes.append(FlowChange(flow_id, flow.source, flow.target, f"新增：{route}"))
                sentences.append(f"新增顺序流 {flow_id}：从{self.label(flow.source)}到{self.label(flow.target)}")
                continue
            if (old.source, old.target) != (flow.source, flow.target):
                was = f"{self.label(old.source)}→{self.label(old.target)}"
                changes.append(FlowChange(flow_id, flow.source, flow.target, f"改为 {route}（原为 {was}）"))
                sentences.append(f"顺序流 {flow_id} 改为从{self.label(flow.source)}直接到{self.label(flow.target)}"
                                 f"（原为{self.label(old.source)}到{self.label(old.target)}）")
            if old.condition != flow.condition:
                detail = f"条件由{_cond(old.condition)}改为{_cond(flow.condition)}"
                changes.append(FlowChange(flow_id, flow.source, flow.target, detail))
                sentences.append(f"顺序流 {flow_id}（{route}）的{detail}")
        for flow_id, flow in before.items():
            if flow_id not in after:
                route = f"{self.label(flow.source)}→{self.label(flow.target)}"
                changes.append(FlowChange(flow_id, flow.source, flow.target, f"删除：{route}"))
                sentences.append(f"删除顺序流 {flow_id}（{route}）")
        return changes, sentences


def diff_versions(process_key: str, from_version: int, to_version: int,
                  old: ParsedDiagram, new: ParsedDiagram, properties: PropertyNames | None = None) -> VersionDiff:
    """The differences between two versions of a process, with a summary in Chinese sentences (node properties
    named as ``properties`` says)."""
    differ = _Differ(old, new, properties)
    removed = tuple(NodeChange(n.id, n.name, n.kind, "删除") for n in old.nodes.values() if n.id not in new.nodes)
    added = tuple(NodeChange(n.id, n.name, n.kind, "新增") for n in new.nodes.values() if n.id not in old.nodes)
    changed = []
    for node in new.nodes.values():
        before = old.nodes.get(node.id)
        if before is not None:
            parts = differ.node_changes(before, node)
            if parts:
                changed.append(NodeChange(node.id, node.name, node.kind, "；".join(parts)))
    rerouted, flow_sentences = differ.flow_changes()
    summary = [f"删除{KIND_NAMES.get(n.kind, '节点')}「{n.name}」（{n.node_id}）" for n in removed]
    summary += [f"新增{KIND_NAMES.get(n.kind, '节点')}「{n.name}」（{n.node_id}）" for n in added]
    summary += [f"{KIND_NAMES.get(n.kind, '节点')}「{n.name}」（{n.node_id}）：{n.detail}" for n in changed]
    summary += flow_sentences
    summary += process_property_changes(old.properties, new.properties)
    if not summary:
        summary = [f"第 {from_version} 版与第 {to_version} 版的流程没有差别"]
    return VersionDiff(process_key, from_version, to_version, added, removed, tuple(changed), tuple(rerouted),
                       tuple(summary))


def process_property_changes(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """The process's own properties (policy clocks, ``policyClock.<key>``) added, removed or changed."""
    out = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if before is None:
            out.append(f"新增流程属性 {key}：{after}")
        elif after is None:
            out.append(f"删除流程属性 {key}（原为：{before}）")
        else:
            out.append(f"流程属性 {key} 由「{before}」改为「{after}」")
    return out
