"""A local stand-in for the Hub's file endpoint, so huggingface_hub's own download code writes its cache in tests.

It answers `HEAD|GET /{owner}/{name}/resolve/{revision}/{file}` for the files of one folder at one commit, with
the headers hf_hub_download reads (X-Repo-Commit, ETag, Content-Length); anything else is a 404.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _handler(repo_id: str, folder: Path) -> type[BaseHTTPRequestHandler]:
    prefix = f"/{repo_id}/resolve/"

    class Handler(BaseHTTPRequestHandler):
        def _file(self) -> Path | None:
            if not self.path.startswith(prefix):
                return None
            revision, _, name = self.path[len(prefix) :].partition("/")
            path = folder / name
            return path if revision in ("main", COMMIT) and path.is_file() else None

        def _answer(self, body: bool) -> None:
            path = self._file()
            if path is None:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

        def do_HEAD(self) -> None:  # noqa: N802 (http.server's names)
            self._answer(body=False)

        def do_GET(self) -> None:  # noqa: N802
            self._answer(body=True)

        def log_message(self, *args) -> None:
            pass

    return Handler


@contextmanager
def serving(repo_id: str, folder: Path) -> Iterator[str]:
    """The endpoint URL of a server publishing `folder` as `repo_id` at COMMIT, while the block runs."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(repo_id, folder))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
