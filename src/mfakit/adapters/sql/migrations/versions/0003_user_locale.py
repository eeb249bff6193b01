"""A user's preferred locale: user_state.locale.

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-03

Schema version 3: the language of the codes and security notices sent to a
user when a call names none (`MFA.set_locale`). Nullable, so existing rows
keep the default locale.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mfakit.adapters.sql.migrations import table_prefix

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

VERSION = 3


def _record(version: int) -> None:
    p = table_prefix()
    table = sa.table(p + "schema_version", sa.column("component"), sa.column("version"))
    op.execute(table.update().where(table.c.component == "mfakit").values(version=version))


def upgrade() -> None:
    p = table_prefix()
    op.add_column(p + "user_state", sa.Column("locale", sa.String(35), nullable=True))
    _record(VERSION)


def downgrade() -> None:
    p = table_prefix()
    with op.batch_alter_table(p + "user_state") as batch:
        batch.drop_column("locale")
    _record(VERSION - 1)
