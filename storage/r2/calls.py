"""R2's settings and keys, and each S3 call retried and its failure told as the domain's error.

Every call here blocks: `storage.r2.transfer` runs them in worker threads.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TypeVar

from app.domain.errors import ConfigError, FocusError, UnavailableError, UsageError

MIB = 1 << 20
MIN_PART_MB = 5
MAX_PARTS = 10_000
BACKOFF_SECONDS = 0.2
"""The first retry's wait, doubled at each attempt (full jitter), at most `BACKOFF_CAP`."""
BACKOFF_CAP = 10.0
REPORT_EVERY = 256 * 1024
"""How far a body is read between two progress reports (each costs a lock)."""
_HEX64 = re.compile(r"[0-9a-f]{64}")
_REFUSED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "NoSuchBucket"}
_BUSY = {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling"}

T = TypeVar("T")


class Clock(Protocol):
    """What the uploader needs of the app's clock (storage imports only the domain)."""

    def now(self) -> datetime: ...


class UtcClock:
    """The wall clock, when no clock is given (an upload row's creation time only)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class R2Settings:
    """Where tracks go, and how hard to push."""

    bucket: str
    access_key_id: str
    secret_access_key: str
    account_id: str = ""
    endpoint_url: str | None = None
    """Default: `https://{account_id}.r2.cloudflarestorage.com` (any S3 server works)."""
    part_size_mb: int = 8
    concurrency: int = 4
    """Parts in flight at once."""
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 60.0
    max_attempts: int = 5
    """Attempts per call for 429, 5xx and connection errors."""

    def __post_init__(self) -> None:
        if self.part_size_mb < MIN_PART_MB:
            raise ConfigError(f"r2 part size must be at least {MIN_PART_MB} MB")
        if self.concurrency < 1 or self.max_attempts < 1:
            raise ConfigError("r2 concurrency and max attempts must be at least 1")

    def endpoint(self) -> str:
        if self.endpoint_url:
            return self.endpoint_url
        if not self.account_id:
            raise ConfigError("r2 needs an account id or an endpoint url")
        return f"https://{self.account_id}.r2.cloudflarestorage.com"


def object_key(user_id: uuid.UUID, sha256: str) -> str:
    return f"user/{user_id}/tracks/{sha256}"


def check_key(key: str, user_id: uuid.UUID) -> None:
    """Refuse, before any request, a key that is not this user's track key."""
    parts = key.split("/")
    ok = (
        len(parts) == 4
        and all(parts)
        and ".." not in key
        and parts[0] == "user"
        and parts[1] == str(user_id)
        and parts[2] == "tracks"
        and _HEX64.fullmatch(parts[3]) is not None
    )
    if not ok:
        raise UsageError(f"not a track key of this user: {key[:120]!r}")


def hash_file(path: Path, chunk: int = 1 << 20) -> tuple[str, int]:
    """The file's sha256 (hex) and size, read in chunks (constant memory)."""
    digest = hashlib.sha256()
    size = 0
    buf = bytearray(chunk)
    view = memoryview(buf)
    with path.open("rb", buffering=0) as f:
        while n := f.readinto(buf):
            digest.update(view[:n])
            size += n
    return digest.hexdigest(), size


def part_size_for(size: int, part_size_mb: int) -> int:
    """The fixed part size: as configured, grown (whole MiB) to keep at most 10,000 parts."""
    part = max(part_size_mb, MIN_PART_MB) * MIB
    if size > part * MAX_PARTS:
        part = -(-size // (MAX_PARTS * MIB)) * MIB
    return part


class Vanished(Exception):
    """The multipart upload is gone from the server (NoSuchUpload)."""


def _error(exc: Any) -> tuple[str, int]:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


def _retry_after(exc: Any) -> float | None:
    headers = (getattr(exc, "response", None) or {}).get("ResponseMetadata", {})
    value = headers.get("HTTPHeaders", {}).get("retry-after")
    try:
        return min(float(value), BACKOFF_CAP) if value is not None else None
    except ValueError:
        return None


def refused(exc: Exception, what: str) -> FocusError | Vanished:
    """A failure not worth retrying, as the domain's error (one line, no secrets)."""
    code, status = _error(exc)
    if code == "NoSuchUpload":
        return Vanished(what)
    if code in _REFUSED or status == 403:
        return ConfigError(f"R2 refused {what}: {code or status} (check the bucket and keys)")
    return UnavailableError(f"R2 refused {what}: {code or status}", title="R2")


class Client:
    """One boto3 client shared by every thread (made on first use), and the retry loop."""

    def __init__(self, settings: R2Settings, sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self._client: Any = None
        self._lock = threading.Lock()
        self._sleep = sleep

    def s3(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                s = self.settings
                config = Config(
                    region_name="auto",
                    signature_version="s3v4",
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                    connect_timeout=s.connect_timeout_seconds,
                    read_timeout=s.read_timeout_seconds,
                    retries={"total_max_attempts": 1, "mode": "standard"},  # our loop retries
                    max_pool_connections=s.concurrency + 4,
                )
                self._client = boto3.session.Session().client(
                    "s3",
                    endpoint_url=s.endpoint(),
                    aws_access_key_id=s.access_key_id,
                    aws_secret_access_key=s.secret_access_key,
                    config=config,
                )
            return self._client

    def call(self, what: str, fn: Callable[[Any], T]) -> T:
        """`fn(client)`, retried on 429, 5xx and connection errors with backoff and jitter."""
        from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
        from botocore.exceptions import ConnectionError as BotoConnectionError

        attempts = self.settings.max_attempts
        for attempt in range(1, attempts + 1):
            wait: float | None = None
            try:
                return fn(self.s3())
            except ClientError as exc:
                code, status = _error(exc)
                if not (status == 429 or status >= 500 or code in _BUSY):
                    raise refused(exc, what) from None
                last = f"{code or status}"
                wait = _retry_after(exc)
            except (BotoConnectionError, HTTPClientError) as exc:
                last = type(exc).__name__
            except BotoCoreError as exc:
                raise UnavailableError(
                    f"R2 {what} failed: {type(exc).__name__}", title="R2"
                ) from None
            if attempt < attempts:
                self._sleep(
                    wait
                    if wait is not None
                    else random.uniform(0, min(BACKOFF_CAP, BACKOFF_SECONDS * 2**attempt))
                )
        raise UnavailableError(
            f"R2 {what} failed after {attempts} attempts: {last}; try again later", title="R2"
        )

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


class Progress:
    """Progress from worker threads, shown on the loop: clamped, monotonic, throttled."""

    INTERVAL = 0.05

    def __init__(
        self,
        total: int,
        callback: Callable[[int, int], None] | None,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.total = total
        self._cb = callback
        self._loop = loop
        self._lock = threading.Lock()
        self._done = 0
        self._live: dict[int, int] = {}
        self._queued = -1
        self._last = 0.0
        self._shown = -1

    def done(self, nbytes: int, part: int = 0) -> None:
        with self._lock:
            self._live.pop(part, None)
            self._done += nbytes
        self._maybe()

    def live(self, part: int, pos: int) -> None:
        with self._lock:
            self._live[part] = pos
        self._maybe()

    def _maybe(self) -> None:
        if self._cb is None:
            return
        with self._lock:
            value = min(self.total, max(0, self._done + sum(self._live.values())))
            now = time.monotonic()
            if value <= self._queued or now - self._last < self.INTERVAL:
                return
            self._queued, self._last = value, now
        self._loop.call_soon_threadsafe(self._show, value)

    def _show(self, value: int) -> None:
        # Calls queued from threads may arrive after a later one was shown: never go back.
        if self._cb is not None and value > self._shown:
            self._shown = value
            self._cb(value, self.total)

    def finish(self) -> None:
        """The final call, at the total (on the loop thread)."""
        self._show(self.total)


class Slice:
    """`length` bytes of a file from `offset`, as a seekable body; reports how far it was read."""

    def __init__(self, path: Path, offset: int, length: int, seen: Callable[[int], None]) -> None:
        self._f: BinaryIO = path.open("rb")
        self._start = offset
        self._len = length
        self._pos = 0
        self._told = 0
        self._seen = seen
        self._f.seek(offset)

    def read(self, n: int = -1) -> bytes:
        left = self._len - self._pos
        n = left if n is None or n < 0 else min(n, left)
        data = self._f.read(n) if n > 0 else b""
        self._pos += len(data)
        if self._pos >= self._told + REPORT_EVERY or self._pos == self._len:
            self._told = self._pos
            self._seen(self._pos)
        return data

    def seek(self, pos: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._len}[whence]
        self._pos = max(0, min(self._len, base + pos))
        self._told = min(self._told, self._pos)
        self._f.seek(self._start + self._pos)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> Slice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
