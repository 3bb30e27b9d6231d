"""The one schema (SQLAlchemy Core) shared by SQLite and Postgres.

Every row carries `user_id`; ids are client-generated UUIDs; mutable entities carry a
`version` that increases on every change (the sync merge rule needs it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    text,
)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in, aware UTC out; naive datetimes are refused (SQLite drops zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime refused: {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


OPEN = "status IN ('active', 'paused')"

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# Every primary, unique and foreign key starts with `user_id`: on a shared server a key
# error can then never tell one user that another user's row exists (referential checks
# bypass row-level security), and the schema distributes by `user_id` (Citus).
# `change_stamp` is the user's change counter at the row's last change on the server (the
# pull cursor of other devices); NULL on a device for rows not yet pushed.

sessions = Table(
    "sessions",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("id", Uuid, primary_key=True),
    Column("client_id", Uuid, nullable=False),
    Column("mode", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("task_title", Text),
    Column("tags", JSON, nullable=False),
    Column("planned_seconds", Integer, nullable=False),
    Column("extended_us", BigInteger, nullable=False, server_default="0"),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime),
    Column("paused_at", UTCDateTime),
    Column("paused_remaining_us", BigInteger),
    Column("pause_count", Integer, nullable=False, server_default="0"),
    Column("paused_us", BigInteger, nullable=False, server_default="0"),
    Column("slept_us", BigInteger, nullable=False, server_default="0"),
    Column("focused_us", BigInteger, nullable=False, server_default="0"),
    Column("completed_at", UTCDateTime),
    Column("abandoned_at", UTCDateTime),
    Column("expired_at", UTCDateTime),
    Column("abandon_reason", Text),
    Column("xp_awarded", Integer, nullable=False, server_default="0"),
    Column("coins_awarded", Integer, nullable=False, server_default="0"),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("change_stamp", BigInteger),
    # The device whose push last changed the row on the server (breaks a tie of versions).
    Column("changed_by", Uuid),
    CheckConstraint("mode IN ('focus', 'short_break', 'long_break')", name="mode"),
    CheckConstraint(
        "status IN ('active', 'paused', 'completed', 'abandoned', 'expired')", name="status"
    ),
    CheckConstraint("planned_seconds > 0", name="planned_positive"),
)
# The pull pages by (change_stamp, id): one push stamps all of its rows alike.
Index("ix_sessions_change_stamp", sessions.c.user_id, sessions.c.change_stamp, sessions.c.id)
Index(
    "ix_sessions_history",
    sessions.c.user_id,
    sessions.c.started_at.desc(),
    sessions.c.id.desc(),
)
# One open (active or paused) session per user per device.
Index(
    "uq_sessions_open",
    sessions.c.user_id,
    sessions.c.client_id,
    unique=True,
    sqlite_where=text(OPEN),
    postgresql_where=text(OPEN),
)

ledger = Table(
    "ledger",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("id", Uuid, primary_key=True),
    Column("idempotency_key", String(128), nullable=False),
    Column("session_id", Uuid),
    Column("xp", Integer, nullable=False),
    Column("coins", Integer, nullable=False),
    Column("reason", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("change_stamp", BigInteger),
    UniqueConstraint("user_id", "idempotency_key"),
)
Index("ix_ledger_change_stamp", ledger.c.user_id, ledger.c.change_stamp, ledger.c.id)

# A cache of per-day / per-task / per-tag counts, derived from sessions in the same
# transaction as each terminal transition, so stats stay fast at a million sessions.
rollups = Table(
    "rollups",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("dim", String(8), primary_key=True),
    Column("mode", String(16), primary_key=True),
    Column("key", Text, primary_key=True),
    Column("completed", Integer, nullable=False, server_default="0"),
    Column("abandoned", Integer, nullable=False, server_default="0"),
    Column("expired", Integer, nullable=False, server_default="0"),
    Column("focused_seconds", BigInteger, nullable=False, server_default="0"),
    Column("xp", BigInteger, nullable=False, server_default="0"),
    Column("coins", BigInteger, nullable=False, server_default="0"),
    # Clustered on the key on SQLite: a user's days of one mode are read in one sweep.
    sqlite_with_rowid=False,
)

# Runs of consecutive rewarded focus days (the streak), a cache kept with the day rollups:
# adding the next day is O(1); a day added out of order recounts from the day rows.
streak_cache = Table(
    "streak_cache",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("longest", Integer, nullable=False),
    Column("last_day", String(10)),
    Column("last_run", Integer, nullable=False),
)

libraries = Table(
    "libraries",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("id", Uuid, primary_key=True),
    Column("name", String(120), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("library_type", String(32), nullable=False, server_default="music"),
    Column("is_favorite", Boolean, nullable=False, server_default=text("false")),
    Column("tracks_count", Integer, nullable=False, server_default="0"),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("change_stamp", BigInteger),
    UniqueConstraint("user_id", "name"),
)

tracks = Table(
    "tracks",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("id", Uuid, primary_key=True),
    Column("library_id", Uuid, nullable=False),
    Column("title", Text, nullable=False),
    Column("local_path", Text),
    Column("size_bytes", BigInteger),
    Column("sha256", String(64)),
    Column("content_type", String(128)),
    Column("duration_seconds", Integer),
    Column("r2_key", Text),
    Column("upload_state", String(16), nullable=False, server_default="pending"),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("added_at", UTCDateTime, nullable=False),
    Column("change_stamp", BigInteger),
    Column("updated_at", UTCDateTime),
    Column("last_error", Text),
    Column("attempts", Integer, nullable=False, server_default="0"),
    ForeignKeyConstraint(
        ["user_id", "library_id"],
        ["libraries.user_id", "libraries.id"],
        ondelete="CASCADE",
    ),
)
Index("ix_tracks_library", tracks.c.user_id, tracks.c.library_id)

deletions = Table(
    "deletions",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("entity", String(16), primary_key=True),
    Column("entity_id", Uuid, primary_key=True),
    Column("deleted_at", UTCDateTime, nullable=False),
    Column("change_stamp", BigInteger),
)
Index("ix_deletions_change_stamp", deletions.c.user_id, deletions.c.change_stamp)

# A device's multipart uploads under way, and the parts the object store acknowledged.
uploads = Table(
    "uploads",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("sha256", String(64), primary_key=True),
    Column("object_key", Text, nullable=False),
    Column("upload_id", Text, nullable=False),
    Column("part_size", BigInteger, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

upload_parts = Table(
    "upload_parts",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("sha256", String(64), primary_key=True),
    Column("part_number", Integer, primary_key=True),
    Column("etag", Text, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    ForeignKeyConstraint(
        ["user_id", "sha256"], ["uploads.user_id", "uploads.sha256"], ondelete="CASCADE"
    ),
)

outbox = Table(
    "outbox",
    metadata,
    # AUTOINCREMENT: mutation ids strictly increase and are never reused, even after deletes.
    Column("mutation_id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Uuid, nullable=False),
    Column("client_id", Uuid, nullable=False),
    Column("entity", String(16), nullable=False),
    Column("entity_id", Uuid, nullable=False),
    Column("version", Integer, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    sqlite_autoincrement=True,
)
Index("ix_outbox_entity", outbox.c.entity, outbox.c.entity_id)

sync_state = Table(
    "sync_state",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("client_id", Uuid, primary_key=True),
    Column("last_pushed_mutation_id", BigInteger, nullable=False, server_default="0"),
    Column("pull_cursor", BigInteger, nullable=False, server_default="0"),
    Column("last_sync_at", UTCDateTime),
    Column("last_error", Text),
)

# -- the shared server's own tables (present on a device too, and unused there) -------------

# Which login role is which user: written only by `focus server add-user` (the admin);
# row-level security shows a client role its own row, the one its policies go through.
users = Table(
    "focus_users",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("role_name", String(63), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
)

# Per user: the change counter (bumped by every write transaction, whose row lock orders
# them, so stamps follow commit order) and the zone the user's stats cache is filed in.
user_state = Table(
    "user_state",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("change_stamp", BigInteger, nullable=False, server_default="0"),
    Column("rollup_tz", Text),
)

# Per (user, device): the last outbox mutation applied, advanced in the push's transaction.
sync_clients = Table(
    "sync_clients",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("client_id", Uuid, primary_key=True),
    Column("last_mutation_id", BigInteger, nullable=False, server_default="0"),
    Column("updated_at", UTCDateTime, nullable=False),
    # The last applied change, "kind:id:version": a device whose copy (or restored backup)
    # reuses its change ids is told from one re-sending a batch it never saw acknowledged.
    Column("last_change", Text),
)

# Changes a push refused, with the reason: on the server, and on the device that sent them.
sync_rejections = Table(
    "sync_rejections",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("client_id", Uuid, primary_key=True),
    Column("mutation_id", BigInteger, primary_key=True),
    Column("entity", String(16), nullable=False),
    Column("entity_id", Uuid, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
