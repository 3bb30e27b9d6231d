"""A real S3-compatible server (moto's, in a thread, from tests/s3.py) for the R2 tests, a
fresh bucket per test, and a fault-injecting HTTP proxy to put in front of it."""

from __future__ import annotations

import http.client
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest

from app.clock import FakeClock
from storage.local import open_repository
from storage.r2 import R2Settings
from storage.sql import SqlRepository
from tests.s3 import admin, bucket, s3, s3_url  # fixtures, shared with the app's tests

__all__ = ["admin", "bucket", "s3", "s3_url"]


@pytest.fixture
def settings(s3_url: str, bucket: str) -> R2Settings:
    return R2Settings(
        bucket=bucket,
        access_key_id="test",
        secret_access_key="test",
        endpoint_url=s3_url,
        part_size_mb=5,
        concurrency=3,
    )


@pytest.fixture
async def device(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SqlRepository]:
    repo = await open_repository(tmp_path / "device.db", ZoneInfo("UTC"), clock.now())
    yield repo
    await repo.close()


@dataclass
class Proxy:
    """An HTTP proxy in front of the server that fails the first `fail` requests."""

    target: str
    fail: int = 0
    """How many requests fail, after the first `after` went through."""
    after: int = 0
    status: int = 500
    code: str = "InternalError"
    headers: dict[str, str] = field(default_factory=dict)
    seen: int = 0
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> bool:
        with self.lock:
            self.seen += 1
            return self.after < self.seen <= self.after + self.fail


def _handler(proxy: Proxy) -> type[BaseHTTPRequestHandler]:
    target = urlsplit(proxy.target)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if proxy.take():
                payload = f"<Error><Code>{proxy.code}</Code><Message>x</Message></Error>".encode()
                self.send_response(proxy.status)
                for k, v in proxy.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
                return
            conn = http.client.HTTPConnection(target.netloc, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            conn.request(self.command, self.path, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
            self.send_response(answer.status)
            for k, v in answer.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            told = answer.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", told or str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

    return Handler


@pytest.fixture
def proxy(s3_url: str) -> Iterator[Proxy]:
    p = Proxy(s3_url)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(p))
    server.daemon_threads = True
    p.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield p
    finally:
        server.shutdown()
        server.server_close()
