"""End-of-session desktop notifications and sounds, through whatever the system provides.

Pure subprocess code with no UI import, so the CLI and the TUI can both use it. Nothing here
raises: every call returns an `Outcome` that says what happened, and `missing` tells the
caller that the system has no such tool at all (the TUI says so once instead of failing
silently).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

PLAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("paplay", ()),
    ("pw-play", ()),
    ("aplay", ("-q",)),
    ("afplay", ()),
    ("ffplay", ("-nodisp", "-autoexit", "-loglevel", "quiet")),
    ("mpv", ("--no-video", "--really-quiet")),
)
"""Players tried in order when no `sound_player` is configured, with their quiet flags."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a notification or sound attempt did."""

    ok: bool
    detail: str
    """The tool used, or why nothing was delivered."""
    missing: bool = False
    """True when the system has no tool for this at all."""


def _applescript_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _powershell_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class Notifier:
    """Finds and runs the platform's notifier and a sound player.

    `search_path` replaces `$PATH` for the lookup (tests point it at a folder of fakes).
    """

    def __init__(
        self,
        search_path: str | None = None,
        platform: str = sys.platform,
        timeout: float = 5.0,
    ) -> None:
        self.search_path = search_path
        self.platform = platform
        self.timeout = timeout

    def which(self, name: str) -> str | None:
        return shutil.which(name, path=self.search_path)

    # -- desktop notifications -------------------------------------------------------

    def desktop_command(self, title: str, body: str) -> list[str] | None:
        """The command that shows `title` / `body` on this system, or None if there is none."""
        if self.platform == "darwin":
            if tool := self.which("terminal-notifier"):
                return [tool, "-title", title, "-message", body, "-group", "focus"]
            if tool := self.which("osascript"):
                script = (
                    f"display notification {_applescript_text(body)} "
                    f"with title {_applescript_text(title)}"
                )
                return [tool, "-e", script]
            return None
        if self.platform == "win32":
            tool = self.which("powershell") or self.which("pwsh")
            if tool is None:
                return None
            script = (
                "Add-Type -AssemblyName System.Windows.Forms;"
                "$n = New-Object System.Windows.Forms.NotifyIcon;"
                "$n.Icon = [System.Drawing.SystemIcons]::Information;"
                "$n.Visible = $true;"
                f"$n.ShowBalloonTip(5000, {_powershell_text(title)}, {_powershell_text(body)}, "
                "[System.Windows.Forms.ToolTipIcon]::Info);"
                "Start-Sleep -Seconds 6; $n.Dispose()"
            )
            return [tool, "-NoProfile", "-NonInteractive", "-Command", script]
        if tool := self.which("notify-send"):
            return [tool, "--app-name=Focus", title, body]
        if tool := self.which("kdialog"):
            return [tool, "--title", title, "--passivepopup", body, "5"]
        if tool := self.which("termux-notification"):
            return [tool, "--title", title, "--content", body]
        return None

    def send(self, title: str, body: str) -> Outcome:
        """Show a desktop notification and wait (briefly) for the notifier to accept it."""
        command = self.desktop_command(title, body)
        if command is None:
            hint = {
                "darwin": "osascript",
                "win32": "powershell",
            }.get(self.platform, "notify-send (libnotify)")
            return Outcome(False, f"no desktop notifier found; install {hint}", missing=True)
        name = Path(command[0]).name
        if self.platform == "win32":
            # The balloon lives as long as its process; do not wait for it.
            return self._spawn(command, name)
        try:
            done = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return Outcome(False, f"{name} did not answer within {self.timeout:g} s")
        except OSError as exc:
            return Outcome(False, f"{name} could not run: {exc.strerror or exc}")
        if done.returncode != 0:
            lines = done.stderr.decode(errors="replace").strip().splitlines()
            why = lines[-1] if lines else f"exit status {done.returncode}"
            return Outcome(False, f"{name} failed: {why}")
        return Outcome(True, name)

    # -- sound -------------------------------------------------------------------------

    def player_command(self, sound_file: str, player: str = "") -> list[str] | None:
        """The command that plays `sound_file`, or None when no player exists.

        A configured `player` is split like a shell line; `{file}` in it is replaced by the
        file, otherwise the file is appended.
        """
        if player.strip():
            parts = shlex.split(player)
            tool = self.which(parts[0])
            if tool is None:
                return None
            args = [a.replace("{file}", sound_file) for a in parts[1:]]
            if not any("{file}" in a for a in parts[1:]):
                args.append(sound_file)
            return [tool, *args]
        for name, flags in PLAYERS:
            if tool := self.which(name):
                return [tool, *flags, sound_file]
        if self.platform == "win32" and (tool := self.which("powershell")):
            script = f"(New-Object Media.SoundPlayer {_powershell_text(sound_file)}).PlaySync()"
            return [tool, "-NoProfile", "-NonInteractive", "-Command", script]
        return None

    def play(self, sound_file: str, player: str = "") -> Outcome:
        """Start playing `sound_file` in the background; never waits for the sound to end."""
        path = Path(sound_file).expanduser()
        if not path.is_file():
            return Outcome(False, f"sound file {path} does not exist")
        command = self.player_command(str(path), player)
        if command is None:
            if player.strip():
                wanted = shlex.split(player)[0]
                return Outcome(False, f"sound player {wanted!r} was not found", missing=True)
            names = ", ".join(name for name, _ in PLAYERS)
            return Outcome(False, f"no sound player found (tried {names})", missing=True)
        return self._spawn(command, Path(command[0]).name)

    def _spawn(self, command: list[str], name: str) -> Outcome:
        try:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            return Outcome(False, f"{name} could not run: {exc.strerror or exc}")
        # Reap it when it ends, so a long-running app leaves no zombie behind.
        threading.Thread(target=proc.wait, name=f"reap-{name}", daemon=True).start()
        return Outcome(True, name)
