"""Documents kept with an application: uploads submitted with a task, contracts the handlers generate,
and PDFs rendered from those contracts on first request."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select

import handlers

from ..errors import FormValidationError, InvalidInput, NotFound, WorkflowFailure
from ..kernel.forms import FormDefinition
from ..results import DocumentInfo, Upload
from ..store import Store
from ..store.files import DocumentFiles
from ..store.tables import DOCUMENTS, ITEMS, USERS
from ..vocabulary import EventKind, Role, TaskStatus
from .audit import PendingEvent, append_only
from .outbox import QUEUED, queue_notice

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
UPLOAD_TYPES = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png", DOCX: ".docx"}
UPLOAD_MAX_BYTES = 10 * 1024 * 1024
INSERT_DOCUMENT = insert(DOCUMENTS)


class StepServices:
    """What handlers may ask of the engine during a step, bound to the step's transaction."""

    def __init__(self, conn: Connection, files: DocumentFiles, application_id: int,
                 clock: Callable[[], datetime]) -> None:
        self.conn, self.files, self.application_id, self.clock = conn, files, application_id, clock

    def manager_workloads(self) -> Mapping[str, int]:
        """Open tasks per active customer manager (who gets the next case)."""
        return manager_workloads(self.conn)

    def save_document(self, kind: str, filename: str, media_type: str, content: bytes) -> str:
        """Keep a generated document with the application; its id."""
        return save_document(self.conn, self.files, self.application_id, kind, filename, media_type, content,
                             self.clock())

    def send_notice(self, event: str, recipient: str, message: str) -> str:
        """Queue a message to the customer; it is delivered after the step commits."""
        queue_notice(self.conn, self.application_id, event, recipient, message, self.clock())
        return QUEUED


class NoServices:
    """Services for a workflow only being restored: a handler must not run there."""

    def manager_workloads(self) -> Mapping[str, int]:
        raise WorkflowFailure("恢复流程状态时不应调用处理器")

    def save_document(self, kind: str, filename: str, media_type: str, content: bytes) -> str:
        raise WorkflowFailure("恢复流程状态时不应调用处理器")

    def send_notice(self, event: str, recipient: str, message: str) -> str:
        raise WorkflowFailure("恢复流程状态时不应调用处理器")


ACTIVE_USERS = select(USERS.c.username, USERS.c.roles).where(USERS.c.active.is_(True)).order_by(USERS.c.id)
OPEN_TASKS_OF = (select(ITEMS.c.assignee, func.count().label("n"))
                 .where(ITEMS.c.status == TaskStatus.READY, ITEMS.c.assignee.in_(bindparam("people", expanding=True)))
                 .group_by(ITEMS.c.assignee))


def manager_workloads(conn: Connection) -> Mapping[str, int]:
    """Open tasks per active customer manager."""
    managers = [u.username for u in conn.execute(ACTIVE_USERS) if Role.CUSTOMER_MANAGER in u.roles.split(",")]
    counts = {row.assignee: int(row.n) for row in conn.execute(OPEN_TASKS_OF, {"people": managers})}
    return {m: int(counts.get(m, 0)) for m in managers}


def sniff_media_type(content: bytes) -> str | None:
    """What an uploaded file is by its first bytes (and, for DOCX, its package parts), or None if it is none of
    the accepted kinds: a program renamed ``.pdf`` is not a PDF."""
    if content.startswith(b"%PDF-"):
        return "application/pdf"
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as package:
                names = set(package.namelist())
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, RuntimeError):
            return None
        if "[Content_Types].xml" in names and "word/document.xml" in names:
            return DOCX
    return None


def save_document(conn: Connection, files: DocumentFiles, application_id: int, kind: str, filename: str,
                  media_type: str, content: bytes, now: datetime) -> str:
    """Write a document's bytes and its row (in the caller's transaction); its id."""
    doc_id, rel, digest = files.write(content, conn)
    conn.execute(INSERT_DOCUMENT, {"id": doc_id, "application_id": application_id, "kind": kind,
                                   "filename": filename, "media_type": media_type, "sha256": digest,
                                   "size": len(content), "path": rel, "created_at": now})
    return doc_id


def store_uploads(conn: Connection, files: DocumentFiles, application_id: int, form: FormDefinition | None,
                  uploads: tuple[Upload, ...], received: Iterable[str], now: datetime) -> list[dict[str, Any]]:
    """Check and keep the documents submitted with a task. A required document must be there: uploaded
    now or earlier, or recorded as received on paper (ticked in one of the form's checklist fields)."""
    wanted = {str(d["key"]): d for d in (form.documents if form else ())}
    errors: dict[str, str] = {}
    kinds: dict[int, str] = {}
    for index, up in enumerate(uploads):
        doc = wanted.get(up.key)
        if doc is None:
            errors[up.key] = f"{up.key[:40]}：本环节不收取该资料"
        elif not up.content:
            errors[up.key] = f"{doc.get('title', up.key)}：文件为空"
        elif len(up.content) > UPLOAD_MAX_BYTES:
            errors[up.key] = f"{doc.get('title', up.key)}：文件超过 {UPLOAD_MAX_BYTES // (1024 * 1024)} MB"
        else:
            kind = sniff_media_type(up.content)
            if kind is None:
                errors[up.key] = (f"{doc.get('title', up.key)}：文件内容不是 PDF、JPG、PNG 或 DOCX"
                                  "（按文件内容识别，与文件名和扩展名无关）")
            else:
                kinds[index] = kind
    given = {up.key for up in uploads} | set(received)
    missing = [key for key, doc in wanted.items() if doc.get("required") and key not in given]
    # most steps want no document: ask the database for earlier uploads only when one may be missing
    earlier = (set(conn.execute(select(DOCUMENTS.c.kind).where(DOCUMENTS.c.application_id == application_id))
                   .scalars()) if missing else set())
    for key in missing:
        if f"upload:{key}" not in earlier:
            errors.setdefault(key, f"{wanted[key].get('title', key)}：必须上传")
    if errors:
        raise FormValidationError(f"上传的资料有 {len(errors)} 处问题：{'；'.join(errors.values())}", errors)
    stored = []
    for index, up in enumerate(uploads):
        media_type = kinds[index]  # what the bytes are, whatever the name or the browser said
        stem = Path(up.filename.replace("\\", "/")).stem[:180] or up.key
        name = f"{stem}{UPLOAD_TYPES[media_type]}"
        doc_id = save_document(conn, files, application_id, f"upload:{up.key}", name, media_type, up.content,
                               now)
        stored.append({"key": up.key, "document": doc_id, "filename": name,
                       "sha256": hashlib.sha256(up.content).hexdigest()})
    return stored


class Documents:
    """Reading stored documents and rendering a contract's PDF."""

    def __init__(self, store: Store, files: DocumentFiles, clock: Callable[[], datetime]) -> None:
        self.store, self.files, self.clock = store, files, clock

    def document(self, doc_id: str) -> tuple[DocumentInfo, bytes]:
        """A stored document (by id or a unique prefix of six characters or more) and its bytes, checked
        against its SHA-256."""
        with self.store.read() as conn:
            row = _find(conn, doc_id)
            return doc_info(row), self.files.read(row.path, row.sha256, conn)

    def document_pdf(self, doc_id: str, by: str) -> tuple[DocumentInfo, bytes]:
        """The PDF of a contract — given its HTML, its DOCX or its PDF (by id or unique prefix): made from the
        HTML rendering on first request (slow), then kept and reused."""
        with self.store.begin() as conn:
            doc = _find(conn, doc_id)
            if doc.media_type == "application/pdf":
                return doc_info(doc), self.files.read(doc.path, doc.sha256, conn)
            if doc.media_type != "text/html":
                # the DOCX (or another rendering) of a contract: its HTML sibling has the same name stem
                stem = doc.filename.rsplit(".", 1)[0]
                sibling = conn.execute(select(DOCUMENTS).where(DOCUMENTS.c.application_id == doc.application_id,
                                                               DOCUMENTS.c.filename == f"{stem}.html")).first()
                if sibling is None:
                    raise InvalidInput(f"文件 {doc.filename} 不是生成的合同，没有可转换为 PDF 的版本")
                doc = sibling
            pdf_name = doc.filename.rsplit(".", 1)[0] + ".pdf"
            existing = conn.execute(select(DOCUMENTS).where(DOCUMENTS.c.application_id == doc.application_id,
                                                            DOCUMENTS.c.filename == pdf_name)).first()
            if existing is not None:
                return doc_info(existing), self.files.read(existing.path, existing.sha256, conn)
            html = self.files.read(doc.path, doc.sha256, conn).decode("utf-8")
            content = handlers.render_pdf(html)
            now = self.clock()
            pdf_id = save_document(conn, self.files, doc.application_id, doc.kind, pdf_name, "application/pdf",
                                   content, now)
            append_only(conn, doc.application_id, PendingEvent(
                EventKind.DOCUMENT_RENDERED, by, now, {"from": doc.id, "document": pdf_id, "filename": pdf_name}))
            created = conn.execute(select(DOCUMENTS).where(DOCUMENTS.c.id == pdf_id)).one()
            return doc_info(created), content


def _find(conn: Connection, doc_id: str) -> Any:
    """A documents row by id or by a unique prefix (six characters or more)."""
    doc_id = doc_id.strip().lower()
    row = conn.execute(select(DOCUMENTS).where(DOCUMENTS.c.id == doc_id)).one_or_none()
    if row is None and 6 <= len(doc_id) < 36:
        matches = conn.execute(select(DOCUMENTS).where(DOCUMENTS.c.id.startswith(doc_id, autoescape=True))
                               .limit(2)).all()
        if len(matches) > 1:
            raise InvalidInput(f"文件编号前缀 {doc_id} 不唯一，请输入更长的编号")
        row = matches[0] if matches else None
    if row is None:
        raise NotFound(f"文件不存在：{doc_id}")
    return row


def doc_info(d: Any) -> DocumentInfo:
    """A DocumentInfo from a documents row."""
    return DocumentInfo(d.id, d.kind, d.filename, d.media_type, d.size, d.sha256, d.created_at)
