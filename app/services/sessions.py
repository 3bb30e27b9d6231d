"""The flows (start, pause, resume, extend, complete, abandon, ...): one transaction each.

Every flow first settles the open session against the clock (a session that ran out while
nothing was running is completed or expired), so the CLI and the TUI always agree.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from app.domain import timer
from app.domain.errors import OpenSessionError, ReadOnlyError, RefusedError, UsageError
from app.domain.models import Completion, LedgerEntry, Mode, Session, Status
from app.domain.rewards import level_for, reward_for, streak_from_runs
from app.presenters import clock_text
from app.services.base import SEEN_KEY, Flow, ServiceBase, instant_text, retried


class SessionFlows(ServiceBase):
    async def _award(self, flow: Flow, before: Session, after: Session) -> Completion:
        """Store a completion with its reward, ledger row and rollups in the caller's flow.tx."""
        reward = reward_for(after.mode, int(after.focused.total_seconds()))
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
        # The total now holds this award (the store adds it with the stats, just above).
        xp_before = await flow.tx.total_xp() - after.xp_awarded
        before_level = level_for(xp_before)
        level = level_for(xp_before + after.xp_awarded)
        today = self.clock.now().astimezone(flow.tx.zone).date()
        streak = streak_from_runs(*await flow.tx.focus_day_runs(), today, flow.tx.zone)
        flow.emit("complete", after)
        return Completion(after, reward, level, level.level > before_level.level, streak)

    async def _settle(
        self, flow: Flow, now: datetime
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

    async def _require_open(self, flow: Flow, now: datetime, action: str) -> Session:
        current, finished, _ = await self._settle(flow, now)
        return await self._open_or_refuse(flow, current, finished, now, action)

    async def _open_or_refuse(
        self,
        flow: Flow,
        current: Session | None,
        finished: Session | None,
        now: datetime,
        action: str,
    ) -> Session:
        if current is not None:
            return current
        if finished is not None:
            await self._note_seen(flow, finished.ended_at or now)  # the refusal tells it
            await flow.commit()
            when = finished.ended_at.astimezone(self.zone) if finished.ended_at else now
            raise RefusedError(
                f"cannot {action}: the session already {finished.status.value} at {when:%H:%M}"
                f"{_outcome(finished)}"
            )
        raise RefusedError(f"cannot {action}: no open session")

    @retried
    async def _change(self, action: str, change: Callable[[Session, datetime], Session]) -> Session:
        now = self.clock.now()
        async with self._transaction() as flow:
            current = await self._require_open(flow, now, action)
            after = change(current, now)
            await flow.tx.update_session(current, after)
            if after.ended_at is not None:
                await self._note_seen(flow, after.ended_at)
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
        started, _ = await self.start_replacing(mode, minutes, task, tags, force)
        return started

    @retried
    async def start_replacing(
        self,
        mode: Mode = Mode.FOCUS,
        minutes: float | None = None,
        task: str | None = None,
        tags: list[str] | tuple[str, ...] = (),
        force: bool = False,
    ) -> tuple[Session, Session | None]:
        """`start`, and the open session it abandoned to do so (`force`), else None."""
        planned = (
            timer.validate_minutes(minutes) if minutes is not None else self.rules.default_for(mode)
        )
        clean_tags = timer.normalize_tags(tags)
        now = self.clock.now()
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
        # Most starts find nothing open: insert straight away, and let the store's
        # one-open-session rule say when there is something to settle, refuse or replace.
        try:
            async with self._transaction() as flow:
                await flow.tx.insert_session(session)
                flow.emit("start", session)
                await flow.commit()
            return session, None
        except OpenSessionError:
            pass
        replaced = None
        async with self._transaction() as flow:
            current, _, _ = await self._settle(flow, now)
            if current is not None:
                if not force:
                    left = clock_text(timer.remaining(current, now))
                    raise RefusedError(
                        f"a {current.mode.label} session is already {current.status.value} "
                        f"({left} left); use --force to abandon it and start anew"
                    )
                replaced = timer.abandon(current, now, "replaced by a new session")
                await flow.tx.update_session(current, replaced)
                await self._note_seen(flow, replaced.ended_at or now)
                flow.emit("abandon", replaced)
            await flow.tx.insert_session(session)
            flow.emit("start", session)
            await flow.commit()
        return session, replaced

    async def pause(self) -> Session:
        return await self._change("pause", timer.pause)

    async def resume(self) -> Session:
        return await self._change("resume", timer.resume)

    async def extend(self, minutes: float) -> Session:
        extra = timer.validate_minutes(minutes)
        return await self._change("extend", lambda s, now: timer.extend(s, extra, now))

    async def abandon(self, reason: str | None = None) -> Session:
        return await self._change("abandon", lambda s, now: timer.abandon(s, now, reason))

    @retried
    async def edit(self, task: str | None = None, tags: list[str] | None = None) -> Session:
        """Set or change the open (running or paused) session's title and/or tags.

        `task`: the new title ("" clears it), None keeps it; `tags`: the new tags, replacing
        the old ones ([] clears them), None keeps them. The same rules as `start` apply.
        One transaction with its outbox row, the version raised, so the change syncs. A
        change to nothing new writes nothing and returns the session as it is.
        """
        if task is None and tags is None:
            raise UsageError("nothing to change: give a task title or tags")
        title = timer.normalize_task(task) if task is not None else None
        clean_tags = timer.normalize_tags(tags) if tags is not None else None
        now = self.clock.now()
        async with self._transaction() as flow:
            current = await self._require_open(flow, now, "edit")
            changes: dict[str, object] = {}
            if task is not None and title != current.task_title:
                changes["task_title"] = title
            if clean_tags is not None and clean_tags != current.tags:
                changes["tags"] = clean_tags
            if not changes:
                return current
            after = replace(
                current,
                version=current.version + 1,
                updated_at=max(now, timer.last_change(current)),
                **changes,  # type: ignore[arg-type]
            )
            await flow.tx.update_session(current, after)
            flow.emit("edit", after)
            await flow.commit()
        return after

    @retried
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
            await self._note_seen(flow, result.session.ended_at or now)
            await flow.commit()
        return result

    def _needs_settling(self, current: Session) -> bool:
        return timer.settle(current, self.clock.now(), self.rules.max_pause) is not current

    @retried
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

    async def last_ending_unseen(self) -> Session | None:
        """The last session of this device that ended (completed, expired or abandoned)
        since its user was last told of one, once: it is then marked told. Ending it with
        a flow (complete, abandon, `start --force`) or a refusal that names it tells it.

        Kept per device: in the device's own `meta` table, or, on a shared server (whose
        client may not write there), in a small file in this machine's state folder
        ($XDG_STATE_HOME/focus/device-<client id>.json).
        """
        await self.settle()
        last = await self.repo.last_ended()
        if last is None or last.ended_at is None:
            return None
        seen = await self._seen_until()
        if seen is not None and last.ended_at <= seen:
            return None
        value = instant_text(last.ended_at)
        try:
            if not await self.repo.set_device_value(SEEN_KEY, value):
                self._write_state(SEEN_KEY, value)
        except ReadOnlyError:
            pass  # a read-only file: told again by the next command that can write
        return last

    async def status(self) -> Session | None:
        """The open session after settling, or None."""
        await self.settle()
        return await self.repo.open_session()

    @retried
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


def _outcome(finished: Session) -> str:
    """What a refusal adds about the session that just ended (it is then told)."""
    if finished.xp_awarded or finished.coins_awarded:
        earned = f", +{finished.xp_awarded} xp"
        if finished.coins_awarded:
            coins = finished.coins_awarded
            earned += f", +{coins} coin{'' if coins == 1 else 's'}"
        return earned
    if finished.status is Status.COMPLETED and finished.mode is Mode.FOCUS:
        return " (under a minute: too short to count, no reward)"
    return ", no reward"
