"""The real application served by ``baozhuang serve`` (waitress) as a subprocess on loopback: the one live server
the browser tests and the reliability proofs both use. It runs from its own working directory (its instance
is there), on the database it is given, and can be stopped, killed and started again."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BAOZHUANG = Path(sys.executable).with_name("baozhuang")


def free_port() -> int:
    """A port on loopback nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """``baozhuang serve`` on a database, from a working directory of its own."""

    def __init__(self, root: Path, database_url: str, *, documents: Path | None = None, threads: int = 8) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.db = database_url
        self.documents = documents or root / "documents"
        self.threads = threads
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root / "server.log"
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("BAOZHUANG_")},
                    "BAOZHUANG_DATABASE_URL": database_url, "BAOZHUANG_DOCUMENTS_DIR": str(self.documents),
                    "PYTHONUNBUFFERED": "1"}
        self.process: subprocess.Popen[bytes] | None = None

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Another ``baozhuang`` command on the same database, as it finished."""
        return subprocess.run([str(BAOZHUANG), *args], capture_output=True, text=True, timeout=300, cwd=self.root,
                              env=self.env)

    def cli(self, *args: str) -> str:
        """Another ``baozhuang`` command on the same database, which must succeed: what it printed."""
        done = self.run(*args)
        assert done.returncode == 0, done.stderr + done.stdout
        return done.stdout

    def start(self) -> None:
        """Serve, and return once the server answers."""
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([str(BAOZHUANG), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                                             "--threads", str(self.threads)], stdout=log, stderr=subprocess.STDOUT,
                                            cwd=self.root, env=self.env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                status, _ = self.request("GET", "/login", timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("server did not start:\n" + self.log.read_text(errors="replace"))

    def kill(self) -> None:
        """SIGKILL: no shutdown handler, no flush, no rollback: the process is simply gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, and SIGKILL if it does not end in ten seconds."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def request(self, method: str, path: str, body: Any = None, token: str | None = None,
                timeout: float = 30) -> tuple[int, Any]:
        """One HTTP request on a fresh connection: (status, parsed JSON body or None)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            payload = None
            if body is not None:
                payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            try:
                return response.status, json.loads(raw)
            except ValueError:
                return response.status, None
        finally:
            conn.close()
