"""Form definitions (JSON Schema kept beside the diagrams) and server-side validation.

Error messages are in Chinese and keyed by field, so a page can show each next to its input.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError

from ..errors import FormValidationError

_TYPE_NAMES = {
    "string": "文本",
    "number": "数字",
    "integer": "整数",
    "boolean": "是/否",
    "array": "列表",
    "object": "对象",
}


@dataclass(frozen=True)
class FormDefinition:
    """A node's form: the JSON Schema plus what the UI needs from it."""

    name: str
    schema: Mapping[str, Any]

    @property
    def title(self) -> str:
        """The form's Chinese title."""
        return str(self.schema.get("title", self.name))

    @property
    def fields(self) -> tuple[str, ...]:
        """Field names in declaration order."""
        return tuple(self.schema.get("properties", {}))

    @property
    def documents(self) -> tuple[Mapping[str, Any], ...]:
        """The documents this node asks for (x-documents): key, title, required, optional customer types."""
        return tuple(self.schema.get("x-documents", ()))

    def document_title(self, key: str) -> str:
        """The Chinese title of a document key."""
        return next((str(d.get("title", key)) for d in self.documents if d.get("key") == key), key)

    def label(self, field: str) -> str:
        """The Chinese label of a field."""
        prop = self.schema.get("properties", {}).get(field, {})
        return str(prop.get("title", field))

    def validate(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Check submitted data; return it with absent optional fields set to None."""
        if not isinstance(data, Mapping):
            raise FormValidationError("提交的数据必须是一个对象（键值对）", {})
        errors: dict[str, str] = {}
        for key, value in data.items():
            if isinstance(value, float) and not math.isfinite(value):
                errors[str(key)] = f"{self.label(str(key))}：不是有效的数字"
        for err in _validator(self.name, json.dumps(self.schema, sort_keys=True)).iter_errors(dict(data)):
            field, message = self._describe(err)
            errors.setdefault(field, message)
        identity = self.schema.get("x-identityDocuments")
        if identity and "documents_received" not in errors:
            received = data.get("documents_received") or []
            if not isinstance(received, list) or not set(identity) & set(received):
                names = "、".join(self.document_title(k) for k in identity)
                errors["documents_received"] = f"{self.label('documents_received')}：一证受理至少需要一种身份证明（{names}）"
        if errors:
            summary = "；".join(errors.values())
            raise FormValidationError(f"表单「{self.title}」有 {len(errors)} 处错误：{summary}", errors)
        filled = {field: None for field in self.fields}
        filled.update(data)
        return filled

    def _describe(self, err: ValidationError) -> tuple[str, str]:
        """A field name and a Chinese message for one schema violation."""
        path = [str(p) for p in err.absolute_path]
        if err.validator == "required":
            missing = err.message.split("'")[1] if "'" in err.message else ""
            return missing or "_", f"{self.label(missing)}：必填"
        if err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(self.fields)) if isinstance(err.instance, dict) else []
            name = extra[0] if extra else "_"
            return name, f"{name}：不是本表单的字段"
        field = path[0] if path else "_"
        label = self.label(field)
        schema = err.schema if isinstance(err.schema, Mapping) else {}
        v = err.validator
        if v == "type":
            wanted = schema.get("type")
            wanted_list = wanted if isinstance(wanted, list) else [wanted]
            names = "或".join(_TYPE_NAMES.get(str(t), str(t)) for t in wanted_list if t != "null")
            return field, f"{label}：应为{names}"
        if v == "enum":
            choices = schema.get("x-enumNames") or schema.get("enum") or []
            return field, f"{label}：必须是以下之一：{'、'.join(str(c) for c in choices)}"
        bounds = {"minimum": "不能小于", "exclusiveMinimum": "必须大于", "maximum": "不能大于", "exclusiveMaximum": "必须小于"}
        if v in bounds:
            return field, f"{label}：{bounds[v]} {schema.get(v)}"
        if v == "pattern":
            return field, f"{label}：格式不正确"
        if v == "maxLength":
            return field, f"{label}：不能超过 {schema.get('maxLength')} 个字符"
        if v == "minLength":
            return field, f"{label}：不能少于 {schema.get('minLength')} 个字符"
        if v == "format":
            return field, f"{label}：格式应为 {schema.get('format')}"
        if v in ("minItems", "maxItems", "uniqueItems"):
            return field, f"{label}：列表项数量或内容不符合要求"
        return field, f"{label}：取值不符合要求"


@lru_cache(maxsize=512)
def _validator(name: str, schema_json: str) -> Draft202012Validator:
    """A compiled validator per schema (cached: forms are validated on every completion)."""
    schema = json.loads(schema_json)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def check_schema(name: str, schema: Any) -> list[str]:
    """Problems with a form definition itself, in Chinese ([] when fine)."""
    if not isinstance(schema, dict):
        return [f"表单 {name} 不是 JSON 对象"]
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(part) for part in exc.path) or "顶层"
        return [f"表单 {name} 不是有效的 JSON Schema：{where} 处的「{exc.validator}」规则不满足"]
    problems = []
    if schema.get("type") != "object":
        problems.append(f"表单 {name} 的 type 必须是 object")
    for field, prop in schema.get("properties", {}).items():
        if not isinstance(prop, dict) or not prop.get("title"):
            problems.append(f"表单 {name} 的字段 {field} 缺少中文标题（title）")
        elif "enum" in prop and "x-enumNames" in prop and len(prop["enum"]) != len(prop["x-enumNames"]):
            problems.append(f"表单 {name} 的字段 {field} 的 x-enumNames 与 enum 数量不一致")
    problems.extend(_send_back_problems(name, schema))
    return problems


def _send_back_problems(name: str, schema: Mapping[str, Any]) -> list[str]:
    """x-sendBack names the decision field, the values of it that send the work back, and the reason field."""
    rule = schema.get("x-sendBack")
    if rule is None:
        return []
    properties = schema.get("properties", {})
    if not isinstance(rule, dict) or not isinstance(rule.get("field"), str) or not isinstance(rule.get("values"), list):
        return [f"表单 {name} 的 x-sendBack 应为 {{\"field\": 结论字段, \"values\": [退回的取值], \"reason\": 原因字段}}"]
    problems = []
    decision = properties.get(rule["field"])
    if not isinstance(decision, dict) or not isinstance(decision.get("enum"), list):
        problems.append(f"表单 {name} 的 x-sendBack 结论字段 {rule['field']} 不存在或不是选择项")
    elif not set(map(str, rule["values"])) <= set(map(str, decision["enum"])):
        problems.append(f"表单 {name} 的 x-sendBack 退回取值不在字段 {rule['field']} 的选项中")
    reason = rule.get("reason")
    if reason is not None and reason not in properties:
        problems.append(f"表单 {name} 的 x-sendBack 原因字段 {reason} 不存在")
    return problems
