"""The heatmap's month row: each month named over the week holding its 1st, the current one too."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.tui.widgets.charts import month_labels


def grid_start(today: date, weeks: int = 53) -> date:
    """The Monday of the heatmap's first column, as YearHeatmap draws it."""
    return today - timedelta(days=today.weekday()) - timedelta(weeks=weeks - 1)


def column_of(first: date, day: date) -> int:
    return (day - first).days // 7


def test_each_month_sits_over_the_week_of_its_first_day() -> None:
    first = grid_start(date(2026, 11, 23))
    row = month_labels(first, 53)
    assert len(row) == 53
    for month in range(1, 11):
        day = date(2026, month, 1)
        name = day.strftime("%b")
        assert row[column_of(first, day) :].startswith(name), name


@pytest.mark.parametrize(
    "today", [date(2026, 12, 1), date(2026, 12, 6), date(2026, 12, 8), date(2027, 3, 2)]
)
def test_the_current_month_is_named_even_in_the_last_columns(today: date) -> None:
    row = month_labels(grid_start(today), 53)
    assert row.rstrip().endswith(today.strftime("%b"))
    assert len(row) == 53


def test_labels_never_run_together() -> None:
    for offset in range(0, 370, 3):
        row = month_labels(grid_start(date(2026, 1, 1) + timedelta(days=offset)), 53)
        words = row.split()
        assert all(len(word) == 3 for word in words), row
        assert len(words) >= 11, row


def test_a_narrow_grid_draws_what_fits() -> None:
    assert month_labels(date(2026, 11, 30), 2) == "  "
    assert month_labels(date(2026, 11, 30), 3) == "Dec"
