"""Front-end libraries installed from npm at setup (never committed), served from node_modules/."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, send_from_directory

from engine.config import REPO_ROOT

bp = Blueprint("vendor", __name__, url_prefix="/vendor")
NODE_MODULES = REPO_ROOT / "node_modules"
PACKAGES = {"bpmn-js": NODE_MODULES / "bpmn-js" / "dist", "chart.js": NODE_MODULES / "chart.js" / "dist"}


@bp.route("/<package>/<path:filename>")
def asset(package: str, filename: str) -> Any:
    """One file of an allowed package's dist folder (send_from_directory refuses paths outside it)."""
    root = PACKAGES.get(package)
    if root is None or not root.is_dir():
        abort(404)
    return send_from_directory(root, filename, max_age=3600)
