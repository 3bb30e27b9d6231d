"""History on both stores: keyset pages newest first (ties on the start time broken by id,
every row exactly once), filters by status and mode, and counts and rows exact per user:
another user's sessions are never counted or shown."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app.clock import FakeClock
from app.domain.models import Mode, Session, Status
from app.services import FocusService, encode_cursor
from storage.repository import Cursor
from storage.sql import SqlRepository
from tests.contract.conftest import Count, RepoFactory
from tests.contract.helpers import a_week, ledger_totals, rows


async def test_keyset_pages_with_tied_start_times_return_every_session_once(
    service: FocusService, clock: FakeClock, repo: SqlRepository
) -> None:
    made: list[Session] = []
    for instant_minutes in (0, 0, 0, 0, 0, 30, 30, 30, 60, 60, 90):
        clock.set(datetime(2026, 3, 2, 9, 0, tzinfo=UTC) + timedelta(minutes=instant_minutes))
        made.append(await service.start(minutes=25))
        await service.abandon()
    expected = sorted(made, key=lambda s: (s.started_at, s.id), reverse=True)

    seen: list[uuid.UUID] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await service.history(limit=3, before=cursor)
        pages += 1
        seen.extend(s.id for s in page.sessions)
        if page.next_cursor is None:
            break
        assert page.next_cursor == encode_cursor(page.sessions[-1])
        cursor = page.next_cursor
    assert seen == [s.id for s in expected]  # newest first, ties by id, each exactly once
    assert pages == 4

    # The repository page straight from a cursor in the middle of a tie (the second of
    # the three sessions started at 09:30, the third of the five started at 09:00).
    for index, minute in ((4, 30), (8, 0)):
        tie = expected[index]
        assert tie.started_at == datetime(2026, 3, 2, 9, minute, tzinfo=UTC)
        rest = await repo.history(100, Cursor(tie.started_at, tie.id))
        assert [s.id for s in rest] == [s.id for s in expected[index + 1 :]]
    # Every session, in pages smaller than a tie: each exactly once, in history order.
    everything = [s.id async for s in repo.iter_sessions(page_size=2)]
    assert everything == [s.id for s in expected]


async def test_history_filters_by_status_and_mode(
    service: FocusService, clock: FakeClock, repo: SqlRepository
) -> None:
    await service.start(mode=Mode.FOCUS, minutes=15)
    clock.advance(minutes=10)
    await service.complete()
    await service.start(mode=Mode.SHORT_BREAK, minutes=5)
    clock.advance(minutes=1)
    await service.abandon()
    await service.start(mode=Mode.FOCUS, minutes=5)
    clock.advance(minutes=1)
    await service.abandon()
    page = await service.history(statuses=(Status.ABANDONED,))
    assert [s.mode for s in page.sessions] == [Mode.FOCUS, Mode.SHORT_BREAK]
    page = await service.history(modes=(Mode.FOCUS,), statuses=(Status.COMPLETED,))
    assert len(page.sessions) == 1 and page.sessions[0].xp_awarded == 10
    finished = (Status.ABANDONED, Status.COMPLETED)
    both = await repo.history(10, statuses=finished, modes=(Mode.FOCUS,))
    assert [(s.mode, s.status) for s in both] == [
        (Mode.FOCUS, Status.ABANDONED),
        (Mode.FOCUS, Status.COMPLETED),
    ]
    assert await repo.history(10, modes=(Mode.LONG_BREAK,)) == []


async def test_history_lists_what_was_done_newest_first(
    service: FocusService, clock: FakeClock
) -> None:
    made = await a_week(service, clock)
    page = await service.history(limit=25)
    assert page.next_cursor is None
    assert [s.id for s in page.sessions] == [s.id for s in reversed(made)]
    got = [(s.mode, s.status, s.task_title, s.tags, s.xp_awarded) for s in page.sessions]
    assert got == [
        (Mode.FOCUS, Status.COMPLETED, None, (), 25),
        (Mode.FOCUS, Status.EXPIRED, "Code", ("deep",), 0),
        (Mode.SHORT_BREAK, Status.COMPLETED, None, (), 2),
        (Mode.FOCUS, Status.COMPLETED, "Code", ("deep",), 40),
        (Mode.FOCUS, Status.ABANDONED, "Code", ("deep",), 0),
        (Mode.FOCUS, Status.COMPLETED, "Essay", ("writing", "deep"), 25),
        (Mode.FOCUS, Status.COMPLETED, "Essay", ("writing",), 20),
    ]
    everything = [s async for s in service.iter_all()]
    assert everything == page.sessions


async def test_counts_and_history_are_exact_per_user(
    service: FocusService,
    repo: SqlRepository,
    clock: FakeClock,
    zone: ZoneInfo,
    open_other: RepoFactory,
    changes: Count,
) -> None:
    other_repo = await open_other(zone)
    other = FocusService(other_repo, clock, zone)

    async def work(svc: FocusService, completed: int, abandoned: int) -> None:
        for _ in range(completed):
            await svc.start(minutes=15, task="shared")
            clock.advance(minutes=10)
            await svc.complete()
        for _ in range(abandoned):
            await svc.start(minutes=10, task="shared")
            clock.advance(minutes=2)
            await svc.abandon()

    await work(service, 3, 1)
    mine_recorded = await changes(repo)
    theirs_recorded = await changes(other_repo)
    await work(other, 2, 4)
    # The other user's writes are recorded as theirs, never as mine.
    assert await changes(repo) == mine_recorded
    assert await changes(other_repo) > theirs_recorded
    # Each user may even hold an open session at the same time on the same store.
    mine_open = await service.start(minutes=10)
    theirs_open = await other.start(minutes=10)
    assert await repo.open_session() == mine_open
    assert await other_repo.open_session() == theirs_open

    mine, theirs = await service.stats(), await other.stats()
    assert (mine.total.completed, mine.total.abandoned) == (3, 1)
    assert (theirs.total.completed, theirs.total.abandoned) == (2, 4)
    assert mine.total.xp == 30 and theirs.total.xp == 20
    assert mine.by_task == [("shared", mine.focus)]
    assert theirs.by_task == [("shared", theirs.focus)]
    assert len((await service.history(limit=100)).sessions) == 3 + 1 + 1
    assert len((await other.history(limit=100)).sessions) == 2 + 4 + 1
    assert len([s async for s in repo.iter_sessions()]) == 3 + 1 + 1
    assert await repo.total_xp() == 30 and await other_repo.total_xp() == 20
    assert await ledger_totals(repo) == (30, 6) and await ledger_totals(other_repo) == (20, 4)
    assert await repo.focus_day_runs() == (1, clock.now().date(), 1)
    # Nothing of one user can be read through the other's repository.
    assert await repo.get_session(theirs_open.id) is None
    assert await other_repo.get_session(mine_open.id) is None
    assert all(s.user_id == repo.identity.user_id for s in await repo.history(100))
    counted = await rows(repo, "SELECT count(*) FROM sessions WHERE user_id = :uid")
    assert counted == [(3 + 1 + 1,)]


async def test_a_long_break_is_suggested_after_four_completed_focus_sessions(
    service: FocusService, clock: FakeClock
) -> None:
    suggestions = []
    for _ in range(4):
        await service.start(minutes=25)
        clock.advance(minutes=20)
        done = (await service.complete()).session
        suggestions.append(await service.suggest_next(done))
        clock.advance(minutes=1)
    assert suggestions == [Mode.SHORT_BREAK] * 3 + [Mode.LONG_BREAK]
    await service.start(mode=Mode.LONG_BREAK, minutes=15)
    clock.advance(minutes=10)
    brk = (await service.complete()).session
    assert await service.suggest_next(brk) is Mode.FOCUS
