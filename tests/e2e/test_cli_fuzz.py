"""Fuzz the whole `focus` command line with Hypothesis: every command and option of
`build_parser()` (so a new option is fuzzed the day it is added), with hostile values.

Most examples call `app.cli.main(argv)` in process, each on a fresh copy of a database that
holds a completed and an open session; a few run the installed `focus` with argv as bytes
that are not UTF-8. The contract checked every time: exit status 0, 1 or 2; a failure is one
stderr line starting `focus: `, never a traceback or an "unexpected error"; a failing command
leaves the database's bytes as they were, and a reading command creates no file.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.cli import main
from app.cli.parser import build_parser, path, text
from tests.e2e.conftest import FOCUS, isolated_env, make_focus

PARSER = build_parser()
NEVER_RUN = {"-h", "--help", "--version"}
READING = {"status", "statusline", "history", "stats", "export", "config"}
"""Commands that must create and change no file (export: none but its --output)."""


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


COMMANDS = _subparsers(PARSER)


@dataclass(frozen=True)
class Option:
    """One option or positional of a command, and what kind of value it takes."""

    name: str | None  # None for a positional
    kind: str  # flag, choice, text, path or number
    choices: tuple[str, ...] = ()


def _kind(action: argparse.Action) -> str:
    if action.nargs == 0:
        return "flag"
    if action.choices is not None:
        return "choice"
    if action.type is text:
        return "text"
    if action.type is path:
        return "path"
    assert action.type is not None, f"{action.option_strings or action.dest} has no type"
    return "number"


def options_of(command: str) -> list[Option]:
    found = []
    for action in COMMANDS[command]._actions:
        if NEVER_RUN & set(action.option_strings):
            continue
        name = max(action.option_strings, key=len) if action.option_strings else None
        found.append(Option(name, _kind(action), tuple(map(str, action.choices or ()))))
    return found


SURFACE = {name: options_of(name) for name in COMMANDS}


def test_the_surface_is_every_command_and_option() -> None:
    assert set(SURFACE) >= {"start", "pause", "history", "export", "demo", "config", "db"}
    start = {o.name: o.kind for o in SURFACE["start"]}
    assert start["--task"] == start["--tag"] == "text" and start["--minutes"] == "number"
    assert start["--db"] == start["--config"] == "path" and start["--json"] == "flag"


def test_every_option_with_a_free_value_checks_it() -> None:
    # A new text option without `type=text` would let bytes that are not UTF-8 through.
    for name, options in SURFACE.items():
        for option in options:
            assert option.kind in {"flag", "choice", "text", "path", "number"}, (name, option)


# -- values ---------------------------------------------------------------------------------

SURROGATES = st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF, categories=["Cs"])
"""What Python makes of argv bytes that are not UTF-8 (and all argv can hold: no NUL)."""
ANY_CHAR = st.one_of(st.characters(exclude_characters="\0"), SURROGATES)
WILD = st.one_of(
    st.text(ANY_CHAR, max_size=40),
    st.text(st.characters(max_codepoint=0x9F, exclude_characters="\0"), max_size=20),
    st.sampled_from(["", " ", "-", "--", "=", "\x1b[2J", "\x1b]52;c;ZXZpbA==\x07", "\u202e"]),
    st.integers(1000, 20_000).map(lambda n: "x" * n),
)
NUMBER: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(["1", "5", "25", "0.5", "1440", "1", "1000", "30"]),
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "-nan", "inf", "-inf", "1e999", "-0", "0x10", "1_0", " 5 ", "٣"]),
    st.sampled_from(["1440.0001", "0.0001", "1e-300", "100001", "1001", "0", "-1"]),
    WILD,
)
PLAIN = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=30)
TEXT = st.one_of(PLAIN, WILD, st.text(ANY_CHAR, min_size=1, max_size=80))
DB_PATH = st.one_of(
    st.sampled_from(["DB", "DB-wal", "DB-journal", ".", "", "-"]),
    PLAIN.map(lambda s: "./" + s),  # relative: an example writes only inside its own folder
    WILD.map(lambda s: "./" + s),
)
OUTPUT_PATH = st.one_of(DB_PATH, st.sampled_from(["-", "/dev/stdout", "/dev/null"]))
JUNK = st.one_of(
    st.sampled_from(["--bogus", "-x", "--", "---", "--=", "--json=1", "-", "extra"]),
    WILD.map(lambda s: "--" + s),
    WILD,
)


def mostly(sane: st.SearchStrategy[str], wild: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """`sane` seven times in ten: enough examples get past the parser to reach the store."""
    return st.integers(0, 9).flatmap(lambda n: sane if n < 7 else wild)


SANE_NUMBER = st.sampled_from(["1", "5", "25", "0.5", "1440", "1000", "30", "2.5"])
SANE_PATH = st.sampled_from(["DB", "./other.db", "./out.csv", "./out.json", "-"])


@st.composite
def value_for(draw: st.DrawFn, option: Option) -> str:
    if option.kind == "choice":
        return draw(mostly(st.sampled_from(option.choices), WILD))
    if option.kind == "number":
        return draw(mostly(SANE_NUMBER, NUMBER))
    if option.kind == "path":
        return draw(mostly(SANE_PATH, OUTPUT_PATH if option.name == "--output" else DB_PATH))
    return draw(mostly(PLAIN, TEXT))


@st.composite
def argvs(draw: st.DrawFn) -> tuple[str, list[str]]:
    """(command, argv without the first --db): options in any order, `=` or a space, junk."""
    command = draw(st.sampled_from(sorted(SURFACE)))
    before: list[list[str]] = []
    after: list[list[str]] = []
    for option in SURFACE[command]:
        if option.name is None:  # a positional: usually given
            if draw(st.integers(0, 9)):
                after.append([draw(value_for(option))])
            continue
        if draw(st.integers(0, 11 if option.name == "--config" else 3)) != 0:
            continue
        if option.kind == "flag":
            group = [option.name]
        else:
            value = draw(value_for(option))
            joined = draw(st.booleans()) or value.startswith("-")
            group = [f"{option.name}={value}"] if joined else [option.name, value]
        is_global = option.name in {"--db", "--config", "--json"}
        (before if is_global and draw(st.booleans()) else after).append(group)
        if option.name == "--tag" and draw(st.booleans()):
            after.append(["--tag", draw(TEXT)])
    if command == "demo":  # a valid speed would run the demo for minutes: only bad ones
        after.append(["--speed=" + draw(st.sampled_from(["0", "-1", "nan", "inf", "1e999"]))])
    if draw(st.integers(0, 7)) == 0:
        after.append([draw(JUNK)])
    groups = draw(st.permutations(after))
    return command, [*itertools.chain(*before), command, *itertools.chain(*groups)]


# -- the database every example starts from -------------------------------------------------


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding focus.db with a completed session and an open one (24 h long)."""
    focus = make_focus(tmp_path_factory.mktemp("seed"))
    for args in (
        ["start", "--minutes", "5", "--task", "done", "--tag", "t"],
        ["complete"],
        ["start", "--minutes", "1440", "--task", "open", "--tag", "u"],
    ):
        proc = focus(*args)
        assert proc.returncode == 0, proc.stderr
    return focus.db.parent


_counter = itertools.count()


@contextlib.contextmanager
def example_dir(seeded: Path, root: Path) -> Iterator[Path]:
    """A fresh folder with a copy of the seeded database, as the current directory."""
    folder = root / f"ex{next(_counter)}"
    folder.mkdir()
    for item in seeded.iterdir():
        if item.name.startswith("focus.db"):
            shutil.copy2(item, folder / item.name)
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(cwd)
        shutil.rmtree(folder, ignore_errors=True)


def db_state(folder: Path) -> tuple[bytes, bytes]:
    """The database's bytes and its write-ahead log's (none and empty are the same)."""
    wal = folder / "focus.db-wal"
    return (folder / "focus.db").read_bytes(), wal.read_bytes() if wal.exists() else b""


def files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def resolve(argv: list[str], folder: Path) -> list[str]:
    """`DB` in a value stands for the example's database."""
    db = str(folder / "focus.db")
    return [a.replace("DB", db) if "DB" in a and not a.startswith("./") else a for a in argv]


State = tuple[tuple[bytes, bytes], set[str]]


TERMINAL_CONTROLS = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def check(
    command: str, argv: list[str], code: int, out: str, err: str, folder: Path, before: State
) -> None:
    where = (argv, code, err)
    assert code in (0, 1, 2), where
    assert "Traceback" not in err and "unexpected error" not in err, where
    assert not TERMINAL_CONTROLS.search(err), where
    if command != "export":  # an export is data, written as stored (CSV) or as JSON
        assert not TERMINAL_CONTROLS.search(out), (out, where)
    if code != 0:
        assert err.startswith("focus: ") and err.count("\n") == 1 and err.endswith("\n"), where
        assert db_state(folder) == before[0], ("a failing command changed the database", where)
    writes_a_file = command == "export" and any(a.startswith("--output") for a in argv)
    if command in READING and not writes_a_file:
        new = files(folder) - before[1]
        assert not new, ("a reading command created files", sorted(new), where)


def test_reading_leaves_no_wal_or_shm_file(seeded: Path, tmp_path: Path) -> None:
    with example_dir(seeded, tmp_path) as folder:
        before = files(folder)
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["--db", str(folder / "focus.db"), "status"]) == 0
        assert files(folder) == before


# -- in process -----------------------------------------------------------------------------


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=argvs())
def test_fuzz_in_process(case: tuple[str, list[str]], seeded: Path, tmp_path: Path) -> None:
    command, argv = case
    with example_dir(seeded, tmp_path) as folder:
        argv = ["--db", str(folder / "focus.db"), *resolve(argv, folder)]
        before = (db_state(folder), files(folder))
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exit_:  # --help prints, then exits 0
                code = int(exit_.code or 0)
        check(command, argv, code, out.getvalue(), err.getvalue(), folder, before)


# -- real processes, argv as bytes -------------------------------------------------------------


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=argvs(), raw=st.binary(min_size=1, max_size=6), pick=st.integers(0, 1000))
def test_fuzz_subprocess(
    case: tuple[str, list[str]], raw: bytes, pick: int, seeded: Path, tmp_path: Path
) -> None:
    command, argv = case
    with example_dir(seeded, tmp_path) as folder:
        args = [os.fsencode(a)[:20_000] for a in resolve(argv, folder)]  # argv has a size limit
        # One argument (a value, an option name or the command) gets bytes that are not UTF-8.
        args[pick % len(args)] += raw.replace(b"\0", b"") + b"\xff"
        before = (db_state(folder), files(folder))
        proc = subprocess.run(
            [os.fsencode(FOCUS), b"--db", os.fsencode(folder / "focus.db"), *args],
            capture_output=True,
            env=isolated_env(tmp_path),
            cwd=folder,
            timeout=60,
            check=False,
        )
        # What the CLI prints is always UTF-8 text.
        out, err = proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")
        check(command, [os.fsdecode(a) for a in args], proc.returncode, out, err, folder, before)
