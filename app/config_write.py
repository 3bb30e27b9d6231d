"""Remember one setting in the user's config file, leaving the rest of it as written.

The app writes here only what the user chose in it (the theme from the palette). The file
is edited as text, not re-serialised: comments, order and every other key stay as they
are. The key's line in its table is replaced, or added at the table's head, or the table
is appended; the result is parsed back and checked before it replaces the file
(atomically, with the file's own permissions), so a file Focus cannot edit safely is left
untouched and the failure is one line.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
import tomllib
from pathlib import Path

from app.domain.errors import ConfigError

_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_-]+)\s*\]\s*(#.*)?$")
_ANY_HEADER = re.compile(r"^\s*\[")


def _edited(text: str, table: str, key: str, value: str) -> str:
    line = f"{key} = {json.dumps(value, ensure_ascii=False)}"
    lines = text.splitlines(keepends=True)
    start = next(
        (i for i, raw in enumerate(lines) if (m := _HEADER.match(raw)) and m.group(1) == table),
        None,
    )
    if start is None:
        tail = "" if not text or text.endswith("\n") else "\n"
        gap = "\n" if text.strip() else ""
        return f"{text}{tail}{gap}[{table}]\n{line}\n"
    end = next((i for i in range(start + 1, len(lines)) if _ANY_HEADER.match(lines[i])), len(lines))
    own = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for i in range(start + 1, end):
        if own.match(lines[i]):
            newline = "\r\n" if lines[i].endswith("\r\n") else "\n"
            lines[i] = line + newline
            return "".join(lines)
    if not lines[start].endswith("\n"):
        lines[start] += "\n"
    lines.insert(start + 1, line + "\n")
    return "".join(lines)


def remember(path: Path, table: str, key: str, value: str) -> None:
    """Set `[table] key = "value"` in the TOML file at `path` (made if missing)."""

    def fail(problem: str) -> ConfigError:
        return ConfigError(f"could not save {table}.{key} in {path}: {problem}")

    path = Path(os.path.realpath(path))  # a linked dotfile keeps its link; its target changes

    try:
        raw = path.read_bytes()
        mode: int | None = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        raw, mode = b"", None
    except OSError as exc:
        raise fail(exc.strerror or str(exc)) from None
    try:
        text = raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
        before = tomllib.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise fail(f"it is not valid TOML now ({exc})") from None
    section = before.get(table, {})
    if not isinstance(section, dict):
        raise fail(f"{table} is not a table there")
    if section.get(key) == value:
        return
    after_text = _edited(text, table, key, value)
    try:
        after = tomllib.loads(after_text)
    except tomllib.TOMLDecodeError as exc:  # e.g. a dotted `tui.theme` key elsewhere
        raise fail(f"the edit would not be valid TOML ({exc})") from None
    expected = dict(before)
    expected[table] = {**section, key: value}
    if after != expected:
        raise fail("the file sets it in a way Focus does not edit; change it by hand")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".config-", dir=path.parent)
    except OSError as exc:
        raise fail(exc.strerror or str(exc)) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(after_text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600 if mode is None else mode)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise fail(exc.strerror or str(exc)) from None
