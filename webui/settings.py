"""Web settings: defaults → instance/web.json → BAOZHUANG_WEB_* environment → the mapping given."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine import ConfigurationError, Engine

DEFAULTS: dict[str, Any] = {
    "SECRET_KEY": None,  # when not given: one key shared by every process and host, kept in the database
    "SESSION_COOKIE_SECURE": False,  # set true behind HTTPS
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "PERMANENT_SESSION_LIFETIME": 8 * 3600,
    "MAX_CONTENT_LENGTH": 25 * 1024 * 1024,
    "WTF_CSRF_TIME_LIMIT": None,
    "ENGINE": {},  # passed to engine.config.load_config
    "TESTING": False,
}


def load_settings(mapping: Mapping[str, Any] | None, instance_path: Path) -> dict[str, Any]:
    """Merge the settings layers and check them."""
    settings = dict(DEFAULTS)
    web_file = instance_path / "web.json"
    if web_file.is_file():
        try:
            settings.update(json.loads(web_file.read_text(encoding="utf-8")))
        except ValueError as exc:
            raise ConfigurationError(f"{web_file} 不是有效的 JSON：{exc}") from exc
    for key in ("SECRET_KEY", "SESSION_COOKIE_SECURE"):
        value = os.environ.get(f"BAOZHUANG_WEB_{key}")
        if value:
            settings[key] = value.lower() in ("1", "true", "yes") if key == "SESSION_COOKIE_SECURE" else value
    settings.update(mapping or {})
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise ConfigurationError(f"未知的网页配置项：{', '.join(unknown)}（可用：{', '.join(sorted(DEFAULTS))}）")
    if not isinstance(settings["ENGINE"], Mapping):
        raise ConfigurationError("ENGINE 配置必须是一个对象，例如 {\"database_url\": \"sqlite:///...\"}")
    return settings


SESSION_SECRET = "web.session_key"


def session_secret(engine: Engine, instance_path: Path) -> str:
    """The key signing sessions and form tokens when none is configured: one key for every process and host,
    kept in the database (a session begun on one host is good on the next). A key an earlier version kept in
    instance/secret_key is adopted, so sessions survive the upgrade; before the database is initialised the
    instance file serves."""
    path = instance_path / "secret_key"
    proposal = path.read_text(encoding="utf-8").strip() if path.is_file() else secrets.token_hex(32)
    try:
        return engine.shared_secret(SESSION_SECRET, proposal)
    except ConfigurationError:
        return _instance_secret(instance_path)


def _instance_secret(instance_path: Path) -> str:
    """A random secret kept in instance/secret_key so sessions survive restarts."""
    path = instance_path / "secret_key"
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secret)
    return secret


__all__ = ["load_settings", "session_secret"]
