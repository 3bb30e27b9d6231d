"""Tracks: deletions that sync, a track's upload bookkeeping, and resumable uploads.

`deletions` keeps a tombstone per deleted library or track (a row gone leaves nothing for
the pull to carry, so the deletion itself is the row): on the server it is stamped like
every change and pulled by the user's other devices. `tracks` gains `updated_at`, the
upload's last error and attempts. `uploads` and `upload_parts` exist only to be used on a
device: the multipart upload under way for a content hash (its upload id, fixed part size)
and each part R2 acknowledged (number, ETag), written as parts finish, so an upload killed
at any point resumes where it stopped.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tracks") as batch:
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "deletions",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("entity", sa.String(length=16), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("change_stamp", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("user_id", "entity", "entity_id", name=op.f("pk_deletions")),
    )
    op.create_index("ix_deletions_change_stamp", "deletions", ["user_id", "change_stamp"])
    op.create_table(
        "uploads",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("object_key", sa.Text(), nullable=False),
        sa.Column("upload_id", sa.Text(), nullable=False),
        sa.Column("part_size", sa.BigInteger(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "sha256", name=op.f("pk_uploads")),
    )
    op.create_table(
        "upload_parts",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("part_number", sa.Integer(), nullable=False),
        sa.Column("etag", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id", "sha256"],
            ["uploads.user_id", "uploads.sha256"],
            name=op.f("fk_upload_parts_user_id_uploads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "sha256", "part_number", name=op.f("pk_upload_parts")),
    )


def downgrade() -> None:
    raise NotImplementedError("Focus never downgrades a schema; restore the backup instead")
