"""Push: the device's pending changes to the server, in batches, with exactly-once effects.

Each batch is one server transaction with a constant number of round trips:

1. BEGIN; bump the user's change counter (its row lock orders every writer of the user)
   and read this device's `last_mutation_id`: changes at or below it were applied before
   (acknowledged, skipped); a first change above `last + 1` is a gap (refused).
2. Coalesce: the latest state per entity; checked by the rules every server applies
   (`storage.sync.rules`). A change that fails them is rejected for good, with its reason.
3. Read what the server holds of those sessions (one statement), and merge: a finished
   session stays as it finished, otherwise the higher version wins, a tie going to the
   higher device id. A change that loses is acknowledged, and the server's row is stamped
   anew so the pull that follows brings it back to this device.
4. One `unnest` statement per table: sessions, ledger (append-only, a taken key is a no-op),
   the stats cache for sessions that finished on the server just now, the streak.
5. Record the rejections and advance `last_mutation_id`, in the same transaction; COMMIT.

Only after the commit does the device drop the acknowledged outbox rows (one local
transaction). A crash in between re-sends the batch, which then changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from app.domain.errors import ConfigError, RefusedError
from app.domain.models import LedgerEntry, Mode, Session
from storage.filing import known_zone, zone_name
from storage.pg_connect import load_asyncpg
from storage.sql import SqlRepository
from storage.sync import entities as ent
from storage.sync import server as srv
from storage.sync.device import (
    Pending,
    Rejection,
    acknowledge,
    fingerprint,
    ledger_of,
    read_outbox,
    read_state,
    session_of,
)
from storage.sync.rules import ledger_problem, session_problem

FaultHook = Callable[[str, srv.Link, SqlRepository, list[Pending], datetime], Awaitable[None]]
fault_hook: FaultHook | None = None
"""A seam for the fault-injection tests (tests/reliability), None in production: awaited
with "before_commit" (a batch written on the server, not committed) and "after_commit"
(committed there, not yet acknowledged here), with the link, store, batch and instant.
Raising drops the request or the response; it may also send the batch again."""


class GapError(RefusedError):
    """The server is missing changes of this device that came before this batch."""


class CopyError(ConfigError):
    """The server has changes under this device's ids that this database never made: it
    is a copy, or a backup restored after it synced."""


async def _check_not_a_copy(
    repo: SqlRepository, pending: list[Pending], last: int, last_change: str | None
) -> None:
    """The server applied changes up to `last` that this device never saw acknowledged:
    fine when they are this database's own (a crash between the server's commit and the
    local cleanup re-sends them), refused when the change numbered `last` here is another
    one, or missing: a copy of this database made them."""
    if last == 0 or last_change is None or (await read_state(repo)).pushed >= last:
        return
    here = next((p for p in pending if p.mutation_id == last), None)
    if here is None:
        found = await read_outbox(repo.conn, 1, only=last)
        here = found[0] if found else None
    if here is not None and fingerprint(here) == last_change:
        return
    if (await read_state(repo)).pushed >= last:
        return  # another process of this device acknowledged them meanwhile
    raise CopyError(
        f"the server holds changes up to {last} from this database's device id that this "
        "database did not make: it is a copy (or a backup restored after it synced). Sync "
        "another device from a fresh database (--db NEW), which pulls the history"
    )


@dataclass
class PushResult:
    pushed: int = 0
    """Changes (outbox rows) the server acknowledged."""
    written: int = 0
    """Rows written on the server."""
    rejected: list[Rejection] = field(default_factory=list)
    batches: int = 0


@dataclass
class _Batch:
    """One batch, coalesced and merged, ready to write."""

    sessions: list[tuple[Session, uuid.UUID]] = field(default_factory=list)
    ledger: list[LedgerEntry] = field(default_factory=list)
    finished: list[Session] = field(default_factory=list)
    """Sessions that finish on the server with this batch: their stats are added."""
    lost: list[uuid.UUID] = field(default_factory=list)
    """Sessions whose server state won over this device's: stamped anew for the pull."""
    rejected: list[Rejection] = field(default_factory=list)


def _coalesce(
    fresh: list[Pending], user_id: uuid.UUID, now: datetime, batch: _Batch
) -> tuple[dict[uuid.UUID, tuple[Pending, Session]], dict[str, tuple[Pending, LedgerEntry]]]:
    """The latest state of each entity, decoded and checked (failures into `rejected`)."""
    sessions: dict[uuid.UUID, tuple[Pending, Session]] = {}
    awards: dict[str, tuple[Pending, LedgerEntry]] = {}
    # Only the latest change of a session is decoded: the ones before it are superseded.
    latest = {c.entity_id: c for c in fresh if c.entity == "session"}
    for change in fresh:
        try:
            if change.entity == "session":
                if latest[change.entity_id] is change:
                    sessions[change.entity_id] = (change, session_of(change, user_id))
                elif not change.readable:
                    raise ValueError("malformed session change: not JSON")
            elif change.entity == "ledger":
                entry = ledger_of(change, user_id)
                awards.setdefault(entry.idempotency_key, (change, entry))
            else:
                raise ValueError(f"unknown kind of change {change.entity!r}")
        except ValueError as exc:
            batch.rejected.append(_rejection(change, str(exc), now))
    for sid, (change, session) in list(sessions.items()):
        problem = session_problem(session, now)
        if problem:
            del sessions[sid]
            batch.rejected.append(_rejection(change, problem, now))
    return sessions, awards


def _rejection(change: Pending, reason: str, now: datetime) -> Rejection:
    return Rejection(change.mutation_id, change.entity, change.entity_id, reason, now)


def _merge(
    sessions: dict[uuid.UUID, tuple[Pending, Session]],
    awards: dict[str, tuple[Pending, LedgerEntry]],
    existing: dict[uuid.UUID, tuple[Session, uuid.UUID, bool]],
    client_id: uuid.UUID,
    now: datetime,
    batch: _Batch,
) -> None:
    final: dict[uuid.UUID, Session] = {sid: e[0] for sid, e in existing.items()}
    for sid, (_, session) in sessions.items():
        found = existing.get(sid)
        if found is not None:
            held, writer, _ = found
            wins = not held.status.is_terminal and (
                session.status.is_terminal or (session.version, client_id) > (held.version, writer)
            )
            if not wins:
                if held != session:
                    batch.lost.append(sid)
                continue
        batch.sessions.append((session, client_id))
        final[sid] = session
        if session.status.is_terminal and (found is None or found[0].status.is_open):
            batch.finished.append(session)
    for change, entry in awards.values():
        of = entry.session_id
        if of is not None and of in existing and existing[of][2]:
            continue  # paid on the server already: this key is a no-op
        problem = ledger_problem(entry, final.get(of) if of else None)
        if problem:
            batch.rejected.append(_rejection(change, problem, now))
        else:
            batch.ledger.append(entry)


async def _write(
    link: srv.Link, batch: _Batch, user_id: uuid.UUID, stamp: int, zone: tzinfo
) -> int:
    written = 0
    if batch.sessions:
        written += len(
            await link.fetch(srv.UPSERT_SESSIONS, *srv.session_rows(batch.sessions, stamp))
        )
    await _stamp_lost(link, batch, user_id, stamp)
    if batch.ledger:
        written += len(await link.fetch(srv.INSERT_LEDGER, *srv.ledger_rows(batch.ledger, stamp)))
    await _derive(link, batch, user_id, zone)
    return written


async def _stamp_lost(link: srv.Link, batch: _Batch, user_id: uuid.UUID, stamp: int) -> None:
    if batch.lost:
        await link.execute(
            "UPDATE sessions SET change_stamp = $3 WHERE user_id = $1 AND id = ANY($2::uuid[])",
            user_id,
            batch.lost,
            stamp,
        )


async def _derive(link: srv.Link, batch: _Batch, user_id: uuid.UUID, zone: tzinfo) -> None:
    await srv.add_rollups(link, batch.finished, zone)
    if any(s.mode is Mode.FOCUS and s.xp_awarded > 0 for s in batch.finished):
        await srv.recount_streak(link, user_id, zone)


async def _write_carefully(
    link: srv.Link,
    batch: _Batch,
    changes: dict[object, Pending],
    ids: tuple[uuid.UUID, int, tzinfo],
    now: datetime,
) -> int:
    """`_write`, one entity per savepoint (sessions first, then the awards): what the server
    refuses is rejected with its reason, alone, and the rest is written."""
    user_id, stamp, zone = ids
    asyncpg = load_asyncpg()
    written = 0
    refused: set[uuid.UUID] = set()

    async def attempt(key: object, sql: str, args: list[list[Any]]) -> bool:
        nonlocal written
        await link.execute("SAVEPOINT focus_change")
        try:
            written += len(await link.fetch(sql, *args))
        except asyncpg.IntegrityConstraintViolationError as exc:
            await link.execute("ROLLBACK TO SAVEPOINT focus_change")
            batch.rejected.append(_rejection(changes[key], _server_reason(exc), now))
            return False
        await link.execute("RELEASE SAVEPOINT focus_change")
        return True

    for session, writer in sorted(batch.sessions, key=lambda p: p[0].status.is_open):
        rows = srv.session_rows([(session, writer)], stamp)
        if not await attempt(session.id, srv.UPSERT_SESSIONS, rows):
            refused.add(session.id)
    await _stamp_lost(link, batch, user_id, stamp)
    for entry in batch.ledger:
        await attempt(entry.idempotency_key, srv.INSERT_LEDGER, srv.ledger_rows([entry], stamp))
    batch.finished = [s for s in batch.finished if s.id not in refused]
    await _derive(link, batch, user_id, zone)
    return written


async def _write_others(link: srv.Link, others: ent.Others, user_id: uuid.UUID, stamp: int) -> int:
    """Libraries, then tracks, then deletions: one statement each."""
    if others.libraries:
        libs = [lib for _, lib in others.libraries.values()]
        await link.execute(ent.UPSERT_LIBRARIES, *ent.library_columns(libs, stamp))
    if others.tracks:
        tracks = [t for _, t in others.tracks.values()]
        await link.execute(ent.UPSERT_TRACKS, *ent.track_columns(tracks, stamp))
    if others.deletions:
        gone = [(i, kind, at) for i, (_, kind, at) in others.deletions.items()]
        await link.execute(ent.APPLY_DELETIONS, *ent.deletion_columns(user_id, gone, stamp))
    return len(others.libraries) + len(others.tracks) + len(others.deletions)


async def _others_carefully(
    link: srv.Link,
    others: ent.Others,
    user_id: uuid.UUID,
    stamp: int,
    batch: _Batch,
    now: datetime,
) -> int:
    """`_write_others`, an entity per savepoint: what the server refuses (a library name
    taken by another library) is rejected with its reason, the rest written."""
    asyncpg = load_asyncpg()
    written = 0
    single: list[tuple[Pending, ent.Others]] = [
        (p, ent.Others(libraries={i: (p, x)})) for i, (p, x) in others.libraries.items()
    ]
    single += [(p, ent.Others(tracks={i: (p, x)})) for i, (p, x) in others.tracks.items()]
    single += [
        (p, ent.Others(deletions={i: (p, k, a)})) for i, (p, k, a) in others.deletions.items()
    ]
    for change, one in single:
        await link.execute("SAVEPOINT focus_change")
        try:
            written += await _write_others(link, one, user_id, stamp)
        except asyncpg.IntegrityConstraintViolationError as exc:
            await link.execute("ROLLBACK TO SAVEPOINT focus_change")
            batch.rejected.append(_rejection(change, _server_reason(exc), now))
            continue
        await link.execute("RELEASE SAVEPOINT focus_change")
    return written


def _server_reason(exc: Exception) -> str:
    return "refused by the server: " + " ".join(str(exc).split()).removeprefix("focus: ")


async def push_batch(
    link: srv.Link,
    repo: SqlRepository,
    pending: list[Pending],
    now: datetime,
    careful: bool = False,
) -> tuple[int, list[Rejection], int]:
    """Apply one batch in one server transaction: (acknowledged through, rejections,
    rows written). `careful` writes an entity at a time (see `push_carefully`)."""
    user_id, client_id = repo.identity.user_id, repo.identity.client_id
    through = pending[-1].mutation_id
    await link.execute("BEGIN")
    try:
        head = (await link.fetch(srv.HEAD, user_id, client_id, zone_name(repo.zone), now))[0]
        stamp, zone_raw, last = int(head[0]), head[1], int(head[2])
        await _check_not_a_copy(repo, pending, last, head[3])
        zone = known_zone(zone_raw) or repo.zone
        fresh = [p for p in pending if p.mutation_id > last]
        if fresh and fresh[0].mutation_id > last + 1:
            raise GapError(
                f"the server has this device's changes up to {last}, and the next one here "
                f"is {fresh[0].mutation_id}: changes {last + 1}-{fresh[0].mutation_id - 1} "
                "are missing (was the server restored from a backup?)"
            )
        batch = _Batch()
        others, batch.rejected = ent.coalesce(
            [p for p in fresh if p.entity in ent.KINDS], user_id, now
        )
        if others.libraries:
            others.libraries = ent.free_names(
                others.libraries, await link.fetch(ent.LIBRARY_NAMES, user_id)
            )
        fresh = [p for p in fresh if p.entity not in ent.KINDS]
        sessions, awards = _coalesce(fresh, user_id, now, batch)
        ids = set(sessions) | {e.session_id for _, e in awards.values() if e.session_id}
        existing: dict[uuid.UUID, tuple[Session, uuid.UUID, bool]] = {}
        if ids:
            for row in await link.fetch(srv.EXISTING, user_id, list(ids)):
                found = srv.existing_session(row)
                existing[found[0].id] = found
        _merge(sessions, awards, existing, client_id, now, batch)
        if careful:
            changes: dict[object, Pending] = {sid: p for sid, (p, _) in sessions.items()}
            changes.update({key: p for key, (p, _) in awards.items()})
            written = await _write_carefully(link, batch, changes, (user_id, stamp, zone), now)
            written += await _others_carefully(link, others, user_id, stamp, batch, now)
        else:
            written = await _write(link, batch, user_id, stamp, zone)
            written += await _write_others(link, others, user_id, stamp)
        rejected = [(r.mutation_id, r.entity, r.entity_id, r.reason) for r in batch.rejected]
        await srv.finish_push(
            link, (user_id, client_id), rejected, (through, fingerprint(pending[-1])), now
        )
        if fault_hook is not None:
            await fault_hook("before_commit", link, repo, pending, now)
        await link.execute("COMMIT")
    except BaseException:
        await _rollback(link)
        raise
    return through, batch.rejected, written


async def _rollback(link: srv.Link) -> None:
    try:
        if not link.raw.is_closed() and link.raw.is_in_transaction():
            await link.execute("ROLLBACK")
    except Exception:  # the connection is gone: the server rolled back by itself
        link.raw.terminate()


async def push(link: srv.Link, repo: SqlRepository, now: datetime, batch_size: int) -> PushResult:
    """Push every pending change, `batch_size` at a time, oldest first."""
    result = PushResult()
    asyncpg = load_asyncpg()
    while True:
        pending = await read_outbox(repo.conn, batch_size)
        if not pending:
            return result
        try:
            through, rejected, written = await push_batch(link, repo, pending, now)
        except asyncpg.IntegrityConstraintViolationError:
            # The server refused a row these checks passed (a rule this version does not
            # know): apply the batch a change at a time, rejecting what it refuses.
            through, rejected, written = await push_carefully(link, repo, pending, now)
        if fault_hook is not None:
            await fault_hook("after_commit", link, repo, pending, now)
        await acknowledge(repo, through, rejected, now)
        result.pushed += len(pending)
        result.written += written
        result.rejected += rejected
        result.batches += 1
        if len(pending) < batch_size:
            return result


async def push_carefully(
    link: srv.Link, repo: SqlRepository, pending: list[Pending], now: datetime
) -> tuple[int, list[Rejection], int]:
    """The batch again in one transaction, coalesced as before, each entity's latest state
    in a savepoint of its own: what the server refuses is rejected with the server's reason,
    the rest applied. Round trips grow with the batch on this path, which only a server rule
    this version does not know (or a row another client planted) can lead to."""
    return await push_batch(link, repo, pending, now, careful=True)
