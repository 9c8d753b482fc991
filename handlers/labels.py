"""Chinese names of enumerated form values: one mapping, read from the forms themselves.

Every form field with ``enum`` and a parallel ``x-enumNames`` (or an array whose items have them)
names its stored values in Chinese. The engine builds this mapping from the forms of the process
version an application runs on and hands it to handlers as :attr:`HandlerContext.labels`, so a
contract prints 高供高计 where the data says ``high_supply_high_metering``, with no second list
of names to keep in step with the forms.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Labels = Mapping[str, Mapping[str, str]]
"""Field name → stored value (as :func:`value_key` spells it) → Chinese name."""


def enum_labels(schemas: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """Collect the Chinese names of every enumerated field of some form schemas (first form wins)."""
    labels: dict[str, dict[str, str]] = {}
    for schema in schemas:
        properties = schema.get("properties")
        if not isinstance(properties, Mapping):
            continue
        for field, prop in properties.items():
            if not isinstance(prop, Mapping):
                continue
            items = prop.get("items")
            source = items if isinstance(items, Mapping) and "enum" in items else prop
            values, names = source.get("enum"), source.get("x-enumNames")
            if not isinstance(values, list) or not isinstance(names, list):
                continue
            known = labels.setdefault(str(field), {})
            for value, name in zip(values, names):
                known.setdefault(value_key(value), str(name))
    return labels


def value_key(value: Any) -> str:
    """How a stored value is looked up: strings as they are, numbers and booleans as JSON spells them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class ResultField:
    """How a person reads one part of a rule's result: its title and the Chinese names of its values."""

    title: str
    values: Mapping[str, str] = field(default_factory=dict)

    def name(self, value: Any) -> str:
        """The Chinese name of a value (yes/no for booleans; the value itself when it has no name)."""
        if isinstance(value, bool):
            return self.values.get(value_key(value), "是" if value else "否")
        return self.values.get(value_key(value), value_key(value))


ResultLabels = Mapping[str, ResultField]
"""A rule's result key → how to read it ("" names a result that is a single value)."""
