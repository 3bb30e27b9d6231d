"""Fuzzing the loader: any value under any key yields Settings or a one-line ConfigError.

The keys come from the loader's own field table, so a new key is fuzzed as soon as it exists.
"""

from __future__ import annotations

import json
from datetime import UTC, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn

from app.config import SECTIONS, Settings, field_table, load_settings
from app.config_rules import Rule
from app.domain.errors import ConfigError

TABLE = field_table()
FIELDS = [(section, key) for section, rules in TABLE.items() for key in rules]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "config"

# Bounded and repeatable: the same examples on every run, no example database.
fuzz = settings(max_examples=150, deadline=None, derandomize=True, database=None)


def _check(path: Path | None) -> None:
    try:
        loaded, _ = load_settings(path)
    except ConfigError as exc:
        message = str(exc)
        assert message and message.splitlines() == [message], message
    else:
        assert isinstance(loaded, Settings)


# -- TOML text -------------------------------------------------------------------------------


def _toml_str(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")  # control characters, NUL included
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_float(x: float) -> str:
    if x != x:
        return "nan"
    if x in (float("inf"), float("-inf")):
        return "inf" if x > 0 else "-inf"
    return repr(x)


_ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
)
_NEAR = ["0", "-0.0", "1", "-1", "0.05", "0.049", "1440", "1440.5", "10080", "100000", "100001"]
_WORDS = ['"pause"', '"count"', '"ask"', '"Europe/Berlin"', '"space,p"', '""', '"."', '"~"']
_EXTREMES = ["9" * 5000, "[" * 3000 + "]" * 3000, "{a = " * 2000 + "1" + "}" * 2000]

toml_keys = st.text(min_size=1, max_size=8).map(_toml_str)
scalars = st.one_of(
    st.text(max_size=30).map(_toml_str),
    st.text(st.characters(max_codepoint=0x1F), max_size=5).map(_toml_str),
    st.integers().map(str),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.floats().map(_toml_float),
    st.booleans().map(lambda b: "true" if b else "false"),
    st.datetimes().map(lambda d: d.isoformat()),
    st.datetimes(timezones=_ZONES).map(lambda d: d.isoformat()),
    st.dates().map(lambda d: d.isoformat()),
    st.times().map(lambda t: t.isoformat()),
    st.sampled_from(_NEAR + _WORDS + _EXTREMES),
)
toml_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.dictionaries(toml_keys, inner, max_size=3).map(
            lambda d: "{" + ", ".join(f"{k} = {v}" for k, v in d.items()) + "}"
        ),
    ),
    max_leaves=8,
)


def _fitting(rule: Rule) -> st.SearchStrategy[str]:
    """Values of the key's own type around its bounds, so examples also reach the checks
    that run after the type is right (bounds, choices, zones, paths) and the success path."""
    if rule.kind is bool:
        return st.booleans().map(lambda b: "true" if b else "false")
    if rule.kind in (int, float):
        low = next(x for x in (rule.gt, rule.ge, 0) if x is not None) - 2
        high = (rule.le or 10) + 2
        ints = st.integers(min_value=int(low), max_value=int(high)).map(str)
        return ints if rule.kind is int else ints | st.floats(low, high).map(_toml_float)
    text = st.text(max_size=20)
    return (st.sampled_from(rule.choices) | text if rule.choices else text).map(_toml_str)


# (section, key, value): mostly real keys with fitting values, some unknown keys and sections.
known = st.sampled_from(FIELDS).flatmap(
    lambda f: st.tuples(st.just(f[0]), st.just(f[1]), _fitting(TABLE[f[0]][f[1]]) | toml_values)
)
unknown = st.tuples(
    st.sampled_from(list(SECTIONS)) | st.from_regex(r"[a-z]{1,8}", fullmatch=True),
    st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
    toml_values,
)
# How an entry is written: under [section], as a dotted key, as a sub-table, or the section
# itself given a value instead of a table.
shapes = st.sampled_from(["section"] * 6 + ["dotted", "subtable", "bare"])


@st.composite
def documents(draw: DrawFn) -> str:
    entry = st.tuples(known | known | known | unknown, shapes)
    entries = draw(st.lists(entry, min_size=1, max_size=4, unique_by=lambda e: e[0][:2]))
    top: list[str] = []
    tables: dict[str, list[str]] = {}
    for (section, key, value), shape in entries:
        if shape == "dotted":
            top.append(f"{section}.{key} = {value}")
        elif shape == "bare":
            top.append(f"{section} = {value}")
        elif shape == "subtable":
            tables.setdefault(f"{section}.{key}", []).append(f"{draw(toml_keys)} = {value}")
        else:
            tables.setdefault(section, []).append(f"{key} = {value}")
    parts = [*top, *(f"[{name}]\n" + "\n".join(lines) for name, lines in tables.items())]
    return "\n".join(parts) + "\n"


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "config.toml"


@fuzz
@given(text=documents())
def test_any_toml_value_under_any_key(config_file: Path, text: str) -> None:
    config_file.write_text(text, encoding="utf-8")
    _check(config_file)


@fuzz
@given(raw=st.binary(max_size=200))
def test_any_bytes(config_file: Path, raw: bytes) -> None:
    config_file.write_bytes(raw)
    _check(config_file)


# -- the environment -------------------------------------------------------------------------

_env_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
# Keys of a section as JSON: mostly the section's own keys.
json_objects = st.dictionaries(
    st.sampled_from([key for _, key in FIELDS]) | st.text(max_size=8), json_values, max_size=4
).map(json.dumps)
env_values = st.one_of(
    _env_text,
    st.sampled_from(["true", "no", "1", " 0 ", "nan", "-inf", "1e309", "2.5", "9" * 5000]),
    st.sampled_from(["caf\udce9", "\udcff", "[" * 100_000, "{"]),  # undecodable bytes; deep JSON
    st.integers().map(str),
    st.floats().map(str),
    json_objects,
    json_values.map(json.dumps),
)
env_names = st.one_of(
    st.sampled_from(FIELDS).map(lambda f: f"FOCUS_{f[0].upper()}__{f[1].upper()}"),
    st.sampled_from(list(SECTIONS)).map(lambda s: f"FOCUS_{s.upper()}"),
    st.from_regex(r"FOCUS_[A-Za-z0-9_]{0,20}", fullmatch=True),
)


@fuzz
@given(
    env=st.dictionaries(env_names, env_values, max_size=4),
    path=st.sampled_from([None, FIXTURES / "valid_full.toml"]),
)
def test_any_environment_value_for_any_key(env: dict[str, str], path: Path | None) -> None:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        _check(path)
