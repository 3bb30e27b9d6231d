"""The size classes every screen gets from its terminal size (Textual's breakpoints).

`app.tcss` shapes each screen by these classes, so one stylesheet serves 60x20 to 200x60:
`-narrow` under 70 columns, `-wide` from 110; `-short` under 24 rows, `-tall` from 34.
"""

from __future__ import annotations

WIDTH_BREAKPOINTS: list[tuple[int, str]] = [(0, "-narrow"), (70, "-normal-width"), (110, "-wide")]
HEIGHT_BREAKPOINTS: list[tuple[int, str]] = [(0, "-short"), (24, "-normal-height"), (34, "-tall")]
