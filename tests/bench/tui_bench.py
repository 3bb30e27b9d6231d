"""TUI benchmark: process start to the timer's first frame, and the CPU the app costs idle
(no session) and with a running timer.

    python -m tests.bench.tui_bench [--rounds 5] [--seconds 60] [--json]

Runs the installed `focus` in a real pseudo-terminal of 80x24 (Linux: CPU time is read from
/proc), on a fresh database in a temp folder.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import Any

FOCUS = Path(sys.executable).with_name("focus")
ESCAPES = re.compile(
    rb"\x1b(\[[0-9;?<>=$ ]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-B]|[=>NOM78])"
)
FIRST_FRAME = b"What are you working on?"
"""The task field's placeholder: drawn in the timer screen's first frame."""


class Terminal:
    """`focus` running in a pseudo-terminal; keeps its output drained so it never blocks."""

    def __init__(self, db: Path, columns: int = 80, lines: int = 24) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns)}
        env.pop("TEXTUAL", None)
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(FOCUS), "--db", str(db)],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.master = master
        self.screen = b""

    def read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            chunk = os.read(self.master, 65536)
        except OSError:
            return False
        self.screen = (self.screen + ESCAPES.sub(b"", chunk))[-20000:]
        return True

    def wait_for(self, text: bytes, timeout: float = 30.0) -> float:
        """Seconds since the process started when `text` first appeared on screen."""
        deadline = time.perf_counter() + timeout
        while text not in self.screen:
            if time.perf_counter() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"{text!r} never appeared; last output: {self.screen[-400:]!r}")
            self.read(0.05)
        return time.perf_counter() - self.started

    def drain(self, seconds: float) -> None:
        deadline = time.perf_counter() + seconds
        while (left := deadline - time.perf_counter()) > 0:
            self.read(min(left, 0.5))

    def press(self, keys: str) -> None:
        self.screen = b""
        os.write(self.master, keys.encode())

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.press("q")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        os.close(self.master)


def first_frame(folder: Path, rounds: int) -> list[float]:
    samples = []
    for n in range(rounds):
        term = Terminal(folder / f"frame-{n}.db")
        try:
            samples.append(term.wait_for(FIRST_FRAME))
            term.wait_for(b"Ready")
        finally:
            term.close()
    return samples


def _window(term: Terminal, seconds: float) -> dict[str, float]:
    before, t0 = term.cpu_seconds(), time.perf_counter()
    term.drain(seconds)
    used, wall = term.cpu_seconds() - before, time.perf_counter() - t0
    return {
        "cpu_s": round(used, 3),
        "wall_s": round(wall, 1),
        "percent": round(100 * used / wall, 2),
    }


def app_cpu(folder: Path, seconds: float) -> tuple[dict[str, float], dict[str, float]]:
    """CPU over `seconds` idle (no session; after five quick `m` presses, which once set
    the mode flipping for ever), then over `seconds` of a running timer."""
    term = Terminal(folder / "cpu.db")
    try:
        term.wait_for(b"Ready")
        term.drain(1.0)
        term.press("mmmmm")
        term.drain(1.0)
        idle = _window(term, seconds)
        term.press(" ")
        term.wait_for(b"Running")
        term.drain(2.0)
        running = _window(term, seconds)
    finally:
        term.close()
    return idle, running


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.tui_bench")
    parser.add_argument("--rounds", type=int, default=5, help="first-frame launches")
    parser.add_argument("--seconds", type=float, default=60.0, help="running-timer window")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not FOCUS.exists():
        sys.stderr.write(f"tui_bench: {FOCUS} not found; install the project first\n")
        return 2
    with tempfile.TemporaryDirectory(prefix="focus-tui-bench-") as tmp:
        folder = Path(tmp)
        frames = first_frame(folder, args.rounds)
        idle, cpu = app_cpu(folder, args.seconds)
    ordered = sorted(frames)
    result: dict[str, Any] = {
        "first_frame_s": {
            "p50": round(ordered[len(ordered) // 2], 3),
            "max": round(ordered[-1], 3),
            "n": len(ordered),
        },
        "idle_cpu": idle,
        "running_timer_cpu": cpu,
        "targets": {"first_frame_s": 1.0, "idle_cpu_percent": 0.5, "cpu_percent": 2.0},
    }
    if args.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        f = result["first_frame_s"]
        sys.stdout.write(
            f"first frame of the timer screen: p50 {f['p50']:.3f} s, max {f['max']:.3f} s "
            f"over {f['n']} launches (target < 1.0 s)\n"
            f"idle (no session): {idle['cpu_s']:.2f} s CPU over {idle['wall_s']:.0f} s "
            f"= {idle['percent']:.2f}% of one core (target < 0.5%)\n"
            f"running timer: {cpu['cpu_s']:.2f} s CPU over {cpu['wall_s']:.0f} s "
            f"= {cpu['percent']:.2f}% of one core (target < 2%)\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
