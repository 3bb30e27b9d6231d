"""Rewards, levels and the focus/break cycle, at their boundaries."""

from __future__ import annotations

import pytest

from app.clock import FakeClock
from app.domain.models import Level, Mode, Reward, Status
from app.domain.rewards import level_for, reward_for, suggest_next_mode
from app.services import FocusService

# Focus: xp = max(5, seconds // 60), coins = max(2, seconds // 300); nothing under 60 s.
FOCUS_TABLE = [
    (0, Reward()),
    (1, Reward()),
    (59, Reward()),
    (60, Reward(xp=5, coins=2)),  # one minute earns the minimums
    (299, Reward(xp=5, coins=2)),  # 4 whole minutes: still the xp minimum
    (300, Reward(xp=5, coins=2)),  # 5 minutes, 1 coin's worth: the coin minimum wins
    (359, Reward(xp=5, coins=2)),
    (360, Reward(xp=6, coins=2)),
    (599, Reward(xp=9, coins=2)),
    (600, Reward(xp=10, coins=2)),
    (899, Reward(xp=14, coins=2)),
    (900, Reward(xp=15, coins=3)),
    (1500, Reward(xp=25, coins=5)),  # a default 25-minute session
    (3600, Reward(xp=60, coins=12)),
]


@pytest.mark.parametrize(("seconds", "reward"), FOCUS_TABLE)
def test_focus_reward_boundaries(seconds: int, reward: Reward) -> None:
    assert reward_for(Mode.FOCUS, seconds) == reward


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 12, 96])
def test_focus_reward_at_whole_multiples_of_five_minutes(n: int) -> None:
    # 300 n seconds is 5 n minutes and n coins' worth.
    assert reward_for(Mode.FOCUS, 300 * n) == Reward(xp=5 * n, coins=max(2, n))
    assert reward_for(Mode.FOCUS, 300 * n - 1) == Reward(xp=max(5, 5 * n - 1), coins=max(2, n - 1))


def test_focus_rewards_never_decrease_with_more_time() -> None:
    previous = Reward()
    for seconds in range(0, 4 * 3600, 7):
        current = reward_for(Mode.FOCUS, seconds)
        assert current.xp >= previous.xp and current.coins >= previous.coins
        previous = current


@pytest.mark.parametrize(
    ("mode", "reward"),
    [(Mode.SHORT_BREAK, Reward(xp=2, coins=0)), (Mode.LONG_BREAK, Reward(xp=3, coins=1))],
)
@pytest.mark.parametrize("seconds", [60, 300, 900, 3600])
def test_breaks_earn_a_flat_amount(mode: Mode, reward: Reward, seconds: int) -> None:
    assert reward_for(mode, seconds) == reward


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("seconds", [0, 30, 59])
def test_under_a_minute_earns_nothing_in_any_mode(mode: Mode, seconds: int) -> None:
    assert reward_for(mode, seconds) == Reward(xp=0, coins=0)


@pytest.mark.parametrize(
    ("xp", "level", "floor", "next_xp"),
    [
        (0, 1, 0, 100),
        (99, 1, 0, 100),
        (100, 2, 100, 400),
        (399, 2, 100, 400),
        (400, 3, 400, 900),
        (899, 3, 400, 900),
        (900, 4, 900, 1600),
        (2499, 5, 1600, 2500),
        (2500, 6, 2500, 3600),
    ],
)
def test_levels(xp: int, level: int, floor: int, next_xp: int) -> None:
    assert level_for(xp) == Level(
        level=level, total_xp=xp, level_floor_xp=floor, next_level_xp=next_xp
    )


def test_level_progress_and_negative_totals() -> None:
    assert level_for(250).progress == (250 - 100) / (400 - 100)
    assert level_for(100).progress == 0.0
    assert level_for(-50) == level_for(0)


def test_every_level_starts_exactly_at_its_floor() -> None:
    for level in range(1, 30):
        floor = 100 * (level - 1) ** 2
        assert level_for(floor).level == level
        if floor:
            assert level_for(floor - 1).level == level - 1


def test_suggestions_follow_the_cycle() -> None:
    every = 4
    seen = [suggest_next_mode(Mode.FOCUS, done, every) for done in range(1, 13)]
    expected = [Mode.LONG_BREAK if done % every == 0 else Mode.SHORT_BREAK for done in range(1, 13)]
    assert seen == expected
    assert seen.count(Mode.LONG_BREAK) == 3


def test_suggestion_edges() -> None:
    assert suggest_next_mode(Mode.FOCUS, 0, 4) is Mode.SHORT_BREAK
    for done in range(1, 5):
        assert suggest_next_mode(Mode.FOCUS, done, 1) is Mode.LONG_BREAK
        assert suggest_next_mode(Mode.FOCUS, done, 0) is Mode.LONG_BREAK  # treated as 1
    for mode in (Mode.SHORT_BREAK, Mode.LONG_BREAK):
        for done in range(6):
            assert suggest_next_mode(mode, done, 4) is Mode.FOCUS


async def test_service_suggests_a_long_break_after_every_fourth_focus(
    service: FocusService, clock: FakeClock
) -> None:
    every = service.rules.long_break_every
    suggestions = []
    for _ in range(2 * every):
        await service.start(Mode.FOCUS, minutes=25)
        clock.advance(minutes=25)  # ran out: settling completes it
        done = await service.settle()
        assert done is not None and done.status is Status.COMPLETED
        next_mode = await service.suggest_next(done)
        suggestions.append(next_mode)
        await service.start(next_mode, minutes=5)
        clock.advance(minutes=4)
        brk = await service.complete()
        assert await service.suggest_next(brk.session) is Mode.FOCUS
    expected = [
        Mode.LONG_BREAK if n % every == 0 else Mode.SHORT_BREAK for n in range(1, 2 * every + 1)
    ]
    assert suggestions == expected


async def test_service_completion_reports_level_ups(
    service: FocusService, clock: FakeClock
) -> None:
    total = 0
    level_ups = 0
    for _ in range(5):
        await service.start(Mode.FOCUS, minutes=25)
        clock.advance(minutes=24)  # finishing early rewards the time actually spent
        done = await service.complete()
        before = level_for(total).level
        total += reward_for(Mode.FOCUS, 24 * 60).xp
        assert done.session.xp_awarded == reward_for(Mode.FOCUS, 24 * 60).xp
        assert done.level == level_for(total)
        assert done.leveled_up is (level_for(total).level > before)
        assert done.level.total_xp == total
        level_ups += done.leveled_up
    assert level_ups == level_for(total).level - 1  # 5 x 24 xp crosses 100 once
