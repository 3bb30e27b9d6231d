"""The notifier runs real commands: stand-in tools in a folder that replaces $PATH."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from app.config import NotifySettings
from app.notify import Notifier
from app.tui.alerts import Shortfalls, deliver


def tool(bin_dir: Path, name: str, body: str) -> None:
    script = bin_dir / name
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)


def recorder(bin_dir: Path, name: str, log: Path) -> None:
    tool(bin_dir, name, f'printf "%s\\n" "$@" >> "{log}"')


def wait_for(path: Path, timeout: float = 5.0) -> str:
    """A played sound runs in the background: wait until the stand-in has written its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.02)
    raise AssertionError(f"{path} was never written")


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    return folder


def test_notify_send_gets_the_title_and_body(bin_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "notify.log"
    recorder(bin_dir, "notify-send", log)
    outcome = Notifier(search_path=str(bin_dir), platform="linux").send("Focus complete", "+50 xp")
    assert outcome.ok and outcome.detail == "notify-send"
    assert log.read_text().splitlines() == ["--app-name=Focus", "Focus complete", "+50 xp"]


def test_no_notifier_is_reported_as_missing(bin_dir: Path) -> None:
    outcome = Notifier(search_path=str(bin_dir), platform="linux").send("t", "b")
    assert not outcome.ok and outcome.missing
    assert "notify-send" in outcome.detail


def test_a_failing_notifier_says_why(bin_dir: Path) -> None:
    tool(bin_dir, "notify-send", 'echo "no session bus" >&2; exit 3')
    outcome = Notifier(search_path=str(bin_dir), platform="linux").send("t", "b")
    assert not outcome.ok and not outcome.missing
    assert outcome.detail == "notify-send failed: no session bus"


def test_a_hanging_notifier_times_out(bin_dir: Path) -> None:
    tool(bin_dir, "notify-send", "sleep 5")
    notifier = Notifier(search_path=str(bin_dir), platform="linux", timeout=0.2)
    outcome = notifier.send("t", "b")
    assert not outcome.ok and "did not answer within 0.2 s" in outcome.detail


def test_osascript_quotes_the_text_on_macos(bin_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "osa.log"
    recorder(bin_dir, "osascript", log)
    outcome = Notifier(search_path=str(bin_dir), platform="darwin").send('Say "hi"', "a\\b")
    assert outcome.ok
    assert log.read_text().splitlines()[1] == (
        'display notification "a\\\\b" with title "Say \\"hi\\""'
    )


def test_the_first_player_found_plays_the_file(bin_dir: Path, tmp_path: Path) -> None:
    sound = tmp_path / "bell.wav"
    sound.write_bytes(b"RIFF")
    log = tmp_path / "play.log"
    recorder(bin_dir, "aplay", log)
    outcome = Notifier(search_path=str(bin_dir), platform="linux").play(str(sound))
    assert outcome.ok and outcome.detail == "aplay"
    assert wait_for(log).splitlines() == ["-q", str(sound)]


def test_a_configured_player_takes_the_file_where_it_says(bin_dir: Path, tmp_path: Path) -> None:
    sound = tmp_path / "gong.ogg"
    sound.write_bytes(b"OggS")
    log = tmp_path / "play.log"
    recorder(bin_dir, "myplayer", log)
    notifier = Notifier(search_path=str(bin_dir), platform="linux")
    assert notifier.play(str(sound), "myplayer --file={file} --quiet").ok
    assert wait_for(log).splitlines() == [f"--file={sound}", "--quiet"]


def test_sound_failures_name_what_is_missing(bin_dir: Path, tmp_path: Path) -> None:
    notifier = Notifier(search_path=str(bin_dir), platform="linux")
    gone = notifier.play(str(tmp_path / "nope.wav"))
    assert not gone.ok and not gone.missing and "does not exist" in gone.detail
    sound = tmp_path / "bell.wav"
    sound.write_bytes(b"RIFF")
    no_player = notifier.play(str(sound))
    assert no_player.missing and "no sound player found" in no_player.detail
    no_named = notifier.play(str(sound), "vlc --intf dummy")
    assert no_named.missing and no_named.detail == "sound player 'vlc' was not found"


def test_deliver_returns_only_the_failures(bin_dir: Path, tmp_path: Path) -> None:
    recorder(bin_dir, "notify-send", tmp_path / "notify.log")
    settings = NotifySettings(desktop=True, sound_file=str(tmp_path / "missing.wav"))
    notifier = Notifier(search_path=str(bin_dir), platform="linux")
    failures = deliver(settings, notifier, "t", "b")
    assert [kind for kind, _ in failures] == ["sound"]
    assert deliver(NotifySettings(desktop=False), notifier, "t", "b") == []


def test_each_shortfall_is_said_once(bin_dir: Path) -> None:
    notifier = Notifier(search_path=str(bin_dir), platform="linux")
    shortfalls = Shortfalls()
    missing = notifier.send("t", "b")
    first = shortfalls.first_report("desktop", missing)
    assert first is not None
    assert first[0] == "No desktop notifications"
    assert first[1].startswith("No desktop notifier found")
    assert shortfalls.first_report("desktop", missing) is None
    tool(bin_dir, "notify-send", 'echo "bus gone" >&2; exit 1')
    broken = notifier.send("t", "b")
    assert shortfalls.first_report("desktop", broken) is not None
    assert shortfalls.first_report("desktop", broken) is None
    assert shortfalls.first_report("sound", missing) is not None
