"""Keys that start with user_id, change stamps, and the shared server's own tables.

Every primary key of a user's rows becomes (user_id, id): on a shared Postgres a key error
can no longer tell one user that another user's row exists. Sessions, ledger rows,
libraries and tracks get `change_stamp` (the user's change counter at the row's last change
on the server). New tables: `focus_users` (login role -> user), `user_state` (the per-user
change counter and stats zone) and `sync_clients` (the last mutation applied per device).

SQLite cannot change a primary key in place: its tables are rebuilt (renamed aside,
created anew, copied by column name, dropped), tracks and libraries together so the
foreign key's cascade never fires. The file was backed up before any upgrade.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 13:30:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status IN ('active', 'paused')"
REKEYED = ("sessions", "ledger", "libraries", "tracks")


def _columns(table: str) -> list[Any]:
    """The columns of a rekeyed table at this revision, user_id first."""
    stamp = sa.Column("change_stamp", sa.BigInteger(), nullable=True)
    return {
        "sessions": lambda: [
            sa.Column("user_id", sa.Uuid(), nullable=False),
            sa.Column("id", sa.Uuid(), nullable=False),
            sa.Column("client_id", sa.Uuid(), nullable=False),
            sa.Column("mode", sa.String(length=16), nullable=False),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("task_title", sa.Text(), nullable=True),
            sa.Column("tags", sa.JSON(), nullable=False),
            sa.Column("planned_seconds", sa.Integer(), nullable=False),
            sa.Column("extended_us", sa.BigInteger(), server_default="0", nullable=False),
            sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("paused_remaining_us", sa.BigInteger(), nullable=True),
            sa.Column("pause_count", sa.Integer(), server_default="0", nullable=False),
            sa.Column("paused_us", sa.BigInteger(), server_default="0", nullable=False),
            sa.Column("slept_us", sa.BigInteger(), server_default="0", nullable=False),
            sa.Column("focused_us", sa.BigInteger(), server_default="0", nullable=False),
            sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("abandoned_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("expired_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("abandon_reason", sa.Text(), nullable=True),
            sa.Column("xp_awarded", sa.Integer(), server_default="0", nullable=False),
            sa.Column("coins_awarded", sa.Integer(), server_default="0", nullable=False),
            sa.Column("version", sa.Integer(), server_default="1", nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            stamp,
        ],
        "ledger": lambda: [
            sa.Column("user_id", sa.Uuid(), nullable=False),
            sa.Column("id", sa.Uuid(), nullable=False),
            sa.Column("idempotency_key", sa.String(length=128), nullable=False),
            sa.Column("session_id", sa.Uuid(), nullable=True),
            sa.Column("xp", sa.Integer(), nullable=False),
            sa.Column("coins", sa.Integer(), nullable=False),
            sa.Column("reason", sa.String(length=64), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            stamp,
        ],
        "libraries": lambda: [
            sa.Column("user_id", sa.Uuid(), nullable=False),
            sa.Column("id", sa.Uuid(), nullable=False),
            sa.Column("name", sa.String(length=120), nullable=False),
            sa.Column("description", sa.Text(), server_default="", nullable=False),
            sa.Column("library_type", sa.String(length=32), server_default="music", nullable=False),
            sa.Column(
                "is_favorite", sa.Boolean(), server_default=sa.text("(false)"), nullable=False
            ),
            sa.Column("tracks_count", sa.Integer(), server_default="0", nullable=False),
            sa.Column("version", sa.Integer(), server_default="1", nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            stamp,
        ],
        "tracks": lambda: [
            sa.Column("user_id", sa.Uuid(), nullable=False),
            sa.Column("id", sa.Uuid(), nullable=False),
            sa.Column("library_id", sa.Uuid(), nullable=False),
            sa.Column("title", sa.Text(), nullable=False),
            sa.Column("local_path", sa.Text(), nullable=True),
            sa.Column("size_bytes", sa.BigInteger(), nullable=True),
            sa.Column("sha256", sa.String(length=64), nullable=True),
            sa.Column("content_type", sa.String(length=128), nullable=True),
            sa.Column("duration_seconds", sa.Integer(), nullable=True),
            sa.Column("r2_key", sa.Text(), nullable=True),
            sa.Column(
                "upload_state", sa.String(length=16), server_default="pending", nullable=False
            ),
            sa.Column("version", sa.Integer(), server_default="1", nullable=False),
            sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
            stamp,
        ],
    }[table]()


def _constraints(table: str) -> list[Any]:
    pk = sa.PrimaryKeyConstraint("user_id", "id", name=op.f(f"pk_{table}"))
    extra: dict[str, list[Any]] = {
        "sessions": [
            sa.CheckConstraint(
                "mode IN ('focus', 'short_break', 'long_break')", name=op.f("ck_sessions_mode")
            ),
            sa.CheckConstraint(
                "status IN ('active', 'paused', 'completed', 'abandoned', 'expired')",
                name=op.f("ck_sessions_status"),
            ),
            sa.CheckConstraint("planned_seconds > 0", name=op.f("ck_sessions_planned_positive")),
        ],
        "ledger": [
            sa.UniqueConstraint(
                "user_id", "idempotency_key", name=op.f("uq_ledger_user_id_idempotency_key")
            )
        ],
        "libraries": [
            sa.UniqueConstraint("user_id", "name", name=op.f("uq_libraries_user_id_name"))
        ],
        "tracks": [
            sa.ForeignKeyConstraint(
                ["user_id", "library_id"],
                ["libraries.user_id", "libraries.id"],
                name=op.f("fk_tracks_user_id_libraries"),
                ondelete="CASCADE",
            )
        ],
    }
    return [pk, *extra[table]]


def _indexes() -> None:
    op.create_index(
        "ix_sessions_history",
        "sessions",
        ["user_id", sa.literal_column("started_at DESC"), sa.literal_column("id DESC")],
    )
    op.create_index(
        "uq_sessions_open",
        "sessions",
        ["user_id", "client_id"],
        unique=True,
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )
    op.create_index("ix_tracks_library", "tracks", ["user_id", "library_id"])


def _stamp_indexes() -> None:
    op.create_index("ix_sessions_change_stamp", "sessions", ["user_id", "change_stamp"])
    op.create_index("ix_ledger_change_stamp", "ledger", ["user_id", "change_stamp"])


def _rebuild_sqlite() -> None:
    for name in ("ix_sessions_history", "uq_sessions_open", "ix_tracks_library"):
        op.drop_index(name)
    # Tracks first: renamed aside, they refer to the renamed libraries, and the old tables
    # are dropped children first, so no ON DELETE CASCADE runs.
    for table in ("tracks", "libraries", "sessions", "ledger"):
        op.rename_table(table, f"_old_{table}")
    for table in ("libraries", "tracks", "sessions", "ledger"):
        op.create_table(table, *_columns(table), *_constraints(table))
        names = ", ".join(c.name for c in _columns(table) if c.name != "change_stamp")
        op.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM _old_{table}")
    for table in ("tracks", "libraries", "sessions", "ledger"):
        op.drop_table(f"_old_{table}")
    _indexes()


def _rekey_postgres() -> None:
    op.drop_constraint("fk_tracks_user_id_libraries", "tracks", type_="foreignkey")
    for table in REKEYED:
        op.add_column(table, sa.Column("change_stamp", sa.BigInteger(), nullable=True))
        op.drop_constraint(f"pk_{table}", table, type_="primary")
        op.create_primary_key(f"pk_{table}", table, ["user_id", "id"])
    op.drop_constraint("uq_sessions_user_id_id", "sessions", type_="unique")
    op.drop_constraint("uq_libraries_user_id_id", "libraries", type_="unique")
    op.create_foreign_key(
        "fk_tracks_user_id_libraries",
        "tracks",
        "libraries",
        ["user_id", "library_id"],
        ["user_id", "id"],
        ondelete="CASCADE",
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite()
    else:
        _rekey_postgres()
    _stamp_indexes()
    op.create_table(
        "focus_users",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role_name", sa.String(length=63), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_focus_users")),
        sa.UniqueConstraint("role_name", name=op.f("uq_focus_users_role_name")),
    )
    op.create_table(
        "user_state",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("change_stamp", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("rollup_tz", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_state")),
    )
    op.create_table(
        "sync_clients",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("last_mutation_id", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "client_id", name=op.f("pk_sync_clients")),
    )


def downgrade() -> None:
    raise NotImplementedError("Focus never downgrades a schema; restore the backup instead")
