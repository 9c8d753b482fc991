"""Form definitions (JSON Schema kept beside the diagrams) and server-side validation.

Error messages are in Chinese and keyed by field, so a page can show each next to its input. A submission
is checked in four passes, each reporting every problem it finds; a later pass runs only on what the
earlier ones let through:

1. what no field may hold, whatever its schema: NUL, lone surrogates (not text at all), text beyond
   :data:`MAX_TEXT` characters, numbers that are not finite or beyond :data:`MAX_MAGNITUDE`;
2. the JSON Schema, with ``date`` and ``date-time`` checked strictly (RFC 3339) by our own checker —
   jsonschema checks ``date-time`` only when an optional package happens to be installed;
   a sub-schema may carry ``x-errorMessage``, said instead of the generic message;
3. the form's own rules between fields: ``x-after`` / ``x-notBefore`` (a date no earlier than another
   field of this submission or of the application's earlier data) and ``x-notAfterNow`` (not in the future);
4. the business check the form names (``x-check``, one of :data:`handlers.FORM_CHECKS`), once the values
   have their declared types.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Mapping

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError, ValidationError

import handlers
from handlers.settings import PolicySettings

from ..errors import FormValidationError

MAX_TEXT = 10_000
"""No text field is longer (the forms' own limits are at most 2,000): beyond this, a paste gone wrong or a probe."""
MAX_MAGNITUDE = 10**15
"""No quantity, amount or reading reaches this; larger numbers overflow the rules' arithmetic."""
CLOCK_TOLERANCE = timedelta(minutes=10)
"""A time "not in the future" may run this much ahead of the server's clock (a clerk's watch, a channel's)."""

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})")
_SURROGATE = re.compile("[\ud800-\udfff]")
FORMAT_NAMES = {"date": "日期，如 2025-03-05", "date-time": "日期时间（含时区），如 2025-03-05T09:30:00+08:00"}


def is_date(value: object) -> bool:
    """A calendar date written YYYY-MM-DD (RFC 3339 full-date), and a real one (no 2月30日)."""
    if not isinstance(value, str):
        return True  # the type keyword speaks for other types
    if not _DATE.fullmatch(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def is_date_time(value: object) -> bool:
    """An RFC 3339 date-time: date, 'T', time with seconds, and a zone ('Z' or ±hh:mm)."""
    if not isinstance(value, str):
        return True
    if not _DATE_TIME.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


FORMATS = FormatChecker(formats=())
FORMATS.checks("date")(is_date)
FORMATS.checks("date-time")(is_date_time)


def moment(value: Any) -> datetime | None:
    """A date or date-time value as a naive local moment (a date at its start), or None if it is neither."""
    if not isinstance(value, str):
        return None
    try:
        if _DATE.fullmatch(value):
            return datetime.combine(date.fromisoformat(value), datetime.min.time())
        return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        return None


@dataclass(frozen=True)
class FormContext:
    """What a form's rules may look at besides the submission: the application's data before this step,
    the moment of submission, the policy figures, and the Chinese titles of every field of the process."""

    data: Mapping[str, Any] = field(default_factory=dict)
    now: datetime | None = None
    settings: PolicySettings | None = None
    titles: Mapping[str, str] = field(default_factory=dict)

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

    @property
    def check(self) -> str | None:
        """The business check this form names (``x-check``), if any."""
        name = self.schema.get("x-check")
        return str(name) if name else None

    def validate(self, data: Mapping[str, Any], context: FormContext | None = None) -> dict[str, Any]:
        """Check submitted data; return it with absent optional fields set to None."""
        if not isinstance(data, Mapping):
            raise FormValidationError("提交的数据必须是一个对象（键值对）", {})
        context = context or FormContext()
        errors = self._unusable_values(data)
        if not errors:
            for err in _validator(self.name, json.dumps(self.schema, sort_keys=True)).iter_errors(dict(data)):
                name, message = self._describe(err)
                errors.setdefault(name, message)
        identity = self.schema.get("x-identityDocuments")
        if identity and "documents_received" not in errors:
            received = data.get("documents_received") or []
            if not isinstance(received, list) or not set(identity) & set(received):
                names = "、".join(self.document_title(k) for k in identity)
                errors["documents_received"] = f"{self.label('documents_received')}：一证受理至少需要一种身份证明（{names}）"
        if not errors:
            errors.update(self._relations(data, context))
        if not errors and self.check is not None:
            check = handlers.FORM_CHECKS.get(self.check)
            settings = context.settings or PolicySettings()
            for name, message in (check(data, context.data, settings) if check else {}).items():
                errors.setdefault(name, f"{self.label(name)}：{message}")
        if errors:
            summary = "；".join(errors.values())
            raise FormValidationError(f"表单「{self.title}」有 {len(errors)} 处错误：{summary}", errors)
        filled = {name: None for name in self.fields}
        filled.update(data)
        return filled

    def check_value(self, name: str, value: Any, context: FormContext) -> list[str]:
        """Every problem with one corrected value, in Chinese ([] if none): what no field may hold, the field's
        schema, and — on the application's data with the value in it — the form's rules between fields and
        its business check, so that a correction cannot make the data what the form would have refused."""
        props = self.schema.get("properties", {})
        if name not in props:
            return [f"{name}：不是表单「{self.title}」的字段"]
        problems = list(self._unusable_values({name: value}).values())
        if problems:
            return problems
        single = {"type": "object", "properties": {name: props[name]}, "required": [name]}
        for err in _validator(f"{self.name}#{name}", json.dumps(single, sort_keys=True)).iter_errors({name: value}):
            problems.append(self._describe(err)[1])
        if problems:
            return problems
        merged = {**context.data, name: value}
        # a None stands for an optional field left out (validate() fills those in), unless the field takes null
        own = {key: merged[key] for key in self.fields
               if key in merged and (merged[key] is not None or _nullable(props.get(key)))}
        # the form's conditions between fields (dual supply → a backup line …) on the data as it would stand;
        # a field the data never had is not this correction's business
        for err in _validator(self.name, json.dumps(self.schema, sort_keys=True)).iter_errors(own):
            key, message = self._describe(err)
            if not (err.validator == "required" and key not in own):
                problems.append(message)
        if problems:
            return list(dict.fromkeys(problems))
        problems.extend(self._relations(own, FormContext(merged, context.now, context.settings, context.titles)).values())
        check = handlers.FORM_CHECKS.get(self.check) if self.check else None
        if check is not None and not problems:
            problems.extend(f"{self.label(key)}：{message}"
                            for key, message in check(own, merged, context.settings or PolicySettings()).items())
        return problems

    def _unusable_values(self, data: Mapping[str, Any]) -> dict[str, str]:
        """Values no field may hold, by the top-level field they sit in (walked without recursion)."""
        errors: dict[str, str] = {}
        for key, value in data.items():
            name = str(key)
            if _bad_text(name):
                errors["_"] = "提交的字段名含有无效字符（空字符或不成对的代理字符）"
                continue
            prop = self.schema.get("properties", {}).get(name)
            limit = prop.get("maxLength") if isinstance(prop, Mapping) else None
            stack: list[Any] = [value]
            while stack and name not in errors:
                item = stack.pop()
                if isinstance(item, str):
                    problem = _text_problem(item, limit if isinstance(limit, int) and limit < MAX_TEXT else None)
                    if problem:
                        errors[name] = f"{self.label(name)}：{problem}"
                elif isinstance(item, bool) or item is None:
                    continue
                elif isinstance(item, (int, float)):
                    problem = _number_problem(item)
                    if problem:
                        errors[name] = f"{self.label(name)}：{problem}"
                elif isinstance(item, Mapping):
                    stack.extend(item.keys())
                    stack.extend(item.values())
                elif isinstance(item, (list, tuple)):
                    stack.extend(item)
        return errors

    def _relations(self, data: Mapping[str, Any], context: FormContext) -> dict[str, str]:
        """The form's rules between fields: dates in order, times not in the future."""
        errors: dict[str, str] = {}
        for name, prop in self.schema.get("properties", {}).items():
            if not isinstance(prop, Mapping) or data.get(name) is None:
                continue
            here = moment(data.get(name))
            if here is None:
                continue
            for rule, strict in (("x-notBefore", False), ("x-after", True)):
                other = prop.get(rule)
                if not other:
                    continue
                other_value = data.get(other) if data.get(other) is not None else context.data.get(other)
                there = moment(other_value)
                if there is None:
                    continue
                if isinstance(data.get(name), str) and _DATE.fullmatch(data[name]):
                    there = datetime.combine(there.date(), datetime.min.time())  # a date against a day
                if here < there or (strict and here == there):
                    when = "晚于" if strict else "不早于"
                    title = self._title_of(str(other), context)
                    errors[name] = f"{self.label(name)}：应{when}{title}（{_shown(other_value)}）"
                    break
            if name not in errors and prop.get("x-notAfterNow") and context.now is not None \
                    and here > context.now + CLOCK_TOLERANCE:
                errors[name] = f"{self.label(name)}：不能晚于当前时间（{context.now:%Y-%m-%d %H:%M}）"
        return errors

    def _title_of(self, name: str, context: FormContext) -> str:
        if name in self.schema.get("properties", {}):
            return self.label(name)
        return str(context.titles.get(name, name))

    def _describe(self, err: ValidationError) -> tuple[str, str]:
        """A field name and a Chinese message for one schema violation."""
        path = [str(p) for p in err.absolute_path]
        schema = err.schema if isinstance(err.schema, Mapping) else {}
        special = schema.get("x-errorMessage")
        if err.validator == "required":
            missing = err.message.split("'")[1] if "'" in err.message else ""
            return missing or "_", f"{self.label(missing)}：{special or '必填'}"
        if err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(self.fields)) if isinstance(err.instance, dict) else []
            name = _shown(extra[0]) if extra else "_"
            return name, f"{name}：不是本表单的字段"
        field = path[0] if path else "_"
        label = self.label(field)
        if special:
            return field, f"{label}：{special}"
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
            return field, f"{label}：格式应为{FORMAT_NAMES.get(str(schema.get('format')), str(schema.get('format')))}"
        if v in ("minItems", "maxItems", "uniqueItems"):
            return field, f"{label}：列表项数量或内容不符合要求"
        return field, f"{label}：取值不符合要求"


@lru_cache(maxsize=512)
def _validator(name: str, schema_json: str) -> Draft202012Validator:
    """A compiled validator per schema (cached: forms are validated on every completion)."""
    schema = json.loads(schema_json)
    return Draft202012Validator(schema, format_checker=FORMATS)


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
        if isinstance(prop, dict):
            for rule in ("x-after", "x-notBefore"):
                if rule in prop and not (isinstance(prop[rule], str) and prop[rule]):
                    problems.append(f"表单 {name} 的字段 {field} 的 {rule} 必须是另一个字段的名称")
    check = schema.get("x-check")
    if check is not None and check not in handlers.FORM_CHECKS:
        known = "、".join(handlers.FORM_CHECKS)
        problems.append(f"表单 {name} 的 x-check {check!r} 不是已知的业务校验（可用：{known}）")
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


def _nullable(prop: Any) -> bool:
    kinds = prop.get("type") if isinstance(prop, Mapping) else None
    return kinds == "null" or (isinstance(kinds, list) and "null" in kinds)


def _bad_text(text: str) -> bool:
    return "\x00" in text or _SURROGATE.search(text) is not None


def _text_problem(text: str, limit: int | None = None) -> str | None:
    """Why a text cannot be kept, in Chinese (None if it can); ``limit``: the field's own maximum length."""
    if "\x00" in text:
        return "不能含有空字符（NUL）"
    if _SURROGATE.search(text):
        return "含有无效字符（不成对的代理字符，不是有效的文本）"
    if len(text) > MAX_TEXT:
        if limit is not None:
            return f"不能超过 {limit} 个字符（现有 {len(text)} 个）"
        return f"内容过长（{len(text)} 个字符，任何字段都不超过 {MAX_TEXT} 个字符）"
    return None


def _number_problem(number: int | float) -> str | None:
    if isinstance(number, float) and not math.isfinite(number):
        return "不是有效的数字"
    if abs(number) >= MAX_MAGNITUDE:
        return "数值过大，请核实"
    return None


def _shown(value: Any) -> str:
    """A value quoted in a message: never long, never invalid text."""
    text = _SURROGATE.sub("\ufffd", str(value)).replace("\x00", "")
    return text if len(text) <= 40 else text[:40] + "…"
