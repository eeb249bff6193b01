"""Passkeys and security keys (WebAuthn): credentials, user handles, ceremonies.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

Schema version 5: the WebAuthn credentials (unique credential id across users,
unique name per user), each user's random user handle, and the pending
ceremonies (taken once by a conditional update of `used_at`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mfakit.adapters.sql.migrations import table_prefix

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

VERSION = 5

_ID = 128
_USER = 255
_ENUM = 32


def _record(version: int) -> None:
    p = table_prefix()
    table = sa.table(p + "schema_version", sa.column("component"), sa.column("version"))
    op.execute(table.update().where(table.c.component == "mfakit").values(version=version))


def _when(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    p = table_prefix()
    op.create_table(
        p + "webauthn_credentials",
        sa.Column("user_id", sa.String(_USER), nullable=False),
        sa.Column("id", sa.String(_ID), nullable=False),
        sa.Column("credential_id", sa.LargeBinary, nullable=False),
        sa.Column("public_key", sa.LargeBinary, nullable=False),
        sa.Column("user_handle", sa.LargeBinary, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("sign_count", sa.BigInteger, nullable=False),
        sa.Column("transports", sa.String(255), nullable=False),
        sa.Column("aaguid", sa.String(36), nullable=False),
        sa.Column("attestation_format", sa.String(_ENUM), nullable=False),
        sa.Column("backup_eligible", sa.Boolean, nullable=False),
        sa.Column("backed_up", sa.Boolean, nullable=False),
        sa.Column("discoverable", sa.String(_ENUM), nullable=False),
        sa.Column("usage", sa.String(255), nullable=False),
        sa.Column("user_verified", sa.Boolean, nullable=False),
        _when("created_at", nullable=False),
        _when("last_used_at", nullable=True),
        sa.Column("cloned", sa.Boolean, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "id", name=f"{p}webauthn_credentials_pkey"),
        sa.UniqueConstraint("credential_id", name=f"{p}webauthn_credentials_credential_id_key"),
        sa.UniqueConstraint("user_id", "name", name=f"{p}webauthn_credentials_name_key"),
        comment="Passkeys and security keys: public keys, counters, names.",
    )
    op.create_table(
        p + "webauthn_users",
        sa.Column("user_id", sa.String(_USER), nullable=False),
        sa.Column("user_handle", sa.LargeBinary, nullable=False),
        _when("created_at", nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=f"{p}webauthn_users_pkey"),
        sa.UniqueConstraint("user_handle", name=f"{p}webauthn_users_user_handle_key"),
        comment="Each user's random WebAuthn user handle (never the host's user id).",
    )
    op.create_table(
        p + "webauthn_ceremonies",
        sa.Column("id", sa.String(_ID), nullable=False),
        sa.Column("kind", sa.String(_ENUM), nullable=False),
        sa.Column("user_id", sa.String(_USER), nullable=True),
        sa.Column("challenge", sa.LargeBinary, nullable=False),
        sa.Column("rp_id", sa.String(255), nullable=False),
        _when("created_at", nullable=False),
        _when("expires_at", nullable=False),
        sa.Column("user_verification", sa.String(_ENUM), nullable=False),
        sa.Column("allowed_credential_ids", sa.Text, nullable=False),
        sa.Column("user_handle", sa.LargeBinary, nullable=True),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("usage", sa.String(255), nullable=False),
        sa.Column("conditional", sa.Boolean, nullable=False),
        sa.Column("challenge_id", sa.String(_ID), nullable=True),
        sa.Column("actor_id", sa.String(_USER), nullable=True),
        sa.Column("tenant", sa.String(_USER), nullable=True),
        _when("used_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=f"{p}webauthn_ceremonies_pkey"),
        comment="Pending WebAuthn ceremonies, each taken once (used_at set atomically).",
    )
    _record(VERSION)


def downgrade() -> None:
    p = table_prefix()
    for name in ("webauthn_ceremonies", "webauthn_users", "webauthn_credentials"):
        op.drop_table(p + name)
    _record(1)
