"""My notifications (预警 before a time limit, 超时督办 after it), and the unread count in the navigation.

The time-limit sweep (``Engine.sweep_time_limits``) writes them, to a person or to everyone of a role.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for


from engine import NOTICE_KINDS

from webui import engine_of
from webui.auth import current_user, login_required, safe_next

bp = Blueprint("notices", __name__, url_prefix="/notices")

KINDS = {"warning": "预警", "warned": "预警", "escalation": "超时督办", "escalated": "超时督办", **NOTICE_KINDS}
LIMIT = 100


@bp.app_context_processor
def unread_count() -> dict[str, Any]:
    """The navigation's badge: one COUNT for the signed-in person, only when a page is rendered."""
    user = g.get("user")
    if user is None:
        return {"unread_notices": 0}
    return {"unread_notices": engine_of(current_app).unread_notifications(user.username, user.roles)}


@bp.route("/")
@login_required
def index() -> Any:
    """My notifications, newest first (unread ones marked), with links to the task or application."""
    engine = engine_of(current_app)
    unread_only = request.args.get("unread") == "1"
    items = engine.notifications(current_user().username, unread_only=unread_only, limit=LIMIT)
    return render_template("notices/index.html", items=items, unread_only=unread_only,
                           KINDS=KINDS)


@bp.route("/<int:notification_id>/read", methods=["POST"])
@login_required
def read(notification_id: int) -> Any:
    """Mark one of my notifications read, then go where it points (or back to the list)."""
    engine_of(current_app).mark_notification_read(notification_id, current_user().username)
    target = request.form.get("next")
    return redirect(safe_next(target) if target else url_for("notices.index"))
