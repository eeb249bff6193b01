"""The notice outbox: security notices queued with the change they tell of.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03

Schema version 2: security notices (S21) are queued in the same transaction as
the change they tell of and deleted once delivered, so a failed send or a
crash leaves them to `MFA.deliver_pending_notices()` instead of losing them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mfakit.adapters.sql.migrations import table_prefix

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

VERSION = 2

_ID = 128
_USER = 255
_VALUE = 320
_ENUM = 32
_DETAIL = 512


def _record(version: int) -> None:
    p = table_prefix()
    table = sa.table(p + "schema_version", sa.column("component"), sa.column("version"))
    op.execute(table.update().where(table.c.component == "mfakit").values(version=version))


def _when(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    p = table_prefix()
    op.create_table(
        p + "notice_outbox",
        sa.Column("id", sa.String(_ID), nullable=False),
        sa.Column("user_id", sa.String(_USER), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(_ENUM), nullable=False),
        sa.Column("destination", sa.String(_VALUE), nullable=False),
        sa.Column("detail", sa.String(_DETAIL), nullable=False),
        sa.Column("locale", sa.String(_ENUM), nullable=True),
        _when("created_at", nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        _when("next_attempt_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"{p}notice_outbox_pkey"),
        comment="Security notices not yet delivered (S21); never a code or secret.",
    )
    op.create_index(p + "notice_outbox_due", p + "notice_outbox", ["next_attempt_at"])
    _record(VERSION)


def downgrade() -> None:
    p = table_prefix()
    op.drop_index(p + "notice_outbox_due", table_name=p + "notice_outbox")
    op.drop_table(p + "notice_outbox")
    _record(VERSION - 1)
