"""Challenges remember the provider's message id and its delivery status.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

Schema version 4: `message_id` (the id a sender returned, or a code
provider's reference), `delivery` and `delivery_error` (the last status the
provider called back with) on the challenges table, and an index to find a
challenge by its message id.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mfakit.adapters.sql.migrations import table_prefix

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

VERSION = 4

_ID = 128
_ENUM = 32


def _record(version: int) -> None:
    p = table_prefix()
    table = sa.table(p + "schema_version", sa.column("component"), sa.column("version"))
    op.execute(table.update().where(table.c.component == "mfakit").values(version=version))


def upgrade() -> None:
    p = table_prefix()
    with op.batch_alter_table(p + "challenges") as batch:
        batch.add_column(sa.Column("message_id", sa.String(_ID), nullable=True))
        batch.add_column(sa.Column("delivery", sa.String(_ENUM), nullable=True))
        batch.add_column(sa.Column("delivery_error", sa.String(64), nullable=True))
    op.create_index(p + "challenges_message_id", p + "challenges", ["message_id"])
    _record(VERSION)


def downgrade() -> None:
    p = table_prefix()
    op.drop_index(p + "challenges_message_id", table_name=p + "challenges")
    with op.batch_alter_table(p + "challenges") as batch:
        batch.drop_column("delivery_error")
        batch.drop_column("delivery")
        batch.drop_column("message_id")
    _record(VERSION - 1)
