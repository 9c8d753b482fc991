"""Yes/no answers from forms and process data."""

from __future__ import annotations

from typing import Any

from handlers.errors import HandlerError


def required_flag(value: Any, label: str, field: str) -> bool:
    """Return ``value`` if it is a real bool; anything else ("否", 0, None) is a wiring mistake."""
    if not isinstance(value, bool):
        raise HandlerError(f"{label}必须为是/否（布尔值），收到：{value!r}", field)
    return value
