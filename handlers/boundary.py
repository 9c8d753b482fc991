"""The property boundary (产权分界点) and maintenance duty a supply plan proposes by default, by voltage
(domain.md): LV — the last support of the service drop; up to 10 kV — the first breaker or support outside
the customer's site; from 35 kV — the first pole outside the site. Staff may change the proposal."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from handlers.settings import PolicySettings

VOLTAGE_FIELDS = ("supply_voltage_kv", "supply_voltage", "connection_voltage", "voltage_kv")
"""Where an application's data holds its voltage, most decisive first (the approved plan before the request)."""
BOUNDARY_FIELDS = ("property_boundary", "maintenance_duty")
_VOLTAGE_TEXT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(kv|v)\s*$", re.IGNORECASE)


def voltage_kv(value: Any) -> float | None:
    """A voltage as kV: 10 → 10.0, "10kV" → 10.0, "380V" → 0.38; None when it is not a voltage."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    match = _VOLTAGE_TEXT.match(str(value or ""))
    if match is None:
        return None
    number = float(match.group(1))
    return number if match.group(2).lower() == "kv" else number / 1000


def voltage_of(data: Mapping[str, Any]) -> float | None:
    """The application's voltage in kV, from the most decisive field its data has."""
    for field in VOLTAGE_FIELDS:
        kv = voltage_kv(data.get(field))
        if kv is not None:
            return kv
    return None


def boundary_defaults(policy: PolicySettings, kv: float | None) -> dict[str, str]:
    """The proposed 产权分界点 and 运行维护责任 at this voltage (None or below 1 kV: low voltage)."""
    if kv is None or kv < 1:
        boundary = policy.lv_property_boundary
    elif kv >= policy.property_boundary_pole_min_kv:
        boundary = policy.hv_property_boundary_high_voltage
    else:
        boundary = policy.hv_property_boundary
    return {"property_boundary": boundary,
            "maintenance_duty": policy.maintenance_duty_at_boundary.replace("{boundary}", boundary)}
