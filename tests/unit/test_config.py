"""Settings: one fixture file per failure mode, env overrides, and the example file."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.config import (
    SECTIONS,
    GeneralSettings,
    HookSettings,
    Settings,
    TimerSettings,
    config_path,
    default_config_path,
    default_db_path,
    field_table,
    load_settings,
    resolve_db_path,
    resolve_timezone,
)
from app.config_rules import Secret
from app.domain.errors import ConfigError, UsageError
from app.keymap import BINDING_IDS

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "config"
EXAMPLE = ROOT / "config.example.toml"

# fixture file -> what the one-line message must name beside the file (the key, or the line).
FAILURES = {
    "unknown_key.toml": ["timer.focus_minute", "unknown key"],
    "unknown_top_level_key.toml": ["theme", "unknown key"],
    "misspelled_section.toml": ["timers", "unknown key"],
    "section_not_a_table.toml": ["timer", "must be a table"],
    "wrong_type.toml": ["timer.long_break_every", "integer"],
    "wrong_type_bool.toml": ["notify.bell", "boolean"],
    "wrong_type_key_binding.toml": ["keys.start_pause", "string"],
    "fractional_integer.toml": ["timer.long_break_every", "integer"],
    "out_of_range_zero.toml": ["timer.focus_minutes", "greater than 0"],
    "out_of_range_high.toml": ["timer.max_pause_minutes", "10080"],
    "out_of_range_tick.toml": ["timer.tick_seconds", "0.05"],
    "out_of_range_batch.toml": ["sync.batch_size", "greater than or equal to 1"],
    "not_a_number.toml": ["timer.focus_minutes", "must be a finite number, not nan"],
    "infinite_number.toml": ["timer.max_pause_minutes", "must be a finite number, not inf"],
    "negative_infinity.toml": ["hooks.timeout_seconds", "must be a finite number, not -inf"],
    "bool_as_number.toml": ["timer.focus_minutes", "must be a number, not a boolean"],
    "huge_integer.toml": ["invalid TOML", "too many digits"],
    "unknown_timezone.toml": ["general.timezone", "Mars/Olympus_Mons"],
    "bad_sleep_policy.toml": ["timer.sleep_policy", "'pause', 'count' or 'ask'"],
    "multiple_errors.toml": ["timer.focus_minutes", "timer.sleep_policy", "notify.bell"],
    "key_with_line_break.toml": ["focus\\nminutes", "unknown key"],
    "invalid_toml.toml": ["invalid TOML", "line 3"],  # syntax: the line, not a key
    "duplicate_section.toml": ["invalid TOML", "timer", "line 4"],
    "nested_too_deeply.toml": ["invalid TOML", "nested too deeply"],
    "not_utf8.toml": ["not UTF-8"],
    "db_path_is_a_directory.toml": ["general.db_path", "is a directory"],
    "unknown_key_binding.toml": ["keys.snooze", "unknown key binding id", "start_pause"],
    "empty_key_binding.toml": ["keys.quit", "key names separated by commas"],
    "key_binding_with_empty_key.toml": ["keys.start_pause", "key names separated by commas"],
    "nul_in_string.toml": ["hooks.start", "NUL"],
    "hook_not_a_string.toml": ["hooks.complete", "must be a string, not an array"],
}
VALID = {"valid_full.toml", "valid_with_bom.toml"}


def _error(path: Path | str | None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.exit_code == 2
    message = str(caught.value)
    assert message.splitlines() == [message], message
    return message


def _revealed(value: Any) -> Any:
    if isinstance(value, Secret):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _revealed(v) for k, v in value.items()}
    return value


# -- failure modes ---------------------------------------------------------------------------


def test_every_fixture_file_is_covered() -> None:
    on_disk = {p.name for p in FIXTURES.glob("*.toml")}
    assert on_disk == set(FAILURES) | VALID


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


def test_a_byte_order_mark_is_skipped() -> None:
    path = FIXTURES / "valid_with_bom.toml"
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert load_settings(path)[0].timer.focus_minutes == 30


# -- values: numbers, text, paths -------------------------------------------------------------


def test_integers_are_accepted_for_float_keys_and_whole_floats_for_integer_keys(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[timer]\nfocus_minutes = 50\nlong_break_every = 3.0\n", encoding="utf-8")
    timer = load_settings(path)[0].timer
    assert timer.focus_minutes == 50 and isinstance(timer.focus_minutes, float)
    assert timer.long_break_every == 3 and isinstance(timer.long_break_every, int)


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("focus_minutes", "nan", "finite number"),
        ("focus_minutes", "-inf", "finite number"),
        ("focus_minutes", "true", "not a boolean"),
        ("tick_seconds", "false", "not a boolean"),
        ("long_break_every", "true", "must be an integer, not a boolean"),
        ("long_break_every", "2.5", "must be an integer, not a float"),
        ("long_break_every", "nan", "must be an integer, not a float"),
        ("long_break_every", "9" * 400, "less than or equal to 100"),
        ("focus_minutes", "9" * 400, "less than or equal to 1440"),
        ("focus_minutes", "-" + "9" * 400, "greater than 0"),
        ("auto_start_breaks", "1", "must be a boolean"),
        ("sleep_policy", '"Pause"', "'pause', 'count' or 'ask'"),
    ],
)
def test_every_number_and_boolean_is_strict(
    tmp_path: Path, key: str, value: str, fragment: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[timer]\n{key} = {value}\n", encoding="utf-8")
    message = _error(path)
    assert f"timer.{key}: " in message and fragment in message, message


def test_a_relative_db_path_is_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "config.toml"
    path.write_text('[general]\ndb_path = "data/focus.db"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # somewhere else: the file's folder decides
    settings, _ = load_settings(path)
    assert resolve_db_path(settings) == tmp_path / "conf" / "data" / "focus.db"
    # Through a relative --config too.
    settings, _ = load_settings("conf/config.toml")
    assert resolve_db_path(settings) == tmp_path / "conf" / "data" / "focus.db"


def test_db_path_expands_the_home_directory(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[general]\ndb_path = "~/focus.db"\n', encoding="utf-8")
    settings, _ = load_settings(path)
    assert resolve_db_path(settings) == Path(os.environ["HOME"]) / "focus.db"


def test_a_db_path_from_the_environment_naming_a_directory_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOCUS_GENERAL__DB_PATH", str(tmp_path))
    message = _error(None)
    assert "environment variable FOCUS_GENERAL__DB_PATH (general.db_path)" in message
    assert "is a directory" in message


def test_a_lone_surrogate_from_the_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Bytes that are not UTF-8 reach os.environ as lone surrogates.
    monkeypatch.setenv("FOCUS_TUI__THEME", "caf\udce9")
    message = _error(None)
    assert "FOCUS_TUI__THEME (tui.theme)" in message and "lone surrogate" in message


# -- a valid file, the environment -----------------------------------------------------------


def test_a_full_file_sets_every_key() -> None:
    path = FIXTURES / "valid_full.toml"
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    settings, used = load_settings(path)
    assert used == path
    loaded = _revealed(dataclasses.asdict(settings))
    defaults = _revealed(dataclasses.asdict(Settings()))
    for section, rules in field_table().items():
        assert section in raw, f"valid_full.toml lacks [{section}]"
        if SECTIONS[section] is None:
            assert loaded[section] == raw[section]
            continue
        assert set(raw[section]) == set(rules), section
        for key, value in raw[section].items():
            want = str(Path(value).expanduser()) if key == "db_path" else value
            assert loaded[section][key] == want, (section, key)
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
    monkeypatch.setenv("FOCUS_SYNC__URL", "postgresql://env@host/db")
    settings, _ = load_settings(path)
    assert settings.timer.focus_minutes == 42
    assert settings.notify.bell is True
    assert settings.timer.short_break_minutes == from_file["short_break_minutes"]
    assert settings.timer.sleep_policy == from_file["sleep_policy"]
    url = settings.sync.url
    assert url is not None and url.get_secret_value() == "postgresql://env@host/db"
    assert "env@host" not in repr(settings) and "env@host" not in str(url)


def test_env_overrides_the_defaults_without_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOCUS_TIMER__SLEEP_POLICY", "ask")
    settings, _ = load_settings(None)
    assert settings.timer.sleep_policy == "ask"
    assert settings.timer.focus_minutes == Settings().timer.focus_minutes


@pytest.mark.parametrize(
    ("text", "value"),
    [
        *[("true", True), ("1", True), ("YES", True), (" on ", True)],
        *[("false", False), ("0", False), ("no", False), ("Off", False)],
    ],
)
def test_env_booleans(monkeypatch: pytest.MonkeyPatch, text: str, value: bool) -> None:
    monkeypatch.setenv("FOCUS_NOTIFY__DESKTOP", text)
    assert load_settings(None)[0].notify.desktop is value


def test_env_numbers_keys_and_layers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOCUS_TIMER__TICK_SECONDS", " 0.5 ")
    monkeypatch.setenv("FOCUS_SYNC__BATCH_SIZE", "250")
    monkeypatch.setenv("FOCUS_KEYS__START_PAUSE", "s")
    # A whole section as JSON; a variable for one key wins over it.
    monkeypatch.setenv("FOCUS_HOOKS", '{"start": "echo json", "timeout_seconds": 5}')
    monkeypatch.setenv("FOCUS_HOOKS__TIMEOUT_SECONDS", "7")
    settings, _ = load_settings(None)
    assert settings.timer.tick_seconds == 0.5 and settings.sync.batch_size == 250
    assert settings.keys == {"start_pause": "s"}
    assert settings.hooks.start == "echo json" and settings.hooks.timeout_seconds == 7
    # Variables outside the sections are none of the loader's business.
    monkeypatch.setenv("FOCUS_SESSION", "{not json")
    monkeypatch.setenv("FOCUS_EVENT", "start")
    assert load_settings(None)[0] == settings


@pytest.mark.parametrize(
    ("var", "value", "key"),
    [
        ("FOCUS_TIMER__FOCUS_MINUTES", "abc", "timer.focus_minutes"),
        ("FOCUS_TIMER__FOCUS_MINUTES", "0", "timer.focus_minutes"),
        ("FOCUS_TIMER__FOCUS_MINUTES", "nan", "timer.focus_minutes"),
        ("FOCUS_TIMER__FOCUS_MINUTES", "inf", "timer.focus_minutes"),
        ("FOCUS_TIMER__LONG_BREAK_EVERY", "2.5", "timer.long_break_every"),
        ("FOCUS_NOTIFY__BELL", "loud", "notify.bell"),
        ("FOCUS_TIMER__SLEEP_POLICY", "snooze", "timer.sleep_policy"),
        ("FOCUS_GENERAL__TIMEZONE", "Nowhere/Land", "general.timezone"),
        ("FOCUS_TIMER__FOCUS_MINUTEZ", "5", "timer.focus_minutez"),
        ("FOCUS_KEYS__SNOOZE", "z", "keys.snooze"),
        ("FOCUS_TIMER", '{"focus_minutes": 0}', "timer.focus_minutes"),
        ("FOCUS_TIMER", '{"focus_minutes": "25"}', "timer.focus_minutes"),
        ("FOCUS_TIMER", "not json", "timer"),
        ("FOCUS_TIMER", "[1]", "timer"),
        ("FOCUS_TIMER", "[" * 100_000, "timer"),
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
    assert f"environment variable {var} ({key}" in message, message
    assert "config error in" not in message, "the file is not to blame"


def test_env_and_file_errors_are_both_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOCUS_TIMER__FOCUS_MINUTES", "abc")
    path = FIXTURES / "bad_sleep_policy.toml"
    message = _error(path)
    assert message.startswith(f"config error in {path}: timer.sleep_policy")
    assert "environment variable FOCUS_TIMER__FOCUS_MINUTES" in message


# -- settings built in code ------------------------------------------------------------------


def test_from_mapping_checks_like_the_file() -> None:
    settings = Settings.from_mapping({"timer": {"focus_minutes": 1}, "keys": {"quit": "ctrl+q"}})
    assert settings.timer.focus_minutes == 1 and settings.keys == {"quit": "ctrl+q"}
    assert settings.timer.short_break_minutes == Settings().timer.short_break_minutes
    with pytest.raises(ConfigError, match=r"^config error: timer.focus_minutes: .*greater"):
        Settings.from_mapping({"timer": {"focus_minutes": 0}})
    with pytest.raises(ConfigError, match="unknown key"):
        Settings.from_mapping({"timer": {"focus_minute": 1}})


def test_constructors_check_their_values_too() -> None:
    assert TimerSettings(focus_minutes=1).focus_minutes == 1.0
    with pytest.raises(ConfigError, match=r"timer.focus_minutes: must be a finite number"):
        TimerSettings(focus_minutes=float("nan"))
    with pytest.raises(ConfigError, match=r"keys.snooze: unknown key binding id"):
        Settings(keys={"snooze": "z"})
    with pytest.raises(ConfigError, match=r"keys.quit: must be key names"):
        Settings(keys={"quit": " "})
    with pytest.raises(dataclasses.FrozenInstanceError):
        TimerSettings().focus_minutes = 5  # type: ignore[misc]


def test_replace_builds_a_copy_with_one_section_swapped() -> None:
    loud = Settings.from_mapping({"hooks": {"start": "echo hi"}, "tui": {"theme": "nord"}})
    quiet = dataclasses.replace(loud, hooks=HookSettings())
    assert quiet.hooks == HookSettings() and quiet.tui.theme == "nord"


def test_secrets_are_masked() -> None:
    secret = Secret("hunter2")
    assert secret.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(secret) and "hunter2" not in str(secret)
    assert secret == Secret("hunter2") and secret != Secret("other")


def test_key_ids_are_the_app_binding_ids() -> None:
    assert set(field_table()["keys"]) == BINDING_IDS


# -- start-up cost ----------------------------------------------------------------------------


def _modules_after(code: str, env: dict[str, str]) -> set[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_loading_imports_only_what_it_needs(tmp_path: Path) -> None:
    # `focus statusline` runs from a status bar: no pydantic, and the rest only when needed.
    heavy = {"pydantic", "pydantic_settings", "tomllib", "zoneinfo", "platformdirs"}
    assert _modules_after("import app.config", {}) & heavy == set()
    path = tmp_path / "config.toml"
    path.write_text("[timer]\nfocus_minutes = 50\n", encoding="utf-8")
    loaded = _modules_after(
        "from app.config import load_settings; load_settings(None)", {"FOCUS_CONFIG": str(path)}
    )
    assert loaded & heavy == {"tomllib"}  # no zone set, no default path needed


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
    table = field_table()
    assert list(bodies) == list(table), "sections missing, extra or out of order"
    for section, rules in table.items():
        if SECTIONS[section] is None:
            for binding in rules:  # the ids are listed in the comment
                assert binding in bodies[section], f"keys: {binding}"
            continue
        for key in rules:
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
    monkeypatch.setenv("FOCUS_DB", "")  # empty: as if unset
    assert resolve_db_path(from_file) == tmp_path / "file.db"
    monkeypatch.setenv("FOCUS_DB", str(tmp_path / "env.db"))
    assert resolve_db_path(from_file) == tmp_path / "env.db"
    assert resolve_db_path(from_file, str(tmp_path / "flag.db")) == tmp_path / "flag.db"


def test_an_explicit_db_is_relative_to_the_current_directory_and_never_empty(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_db_path(Settings(), "here.db").absolute() == tmp_path / "here.db"
    with pytest.raises(UsageError, match=r"^--db: empty path$"):
        resolve_db_path(Settings(), "")
