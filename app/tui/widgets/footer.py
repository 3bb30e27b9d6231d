"""Textual's footer, free to lay its keys out in rows on a narrow screen.

`Footer` pins its grid's column count to the number of keys on every recompose (an inline
style, which beats any stylesheet); this footer lifts that pin so app.tcss can give a narrow
timer screen two rows of keys instead of cutting `q Quit` off the end of one.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer


class KeysFooter(Footer):
    def compose(self) -> ComposeResult:
        yield from super().compose()
        self.styles.clear_rule("grid_size_columns")
