"""One place for the names a person reads: people by their display names, roles, stations, job kinds, and
what a business rule decided — never a login name or a stored code (``manager2``, ``team``, ``CQ``).

Templates use the filters registered here (``{{ t.assignee|person }}``, ``{{ role|role_name }}``,
``{{ code|station_name }}``); views use the same functions. Enumerated form values are named by their forms'
``x-enumNames`` (:mod:`webui.formdata`), a rule's result by the labels its operator declares.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask import Flask, current_app, g

from engine import ROLES, SYSTEM, SYSTEM_NAME
from handlers import ResultLabels
from handlers.labels import value_key

from webui import engine_of

UNKNOWN_PERSON = "（未登记人员）"


def people() -> Mapping[str, str]:
    """Username → display name of every account, read once per request."""
    names = g.get("_people")
    if names is None:
        names = g._people = engine_of(current_app).display_names()
    return names


def person(username: str | None, default: str = "") -> str:
    """A person as colleagues know them; the engine itself is 系统."""
    if not username:
        return default
    if username == SYSTEM:
        return SYSTEM_NAME
    return people().get(username, UNKNOWN_PERSON)


def persons(usernames: Iterable[str | None]) -> str:
    """Several people, named and joined the Chinese way."""
    return "、".join(person(u) for u in usernames if u)


def role_name(role: str | None) -> str:
    """A role's Chinese name."""
    return ROLES.get(role or "", role or "")


def role_names(roles: Iterable[str]) -> str:
    """Several roles' Chinese names."""
    return "、".join(role_name(r) for r in roles)


def stations() -> Mapping[str, str]:
    """Station code → its name, read once per request."""
    names = g.get("_stations")
    if names is None:
        names = g._stations = {s.code: s.name for s in engine_of(current_app).field_work.stations()}
    return names


def station_name(code: str | None, default: str = "—") -> str:
    """A field station (班所) by its name."""
    if not code:
        return default
    return stations().get(code, "（未登记班所）")


def result_text(result: Any, labels: ResultLabels | None = None, limit: int = 160) -> str:
    """What a business rule decided, in one short line: its parts by their titles, values by their names, a
    person by name; a message or title as it is."""
    labels = labels or {}
    if isinstance(result, Mapping):
        for key in ("message", "title"):
            if isinstance(result.get(key), str):
                return clip(str(result[key]), limit)
        if isinstance(result.get("reasons"), list) and result["reasons"]:
            return clip("；".join(str(r) for r in result["reasons"]), limit)
        parts = [f"{labels[k].title if k in labels else k}：{_value(v, labels.get(k))}"
                 for k, v in result.items() if not isinstance(v, (Mapping, list))]
        return clip("，".join(parts), limit)
    return clip(_value(result, labels.get("")), limit)


def _value(value: Any, field: Any) -> str:
    if isinstance(value, str) and value in people():
        return person(value)
    if field is not None:
        return str(field.name(value))
    if isinstance(value, bool):
        return "是" if value else "否"
    return "—" if value is None else value_key(value)


def clip(text: str, limit: int) -> str:
    """Text cut to a length, with an ellipsis."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def register(app: Flask) -> None:
    """Make the names available to every template."""
    app.jinja_env.filters.update(person=person, persons=persons, role_name=role_name, role_names=role_names,
                                 station_name=station_name)
