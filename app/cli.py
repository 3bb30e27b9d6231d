"""The `focus` command: headless flows for scripts; no command opens the Textual app.

Exit codes: 0 ok, 1 the operation was refused, 2 bad usage, bad config or unusable database.
Expected failures print one line to stderr, never a traceback (set FOCUS_DEBUG=1 for one).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from app import __version__
from app.domain.errors import FocusError, RefusedError, StorageError, UsageError
from app.domain.models import Mode, Status
from app.domain.timer import MAX_MINUTES

MODES = [m.value for m in Mode]


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def _bounded(
    convert: Callable[[str], float], noun: str, low: float, high: float, name: str
) -> Callable[[str], float]:
    """An argparse type: `convert`, then refuse anything outside [low, high] (NaN too)."""

    def parse(text: str) -> float:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {noun}: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{name} must be between {low:g} and {high:g} (got {text})"
            )
        return value

    return parse


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of minutes: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"minutes must be greater than 0 (got {text})")
    if value > MAX_MINUTES:  # refused here, before any database is opened
        raise argparse.ArgumentTypeError(f"minutes must be at most {MAX_MINUTES} (got {text})")
    return value


_limit = _bounded(int, "a whole number", 1, 1000, "the number")
_speed = _bounded(float, "a number", 1, 100_000, "speed")


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    # Also accepted after the command; SUPPRESS keeps a later absence from erasing them.
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="config file (default: $FOCUS_CONFIG, then the user config dir)",
    )
    common.add_argument(
        "--db",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="SQLite database (default: $FOCUS_DB, then the user data dir)",
    )
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output"
    )

    parser = _Parser(
        prog="focus",
        description="A terminal focus timer. With no command, opens the Textual app.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"focus {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text, parents=[common])

    p = add("start", "start a session")
    p.add_argument("--mode", choices=MODES, default="focus", help="session mode (default focus)")
    p.add_argument("--minutes", type=_minutes, help="length in minutes (default from config)")
    p.add_argument("--task", metavar="TEXT", help="what this session is for")
    p.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="T",
        help="a tag; repeat or separate with commas",
    )
    p.add_argument("--force", action="store_true", help="abandon an open session first")
    add("pause", "pause the open session (the remaining time is frozen)")
    add("resume", "resume the paused session")
    p = add("extend", "add minutes to the open session")
    p.add_argument("minutes", type=_minutes, metavar="MINUTES")
    add("complete", "complete the open session now (rewards the time actually focused)")
    p = add("abandon", "abandon the open session (no reward)")
    p.add_argument("--reason", metavar="TEXT", help="why, for your stats")
    add("status", "show the open session and its remaining time")
    p = add("history", "list sessions, newest first, a page at a time")
    p.add_argument("--limit", type=_limit, default=25, metavar="N", help="page size (1-1000)")
    p.add_argument("--before", metavar="CURSOR", help="next_cursor of the previous page")
    p.add_argument("--status", choices=[s.value for s in Status], action="append", default=[])
    p.add_argument("--mode", choices=MODES, action="append", default=[])
    p = add("stats", "totals, today, this week, level, streaks, top tasks and tags")
    p.add_argument("--days", type=_limit, default=30, metavar="N", help="days in by_day")
    p = add("export", "export all sessions as CSV or JSON")
    p.add_argument("--format", choices=["csv", "json"], default="csv")
    p.add_argument("--output", metavar="FILE", help="write here instead of stdout")
    p.add_argument("--force", action="store_true", help="replace FILE if it exists")
    add("statusline", "one short line for tmux or a status bar (empty when idle)")
    p = add("demo", "the whole session lifecycle, accelerated, on a throwaway database")
    p.add_argument(
        "--speed",
        type=_speed,
        default=120.0,
        metavar="X",
        help="how many times faster than real time (default 120: about 40 s)",
    )
    p = add("config", "configuration")
    p.add_argument("action", choices=["check", "path"])
    p = add("db", "database")
    p.add_argument("action", choices=["upgrade", "path"])
    return parser


def _emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    elif text:
        sys.stdout.write(text + "\n")


def _hook_warning(result: Any) -> None:
    sys.stderr.write(f"focus: warning: {result.describe()}\n")


async def _run(args: argparse.Namespace) -> int:
    from app import cli_output as out
    from app import presenters as p
    from app.bootstrap import bootstrap, load

    config, db = getattr(args, "config", None), getattr(args, "db", None)
    if args.command == "config":
        if args.action == "path":
            from app.config import config_path

            path, _ = config_path(config)
            _emit(args, {"config_path": str(path), "exists": path.exists()}, str(path))
            return 0
        _, path, db_path = load(config, db)
        where = str(path) if path.exists() else f"defaults (no file at {path})"
        _emit(
            args,
            {"ok": True, "config_path": str(path), "db_path": str(db_path)},
            f"config OK: {where}",
        )
        return 0
    if args.command == "db":
        _, _, db_path = load(config, db)
        if args.action == "path":
            _emit(args, {"db_path": str(db_path), "exists": db_path.exists()}, str(db_path))
            return 0
        from app.clock import SystemClock
        from storage.local import upgrade_file

        before, after, saved = await upgrade_file(db_path, SystemClock().now())
        text = f"{db_path}: schema {after}"
        if before != after:
            text += f" (was {before or 'empty'})" + (f"; backup at {saved}" if saved else "")
        _emit(
            args,
            {
                "db_path": str(db_path),
                "from": before,
                "to": after,
                "backup": str(saved) if saved else None,
            },
            text,
        )
        return 0

    app = await bootstrap(config, db, on_hook_failure=_hook_warning)
    svc, zone = app.service, app.zone
    try:
        now = app.clock.now

        def show(session: Any, text: str) -> None:
            _emit(args, {"session": p.session_dict(session, now())}, text)

        cmd = args.command
        if cmd == "start":
            s = await svc.start(Mode(args.mode), args.minutes, args.task, args.tag, args.force)
            show(s, out.started(s, zone))
        elif cmd == "pause":
            s = await svc.pause()
            show(s, f"Paused {out.label(s)} with {out.left(s, now())} left.")
        elif cmd == "resume":
            s = await svc.resume()
            show(s, f"Resumed {out.session_line(s, now(), zone)}")
        elif cmd == "abandon":
            s = await svc.abandon(args.reason)
            show(
                s,
                f"Abandoned {out.label(s)} after {out.minutes(s.focused.total_seconds())} "
                "(no reward).",
            )
        elif cmd == "extend":
            s = await svc.extend(args.minutes)
            show(s, f"Extended by {args.minutes:g} min: {out.session_line(s, now(), zone)}")
        elif cmd == "complete":
            c = await svc.complete()
            _emit(args, p.completion_dict(c, now()), out.completed(c))
        elif cmd in ("status", "statusline"):
            cur = await svc.status()
            data = {"session": p.session_dict(cur, now()) if cur else None}
            if cmd == "statusline":
                _emit(args, data, out.statusline(cur, now()))
            else:
                text = out.session_line(cur, now(), zone) if cur else "No open session."
                _emit(args, data, text)
        elif cmd == "history":
            page = await svc.history(
                args.limit,
                args.before,
                tuple(Status(x) for x in args.status),
                tuple(Mode(x) for x in args.mode),
            )
            text = out.history_table(page.sessions, zone)
            if page.next_cursor:
                text += f"\nMore: focus history --before {page.next_cursor}"
            _emit(
                args,
                {
                    "sessions": [p.session_dict(s, now()) for s in page.sessions],
                    "next_cursor": page.next_cursor,
                },
                text,
            )
        elif cmd == "stats":
            st = await svc.stats(args.days)
            _emit(args, p.stats_dict(st), out.stats_text(st))
        elif cmd == "export":
            await _export(args, app)
        return 0
    finally:
        await app.close()


async def _export(args: argparse.Namespace, app: Any) -> None:
    from app import presenters as p

    target = _export_target(args.output, args.force) if args.output else None
    buffer = io.StringIO()
    count = 0
    now = app.clock.now()
    if args.format == "csv":
        writer = csv.DictWriter(buffer, fieldnames=p.EXPORT_FIELDS, extrasaction="ignore")
        writer.writeheader()
    else:
        buffer.write("[")
    async for session in app.service.iter_all():
        row = p.session_dict(session, now)
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
    _emit(args, summary, f"Exported {count} sessions to {target}")


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


def _open_tui(args: argparse.Namespace) -> int:
    from app.tui.app import run_tui

    return run_tui(getattr(args, "config", None), getattr(args, "db", None))


def _quick_status(args: argparse.Namespace) -> bool:
    """Answer status/statusline without SQLAlchemy when nothing needs writing."""
    from datetime import timedelta

    from app import cli_output as out
    from app import presenters as p
    from app.clock import SystemClock
    from app.config import load_settings, resolve_db_path, resolve_timezone
    from app.domain import timer
    from storage.peek import PeekUnavailable, peek_open_session

    settings, _ = load_settings(getattr(args, "config", None))
    path = resolve_db_path(settings, getattr(args, "db", None))
    try:
        session = peek_open_session(path)
    except PeekUnavailable:
        return False
    now = SystemClock().now()
    max_pause = timedelta(minutes=settings.timer.max_pause_minutes)
    if session is not None and timer.settle(session, now, max_pause) is not session:
        return False  # it ran out or expired: the full path settles and stores that
    data = {"session": p.session_dict(session, now) if session else None}
    if args.command == "statusline":
        _emit(args, data, out.statusline(session, now))
    else:
        zone = resolve_timezone(settings)
        _emit(args, data, out.session_line(session, now, zone) if session else "No open session.")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            return _open_tui(args)
        if args.command in ("status", "statusline") and _quick_status(args):
            return 0
        if args.command == "demo":
            from app.config import load_settings
            from app.demo import main_demo

            settings, _ = load_settings(getattr(args, "config", None))
            return main_demo(args.speed, getattr(args, "json", False), settings)
        import asyncio

        return asyncio.run(_run(args))
    except FocusError as exc:
        sys.stderr.write(f"focus: {exc.message}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("focus: interrupted\n")
        return 130
    except Exception as exc:
        if os.environ.get("FOCUS_DEBUG"):
            raise
        return _unexpected(exc)


def _unexpected(exc: Exception) -> int:
    from sqlalchemy.exc import OperationalError

    if isinstance(exc, OperationalError) and "locked" in str(exc.orig):
        sys.stderr.write("focus: the database is busy (locked by another process); try again\n")
        return 1
    if isinstance(exc, OperationalError | OSError):
        err = StorageError(f"database error: {getattr(exc, 'orig', None) or exc}")
        sys.stderr.write(f"focus: {err.message}\n")
        return err.exit_code
    sys.stderr.write(
        f"focus: unexpected error: {type(exc).__name__}: {exc} "
        "(set FOCUS_DEBUG=1 for a traceback)\n"
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
