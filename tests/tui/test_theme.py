"""A theme chosen in the app (the palette's "Change theme") is remembered in the config."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

import pytest
from textual.command import CommandPalette

import app.tui.app as tui_app
from app.clock import FakeClock
from app.config import Settings, load_settings
from tests.tui.helpers import make_app, settle, toasts


async def _until(check: object, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError("not reached in time")


async def test_a_chosen_theme_is_saved_once_the_palette_closes(
    db_path: Path, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tui_app, "THEME_SETTLE_SECONDS", 0.05)
    cfg = tmp_path / "config.toml"
    cfg.write_text('# mine\n[timer]\nfocus_minutes = 50\n\n[tui]\ntheme = "textual-dark"\n')
    app = make_app(db_path, clock, Settings.from_mapping({"tui": {"theme": "textual-dark"}}))
    app.config_file = cfg
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.action_command_palette()
        await _until(lambda: isinstance(app.screen, CommandPalette))
        app.theme = "gruvbox"  # what the theme picker does while it previews
        await asyncio.sleep(0.3)
        assert "gruvbox" not in cfg.read_text(), "saved while the palette was still open"
        app.theme = "nord"
        await pilot.press("escape")
        await _until(lambda: not isinstance(app.screen, CommandPalette))
        await _until(lambda: "nord" in cfg.read_text())
        await settle(pilot)
        assert any("Theme nord saved in" in text for _, text in toasts(app))
    settings, _ = load_settings(cfg)
    assert settings.tui.theme == "nord"
    assert settings.timer.focus_minutes == 50
    assert cfg.read_text().startswith("# mine\n")


async def test_a_config_it_cannot_edit_is_one_warning_and_left_alone(
    db_path: Path, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tui_app, "THEME_SETTLE_SECONDS", 0.05)
    cfg = tmp_path / "config.toml"
    text = 'tui = { theme = "textual-dark" }\n'
    cfg.write_text(text)
    app = make_app(db_path, clock)
    app.config_file = cfg
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.theme = "dracula"
        await _until(lambda: any(title == "Theme not saved" for title, _ in toasts(app)))
        assert app.theme == "dracula"  # still used for this run
    assert cfg.read_text() == text
    assert tomllib.loads(text)["tui"]["theme"] == "textual-dark"
