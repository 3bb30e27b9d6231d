"""The reads: history pages, every session, stats, and the mode to offer next."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta

from app.domain.errors import UsageError
from app.domain.models import Bucket, HistoryPage, Mode, Session, Stats, Status
from app.domain.rewards import level_for, streak_from_runs, suggest_next_mode
from app.services.cursors import decode_cursor, encode_cursor
from app.services.sessions import SessionFlows


class Reads(SessionFlows):
    async def history(
        self,
        limit: int = 25,
        before: str | None = None,
        statuses: tuple[Status, ...] = (),
        modes: tuple[Mode, ...] = (),
    ) -> HistoryPage:
        if not 1 <= limit <= 1000:
            raise UsageError(f"limit must be between 1 and 1000 (got {limit})")
        cursor = decode_cursor(before) if before else None
        rows, current = await self.repo.history_page(limit + 1, cursor, statuses, modes)
        if current is not None and self._needs_settling(current):
            await self.settle()
            rows, _ = await self.repo.history_page(limit + 1, cursor, statuses, modes)
        page, more = rows[:limit], len(rows) > limit
        return HistoryPage(page, encode_cursor(page[-1]) if more and page else None)

    async def session(self, session_id: uuid.UUID) -> Session | None:
        """One session as stored now (an open one settled first, so an ended one shows its end)."""
        current = await self.repo.open_session()
        if current is not None and current.id == session_id and self._needs_settling(current):
            await self.settle()
        return await self.repo.get_session(session_id)

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
