"""The SQL schema of mfakit 0.1.0, as that release shipped it: a test fixture.

This is ``src/mfakit/adapters/sql/schema.py`` of release 0.1.0 (commit
``0f7fc69^``, the last before the 0.1.0 section of the changelog closed), kept
verbatim below the marker except for its one relative import. It builds a
database exactly as an application running mfakit 0.1.0 had it (0.1.0 had no
migrations: ``SqlStore.create_all()`` made the tables and recorded version 1,
see `make_database`), independently of this release's revision 0001 and
``build_metadata``, which the migration tests check against it.

Do not edit the tables: they are history.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    insert,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from mfakit.errors import ConfigurationError


def make_database(engine: Engine, prefix: str = "mfa_") -> MetaData:
    """What mfakit 0.1.0's ``SqlStore.create_all()`` left: its tables and the
    schema-version row (component ``mfakit``, version 1)."""
    metadata = build_metadata(prefix)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(metadata.tables[prefix + "schema_version"]).values(
                component=SCHEMA_COMPONENT, version=SCHEMA_VERSION
            )
        )
    return metadata


# --- src/mfakit/adapters/sql/schema.py of mfakit 0.1.0, from here on ----------------------
SCHEMA_VERSION = 1
"""The version of the tables below; recorded in ``<prefix>schema_version``.

A release that changes the tables bumps it and ships a migration. A store
refuses to work on a database whose recorded version is newer than this."""

SCHEMA_COMPONENT = "mfakit"
"""The key of mfakit's row in the schema-version table."""

TABLES = (
    "schema_version",
    "totp_factors",
    "backup_codes",
    "counters",
    "challenges",
    "contacts",
    "security_questions",
    "trusted_devices",
    "user_state",
    "audit_events",
)
"""Table names, without the prefix."""

_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,29}")

# Column sizes: ids are at most 128 characters (core.validation.MAX_ID_LENGTH);
# the others leave room above what the core accepts.
_ID = 128
_USER = 255
_KEY = 512
_VALUE = 320  # an email address is at most 254 characters
_ENUM = 32


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime, always read back as aware UTC.

    Binds refuse naive datetimes (a ``ValueError``, which the store reports as
    a :class:`~mfakit.errors.StorageError`). Databases without a time zone type
    (SQLite, MySQL) receive naive UTC, so their text or datetime comparisons
    order correctly.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    _NAIVE_DIALECTS = frozenset({"sqlite", "mysql", "mariadb"})

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("mfakit stores timezone-aware datetimes only")
        value = value.astimezone(timezone.utc)
        if dialect.name in self._NAIVE_DIALECTS:
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        if when.tzinfo is None:
            return when.replace(tzinfo=timezone.utc)
        return when.astimezone(timezone.utc)


def check_prefix(prefix: object) -> str:
    """``prefix`` if it is a usable table-name prefix, else :class:`ConfigurationError`."""
    if not isinstance(prefix, str) or (prefix and not _PREFIX.fullmatch(prefix)):
        raise ConfigurationError(
            "table_prefix must be empty or up to 30 letters, digits and underscores, "
            "not starting with a digit"
        )
    return prefix


class Tables:
    """The tables of one prefix, by role (``tables.totp``, ``tables.backup``, ...)."""

    def __init__(self, metadata: MetaData, prefix: str) -> None:
        t = metadata.tables
        self.prefix = prefix
        self.metadata = metadata
        self.version = t[prefix + "schema_version"]
        self.totp = t[prefix + "totp_factors"]
        self.backup = t[prefix + "backup_codes"]
        self.counters = t[prefix + "counters"]
        self.challenges = t[prefix + "challenges"]
        self.contacts = t[prefix + "contacts"]
        self.questions = t[prefix + "security_questions"]
        self.devices = t[prefix + "trusted_devices"]
        self.user_state = t[prefix + "user_state"]
        self.audit = t[prefix + "audit_events"]


def build_metadata(prefix: str = "mfa_", metadata: MetaData | None = None) -> MetaData:
    """The tables of mfakit, named ``<prefix><table>``, in ``metadata`` (a new
    ``MetaData`` by default). Pass the result to Alembic or ``create_all``."""
    p = check_prefix(prefix)
    md = metadata if metadata is not None else MetaData()

    def pk(name: str, *cols: str) -> PrimaryKeyConstraint:
        return PrimaryKeyConstraint(*cols, name=f"{p}{name}_pkey")

    Table(
        p + "schema_version",
        md,
        Column("component", String(64), nullable=False),
        Column("version", Integer, nullable=False),
        pk("schema_version", "component"),
        comment="The version of mfakit's tables, checked when a store starts.",
    )
    Table(
        p + "totp_factors",
        md,
        Column("user_id", String(_USER), nullable=False),
        Column("id", String(_ID), nullable=False),
        Column("label", String(255), nullable=False),
        Column("secret_key_id", String(_ID), nullable=False),
        Column("secret_blob", LargeBinary, nullable=False),
        Column("algorithm", String(16), nullable=False),
        Column("digits", Integer, nullable=False),
        Column("period", Integer, nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        Column("expires_at", UtcDateTime, nullable=True),
        Column("confirmed_at", UtcDateTime, nullable=True),
        Column("last_step", BigInteger, nullable=True),
        Column("last_used_at", UtcDateTime, nullable=True),
        # (user_id, id): one factor, and by its prefix all of a user's factors.
        pk("totp_factors", "user_id", "id"),
        comment="Authenticator apps; secret_blob is AES-GCM ciphertext.",
    )
    Table(
        p + "backup_codes",
        md,
        Column("user_id", String(_USER), nullable=False),
        Column("lookup", String(_ENUM), nullable=False),
        Column("hash", Text, nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        Column("used_at", UtcDateTime, nullable=True),
        pk("backup_codes", "user_id", "lookup"),
        comment="Backup codes as argon2 hashes, found by (user_id, lookup).",
    )
    Table(
        p + "counters",
        md,
        Column("key", String(_KEY), nullable=False),
        Column("count", Integer, nullable=False),
        Column("window_start", UtcDateTime, nullable=False),
        Column("updated_at", UtcDateTime, nullable=False),
        Column("version", BigInteger, nullable=False),
        pk("counters", "key"),
        comment="Limit counters, updated by compare-and-set on version.",
    )
    Table(
        p + "challenges",
        md,
        Column("id", String(_ID), nullable=False),
        Column("user_id", String(_USER), nullable=False),
        Column("purpose", String(_ENUM), nullable=False),
        Column("state", String(_ENUM), nullable=False),
        Column("methods", String(255), nullable=False),
        Column("method", String(_ENUM), nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        Column("expires_at", UtcDateTime, nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("alternatives_locked", Boolean, nullable=False),
        Column("code_hash", LargeBinary, nullable=True),
        Column("code_key_id", String(_ID), nullable=True),
        Column("code_sent_at", UtcDateTime, nullable=True),
        Column("destination", String(_VALUE), nullable=True),
        Column("code_length", Integer, nullable=False),
        Column("sends", Integer, nullable=False),
        Column("target_kind", String(_ENUM), nullable=True),
        Column("target_value", String(_VALUE), nullable=True),
        Column("actor_id", String(_USER), nullable=True),
        Column("tenant", String(_USER), nullable=True),
        Column("version", BigInteger, nullable=False),
        pk("challenges", "id"),
        comment="Second-factor challenges, updated by compare-and-set on version.",
    )
    Table(
        p + "contacts",
        md,
        Column("user_id", String(_USER), nullable=False),
        Column("kind", String(_ENUM), nullable=False),
        Column("value", String(_VALUE), nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        Column("verified_at", UtcDateTime, nullable=True),
        pk("contacts", "user_id", "kind"),
        comment="A user's phone number and email address, one of each kind.",
    )
    Table(
        p + "security_questions",
        md,
        Column("user_id", String(_USER), nullable=False),
        Column("question", String(255), nullable=False),
        Column("answer_hash", Text, nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        pk("security_questions", "user_id"),
        comment="A user's security question and the argon2 hash of the answer.",
    )
    Table(
        p + "trusted_devices",
        md,
        Column("user_id", String(_USER), nullable=False),
        Column("id", String(_ID), nullable=False),
        Column("label", String(255), nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        Column("expires_at", UtcDateTime, nullable=False),
        Column("security_version", BigInteger, nullable=False),
        Column("last_used_at", UtcDateTime, nullable=True),
        Column("revoked_at", UtcDateTime, nullable=True),
        pk("trusted_devices", "user_id", "id"),
        comment="Devices a user chose to trust; revoked ones are kept for the list.",
    )
    Table(
        p + "user_state",
        md,
        Column("user_id", String(_USER), nullable=False),
        Column("security_version", BigInteger, nullable=False, default=0, server_default="0"),
        Column("preferred_method", String(_ENUM), nullable=True),
        Column("updated_at", UtcDateTime, nullable=True),
        pk("user_state", "user_id"),
        comment="Per-user security version (stales trusted devices) and preferences.",
    )
    Table(
        p + "audit_events",
        md,
        # The sequence orders a user's events (newest first) and pages them.
        Column("seq", BigInteger().with_variant(Integer, "sqlite"), autoincrement=True),
        Column("id", String(_ID), nullable=False, unique=True),
        Column("at", UtcDateTime, nullable=False),
        Column("action", String(64), nullable=False),
        Column("subject_id", String(_USER), nullable=False),
        Column("actor_id", String(_USER), nullable=True),
        Column("method", String(_ENUM), nullable=True),
        Column("outcome", String(_ENUM), nullable=False),
        Column("reason", String(64), nullable=True),
        Column("ip", String(64), nullable=True),
        Column("user_agent", String(512), nullable=True),
        Column("tenant", String(_ID), nullable=True),
        Column("details", Text, nullable=False, default="{}"),
        pk("audit_events", "seq"),
        Index(p + "audit_events_subject", "subject_id", "seq"),
        comment="The audit trail (L8): security events, never a secret.",
    )
    return md
