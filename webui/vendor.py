"""Front-end libraries installed from npm at setup (never committed), served from their dist folders.

They are looked for in ``webui/static/vendor/<package>/`` (where setup copies them, so that a wheel built
after setup carries them), then in the checkout's ``node_modules/<package>/dist``. The modeller kit
(``modeller-kit``: bpmn-js with a minimap, the token simulation and Chinese labels) is built there from
node_modules by ``scripts/assets.sh``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, send_from_directory

bp = Blueprint("vendor", __name__, url_prefix="/vendor")
BUNDLED = Path(__file__).resolve().parent / "static" / "vendor"
NODE_MODULES = Path(os.environ.get("BAOZHUANG_NODE_MODULES") or Path(__file__).resolve().parent.parent / "node_modules")
PACKAGES = ("bpmn-js", "chart.js", "modeller-kit")


def package_dir(package: str) -> Path | None:
    """Where an allowed package's built files are, or None."""
    if package not in PACKAGES:
        return None
    for candidate in (BUNDLED / package, NODE_MODULES / package / "dist"):
        if candidate.is_dir():
            return candidate
    return None


@bp.route("/<package>/<path:filename>")
def asset(package: str, filename: str) -> Any:
    """One file of an allowed package's dist folder (send_from_directory refuses paths outside it)."""
    root = package_dir(package)
    if root is None:
        abort(404)
    return send_from_directory(root, filename, max_age=3600)
