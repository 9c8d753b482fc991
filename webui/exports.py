"""Event-log downloads for process mining (稽查 and 营销部 only): CSV or XES, streamed as they are made."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

from flask import Blueprint, Response, current_app, request, stream_with_context

from engine import InvalidInput
from engine import LogRecord, to_csv, to_xes

from webui import engine_of
from webui.auth import current_user, roles_required

bp = Blueprint("exports", __name__, url_prefix="/audit")

EXPORT_ROLES = ("auditor", "marketing")
CHUNK_CHARS = 64 * 1024


@bp.route("/export.csv")
@roles_required(*EXPORT_ROLES)
def export_csv() -> Any:
    """The event log as CSV (filters: app, process, status, from, to)."""
    return _download(to_csv(_records()), "text/csv; charset=utf-8", "csv")


@bp.route("/export.xes")
@roles_required(*EXPORT_ROLES)
def export_xes() -> Any:
    """The event log as XES (IEEE 1849-2016), for ProM, pm4py, Disco, Celonis."""
    return _download(to_xes(_records()), "application/xml; charset=utf-8", "xes")


def _records() -> Iterator[LogRecord]:
    """Read the filters now, so that bad ones are a 400/404 page and not a broken download."""
    args = request.args
    return engine_of(current_app).event_log(
        app_nos=[n for n in args.getlist("app") if n.strip()] or None,
        process_key=args.get("process") or None, status=args.get("status") or None,
        created_from=_date(args.get("from"), "from"), created_to=_date(args.get("to"), "to"),
        by=current_user().username)


def _date(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"参数 {name} 不是有效日期：{value!r}（格式 YYYY-MM-DD）") from exc


def _chunks(parts: Iterable[str]) -> Iterator[str]:
    """Coalesce many small strings into chunks of about 64K characters."""
    buffer: list[str] = []
    size = 0
    for part in parts:
        buffer.append(part)
        size += len(part)
        if size >= CHUNK_CHARS:
            yield "".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer)


def _download(parts: Iterable[str], content_type: str, extension: str) -> Response:
    name = f"baozhuang-eventlog-{date.today():%Y%m%d}.{extension}"
    response = Response(stream_with_context(_chunks(parts)), content_type=content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
