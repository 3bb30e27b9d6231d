"""The `focus` command line: every command, its options and the argument types that check them."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, NoReturn

from app import __version__
from app.domain.errors import UsageError
from app.domain.models import Mode, Status
from app.domain.timer import MAX_MINUTES

MODES = [m.value for m in Mode]


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        # argparse says "argument --tag: ..."; the option name alone reads better.
        raise UsageError(f"{message.removeprefix('argument ')} (see {self.prog} --help)")

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> Any:
        # Python 3.11's argparse drops a value of "--" (`--reason=--`) and hands the option
        # an empty list: the text "--" is what the user gave.
        if action.nargs is None and arg_strings == ["--"] and action.option_strings:
            return self._get_value(action, "--")
        return super()._get_values(action, arg_strings)


def text(value: str) -> str:
    """An argparse type for every free-text option: refuse bytes that were not UTF-8.

    Python decodes such argv bytes to lone surrogates, which no database or terminal can
    take; storing one would break every later command that reads it back.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError("not valid UTF-8 text") from None
    return value


def path(value: str) -> str:
    """An argparse type for file paths: any bytes the OS allows, but not nothing."""
    if not value:
        raise argparse.ArgumentTypeError("empty path")
    return value


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
        type=path,
        default=argparse.SUPPRESS,
        help="config file (default: $FOCUS_CONFIG, then the user config dir)",
    )
    common.add_argument(
        "--db",
        metavar="PATH",
        type=path,
        default=argparse.SUPPRESS,
        help="SQLite database (default: $FOCUS_DB, then the user data dir); unused when "
        "[storage] url points at Postgres",
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
    p.add_argument("--task", type=text, metavar="TEXT", help="what this session is for")
    p.add_argument(
        "--tag",
        type=text,
        action="append",
        default=[],
        metavar="T",
        help="a tag; repeat or separate with commas",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="abandon an open session first (says which: task, mode, start time)",
    )
    p = add(
        "edit",
        "set or change the open session's task title and tags (running or paused)",
    )
    p.add_argument("--task", type=text, metavar="TEXT", help="the new task title ('' clears it)")
    tags = p.add_mutually_exclusive_group()
    tags.add_argument(
        "--tag",
        type=text,
        action="append",
        default=None,
        metavar="T",
        help="a tag; repeat or separate with commas; replaces the session's tags",
    )
    tags.add_argument("--no-tags", action="store_true", help="remove every tag")
    add("pause", "pause the open session (the remaining time is frozen)")
    add("resume", "resume the paused session")
    p = add("extend", "add minutes to the open session")
    p.add_argument("minutes", type=_minutes, metavar="MINUTES")
    add("complete", "complete the open session now (rewards the time actually focused)")
    p = add("abandon", "abandon the open session (no reward)")
    p.add_argument("--reason", type=text, metavar="TEXT", help="why, for your stats")
    add(
        "status",
        "show the open session and its remaining time; once, what became of the last session "
        "if it ended while you were away (completed with its reward, or expired)",
    )
    p = add(
        "history",
        "list sessions, newest first, a page at a time (abandon reasons after the task); "
        "the More: line is the command for the next page of the same query",
    )
    p.add_argument("--limit", type=_limit, default=25, metavar="N", help="page size (1-1000)")
    p.add_argument("--before", type=text, metavar="CURSOR", help="next_cursor of the previous page")
    p.add_argument(
        "--status",
        choices=[s.value for s in Status],
        action="append",
        default=[],
        help="only sessions with this status (repeat for several)",
    )
    p.add_argument(
        "--mode",
        choices=MODES,
        action="append",
        default=[],
        help="only sessions of this mode (repeat for several)",
    )
    p = add(
        "stats",
        "totals, today, this week, level, streaks, top tasks and tags, abandon reasons; focus "
        "sessions completed in under a minute count apart (too short to count)",
    )
    p.add_argument("--days", type=_limit, default=30, metavar="N", help="days in by_day")
    p = add("export", "export all sessions as CSV or JSON")
    p.add_argument(
        "--format",
        choices=["csv", "json"],
        help="csv (the default) or json (the default with --json, which also prints the "
        "summary line as JSON)",
    )
    p.add_argument(
        "--output",
        type=path,
        metavar="FILE",
        help="write here instead of stdout ('-' is stdout); a file is replaced atomically, a "
        "symlink's target is replaced, a device or FIFO is written through",
    )
    p.add_argument(
        "--force", action="store_true", help="replace FILE if it exists (never a database)"
    )
    add("statusline", "one short line for tmux or a status bar (empty when idle)")
    p = add(
        "demo",
        "the whole product, accelerated, on throwaway stores: the app with a guide, or the "
        "script played by itself (with the demo extra: sync through a local Postgres and a "
        "track uploaded to a local S3 server)",
    )
    p.add_argument(
        "--speed",
        type=_speed,
        default=None,
        metavar="X",
        help="how many times faster than real time (default 60 in the app: a 25-minute "
        "session in 25 s; 120 with --headless: about 25 s in all)",
    )
    shown = p.add_mutually_exclusive_group()
    shown.add_argument(
        "--autoplay",
        action="store_true",
        help="the app plays the script by itself, each step captioned, then hands you the keys",
    )
    shown.add_argument(
        "--headless",
        action="store_true",
        help="no app: one line per step (JSON lines with --json, which implies it)",
    )
    p = add("sync", "push this device's changes to the shared Postgres, then pull the others'")
    p.add_argument(
        "--rejected",
        action="store_true",
        help="list the changes the server refused, with their reasons (no network)",
    )
    _music(add)
    p = add("config", "configuration")
    p.add_argument("action", choices=["check", "path"])
    p = add("db", "database")
    p.add_argument("action", choices=["upgrade", "path"])
    _server(add, common)
    return parser


def _music(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    from app.domain.tracks import LIBRARY_TYPES

    p = add("libraries", "focus music libraries: list, create, rename, delete, favorite")
    p.add_argument("action", choices=["list", "create", "rename", "delete", "favorite"])
    p.add_argument("name", nargs="?", type=text, metavar="NAME", help="the library")
    p.add_argument("new", nargs="?", type=text, metavar="NEW", help="rename: the new name")
    p.add_argument("--description", type=text, default="", help="create: what it holds")
    p.add_argument("--type", choices=list(LIBRARY_TYPES), default="music", help="create: its kind")
    p = add("tracks", "focus music: add a file, list, remove, upload, fetch")
    p.add_argument("action", choices=["add", "list", "remove", "upload", "fetch"])
    p.add_argument(
        "target", nargs="?", type=path, metavar="FILE|ID", help="add: the file; remove/fetch: id"
    )
    p.add_argument("--title", type=text, help="add: the title (default: its tags, else the name)")
    p.add_argument(
        "--library",
        type=text,
        metavar="NAME",
        help="add/list: the library (default: all; add: Focus music)",
    )
    p.add_argument("--all", action="store_true", help="fetch: every track not on this device")


def _server(add: Callable[[str, str], argparse.ArgumentParser], common: Any) -> None:
    p = add(
        "server",
        "set up a shared Postgres: schema and row-level security, users, stale sessions",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    actions.required = True
    admin = _Parser(add_help=False)
    admin.add_argument(
        "--admin-url",
        type=text,
        metavar="URL",
        default=None,
        help="postgresql:// URL of the admin role that owns the schema (default: "
        "$FOCUS_ADMIN_URL); never a user's URL",
    )

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        return actions.add_parser(
            name, help=help_text, description=help_text, parents=[common, admin]
        )

    action("init", "create or upgrade the schema; enable and force row-level security")
    q = action("add-user", "create a user's LOGIN role; prints its user_id and sync_url")
    q.add_argument("name", type=text, metavar="NAME")
    q = action("remove-user", "drop a user's role (their rows stay unless --purge)")
    q.add_argument("name", type=text, metavar="NAME")
    q.add_argument("--purge", action="store_true", help="also delete every row of theirs")
    q = action("expire-stale", "expire every user's sessions left open past their grace window")
    q.add_argument(
        "--max-pause-minutes",
        type=_minutes,
        default=None,
        metavar="N",
        help="a paused session expires after this long (default: [timer] max_pause_minutes)",
    )
