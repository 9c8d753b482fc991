"""Between a form definition (JSON Schema) and an HTML form: which input each field gets, how the
submitted strings become typed values, and how stored values are shown again.

Parsing never raises: it returns the data it could read and a Chinese message per field it could not,
so that a page can show every problem at once next to its input.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from urllib.parse import unquote_to_bytes

from werkzeug.datastructures import MultiDict

from engine import FormDefinition

CHINA_UTC_OFFSET = "+08:00"
"""Times typed into a datetime-local input are Beijing time (China has one time zone)."""

LONG_TEXT = 200
"""Strings allowed to be longer than this get a textarea."""

RADIO_MAX = 3
"""Enums with at most this many choices are radio buttons, longer ones a select."""

ECHO_LIMIT = 2000
"""A refused form is shown again with what was typed, but no input gets back more than this many characters (or its
field's own limit): a 10 MB paste is not sent back as a 10 MB page."""

MAX_NUMBER_TEXT = 30
"""A number typed with more characters than this is no quantity (and would take long to convert)."""

NOT_UTF8 = "含有无法识别的字符：提交的内容不是有效的 UTF-8 编码文字，请重新输入"
MANY_VALUES = "提交了多个不同的值，只能填写一个，请重新填写"
NUL_IN_FIELD = "不能含有空字符（NUL），请删除后重新提交"

_INTEGER = re.compile(r"^[+-]?\d+$")
_LIST_SEPARATORS = re.compile(r"[\n,，、;；]+")
_DATETIME_INPUT = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2})?$")


@dataclass(frozen=True)
class Field:
    """One field of a form as the page shows it."""

    name: str
    title: str
    help: str
    widget: str  # text | textarea | number | integer | date | datetime | select | radio | boolean | checklist | lines
    value_type: str  # the JSON type of the value (of each item, for lists)
    required: bool
    nullable: bool
    options: tuple[tuple[str, str], ...] = ()  # (submitted value, Chinese name)
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None

    @property
    def is_list(self) -> bool:
        """Whether the value is a list (checklist or one item per line)."""
        return self.widget in ("checklist", "lines")

    def with_options(self, options: Iterable[tuple[str, str]]) -> "Field":
        """The same field choosing from other options (e.g. staff of a role, documents for a customer type)."""
        options = tuple(options)
        if self.is_list:
            return replace(self, options=options, widget="checklist")
        return replace(self, options=options, widget="radio" if len(options) <= RADIO_MAX else "select")

    def option_name(self, value: Any) -> str:
        """The Chinese name of one stored value."""
        text = _input_text(value)
        return next((name for key, name in self.options if key == text), text)


def fields_of(form: FormDefinition) -> list[Field]:
    """The fields of a form, in declaration order, with the input each one gets."""
    required = list(form.schema.get("required", ()))
    identity = bool(form.schema.get("x-identityDocuments"))
    properties = form.schema.get("properties", {})
    # Deployed schemas come back with their keys sorted, but the "required" list keeps the author's
    # order: show required fields in that order, then the optional ones.
    names = [n for n in required if n in properties] + [n for n in properties if n not in required]
    return [_field(name, properties[name], name in required, identity and name == "documents_received")
            for name in names]


def _field(name: str, prop: Mapping[str, Any], in_required: bool, identity_list: bool) -> Field:
    types = prop.get("type", "string")
    types = list(types) if isinstance(types, list) else [types]
    nullable = "null" in types
    base = next((str(t) for t in types if t != "null"), "string")
    common: dict[str, Any] = {"name": name, "title": str(prop.get("title", name)),
                              "help": str(prop.get("description", "")), "nullable": nullable}
    if base == "array":
        items: Mapping[str, Any] = prop["items"] if isinstance(prop.get("items"), Mapping) else {}
        item_type = items.get("type", "string")
        item_type = str(item_type[0] if isinstance(item_type, list) else item_type)
        needs_one = int(prop.get("minItems", 0)) > 0 or identity_list
        return Field(**common, widget="checklist" if "enum" in items else "lines", value_type=item_type,
                     required=in_required and needs_one and not nullable, options=_options(items))
    required = in_required and not nullable
    if "enum" in prop:
        options = _options(prop)
        return Field(**common, widget="radio" if len(options) <= RADIO_MAX else "select", value_type=base,
                     required=required, options=options)
    if base == "boolean":
        return Field(**common, widget="boolean", value_type=base, required=required,
                     options=(("true", "是"), ("false", "否")))
    if base in ("number", "integer"):
        return Field(**common, widget=base, value_type=base, required=required,
                     minimum=prop.get("minimum"), maximum=prop.get("maximum"))
    fmt = prop.get("format")
    max_length = prop.get("maxLength")
    if fmt in ("date", "date-time"):
        widget = "date" if fmt == "date" else "datetime"
    else:
        widget = "textarea" if max_length is not None and int(max_length) > LONG_TEXT else "text"
    return Field(**common, widget=widget, value_type=base, required=required, max_length=max_length)


def _options(prop: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    values = list(prop.get("enum", ()))
    names = list(prop.get("x-enumNames", ())) or [str(v) for v in values]
    return tuple((_input_text(v), str(n)) for v, n in zip(values, names))


# ----------------------------------------------------------------------------- parsing


def undecodable(body: bytes) -> set[str]:
    """The names of the fields of a url-encoded form body whose values are not UTF-8 once percent-decoded
    (Werkzeug keeps such escapes as literal text, so the parsed form cannot tell)."""
    bad: set[str] = set()
    for pair in body.split(b"&"):
        name, _, value = pair.partition(b"=")
        try:
            key = unquote_to_bytes(name.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            continue  # no form has a field of that name
        try:
            unquote_to_bytes(value.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            bad.add(key)
    return bad


def parse(fields: Sequence[Field], submitted: MultiDict[str, str],
          not_utf8: Collection[str] = ()) -> tuple[dict[str, Any], dict[str, str]]:
    """Typed data from submitted strings, and a Chinese message per field that could not be read.

    An empty input is left out (the form's own check then says 必填 if it must be given), or is
    null where the field allows null; lists are always given, possibly empty. ``not_utf8``: fields whose
    submitted bytes were not UTF-8 (see :func:`undecodable`)."""
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in fields:
        if field.name in not_utf8:
            errors[field.name] = f"{field.title}：{NOT_UTF8}"
            continue
        if field.is_list:
            raw_items = submitted.getlist(field.name) if field.widget == "checklist" else \
                _LIST_SEPARATORS.split(str(submitted.get(field.name) or ""))
            items = [str(v).strip() for v in raw_items if str(v).strip()]
            problem = next((p for p in map(_unreadable, items) if p), None)
            if problem:
                errors[field.name] = f"{field.title}：{problem}"
                continue
            values = []
            for item in items:
                value, error = _scalar(field, item)
                if error:
                    errors[field.name] = error
                    break
                values.append(value)
            else:
                data[field.name] = None if not values and field.nullable else values
            continue
        raw = str(submitted.get(field.name) or "")
        if len({str(v).strip() for v in submitted.getlist(field.name)}) > 1:  # a crafted post: never the form's
            errors[field.name] = f"{field.title}：{MANY_VALUES}"
            continue
        problem = _unreadable(raw)
        if problem:
            errors[field.name] = f"{field.title}：{problem}"
            continue
        text = raw.strip() if field.widget != "textarea" else raw.strip("\r\n\t ")
        if not text:
            if field.nullable:
                data[field.name] = None
            continue
        value, error = _scalar(field, text)
        if error:
            errors[field.name] = error
        else:
            data[field.name] = value
    return data, errors


def _scalar(field: Field, text: str) -> tuple[Any, str | None]:
    """One value of a field from its (non-empty) text."""
    label = field.title
    if field.value_type in ("number", "integer"):
        plain = unicodedata.normalize("NFKC", text).replace(",", "").replace(" ", "")
        if len(plain) > MAX_NUMBER_TEXT:
            return None, f"{label}：数值过大或格式不正确"
        if _INTEGER.match(plain):
            return int(plain), None
        if field.value_type == "integer":
            return None, f"{label}：请输入整数"
        try:
            number = float(plain)
        except ValueError:
            return None, f"{label}：请输入数字"
        if not math.isfinite(number):
            return None, f"{label}：请输入数字"
        return number, None
    if field.value_type == "boolean":
        if text in ("true", "false"):
            return text == "true", None
        return None, f"{label}：请选择“是”或“否”"
    if field.widget == "date":
        try:
            date.fromisoformat(text)
        except ValueError:
            return None, f"{label}：请按“年-月-日”填写日期"
        return text, None
    if field.widget == "datetime":
        return _datetime(label, text)
    return text, None


def _datetime(label: str, text: str) -> tuple[str | None, str | None]:
    """An RFC 3339 time from a datetime-local input (Beijing time), or one that already has an offset."""
    match = _DATETIME_INPUT.match(text)
    if match:
        day, minutes, seconds = match.groups()
        candidate = f"{day}T{minutes}{seconds or ':00'}"
        try:
            datetime.fromisoformat(candidate)
        except ValueError:
            return None, f"{label}：日期时间无效"
        return candidate + CHINA_UTC_OFFSET, None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None, f"{label}：请按“年-月-日 时:分”填写日期时间"
    if parsed.tzinfo is None:
        return parsed.strftime("%Y-%m-%dT%H:%M:%S") + CHINA_UTC_OFFSET, None
    return parsed.isoformat(), None


# ----------------------------------------------------------------------------- showing values


def submitted_values(fields: Sequence[Field], submitted: MultiDict[str, str]) -> dict[str, Any]:
    """What was typed, to put back into the inputs when a page is shown again (never more than an input takes,
    and without characters no page can carry)."""
    def kept(f: Field, value: Any) -> str:
        limit = max(f.max_length or 0, ECHO_LIMIT)
        return str(value)[:limit].replace("\x00", "")

    return {f.name: [kept(f, v) for v in submitted.getlist(f.name)][:200] if f.widget == "checklist"
            else kept(f, submitted.get(f.name) or "") for f in fields}


def _unreadable(text: str) -> str | None:
    """Why submitted text cannot be read as what a person typed: the browser sent bytes that are not UTF-8
    (decoded as U+FFFD), or a NUL no field may hold."""
    if "\ufffd" in text:
        return NOT_UTF8
    if "\x00" in text:
        return NUL_IN_FIELD
    return None


def input_values(fields: Sequence[Field], data: Mapping[str, Any]) -> dict[str, Any]:
    """Stored values as the inputs show them (e.g. a preset, or data entered earlier)."""
    values: dict[str, Any] = {}
    for f in fields:
        if f.name not in data or data[f.name] is None:
            continue
        value = data[f.name]
        if f.widget == "checklist":
            values[f.name] = [_input_text(v) for v in value] if isinstance(value, list) else []
        elif f.widget == "lines":
            values[f.name] = "\n".join(_input_text(v) for v in value) if isinstance(value, list) else ""
        elif f.widget == "datetime":
            values[f.name] = _datetime_input(value)
        else:
            values[f.name] = _input_text(value)
    return values


def display(field: Field | None, value: Any) -> str:
    """A stored value as a person reads it: Chinese names for choices, 是/否, no seconds or offsets."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return "、".join(display(field, v) for v in value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if field is not None and field.options:
        return field.option_name(value)
    if field is not None and field.widget == "datetime":
        return _datetime_input(value).replace("T", " ")
    return str(value)


def _datetime_input(value: Any) -> str:
    """'2025-03-03T09:15:00+08:00' → '2025-03-03T09:15' (what a datetime-local input takes)."""
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    return parsed.strftime("%Y-%m-%dT%H:%M")


def _input_text(value: Any) -> str:
    """How a value is written in an HTML input."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
