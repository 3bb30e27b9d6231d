"""The flows on a real SQLite file: lifecycle and rewards, settling on status, refusals,
history, stats, and hook events emitted only after the commit."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.clock import FakeClock
from app.domain.errors import RefusedError, UsageError
from app.domain.models import Bucket, Mode, Session, Status
from app.services import FocusService, TimerRules
from storage.local import open_repository
from storage.sql import SqlRepository, SqlTransaction

Events = list[tuple[str, dict[str, Any]]]


def ledger(path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT idempotency_key, xp, coins, reason FROM ledger ORDER BY created_at"
        ).fetchall()
    finally:
        conn.close()


def outbox_count(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])
    finally:
        conn.close()


def names(events: Events) -> list[str]:
    return [e for e, _ in events]


# -- the lifecycle ------------------------------------------------------------------------


async def test_full_lifecycle_rewards_only_focused_time(
    service: FocusService, clock: FakeClock, repo: SqlRepository, db_path: Path, events: Events
) -> None:
    start = clock.now()
    s = await service.start(task="  Write   report ", tags=["Deep", "#work,deep"], minutes=25)
    assert (s.status, s.mode, s.task_title, s.tags) == (
        Status.ACTIVE,
        Mode.FOCUS,
        "Write report",
        ("deep", "work"),
    )
    assert s.ends_at == start + timedelta(minutes=25)

    clock.advance(minutes=10)
    s = await service.pause()
    assert s.status is Status.PAUSED and s.paused_remaining == timedelta(minutes=15)
    clock.advance(hours=1, minutes=30)  # under max_pause (2 h): nothing expires
    assert await service.status() == s
    s = await service.resume()
    assert s.ends_at == clock.now() + timedelta(minutes=15)
    assert s.paused_total == timedelta(hours=1, minutes=30)

    clock.advance(minutes=5)
    s = await service.extend(5)
    assert s.ends_at == clock.now() + timedelta(minutes=15)
    assert s.target == timedelta(minutes=30)

    clock.advance(minutes=12)
    done = await service.complete()
    session = done.session
    assert session.status is Status.COMPLETED
    assert session.completed_at == clock.now()
    assert session.focused == timedelta(minutes=27)  # 10 + 5 + 12; the pause is not focus
    assert (session.xp_awarded, session.coins_awarded) == (27, 27 // 5)
    assert (done.reward.xp, done.reward.coins) == (27, 5)
    assert done.level.level == 1 and done.level.total_xp == 27 and not done.leveled_up
    assert (done.streak.current, done.streak.longest) == (1, 1)
    assert ledger(db_path) == [(f"focus_complete:{session.id}", 27, 5, "focus_complete")]
    assert await repo.get_session(session.id) == session
    assert await service.status() is None
    assert names(events) == ["start", "pause", "resume", "extend", "complete"]


async def test_crossing_a_hundred_xp_levels_up(
    service: FocusService, clock: FakeClock, db_path: Path
) -> None:
    results = []
    for _ in range(4):
        await service.start(minutes=30)
        clock.advance(minutes=25)
        results.append(await service.complete())
        clock.advance(minutes=5)
    assert [r.level.total_xp for r in results] == [25, 50, 75, 100]
    assert [r.leveled_up for r in results] == [False, False, False, True]
    assert results[-1].level.level == 2
    assert sum(xp for _, xp, _, _ in ledger(db_path)) == 100


@pytest.mark.parametrize(
    ("mode", "minutes", "focused_seconds", "xp", "coins"),
    [
        (Mode.FOCUS, 25, 59, 0, 0),  # under a minute: no start/complete farming
        (Mode.FOCUS, 25, 60, 5, 2),  # the minimums
        (Mode.FOCUS, 60, 50 * 60, 50, 10),
        (Mode.SHORT_BREAK, 5, 4 * 60, 2, 0),
        (Mode.SHORT_BREAK, 5, 30, 0, 0),
        (Mode.LONG_BREAK, 15, 14 * 60, 3, 1),
    ],
)
async def test_rewards_per_mode_and_nothing_under_a_minute(
    service: FocusService,
    clock: FakeClock,
    db_path: Path,
    mode: Mode,
    minutes: int,
    focused_seconds: int,
    xp: int,
    coins: int,
) -> None:
    await service.start(mode=mode, minutes=minutes)
    clock.advance(seconds=focused_seconds)
    done = await service.complete()
    assert (done.session.xp_awarded, done.session.coins_awarded) == (xp, coins)
    rows = ledger(db_path)
    if xp or coins:
        assert rows == [
            (f"{mode.value}_complete:{done.session.id}", xp, coins, f"{mode.value}_complete")
        ]
    else:
        assert rows == []  # no zero rows in the ledger
    stats = await service.stats()
    assert (stats.total.xp, stats.coins, stats.total.completed) == (xp, coins, 1)


async def test_abandon_records_the_reason_and_pays_nothing(
    service: FocusService, clock: FakeClock, db_path: Path, events: Events
) -> None:
    await service.start(minutes=25, task="Taxes")
    clock.advance(minutes=20)
    s = await service.abandon("  phone   call ")
    assert s.status is Status.ABANDONED
    assert s.abandon_reason == "phone call"
    assert s.abandoned_at == clock.now()
    assert s.focused == timedelta(minutes=20)
    assert (s.xp_awarded, s.coins_awarded) == (0, 0)
    assert ledger(db_path) == []
    assert names(events) == ["start", "abandon"]
    stats = await service.stats()
    assert stats.abandon_reasons == [("phone call", 1)]
    assert stats.total.focused_seconds == 0  # abandoned time earns no focus credit


async def test_extend_while_paused_adds_to_the_frozen_remaining_time(
    service: FocusService, clock: FakeClock
) -> None:
    await service.start(minutes=10)
    clock.advance(minutes=4)
    await service.pause()
    clock.advance(minutes=30)
    s = await service.extend(2.5)
    assert s.status is Status.PAUSED
    assert s.paused_remaining == timedelta(minutes=8, seconds=30)
    assert s.extended == timedelta(minutes=2, seconds=30)
    s = await service.resume()
    assert s.ends_at == clock.now() + timedelta(minutes=8, seconds=30)


# -- settling what ran out while nothing was running ----------------------------------------


async def test_status_completes_a_session_found_within_the_grace_window(
    service: FocusService, clock: FakeClock, repo: SqlRepository, db_path: Path, events: Events
) -> None:
    s = await service.start(minutes=25, task="Read")
    assert s.ends_at is not None
    clock.set(s.ends_at + timedelta(minutes=25))  # the last instant of the grace window
    assert await service.status() is None
    done = await repo.get_session(s.id)
    assert done is not None and done.status is Status.COMPLETED
    assert done.completed_at == s.ends_at  # completed at its end, not when found
    assert done.focused == timedelta(minutes=25)
    assert (done.xp_awarded, done.coins_awarded) == (25, 5)
    assert ledger(db_path) == [(f"focus_complete:{s.id}", 25, 5, "focus_complete")]
    assert names(events) == ["start", "complete"]
    assert events[-1][1]["status"] == "completed"


async def test_status_expires_a_session_found_beyond_the_grace_window(
    service: FocusService, clock: FakeClock, repo: SqlRepository, db_path: Path, events: Events
) -> None:
    s = await service.start(minutes=25)
    assert s.ends_at is not None
    clock.set(s.ends_at + timedelta(minutes=25, seconds=1))
    assert await service.status() is None
    gone = await repo.get_session(s.id)
    assert gone is not None and gone.status is Status.EXPIRED
    assert gone.expired_at == s.ends_at
    assert (gone.xp_awarded, gone.coins_awarded) == (0, 0)
    assert ledger(db_path) == []
    assert names(events) == ["start", "expire"]
    stats = await service.stats()
    assert (stats.total.expired, stats.total.completed, stats.total.xp) == (1, 0, 0)


async def test_a_pause_longer_than_the_limit_expires_at_the_limit(
    repo: SqlRepository, clock: FakeClock, zone: ZoneInfo, events: Events
) -> None:
    rules = TimerRules(max_pause=timedelta(minutes=30))
    service = FocusService(repo, clock, zone, rules, events=lambda e, s: events.append((e, s)))
    await service.start(minutes=25)
    clock.advance(minutes=5)
    paused = await service.pause()
    clock.advance(minutes=30)
    assert await service.status() == paused  # exactly at the limit: still paused
    clock.advance(seconds=1)
    assert await service.status() is None
    gone = await repo.get_session(paused.id)
    assert gone is not None and gone.status is Status.EXPIRED
    assert paused.paused_at is not None
    assert gone.expired_at == paused.paused_at + timedelta(minutes=30)
    assert gone.focused == timedelta(minutes=5)
    assert names(events) == ["start", "pause", "expire"]


async def test_acting_on_a_session_that_ran_out_settles_it_then_refuses(
    service: FocusService, clock: FakeClock, repo: SqlRepository, events: Events
) -> None:
    s = await service.start(minutes=10)
    clock.advance(minutes=12)
    with pytest.raises(RefusedError, match="already completed"):
        await service.pause()
    done = await repo.get_session(s.id)
    assert done is not None and done.status is Status.COMPLETED and done.xp_awarded == 10
    assert names(events) == ["start", "complete"]
    # And the next start finds nothing open.
    clock.advance(minutes=1)
    assert (await service.start(minutes=5)).status is Status.ACTIVE


async def test_start_settles_an_overdue_session_first(
    service: FocusService, clock: FakeClock, repo: SqlRepository, events: Events
) -> None:
    old = await service.start(minutes=10)
    clock.advance(hours=3)
    new = await service.start(minutes=10)  # no --force needed: the old one was over
    gone = await repo.get_session(old.id)
    assert gone is not None and gone.status is Status.EXPIRED
    assert (await repo.open_session()) == new
    assert names(events) == ["start", "expire", "start"]


# -- refusals -------------------------------------------------------------------------------


async def test_start_while_open_is_refused_and_writes_nothing(
    service: FocusService, clock: FakeClock, db_path: Path, events: Events
) -> None:
    first = await service.start(minutes=25, task="one")
    clock.advance(minutes=3)
    written = outbox_count(db_path)
    with pytest.raises(RefusedError, match=r"already active \(22:00 left\).*--force") as info:
        await service.start(minutes=10, task="two")
    assert info.value.exit_code == 1
    assert outbox_count(db_path) == written
    assert (await service.status()) == first
    assert names(events) == ["start"]


async def test_force_abandons_the_open_session_and_starts_anew(
    service: FocusService, clock: FakeClock, repo: SqlRepository, events: Events
) -> None:
    first = await service.start(minutes=25, task="one")
    clock.advance(minutes=7)
    await service.pause()
    second = await service.start(mode=Mode.SHORT_BREAK, minutes=5, force=True)
    old = await repo.get_session(first.id)
    assert old is not None and old.status is Status.ABANDONED
    assert old.abandoned_at == clock.now()
    assert old.abandon_reason == "replaced by a new session"
    assert old.focused == timedelta(minutes=7)
    assert (await repo.open_session()) == second
    assert second.mode is Mode.SHORT_BREAK
    assert names(events) == ["start", "pause", "abandon", "start"]
    assert events[2][1]["id"] == str(first.id) and events[3][1]["id"] == str(second.id)


@pytest.mark.parametrize("action", ["pause", "resume", "complete", "abandon", "extend"])
async def test_actions_without_an_open_session_are_refused(
    service: FocusService, action: str, events: Events
) -> None:
    call = getattr(service, action)
    with pytest.raises(RefusedError, match=f"cannot {action}: no open session"):
        await (call(5) if action == "extend" else call())
    assert events == []


async def test_pause_twice_and_resume_while_active_are_refused(
    service: FocusService, clock: FakeClock
) -> None:
    await service.start(minutes=25)
    with pytest.raises(RefusedError, match="not paused"):
        await service.resume()
    await service.pause()
    with pytest.raises(RefusedError, match="already paused"):
        await service.pause()


@pytest.mark.parametrize("minutes", [0, -5, 24 * 60 + 1, float("nan")])
async def test_bad_durations_are_usage_errors(
    service: FocusService, minutes: float, db_path: Path
) -> None:
    with pytest.raises(UsageError):
        await service.start(minutes=minutes)
    assert outbox_count(db_path) == 0
    await service.start(minutes=25)
    with pytest.raises(UsageError):
        await service.extend(minutes)


async def test_history_limit_and_cursor_are_validated(service: FocusService) -> None:
    for limit in (0, -1, 1001):
        with pytest.raises(UsageError, match="limit"):
            await service.history(limit=limit)
    for cursor in ("garbage", "!!!", "MjAyNg"):
        with pytest.raises(UsageError, match="cursor"):
            await service.history(before=cursor)


# -- history and stats ---------------------------------------------------------------------


async def _finish(
    service: FocusService,
    clock: FakeClock,
    at: datetime,
    *,
    mode: Mode = Mode.FOCUS,
    minutes: float,
    work: float,
    task: str | None = None,
    tags: tuple[str, ...] = (),
    how: str = "complete",
) -> Session:
    clock.set(at)
    s = await service.start(mode=mode, minutes=minutes, task=task, tags=tags)
    clock.advance(minutes=work)
    if how == "complete":
        return (await service.complete()).session
    if how == "abandon":
        return await service.abandon("meeting")
    await service.status()  # let the clock settle it
    found = await service.repo.get_session(s.id)
    assert found is not None
    return found


async def _a_week(service: FocusService, clock: FakeClock) -> list[Session]:
    """Sunday (last week) to Wednesday 2026-03-04; the clock ends on Wednesday 09:30."""

    def at(day: int, hour: int) -> datetime:
        return datetime(2026, 3, day, hour, 0, tzinfo=UTC)

    return [
        await _finish(
            service, clock, at(1, 20), minutes=30, work=20, task="Essay", tags=("writing",)
        ),
        await _finish(
            service, clock, at(2, 9), minutes=30, work=25, task="Essay", tags=("writing", "deep")
        ),
        await _finish(
            service,
            clock,
            at(2, 10),
            minutes=30,
            work=10,
            task="Code",
            tags=("deep",),
            how="abandon",
        ),
        await _finish(service, clock, at(3, 9), minutes=50, work=40, task="Code", tags=("deep",)),
        await _finish(service, clock, at(3, 10), mode=Mode.SHORT_BREAK, minutes=5, work=4),
        # Ends 11:25, grace until 11:50: found at 12:00, it expires (on Tuesday).
        await _finish(
            service,
            clock,
            at(3, 11),
            minutes=25,
            work=60,
            task="Code",
            tags=("deep",),
            how="settle",
        ),
        # Ends 09:25, found at 09:30: completed at its end with the full reward.
        await _finish(service, clock, at(4, 9), minutes=25, work=30, how="settle"),
    ]


async def test_history_lists_what_was_done_newest_first(
    service: FocusService, clock: FakeClock
) -> None:
    made = await _a_week(service, clock)
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


async def test_stats_today_week_tasks_tags_and_completion_rate(
    service: FocusService, clock: FakeClock
) -> None:
    await _a_week(service, clock)
    st = await service.stats()
    m = 60
    assert st.today == Bucket(completed=1, focused_seconds=25 * m, xp=25, coins=5)
    # Week from Monday 2 March: Essay 25, Code abandoned, Code 40, break, Code expired, 25.
    assert st.week == Bucket(
        completed=4, abandoned=1, expired=1, focused_seconds=90 * m, xp=92, coins=18
    )
    assert st.total == Bucket(
        completed=5, abandoned=1, expired=1, focused_seconds=110 * m, xp=112, coins=22
    )
    assert st.focus == Bucket(
        completed=4, abandoned=1, expired=1, focused_seconds=110 * m, xp=110, coins=22
    )
    assert st.total.completion_rate == pytest.approx(5 / 7)
    assert st.week.completion_rate == pytest.approx(4 / 6)
    # The focus-only slices leave the break (2 xp) out of the week.
    assert st.today_focus == st.today
    assert st.week_focus == Bucket(
        completed=3, abandoned=1, expired=1, focused_seconds=90 * m, xp=90, coins=18
    )
    assert st.by_task == [
        ("Essay", Bucket(completed=2, focused_seconds=45 * m, xp=45, coins=9)),
        (
            "Code",
            Bucket(completed=1, abandoned=1, expired=1, focused_seconds=40 * m, xp=40, coins=8),
        ),
    ]
    assert st.by_tag == [
        (
            "deep",
            Bucket(completed=2, abandoned=1, expired=1, focused_seconds=65 * m, xp=65, coins=13),
        ),
        ("writing", Bucket(completed=2, focused_seconds=45 * m, xp=45, coins=9)),
    ]
    assert st.abandon_reasons == [("meeting", 1)]
    assert (st.level.level, st.level.total_xp, st.coins) == (2, 112, 22)
    assert (st.streak.current, st.streak.longest, st.streak.last_day) == (4, 4, date(2026, 3, 4))
    assert {d.isoformat(): b.focused_seconds for d, b in st.by_day.items()} == {
        "2026-03-01": 20 * m,
        "2026-03-02": 25 * m,
        "2026-03-03": 40 * m,
        "2026-03-04": 25 * m,
    }
    # A day later nothing new happened today; the streak still counts (yesterday).
    clock.set(datetime(2026, 3, 5, 12, 0, tzinfo=UTC))
    later = await service.stats()
    assert later.today == Bucket() and later.today.completion_rate is None
    assert later.streak.current == 4
    clock.set(datetime(2026, 3, 9, 12, 0, tzinfo=UTC))  # next Monday: a new week, streak lost
    later = await service.stats()
    assert later.week == Bucket()
    assert (later.streak.current, later.streak.longest) == (0, 4)


async def test_stats_days_follow_the_configured_time_zone(
    db_path: Path, clock: FakeClock, repo: SqlRepository
) -> None:
    # 23:30 UTC on Monday is already Tuesday in Tokyo.
    utc = FocusService(repo, clock, ZoneInfo("UTC"))
    await _finish(utc, clock, datetime(2026, 3, 2, 23, 0, tzinfo=UTC), minutes=40, work=30)
    assert [d.isoformat() for d in (await utc.stats()).by_day] == ["2026-03-02"]
    tokyo = ZoneInfo("Asia/Tokyo")
    reopened = await open_repository(db_path, tokyo, clock.now())  # recounts the stats cache
    try:
        st = await FocusService(reopened, clock, tokyo).stats()
        assert [d.isoformat() for d in st.by_day] == ["2026-03-03"]
        assert st.today.completed == 1  # it is Tuesday 08:30 in Tokyo
        assert st.streak.last_day == date(2026, 3, 3)
    finally:
        await reopened.close()


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


# -- hook events ------------------------------------------------------------------------------


async def test_events_are_emitted_after_the_commit_with_the_committed_state(
    repo: SqlRepository, clock: FakeClock, zone: ZoneInfo, db_path: Path
) -> None:
    """Each sink call sees, from another connection, the very version it reports."""
    seen: list[tuple[str, str, int, str]] = []

    def sink(event: str, payload: dict[str, Any]) -> None:
        conn = sqlite3.connect(db_path)
        try:
            row = conn.execute(
                "SELECT status, version FROM sessions WHERE id = ?",
                (uuid.UUID(payload["id"]).hex,),
            ).fetchone()
        finally:
            conn.close()
        assert row == (payload["status"], payload["version"]), (event, row, payload)
        seen.append((event, payload["status"], payload["version"], payload["started_at"]))

    service = FocusService(repo, clock, zone, events=sink)
    await service.start(minutes=25, task="hooked")
    clock.advance(minutes=5)
    await service.pause()
    clock.advance(minutes=5)
    await service.resume()
    await service.extend(5)
    clock.advance(minutes=5)
    await service.start(minutes=10, force=True)
    clock.advance(minutes=8)
    await service.complete()
    assert [(e, st, v) for e, st, v, _ in seen] == [
        ("start", "active", 1),
        ("pause", "paused", 2),
        ("resume", "active", 3),
        ("extend", "active", 4),
        ("abandon", "abandoned", 5),
        ("start", "active", 1),
        ("complete", "completed", 2),
    ]
    assert all(ts.endswith("+00:00") for *_, ts in seen)


async def test_a_failed_transaction_emits_nothing_then_or_later(
    service: FocusService,
    clock: FakeClock,
    repo: SqlRepository,
    events: Events,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = await service.start(minutes=25)
    clock.advance(minutes=10)
    original = SqlTransaction.commit

    async def fail(self: SqlTransaction) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(SqlTransaction, "commit", fail)
    with pytest.raises(RuntimeError):
        await service.complete()
    with pytest.raises(RuntimeError):
        await service.start(minutes=5, force=True)
    monkeypatch.setattr(SqlTransaction, "commit", original)
    assert names(events) == ["start"]
    assert await repo.open_session() == started
    await service.pause()
    # The completion and the abandon that never happened are not reported afterwards.
    assert names(events) == ["start", "pause"]


async def test_complete_after_the_timer_ran_out_is_that_completion(
    service: FocusService, clock: FakeClock, repo: SqlRepository, events: Events
) -> None:
    s = await service.start(minutes=10)
    assert s.ends_at is not None
    clock.advance(minutes=11)
    done = await service.complete()
    assert done.session.id == s.id
    assert done.session.status is Status.COMPLETED
    assert done.session.completed_at == s.ends_at
    assert done.session.xp_awarded == 10
    stored = await repo.get_session(s.id)
    assert stored is not None and stored.xp_awarded == 10
    assert names(events) == ["start", "complete"]
    with pytest.raises(RefusedError, match="no open session"):
        await service.complete()


async def test_complete_after_the_session_expired_is_refused(
    service: FocusService, clock: FakeClock, repo: SqlRepository, events: Events
) -> None:
    s = await service.start(minutes=10)
    clock.advance(minutes=25)
    with pytest.raises(RefusedError, match="already expired"):
        await service.complete()
    stored = await repo.get_session(s.id)
    assert stored is not None and stored.status is Status.EXPIRED and stored.xp_awarded == 0
    assert names(events) == ["start", "expire"]
