"""The flows (start, pause, resume, extend, complete, abandon, ...): one transaction each.

Every flow first settles the open session against the clock (a session that ran out while
nothing was running is completed or expired), so the CLI and the TUI always agree.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from app.clock import Clock
from app.domain import timer
from app.domain.errors import ReadOnlyError, RefusedError, UsageError
from app.domain.models import (
    Bucket,
    Completion,
    HistoryPage,
    LedgerEntry,
    Mode,
    Session,
    Stats,
    Status,
)
from app.domain.rewards import level_for, reward_for, streak_from_runs, suggest_next_mode
from app.presenters import clock_text, session_dict
from storage.repository import Cursor, Repository, Transaction

EventSink = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class TimerRules:
    """The timer settings the flows need (built from the config by the bootstrap)."""

    focus: timedelta = timedelta(minutes=25)
    short_break: timedelta = timedelta(minutes=5)
    long_break: timedelta = timedelta(minutes=15)
    long_break_every: int = 4
    max_pause: timedelta = timedelta(minutes=120)
    week_start: int = 0
    """The first day of a week in stats, as `date.weekday()` counts (0 is Monday)."""

    def default_for(self, mode: Mode) -> timedelta:
        return {
            Mode.FOCUS: self.focus,
            Mode.SHORT_BREAK: self.short_break,
            Mode.LONG_BREAK: self.long_break,
        }[mode]


def encode_cursor(session: Session) -> str:
    raw = f"{session.started_at.isoformat()}|{session.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        started, _, ident = raw.partition("|")
        instant = datetime.fromisoformat(started)
        if instant.tzinfo is None:
            raise ValueError("naive")
        return Cursor(instant, uuid.UUID(ident))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise UsageError(
            f"invalid cursor {text!r}; use the next_cursor of a history page"
        ) from None


class _Flow:
    """One flow's transaction and the events it produced, fired only once it commits."""

    __slots__ = ("committed", "events", "tx")

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.events: list[tuple[str, Session]] = []
        self.committed = False

    def emit(self, event: str, session: Session) -> None:
        self.events.append((event, session))

    async def commit(self) -> None:
        await self.tx.commit()
        self.committed = True


class FocusService:
    def __init__(
        self,
        repo: Repository,
        clock: Clock,
        zone: tzinfo,
        rules: TimerRules | None = None,
        events: EventSink | None = None,
    ) -> None:
        self.repo = repo
        self.clock = clock
        self.zone = zone
        self.rules = rules or TimerRules()
        self.events = events

    # -- helpers -----------------------------------------------------------------------

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[_Flow]:
        """One flow: the repository's transaction and the events it produced. The events are
        fired once it has committed, and dropped if it never does, so concurrent flows (the
        app's workers) never report or lose each other's changes."""
        flow = None
        try:
            async with self.repo.transaction() as tx:
                flow = _Flow(tx)
                yield flow
        finally:
            if flow is not None and flow.committed:
                self._fire(flow.events)

    def _fire(self, events: list[tuple[str, Session]]) -> None:
        if self.events is None:
            return
        now = self.clock.now()
        for event, session in events:
            self.events(event, session_dict(session, now))

    async def _award(self, flow: _Flow, before: Session, after: Session) -> Completion:
        """Store a completion with its reward, ledger row and rollups in the caller's flow.tx."""
        reward = reward_for(after.mode, int(after.focused.total_seconds()))
        xp_before = await flow.tx.total_xp()
        after = replace(after, xp_awarded=reward.xp, coins_awarded=reward.coins)
        if reward.xp or reward.coins:
            inserted = await flow.tx.add_ledger(
                LedgerEntry(
                    id=uuid.uuid4(),
                    user_id=after.user_id,
                    idempotency_key=f"{after.mode.value}_complete:{after.id}",
                    session_id=after.id,
                    xp=reward.xp,
                    coins=reward.coins,
                    reason=f"{after.mode.value}_complete",
                    created_at=after.completed_at or after.updated_at or self.clock.now(),
                )
            )
            if not inserted:  # already paid once: never pay twice
                after = replace(after, xp_awarded=0, coins_awarded=0)
        await flow.tx.update_session(before, after)
        before_level = level_for(xp_before)
        level = level_for(xp_before + after.xp_awarded)
        today = self.clock.now().astimezone(flow.tx.zone).date()
        streak = streak_from_runs(*await flow.tx.focus_day_runs(), today, flow.tx.zone)
        flow.emit("complete", after)
        return Completion(after, reward, level, level.level > before_level.level, streak)

    async def _settle(
        self, flow: _Flow, now: datetime
    ) -> tuple[Session | None, Session | None, Completion | None]:
        """(open session after settling, session settling just finished, its completion)."""
        current = await flow.tx.open_session()
        if current is None:
            return None, None, None
        settled = timer.settle(current, now, self.rules.max_pause)
        if settled is current:
            return current, None, None
        if settled.status is Status.COMPLETED:
            completion = await self._award(flow, current, settled)
            return None, completion.session, completion
        await flow.tx.update_session(current, settled)
        flow.emit("expire", settled)
        return None, settled, None

    async def _require_open(self, flow: _Flow, now: datetime, action: str) -> Session:
        current, finished, _ = await self._settle(flow, now)
        return await self._open_or_refuse(flow, current, finished, now, action)

    async def _open_or_refuse(
        self,
        flow: _Flow,
        current: Session | None,
        finished: Session | None,
        now: datetime,
        action: str,
    ) -> Session:
        if current is not None:
            return current
        if finished is not None:
            await flow.commit()
            when = finished.ended_at.astimezone(self.zone) if finished.ended_at else now
            raise RefusedError(
                f"cannot {action}: the session already {finished.status.value} at {when:%H:%M}"
            )
        raise RefusedError(f"cannot {action}: no open session")

    async def _change(self, action: str, change: Callable[[Session, datetime], Session]) -> Session:
        now = self.clock.now()
        async with self._transaction() as flow:
            current = await self._require_open(flow, now, action)
            after = change(current, now)
            await flow.tx.update_session(current, after)
            flow.emit(action, after)
            await flow.commit()
        return after

    # -- flows -------------------------------------------------------------------------

    async def start(
        self,
        mode: Mode = Mode.FOCUS,
        minutes: float | None = None,
        task: str | None = None,
        tags: list[str] | tuple[str, ...] = (),
        force: bool = False,
    ) -> Session:
        planned = (
            timer.validate_minutes(minutes) if minutes is not None else self.rules.default_for(mode)
        )
        clean_tags = timer.normalize_tags(tags)
        now = self.clock.now()
        async with self._transaction() as flow:
            current, _, _ = await self._settle(flow, now)
            if current is not None:
                if not force:
                    left = clock_text(timer.remaining(current, now))
                    raise RefusedError(
                        f"a {current.mode.label} session is already {current.status.value} "
                        f"({left} left); use --force to abandon it and start anew"
                    )
                old = timer.abandon(current, now, "replaced by a new session")
                await flow.tx.update_session(current, old)
                flow.emit("abandon", old)
            session = timer.new_session(
                session_id=uuid.uuid4(),
                user_id=self.repo.identity.user_id,
                client_id=self.repo.identity.client_id,
                mode=mode,
                planned=planned,
                now=now,
                task_title=task,
                tags=clean_tags,
            )
            await flow.tx.insert_session(session)
            flow.emit("start", session)
            await flow.commit()
        return session

    async def pause(self) -> Session:
        return await self._change("pause", timer.pause)

    async def resume(self) -> Session:
        return await self._change("resume", timer.resume)

    async def extend(self, minutes: float) -> Session:
        extra = timer.validate_minutes(minutes)
        return await self._change("extend", lambda s, now: timer.extend(s, extra, now))

    async def abandon(self, reason: str | None = None) -> Session:
        return await self._change("abandon", lambda s, now: timer.abandon(s, now, reason))

    async def complete(self) -> Completion:
        """Complete the open session now; one that just ran out (and was completed at its
        end by the settle) is that completion, not a refusal."""
        now = self.clock.now()
        async with self._transaction() as flow:
            current, finished, completion = await self._settle(flow, now)
            if completion is not None:
                result = completion
            else:
                current = await self._open_or_refuse(flow, current, finished, now, "complete")
                result = await self._award(flow, current, timer.complete(current, now))
            await flow.commit()
        return result

    async def settle(self) -> Session | None:
        """Finish a session the clock overtook; returns it (completed or expired), else None."""
        now = self.clock.now()
        current = await self.repo.open_session()
        if current is None or timer.settle(current, now, self.rules.max_pause) is current:
            return None
        try:
            async with self._transaction() as flow:
                _, finished, _ = await self._settle(flow, now)
                await flow.commit()
        except ReadOnlyError:
            return None  # a read-only file shows what it holds; the next writer settles it
        return finished

    async def status(self) -> Session | None:
        """The open session after settling, or None."""
        await self.settle()
        return await self.repo.open_session()

    async def record_sleep(self, slept_from: datetime, woke_at: datetime, policy: str) -> Session:
        """Apply a detected suspend to the open session (see `timer.record_sleep`)."""
        async with self._transaction() as flow:
            current = await flow.tx.open_session()
            if current is None:
                raise RefusedError("no open session")
            after = timer.record_sleep(current, slept_from, woke_at, policy)
            if after is not current:
                await flow.tx.update_session(current, after)
                if after.status is Status.PAUSED and current.status is Status.ACTIVE:
                    flow.emit("pause", after)
                await flow.commit()
        return after

    # -- reads -------------------------------------------------------------------------

    async def history(
        self,
        limit: int = 25,
        before: str | None = None,
        statuses: tuple[Status, ...] = (),
        modes: tuple[Mode, ...] = (),
    ) -> HistoryPage:
        if not 1 <= limit <= 1000:
            raise UsageError(f"limit must be between 1 and 1000 (got {limit})")
        await self.settle()
        cursor = decode_cursor(before) if before else None
        rows = await self.repo.history(limit + 1, cursor, statuses, modes)
        page, more = rows[:limit], len(rows) > limit
        return HistoryPage(page, encode_cursor(page[-1]) if more and page else None)

    async def iter_all(self) -> AsyncIterator[Session]:
        await self.settle()
        async for session in self.repo.iter_sessions():
            yield session

    def today(self) -> date:
        """Today in the zone the stats cache is filed in (as last seen in the store)."""
        return self.clock.now().astimezone(self.repo.zone).date()

    async def stats(self, days: int = 30) -> Stats:
        await self.settle()
        # Days are the days of the zone the cache is filed in, whatever this process's zone.
        today = self.clock.now().astimezone(await self.repo.filing_zone()).date()
        week_start = today - timedelta(days=(today.weekday() - self.rules.week_start) % 7)
        since = min(week_start, today - timedelta(days=max(days, 1) - 1))
        by_day: dict[date, Bucket] = {}
        today_b = week_b = today_f = week_f = Bucket()
        for row in await self.repo.rollups("day", since.isoformat()):
            day = date.fromisoformat(row.key)
            focus = row.mode is Mode.FOCUS
            if day >= week_start:
                week_b += row.counts
                if focus:
                    week_f += row.counts
            if day == today:
                today_b += row.counts
                if focus:
                    today_f += row.counts
            if focus and day > today - timedelta(days=days):
                by_day[day] = by_day.get(day, Bucket()) + row.counts
        by_mode = await self.repo.totals_by_mode()
        total = sum(by_mode.values(), Bucket())
        reasons = await self.repo.top("reason", 10)
        return Stats(
            total=total,
            focus=by_mode.get(Mode.FOCUS, Bucket()),
            today=today_b,
            week=week_b,
            today_focus=today_f,
            week_focus=week_f,
            by_day=by_day,
            by_task=await self.repo.top("task", 10),
            by_tag=await self.repo.top("tag", 10),
            abandon_reasons=[(k, b.abandoned) for k, b in reasons],
            level=level_for(total.xp),
            streak=streak_from_runs(*await self.repo.focus_day_runs(), today, self.repo.zone),
            coins=total.coins,
        )

    async def suggest_next(self, finished: Session) -> Mode:
        """The mode to offer after `finished`: a long break every Nth completed focus."""
        if finished.mode is not Mode.FOCUS:
            return Mode.FOCUS
        done = 0
        async for s in self.repo.iter_sessions(page_size=50):
            if s.status is not Status.COMPLETED:
                continue
            if s.mode is Mode.LONG_BREAK or done >= self.rules.long_break_every:
                break
            if s.mode is Mode.FOCUS:
                done += 1
        return suggest_next_mode(Mode.FOCUS, done, self.rules.long_break_every)
