"""Customer-name search: a fragment of a name (any length, Chinese or Latin), contained anywhere in it.

On PostgreSQL a GIN index over each name's characters and character pairs (migration 0009,
``customer_name_grams``) narrows the candidates before ILIKE confirms them: pg_trgm needs three characters
and a Chinese name search is mostly two.  SQLite has no such index and scans (one office's data).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text, bindparam, false, func
from sqlalchemy.dialects.postgresql import ARRAY

GRAMS_FUNCTION = "customer_name_grams"
"""The SQL function (PostgreSQL only) whose value the name indexes hold: lower-cased characters and pairs."""


def name_grams(fragment: str) -> list[str]:
    """What a name containing ``fragment`` must have among its grams: its character pairs (or the character)."""
    folded = fragment.lower()
    if len(folded) < 2:
        return [folded]
    return sorted({folded[i:i + 2] for i in range(len(folded) - 1)})


def name_contains(column: Any, fragment: str, dialect: str) -> Any:
    """The condition "the name in ``column`` contains ``fragment``" (case-insensitive), indexed on PostgreSQL."""
    longest = getattr(column.type, "length", None)
    if longest is not None and len(fragment) > longest:
        return false()  # no name holds it (and SQLite refuses LIKE patterns over 50,000 bytes)
    contains = column.icontains(fragment, autoescape=True)
    if dialect != "postgresql":
        return contains
    grams = bindparam(None, name_grams(fragment), type_=ARRAY(Text))
    return getattr(func, GRAMS_FUNCTION)(column).op("@>")(grams) & contains
