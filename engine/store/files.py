"""Files kept with an application: written under one folder, named by id, checked by SHA-256."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from ..errors import NotFound


class DocumentFiles:
    """The folder where document bytes live; nothing can be written outside it."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def write(self, content: bytes) -> tuple[str, str, str]:
        """Store bytes; return (document id, relative path, sha256)."""
        doc_id = str(uuid.uuid4())
        rel = f"{doc_id[:2]}/{doc_id}"
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        with open(tmp, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return doc_id, rel, hashlib.sha256(content).hexdigest()

    def read(self, rel: str, sha256: str) -> bytes:
        """Read stored bytes back, refusing a path outside the folder or a changed file."""
        path = (self.root / rel).resolve()
        if self.root not in path.parents or not path.is_file():
            raise NotFound(f"文件不存在：{rel}")
        content = path.read_bytes()
        if hashlib.sha256(content).hexdigest() != sha256:
            raise NotFound(f"文件校验失败（内容已被改动）：{rel}")
        return content
