"""办事公开: a customer looks up where their application stands — no login.

The customer gives the application number and the last four digits of the registered contact phone.  The
page then shows the step names, finished steps with their dates and the due date of the current step, and
nothing else: no staff, no usernames, no application data, no internal ids.  An unknown number and wrong
digits get the identical answer, so the page cannot be used to find out which numbers exist.

Guessing is slowed, never turned into a lock-out (engine.casework.attempts): after a few failures from one
client address, or against one application number, each further attempt must wait a back-off that doubles
up to a short cap (two minutes for an address, thirty seconds for a number); the page says how many seconds.
The counts live in the database, so every web process on every host applies the same limits.  Behind a
reverse proxy the client address must come from the proxy (werkzeug's ProxyFix), or every customer shares
the proxy's address.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request

from engine import NotFound
from engine import PublicProgress

from webui import engine_of

bp = Blueprint("public", __name__)

NOT_FOUND_MESSAGE = "未查询到匹配的申请：请核对申请编号和手机号后四位。"
APP_NO_FORMAT = re.compile(r"[A-Z]{2}\d{4,14}")


def throttled_message(seconds: int) -> str:
    """What a client asked to wait is told, in Chinese."""
    return f"查询次数过多，请 {seconds} 秒后再试；如有疑问请拨打 95598 供电服务热线。"


def phone_tail(data: Any) -> str | None:
    """The last four digits of the application's registered contact phone, if it has one."""
    phone = data.get("contact_phone") if hasattr(data, "get") else None
    digits = re.sub(r"\D", "", str(phone or ""))
    return digits[-4:] if len(digits) >= 4 else None


def lookup(app_no: str, digits: str) -> PublicProgress | None:
    """The progress of an application if the digits match its phone; None for any mismatch."""
    if not APP_NO_FORMAT.fullmatch(app_no) or not re.fullmatch(r"\d{4}", digits):
        return None
    engine = engine_of(current_app)
    try:
        data = engine.application(app_no).data
    except NotFound:
        return None
    if phone_tail(data) != digits:
        return None
    return engine.public_progress(app_no)


@bp.after_request
def private(response: Response) -> Response:
    """A customer's progress is nobody else's: no caching by the browser or a shared proxy."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/progress", methods=["GET", "POST"])
def progress() -> Any:
    """Look an application up by its number and the last four digits of the contact phone."""
    if request.method == "GET":
        return render_template("public/progress.html", result=None, message=None)
    app_no = (request.form.get("app_no") or "").strip().upper()[:32]
    digits = (request.form.get("phone_tail") or "").strip()[:8]
    engine = engine_of(current_app)
    client = request.remote_addr or "-"
    wait = engine.progress_attempt(client, app_no)
    if wait:
        page = render_template("public/progress.html", result=None, message=throttled_message(wait))
        return page, 429, {"Retry-After": str(wait)}
    result = lookup(app_no, digits)
    if result is None:
        return render_template("public/progress.html", result=None, message=NOT_FOUND_MESSAGE)
    engine.progress_found(client, app_no)
    return render_template("public/progress.html", result=result, app_no=app_no, message=None)
