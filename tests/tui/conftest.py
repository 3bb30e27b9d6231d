"""Fixtures for the Textual app tests: an app factory over the per-test SQLite file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.clock import FakeClock
from app.config import Settings
from app.tui.app import FocusApp
from tests.tui.helpers import make_app

AppFactory = Callable[..., FocusApp]


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    """Where the app looks for notify-send and players; empty unless a test adds fakes."""
    path = tmp_path / "bin"
    path.mkdir()
    return path


@pytest.fixture
def app_factory(db_path: Path, clock: FakeClock, bin_dir: Path) -> AppFactory:
    """`app_factory(timer={"focus_minutes": 1})` builds an app with those settings."""

    def build(settings: Settings | None = None, **sections: Any) -> FocusApp:
        return make_app(db_path, clock, settings or Settings.from_mapping(sections), bin_dir)

    return build
