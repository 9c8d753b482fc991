"""Login, logout and the role checks every view uses; the current user lives in ``g.user``."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Blueprint, Flask, abort, current_app, g, redirect, render_template, request, session, url_for

from engine import NotFound, UserInfo

from webui import engine_of

bp = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])


def register(app: Flask) -> None:
    """Load the signed-in user before every request."""

    @app.before_request
    def load_user() -> None:
        g.user = None
        username = session.get("user")
        if username:
            try:
                g.user = engine_of(current_app).user(username)
            except NotFound:
                session.clear()  # deactivated or deleted since logging in

    @app.context_processor
    def inject_user() -> dict[str, Any]:
        return {"current_user": g.get("user")}


def current_user() -> UserInfo:
    """The signed-in user (views behind login_required only)."""
    user = g.get("user")
    assert isinstance(user, UserInfo)
    return user


def login_required(view: F) -> F:
    """Send anonymous visitors to the login page, coming back afterwards."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.get("user") is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return cast(F, wrapped)


def roles_required(*roles: str) -> Callable[[F], F]:
    """Allow only users holding one of the roles (403 otherwise)."""

    def decorate(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not set(roles) & set(current_user().roles):
                abort(403)
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorate


def safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after login."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("tasks.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Sign in with username and password."""
    error = None
    status = 200
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()
        password = request.form.get("password") or ""
        user = engine_of(current_app).authenticate(username, password) if username and password else None
        if user is not None:
            session.clear()
            session["user"] = user.username
            session.permanent = True
            return redirect(safe_next(request.args.get("next")))
        error = "用户名或密码错误，或账号已停用"
        status = 401
    return render_template("auth/login.html", error=error), status


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    """Sign out."""
    session.clear()
    return redirect(url_for("auth.login"))
