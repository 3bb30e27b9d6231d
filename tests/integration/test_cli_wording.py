"""The CLI's lines for real sessions (made by the service on a fake clock): one coin is
"1 coin", a break is not "focused", a settled ending says what happened and when, a
sub-minute focus completion says it did not count."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from app import cli_output as out
from app.clock import FakeClock
from app.domain.models import Mode
from app.services import FocusService

UTC = ZoneInfo("UTC")


async def test_one_coin_is_singular_and_a_break_is_not_focused(
    service: FocusService, clock: FakeClock
) -> None:
    await service.start(mode=Mode.LONG_BREAK, minutes=15)
    clock.advance(minutes=14)
    done = await service.complete()
    line = out.completed(done)
    assert line.startswith("Completed long break after 14 min, +3 xp, +1 coin. Level 1")
    assert "coins" not in line and "focused" not in line
    await service.start(mode=Mode.SHORT_BREAK, minutes=5)
    clock.advance(minutes=5)
    line = out.completed(await service.complete())
    assert line.startswith("Completed short break after 5 min, +2 xp.")
    stats = out.stats_text(await service.stats())
    assert "· 1 coin" in stats and "1 coins" not in stats
    await service.start(minutes=25)
    clock.advance(minutes=25)
    line = out.completed(await service.complete())
    assert line.startswith("Completed focus: 25 min focused, +25 xp, +5 coins.")
    assert line.endswith("streak 1 day.")


async def test_sub_minute_focus_says_it_does_not_count(
    service: FocusService, clock: FakeClock
) -> None:
    await service.start(minutes=25, task="Quick")
    clock.advance(seconds=20)
    line = out.completed(await service.complete())
    assert "(under a minute: too short to count, no reward)" in line
    stats = out.stats_text(await service.stats())
    today = stats.splitlines()[0]
    assert today.startswith("Today     0 focus completed, 1 too short to count, 0 abandoned")


async def test_endings_told_in_a_line(service: FocusService, clock: FakeClock) -> None:
    await service.start(minutes=25, task="Write", tags=["work"])  # 09:00
    clock.advance(minutes=27)
    ended = await service.last_ending_unseen()
    assert ended is not None
    assert out.ending(ended, clock.now(), UTC) == (
        'Focus session completed at 09:25, +25 xp, +5 coins: "Write" #work.'
    )
    await service.start(minutes=25)  # 09:27, runs out 09:52, grace until 10:17
    clock.advance(hours=2)
    ended = await service.last_ending_unseen()
    assert ended is not None
    assert out.ending(ended, clock.now(), UTC) == (
        "Focus session expired: left unattended past 10:17, no reward."
    )
    await service.start(minutes=5, mode=Mode.SHORT_BREAK)  # 11:27
    await service.pause()
    clock.advance(hours=3)
    ended = await service.last_ending_unseen()
    assert ended is not None
    assert out.ending(ended, clock.now(), UTC) == (
        "Short break expired: left paused past 13:27, no reward."
    )
    clock.advance(days=1)
    assert out.ending(ended, clock.now(), UTC).startswith(
        "Short break expired: left paused past 2026-03-02 13:27"
    )
