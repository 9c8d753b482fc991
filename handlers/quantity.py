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
        raise HandlerError(f"{label}必须大于 0，收到：{_short(value)}", field)
    return number


def optional_non_negative_quantity(value: Any, label: str, field: str) -> float | None:
    """Return ``value`` as a finite number ≥ 0, or None when it is absent."""
    if value is None or value == "":
        return None
    number = _as_number(value, label, field)
    if number < 0:
        raise HandlerError(f"{label}不能为负数，收到：{_short(value)}", field)
    return number


def positive_count(value: Any, label: str, field: str) -> int:
    """Return ``value`` as an integer ≥ 1 (a count of things), or raise HandlerError."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        else:
            raise HandlerError(f"{label}必须为正整数，收到：{_short(value)}", field)
    if value < 1:
        raise HandlerError(f"{label}必须为正整数，收到：{_short(value)}", field)
    return value


def _as_number(value: Any, label: str, field: str) -> float:
    if value is None:
        raise HandlerError(f"缺少{label}（收到空值 None）", field)
    # bool is an int subclass; True as a capacity is always a wiring mistake.
    if isinstance(value, bool):
        raise HandlerError(f"{label}必须为数字，收到布尔值：{_short(value)}", field)
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an int beyond any float (10**400): a typo or a probe, never a quantity
            raise HandlerError(f"{label}数值过大，超出可处理的范围", field) from None
    elif isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        number = float(value.strip())
    else:
        raise HandlerError(f"{label}必须为数字，收到：{_short(value)}", field)
    if not math.isfinite(number):
        raise HandlerError(f"{label}必须为有限数值，收到：{_short(value)}", field)
    return number


def _short(value: Any) -> str:
    """A value for a message, never longer than a line however long the input."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"约 {value.bit_length() * 3 // 10} 位的整数"
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}…（共 {len(text)} 个字符）"


def format_quantity(number: float) -> str:
    """Format a quantity without a spurious trailing '.0' (3000.0 → '3000', 9.99 → '9.99')."""
    if float(number).is_integer():
        return str(int(number))
    return f"{number:.6f}".rstrip("0").rstrip(".")
