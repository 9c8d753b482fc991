"""Applications: accept a new one (受理), search, and follow one."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from .auth import login_required, roles_required

bp = Blueprint("applications", __name__, url_prefix="/applications")


@bp.route("/")
@login_required
def index() -> Any:
    """Search applications."""
    return render_template("applications/index.html")


@bp.route("/new")
@roles_required("front_desk")
def new() -> Any:
    """Accept a new application."""
    return render_template("applications/new.html")
