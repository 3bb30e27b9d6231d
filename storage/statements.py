"""The SQL every store shares, written once in what SQLite and Postgres both speak (`ON
CONFLICT`, row values, partial-index predicates), with named `:params`."""

from __future__ import annotations

import functools
import re

from storage.codec import SESSION_COLUMNS

PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
"""A `:name` parameter of these statements (casts such as `::uuid[]` are not)."""

BUCKET_COLS = ("completed", "abandoned", "expired", "focused_seconds", "xp", "coins")
COLS = ", ".join(SESSION_COLUMNS)
# Spelled exactly as the partial index's WHERE, so SQLite uses that index.
OPEN = "status IN ('active', 'paused')"

OPEN_SESSION = f"SELECT {COLS} FROM sessions WHERE user_id = :uid AND client_id = :cid AND {OPEN}"
LAST_ENDED = (
    f"SELECT {COLS} FROM sessions WHERE user_id = :uid AND client_id = :cid AND NOT {OPEN} "
    "ORDER BY started_at DESC, id DESC LIMIT 1"
)
GET_SESSION = f"SELECT {COLS} FROM sessions WHERE user_id = :uid AND id = :sid"
_STAMPED = (*SESSION_COLUMNS, "change_stamp")
INSERT_SESSION = (
    f"INSERT INTO sessions ({', '.join(_STAMPED)}) VALUES ({', '.join(':' + c for c in _STAMPED)})"
)
# SET names every column; the version guard makes a lost update impossible.
UPDATE_SESSION = (
    "UPDATE sessions SET "
    + ", ".join(f"{c} = :{c}" for c in _STAMPED if c not in ("id", "user_id"))
    + " WHERE user_id = :user_id AND id = :id AND version = :w_version"
)
_LEDGER_COLS = (
    "id",
    "user_id",
    "idempotency_key",
    "session_id",
    "xp",
    "coins",
    "reason",
    "created_at",
    "change_stamp",
)
ADD_LEDGER = (
    f"INSERT INTO ledger ({', '.join(_LEDGER_COLS)}) "
    f"VALUES ({', '.join(':' + c for c in _LEDGER_COLS)}) "
    "ON CONFLICT (user_id, idempotency_key) DO NOTHING"
)
ADD_ROLLUP = (
    f"INSERT INTO rollups (user_id, dim, mode, key, {', '.join(BUCKET_COLS)}) "
    f"VALUES (:user_id, :dim, :mode, :key, {', '.join(':' + c for c in BUCKET_COLS)}) "
    "ON CONFLICT (user_id, dim, mode, key) DO UPDATE SET "
    + ", ".join(f"{c} = rollups.{c} + excluded.{c}" for c in BUCKET_COLS)
)
TOTAL_XP = "SELECT coalesce(sum(xp), 0) FROM rollups WHERE user_id = :uid AND dim = 'all'"
# A rewarded focus session (a minute or more) keeps a streak.
REWARDED_FOCUS_DAYS = (
    "SELECT key FROM rollups WHERE user_id = :uid AND dim = 'day' AND mode = 'focus' AND xp > 0"
)
STREAK = "SELECT longest, last_day, last_run FROM streak_cache WHERE user_id = :uid"
# What an award needs to know, in one round trip: whether its ledger key is taken, the
# streak cache and the xp total.
AWARD_STATE = (
    "SELECT EXISTS (SELECT 1 FROM ledger WHERE user_id = :uid AND idempotency_key = :key), "
    "c.longest, c.last_day, c.last_run, "
    "(SELECT coalesce(sum(xp), 0) FROM rollups WHERE user_id = :uid AND dim = 'all') "
    "FROM (SELECT 1 AS one) AS o LEFT JOIN streak_cache AS c ON c.user_id = :uid"
)


@functools.lru_cache(maxsize=4)
def open_for_award(uuid_text: str) -> str:
    """A transaction's open session with what completing it needs: whether its completion's
    ledger key is taken (found by the unique key's index), the streak cache and the xp
    total. `uuid_text` turns a stored UUID column into `str(uuid)` text."""
    key = f"s.mode || '_complete:' || {uuid_text.format('s.id')}"
    return (
        f"SELECT {', '.join('s.' + c for c in SESSION_COLUMNS)}, "
        "EXISTS (SELECT 1 FROM ledger AS l WHERE l.user_id = s.user_id "
        f"AND l.idempotency_key = {key}), c.longest, c.last_day, c.last_run, "
        "(SELECT coalesce(sum(xp), 0) FROM rollups WHERE user_id = :uid AND dim = 'all') "
        "FROM sessions AS s LEFT JOIN streak_cache AS c ON c.user_id = s.user_id "
        f"WHERE s.user_id = :uid AND s.client_id = :cid AND s.{OPEN}"
    )


STORE_RUNS = (
    "INSERT INTO streak_cache (user_id, longest, last_day, last_run) "
    "VALUES (:uid, :longest, :last_day, :last_run) ON CONFLICT (user_id) DO UPDATE SET "
    "longest = excluded.longest, last_day = excluded.last_day, last_run = excluded.last_run"
)
ROLLUP_SELECT = f"SELECT dim, key, mode, {', '.join(BUCKET_COLS)} FROM rollups"
TOP = (
    "SELECT key, "
    + ", ".join(f"sum({c})" for c in BUCKET_COLS)
    + " FROM rollups WHERE user_id = :uid AND dim = :dim GROUP BY key "
    "ORDER BY sum(focused_seconds) DESC, sum(completed + abandoned) DESC, key LIMIT :n"
)
