"""Sync: who last changed a session on the server, and the changes a push rejected.

`sessions.changed_by` is the device (client id) whose push last changed the row on the
server: the merge rule breaks a tie of versions by it. `sync_clients.last_change` names the
device's last applied change (kind, id, version), which tells a re-sent batch from a copy
of the database that reuses its change ids. The change-stamp indexes gain `id`, the pull's
page key. `sync_rejections` keeps every change
a push refused with its reason: on the server, and on the device that sent it (for `focus
sync --rejected` and the app).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The pull pages by (change_stamp, id): one push stamps all of its rows alike.
    for table in ("sessions", "ledger"):
        name = f"ix_{table}_change_stamp"
        op.drop_index(name, table_name=table)
        op.create_index(name, table, ["user_id", "change_stamp", "id"])
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("changed_by", sa.Uuid(), nullable=True))
    with op.batch_alter_table("sync_clients") as batch:
        batch.add_column(sa.Column("last_change", sa.Text(), nullable=True))
    op.create_table(
        "sync_rejections",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("mutation_id", sa.BigInteger(), nullable=False),
        sa.Column("entity", sa.String(length=16), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "user_id", "client_id", "mutation_id", name=op.f("pk_sync_rejections")
        ),
    )


def downgrade() -> None:
    raise NotImplementedError("Focus never downgrades a schema; restore the backup instead")
