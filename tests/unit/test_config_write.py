"""Remembering a setting edits the config file as text: everything else stays as written."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest

from app.config import load_settings
from app.config_write import remember
from app.domain.errors import ConfigError

WRITTEN = """\
# my focus setup
[timer]
focus_minutes = 50   # long ones

[tui]
# dark, always
theme = "textual-dark"
# more later

[keys]
start_pause = "space,p"
"""


def test_the_key_line_is_replaced_and_nothing_else_changes(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(WRITTEN)
    cfg.chmod(0o640)
    remember(cfg, "tui", "theme", "nord")
    assert cfg.read_text() == WRITTEN.replace('theme = "textual-dark"', 'theme = "nord"')
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o640
    settings, _ = load_settings(cfg)
    assert settings.tui.theme == "nord"
    assert settings.timer.focus_minutes == 50


def test_a_missing_key_goes_under_its_table_and_a_missing_table_at_the_end(
    tmp_path: Path,
) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[tui]\n# mine\n\n[keys]\nquit = "q"\n')
    remember(cfg, "tui", "theme", "gruvbox")
    assert tomllib.loads(cfg.read_text()) == {
        "tui": {"theme": "gruvbox"},
        "keys": {"quit": "q"},
    }
    other = tmp_path / "other.toml"
    other.write_text("# only a comment, no newline at the end")
    remember(other, "tui", "theme", "dracula")
    assert other.read_text().startswith("# only a comment, no newline at the end\n")
    assert tomllib.loads(other.read_text()) == {"tui": {"theme": "dracula"}}


def test_a_missing_file_is_made_private_with_its_folder(tmp_path: Path) -> None:
    cfg = tmp_path / "new" / "config.toml"
    remember(cfg, "tui", "theme", "nord")
    assert tomllib.loads(cfg.read_text()) == {"tui": {"theme": "nord"}}
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600


def test_a_linked_config_keeps_its_link(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "focus.toml"
    real.parent.mkdir()
    real.write_text(WRITTEN)
    link = tmp_path / "config.toml"
    link.symlink_to(real)
    remember(link, "tui", "theme", "nord")
    assert link.is_symlink()
    assert tomllib.loads(real.read_text())["tui"]["theme"] == "nord"


@pytest.mark.parametrize(
    "text",
    [
        'tui.theme = "textual-dark"\n',  # a dotted key: not a [tui] header to edit
        'tui = { theme = "textual-dark" }\n',  # an inline table
        "[tui\ntheme = 1\n",  # not TOML now
    ],
)
def test_a_file_it_cannot_edit_safely_is_left_alone(tmp_path: Path, text: str) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=r"could not save tui\.theme in"):
        remember(cfg, "tui", "theme", "nord")
    assert cfg.read_text() == text
    assert sorted(os.listdir(tmp_path)) == ["config.toml"]  # no temp file left


def test_the_same_value_writes_nothing(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(WRITTEN)
    before = cfg.stat().st_mtime_ns
    os.utime(cfg, ns=(before - 10**9, before - 10**9))
    remember(cfg, "tui", "theme", "textual-dark")
    assert cfg.stat().st_mtime_ns == before - 10**9
