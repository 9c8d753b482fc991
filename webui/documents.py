"""Documents kept with applications: generated contracts and uploads, downloaded as attachments."""

from __future__ import annotations

from io import BytesIO
from typing import Any

from flask import Blueprint, Response, current_app, send_file

from engine import DocumentInfo

from webui import engine_of
from webui.auth import current_user, login_required

bp = Blueprint("documents", __name__, url_prefix="/documents")


def attachment(doc: DocumentInfo, content: bytes) -> Response:
    """A file as a download: its own type, a UTF-8 file name (RFC 5987 filename*), never sniffed or rendered
    in the page's origin (an uploaded or generated HTML file must not run as part of this site)."""
    response = send_file(BytesIO(content), mimetype=doc.media_type, as_attachment=True, download_name=doc.filename,
                         max_age=0, etag=doc.sha256, conditional=False)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/<doc_id>")
@login_required
def download(doc_id: str) -> Any:
    """Download one document as stored."""
    doc, content = engine_of(current_app).document(doc_id)
    return attachment(doc, content)


@bp.route("/<doc_id>/pdf")
@login_required
def pdf(doc_id: str) -> Any:
    """The PDF of a contract's HTML rendering: made on the first request (about a second), then kept."""
    doc, content = engine_of(current_app).document_pdf(doc_id, current_user().username)
    return attachment(doc, content)
