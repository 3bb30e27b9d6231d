"""`focus demo` plays the whole lifecycle on a throwaway database and touches nothing else."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FOCUS = Path(sys.executable).with_name("focus")


def test_demo_runs_the_lifecycle_and_leaves_the_real_database_alone(tmp_path: Path) -> None:
    marker = tmp_path / "hook-ran"
    config = tmp_path / "config.toml"
    config.write_text(f'[hooks]\nstart = "touch {marker}"\n', encoding="utf-8")
    db = tmp_path / "real.db"
    proc = subprocess.run(
        [
            str(FOCUS),
            "--config",
            str(config),
            "--db",
            str(db),
            "demo",
            "--speed",
            "20000",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    steps = json.loads(proc.stdout)["steps"]
    names = [s["step"] for s in steps]
    assert names[:6] == ["start", "status", "pause", "still paused", "resume", "extend"]
    paused, still = steps[2]["session"], steps[3]["session"]
    assert still["remaining_seconds"] == paused["remaining_seconds"]  # a pause spends nothing
    done = next(s["session"] for s in steps if s["step"] == "complete")
    assert done["status"] == "completed" and done["extended_seconds"] == 300
    assert done["xp_awarded"] == done["focused_seconds"] // 60 >= 25
    assert steps[-1]["stats"]["total"]["abandoned"] == 1
    assert not db.exists() and not marker.exists()


def test_demo_rejects_a_bad_speed() -> None:
    proc = subprocess.run([str(FOCUS), "demo", "--speed", "0"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "speed" in proc.stderr
