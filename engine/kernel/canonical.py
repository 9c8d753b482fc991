"""Canonical JSON: the one text form that hashes (audit chain) and comparisons (replay) agree on."""

from __future__ import annotations

import json
from typing import Any


def canonical(value: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, UTF-8 kept."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
