"""Analysts' drafts: an edited diagram kept with every problem the gate finds, deployable when it has none."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from ..errors import Conflict, DiagramRejected, NotFound, Reason
from ..results import DraftInfo, VersionInfo
from ..store import Store
from ..store.models import ProcessDraft
from .versions import Definitions


class Drafts:
    """Saving, listing and deploying drafts (the caller checked who may)."""

    def __init__(self, store: Store, definitions: Definitions, clock: Callable[[], datetime]) -> None:
        self.store, self.definitions, self.clock = store, definitions, clock

    def save(self, process_key: str, xml: bytes, by: str, comment: str = "", draft_id: int | None = None) -> DraftInfo:
        """Keep an edited diagram as a draft with every problem the deploy gate finds (a draft may have some)."""
        problems: list[Reason] = []
        try:
            diagram = self.definitions.parse(xml, f"{process_key}.bpmn")
            if diagram.process_id != process_key:
                problems.append(Reason("process_id", f"流程 id 应为 {process_key}，实际为 {diagram.process_id}"))
        except DiagramRejected as exc:
            problems = list(exc.reasons)
        base = self.definitions.latest_version(process_key)
        with self.store.transaction() as s:
            row = s.get(ProcessDraft, draft_id) if draft_id is not None else None
            if draft_id is not None and (row is None or row.process_key != process_key):
                raise NotFound(f"草稿不存在：{draft_id}")
            if row is not None and row.deployed_version is not None:
                raise Conflict(f"草稿 {draft_id} 已部署为第 {row.deployed_version} 版，请另存为新草稿")
            if row is None:
                row = ProcessDraft(process_key=process_key, deployed_version=None)
                s.add(row)
            row.base_version = base.version if base else None
            row.bpmn_xml = xml.decode("utf-8", errors="replace")
            row.problems_json = json.dumps([[r.code, r.message, r.element_id] for r in problems], ensure_ascii=False)
            row.comment, row.saved_by, row.saved_at = comment, by, self.clock()
            s.flush()
            return draft_info(row)

    def list(self, process_key: str | None = None) -> list[DraftInfo]:
        """Saved drafts, newest first."""
        with self.store.reading() as s:
            q = select(ProcessDraft).order_by(ProcessDraft.saved_at.desc(), ProcessDraft.id.desc())
            if process_key:
                q = q.where(ProcessDraft.process_key == process_key)
            return [draft_info(r) for r in s.scalars(q)]

    def get(self, draft_id: int) -> tuple[DraftInfo, str]:
        """One draft and its XML."""
        with self.store.reading() as s:
            row = s.get(ProcessDraft, draft_id)
            if row is None:
                raise NotFound(f"草稿不存在：{draft_id}")
            return draft_info(row), row.bpmn_xml

    def deploy(self, draft_id: int, by: str, comment: str = "") -> VersionInfo:
        """Deploy a draft that passes the gate (checked again now) as the process's next version."""
        info, xml = self.get(draft_id)
        if info.deployed_version is not None:
            raise Conflict(f"草稿 {draft_id} 已部署为第 {info.deployed_version} 版")
        fresh = self.save(info.process_key, xml.encode("utf-8"), by, info.comment, draft_id)
        if fresh.problems:
            raise DiagramRejected(fresh.problems, f"草稿 {draft_id}")
        version = self.definitions.deploy(xml.encode("utf-8"), f"{info.process_key}.bpmn", by, comment or info.comment)
        with self.store.transaction() as s:
            row = s.get(ProcessDraft, draft_id)
            assert row is not None
            row.deployed_version = version.version
        return version


def draft_info(r: ProcessDraft) -> DraftInfo:
    """A DraftInfo from a draft row."""
    problems = tuple(Reason(code, message, element) for code, message, element in json.loads(r.problems_json or "[]"))
    return DraftInfo(r.id, r.process_key, r.base_version, problems, r.comment, r.saved_by, r.saved_at,
                     r.deployed_version)
