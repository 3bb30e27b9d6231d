"""Settings: one fixture file per failure mode, env overrides, and the example file."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel, SecretStr

from app.config import (
    GeneralSettings,
    Settings,
    config_path,
    default_config_path,
    default_db_path,
    load_settings,
    resolve_db_path,
    resolve_timezone,
)
from app.domain.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "config"
EXAMPLE = ROOT / "config.example.toml"

# fixture file -> what the one-line message must name beside the file (the key, or the line).
FAILURES = {
    "unknown_key.toml": ["timer.focus_minute", "unknown key"],
    "unknown_top_level_key.toml": ["theme", "unknown key"],
    "misspelled_section.toml": ["timers", "unknown key"],
    "section_not_a_table.toml": ["timer"],
    "wrong_type.toml": ["timer.long_break_every", "integer"],
    "wrong_type_bool.toml": ["notify.bell", "boolean"],
    "wrong_type_key_binding.toml": ["keys.start_pause", "string"],
    "fractional_integer.toml": ["timer.long_break_every", "integer"],
    "out_of_range_zero.toml": ["timer.focus_minutes", "greater than 0"],
    "out_of_range_high.toml": ["timer.max_pause_minutes", "10080"],
    "out_of_range_tick.toml": ["timer.tick_seconds", "0.05"],
    "out_of_range_batch.toml": ["sync.batch_size", "greater than or equal to 1"],
    "not_a_number.toml": ["timer.focus_minutes"],
    "unknown_timezone.toml": ["general.timezone", "Mars/Olympus_Mons"],
    "bad_sleep_policy.toml": ["timer.sleep_policy", "'pause', 'count' or 'ask'"],
    "multiple_errors.toml": ["timer.focus_minutes", "timer.sleep_policy", "notify.bell"],
    "key_with_line_break.toml": ["focus\\nminutes", "unknown key"],
    "invalid_toml.toml": ["invalid TOML", "line 3"],  # syntax: the line, not a key
    "duplicate_section.toml": ["invalid TOML", "timer", "line 4"],
    "not_utf8.toml": ["not UTF-8"],
}


def _error(path: Path | str | None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.exit_code == 2
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message, message
    return message


def _revealed(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _revealed(v) for k, v in value.items()}
    return value


def _sections() -> dict[str, type[BaseModel] | None]:
    """Top-level Settings fields -> their section model (None for a free-form table)."""
    out: dict[str, type[BaseModel] | None] = {}
    for name, info in Settings.model_fields.items():
        kind = info.annotation
        out[name] = kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None
    return out


# -- failure modes ---------------------------------------------------------------------------


def test_every_fixture_file_is_covered() -> None:
    on_disk = {p.name for p in FIXTURES.glob("*.toml")}
    assert on_disk == set(FAILURES) | {"valid_full.toml"}


@pytest.mark.parametrize(("name", "fragments"), sorted(FAILURES.items()), ids=sorted(FAILURES))
def test_each_failure_is_one_line_naming_the_file_and_the_key(
    name: str, fragments: list[str]
) -> None:
    path = FIXTURES / name
    message = _error(path)
    assert message.startswith(f"config error in {path}: "), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_a_named_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    message = _error(path)
    assert str(path) in message and "does not exist" in message


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    message = _error(tmp_path)
    assert str(tmp_path) in message and "directory" in message


def test_a_missing_default_file_means_defaults() -> None:
    path, named = config_path(None)
    assert not named and path == default_config_path()
    assert not path.exists()
    settings, used = load_settings(None)
    assert settings == Settings()
    assert used == path


def test_an_empty_file_means_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.toml"
    path.write_text("# nothing set\n", encoding="utf-8")
    assert load_settings(path) == (Settings(), path)


# -- a valid file, the environment -----------------------------------------------------------


def test_a_full_file_sets_every_key() -> None:
    path = FIXTURES / "valid_full.toml"
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    settings, used = load_settings(path)
    assert used == path
    loaded = _revealed(settings.model_dump())
    defaults = _revealed(Settings().model_dump())
    for section, model in _sections().items():
        assert section in raw, f"valid_full.toml lacks [{section}]"
        if model is None:
            assert loaded[section] == raw[section]
            continue
        assert set(raw[section]) == set(model.model_fields), section
        for key, value in raw[section].items():
            assert loaded[section][key] == value, (section, key)
            assert value != defaults[section][key], f"{section}.{key} equals its default"
    assert ZoneInfo(settings.general.timezone) == resolve_timezone(settings)


def test_focus_config_env_names_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    path = FIXTURES / "valid_full.toml"
    monkeypatch.setenv("FOCUS_CONFIG", str(path))
    assert config_path(None) == (path, True)
    settings, used = load_settings(None)
    assert used == path and settings.timer.focus_minutes == 50
    # An explicit --config still wins over the variable.
    assert load_settings(EXAMPLE)[1] == EXAMPLE


def test_env_overrides_the_file_and_keeps_its_other_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = FIXTURES / "valid_full.toml"
    from_file = tomllib.loads(path.read_text(encoding="utf-8"))["timer"]
    monkeypatch.setenv("FOCUS_TIMER__FOCUS_MINUTES", "42")
    monkeypatch.setenv("FOCUS_NOTIFY__BELL", "true")
    monkeypatch.setenv("FOCUS_SYNC__POSTGRES_URL", "postgresql://env@host/db")
    settings, _ = load_settings(path)
    assert settings.timer.focus_minutes == 42
    assert settings.notify.bell is True
    assert settings.timer.short_break_minutes == from_file["short_break_minutes"]
    assert settings.timer.sleep_policy == from_file["sleep_policy"]
    url = settings.sync.postgres_url
    assert url is not None and url.get_secret_value() == "postgresql://env@host/db"
    assert "env@host" not in repr(settings)


def test_env_overrides_the_defaults_without_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOCUS_TIMER__SLEEP_POLICY", "ask")
    settings, _ = load_settings(None)
    assert settings.timer.sleep_policy == "ask"
    assert settings.timer.focus_minutes == Settings().timer.focus_minutes


@pytest.mark.parametrize(
    ("var", "value", "key"),
    [
        ("FOCUS_TIMER__FOCUS_MINUTES", "abc", "timer.focus_minutes"),
        ("FOCUS_TIMER__FOCUS_MINUTES", "0", "timer.focus_minutes"),
        ("FOCUS_TIMER__SLEEP_POLICY", "snooze", "timer.sleep_policy"),
        ("FOCUS_GENERAL__TIMEZONE", "Nowhere/Land", "general.timezone"),
        ("FOCUS_TIMER__FOCUS_MINUTEZ", "5", "timer.focus_minutez"),
        ("FOCUS_TIMER", '{"focus_minutes": 0}', "timer.focus_minutes"),
        ("FOCUS_TIMER", "not json", "timer"),
        ("FOCUS_KEYS", "[1, 2", "keys"),
    ],
)
@pytest.mark.parametrize("with_file", [True, False], ids=["file", "no-file"])
def test_a_bad_env_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, key: str, with_file: bool
) -> None:
    monkeypatch.setenv(var, value)
    path = FIXTURES / "valid_full.toml" if with_file else None
    message = _error(path)
    assert f"environment variable {var}" in message, message
    assert key in message, message
    assert "config error in" not in message, "the file is not to blame"


def test_env_and_file_errors_are_both_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOCUS_TIMER__FOCUS_MINUTES", "abc")
    path = FIXTURES / "bad_sleep_policy.toml"
    message = _error(path)
    assert message.startswith(f"config error in {path}: timer.sleep_policy")
    assert "environment variable FOCUS_TIMER__FOCUS_MINUTES" in message


# -- the example file ------------------------------------------------------------------------


def test_the_example_file_parses_to_the_defaults() -> None:
    settings, used = load_settings(EXAMPLE)
    assert used == EXAMPLE
    assert settings == Settings()


def test_the_example_file_lists_every_key() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    headers = list(re.finditer(r"^\[(\w+)\]\s*$", text, flags=re.MULTILINE))
    bodies = {
        m.group(1): text[m.end() : headers[i + 1].start() if i + 1 < len(headers) else len(text)]
        for i, m in enumerate(headers)
    }
    sections = _sections()
    assert list(bodies) == list(sections), "sections missing, extra or out of order"
    for section, model in sections.items():
        if model is None:
            continue
        for key in model.model_fields:
            # Secrets are listed commented out, so nobody stores them in the file by accident.
            pattern = rf"^(# )?{key} = "
            assert re.search(pattern, bodies[section], flags=re.MULTILINE), f"{section}.{key}"


# -- derived paths and zones -----------------------------------------------------------------


def test_resolve_timezone_prefers_the_config_then_tz(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    monkeypatch.setenv("TZ", "America/New_York")
    assert resolve_timezone(settings) == ZoneInfo("America/New_York")
    monkeypatch.setenv("TZ", ":Europe/Berlin")
    assert resolve_timezone(settings) == ZoneInfo("Europe/Berlin")
    monkeypatch.setenv("FOCUS_GENERAL__TIMEZONE", "Asia/Tokyo")
    assert resolve_timezone(load_settings(None)[0]) == ZoneInfo("Asia/Tokyo")
    monkeypatch.setenv("TZ", "Not/AZone")
    assert isinstance(resolve_timezone(settings), ZoneInfo)


def test_resolve_db_path_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = Settings()
    assert resolve_db_path(settings) == default_db_path()
    from_file = Settings(general=GeneralSettings(db_path=str(tmp_path / "file.db")))
    assert resolve_db_path(from_file) == tmp_path / "file.db"
    monkeypatch.setenv("FOCUS_DB", str(tmp_path / "env.db"))
    assert resolve_db_path(from_file) == tmp_path / "env.db"
    assert resolve_db_path(from_file, str(tmp_path / "flag.db")) == tmp_path / "flag.db"
