"""mfakit 0.1.0: the initial tables.

Revision ID: 0001
Revises:
Create Date: 2026-12-03

Frozen: this is the schema of release 0.1.0 written out, not a call to
`build_metadata()` (which moves on with later releases). Later revisions
change it step by step; each leaves its version in `<prefix>schema_version`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mfakit.adapters.sql.migrations import table_prefix

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

VERSION = 1

_ID = 128
_USER = 255
_KEY = 512
_VALUE = 320
_ENUM = 32


def _when(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    p = table_prefix()

    def pk(name: str, *cols: str) -> sa.PrimaryKeyConstraint:
        return sa.PrimaryKeyConstraint(*cols, name=f"{p}{name}_pkey")

    version = op.create_table(
        p + "schema_version",
        sa.Column("component", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        pk("schema_version", "component"),
        comment="The version of mfakit's tables, checked when a store starts.",
    )
    op.create_table(
        p + "totp_factors",
        sa.Column("user_id", sa.String(_USER), nullable=False),
        sa.Column("id", sa.String(_ID), nullable=False),
        sa.Column("label", sa.String(255), nullable=False),
        sa.Column("secret_key_id", sa.String(_ID), nullable=False),
        sa.Column("secret_blob", sa.LargeBinary, nullable=False),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("digits", sa.Integer, nullable=False),
        sa.Column("period", sa.Integer, nullable=False),
        _when("created_at", nullable=False),
        _when("expires_at", nullable=True),
        _when("confirmed_at", nullable=True),
        sa.Column("last_step", sa.BigInteger, nullable=True),
        _when("last_used_at", nullable=True),
        pk("totp_factors", "user_id", "id"),
        comment="Authenticator apps; secret_blob is AES-GCM ciphertext.",
    )
    op.create_table(
        p + "backup_codes",
        sa.Column("user_id", sa.String(_USER), nullable=False),
        sa.Column("lookup", sa.String(_ENUM), nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        _when("created_at", nullable=False),
        _when("used_at", nullable=True),
        pk("backup_codes", "user_id", "lookup"),
        comment="Backup codes as argon2 hashes, found by (user_id, lookup).",
    )
    op.create_table(
        p + "counters",
        sa.Column("key", sa.String(_KEY), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        _when("window_start", nullable=False),
        _when("updated_at", nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        pk("counters", "key"),
        comment="Limit counters, updated by compare-and-set on version.",
    )
    op.create_table(
        p + "challenges",
        sa.Column("id", sa.String(_ID), nullable=False),
        sa.Column("user_id", sa.String(_USER), nullable=False),
        sa.Column("purpose", sa.String(_ENUM), nullable=False),
        sa.Column("state", sa.String(_ENUM), nullable=False),
        sa.Column("methods", sa.String(255), nullable=False),
        sa.Column("method", sa.String(_ENUM), nullable=False),
        _when("created_at", nullable=False),
        _when("expires_at", nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("alternatives_locked", sa.Boolean, nullable=False),
        sa.Column("code_hash", sa.LargeBinary, nullable=True),
        sa.Column("code_key_id", sa.String(_ID), nullable=True),
        _when("code_sent_at", nullable=True),
        sa.Column("destination", sa.String(_VALUE), nullable=True),
        sa.Column("code_length", sa.Integer, nullable=False),
        sa.Column("sends", sa.Integer, nullable=False),
        sa.Column("target_kind", sa.String(_ENUM), nullable=True),
        sa.Column("target_value", sa.String(_VALUE), nullable=True),
        sa.Column("actor_id", sa.String(_USER), nullable=True),
        sa.Column("tenant", sa.String(_USER), nullable=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        pk("challenges", "id"),
        comment="Second-factor challenges, updated by compare-and-set on version.",
    )
    op.create_table(
        p + "contacts",
        sa.Column("user_id", sa.String(_USER), nullable=False),
        sa.Column("kind", sa.String(_ENUM), nullable=False),
        sa.Column("value", sa.String(_VALUE), nullable=False),
        _when("created_at", nullable=False),
        _when("verified_at", nullable=True),
        pk("contacts", "user_id", "kind"),
        comment="A user's phone number and email address, one of each kind.",
    )
    op.create_table(
        p + "security_questions",
        sa.Column("user_id", sa.String(_USER), nullable=False),
        sa.Column("question", sa.String(255), nullable=False),
        sa.Column("answer_hash", sa.Text, nullable=False),
        _when("created_at", nullable=False),
        pk("security_questions", "user_id"),
        comment="A user's security question and the argon2 hash of the answer.",
    )
    op.create_table(
        p + "trusted_devices",
        sa.Column("user_id", sa.String(_USER), nullable=False),
        sa.Column("id", sa.String(_ID), nullable=False),
        sa.Column("label", sa.String(255), nullable=False),
        _when("created_at", nullable=False),
        _when("expires_at", nullable=False),
        sa.Column("security_version", sa.BigInteger, nullable=False),
        _when("last_used_at", nullable=True),
        _when("revoked_at", nullable=True),
        pk("trusted_devices", "user_id", "id"),
        comment="Devices a user chose to trust; revoked ones are kept for the list.",
    )
    op.create_table(
        p + "user_state",
        sa.Column("user_id", sa.String(_USER), nullable=False),
        sa.Column("security_version", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("preferred_method", sa.String(_ENUM), nullable=True),
        _when("updated_at", nullable=True),
        pk("user_state", "user_id"),
        comment="Per-user security version (stales trusted devices) and preferences.",
    )
    op.create_table(
        p + "audit_events",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True),
        sa.Column("id", sa.String(_ID), nullable=False, unique=True),
        _when("at", nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject_id", sa.String(_USER), nullable=False),
        sa.Column("actor_id", sa.String(_USER), nullable=True),
        sa.Column("method", sa.String(_ENUM), nullable=True),
        sa.Column("outcome", sa.String(_ENUM), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(512), nullable=True),
        sa.Column("tenant", sa.String(_ID), nullable=True),
        sa.Column("details", sa.Text, nullable=False),
        pk("audit_events", "seq"),
        comment="The audit trail (L8): security events, never a secret.",
    )
    op.create_index(p + "audit_events_subject", p + "audit_events", ["subject_id", "seq"])
    op.bulk_insert(version, [{"component": "mfakit", "version": VERSION}])


def downgrade() -> None:
    p = table_prefix()
    op.drop_index(p + "audit_events_subject", table_name=p + "audit_events")
    for name in (
        "audit_events",
        "user_state",
        "trusted_devices",
        "security_questions",
        "contacts",
        "challenges",
        "counters",
        "backup_codes",
        "totp_factors",
        "schema_version",
    ):
        op.drop_table(p + name)
