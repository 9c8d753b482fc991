"""Pagination links shared by every list page."""

from __future__ import annotations


def page_numbers(page: int, pages: int) -> list[int | None]:
    """Page links: the first, the last and two either side of the current one; None marks a gap."""
    wanted = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    out: list[int | None] = []
    for n in wanted:
        if out and n - (out[-1] or 0) > 1:
            out.append(None)
        out.append(n)
    return out
