"""The timer screen's bottom row: today's focus, level with XP and coins, and the streak."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

from app.domain.models import Level, Stats
from app.tui.text import minutes_text


def meter(fraction: float, width: int) -> Text:
    """A one-line bar, `fraction` filled, in the card's colours."""
    fraction = min(1.0, max(0.0, fraction))
    filled = round(fraction * width)
    return Text.assemble(("━" * filled, "bold"), ("━" * (width - filled), "dim"))


CARD_WIDTH = 16
"""Columns inside a card before it is laid out: a third of a 60-column summary."""


def level_lines(level: Level, width: int = CARD_WIDTH) -> Text:
    """The progress bar to the next level and the XP still missing, in `width` columns."""
    missing = f" {level.next_level_xp - level.total_xp} to L{level.level + 1}"
    return Text.assemble(meter(level.progress, max(3, width - len(missing))), missing)


def plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


LEVEL_METER = (10, 40)
"""The level line's meter: never narrower or wider than this."""


def level_line(level: Level, coins: int, width: int) -> Text:
    """`Level 5  ━━━━━━━━  2180 / 2500 xp · 400 coins` in at most `width` columns: the meter
    takes what the words leave; when even a short meter would not fit, the words get shorter."""
    head = f"Level {level.level}  "
    tails = (
        f"  {level.total_xp} / {level.next_level_xp} xp · {plural(coins, 'coin')}",
        f"  {level.total_xp}/{level.next_level_xp} xp · {coins}c",
        f"  {level.total_xp}/{level.next_level_xp}",
    )
    low, high = LEVEL_METER
    for tail in tails:
        room = width - len(head) - len(tail)
        if room >= low or tail is tails[-1]:
            bar = max(3, min(high, room))
            return Text.assemble((head, "bold"), meter(level.progress, bar), tail)
    raise AssertionError("unreachable")


class LevelLine(Widget):
    """The stats screen's level line, redrawn to its width."""

    DEFAULT_CSS = "LevelLine { height: 1; }"

    level: reactive[Level | None] = reactive(None)
    coins: reactive[int] = reactive(0)

    def render(self) -> Text:
        if self.level is None:
            return Text("")
        return level_line(self.level, self.coins, self.size.width or 80)


class Summary(Horizontal):
    """Three cards fed by `stats`; the cards show dashes until the first stats arrive."""

    stats: reactive[Stats | None] = reactive(None, init=False)

    def compose(self) -> ComposeResult:
        yield Static("-\n", id="today-card", classes="card")
        yield Static("-\n", id="level-card", classes="card")
        yield Static("-\n", id="streak-card", classes="card")

    def on_mount(self) -> None:
        self.query_one("#today-card").border_title = "Today"
        self.query_one("#level-card").border_title = "Level"
        self.query_one("#streak-card").border_title = "Streak"

    def watch_stats(self, stats: Stats | None) -> None:
        if stats is None:
            return
        focus_today = stats.today_focus
        today = self.query_one("#today-card", Static)
        # As on the stats screen; "12 focus sessions" would not fit the card.
        today.update(
            f"{plural(focus_today.completed, 'session')}\n"
            f"{minutes_text(focus_today.focused_seconds)} focused"
        )
        level = self.query_one("#level-card", Static)
        level.border_title = f"Level {stats.level.level}"
        # On the border: "2180 xp · 400 coins" would wrap and push the bar out of the card.
        level.border_subtitle = plural(stats.coins, "coin")
        self._show_level()
        streak = self.query_one("#streak-card", Static)
        streak.update(
            f"{plural(stats.streak.current, 'day')}\nbest {plural(stats.streak.longest, 'day')}"
        )

    def on_resize(self) -> None:
        self._show_level()

    def _show_level(self) -> None:
        """The level card's bar as wide as the card is (it grows with the screen)."""
        if self.stats is None:
            return
        card = self.query_one("#level-card", Static)
        width = card.content_region.width or CARD_WIDTH
        level = self.stats.level
        card.update(Text.assemble(f"{level.total_xp} xp\n", level_lines(level, width)))
