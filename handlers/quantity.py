"""Parsing of numeric quantities (capacities, energy) that arrive from forms and process data."""

from __future__ import annotations

import math
import re
from typing import Any

from handlers.errors import HandlerError

# Plain decimal notation only: forms send "3000" or "3000.5"; "1e3", "nan" or "3,000" are typos.
_DECIMAL = re.compile(r"[+-]?\d+(\.\d+)?")


def positive_quantity(value: Any, label: str, field: str) -> float:
    """Return ``value`` as a finite number > 0, or raise HandlerError naming ``label`` and the value."""
    number = _as_number(value, label, field)
    if number <= 0:
        raise HandlerError(f"{label}必须大于 0，收到：{value!r}", field)
    return number


def optional_non_negative_quantity(value: Any, label: str, field: str) -> float | None:
    """Return ``value`` as a finite number ≥ 0, or None when it is absent."""
    if value is None or value == "":
        return None
    number = _as_number(value, label, field)
    if number < 0:
        raise HandlerError(f"{label}不能为负数，收到：{value!r}", field)
    return number


def positive_count(value: Any, label: str, field: str) -> int:
    """Return ``value`` as an integer ≥ 1 (a count of things), or raise HandlerError."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        else:
            raise HandlerError(f"{label}必须为正整数，收到：{value!r}", field)
    if value < 1:
        raise HandlerError(f"{label}必须为正整数，收到：{value!r}", field)
    return value


def _as_number(value: Any, label: str, field: str) -> float:
    if value is None:
        raise HandlerError(f"缺少{label}（收到空值 None）", field)
    # bool is an int subclass; True as a capacity is always a wiring mistake.
    if isinstance(value, bool):
        raise HandlerError(f"{label}必须为数字，收到布尔值：{value!r}", field)
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        number = float(value.strip())
    else:
        raise HandlerError(f"{label}必须为数字，收到：{value!r}", field)
    if not math.isfinite(number):
        raise HandlerError(f"{label}必须为有限数值，收到：{value!r}", field)
    return number


def format_quantity(number: float) -> str:
    """Format a quantity without a spurious trailing '.0' (3000.0 → '3000', 9.99 → '9.99')."""
    if float(number).is_integer():
        return str(int(number))
    return f"{number:.6f}".rstrip("0").rstrip(".")
