"""办事公开: a customer looks up where their application stands — no login.

The customer gives the application number and the last four digits of the registered contact phone.  The
page then shows the milestones a customer knows (申请受理 → 供电方案答复 → 竣工检验 → 装表接电, or their
variant's) with the time limit of the one under way, the name and work phone of their customer manager
(一口对外), the qualified firms they may choose from (三不指定), and a form to file a complaint or a
confidential report — and nothing else: no other staff, no usernames, no application data, no internal ids.
An unknown number and wrong digits get the identical answer, so the page cannot be used to find out which
numbers exist; filing a complaint checks the number and digits again, under the same limiter.

Guessing is slowed, never turned into a lock-out (engine.casework.attempts): after a few failures from one
client address, or against one application number, each further attempt must wait a back-off that doubles
up to a short cap (two minutes for an address, thirty seconds for a number); the page says how many seconds.
The counts live in the database, so every web process on every host applies the same limits.  Behind a
reverse proxy the client address must come from the proxy (werkzeug's ProxyFix), or every customer shares
the proxy's address.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from flask import Blueprint, Flask, Response, current_app, redirect, render_template, request, session, url_for

from engine import COMPLAINT_KINDS, COMPLAINT_TOPICS, CUSTOMER, ClockReport, ContactSource, FormValidationError
from engine import InvalidInput, NotFound
from engine import CommentInfo, CustomerProgress, PublicProgress, filing_from_form

from webui import engine_of

bp = Blueprint("public", __name__)

NOT_FOUND_MESSAGE = "未查询到匹配的申请：请核对申请编号和手机号后四位。"
EXPIRED_MESSAGE = "为保护您的信息，请先重新查询您的申请（申请编号和手机号后四位），再提交投诉或举报。"
VERIFIED_KEY = "progress_verified"
FILED_KEY = "progress_filed"
VERIFIED_FOR = timedelta(minutes=30)
"""How long a successful lookup lets the same browser file a complaint about that application."""
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


class Found(NamedTuple):
    """An application whose number and phone digits matched."""

    app_no: str
    result: PublicProgress


def checked_lookup() -> Found | Any:
    """The posted number and phone digits looked up under the shared attempt limits: ``Found``
    when they match, else the page to answer with (429 with Retry-After while a guesser must wait, or not
    found). Every form that names an application by its digits goes through here."""
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
    return Found(app_no, result)


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
        filed = session.pop(FILED_KEY, None)
        app_no_verified = verified_app_no()
        if filed and app_no_verified:  # back from filing a complaint (post, redirect, get)
            engine = engine_of(current_app)
            shown = engine.public_progress(app_no_verified)
            if shown is not None:
                return _found(shown, app_no_verified, filed=str(filed))
        return render_template("public/progress.html", result=None, message=None)
    checked = checked_lookup()
    if not isinstance(checked, Found):
        return checked
    app_no, result = checked
    engine = engine_of(current_app)
    session[VERIFIED_KEY] = {"app_no": app_no, "at": engine.now().isoformat()}
    return _found(result, app_no)


def _found(result: PublicProgress, app_no: str, *, filed: str | None = None, errors: dict[str, str] | None = None,
           values: Any = None, **extra: Any) -> str:
    """The page of an application found: its progress and the customer's side of it."""
    customer: CustomerProgress | None = engine_of(current_app).customer_progress(app_no)
    return render_template("public/progress.html", result=result, customer=customer, app_no=app_no, message=None,
                           filed=filed, errors=errors or {}, values=values or {}, KINDS=COMPLAINT_KINDS,
                           TOPICS=COMPLAINT_TOPICS, remarks=public_remarks(app_no), **extra)


def public_remarks(app_no: str) -> list[CommentInfo]:
    """The staff's comments marked to be shown to the customer (办事公开), oldest first."""
    return engine_of(current_app).comments(app_no, public_only=True)


def verified_app_no() -> str | None:
    """The application this browser looked up (number and digits right) within :data:`VERIFIED_FOR`."""
    verified = session.get(VERIFIED_KEY)
    if not isinstance(verified, dict):
        return None
    try:
        at = datetime.fromisoformat(str(verified.get("at")))
    except ValueError:
        return None
    if engine_of(current_app).now() - at > VERIFIED_FOR:
        return None
    app_no = verified.get("app_no")
    return app_no if isinstance(app_no, str) else None


@bp.route("/progress/complaint", methods=["POST"])
def complaint() -> Any:
    """A customer who has just looked their application up files a complaint or a confidential report about it.
    Who may is kept in the signed session (the digits are never echoed into the page); the form's problems are
    shown next to its fields and nothing is filed."""
    app_no = verified_app_no()
    if app_no is None or app_no != (request.form.get("app_no") or "").strip().upper():
        return render_template("public/progress.html", result=None, message=EXPIRED_MESSAGE), 400
    engine = engine_of(current_app)
    result = engine.public_progress(app_no)
    if result is None:
        return render_template("public/progress.html", result=None, message=NOT_FOUND_MESSAGE)
    try:
        filed = engine.file_complaint(app_no, filing_from_form(request.form))
    except FormValidationError as exc:
        return _found(result, app_no, errors=dict(exc.field_errors) or {"_": exc.message}, values=request.form), 400
    except InvalidInput as exc:
        return _found(result, app_no, errors={"_": exc.message}, values=request.form), 400
    session[FILED_KEY] = filed.case_no
    return redirect(url_for("public.progress") + "#filed")


# ----------------------------------------------------------------------------- policy clocks and the application date


@bp.app_context_processor
def customer_clock_helpers() -> dict[str, Any]:
    """``customer_clocks(app_no)``: the clocks the progress result shows (only rendered after the digits matched)."""
    return {"customer_clocks": customer_clocks}


def customer_clocks(app_no: str) -> ClockReport:
    """An application's clocks and first-contact evidence, with fresh forecasts."""
    return engine_of(current_app).clocks(app_no)


@bp.route("/progress/first-contact", methods=["POST"])
def confirm_first_contact() -> Any:
    """The customer confirms the day they first applied (the evidence against 体外循环 no clerk types); the
    number and phone digits are checked again, with the same throttle as the lookup."""
    checked = checked_lookup()
    if not isinstance(checked, Found):
        return checked
    app_no, result = checked
    engine = engine_of(current_app)
    day = (request.form.get("first_contact_on") or "").strip()[:10]
    try:
        engine.confirm_first_contact(app_no, day, ContactSource.CUSTOMER_PAGE, CUSTOMER)
    except FormValidationError as exc:
        return _found(result, app_no, first_contact_error=exc.field_errors.get("first_contact_on", exc.message),
                      first_contact_value=day), 400
    return _found(result, app_no, first_contact_saved=True)
