"""Analysts' drafts: an edited diagram and its own forms, kept with every problem the gate finds, deployable
when it has none.

A draft carries the forms its nodes name (name → JSON Schema), so that an analyst who merges two nodes can
give the new one a form without touching ``processes/forms``; a form the draft does not carry is looked up
there. Deleting a draft keeps its row as a record (who, when) but no page lists or opens it again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select

from ..errors import Conflict, DiagramRejected, InvalidInput, NotFound, Reason
from ..kernel.loading import FormSource, forms_from_directory
from ..results import DraftInfo, VersionInfo
from ..store import Store
from ..store.models import ProcessDraft
from .versions import Definitions

FORM_NAME = re.compile(r"[A-Za-z0-9_\-]{1,80}\.json")
MAX_FORMS = 200
MAX_FORMS_BYTES = 2 * 1024 * 1024

Forms = Mapping[str, Any]
"""A draft's forms: file name (``xxx.json``) → JSON Schema."""


def checked_forms(forms: Any) -> dict[str, Any]:
    """The forms a page sent, if they are a mapping of safe file names to JSON objects; InvalidInput if not."""
    if not isinstance(forms, Mapping):
        raise InvalidInput("表单应为“文件名 → 表单定义”的对象")
    if len(forms) > MAX_FORMS:
        raise InvalidInput(f"一个草稿最多 {MAX_FORMS} 个表单")
    out: dict[str, Any] = {}
    for name, schema in forms.items():
        if not isinstance(name, str) or not FORM_NAME.fullmatch(name):
            raise InvalidInput(f"表单文件名“{name}”无效：只能用英文字母、数字、下划线和连字符，以 .json 结尾")
        if not isinstance(schema, Mapping):
            raise InvalidInput(f"表单 {name} 应为 JSON 对象")
        out[name] = dict(schema)
    if len(json.dumps(out, ensure_ascii=False).encode("utf-8")) > MAX_FORMS_BYTES:
        raise InvalidInput("表单总大小超过 2 MiB")
    return out


class Drafts:
    """Checking, saving, listing, deleting and deploying drafts (the caller checked who may)."""

    def __init__(self, store: Store, definitions: Definitions, clock: Callable[[], datetime]) -> None:
        self.store, self.definitions, self.clock = store, definitions, clock

    def form_source_of(self, forms: Forms | None) -> FormSource:
        """Where the gate looks the forms of a diagram being drawn up: these, then processes/forms."""
        return self._form_source(checked_forms(forms) if forms is not None else None)

    def _form_source(self, forms: Forms | None) -> FormSource:
        shipped = forms_from_directory(self.definitions.config.processes_dir / "forms")
        if not forms:
            return shipped
        own = dict(forms)
        return lambda name: own[name] if name in own else shipped(name)

    def check(self, process_key: str, xml: bytes, forms: Forms | None = None) -> list[Reason]:
        """Every problem the deploy gate finds in a diagram and its forms (nothing is stored)."""
        problems: list[Reason] = []
        own = checked_forms(forms) if forms is not None else None
        try:
            diagram = self.definitions.parse(xml, f"{process_key}.bpmn", self._form_source(own))
            if diagram.process_id != process_key:
                problems.append(Reason("process_id", f"流程 id 应为 {process_key}，实际为 {diagram.process_id}"))
        except DiagramRejected as exc:
            problems = list(exc.reasons)
        return problems

    def save(self, process_key: str, xml: bytes, by: str, comment: str = "", draft_id: int | None = None,
             forms: Forms | None = None) -> DraftInfo:
        """Keep an edited diagram (and its forms, when given) as a draft with every problem the deploy gate
        finds (a draft may have some). Saving without forms keeps the forms the draft had."""
        own = checked_forms(forms) if forms is not None else None
        base = self.definitions.latest_version(process_key)
        with self.store.transaction() as s:
            row = s.get(ProcessDraft, draft_id) if draft_id is not None else None
            if draft_id is not None and (row is None or row.process_key != process_key or row.deleted_at is not None):
                raise NotFound(f"草稿不存在：{draft_id}")
            if row is not None and row.deployed_version is not None:
                raise Conflict(f"草稿 {draft_id} 已部署为第 {row.deployed_version} 版，请另存为新草稿")
            if own is None and row is not None and row.forms_json:
                own = json.loads(row.forms_json)
            problems = self.check(process_key, xml, own)
            if row is None:
                row = ProcessDraft(process_key=process_key, deployed_version=None)
                s.add(row)
            row.base_version = base.version if base else None
            row.bpmn_xml = xml.decode("utf-8", errors="replace")
            row.forms_json = json.dumps(own, ensure_ascii=False) if own is not None else None
            row.problems_json = json.dumps([[r.code, r.message, r.element_id] for r in problems], ensure_ascii=False)
            row.comment, row.saved_by, row.saved_at = comment, by, self.clock()
            s.flush()
            return draft_info(row)

    def list(self, process_key: str | None = None) -> list[DraftInfo]:
        """Saved drafts not deleted, newest first."""
        with self.store.reading() as s:
            q = (select(ProcessDraft).where(ProcessDraft.deleted_at.is_(None))
                 .order_by(ProcessDraft.saved_at.desc(), ProcessDraft.id.desc()))
            if process_key:
                q = q.where(ProcessDraft.process_key == process_key)
            return [draft_info(r) for r in s.scalars(q)]

    def _row(self, s: Any, draft_id: int) -> ProcessDraft:
        row = s.get(ProcessDraft, draft_id)
        if row is None or row.deleted_at is not None:
            raise NotFound(f"草稿不存在：{draft_id}" if row is None else f"草稿 {draft_id} 已删除")
        return row

    def get(self, draft_id: int) -> tuple[DraftInfo, str]:
        """One draft and its XML."""
        with self.store.reading() as s:
            row = self._row(s, draft_id)
            return draft_info(row), row.bpmn_xml

    def forms(self, draft_id: int) -> dict[str, Any] | None:
        """The forms a draft carries (None for a draft saved without any: it uses processes/forms)."""
        with self.store.reading() as s:
            row = self._row(s, draft_id)
            return json.loads(row.forms_json) if row.forms_json else None

    def form_source(self, draft_id: int) -> FormSource:
        """Where the gate looks a draft's forms up: its own, then processes/forms."""
        return self._form_source(self.forms(draft_id))

    def delete(self, draft_id: int, by: str) -> DraftInfo:
        """Delete a draft: no longer listed or opened; the row records who deleted it and when."""
        with self.store.transaction() as s:
            row = self._row(s, draft_id)
            row.deleted_by, row.deleted_at = by, self.clock()
            s.flush()
            return draft_info(row)

    def deploy(self, draft_id: int, by: str, comment: str = "") -> VersionInfo:
        """Deploy a draft that passes the gate (checked again now) as the process's next version, with its forms."""
        info, xml = self.get(draft_id)
        if info.deployed_version is not None:
            raise Conflict(f"草稿 {draft_id} 已部署为第 {info.deployed_version} 版")
        fresh = self.save(info.process_key, xml.encode("utf-8"), by, info.comment, draft_id)
        if fresh.problems:
            raise DiagramRejected(fresh.problems, f"草稿 {draft_id}")
        version = self.definitions.deploy(xml.encode("utf-8"), f"{info.process_key}.bpmn", by, comment or info.comment,
                                          forms=self.form_source(draft_id))
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
