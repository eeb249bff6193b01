"""Alembic's environment for mfakit's tables.

Configured by `mfakit.adapters.sql.migrate` through `Config.attributes`
(`connection`: a SQLAlchemy connection to run on; `table_prefix`), or on
Alembic's own command line with `-x table_prefix=...` and
`sqlalchemy.url`. The version table is `<prefix>alembic_version`, so it
never meets a host's own `alembic_version`. On PostgreSQL the migration
holds the advisory lock that `SqlStore.create_all` takes, so app servers
starting during an upgrade wait for it.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection, create_engine, func, select

from mfakit.adapters.sql.migrations import PREFIX_ATTRIBUTE, version_table
from mfakit.adapters.sql.schema import build_metadata, check_prefix

config = context.config
_x = context.get_x_argument(as_dictionary=True)
prefix = check_prefix(config.attributes.get(PREFIX_ATTRIBUTE, _x.get(PREFIX_ATTRIBUTE, "mfa_")))
config.attributes[PREFIX_ATTRIBUTE] = prefix
target_metadata = build_metadata(prefix)


def include_name(name: str | None, type_: str, _parents: Any) -> bool:
    """Compare mfakit's tables of this prefix only (a shared database holds others)."""
    return type_ != "table" or name in target_metadata.tables


def _options() -> dict[str, Any]:
    return {
        "target_metadata": target_metadata,
        "version_table": version_table(prefix),
        "include_name": include_name,
        "compare_type": True,
    }


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"), literal_binds=True, **_options()
    )
    with context.begin_transaction():
        context.run_migrations()


def run_on(connection: Connection) -> None:
    context.configure(connection=connection, **_options())
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            key = prefix + "schema"
            connection.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))
        context.run_migrations()


def run_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        run_on(given)
        return
    url = config.get_main_option("sqlalchemy.url")
    engine = create_engine(url or "", hide_parameters=True)
    try:
        with engine.connect() as connection:
            run_on(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
