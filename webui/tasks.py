"""Staff task lists and task pages."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template

from . import engine_of
from .auth import current_user, login_required

bp = Blueprint("tasks", __name__)


@bp.route("/")
@login_required
def index() -> Any:
    """My tasks and the pool of my roles."""
    engine = engine_of(current_app)
    user = current_user()
    return render_template("tasks/index.html", mine=engine.task_page(user.username, scope="mine"),
                           pool=engine.task_page(user.username, scope="pool"))
