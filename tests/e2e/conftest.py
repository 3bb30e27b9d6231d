"""Run the installed `focus` console script in a subprocess, against a throwaway database and
an environment that holds none of the developer's own settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

FOCUS = Path(sys.executable).with_name("focus")


@dataclass
class Focus:
    """`focus(...)` runs the command with `--db` set; `focus.json(...)` also parses stdout."""

    db: Path
    home: Path
    env: dict[str, str] = field(default_factory=dict)

    def __call__(
        self,
        *args: str,
        db: bool = True,
        env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(FOCUS), *(["--db", str(self.db)] if db else []), *args]
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=self.env | (env or {}),
            cwd=self.home,
            timeout=timeout,
            check=False,
        )

    def popen(
        self, *args: str, db: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(FOCUS), *(["--db", str(self.db)] if db else []), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env | (env or {}),
            cwd=self.home,
        )

    def many(
        self, commands: list[list[str]], db: bool = True, env: dict[str, str] | None = None
    ) -> list[subprocess.CompletedProcess[str]]:
        """Run independent commands at the same time (read-only checks: it saves seconds)."""
        procs = [(args, self.popen(*args, db=db, env=env)) for args in commands]
        done = []
        for args, proc in procs:
            out, err = proc.communicate(timeout=120)
            done.append(subprocess.CompletedProcess(args, proc.returncode, out, err))
        return done

    def json(self, *args: str, **kwargs: Any) -> Any:
        proc = self(*args, "--json", **kwargs)
        assert proc.returncode == 0, (args, proc.returncode, proc.stderr)
        assert proc.stderr == "", proc.stderr
        return json.loads(proc.stdout)


def isolated_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOCUS_")}
    env |= {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "TZ": "UTC",
        "NO_COLOR": "1",
    }
    env.pop("FOCUS_DEBUG", None)
    return env


def make_focus(root: Path) -> Focus:
    home = root / "home"
    home.mkdir(parents=True)
    return Focus(db=root / "focus.db", home=home, env=isolated_env(home))


@pytest.fixture
def focus(tmp_path: Path) -> Focus:
    return make_focus(tmp_path)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int) -> str:
    """The CLI contract for an expected failure: the exit code, one stderr line, no trace."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == ""
    assert proc.stderr.endswith("\n") and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("focus: ")
    assert "Traceback" not in proc.stderr
    return proc.stderr.strip()
