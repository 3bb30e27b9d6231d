"""Focus music: a track looped by a system player (mpv, ffplay) that follows the timer."""

from __future__ import annotations

import atexit
import contextlib
import os
import shlex
import shutil
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.domain.errors import FocusError

FILE = "{file}"
STOP_GRACE_SECONDS = 2.0
# POSIX freezes a process in place; Windows has no SIGSTOP, so pausing there ends the player
# and resuming starts the track again from its beginning.
CAN_SUSPEND = hasattr(signal, "SIGSTOP")

_KNOWN: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("mpv", ("--no-video", "--really-quiet", "--loop=inf", "--no-terminal", FILE)),
    ("ffplay", ("-nodisp", "-autoexit", "-loglevel", "quiet", "-loop", "0", FILE)),
)


@dataclass(frozen=True, slots=True)
class PlayerCommand:
    name: str  # "mpv", "ffplay", or "custom"
    argv: tuple[str, ...]  # holds FILE where the track's path goes

    def for_file(self, file: Path) -> list[str]:
        return [arg.replace(FILE, str(file)) for arg in self.argv]


def find_player(
    configured: str | None = None, which: Callable[[str], str | None] = shutil.which
) -> PlayerCommand | None:
    """The configured command line, else the first installed of mpv and ffplay; None if none.

    A configured command without `{file}` gets it appended; its program must be found.
    """
    if configured and configured.strip():
        argv = shlex.split(configured)
        if which(argv[0]) is None:
            return None
        if not any(FILE in arg for arg in argv):
            argv.append(FILE)
        return PlayerCommand("custom", tuple(argv))
    for name, args in _KNOWN:
        path = which(name)
        if path is not None:
            return PlayerCommand(name, (path, *args))
    return None


class Player:
    """One player process at a time, in its own process group so signals reach its children.

    The process is stopped by `stop()`/`close()`, and at interpreter exit (normal or by an
    uncaught exception) through `atexit`; only a hard kill of the app can leave it behind.
    """

    def __init__(self, command: PlayerCommand | None) -> None:
        self.command = command
        self._proc: subprocess.Popen[bytes] | None = None
        self._file: Path | None = None
        self._paused = False
        self._at_exit = False

    @property
    def available(self) -> bool:
        return self.command is not None

    @property
    def state(self) -> str:
        if self._paused:
            return "paused"
        return "playing" if self._proc is not None else "stopped"

    @property
    def playing(self) -> Path | None:
        """The track being played or paused."""
        return self._file

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def play(self, file: Path) -> None:
        if self.command is None:
            raise FocusError("No audio player found: install mpv or ffplay.", title="Music")
        if not file.is_file():
            raise FileNotFoundError(f"Track not found: {file}")
        self.stop()
        self._proc = subprocess.Popen(
            self.command.for_file(file),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._file = file
        if not self._at_exit:
            atexit.register(self.close)
            self._at_exit = True

    def pause(self) -> None:
        if self.state != "playing":
            return
        if CAN_SUSPEND:
            self._signal(signal.SIGSTOP)
            self._paused = True
        else:
            file = self._file
            self.stop()
            self._file, self._paused = file, True

    def resume(self) -> None:
        if self.state != "paused":
            return
        if self._proc is None:  # paused by ending the player (no SIGSTOP)
            assert self._file is not None
            file, self._paused, self._file = self._file, False, None
            self.play(file)
            return
        self._signal(signal.SIGCONT)
        self._paused = False

    def stop(self) -> None:
        proc, self._proc, self._file, self._paused = self._proc, None, None, False
        if proc is None or proc.poll() is not None:
            return
        if CAN_SUSPEND:
            self._signal(signal.SIGCONT, proc)  # a frozen process would not act on SIGTERM
            self._signal(signal.SIGTERM, proc)
        else:
            proc.terminate()
        try:
            proc.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            if CAN_SUSPEND:
                self._signal(signal.SIGKILL, proc)
            else:
                proc.kill()
            proc.wait()

    def poll(self) -> None:
        """Notices a player that ended by itself (crashed, killed, or reached the end)."""
        if self._proc is not None and self._proc.poll() is not None:
            self._proc, self._file, self._paused = None, None, False

    def close(self) -> None:
        self.stop()

    def _signal(self, sig: int, proc: subprocess.Popen[bytes] | None = None) -> None:
        proc = proc or self._proc
        if proc is None:
            return
        # The player leads its own session, so its pid is its process group's id; a group
        # already gone is left for poll() or stop() to reap.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)


class Playback:
    """Keeps the player in step with the timer: music during an active focus session only.

    A player that ends by itself is not started again for the same track until the timer
    leaves the playing state, so a track the player cannot open is not retried every tick.
    """

    def __init__(self, player: Player) -> None:
        self.player = player
        self._started: Path | None = None  # the track this object last asked to play

    def follow(self, status: str | None, mode: str | None, track: Path | None) -> None:
        player = self.player
        if not player.available:
            return
        player.poll()
        if mode == "focus" and status == "active" and track is not None:
            if player.playing == track:
                player.resume()  # a no-op while it plays
            elif self._started != track:  # stopped, or on another track
                self._started = track  # before play(): a missing file is reported once
                player.play(track)
            return
        self._started = None
        if mode == "focus" and status == "paused":
            player.pause()
        else:
            player.stop()
