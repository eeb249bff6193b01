"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

Schema version ${int(up_revision)}: bump SCHEMA_VERSION in schema.py to it, change
build_metadata() to match, and leave the version recorded (see the end of upgrade()).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mfakit.adapters.sql.migrations import table_prefix

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None

VERSION = ${int(up_revision)}


def _record(version: int) -> None:
    p = table_prefix()
    table = sa.table(p + "schema_version", sa.column("component"), sa.column("version"))
    op.execute(table.update().where(table.c.component == "mfakit").values(version=version))


def upgrade() -> None:
    p = table_prefix()
    ${upgrades if upgrades else "pass"}
    _record(VERSION)


def downgrade() -> None:
    p = table_prefix()
    ${downgrades if downgrades else "pass"}
    _record(VERSION - 1)
