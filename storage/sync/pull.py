"""Pull: the rows of the user's other devices (and this one's, as the server merged them),
changed on the server since this device's cursor.

The server's change counter is bumped under the user's row lock by every write, so stamps
follow commit order and a row stamped at or below the counter read in a snapshot is
committed in it: the pull reads in one REPEATABLE READ snapshot, up to the counter it read
there, in pages keyed by (stamp, id), and the cursor moves to that counter only when every
page is applied. A crash on the way pulls the same rows again, which changes nothing.

Each page is applied in one local transaction with no outbox rows; the stats cache and
the streak are brought up to date for every session that changed. A session with changes
still to push is left as it is here (the push that sends them merges on the server, and a
change that loses comes back with the next pull). A row that fails the rules of
`storage.sync.rules` (a modified client can write its own rows straight into Postgres) is
skipped and reported; the rest syncs.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.domain.models import Bucket, LedgerEntry, Mode, Session
from app.domain.rollup import rollup_entries
from storage.codec import SESSION_COLUMNS, ledger_to_row, session_to_row
from storage.postgres import session_from_pg
from storage.sql import SqlRepository, SqlTransaction
from storage.statements import ADD_ROLLUP, COLS
from storage.sync import entities as ent
from storage.sync import server as srv
from storage.sync.device import pending_ids, read_state
from storage.sync.rules import ledger_problem, session_problem
from storage.unit import Conn, bucket_rows, integrity_error, recount_streak

PAGE = 5000
_STAMPED = (*SESSION_COLUMNS, "change_stamp")
UPSERT_LOCAL = (
    f"INSERT INTO sessions ({', '.join(_STAMPED)}) VALUES ({', '.join(':' + c for c in _STAMPED)}) "
    "ON CONFLICT (user_id, id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _STAMPED if c not in ("user_id", "id"))
)
_LEDGER = srv.LEDGER_COLUMNS
ADD_LEDGER_LOCAL = (
    f"INSERT INTO ledger ({', '.join(_LEDGER)}) VALUES ({', '.join(':' + c for c in _LEDGER)}) "
    "ON CONFLICT (user_id, id) DO NOTHING"
)
# This device's own award, back from the server: it now carries the server's stamp.
STAMP_LEDGER_LOCAL = (
    "UPDATE ledger SET change_stamp = :change_stamp WHERE user_id = :user_id AND id = :id"
)
EMPTY_ROLLUPS = (
    "DELETE FROM rollups WHERE user_id = :uid AND completed = 0 AND abandoned = 0 "
    "AND expired = 0 AND focused_seconds = 0 AND xp = 0 AND coins = 0"
)


@dataclass
class PullResult:
    pulled: int = 0
    """Rows that changed this device's store."""
    seen: int = 0
    """Rows the server sent."""
    kept: int = 0
    """Rows left as they are here: their entity has changes still to push."""
    skipped: list[str] = field(default_factory=list)
    """Rows refused, each as 'kind id: reason'."""
    cursor: int = 0


def _negated(b: Bucket) -> Bucket:
    return Bucket(-b.completed, -b.abandoned, -b.expired, -b.focused_seconds, -b.xp, -b.coins)


async def _local_sessions(tx: SqlTransaction, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Session]:
    found: dict[uuid.UUID, Session] = {}
    c = tx.conn
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        names = {f"i{n}": c.value(v) for n, v in enumerate(chunk)}
        rows = await c.fetch(
            f"SELECT {COLS} FROM sessions WHERE user_id = :uid AND id IN "
            f"({', '.join(':' + n for n in names)})",
            names | {"uid": c.value(tx.identity.user_id)},
        )
        for s in tx.skipped.decode(c, rows):
            found[s.id] = s
    return found


def _focus_days(entries: list[tuple[str, str, str, Bucket]]) -> bool:
    return any(d == "day" and m == Mode.FOCUS.value and b.xp for d, _, m, b in entries)


async def _apply_sessions(
    tx: SqlTransaction,
    rows: list[Any],
    pending: set[uuid.UUID],
    now: datetime,
    out: PullResult,
    known: dict[uuid.UUID, Session],
) -> None:
    width = len(SESSION_COLUMNS)
    incoming: list[tuple[Session, int]] = []
    for row in rows:
        try:
            session = session_from_pg(row[:width])
        except (ValueError, TypeError) as exc:
            out.skipped.append(f"session {row[0]}: unreadable ({exc})")
            continue
        problem = session_problem(session, now)
        if problem:
            out.skipped.append(f"session {session.id}: {problem}")
        elif session.id in pending:
            out.kept += 1
        else:
            incoming.append((session, int(row[width])))
    if not incoming:
        return
    here = await _local_sessions(tx, [s.id for s, _ in incoming])
    c = tx.conn
    changed = [(s, stamp) for s, stamp in incoming if here.get(s.id) != s]
    # Finished sessions first: a device's old session closed and its next one opened in
    # one push share a stamp, and the next one must not meet the old one still open here
    # (one open session per device).
    changed.sort(key=lambda pair: pair[0].status.is_open)
    values = [
        {k: c.value(v) for k, v in session_to_row(s).items()} | {"change_stamp": stamp}
        for s, stamp in changed
    ]
    applied = await _upsert_all(c, values)
    if applied is None:  # one of them is refused here: a row at a time, the rest applied
        applied = []
        for (session, _), row in zip(changed, values, strict=True):
            problem = await _upsert_one(c, row)
            if problem is None:
                applied.append(True)
            else:
                applied.append(False)
                out.skipped.append(f"session {session.id}: {problem}")
    zone = await tx.filing_zone()
    deltas: list[tuple[str, str, str, Bucket]] = []
    streak = False
    replaced: list[uuid.UUID] = []
    for (session, _), ok in zip(changed, applied, strict=True):
        if not ok:
            continue
        out.pulled += 1
        known[session.id] = session
        old = here.get(session.id)
        gone = rollup_entries(old, zone) if old is not None else []
        came = rollup_entries(session, zone)
        deltas += [(d, k, m, _negated(b)) for d, k, m, b in gone] + came
        streak = streak or _focus_days(gone) or _focus_days(came)
        if old is not None and old.status.is_terminal:
            replaced.append(session.id)
    uid = c.value(tx.identity.user_id)
    if replaced:
        # Their awards here were not the server's (they never came back stamped): the
        # server's, if any, come with the ledger rows.
        await c.executemany(
            "DELETE FROM ledger WHERE user_id = :uid AND session_id = :sid "
            "AND change_stamp IS NULL",
            [{"uid": uid, "sid": c.value(sid)} for sid in replaced],
        )
    if deltas:
        await c.executemany(ADD_ROLLUP, bucket_rows(c, tx.identity.user_id, deltas))
        await c.execute(EMPTY_ROLLUPS, {"uid": uid})
    if streak:
        tx.derived_rebuilt(await recount_streak(c, tx.identity.user_id, zone))


async def _upsert_all(c: Conn, rows: list[dict[str, Any]]) -> list[bool] | None:
    """Every row in one statement, or None (and nothing written) if the store refuses one."""
    if not rows:
        return []
    await c.execute("SAVEPOINT pulled", ())
    try:
        await c.executemany(UPSERT_LOCAL, rows)
    except c.integrity_errors:
        await c.execute("ROLLBACK TO pulled", ())
        await c.execute("RELEASE pulled", ())
        return None
    await c.execute("RELEASE pulled", ())
    return [True] * len(rows)


async def _upsert_one(c: Conn, row: dict[str, Any]) -> str | None:
    """One row in a savepoint of its own: None, or why the store refused it."""
    await c.execute("SAVEPOINT pulled", ())
    try:
        await c.execute(UPSERT_LOCAL, row)
    except c.integrity_errors as exc:
        await c.execute("ROLLBACK TO pulled", ())
        await c.execute("RELEASE pulled", ())
        return str(integrity_error(c, exc))
    await c.execute("RELEASE pulled", ())
    return None


def _entry(row: Sequence[Any]) -> LedgerEntry:
    def as_uuid(value: Any) -> uuid.UUID | None:
        return None if value is None else uuid.UUID(bytes=value.bytes)

    ident, user_id, session_id = as_uuid(row[0]), as_uuid(row[1]), as_uuid(row[3])
    if ident is None or user_id is None:
        raise ValueError("an award without its id")
    return LedgerEntry(
        ident, user_id, str(row[2]), session_id, int(row[4]), int(row[5]), str(row[6]), row[7]
    )


async def _apply_ledger(
    tx: SqlTransaction, rows: list[Any], out: PullResult, known: dict[uuid.UUID, Session]
) -> None:
    entries: list[tuple[LedgerEntry, int]] = []
    for row in rows:
        try:
            entries.append((_entry(row), int(row[-1])))
        except (ValueError, TypeError, AttributeError) as exc:
            out.skipped.append(f"award {row[0]}: unreadable ({exc})")
    if not entries:
        return
    # The sessions this pull wrote are known; the others are read from the store.
    wanted = {e.session_id for e, _ in entries if e.session_id and e.session_id not in known}
    here = known | await _local_sessions(tx, list(wanted))
    c = tx.conn
    uid = c.value(tx.identity.user_id)
    held = await _held_awards(c, uid, [e.id for e, _ in entries])
    fresh: list[dict[str, Any]] = []
    stamped: list[dict[str, Any]] = []
    for entry, stamp in entries:
        problem = ledger_problem(entry, here.get(entry.session_id) if entry.session_id else None)
        if problem:
            out.skipped.append(f"award {entry.id}: {problem}")
            continue
        row = {k: c.value(v) for k, v in ledger_to_row(entry).items()} | {"change_stamp": stamp}
        (stamped if row["id"] in held else fresh).append(row)
    if fresh:
        # Another award of the same session here (one this device made before the server's
        # won) gives way to the server's.
        await c.executemany(
            "DELETE FROM ledger WHERE user_id = :user_id AND idempotency_key = "
            ":idempotency_key AND id <> :id",
            fresh,
        )
        await c.executemany(ADD_LEDGER_LOCAL, fresh)
        out.pulled += len(fresh)
    if stamped:
        await c.executemany(STAMP_LEDGER_LOCAL, stamped)


async def _held_awards(c: Conn, uid: Any, ids: list[uuid.UUID]) -> set[Any]:
    """Which of these awards this store holds already (as stored values)."""
    found: set[Any] = set()
    for start in range(0, len(ids), 500):
        names = {f"i{n}": c.value(v) for n, v in enumerate(ids[start : start + 500])}
        rows = await c.fetch(
            f"SELECT id FROM ledger WHERE user_id = :uid AND id IN "
            f"({', '.join(':' + n for n in names)})",
            names | {"uid": uid},
        )
        found.update(r[0] for r in rows)
    return found


async def _pages(
    link: srv.Link, sql: str, user_id: uuid.UUID, cursor: int, top: int, page: int
) -> Any:
    after: tuple[int, uuid.UUID] = (0, srv.ZERO)
    while True:
        rows = await link.fetch(sql, user_id, cursor, top, *after, page)
        if rows:
            yield rows
            last = rows[-1]
            after = (int(last["change_stamp"]), uuid.UUID(bytes=last["id"].bytes))
        if len(rows) < page:
            return


async def _pull_others(
    link: srv.Link, repo: SqlRepository, span: tuple[int, int], page: int, out: PullResult
) -> None:
    """Libraries, then tracks, then deletions (which win over anything here)."""
    user_id = repo.identity.user_id
    later: list[tuple[str, dict[str, Any]]] = []
    for sql, kind in (
        (ent.PULL_LIBRARIES, "library"),
        (ent.PULL_TRACKS, "track"),
        (ent.PULL_DELETIONS, "deletion"),
    ):
        if kind == "track" and later:
            async with repo.transaction(local=False) as tx:
                out.pulled += await ent.apply_later(tx, later, out.skipped)
                await tx.commit()
        async for rows in _pages(link, sql, user_id, *span, page):
            out.seen += len(rows)
            async with repo.transaction(local=False) as tx:
                if kind == "deletion":
                    out.pulled += await ent.apply_deletions(tx, rows, out.skipped)
                else:
                    pending = await pending_ids(tx.conn, kind) | await pending_ids(
                        tx.conn, "deletion"
                    )
                    if kind == "library":
                        out.pulled += await ent.apply_libraries(
                            tx, rows, pending, out.skipped, later
                        )
                    else:
                        out.pulled += await ent.apply_tracks(tx, rows, pending, out.skipped)
                await tx.commit()


async def pull(link: srv.Link, repo: SqlRepository, now: datetime, page: int = PAGE) -> PullResult:
    """Bring this device up to the server's state of the user; the new cursor is saved
    only once every page is applied."""
    out = PullResult()
    state = await read_state(repo)
    user_id = repo.identity.user_id
    await link.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    try:
        top = int((await link.fetch(srv.PULL_STAMP, user_id))[0][0])
        out.cursor = top
        if top > state.pull_cursor:
            known: dict[uuid.UUID, Session] = {}
            async for rows in _pages(
                link, srv.PULL_SESSIONS, user_id, state.pull_cursor, top, page
            ):
                out.seen += len(rows)
                async with repo.transaction(local=False) as tx:
                    # Read under the write lock: a change made meanwhile by another
                    # process of this device (the app) is as pending as the older ones.
                    pending = await pending_ids(tx.conn, "session")
                    await _apply_sessions(tx, rows, pending, now, out, known)
                    await tx.commit()
            async for rows in _pages(link, srv.PULL_LEDGER, user_id, state.pull_cursor, top, page):
                out.seen += len(rows)
                async with repo.transaction(local=False) as tx:
                    await _apply_ledger(tx, rows, out, known)
                    await tx.commit()
            await _pull_others(link, repo, (state.pull_cursor, top), page, out)
        await link.execute("COMMIT")
    except BaseException:
        if not link.raw.is_closed() and link.raw.is_in_transaction():
            try:
                await link.execute("ROLLBACK")
            except Exception:
                link.raw.terminate()
        raise
    return out
