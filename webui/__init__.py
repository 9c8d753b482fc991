"""The web layer (Flask): thin, translating HTTP and the command line to engine facade calls."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, request
from flask_wtf.csrf import CSRFProtect

from engine import Engine
from engine import load_config, resolve_instance_dir

from webui.settings import load_settings, session_secret

csrf = CSRFProtect()


def create_app(config: Mapping[str, Any] | None = None, *, engine: Engine | None = None) -> Flask:
    """Build the application: settings, the engine, one blueprint per area, error pages."""
    engine_settings = (config or {}).get("ENGINE") or {}
    instance = engine.config.instance_dir if engine is not None else resolve_instance_dir(engine_settings)
    app = Flask(__name__, instance_path=str(Path(instance).resolve()), instance_relative_config=False)
    settings = load_settings(config, Path(app.instance_path))
    app.config.update(settings)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # Chinese stays readable in JSON
    # An id holding "%2F" must be a 404 like any unknown id, not a redirect to a path with the slashes merged.
    app.url_map.merge_slashes = False
    app.extensions["baozhuang.engine"] = engine = engine or Engine(load_config(settings["ENGINE"]))
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = session_secret(engine, Path(app.instance_path))

    @app.before_request
    def keep_raw_form() -> None:
        # Werkzeug keeps percent-escapes that are not UTF-8 as literal text ("%FF%FE"): keep the raw body of a
        # form post (before the CSRF check parses it) so that the form pages can tell such a field apart.
        if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
            request.get_data(cache=True, parse_form_data=False)
    csrf.init_app(app)

    from webui import api, applications, audit, auth, documents, errors, tasks, vendor
    from webui import exports, notices, public, supervision
    from webui import callbacks, fieldwork, insight, lifecycle, meetings, modeller
    from webui import clocks, complaints, delegation, firms, followups, labels

    app.register_blueprint(auth.bp)
    app.register_blueprint(tasks.bp)
    app.register_blueprint(applications.bp)
    app.register_blueprint(lifecycle.bp)
    app.register_blueprint(audit.bp)
    app.register_blueprint(documents.bp)
    app.register_blueprint(exports.bp)
    app.register_blueprint(supervision.bp)
    app.register_blueprint(notices.bp)
    app.register_blueprint(public.bp)
    app.register_blueprint(vendor.bp)
    app.register_blueprint(modeller.bp)
    app.register_blueprint(fieldwork.bp)
    app.register_blueprint(callbacks.bp)
    app.register_blueprint(meetings.bp)
    app.register_blueprint(insight.bp)
    app.register_blueprint(delegation.bp)
    app.register_blueprint(firms.bp)
    app.register_blueprint(followups.bp)
    app.register_blueprint(complaints.bp)
    app.register_blueprint(clocks.bp)
    csrf.exempt(api.bp)  # token-authenticated: no cookies, so no cross-site forgery to guard against
    app.register_blueprint(api.bp)
    errors.register(app)
    auth.register(app)
    labels.register(app)
    return app


def engine_of(app: Flask) -> Engine:
    """The engine an application was created with."""
    engine = app.extensions["baozhuang.engine"]
    assert isinstance(engine, Engine)
    return engine
