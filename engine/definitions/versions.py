"""Deployed process definitions: the deploy-time gate, immutable versions, and parsed diagrams.

Every version is stored once (BPMN XML, its forms, SHA-256, who, when, comment); new applications use the
newest, running ones finish on theirs. A parsed diagram is kept per version id, and — since parsing is
the expensive part and its result depends only on the XML, the forms and the gate's vocabulary — shared
across engines of one process by content.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select
from sqlalchemy.orm import Session

from ..config import EngineConfig
from ..errors import NotFound
from ..kernel.forms import FormDefinition
from ..kernel.loading import FormSource, Marker, ParsedDiagram, forms_from_directory, validate_diagram
from ..results import DiagramSummary, VersionInfo
from ..store import Store
from ..store.tables import APPS, VERSIONS
from ..vocabulary import SHIPPED, AppStatus

_PARSED: OrderedDict[tuple[str, ...], ParsedDiagram] = OrderedDict()
_PARSED_LOCK = threading.Lock()
_PARSED_MAX = 64



NEWEST_VERSION = (select(VERSIONS.c.id, VERSIONS.c.process_key, VERSIONS.c.version)
                  .where(VERSIONS.c.process_key == bindparam("key")).order_by(VERSIONS.c.version.desc()).limit(1))

class Definitions:
    """The gate and the deployed versions of every process."""

    def __init__(self, store: Store, config: EngineConfig, operators: Mapping[str, Any],
                 markers: Sequence[Marker], clock: Callable[[], datetime]) -> None:
        self.store, self.config, self.operators, self.markers, self.clock = store, config, operators, markers, clock
        self._by_version: dict[int, ParsedDiagram] = {}
        self._vocabulary = (",".join(sorted(operators)), ",".join(sorted(m.name for m in markers)))

    # ----------------------------------------------------------------- the gate

    def parse(self, data: bytes, filename: str = "diagram.bpmn", forms: FormSource | None = None,
              forms_key: str = "") -> ParsedDiagram:
        """Run the deploy-time gate (DiagramRejected with every reason) and return the parsed diagram.

        ``forms_key`` names the forms' content when the caller knows it (a stored version): the result is
        then shared by content with every other engine in this process."""
        if forms_key:
            key = (hashlib.sha256(data).hexdigest(), forms_key, *self._vocabulary)
            with _PARSED_LOCK:
                cached = _PARSED.get(key)
                if cached is not None:
                    _PARSED.move_to_end(key)
                    return cached
        diagram = validate_diagram(data, filename=filename,
                                   forms=forms or forms_from_directory(self.config.processes_dir / "forms"),
                                   operators=self.operators, markers=self.markers,
                                   max_bytes=max(self.config.max_diagram_bytes, len(data) * 4) if forms_key
                                   else self.config.max_diagram_bytes)
        if forms_key:
            with _PARSED_LOCK:
                _PARSED[key] = diagram
                while len(_PARSED) > _PARSED_MAX:
                    _PARSED.popitem(last=False)
        return diagram

    def validate(self, data: bytes, filename: str = "diagram.bpmn", forms_dir: Path | None = None) -> DiagramSummary:
        """The gate's verdict on a diagram file: its summary, or DiagramRejected with every reason."""
        diagram = self.parse(data, filename, forms_from_directory(forms_dir) if forms_dir else None)
        return summary(diagram)

    # ----------------------------------------------------------------- deploying

    def deploy(self, data: bytes, filename: str, by: str, comment: str = "",
               forms_dir: Path | None = None, *, forms: FormSource | None = None) -> VersionInfo:
        """Validate and store a new immutable version (the caller checked who may); its forms come from
        ``forms`` (a draft's), else ``forms_dir``, else processes/forms."""
        diagram = self.parse(data, filename, forms or (forms_from_directory(forms_dir) if forms_dir else None))
        # Field order is the form's layout: keep it (no sort_keys).
        forms_json = json.dumps({name: f.schema for name, f in diagram.forms.items()}, ensure_ascii=False)
        now = self.clock()
        with self.store.begin() as conn:
            key = diagram.process_id
            latest = conn.execute(select(func.max(VERSIONS.c.version))
                                  .where(VERSIONS.c.process_key == key)).scalar()
            number = int(latest or 0) + 1
            row_id = conn.execute(insert(VERSIONS).returning(VERSIONS.c.id), {
                "process_key": key, "version": number, "process_id": diagram.process_id, "name": diagram.name,
                "bpmn_xml": data.decode("utf-8"), "forms_json": forms_json, "sha256": diagram.sha256,
                "deployed_by": by, "deployed_at": now, "comment": comment}).scalar_one()
        self._by_version[row_id] = diagram
        return VersionInfo(row_id, key, number, diagram.name, diagram.sha256, by, now, comment)

    def shipped_changes(self) -> list[tuple[Path, bytes]]:
        """The shipped diagrams (processes/*.bpmn) whose content differs from their newest version."""
        out = []
        for key in SHIPPED:
            path = self.config.processes_dir / f"{key}.bpmn"
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise NotFound(f"找不到随系统发布的流程图 {path}（{exc.strerror}）：请检查 processes_dir 配置") from exc
            newest = self.latest_version(key)
            if newest is None or newest.sha256 != hashlib.sha256(data).hexdigest():
                out.append((path, data))
        return out

    # ----------------------------------------------------------------- reading versions

    def version_xml(self, process_key: str, version: int) -> str:
        """The BPMN XML of one deployed version."""
        with self.store.read() as conn:
            return str(self.version_row(conn, process_key, version).bpmn_xml)

    def version_forms(self, process_key: str, version: int) -> dict[str, Any]:
        """The forms stored with one deployed version: file name → JSON Schema."""
        with self.store.read() as conn:
            forms = json.loads(self.version_row(conn, process_key, version).forms_json)
        return dict(forms)

    def latest_version(self, process_key: str) -> VersionInfo | None:
        """The newest deployed version of a process, if any."""
        with self.store.read() as conn:
            row = conn.execute(select(VERSIONS).where(VERSIONS.c.process_key == process_key)
                               .order_by(VERSIONS.c.version.desc()).limit(1)).one_or_none()
        return version_info(row) if row is not None else None

    def versions(self, process_key: str | None = None) -> list[VersionInfo]:
        """Every deployed version, newest first, with how many applications still run on it."""
        with self.store.read() as conn:
            q = select(VERSIONS).order_by(VERSIONS.c.process_key, VERSIONS.c.version.desc())
            if process_key:
                q = q.where(VERSIONS.c.process_key == process_key)
            running = {vid: n for vid, n in conn.execute(
                select(APPS.c.version_id, func.count())
                .where(APPS.c.status.in_((AppStatus.RUNNING, AppStatus.ERROR))).group_by(APPS.c.version_id))}
            return [version_info(r, int(running.get(r.id, 0))) for r in conn.execute(q)]

    def newest_row(self, conn: Connection | Session, process_key: str) -> Any:
        """The newest version of a process — its id, key and number (not its diagram: every acceptance asks, and
        the diagram is parsed once per version); NotFound if it was never deployed."""
        row = conn.execute(NEWEST_VERSION, {"key": process_key}).one_or_none()
        if row is None:
            raise NotFound(f"流程 {process_key!r} 尚未部署（可用：{'、'.join(SHIPPED)}；先运行 baozhuang init）")
        return row

    def version_row(self, conn: Connection | Session, process_key: str, version: int) -> Any:
        """One version row; NotFound if there is none."""
        row = conn.execute(select(VERSIONS).where(VERSIONS.c.process_key == process_key,
                                                  VERSIONS.c.version == version)).one_or_none()
        if row is None:
            raise NotFound(f"流程 {process_key} 没有第 {version} 版")
        return row

    def version_numbers(self, conn: Connection | Session, process_key: str) -> dict[int, int]:
        """Version row id → version number, for one process."""
        return {vid: number for vid, number in conn.execute(
            select(VERSIONS.c.id, VERSIONS.c.version).where(VERSIONS.c.process_key == process_key))}

    # ----------------------------------------------------------------- parsed diagrams

    def diagram(self, conn: Connection | Session, version_id: int) -> ParsedDiagram:
        """The parsed diagram of a stored version (parsed once per version, shared by content)."""
        cached = self._by_version.get(version_id)
        if cached is not None:
            return cached
        row = conn.execute(select(VERSIONS).where(VERSIONS.c.id == version_id)).one_or_none()
        if row is None:
            raise NotFound(f"流程版本不存在：{version_id}")
        forms = json.loads(row.forms_json)
        diagram = self.parse(row.bpmn_xml.encode("utf-8"), f"{row.process_key}.v{row.version}", forms.get,
                             forms_key=hashlib.sha256(row.forms_json.encode("utf-8")).hexdigest())
        self._by_version[version_id] = diagram
        return diagram

    def version_diagram(self, process_key: str, version: int) -> ParsedDiagram:
        """The parsed diagram of one deployed version, by process and number."""
        with self.store.read() as conn:
            return self.diagram(conn, self.version_row(conn, process_key, version).id)

    def marked_nodes(self, prop: str) -> dict[str, tuple[str, FormDefinition | None]]:
        """Nodes of every deployed version carrying a diagram property (e.g. reviewMeeting): node id →
        (the property's value, the node's form)."""
        marked: dict[str, tuple[str, FormDefinition | None]] = {}
        with self.store.read() as conn:
            for version_id in conn.execute(select(VERSIONS.c.id).order_by(VERSIONS.c.id)).scalars():
                diagram = self.diagram(conn, version_id)
                for node in diagram.nodes.values():
                    if node.properties.get(prop):
                        marked[node.id] = (node.properties[prop], diagram.form_for(node.id))
        return marked

    def start_form(self, process_key: str) -> FormDefinition | None:
        """The acceptance form of the newest version of a process."""
        with self.store.read() as conn:
            diagram = self.diagram(conn, self.newest_row(conn, process_key).id)
        return diagram.forms.get(diagram.start_form) if diagram.start_form else None


def summary(diagram: ParsedDiagram) -> DiagramSummary:
    """What a person (or the command line) is told of a diagram that passed the gate."""
    return DiagramSummary(diagram.process_id, diagram.name, diagram.sha256, diagram.nodes, diagram.forms,
                          diagram.start_form)


def version_info(r: Any, running: int = 0) -> VersionInfo:
    """A VersionInfo from a process_versions row."""
    return VersionInfo(r.id, r.process_key, r.version, r.name, r.sha256, r.deployed_by, r.deployed_at, r.comment,
                       running)
