"""`focus export`: every session as CSV or JSON, to stdout or atomically to a file."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli.context import emit, with_store
from app.domain.errors import RefusedError, UsageError
from app.presenters import EXPORT_FIELDS, session_dict

if TYPE_CHECKING:
    from app.bootstrap import Container


@with_store(readonly=True)
async def export(args: argparse.Namespace, app: Container) -> None:
    target = _export_target(args.output, args.force) if args.output else None
    buffer = io.StringIO()
    count = 0
    now = app.clock.now()
    if args.format == "csv":
        writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS, extrasaction="ignore")
        writer.writeheader()
    else:
        buffer.write("[")
    async for session in app.service.iter_all():
        row = session_dict(session, now)
        if args.format == "csv":
            writer.writerow(row | {"tags": " ".join(row["tags"])})
        else:
            buffer.write(("," if count else "") + "\n  " + json.dumps(row))
        count += 1
    if args.format == "json":
        buffer.write("\n]\n" if count else "]\n")
    if target is None:
        sys.stdout.write(buffer.getvalue())
        return
    import asyncio

    await asyncio.to_thread(_write_atomically, target, buffer.getvalue())
    summary = {"output": str(target), "sessions": count, "format": args.format}
    emit(args, summary, f"Exported {count} sessions to {target}")


def _export_target(output: str, force: bool) -> Path:
    target = Path(output).expanduser()
    if target.is_dir():
        raise UsageError(f"{target} is a directory")
    if target.exists() and not force:
        raise RefusedError(f"{target} exists; use --force to replace it")
    if not target.parent.is_dir():
        raise UsageError(f"cannot write {target}: folder {target.parent} does not exist")
    return target


def _write_atomically(target: Path, text: str) -> None:
    """Write beside the target, then rename: an interrupted export never leaves half a file."""
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
