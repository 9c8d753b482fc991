"""Where the bytes of documents live: generated contracts, uploads, rendered PDFs.

One interface, :class:`DocumentStorage`, with two back ends chosen by the ``documents_backend`` setting:

* :class:`DirectoryStorage` (``directory``, the default: one office, one host) — a file per document under
  ``documents_dir``, named by the document's id; nothing can be read or written outside that folder;
* :class:`DatabaseStorage` (``database``: several hosts, no shared disk) — the bytes in ``document_blobs``,
  named by their SHA-256, so the same content is kept once however many documents have it, written in the
  step's own transaction (a rolled-back step leaves nothing behind).

A document's row keeps the location its storage returned; :class:`DocumentFiles` writes to the configured
storage and reads from whichever one a location belongs to (documents written before a switch stay readable),
and checks every read against the SHA-256 recorded when the document was kept.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, bindparam, select

from ..errors import ConfigurationError, NotFound
from ..vocabulary import DocumentBackend
from .database import Store
from .tables import BLOBS

BLOB_PREFIX = "sha256:"
READ_BLOB = select(BLOBS.c.content).where(BLOBS.c.sha256 == bindparam("sha256"))


class DocumentStorage(ABC):
    """Keeps document bytes; a location (what :meth:`write` returns) tells it where they are."""

    @abstractmethod
    def write(self, conn: Connection | None, doc_id: str, content: bytes, sha256: str) -> str:
        """Keep the bytes of a new document; its location."""

    @abstractmethod
    def read(self, conn: Connection | None, location: str) -> bytes:
        """The bytes at a location (NotFound if there are none)."""

    @abstractmethod
    def holds(self, location: str) -> bool:
        """Whether a location is one of this storage's."""


class DirectoryStorage(DocumentStorage):
    """A file per document under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def write(self, conn: Connection | None, doc_id: str, content: bytes, sha256: str) -> str:
        rel = f"{doc_id[:2]}/{doc_id}"
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        with open(tmp, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return rel

    def read(self, conn: Connection | None, location: str) -> bytes:
        path = (self.root / location).resolve()
        if self.root not in path.parents or not path.is_file():
            raise NotFound(f"文件不存在：{location}")
        return path.read_bytes()

    def holds(self, location: str) -> bool:
        return not location.startswith(BLOB_PREFIX)


class DatabaseStorage(DocumentStorage):
    """Content-addressed bytes in the database: one ``document_blobs`` row per distinct SHA-256."""

    def __init__(self, store: Store, clock: Callable[[], datetime] = datetime.now) -> None:
        self.store, self.clock = store, clock
        self._insert = store.upsert(BLOBS, ("sha256",))  # the same content twice: kept once

    def write(self, conn: Connection | None, doc_id: str, content: bytes, sha256: str) -> str:
        row = {"sha256": sha256, "size": len(content), "content": content, "created_at": self.clock()}
        if conn is not None:
            conn.execute(self._insert, row)
        else:
            with self.store.begin() as own:
                own.execute(self._insert, row)
        return BLOB_PREFIX + sha256

    def read(self, conn: Connection | None, location: str) -> bytes:
        digest = location[len(BLOB_PREFIX):]
        if conn is not None:
            content = conn.execute(READ_BLOB, {"sha256": digest}).scalar()
        else:
            with self.store.read() as own:
                content = own.execute(READ_BLOB, {"sha256": digest}).scalar()
        if content is None:
            raise NotFound(f"文件不存在：{location}")
        return bytes(content)

    def holds(self, location: str) -> bool:
        return location.startswith(BLOB_PREFIX)


class DocumentFiles:
    """Document bytes: written to the configured storage, read from the one holding them, checked by SHA-256."""

    def __init__(self, storage: DocumentStorage, *others: DocumentStorage) -> None:
        self.storage = storage
        self.storages = (storage, *others)

    def write(self, content: bytes, conn: Connection | None = None) -> tuple[str, str, str]:
        """Keep bytes (in ``conn``'s transaction where the storage is the database); (id, location, sha256)."""
        doc_id = str(uuid.uuid4())
        digest = hashlib.sha256(content).hexdigest()
        return doc_id, self.storage.write(conn, doc_id, content, digest), digest

    def read(self, location: str, sha256: str, conn: Connection | None = None) -> bytes:
        """Read stored bytes back, refusing a location outside the storage or changed bytes."""
        storage = next((s for s in self.storages if s.holds(location)), None)
        if storage is None:
            raise NotFound(f"文件不存在：{location}")
        content = storage.read(conn, location)
        if hashlib.sha256(content).hexdigest() != sha256:
            raise NotFound(f"文件校验失败（内容已被改动）：{location}")
        return content


def document_files(backend: str, directory: Path, store: Store, clock: Callable[[], datetime]) -> DocumentFiles:
    """The documents' storage a setting names (``directory`` or ``database``), reading the other's too."""
    folder, database = DirectoryStorage(directory), DatabaseStorage(store, clock)
    if backend == DocumentBackend.DIRECTORY:
        return DocumentFiles(folder, database)
    if backend == DocumentBackend.DATABASE:
        return DocumentFiles(database, folder)
    raise ConfigurationError(f"documents_backend 必须是 {' 或 '.join(DocumentBackend)}，实际为 {backend!r}")
