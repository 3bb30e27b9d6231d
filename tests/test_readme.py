"""The README's two commands are the ones CI and a new user actually run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sh\n(python3 -m venv[^\n]+)\n```", readme)


def test_readme_opens_with_run_and_test_commands() -> None:
    run, test = _commands()[:2]
    assert run.endswith(".venv/bin/focus")
    assert "[test]" in test and test.endswith("pytest -n 3")


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test = _commands()[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test in ci.splitlines()


def test_example_config_is_valid_and_matches_the_defaults() -> None:
    from app.config import Settings, load_settings

    loaded, _ = load_settings(ROOT / "config.example.toml")
    assert loaded == Settings()
