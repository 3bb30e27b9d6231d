"""The `focus` entry point, and `focus statusline` / `focus status` in a few milliseconds.

tmux runs them every second. Only the standard library and tiny modules of ours are
imported: one row is read, read only, and formatted as `app.cli_output` would (a test holds
the two to the same output).
Anything this path is not sure of (a `--json`, an environment override, a session that ran
out and must be settled, a schema to upgrade, any error) returns None, and the full path
answers instead. It reads the three settings it needs from the config file; the rest of the
file is checked by every other command and by `focus config check`.
"""

from __future__ import annotations

import math
import os
import sqlite3
import sys
from datetime import UTC, datetime, timedelta, tzinfo

from app.paths import user_dir

TYPE_CHECKING = False  # not `from typing import ...`: importing typing costs this path dearly

if TYPE_CHECKING:  # typing's names and pathlib cost this path a third of its time
    from collections.abc import Sequence
    from typing import Any

_COLUMNS = (
    "mode, status, task_title, tags, started_at, updated_at, ends_at, paused_at, "
    "paused_remaining_us"
)


def _options(argv: Sequence[str]) -> tuple[str, dict[str, str]] | None:
    """(command, {"db": ..., "config": ...}) for a plain status/statusline call, else None."""
    command, found = None, {}
    items = iter(argv)
    for item in items:
        if item in ("status", "statusline") and command is None:
            command = item
        elif item in ("--db", "--config"):
            value = next(items, None)
            if not value:
                return None
            found[item[2:]] = value
        elif item.startswith(("--db=", "--config=")) and len(item.split("=", 1)[1]) > 0:
            key, value = item[2:].split("=", 1)
            found[key] = value
        else:
            return None
    return (command, found) if command else None


def _settings(explicit: str | None) -> tuple[str | None, dict[str, Any]] | None:
    """(config file or None, {"db_path", "timezone", "max_pause_minutes"}), else None."""
    if any(k.startswith(("FOCUS_GENERAL", "FOCUS_TIMER", "FOCUS_STORAGE")) for k in os.environ):
        return None
    named = explicit or os.environ.get("FOCUS_CONFIG")
    default = os.path.join(user_dir("config"), "config.toml")
    path = os.path.expanduser(named) if named else default
    values: dict[str, Any] = {"db_path": "", "timezone": "", "max_pause_minutes": 120}
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        return (None, values) if not named else None
    except OSError:
        return None
    import tomllib

    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError, ValueError):
        return None
    general, timer = data.get("general", {}), data.get("timer", {})
    if not isinstance(general, dict) or not isinstance(timer, dict):
        return None
    if data.get("storage", {}) != {} and not _local_storage(data["storage"]):
        return None  # a server to ask: the full CLI
    for key, source, kind in (
        ("db_path", general, str),
        ("timezone", general, str),
        ("max_pause_minutes", timer, (int, float)),
    ):
        if key in source:
            value = source[key]
            if isinstance(value, bool) or not isinstance(value, kind):
                return None
            values[key] = value
    pause = values["max_pause_minutes"]
    if not 0 < pause <= 10080:
        return None
    return path, values


def _local_storage(table: object) -> bool:
    """A `[storage]` table that still means the local file (no url, or an empty one)."""
    return isinstance(table, dict) and not str(table.get("url") or "").strip()


def _db_path(db: str | None, config: str | None, configured: str) -> str:
    chosen = db or os.environ.get("FOCUS_DB")
    if chosen:
        return os.path.expanduser(chosen)
    if configured:
        path = os.path.expanduser(configured)
        if os.path.isabs(path) or config is None:
            return path
        return os.path.join(os.path.dirname(os.path.abspath(config)), path)
    return os.path.join(user_dir("data"), "focus.db")


_URI_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/")


def file_uri(path: str) -> str:
    """A `file:` URI for `path`, quoted as `pathlib.Path.as_uri` quotes (without pathlib)."""
    raw = os.fsencode(os.path.realpath(path))
    return "file://" + "".join(chr(b) if b in _URI_SAFE else f"%{b:02X}" for b in raw)


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text).replace(tzinfo=UTC) if text else None


def _clock(delta: timedelta) -> str:
    total = max(0, math.ceil(delta.total_seconds() - 1e-9))  # whole seconds, rounded up
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


def _zone(configured: str) -> tzinfo | None:
    import zoneinfo

    name = configured or os.environ.get("TZ", "").lstrip(":")
    try:
        if name:
            return zoneinfo.ZoneInfo(name)
        link = os.path.realpath("/etc/localtime")
        return zoneinfo.ZoneInfo(link.split("zoneinfo/", 1)[1]) if "zoneinfo/" in link else None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None if configured else zoneinfo.ZoneInfo("UTC")


def main() -> int:
    """The `focus` console script: the quick answer if there is one, else the full CLI."""
    code = answer(sys.argv[1:])
    if code is not None:
        return code
    from app.cli import main as full

    return full()


def answer(argv: Sequence[str], now: datetime | None = None) -> int | None:
    """Print the status line or status and return 0, or None when the full path must."""
    parsed = _options(argv)
    if parsed is None:
        return None
    command, options = parsed
    found = _settings(options.get("config"))
    if found is None:
        return None
    config, values = found
    path = _db_path(options.get("db"), config, values["db_path"])
    row = _open_row(path, check_ending=command == "status")
    if row is False or row is True:
        return None
    if now is None:
        from app.clock import SystemClock

        now = SystemClock().now()
    text = "" if row is None else _line(command, row, now, values)
    if text is None:
        return None
    if command == "status" and row is None:
        text = "No open session."
    if text:
        sys.stdout.write(text + "\n")
    return 0


def _open_row(path: str, check_ending: bool = False) -> tuple[Any, ...] | bool | None:
    """The open session's row, None when there is none, False when this path cannot tell.
    `check_ending`: also False when a session ended that the user was not told of yet (the
    full path tells it, once: `FocusService.last_ending_unseen`)."""
    from storage.migrations import HEAD

    if not os.path.isfile(path):
        return False
    try:
        # Read-write, though it only reads: closing it then removes the -wal and -shm files.
        conn = sqlite3.connect(f"{file_uri(path)}?mode=rw", uri=True)
    except sqlite3.Error:
        return False
    try:
        if conn.execute("SELECT version_num FROM alembic_version").fetchone() != (HEAD,):
            return False
        ids = dict(
            conn.execute("SELECT key, value FROM meta WHERE key IN ('user_id', 'client_id')")
        )
        if len(ids) != 2:
            return False
        user, client = (ids[k].replace("-", "") for k in ("user_id", "client_id"))
        row: tuple[Any, ...] | None = conn.execute(
            f"SELECT {_COLUMNS} FROM sessions WHERE user_id = ? AND client_id = ? "
            "AND status IN ('active', 'paused')",
            (user, client),
        ).fetchone()
        if check_ending and _ending_unseen(conn, user, client):
            return False
        return row
    except (sqlite3.Error, ValueError):
        return False
    finally:
        conn.close()


def _ending_unseen(conn: sqlite3.Connection, user: str, client: str) -> bool:
    """Whether this device's last finished session ended after the last one it told of."""
    found = conn.execute(
        "SELECT coalesce(completed_at, abandoned_at, expired_at) FROM sessions "
        "WHERE user_id = ? AND client_id = ? AND NOT status IN ('active', 'paused') "
        "ORDER BY started_at DESC, id DESC LIMIT 1",
        (user, client),
    ).fetchone()
    if found is None:
        return False
    seen = conn.execute("SELECT value FROM meta WHERE key = 'seen_ending_at'").fetchone()
    if seen is None:
        return True
    ended = _instant(found[0])
    return ended is None or ended > datetime.fromisoformat(seen[0])


def _line(command: str, row: tuple[Any, ...], now: datetime, values: dict[str, Any]) -> str | None:
    import json

    from app.textsafe import visible

    mode, status, task, tags_json, started, updated, ends, paused, frozen_us = row
    try:
        last = _instant(updated) or _instant(started)
        ends_at, paused_at = _instant(ends), _instant(paused)
        tags = json.loads(tags_json or "[]")
        if not isinstance(tags, list) or last is None:
            return None
    except (ValueError, TypeError):
        return None
    label = mode.replace("_", " ")
    if status == "active":
        if ends_at is None or now >= ends_at:
            return None  # it ran out: the full path settles it
        left = ends_at - max(now, last)
    else:
        if paused_at is None or frozen_us is None:
            return None
        if now > paused_at + timedelta(minutes=values["max_pause_minutes"]):
            return None  # paused past the limit: the full path expires it
        left = timedelta(microseconds=frozen_us)
    clock = _clock(left)
    if command == "statusline":
        icon = "▶" if status == "active" else "⏸"
        return f"{icon} {label} {clock}" + (f" {visible(task)}" if task else "")
    zone = _zone(values["timezone"])
    if zone is None:
        return None
    text = label + (f' "{visible(task)}"' if task else "")
    if tags:
        text += " " + " ".join(f"#{visible(str(t))}" for t in tags)
    if status == "active":
        assert ends_at is not None
        return f"{text} · active · {clock} left (ends {ends_at.astimezone(zone):%H:%M})"
    assert paused_at is not None
    return f"{text} · paused at {paused_at.astimezone(zone):%H:%M} · {clock} left"
