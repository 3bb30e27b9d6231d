"""`focus demo --autoplay` in a real terminal (a pty): a SIGTERM ends the app as `q` would,
and its Postgres and folders are gone."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import pty
import select
import signal
import struct
import sys
import tempfile
import termios
import time
from pathlib import Path

from tests.e2e.test_demo import _alive, _processes_under

FOCUS = Path(sys.executable).with_name("focus")


def _drain(fd: int, seconds: float) -> bytes:
    out = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    return out


def test_the_app_demo_ends_on_sigterm_and_removes_what_it_started() -> None:
    pattern = os.path.join(tempfile.gettempdir(), "focus-demo-pg-*")
    before = set(glob.glob(pattern))
    pid, fd = pty.fork()
    if pid == 0:  # the child: the demo in an 80x24 terminal
        os.environ["TERM"] = "xterm-256color"
        os.execv(str(FOCUS), [str(FOCUS), "demo", "--autoplay", "--speed", "60"])
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        postmaster, screen = 0, b""
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and not postmaster:
            screen += _drain(fd, 0.2)
            for folder in set(glob.glob(pattern)) - before:
                with contextlib.suppress(OSError, ValueError, IndexError):
                    postmaster = max(
                        0, int((Path(folder) / "postmaster.pid").read_text().split()[0])
                    )
        assert postmaster and _alive(postmaster), "the demo's postgres never started"
        (pg_dir,) = set(glob.glob(pattern)) - before
        screen += _drain(fd, 1.0)
        assert b"Autoplay" in screen  # the guide captions the script
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 40
        status = None
        while time.monotonic() < deadline:
            _drain(fd, 0.2)
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
        else:
            raise AssertionError("the demo did not end on SIGTERM")
    finally:
        with contextlib.suppress(ChildProcessError, ProcessLookupError):
            if os.waitpid(pid, os.WNOHANG)[0] == 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert not _alive(postmaster)
    assert _processes_under(pg_dir) == []
    assert not Path(pg_dir).exists()
