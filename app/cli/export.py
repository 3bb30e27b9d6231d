"""`focus export`: every session as CSV or JSON, to stdout, a device, or atomically to a file.

The output is checked before anything is written: it is never the database (or its WAL,
shared-memory or journal file) nor any other SQLite file, even with `--force`. A regular file
is replaced atomically (a temporary file beside it, then a rename), a symlink's target is
replaced and the link kept, and a character device or FIFO is written through, never replaced.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli.context import OutputError, emit, with_store, write_stdout
from app.domain.errors import RefusedError, UsageError
from app.presenters import EXPORT_FIELDS, csv_row, session_dict

if TYPE_CHECKING:
    from app.bootstrap import Container

STDOUT_NAMES = ("-", "/dev/stdout")
SQLITE_MAGIC = b"SQLite format 3\0"
DATABASE_SUFFIXES = ("", "-wal", "-shm", "-journal")


@dataclass(frozen=True)
class Target:
    """Where the export goes: `shown` is the path as given, `path` the file written."""

    shown: Path
    path: Path
    through: bool
    """Write into the existing file (a device or FIFO) instead of replacing it."""


def export_format(args: argparse.Namespace) -> str:
    """`--format`, else JSON with `--json`, else CSV."""
    if args.format is not None:
        return str(args.format)
    return "json" if getattr(args, "json", False) else "csv"


@with_store(readonly=True)
async def export(args: argparse.Namespace, app: Container) -> None:
    fmt = export_format(args)
    output = args.output
    target = (
        None
        if output is None or output in STDOUT_NAMES
        else check_target(output, args.force, app.db_path)
    )
    buffer = io.StringIO()
    count = 0
    now = app.clock.now()
    if fmt == "csv":
        writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS)
        writer.writeheader()
    else:
        buffer.write("[")
    async for session in app.service.iter_all():
        if fmt == "csv":
            writer.writerow(csv_row(session, now))
        else:
            buffer.write(("," if count else "") + "\n  " + json.dumps(session_dict(session, now)))
        count += 1
    if fmt == "json":
        buffer.write("\n]\n" if count else "]\n")
    # Text stored by an older release may hold lone surrogates: shown, never a crash.
    data = buffer.getvalue().encode("utf-8", "backslashreplace")
    if target is None:
        write_stdout(data.decode("utf-8"))
        return
    write_target(target, data)  # a command runs alone: nothing waits on this write
    summary = {"output": str(target.shown), "sessions": count, "format": fmt}
    emit(args, summary, f"Exported {count} sessions to {target.shown}")


def check_target(output: str, force: bool, db_path: Path) -> Target:
    """Where `--output` writes, or the one-line reason it must not."""
    path = Path(output).expanduser()
    try:
        st: os.stat_result | None = path.stat()  # follows a symlink to what it points at
    except FileNotFoundError:
        st = None  # nothing there, or a dangling symlink: its target is created
    except OSError as exc:
        raise UsageError(f"--output: cannot use {path}: {exc.strerror or exc}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise UsageError(f"--output: {path} is a directory")
    if _is_database(path, db_path):
        raise UsageError(f"--output: {path} is the database (or one of its files); choose another")
    if st is not None and (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
        return Target(path, path, through=True)
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise UsageError(f"--output: {path} is not a regular file, a terminal or a FIFO")
    real = Path(os.path.realpath(path))
    if st is not None:
        if _looks_like_sqlite(path):
            raise UsageError(f"--output: {path} is a SQLite database; it is never replaced")
        if not force:
            raise RefusedError(f"{path} exists; use --force to replace it")
    elif not real.parent.is_dir():
        raise UsageError(f"cannot write {path}: folder {real.parent} does not exist")
    return Target(path, real, through=False)


def _is_database(path: Path, db_path: Path) -> bool:
    """`path` names the database or its -wal/-shm/-journal file, through any link."""
    real = os.path.realpath(path)
    database = os.path.realpath(db_path)
    for suffix in DATABASE_SUFFIXES:
        name = database + suffix
        if real == name:
            return True
        try:
            if os.path.samefile(path, name):  # a hard link to it
                return True
        except OSError:
            pass  # one of them does not exist
    return False


def _looks_like_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return file.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError as exc:  # cannot tell: better not replace it
        raise UsageError(f"--output: cannot read {path}: {exc.strerror or exc}") from None


def write_target(target: Target, data: bytes) -> None:
    try:
        if target.through:
            _write_through(target.path, data)
        else:
            _write_atomically(target.path, data)
    except OSError as exc:
        raise OutputError(f"cannot write {target.shown}: {exc.strerror or exc}") from None


def _write_through(path: Path, data: bytes) -> None:
    """Into a device or FIFO as it is: opened for writing, never created or truncated."""
    fd = os.open(path, os.O_WRONLY | getattr(os, "O_NOCTTY", 0))
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def _write_atomically(path: Path, data: bytes) -> None:
    """Write beside the target, then rename: an interrupted export never leaves half a file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{os.urandom(4).hex()}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
