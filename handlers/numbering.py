"""Application numbers: variant prefix, acceptance date and a daily sequence the engine supplies."""

from __future__ import annotations

from datetime import date
from typing import Any

from handlers.errors import HandlerError

_PREFIXES = {"hv": "HV", "lv": "LV", "pv": "PV"}
_MAX_SEQUENCE = 999_999  # six digits in the number


def application_number(variant: str, on: date, sequence: int) -> str:
    """Return e.g. "HV20261123000042" for the 42nd HV application accepted on 2026-11-23."""
    prefix = _PREFIXES.get(variant) if isinstance(variant, str) else None
    if prefix is None:
        raise HandlerError(f"未知的业务类型：{variant!r}（应为 hv、lv 或 pv）", "variant")
    if not isinstance(on, date):
        raise HandlerError(f"受理日期必须为日期，收到：{on!r}", "on")
    if not _is_int(sequence) or not 1 <= sequence <= _MAX_SEQUENCE:
        raise HandlerError(
            f"当日流水号必须为 1 至 {_MAX_SEQUENCE} 之间的整数，收到：{sequence!r}", "sequence"
        )
    return f"{prefix}{on:%Y%m%d}{sequence:06d}"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
