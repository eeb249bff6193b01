"""SQL storage on SQLAlchemy 2 Core: SQLite as the embedded default, PostgreSQL
for several app servers sharing one database (``pip install mfakit[sql]`` or
``mfakit[postgres]``)::

    from mfakit.adapters.sql import SqlStore

    store = SqlStore.from_url("sqlite:///mfa.db")          # creates the tables
    store = SqlStore.from_url("postgresql+psycopg://app:pw@db/app")
    store = SqlStore(app_engine, table_prefix="mfa_")        # an engine you own

Only this package imports SQLAlchemy; ``import mfakit`` does not.
See ``docs/sql.md``.
"""

from .schema import SCHEMA_VERSION as SCHEMA_VERSION
from .schema import UtcDateTime as UtcDateTime
from .schema import build_metadata as build_metadata
from .store import SqlStore as SqlStore
from .store import configure_sqlite as configure_sqlite

__all__ = ["SCHEMA_VERSION", "SqlStore", "UtcDateTime", "build_metadata", "configure_sqlite"]
