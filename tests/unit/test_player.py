"""The music player against a real stand-in player process: start, freeze, thaw, end, reap."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.domain.errors import FocusError
from app.player import Playback, Player, PlayerCommand, find_player

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "SIGSTOP") or not Path("/proc/self/stat").exists(),
    reason="checks process states through Linux's /proc",
)

# Logs what it is told to the file named by its first argument; plays the file in the last.
STAND_IN = textwrap.dedent(
    """
    import signal, sys, time

    log_path, mode, track = sys.argv[1], sys.argv[2], sys.argv[3]

    def log(line):
        with open(log_path, "a") as log_file:
            log_file.write(line + "\\n")

    def on_term(signum, frame):
        log("term")
        sys.exit(0)

    signal.signal(signal.SIGTERM, signal.SIG_IGN if mode == "stubborn" else on_term)
    log("start " + track)
    if mode == "broken":
        sys.exit(3)
    while True:
        time.sleep(0.05)
        log("tick")
    """
)


def wait_for(predicate: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return process_state(pid) != "Z"


def process_state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0]  # the field after "(name)"


class StandIn:
    """A stand-in player's command line and what it logged."""

    def __init__(self, tmp_path: Path, mode: str = "normal") -> None:
        script = tmp_path / "stand_in.py"
        script.write_text(STAND_IN)
        self.log = tmp_path / f"{mode}.log"
        self.configured = " ".join(
            shlex.quote(str(x)) for x in (sys.executable, script, self.log, mode)
        )
        command = find_player(self.configured)
        assert command is not None
        self.command = command

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def ticks(self) -> int:
        return self.lines().count("tick")

    def logged(self, line: str) -> bool:
        return line in self.lines()


def track(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(b"not really audio")
    return path


@pytest.fixture
def stand_in(tmp_path: Path) -> StandIn:
    return StandIn(tmp_path)


@pytest.fixture
def player(stand_in: StandIn) -> Iterator[Player]:
    player = Player(stand_in.command)
    yield player
    player.close()


def started(player: Player, stand_in: StandIn, file: Path) -> int:
    """The player's pid once the stand-in logged its start."""
    assert wait_for(lambda: stand_in.logged(f"start {file}")), stand_in.lines()
    assert player.pid is not None
    return player.pid


def ticking(stand_in: StandIn, seconds: float = 0.3) -> bool:
    before = stand_in.ticks()
    time.sleep(seconds)
    return stand_in.ticks() > before


def test_play_pause_resume_stop(player: Player, stand_in: StandIn, tmp_path: Path) -> None:
    song = track(tmp_path, "rain.ogg")
    assert player.available and player.state == "stopped" and player.playing is None

    player.play(song)
    pid = started(player, stand_in, song)
    assert player.state == "playing" and player.playing == song
    assert ticking(stand_in)

    player.pause()
    assert player.state == "paused" and player.playing == song
    assert wait_for(lambda: process_state(pid) == "T")
    assert not ticking(stand_in)

    player.resume()
    assert player.state == "playing"
    assert ticking(stand_in)

    player.stop()
    assert stand_in.logged("term")
    assert not alive(pid)
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # already reaped
    assert player.state == "stopped" and player.playing is None and player.pid is None
    player.stop()
    assert player.state == "stopped"


def test_a_paused_player_is_stopped_too(player: Player, stand_in: StandIn, tmp_path: Path) -> None:
    song = track(tmp_path, "rain.ogg")
    player.play(song)
    pid = started(player, stand_in, song)
    player.pause()
    assert wait_for(lambda: process_state(pid) == "T")
    player.stop()
    assert stand_in.logged("term") and not alive(pid)


def test_pause_and_resume_are_no_ops_out_of_place(
    player: Player, stand_in: StandIn, tmp_path: Path
) -> None:
    player.pause()
    player.resume()
    assert player.state == "stopped"
    song = track(tmp_path, "rain.ogg")
    player.play(song)
    started(player, stand_in, song)
    player.resume()
    assert player.state == "playing"
    player.pause()
    player.pause()
    assert player.state == "paused"


def test_playing_another_track_ends_the_first(
    player: Player, stand_in: StandIn, tmp_path: Path
) -> None:
    first, second = track(tmp_path, "rain.ogg"), track(tmp_path, "waves.ogg")
    player.play(first)
    first_pid = started(player, stand_in, first)
    player.play(second)
    assert stand_in.logged("term") and not alive(first_pid)
    second_pid = started(player, stand_in, second)
    assert second_pid != first_pid and alive(second_pid)
    assert player.state == "playing" and player.playing == second


def test_a_missing_track_is_refused_before_spawning(
    player: Player, stand_in: StandIn, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError):
        player.play(tmp_path / "nowhere.ogg")
    assert player.state == "stopped" and player.pid is None
    time.sleep(0.2)
    assert stand_in.lines() == []


def test_without_a_player_play_says_so(tmp_path: Path) -> None:
    player = Player(None)
    assert not player.available
    with pytest.raises(FocusError, match="mpv or ffplay"):
        player.play(track(tmp_path, "rain.ogg"))
    player.stop()
    player.poll()
    assert player.state == "stopped"


def test_poll_notices_a_player_killed_from_outside(
    player: Player, stand_in: StandIn, tmp_path: Path
) -> None:
    song = track(tmp_path, "rain.ogg")
    player.play(song)
    pid = started(player, stand_in, song)
    player.poll()
    assert player.state == "playing"
    os.kill(pid, signal.SIGKILL)

    def stopped() -> bool:
        player.poll()
        return player.state == "stopped"

    assert wait_for(stopped)
    assert player.playing is None
    player.stop()  # nothing left to stop, and no error


def test_a_player_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    stubborn = StandIn(tmp_path, "stubborn")
    player = Player(stubborn.command)
    song = track(tmp_path, "rain.ogg")
    player.play(song)
    pid = started(player, stubborn, song)
    begun = time.monotonic()
    player.stop()
    took = time.monotonic() - begun
    assert 1.9 <= took < 2.5
    assert not alive(pid) and not stubborn.logged("term")
    assert player.state == "stopped"


def test_find_player_with_a_configured_command(tmp_path: Path) -> None:
    assert find_player("no-such-player-xyz --loop {file}") is None
    command = find_player(f"{sys.executable} --quiet")
    assert command == PlayerCommand("custom", (sys.executable, "--quiet", "{file}"))
    command = find_player("mpv --input={file} --loop", which=lambda name: f"/usr/bin/{name}")
    assert command is not None and command.argv == ("mpv", "--input={file}", "--loop")
    assert command.for_file(Path("/m/a b.ogg")) == ["mpv", "--input=/m/a b.ogg", "--loop"]


def test_find_player_looks_for_mpv_then_ffplay() -> None:
    def ffplay_only(name: str) -> str | None:
        return "/opt/bin/ffplay" if name == "ffplay" else None

    command = find_player(None, which=ffplay_only)
    assert command is not None and command.name == "ffplay"
    assert command.argv == (
        "/opt/bin/ffplay",
        *("-nodisp", "-autoexit", "-loglevel", "quiet", "-loop", "0", "{file}"),
    )
    command = find_player("", which=lambda name: f"/usr/bin/{name}")
    assert command is not None and command.name == "mpv" and command.argv[0] == "/usr/bin/mpv"
    assert "--loop=inf" in command.argv and command.argv[-1] == "{file}"
    assert find_player(None, which=lambda name: None) is None


def test_playback_follows_the_timer(player: Player, stand_in: StandIn, tmp_path: Path) -> None:
    song = track(tmp_path, "rain.ogg")
    playback = Playback(player)
    playback.follow(None, None, song)
    assert player.state == "stopped"

    playback.follow("active", "focus", song)
    pid = started(player, stand_in, song)
    assert player.state == "playing"
    playback.follow("active", "focus", song)
    assert player.pid == pid

    playback.follow("paused", "focus", song)
    assert player.state == "paused"
    playback.follow("active", "focus", song)
    assert player.state == "playing" and player.pid == pid

    playback.follow("active", "short_break", song)
    assert player.state == "stopped" and not alive(pid)

    playback.follow("active", "focus", song)
    assert player.state == "playing"
    assert wait_for(lambda: stand_in.lines().count(f"start {song}") == 2)
    playback.follow("active", "focus", None)
    assert player.state == "stopped"


def test_playback_switches_tracks(player: Player, stand_in: StandIn, tmp_path: Path) -> None:
    first, second = track(tmp_path, "rain.ogg"), track(tmp_path, "waves.ogg")
    playback = Playback(player)
    playback.follow("active", "focus", first)
    first_pid = started(player, stand_in, first)
    playback.follow("paused", "focus", first)
    playback.follow("active", "focus", second)
    started(player, stand_in, second)
    assert player.state == "playing" and player.playing == second and not alive(first_pid)
    playback.follow("completed", "focus", second)
    assert player.state == "stopped"


def test_playback_does_not_restart_a_player_that_keeps_dying(tmp_path: Path) -> None:
    broken = StandIn(tmp_path, "broken")
    player = Player(broken.command)
    song = track(tmp_path, "rain.ogg")
    playback = Playback(player)
    playback.follow("active", "focus", song)
    pid = started(player, broken, song)
    assert wait_for(lambda: not alive(pid))
    for _ in range(3):
        playback.follow("active", "focus", song)
    assert player.state == "stopped"
    assert broken.lines().count(f"start {song}") == 1
    playback.follow(None, None, None)
    playback.follow("active", "focus", song)  # a new session tries again
    assert wait_for(lambda: broken.lines().count(f"start {song}") == 2)
    player.close()


def test_playback_without_a_player_does_nothing(tmp_path: Path) -> None:
    playback = Playback(Player(None))
    playback.follow("active", "focus", track(tmp_path, "rain.ogg"))
    assert playback.player.state == "stopped"


def test_the_player_ends_with_a_program_that_crashes(stand_in: StandIn, tmp_path: Path) -> None:
    song = track(tmp_path, "rain.ogg")
    child = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from app.player import Player, find_player

        player = Player(find_player({stand_in.configured!r}))
        player.play(Path({str(song)!r}))
        print(player.pid, flush=True)
        log = Path({str(stand_in.log)!r})
        while not (log.exists() and "start" in log.read_text()):
            time.sleep(0.01)
        raise RuntimeError("the app crashed")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", child],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    pid = int(result.stdout.split()[0])
    try:
        assert result.returncode == 1 and "the app crashed" in result.stderr
        assert not alive(pid)
        assert stand_in.logged("term")
    finally:
        if alive(pid):
            os.killpg(pid, signal.SIGKILL)


def test_the_player_module_needs_no_ui() -> None:
    script = "import sys, app.player; print(any(m.startswith('textual') for m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
