"""办事公开: a customer looks up where their application stands — no login.

The customer gives the application number and the last four digits of the registered contact phone.  The
page then shows the step names, finished steps with their dates and the due date of the current step, and
nothing else: no staff, no usernames, no application data, no internal ids.  An unknown number and wrong
digits get the identical answer, so the page cannot be used to find out which numbers exist.

Guessing is throttled: :data:`MAX_FAILURES` failed attempts within :data:`WINDOW` per client address, or
per application number, and further attempts (right ones too) are refused with 429 until the window has
passed.  The counter lives in this process's memory: that is enough for the shipped server (waitress, one
process with threads).  Several processes behind a balancer must share it — replace :class:`GuessLimiter`
with one backed by the database or Redis — and behind a reverse proxy the client address must come from
the proxy (werkzeug's ProxyFix), or every customer shares the proxy's address.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Flask, Response, current_app, render_template, request

from engine import CUSTOMER, ClockReport, ContactSource, FormValidationError, NotFound
from engine import PublicProgress

from webui import engine_of

bp = Blueprint("public", __name__)

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)
MAX_TRACKED_KEYS = 50_000
"""Memory bound of the limiter: the oldest keys are forgotten first."""

NOT_FOUND_MESSAGE = "未查询到匹配的申请：请核对申请编号和手机号后四位。"
THROTTLED_MESSAGE = "查询失败次数过多，请 15 分钟后再试；如有疑问请拨打 95598 供电服务热线。"
APP_NO_FORMAT = re.compile(r"[A-Z]{2}\d{4,14}")
LIMITER_KEY = "baozhuang.progress_limiter"


class GuessLimiter:
    """Counts failed lookups per key in a sliding window; thread-safe; time comes from ``now``."""

    def __init__(self, now: Callable[[], datetime], max_failures: int = MAX_FAILURES,
                 window: timedelta = WINDOW) -> None:
        self.now, self.max_failures, self.window = now, max_failures, window
        self._failures: OrderedDict[str, deque[datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and now - times[0] >= self.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def blocked(self, *keys: str) -> bool:
        """Whether any of the keys has used up its failures in the current window."""
        now = self.now()
        with self._lock:
            return any(len(self._recent(key, now)) >= self.max_failures for key in keys)

    def fail(self, *keys: str) -> None:
        """Record one failed attempt against every key."""
        now = self.now()
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                times.append(now)
                self._failures[key] = times
                self._failures.move_to_end(key)
            while len(self._failures) > MAX_TRACKED_KEYS:
                self._failures.popitem(last=False)


def limiter_of(app: Flask) -> GuessLimiter:
    """The application's limiter, made on first use with the engine's clock (tests move that clock)."""
    limiter = app.extensions.get(LIMITER_KEY)
    if limiter is None:
        limiter = app.extensions[LIMITER_KEY] = GuessLimiter(engine_of(app).now)
    assert isinstance(limiter, GuessLimiter)
    return limiter


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
    keys = (f"ip:{request.remote_addr or '-'}", f"app:{app_no}")
    limiter = limiter_of(current_app)
    if limiter.blocked(*keys):
        return render_template("public/progress.html", result=None, message=THROTTLED_MESSAGE), 429
    result = lookup(app_no, digits)
    if result is None:
        limiter.fail(*keys)
        return render_template("public/progress.html", result=None, message=NOT_FOUND_MESSAGE)
    return render_template("public/progress.html", result=result, app_no=app_no, message=None)


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
    app_no = (request.form.get("app_no") or "").strip().upper()[:32]
    digits = (request.form.get("phone_tail") or "").strip()[:8]
    keys = (f"ip:{request.remote_addr or '-'}", f"app:{app_no}")
    limiter = limiter_of(current_app)
    if limiter.blocked(*keys):
        return render_template("public/progress.html", result=None, message=THROTTLED_MESSAGE), 429
    result = lookup(app_no, digits)
    if result is None:
        limiter.fail(*keys)
        return render_template("public/progress.html", result=None, message=NOT_FOUND_MESSAGE)
    day = (request.form.get("first_contact_on") or "").strip()[:10]
    try:
        engine_of(current_app).confirm_first_contact(app_no, day, ContactSource.CUSTOMER_PAGE, CUSTOMER)
    except FormValidationError as exc:
        return render_template("public/progress.html", result=result, app_no=app_no, message=None,
                               first_contact_error=exc.field_errors.get("first_contact_on", exc.message),
                               first_contact_value=day), 400
    return render_template("public/progress.html", result=result, app_no=app_no, message=None,
                           first_contact_saved=True)
