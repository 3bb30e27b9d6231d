"""The reads: history pages, every session, stats, and the mode to offer next."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date, timedelta

from app.domain.errors import UsageError
from app.domain.models import Bucket, HistoryPage, Mode, Session, Stats, Status
from app.domain.rewards import level_for, streak_from_runs, suggest_next_mode
from app.domain.rollup import SHORT_DIM
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
        # Focus sessions completed in under a minute count apart from the completed ones
        # (and out of the completion rate): they earned nothing and keep no streak.
        short_all, short_by_day = 0, {}
        for row in await self.repo.rollups(SHORT_DIM):
            if row.key:
                short_by_day[date.fromisoformat(row.key)] = row.counts.completed
            else:
                short_all = row.counts.completed
        short_week = sum(n for d, n in short_by_day.items() if week_start <= d <= today)
        short_today = short_by_day.get(today, 0)
        return Stats(
            total=_apart(total, short_all),
            focus=_apart(by_mode.get(Mode.FOCUS, Bucket()), short_all),
            today=_apart(today_b, short_today),
            week=_apart(week_b, short_week),
            today_focus=_apart(today_f, short_today),
            week_focus=_apart(week_f, short_week),
            by_day={d: _apart(b, short_by_day.get(d, 0)) for d, b in by_day.items()},
            by_task=await self.repo.top("task", 10),
            by_tag=await self.repo.top("tag", 10),
            abandon_reasons=await self._abandon_reasons(10),
            level=level_for(total.xp),
            streak=streak_from_runs(*await self.repo.focus_day_runs(), today, self.repo.zone),
            coins=total.coins,
        )

    async def _abandon_reasons(self, limit: int) -> list[tuple[str, int]]:
        """Abandon reasons, most frequent first, grouped regardless of case ("meeting" and
        "Meeting" are one), each shown in its most frequent spelling."""
        groups: dict[str, dict[str, int]] = {}
        for row in await self.repo.rollups("reason"):
            spellings = groups.setdefault(row.key.casefold(), {})
            spellings[row.key] = spellings.get(row.key, 0) + row.counts.abandoned
        ranked = [
            (max(spellings, key=lambda k: (spellings[k], k)), sum(spellings.values()))
            for spellings in groups.values()
        ]
        ranked = [(k, n) for k, n in ranked if n > 0]
        ranked.sort(key=lambda item: (-item[1], item[0].casefold()))
        return ranked[:limit]

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


def _apart(bucket: Bucket, too_short: int) -> Bucket:
    """`bucket` with its focus sessions too short to count moved out of `completed`."""
    if not too_short:
        return bucket
    return replace(bucket, completed=bucket.completed - too_short, too_short=too_short)
