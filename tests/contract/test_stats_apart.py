"""The stats read model on both stores: focus sessions completed in under a minute count
apart ("too short to count": not completed, out of the completion rate, no reward, no
streak), and abandon reasons group regardless of case."""

from __future__ import annotations

from app.clock import FakeClock
from app.domain.models import Mode
from app.presenters import stats_dict
from app.services import FocusService
from storage.sql import SqlRepository
from tests.contract.helpers import cached, recount


async def test_sub_minute_focus_completions_count_apart(
    service: FocusService, repo: SqlRepository, clock: FakeClock
) -> None:
    await service.start(minutes=25)
    clock.advance(minutes=25)
    await service.complete()  # counts
    for seconds in (10, 59):
        await service.start(minutes=25)
        clock.advance(seconds=seconds)
        await service.complete()  # too short
    await service.start(minutes=25)
    clock.advance(minutes=2)
    await service.abandon("meeting")
    await service.start(minutes=5, mode=Mode.SHORT_BREAK)
    clock.advance(seconds=20)
    await service.complete()  # a short break: not a focus session, counted as before
    st = await service.stats()
    for bucket in (st.focus, st.today_focus, st.week_focus, st.by_day[service.today()]):
        assert (bucket.completed, bucket.too_short, bucket.abandoned) == (1, 2, 1)
        assert bucket.completion_rate == 0.5  # 1 of 2 that counted either way
    for bucket in (st.total, st.today, st.week):
        assert (bucket.completed, bucket.too_short) == (2, 2)  # the break is completed
    assert st.streak.current == 1  # the one that counted
    data = stats_dict(st)
    assert (data["focus"]["completed"], data["focus"]["too_short"]) == (1, 2)
    assert data["today_focus"]["completion_rate"] == 0.5
    # The cache still matches a recount from the sessions (the counts kept apart too).
    assert await cached(repo) == await recount(repo, repo.zone)


async def test_a_day_with_only_sub_minute_sessions_keeps_no_streak(
    service: FocusService, clock: FakeClock
) -> None:
    await service.start(minutes=25)
    clock.advance(seconds=30)
    done = await service.complete()
    assert (done.session.xp_awarded, done.streak.current) == (0, 0)
    st = await service.stats()
    assert (st.focus.completed, st.focus.too_short, st.focus.completion_rate) == (0, 1, None)
    assert st.streak.current == 0


async def test_abandon_reasons_group_regardless_of_case(
    service: FocusService, clock: FakeClock
) -> None:
    for reason in ("meeting", "Meeting", "meeting", "Phone", "phone", None):
        await service.start(minutes=25)
        clock.advance(minutes=1)
        await service.abandon(reason)
    await service.start(minutes=5, mode=Mode.SHORT_BREAK)
    await service.abandon("MEETING")
    st = await service.stats()
    # "Phone" and "phone" once each: a tie, shown in one spelling, counted together.
    assert st.abandon_reasons == [("meeting", 4), ("phone", 2), ("(no reason)", 1)]
