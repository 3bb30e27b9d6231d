"""The composition root: the only place that builds settings, clock, store and services."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from app.clock import Clock, SystemClock
from app.config import (
    WEEKDAYS,
    Settings,
    load_settings,
    resolve_db_path,
    resolve_timezone,
)
from app.domain.errors import MissingDatabaseError, UsageError
from app.hooks import HookResult, HookRunner
from app.services import FocusService, TimerRules
from storage.local import open_repository
from storage.sql import SqlRepository
from storage.sqlite import shown

if TYPE_CHECKING:
    from storage.r2 import R2Settings
    from storage.sync import SyncTarget


@dataclass
class Container:
    settings: Settings
    config_path: Path
    db_path: Path
    zone: tzinfo
    clock: Clock
    repo: SqlRepository
    hooks: HookRunner
    service: FocusService
    notes: list[str] = field(default_factory=list)
    """One-line notes for the user (a database that does not exist yet)."""

    async def close(self) -> None:
        await self.hooks.drain()
        await self.repo.close()


def sync_target(settings: Settings) -> SyncTarget | None:
    """Where this device syncs to (`[sync] url` or FOCUS_SYNC_URL), or None: it stays local."""
    url = settings.sync.url
    if url is None or not url.get_secret_value().strip():
        return None
    from storage.pg_connect import Timeouts
    from storage.sync import SyncTarget

    s = settings.sync
    return SyncTarget(
        url.get_secret_value().strip(),
        os.environ.get("FOCUS_SYNC_PASSWORD") or None,
        Timeouts(s.connect_timeout_seconds, s.statement_timeout_seconds),
        s.batch_size,
        timedelta(seconds=round(settings.timer.max_pause_minutes * 60)),
    )


def r2_settings(settings: Settings) -> R2Settings:
    """Where tracks' audio goes (`[r2]`); ConfigError naming what is missing."""
    from app.domain.errors import ConfigError
    from storage.r2 import R2Settings

    r2, tracks = settings.r2, settings.tracks
    secret = r2.secret_access_key.get_secret_value() if r2.secret_access_key else ""
    missing = [
        name
        for name, value in (
            ("bucket", r2.bucket),
            ("access_key_id (or FOCUS_R2_ACCESS_KEY_ID)", r2.access_key_id),
            ("secret_access_key (or FOCUS_R2_SECRET_ACCESS_KEY)", secret),
            ("account_id or endpoint_url", r2.account_id or r2.endpoint_url),
        )
        if not value
    ]
    if missing:
        raise ConfigError(f"object storage is not configured: set [r2] {', '.join(missing)}")
    return R2Settings(
        bucket=r2.bucket,
        access_key_id=r2.access_key_id,
        secret_access_key=secret,
        account_id=r2.account_id,
        endpoint_url=r2.endpoint_url or None,
        part_size_mb=tracks.part_size_mb,
        concurrency=tracks.concurrency,
    )


def timer_rules(settings: Settings) -> TimerRules:
    t = settings.timer
    return TimerRules(
        focus=timedelta(seconds=round(t.focus_minutes * 60)),
        short_break=timedelta(seconds=round(t.short_break_minutes * 60)),
        long_break=timedelta(seconds=round(t.long_break_minutes * 60)),
        long_break_every=t.long_break_every,
        max_pause=timedelta(seconds=round(t.max_pause_minutes * 60)),
        week_start=WEEKDAYS.index(settings.general.week_start),
    )


def load(config: str | None = None, db: str | None = None) -> tuple[Settings, Path, Path]:
    settings, config_path = load_settings(config)
    return settings, config_path, resolve_db_path(settings, db)


def _prepare_local(
    settings: Settings, db: str | None, db_path: Path, readonly: bool, notes: list[str]
) -> None:
    """A missing file: refused (an explicit one, read-only), noted, or its folder made."""
    if db_path.exists():
        return
    for suffix in ("-wal", "-shm", "-journal"):
        if db_path.name.endswith(suffix) and len(db_path.name) > len(suffix):
            # Created there, it would be taken for the journal of the database beside it.
            base = db_path.with_name(db_path.name.removesuffix(suffix))
            raise UsageError(
                f"{shown(db_path)} is where SQLite keeps the {suffix[1:]} file of {shown(base)}: "
                "not a name for a database"
            )
    if readonly:
        if db or os.environ.get("FOCUS_DB"):
            raise MissingDatabaseError(f"database {shown(db_path)} does not exist")
        notes.append(f"no database yet at {shown(db_path)}: nothing recorded so far")
    elif not (db or os.environ.get("FOCUS_DB") or settings.general.db_path):
        db_path.parent.mkdir(parents=True, exist_ok=True)


async def _open_store(
    settings: Settings,
    db: str | None,
    db_path: Path,
    clock: Clock,
    readonly: bool,
    threaded: bool,
    notes: list[str],
) -> SqlRepository:
    """The repository `[storage] url` picks: a Postgres server, else the local SQLite file."""
    zone, configured = resolve_timezone(settings), bool(settings.general.timezone)
    url = settings.storage.url
    if url is not None and url.get_secret_value().strip():
        from storage.postgres import Timeouts, open_pg_repository

        return await open_pg_repository(
            url.get_secret_value(),
            zone,
            timeouts=Timeouts(
                settings.storage.connect_timeout_seconds,
                settings.storage.statement_timeout_seconds,
            ),
            concurrent=threaded,
            zone_configured=configured,
        )
    _prepare_local(settings, db, db_path, readonly, notes)
    return await open_repository(
        db_path, zone, clock.now(), readonly=readonly, threaded=threaded, zone_configured=configured
    )


async def bootstrap(
    config: str | None = None,
    db: str | None = None,
    clock: Clock | None = None,
    on_hook_failure: Callable[[HookResult], None] | None = None,
    settings: Settings | None = None,
    readonly: bool = False,
    threaded: bool = False,
) -> Container:
    """Build everything. `readonly` opens the database for reading only: nothing is created
    and nothing is written, except settling a session that ran out (where the file can be
    written). `threaded` runs SQLite in its own thread (the TUI must never block on it)."""
    if settings is None:
        settings, config_path, db_path = load(config, db)
    else:
        config_path, db_path = Path(config or ""), resolve_db_path(settings, db)
    clock = clock or SystemClock()
    notes: list[str] = []
    repo = await _open_store(settings, db, db_path, clock, readonly, threaded, notes)
    zone = repo.zone
    h = settings.hooks
    hooks = HookRunner(
        {
            "start": h.start,
            "pause": h.pause,
            "resume": h.resume,
            "extend": h.extend,
            "complete": h.complete,
            "abandon": h.abandon,
            "expire": h.expire,
        },
        timeout=h.timeout_seconds,
        on_failure=on_hook_failure,
    )
    service = FocusService(repo, clock, zone, timer_rules(settings), events=hooks.fire)
    return Container(settings, config_path, db_path, zone, clock, repo, hooks, service, notes)
