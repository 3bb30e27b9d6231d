"""The session lifecycle on both stores: start, pause, resume, extend, complete, abandon,
settling what ran out while nothing ran, the refusals, and one open session per user
(device), which the database itself enforces."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.clock import FakeClock
from app.domain.errors import RefusedError, UsageError
from app.domain.models import Mode, Session, Status
from app.services import FocusService, TimerRules
from storage.sql import SqlRepository
from tests.contract.conftest import Mark, RepoFactory
from tests.contract.helpers import insert_raw, ledger, rows

Events = list[tuple[str, dict[str, Any]]]


def names(events: Events) -> list[str]:
    return [e for e, _ in events]


# -- the lifecycle ------------------------------------------------------------------------


async def test_full_lifecycle_rewards_only_focused_time(
    service: FocusService, clock: FakeClock, repo: SqlRepository, events: Events
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
    assert await repo.get_session(s.id) == s

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
    assert await repo.open_session() == s
    assert s.version == 4  # every change raised the version by one

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
    assert await ledger(repo) == [(f"focus_complete:{session.id}", 27, 5, "focus_complete")]
    assert await repo.get_session(session.id) == session
    assert await service.status() is None
    assert names(events) == ["start", "pause", "resume", "extend", "complete"]


async def test_abandon_records_the_reason_and_pays_nothing(
    service: FocusService, clock: FakeClock, repo: SqlRepository, events: Events
) -> None:
    await service.start(minutes=25, task="Taxes")
    clock.advance(minutes=20)
    s = await service.abandon("  phone   call ")
    assert s.status is Status.ABANDONED
    assert s.abandon_reason == "phone call"
    assert s.abandoned_at == clock.now()
    assert s.focused == timedelta(minutes=20)
    assert (s.xp_awarded, s.coins_awarded) == (0, 0)
    assert await repo.get_session(s.id) == s
    assert await ledger(repo) == []
    assert names(events) == ["start", "abandon"]
    stats = await service.stats()
    assert stats.abandon_reasons == [("phone call", 1)]
    assert stats.total.focused_seconds == 0  # abandoned time earns no focus credit


async def test_extend_while_paused_adds_to_the_frozen_remaining_time(
    service: FocusService, clock: FakeClock, repo: SqlRepository
) -> None:
    await service.start(minutes=10)
    clock.advance(minutes=4)
    await service.pause()
    clock.advance(minutes=30)
    s = await service.extend(2.5)
    assert s.status is Status.PAUSED
    assert s.paused_remaining == timedelta(minutes=8, seconds=30)
    assert s.extended == timedelta(minutes=2, seconds=30)
    assert await repo.open_session() == s
    s = await service.resume()
    assert s.ends_at == clock.now() + timedelta(minutes=8, seconds=30)


# -- settling what ran out while nothing was running ----------------------------------------


async def test_status_completes_a_session_found_within_the_grace_window(
    service: FocusService, clock: FakeClock, repo: SqlRepository, events: Events
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
    assert await ledger(repo) == [(f"focus_complete:{s.id}", 25, 5, "focus_complete")]
    assert names(events) == ["start", "complete"]
    assert events[-1][1]["status"] == "completed"


async def test_status_expires_a_session_found_beyond_the_grace_window(
    service: FocusService, clock: FakeClock, repo: SqlRepository, events: Events
) -> None:
    s = await service.start(minutes=25)
    assert s.ends_at is not None
    clock.set(s.ends_at + timedelta(minutes=25, seconds=1))
    assert await service.status() is None
    gone = await repo.get_session(s.id)
    assert gone is not None and gone.status is Status.EXPIRED
    assert gone.expired_at == s.ends_at
    assert (gone.xp_awarded, gone.coins_awarded) == (0, 0)
    assert await ledger(repo) == []
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


# -- refusals -------------------------------------------------------------------------------


async def test_start_while_open_is_refused_and_writes_nothing(
    service: FocusService,
    clock: FakeClock,
    repo: SqlRepository,
    events: Events,
    written: Mark,
) -> None:
    first = await service.start(minutes=25, task="one")
    clock.advance(minutes=3)
    before = await written(repo)
    with pytest.raises(RefusedError, match=r"already active \(22:00 left\).*--force") as info:
        await service.start(minutes=10, task="two")
    assert info.value.exit_code == 1
    assert await written(repo) == before
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
    service: FocusService, clock: FakeClock, repo: SqlRepository
) -> None:
    started = await service.start(minutes=25)
    with pytest.raises(RefusedError, match="not paused"):
        await service.resume()
    assert await repo.open_session() == started
    paused = await service.pause()
    with pytest.raises(RefusedError, match="already paused"):
        await service.pause()
    assert await repo.open_session() == paused


@pytest.mark.parametrize("minutes", [0, -5, 24 * 60 + 1, float("nan")])
async def test_bad_durations_are_usage_errors(
    service: FocusService, repo: SqlRepository, minutes: float, written: Mark
) -> None:
    before = await written(repo)
    with pytest.raises(UsageError):
        await service.start(minutes=minutes)
    assert await written(repo) == before
    started = await service.start(minutes=25)
    with pytest.raises(UsageError):
        await service.extend(minutes)
    assert await repo.open_session() == started


# -- one open session per user and device ----------------------------------------------------


async def test_the_database_itself_refuses_a_second_open_session(
    service: FocusService,
    repo: SqlRepository,
    open_other: RepoFactory,
    clock: FakeClock,
    zone: ZoneInfo,
) -> None:
    first = await service.start(minutes=25)

    def shaped(status: Status) -> Session:
        """`first` as another session in `status`, with the fields that status needs (the
        shared server checks them)."""
        at = first.started_at + timedelta(minutes=1)
        ends = {
            Status.PAUSED: {"ends_at": None, "paused_at": at, "paused_remaining": first.planned},
            Status.COMPLETED: {"completed_at": at},
            Status.ABANDONED: {"abandoned_at": at},
            Status.EXPIRED: {"expired_at": at},
        }
        return replace(first, id=uuid.uuid4(), status=status, **ends.get(status, {}))  # type: ignore[arg-type]

    for status in (Status.ACTIVE, Status.PAUSED):
        with pytest.raises(repo.conn.integrity_errors) as info:
            await insert_raw(repo, shaped(status))
        assert repo.conn.constraint(info.value) == "uq_sessions_open"
    # Terminal sessions are unlimited, and another device (client) may have its own open one.
    terminal = (Status.COMPLETED, Status.ABANDONED, Status.EXPIRED, Status.COMPLETED)
    for status in (*terminal, Status.ABANDONED):
        await insert_raw(repo, shaped(status))
    await insert_raw(repo, replace(first, id=uuid.uuid4(), client_id=uuid.uuid4()))
    # And another user has an open session of their own at the same time.
    other = await open_other(zone)
    theirs = await FocusService(other, clock, zone).start(minutes=10)
    assert await other.open_session() == theirs

    counts = dict(
        await rows(
            repo, "SELECT status, count(*) FROM sessions WHERE user_id = :uid GROUP BY status"
        )
    )
    assert counts == {"active": 2, "completed": 2, "abandoned": 2, "expired": 1}
    mine = await rows(
        repo,
        "SELECT count(*) FROM sessions WHERE user_id = :uid AND client_id = :cid "
        "AND status IN ('active', 'paused')",
        cid=repo.identity.client_id,
    )
    assert mine == [(1,)]
    assert await repo.open_session() == first


async def test_the_repository_maps_the_index_violation_to_refused(
    repo: SqlRepository, service: FocusService
) -> None:
    first = await service.start(minutes=25)
    # Bypass the service's own check: insert a second open session in a transaction. (A
    # store may send the write with a later statement or the commit: the refusal comes by
    # the commit at the latest.)
    second = replace(first, id=uuid.uuid4())
    with pytest.raises(RefusedError, match="already open"):
        async with repo.transaction() as tx:
            await tx.insert_session(second)
            await tx.commit()
    assert await repo.get_session(second.id) is None
    assert (await repo.open_session()) == first
