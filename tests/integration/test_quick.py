"""The quick status path prints exactly what the full CLI prints, and steps aside whenever it
is not sure (a session to settle, an override, a schema to upgrade, a damaged row)."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app import cli_output, quick
from app.clock import FakeClock
from app.domain.errors import FocusError
from app.domain.models import Mode
from app.services import FocusService
from storage.sql import SqlRepository

TITLES = [None, "Write", 'say "hi"', "\x1b[2J\x1b]52;c;ZXZpbA==\x07x", "bidi \u202eevil", "é🙂"]


def _quick(argv: list[str], clock: FakeClock, capsys: pytest.CaptureFixture[str]) -> str | None:
    code = quick.answer(argv, clock.now())
    out = capsys.readouterr().out
    return None if code is None else out


@pytest.mark.parametrize("seed", range(4))
async def test_the_quick_path_prints_what_the_full_path_prints(
    seed: int,
    service: FocusService,
    repo: SqlRepository,
    clock: FakeClock,
    db_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rng = random.Random(seed)
    zone = ZoneInfo("UTC")
    db = ["--db", str(db_path)]
    answered = 0
    for _ in range(25):
        step = rng.choice(["start", "pause", "resume", "extend", "wait", "back"])
        try:
            if step == "start":
                await service.start(
                    rng.choice(list(Mode)),
                    rng.choice([1, 5, 25]),
                    task=rng.choice(TITLES),
                    tags=rng.sample(["deep", "mail", "x"], rng.randrange(3)),
                    force=True,
                )
            elif step == "pause":
                await service.pause()
            elif step == "resume":
                await service.resume()
            elif step == "extend":
                await service.extend(2)
        except FocusError:
            pass
        # As `focus start` does: a session its start settled is told, so the quick path
        # may answer (it steps aside while an ending is untold: test_cli_daily.py).
        await service.last_ending_unseen()
        if step == "back":
            clock.advance(minutes=-rng.randrange(1, 90))  # the wall clock stepped back
        else:
            clock.advance(seconds=rng.randrange(0, 400))
        current = await repo.open_session()
        line = _quick(["statusline", *db], clock, capsys)
        status = _quick([*db, "status"], clock, capsys)
        if current is None:
            assert (line, status) == ("", "No open session.\n")
            continue
        from app.domain import timer

        if timer.settle(current, clock.now(), service.rules.max_pause) is not current:
            assert line is None and status is None  # the full path settles it
            continue
        answered += 1
        assert line == cli_output.statusline(current, clock.now()) + "\n"
        assert status == cli_output.session_line(current, clock.now(), zone) + "\n"
    assert answered > 3


async def test_the_quick_path_steps_aside_when_unsure(
    service: FocusService,
    clock: FakeClock,
    db_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    await service.start(minutes=25)
    db = ["--db", str(db_path)]
    assert _quick(["statusline", *db], clock, capsys) is not None
    for argv in (
        ["statusline", "--json", *db],
        ["status", "--db"],
        ["history", *db],
        ["--db=", "status"],
    ):
        assert _quick(argv, clock, capsys) is None, argv
    monkeypatch.setenv("FOCUS_TIMER__MAX_PAUSE_MINUTES", "5")
    assert _quick(["statusline", *db], clock, capsys) is None
    monkeypatch.delenv("FOCUS_TIMER__MAX_PAUSE_MINUTES")
    bad = tmp_path / "bad.toml"
    bad.write_text("[timer]\nmax_pause_minutes = nan\n")
    assert _quick(["statusline", *db, "--config", str(bad)], clock, capsys) is None
    assert _quick(["statusline", "--db", str(tmp_path / "missing.db")], clock, capsys) is None
    clock.advance(minutes=26)
    assert _quick(["statusline", *db], clock, capsys) is None  # ran out: settle first
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE alembic_version SET version_num = '0000'")
    conn.commit()
    conn.close()
    clock.advance(minutes=-26)
    assert _quick(["statusline", *db], clock, capsys) is None  # a schema to upgrade


async def test_a_relative_db_path_in_the_config_is_relative_to_the_config(
    service: FocusService,
    clock: FakeClock,
    db_path: Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await service.start(minutes=25, task="here")
    config = db_path.parent / "focus.toml"
    config.write_text(f'[general]\ndb_path = "{db_path.name}"\n')
    monkeypatch.chdir(tmp_path.parent)
    out = _quick(["statusline", "--config", str(config)], clock, capsys)
    assert out == "▶ focus 25:00 here\n"


@pytest.mark.parametrize(
    "name", ["plain.db", "what?.db", "q?mode=ro#frag.db", "100% é.db", "a b.db"]
)
def test_the_quick_uri_quotes_as_pathlib_does(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    assert quick.file_uri(str(path)) == path.resolve().as_uri()
