"""Engine settings: defaults → ``<instance>/config.json`` → ``BAOZHUANG_*`` environment → the caller's mapping.

The instance directory (database, documents, secret key) defaults to ``instance/`` under the working
directory — never beside the installed code; the shipped diagrams come with the package (``processes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import processes
from handlers.errors import HandlerError
from handlers.settings import PolicySettings

from .errors import ConfigurationError
from .vocabulary import DocumentBackend


def default_instance_dir() -> Path:
    """``instance/`` under the working directory."""
    return Path.cwd() / "instance"


@dataclass(frozen=True)
class EngineConfig:
    """Everything the engine needs to run; see README for each setting. ``database_url`` and
    ``documents_dir`` default to places inside ``instance_dir``."""

    instance_dir: Path = field(default_factory=default_instance_dir)
    database_url: str = ""
    documents_dir: Path | None = None
    # Where document bytes are kept: "directory" (documents_dir) or "database" (hosts sharing no disk).
    documents_backend: str = DocumentBackend.DIRECTORY
    processes_dir: Path = processes.DIRECTORY
    max_loop_iterations: int = 100
    max_diagram_bytes: int = 2 * 1024 * 1024
    workflow_cache_size: int = 256
    policy: PolicySettings = field(default_factory=PolicySettings)
    # This office's time limits (node id → working days); they win over the diagrams' timeLimit.
    time_limit_overrides: Mapping[str, int] = field(default_factory=dict)
    # How many working days before a due date the holder is warned.
    warning_lead_working_days: int = 1

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.instance_dir / 'baozhuang.db'}")
        if self.documents_dir is None:
            object.__setattr__(self, "documents_dir", self.instance_dir / "documents")

    @property
    def documents(self) -> Path:
        """Where documents are kept (set by __post_init__)."""
        assert self.documents_dir is not None
        return self.documents_dir

    def prepare_directories(self) -> None:
        """Check the shipped diagrams are where the settings say, and create a SQLite database's folder."""
        if not (self.processes_dir / "forms").is_dir():
            raise ConfigurationError(f"找不到流程目录 {self.processes_dir}（应含 hv.bpmn 等流程图和 forms/ 表单）："
                                     "请检查 processes_dir 配置或 BAOZHUANG_PROCESSES_DIR 环境变量")
        if self.database_url.startswith("sqlite:///"):
            Path(self.database_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> "EngineConfig":
        """Build from a mapping of overrides; unknown keys and bad values are errors."""
        mapping = dict(mapping or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise ConfigurationError(f"未知的配置项：{', '.join(unknown)}（可用：{', '.join(sorted(known))}）")
        if "policy" in mapping and not isinstance(mapping["policy"], PolicySettings):
            try:
                mapping["policy"] = PolicySettings.from_mapping(mapping["policy"] or {})
            except HandlerError as exc:
                raise ConfigurationError(f"policy 配置有误：{exc.message}") from exc
        for key in ("documents_dir", "processes_dir", "instance_dir"):
            if key in mapping:
                mapping[key] = Path(mapping[key])
        for key in ("max_loop_iterations", "max_diagram_bytes", "workflow_cache_size"):
            if key in mapping and (not isinstance(mapping[key], int) or mapping[key] < 1):
                raise ConfigurationError(f"配置项 {key} 必须是正整数，实际为 {mapping[key]!r}")
        if "warning_lead_working_days" in mapping:
            lead = mapping["warning_lead_working_days"]
            if not isinstance(lead, int) or isinstance(lead, bool) or lead < 0:
                raise ConfigurationError(f"配置项 warning_lead_working_days 必须是非负整数，实际为 {lead!r}")
        if "time_limit_overrides" in mapping:
            overrides = mapping["time_limit_overrides"] or {}
            if not isinstance(overrides, Mapping):
                raise ConfigurationError("配置项 time_limit_overrides 必须是 {节点id: 工作日数} 的对象")
            bad = [f"{k}={v!r}" for k, v in overrides.items()
                   if not isinstance(k, str) or not isinstance(v, int) or isinstance(v, bool) or v < 0]
            if bad:
                raise ConfigurationError(f"time_limit_overrides 的时限必须是非负整数工作日：{', '.join(bad)}")
            mapping["time_limit_overrides"] = dict(overrides)
        if "documents_backend" in mapping:
            backend = str(mapping["documents_backend"]).strip()
            if backend not in tuple(DocumentBackend):
                raise ConfigurationError(f"配置项 documents_backend 必须是 {' 或 '.join(DocumentBackend)}"
                                         f"（文件夹或数据库），实际为 {mapping['documents_backend']!r}")
            mapping["documents_backend"] = backend
        if "database_url" in mapping and not str(mapping["database_url"]).strip():
            raise ConfigurationError("database_url 不能为空，例如 sqlite:///instance/baozhuang.db")
        return cls(**mapping)


ENV_PREFIX = "BAOZHUANG_"
ENV_KEYS = ("instance_dir", "database_url", "documents_dir", "documents_backend", "processes_dir",
            "max_loop_iterations", "max_diagram_bytes")


def load_config(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> EngineConfig:
    """Defaults → <instance>/config.json → BAOZHUANG_* environment variables → the given mapping."""
    import json
    import os

    env = os.environ if environ is None else environ
    merged: dict[str, Any] = {}
    instance_dir = resolve_instance_dir(overrides, env)
    instance_file = instance_dir / "config.json"
    if instance_file.is_file():
        try:
            merged.update(json.loads(instance_file.read_text(encoding="utf-8")))
        except ValueError as exc:
            raise ConfigurationError(f"{instance_file} 不是有效的 JSON：{exc}") from exc
    for key in ENV_KEYS:
        value = env.get(ENV_PREFIX + key.upper())
        if value:
            merged[key] = int(value) if key.startswith("max_") and value.isdigit() else value
    merged.update(overrides or {})
    merged.setdefault("instance_dir", instance_dir)
    return EngineConfig.from_mapping(merged)


def resolve_instance_dir(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The instance directory: given in the mapping, else ``BAOZHUANG_INSTANCE_DIR``, else ./instance."""
    import os

    env = os.environ if environ is None else environ
    return Path((overrides or {}).get("instance_dir") or env.get(ENV_PREFIX + "INSTANCE_DIR") or default_instance_dir())
