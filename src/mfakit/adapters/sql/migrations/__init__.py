"""mfakit's Alembic migration environment (`env.py`, `versions/`).

Run it through `mfakit.adapters.sql.migrate` (`upgrade`, `check`) or
`mfakit db upgrade`; revision scripts find the table prefix with
`table_prefix`. Revision `NNNN` leaves schema version `N` recorded in
`<prefix>schema_version`, the row [`SqlStore`][mfakit.adapters.sql.SqlStore]
checks when it starts.
"""

from __future__ import annotations

__all__ = ["PREFIX_ATTRIBUTE", "table_prefix", "version_table"]

PREFIX_ATTRIBUTE = "table_prefix"
"""The key of the table prefix in the Alembic `Config.attributes` (and in
`-x table_prefix=...` on Alembic's own command line)."""


def table_prefix() -> str:
    """The table prefix of the migration being run (set by `env.py`)."""
    from alembic import context

    prefix = context.config.attributes[PREFIX_ATTRIBUTE]
    assert isinstance(prefix, str)
    return prefix


def version_table(prefix: str) -> str:
    """The name of Alembic's version table for mfakit's tables of `prefix`:
    `<prefix>alembic_version` (`mfakit_alembic_version` without a prefix),
    never the host's own `alembic_version`."""
    return f"{prefix}alembic_version" if prefix else "mfakit_alembic_version"
