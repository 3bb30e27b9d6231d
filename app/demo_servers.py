"""The demo's throwaway servers: a local Postgres (pgserver) and an S3-compatible one (moto).

Both come from the `demo` extra. They start in background threads while the offline part of
the demo plays (once its store is open: both run Alembic, whose context is process-wide), and
`close()` stops them and removes their folders, whatever happened (a failure, Ctrl-C,
SIGTERM): it first waits for a start still under way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import tempfile
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DISTRIBUTION = "focus-timer"
EXTRA_NOTICE = f"Sync and upload steps need the demo extra: pip install '{DISTRIBUTION}[demo]'"
DEMO_DATABASE = "focus_demo"
DEMO_USER = "demo_user"
BUCKET = "focus-demo-tracks"


class ExtraMissing(Exception):
    """pgserver or moto cannot be imported: the demo stays offline."""


@dataclass(frozen=True, slots=True)
class Postgres:
    admin_url: str
    """The demo database, as its admin (`focus server init` ran on it)."""
    user: dict[str, Any]
    """`focus server add-user`: user_id, role, sync_url."""
    pid: int | None
    """The postmaster's process id."""


@dataclass(frozen=True, slots=True)
class ObjectStore:
    endpoint: str
    bucket: str


def _import_pgserver() -> Any:
    try:
        with warnings.catch_warnings():  # platformdirs: no XDG_RUNTIME_DIR in a container
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError as exc:
        raise ExtraMissing(str(exc)) from None
    return pgserver


def _import_moto() -> Any:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise ExtraMissing(str(exc)) from None
    return ThreadedMotoServer


def _database_url(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def _prepare_database(url: str) -> tuple[str, dict[str, Any]]:
    """`focus server init` on a new database, then `add-user` for the demo's user."""
    import asyncpg

    from storage.postgres import Timeouts
    from storage.server import add_user, admin_target, init

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'CREATE DATABASE "{DEMO_DATABASE}"')
    finally:
        await conn.close()
    admin_url = _database_url(url, DEMO_DATABASE)
    admin = admin_target(admin_url, Timeouts())
    await init(admin)
    user = await add_user(admin, DEMO_USER, datetime.now(UTC))
    return admin_url, user


class DemoServers:
    """Starts both servers in the background; `close()` undoes everything it did."""

    def __init__(self) -> None:
        self.pg_dir = Path(tempfile.mkdtemp(prefix="focus-demo-pg-"))
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="focus-demo")
        self._pg_server: Any = None
        self._moto: Any = None
        self._pg: Future[Postgres] | None = None
        self._s3: Future[ObjectStore] | None = None

    def start(self) -> None:
        if self._pg is not None:
            return
        self._pg = self._pool.submit(self._start_postgres)
        self._s3 = self._pool.submit(self._start_s3)

    # -- in the worker threads -----------------------------------------------------------

    def _start_postgres(self) -> Postgres:
        pgserver = _import_pgserver()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._pg_server = pgserver.get_server(self.pg_dir, cleanup_mode="delete")
        url = self._pg_server.get_uri()
        admin_url, user = asyncio.run(_prepare_database(url))
        return Postgres(admin_url, user, self._pg_server.get_pid())

    def _start_s3(self) -> ObjectStore:
        server_class = _import_moto()
        import boto3

        # werkzeug logs every request to stderr: the demo's lines are the story.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._moto = server_class(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        # CreateBucket wants a us-east-1 client (R2's "auto" asks for a location constraint).
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="demo",
            aws_secret_access_key="demo",
        ).create_bucket(Bucket=BUCKET)
        return ObjectStore(endpoint, BUCKET)

    # -- on the event loop -----------------------------------------------------------------

    async def postgres(self) -> Postgres:
        assert self._pg is not None
        return await asyncio.wrap_future(self._pg)

    async def object_store(self) -> ObjectStore:
        assert self._s3 is not None
        return await asyncio.wrap_future(self._s3)

    # -- the end -----------------------------------------------------------------------------

    def close(self) -> None:
        """Wait for a start under way, stop both servers, remove the Postgres folder."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._moto is not None:
            with contextlib.suppress(Exception):
                self._moto.stop()
            self._moto = None
        if self._pg_server is not None:
            with contextlib.suppress(Exception):
                self._pg_server.cleanup()  # pg_ctl stop (else terminate, kill), then rmtree
            self._pg_server = None
        _stop_postmaster(self.pg_dir)
        shutil.rmtree(self.pg_dir, ignore_errors=True)


def _stop_postmaster(pg_dir: Path) -> None:
    """A postmaster pgserver did not stop (its start failed half-way): stopped at once."""
    try:
        pid = int((pg_dir / "postmaster.pid").read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        return
    if pid <= 0:  # a single-user postgres (initdb) ends by itself
        return
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGQUIT)
