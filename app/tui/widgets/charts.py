"""Text charts for the stats screen: daily focus bars and a year heatmap of focused days."""

from __future__ import annotations

from datetime import date, timedelta
from typing import ClassVar

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

BLOCKS = " ▁▂▃▄▅▆▇█"


class DayBars(Widget):
    """Focused minutes per day, one bar per day, oldest on the left, today on the right."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"daybars--bar", "daybars--today", "daybars--axis"}

    minutes: reactive[dict[date, int]] = reactive(dict)
    """Focused minutes by local day."""
    today: reactive[date | None] = reactive(None)
    days: reactive[int] = reactive(30)

    def layout_for(self, width: int) -> tuple[int, int, int]:
        """(days shown, columns per day, label width) in `width` columns: a gap between bars
        when it fits, wider bars when there is room, and only the latest days when even one
        column a day would not fit."""
        label_w = len(str(self.peak())) + 1
        room = max(1, width - label_w)
        return min(self.days, room), max(1, min(4, room // self.days)), label_w

    def peak(self) -> int:
        """The most minutes on one day of the window (the chart's scale)."""
        assert self.today is not None
        return max(self.minutes.get(self.today - timedelta(days=n), 0) for n in range(self.days))

    def render(self) -> Text:
        if self.today is None:
            return Text("loading…", style="dim")
        rows = max(2, self.size.height - 2)  # the axis and the date labels take two
        count, step, label_w = self.layout_for(self.size.width or 2 * self.days + 5)
        days = [self.today - timedelta(days=n) for n in range(count - 1, -1, -1)]
        values = [self.minutes.get(day, 0) for day in days]
        peak = self.peak()
        bar = self.get_component_rich_style("daybars--bar")
        now = self.get_component_rich_style("daybars--today")
        axis = self.get_component_rich_style("daybars--axis")
        scale = peak / rows if peak else 1.0
        width = max(1, step - 1) if step > 1 else 1
        gap = " " * (step - width)
        out = Text(no_wrap=True, overflow="crop")
        for row in range(rows, 0, -1):
            label = f"{peak}" if row == rows else ""
            out.append(label.rjust(label_w - 1) + "│", axis)
            for index, value in enumerate(values):
                eighths = round((value / scale - (row - 1)) * 8) if peak else 0
                block = BLOCKS[min(8, max(0, eighths))]
                if value and row == 1 and eighths <= 0:
                    block = BLOCKS[1]  # any focus at all shows as a sliver
                out.append(block * width, now if index == len(values) - 1 else bar)
                out.append(gap)
            out.append("\n")
        out.append(" " * (label_w - 1) + "└" + "─" * (step * len(values)) + "\n", axis)
        ticks = [" "] * (step * len(values) + label_w)
        for index in range(len(values) - 1, -1, -7):
            text = days[index].strftime("%d %b")
            start = label_w + step * index + width - len(text)
            if start >= label_w:
                ticks[start : start + len(text)] = list(text)
        out.append("".join(ticks).rstrip(), axis)
        if not peak:
            say_empty(out, (rows - 1) // 2, label_w)
        return out


def say_empty(out: Text, row: int, left: int) -> None:
    """Over an empty chart, one dim line in bar row `row` says why it is empty."""
    note = "no focus on these days yet"
    lines = out.plain.split("\n")
    line = lines[row]
    at = max(left, (len(line) - len(note)) // 2)
    if at + len(note) > len(line):
        return
    start = sum(len(text) + 1 for text in lines[:row]) + at
    out.plain = out.plain[:start] + note + out.plain[start + len(note) :]
    out.stylize("dim italic", start, start + len(note))


def month_labels(first: date, weeks: int) -> str:
    """`Jan` over the week holding the 1st of each month. A month starting in the last two weeks is
    drawn as far right as fits, so the current month is always named; where that crowds the
    month before, the older label gives way."""
    placed: list[tuple[int, str]] = []
    for week in range(weeks):
        sunday = first + timedelta(weeks=week, days=6)
        if sunday.day <= 7 and weeks >= 3:
            placed.append((min(week, weeks - 3), sunday.strftime("%b")))
    months = [" "] * weeks
    right_edge = weeks + 1
    for at, name in reversed(placed):
        if at + len(name) < right_edge:  # leave a blank column before the next label
            months[at : at + len(name)] = list(name)
            right_edge = at
    return "".join(months)


class YearHeatmap(Widget):
    """One cell per day for the last year, a column per week (Monday on top)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "heatmap--empty",
        "heatmap--l1",
        "heatmap--l2",
        "heatmap--l3",
        "heatmap--l4",
        "heatmap--label",
    }
    LEVELS: ClassVar[tuple[int, ...]] = (1, 25, 50, 100)
    """Focused minutes that reach each shade: any, a pomodoro, two, four."""

    minutes: reactive[dict[date, int]] = reactive(dict)
    today: reactive[date | None] = reactive(None)
    weeks: reactive[int] = reactive(53)

    def _shade(self, value: int) -> str:
        level = sum(value >= limit for limit in self.LEVELS)
        return "heatmap--empty" if level == 0 else f"heatmap--l{level}"

    def render(self) -> Text:
        if self.today is None:
            return Text("loading…", style="dim")
        weeks = max(1, min(self.weeks, (self.size.width or 57) - 4))
        last_monday = self.today - timedelta(days=self.today.weekday())
        first = last_monday - timedelta(weeks=weeks - 1)
        label = self.get_component_rich_style("heatmap--label")
        styles = {
            name: self.get_component_rich_style(name)
            for name in self.COMPONENT_CLASSES
            if name != "heatmap--label"
        }
        out = Text(no_wrap=True, overflow="crop")
        out.append("    " + month_labels(first, weeks) + "\n", label)
        for weekday in range(7):
            name = {0: "Mon", 2: "Wed", 4: "Fri"}.get(weekday, "")
            out.append(f"{name:<4}", label)
            for week in range(weeks):
                day = first + timedelta(weeks=week, days=weekday)
                if day > self.today:
                    out.append(" ")
                    continue
                out.append("■", styles[self._shade(self.minutes.get(day, 0))])
            out.append("\n")
        out.append("    less ", label)
        for name in ("heatmap--empty", "heatmap--l1", "heatmap--l2", "heatmap--l3", "heatmap--l4"):
            out.append("■", styles[name])
        out.append(" more", label)
        return out
