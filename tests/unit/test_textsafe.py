"""Text from users: what the terminal may see (`visible`), what the domain refuses, and how
an export keeps a spreadsheet from running a cell."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.errors import UsageError
from app.domain.timer import normalize_tags, normalize_task
from app.presenters import csv_cell
from app.textsafe import visible

UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[2J", "\\x1b[2J"),
        ("\x1b]52;c;ZXZpbA==\x07", "\\x1b]52;c;ZXZpbA==\\x07"),
        ("\x9b31m", "\\x9b31m"),
        ("a\tb\nc\rd\x00\x7f", "a\\x09b\\x0ac\\x0dd\\x00\\x7f"),
        (
            "\u202eevil\u2066\u2069\u200e\u200f\u061c",
            "\\u202eevil\\u2066\\u2069\\u200e\\u200f\\u061c",
        ),
        ("caf\udce9", "caf\\udce9"),
        ("café 中文 — ▶ [bold]x", "café 中文 — ▶ [bold]x"),
        ("", ""),
    ],
)
def test_visible_escapes_controls_bidi_and_surrogates(text: str, shown: str) -> None:
    assert visible(text) == shown


@given(st.text(alphabet=st.characters(codec=None)))
def test_visible_leaves_nothing_a_terminal_acts_on(text: str) -> None:
    shown = visible(text)
    assert not UNSAFE.search(shown)
    shown.encode("utf-8")  # always encodable
    assert visible(shown) == shown  # escaping twice changes nothing more
    if not UNSAFE.search(text):
        assert shown == text


@pytest.mark.parametrize("bad", ["caf\udce9", "a\x00b", "\ud800"])
def test_the_domain_refuses_text_that_is_not_utf8_or_holds_nul(bad: str) -> None:
    with pytest.raises(UsageError, match=r"UTF-8|NUL"):
        normalize_task(bad)
    with pytest.raises(UsageError, match=r"UTF-8|NUL"):
        normalize_tags(["ok", bad])


def test_the_domain_keeps_other_text_as_given() -> None:
    assert normalize_task("  \x1b[2J  title ") == "\x1b[2J title"
    assert normalize_tags(["\x1b[31mred", "#Deep"]) == ("\x1b[31mred", "deep")


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2", "'-2"),
        ("@evil", "'@evil"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        ("", ""),
        (None, None),
        (-5, -5),
    ],
)
def test_csv_cells_that_would_start_a_formula_get_a_quote(value: object, cell: object) -> None:
    assert csv_cell(value) == cell
