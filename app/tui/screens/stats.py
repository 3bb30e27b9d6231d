"""The stats screen: today, week, all time, daily chart, year heatmap, streaks, top lists."""

from __future__ import annotations

from datetime import date

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Static

from app.domain import timer
from app.domain.models import Bucket, Session, Stats
from app.presenters import clock_text
from app.textsafe import visible
from app.tui.errors import report
from app.tui.screens.reading import ReadingScreen
from app.tui.text import MODE_TITLES, minutes_text, rate_text
from app.tui.widgets.charts import DayBars, YearHeatmap
from app.tui.widgets.summary import LevelLine, plural
from app.tui.widgets.sync_header import SyncHeader

HEATMAP_DAYS = 7 * 53


def bucket_card(bucket: Bucket) -> str:
    rate = bucket.completion_rate
    return (
        f"{plural(bucket.completed, 'session')}\n"
        f"{minutes_text(bucket.focused_seconds)} focused\n"
        + (f"{rate_text(rate)} completed" if rate is not None else "none ended yet")
    )


def top_table(title: str, rows: list[tuple[str, str, str]], empty: str) -> Table:
    table = Table(box=None, expand=True, show_header=True, padding=(0, 1, 0, 0))
    table.add_column(title, ratio=1, no_wrap=True, overflow="ellipsis", header_style="bold")
    table.add_column("n", justify="right", header_style="dim")
    table.add_column("min", justify="right", header_style="dim")
    for name, count, minutes in rows:
        table.add_row(Text(visible(name)), count, minutes)
    if not rows:
        table.add_row(Text(empty, style="dim"), "", "")
    return table


class StatsScreen(ReadingScreen):
    """Everything `focus stats` knows, drawn; loaded once per visit (`r` reloads)."""

    def compose(self) -> ComposeResult:
        yield SyncHeader()
        with VerticalScroll(id="stats-body"):
            with Horizontal(id="stat-cards"):
                for key in ("today", "week", "all", "streak"):
                    yield Static("…\n\n", id=f"card-{key}", classes="card")
            yield LevelLine(id="level-line")
            yield Static("", id="open-line")
            yield DayBars(id="bars")
            yield YearHeatmap(id="heatmap")
            with Horizontal(id="tops"):
                yield Static(id="top-tasks", classes="top")
                yield Static(id="top-tags", classes="top")
                yield Static(id="top-reasons", classes="top")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Stats"
        titles = {"today": "Today", "week": "This week", "all": "All time", "streak": "Streak"}
        for key, title in titles.items():
            self.query_one(f"#card-{key}").border_title = title
        self.query_one(DayBars).border_title = "Focused minutes · last 30 days"
        self.query_one(YearHeatmap).border_title = "Focused days · last year"
        self.query_one("#stats-body").focus()
        self.action_reload()

    def action_reload(self) -> None:
        self.load()

    @work(exclusive=True, exit_on_error=False, group="stats")
    async def load(self) -> None:
        try:
            stats = await self.service.stats(days=HEATMAP_DAYS)
            current = await self.service.status()
        except Exception as exc:
            report(self, exc, "Loading stats")
            return
        self.show(stats, self.service.today())
        self.show_open(current)

    def show_open(self, session: Session | None) -> None:
        """The open session, which the numbers above count only once it ends."""
        line = self.query_one("#open-line", Static)
        line.display = session is not None
        if session is None:
            return
        now = self.service.clock.now()
        line.update(
            f"Now: {MODE_TITLES[session.mode].lower()} {session.status.value}, "
            f"{clock_text(timer.remaining(session, now))} left, "
            f"{minutes_text(timer.focused(session, now).total_seconds())} focused so far "
            "(counted when it ends)"
        )

    def show(self, stats: Stats, today: date) -> None:
        self.query_one("#card-today", Static).update(bucket_card(stats.today_focus))
        self.query_one("#card-week", Static).update(bucket_card(stats.week_focus))
        self.query_one("#card-all", Static).update(bucket_card(stats.focus))
        streak = stats.streak
        last = f"last {streak.last_day:%d %b}" if streak.last_day else "no focus day yet"
        self.query_one("#card-streak", Static).update(
            f"{plural(streak.current, 'day')} now\nbest {plural(streak.longest, 'day')}\n{last}"
        )
        line = self.query_one(LevelLine)
        line.level, line.coins = stats.level, stats.coins
        minutes = {day: b.focused_seconds // 60 for day, b in stats.by_day.items()}
        bars = self.query_one(DayBars)
        bars.minutes, bars.today = minutes, today
        heatmap = self.query_one(YearHeatmap)
        heatmap.minutes, heatmap.today = minutes, today

        def rows(items: list[tuple[str, Bucket]]) -> list[tuple[str, str, str]]:
            return [(k, str(b.completed), str(b.focused_seconds // 60)) for k, b in items[:5]]

        tags = [(f"#{k}", b) for k, b in stats.by_tag]
        self.query_one("#top-tasks", Static).update(
            top_table("Top tasks", rows(stats.by_task), "no tasks yet")
        )
        self.query_one("#top-tags", Static).update(top_table("Top tags", rows(tags), "no tags yet"))
        reasons = Table(box=None, expand=True, padding=(0, 1, 0, 0))
        reasons.add_column("Abandoned because", ratio=1, no_wrap=True, overflow="ellipsis")
        reasons.add_column("n", justify="right", header_style="dim")
        for reason, count in stats.abandon_reasons[:5]:
            reasons.add_row(Text(visible(reason)), str(count))
        if not stats.abandon_reasons:
            reasons.add_row(Text("nothing abandoned", style="dim"), "")
        self.query_one("#top-reasons", Static).update(reasons)
