"""The config validator: a `Rule` per field, converting and checking values from TOML or
the environment, each failure one line; and `Secret` for values never printed."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# `typing` costs a few milliseconds to import and is only needed by the type checker.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    _T = TypeVar("_T")


class Secret:
    """A string kept out of reprs and logs; `get_secret_value()` reveals it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class Rule:
    """What one key accepts. Every check, the example-file test and the fuzz test read these."""

    kind: type
    doc: str
    gt: float | None = None
    ge: float | None = None
    le: float | None = None
    choices: tuple[str, ...] = ()
    check: Callable[[str], str | None] | None = None


class Invalid(Exception):
    """A value refused by its rule; the message completes "<key>: ..."."""


# -- checking one value ------------------------------------------------------------------------

_KINDS = {
    "bool": "a boolean",
    "int": "an integer",
    "float": "a float",
    "str": "a string",
    "list": "an array",
    "dict": "a table",
    "datetime": "a date-time",
    "date": "a date",
    "time": "a time",
    "NoneType": "null",
}
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
_BREAKS = str.maketrans(
    {c: c.encode("unicode_escape").decode() for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}
)


def one_line(text: str) -> str:
    return text.translate(_BREAKS)


def kind_of(value: object) -> str:
    name = type(value).__name__
    return _KINDS.get(name, f"a {name}")


def show(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


def _from_text(kind: type, text: str) -> object:
    """An environment variable's string as the field's type."""
    word = text.strip().lower()
    if kind is bool:
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise Invalid(f"must be true or false (or 1/0, yes/no), not {show(text)}")
    try:
        return int(word) if kind is int else float(word)
    except ValueError:
        noun = "an integer" if kind is int else "a number"
        raise Invalid(f"must be {noun}, not {show(text)}") from None


def _bounds(rule: Rule, value: float) -> None:
    if rule.gt is not None and not value > rule.gt:
        raise Invalid(f"must be greater than {rule.gt:g}")
    if rule.ge is not None and not value >= rule.ge:
        raise Invalid(f"must be greater than or equal to {rule.ge:g}")
    if rule.le is not None and not value <= rule.le:
        raise Invalid(f"must be less than or equal to {rule.le:g}")


def convert(rule: Rule, value: object, text: bool) -> Any:
    """The value as the rule's type, or `Invalid`. `text`: an env var's string, to parse."""
    kind = rule.kind
    if text and kind in (bool, int, float) and isinstance(value, str):
        value = _from_text(kind, value)
    if kind is bool:
        if not isinstance(value, bool):
            raise Invalid(f"must be a boolean (true or false), not {kind_of(value)}")
        return value
    if kind in (int, float):
        if kind is float and isinstance(value, float) and not math.isfinite(value):
            raise Invalid(f"must be a finite number, not {value!r}")
        if kind is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (kind is int and isinstance(value, float))
        ):
            noun = "an integer" if kind is int else "a number"
            raise Invalid(f"must be {noun}, not {kind_of(value)}")
        _bounds(rule, value)  # before float(): a huge int would overflow it
        return float(value) if kind is float else value
    if kind is Secret:
        if value is None:
            return None
        if isinstance(value, Secret):
            value = value.get_secret_value()
    if not isinstance(value, str):
        raise Invalid(f"must be a string, not {kind_of(value)}")
    if "\x00" in value:
        raise Invalid("must be text without NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid("must be valid text (it holds a lone surrogate)") from None
    if rule.choices and value not in rule.choices:
        allowed = ", ".join(repr(c) for c in rule.choices[:-1]) + f" or {rule.choices[-1]!r}"
        raise Invalid(f"must be {allowed}, not {show(value)}")
    problem = rule.check(value) if rule.check else None
    if problem:
        raise Invalid(problem)
    if kind is Secret:
        return Secret(value) if value else None
    return value


def setting(default: _T, doc: str, **limits: Any) -> _T:
    """A dataclass field with its rule; the kind is the default's (25.0: a float field)."""
    rule = Rule(type(default), doc, **limits)
    return field(default=default, metadata={"rule": rule})


def secret(doc: str) -> dict[str, Rule]:
    """The metadata of a secret; best set from the environment (FOCUS_SYNC_URL)."""
    return {"rule": Rule(Secret, doc)}


def known_zone(value: str) -> str | None:
    if not value:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return f"unknown time zone {show(value)}"
    return None


def key_list(value: str) -> str | None:
    if any(not part.strip() for part in value.split(",")):
        return 'must be key names separated by commas, e.g. "space,p"'
    return None
