"""SQLite set-up shared by :class:`~.store.SqlStore` and
:class:`~.async_store.AsyncSqlStore` (``sqlite3`` and ``aiosqlite`` alike).

:func:`configure_sqlite` installs two event hooks: on every new connection a
busy timeout, foreign keys and (for files) the WAL journal, with the driver's
own transaction handling switched off; and a ``begin`` hook that opens each
transaction the way the store asks for it through the execution option
:data:`BEGIN_OPTION` (``BEGIN IMMEDIATE`` for writes, nothing at all for a
single self-committing statement). For an ``AsyncEngine`` the hooks go on its
``sync_engine``, as SQLAlchemy's aiosqlite documentation prescribes.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import URL

from ...errors import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "BEGIN_OPTION",
    "SQLITE_BUSY_TIMEOUT_MS",
    "configure_sqlite",
    "is_configured",
    "is_memory",
    "sqlite_writer_lock",
]

SQLITE_BUSY_TIMEOUT_MS = 5000

BEGIN_OPTION = "mfakit_sqlite_begin"
"""Execution option read by the ``begin`` hook: ``"immediate"`` or ``"autocommit"``."""


def _on_connect(wal: bool) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver must not open transactions itself: SQLAlchemy's "begin"
        # hook below does, so BEGIN IMMEDIATE and SAVEPOINTs work as written.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS:d}")
            cursor.execute("PRAGMA foreign_keys=ON")
            if wal:
                # (fetchall on the cursor, not on execute's result: aiosqlite's
                # adapted cursor returns no cursor from execute.)
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.fetchall()
        finally:
            cursor.close()

    return on_connect


def _on_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get(BEGIN_OPTION)
    if mode == "immediate":
        # Take the write lock now: a second writer waits (busy timeout) here
        # instead of failing later when it upgrades a read lock.
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif mode != "autocommit":
        conn.exec_driver_sql("BEGIN")
    # "autocommit": no BEGIN; the single statement commits by itself.


def _sync_engine(engine: Engine | AsyncEngine) -> Engine:
    sync = getattr(engine, "sync_engine", engine)
    if not isinstance(sync, Engine):
        raise ConfigurationError("configure_sqlite() needs a SQLAlchemy Engine or AsyncEngine")
    return sync


def configure_sqlite(engine: Engine | AsyncEngine, *, wal: bool = True) -> None:
    """Prepare a SQLite engine you made yourself the way :meth:`SqlStore.from_url`
    (or :meth:`AsyncSqlStore.from_url`) does: WAL journal (``wal=True``;
    pointless for ``:memory:``), a 5 s busy timeout, foreign keys, and
    SQLAlchemy (not the driver) in charge of ``BEGIN``, so mfakit's writes use
    ``BEGIN IMMEDIATE``. Call it before the engine's first connection. Your own
    code keeps plain ``BEGIN`` transactions, now also for SELECTs (SQLAlchemy's
    recommended recipe). An ``AsyncEngine`` (aiosqlite) is configured through
    its ``sync_engine``.
    """
    sync = _sync_engine(engine)
    if sync.dialect.name != "sqlite":
        raise ConfigurationError("configure_sqlite() is for SQLite engines")
    if is_configured(sync):
        return
    event.listen(sync, "connect", _on_connect(wal))
    event.listen(sync, "begin", _on_begin)


def is_configured(engine: Engine) -> bool:
    """Whether :func:`configure_sqlite` prepared ``engine`` (a sync engine)."""
    return event.contains(engine, "begin", _on_begin)


def is_memory(url: URL) -> bool:
    """Whether a SQLite URL names an in-memory database."""
    db = url.database or ""
    return (
        db in ("", ":memory:")
        or db.startswith("file::memory:")
        or (url.query.get("mode") == "memory")
    )


_WRITER_LOCKS: dict[str, threading.Lock] = {}
_WRITER_LOCKS_GUARD = threading.Lock()


def sqlite_writer_lock(url: URL) -> threading.Lock:
    """The lock the writers of one SQLite file in this process queue on (one
    per file, shared by every store on it)."""
    key = os.path.realpath(url.database or "") if url.database else str(url)
    with _WRITER_LOCKS_GUARD:
        lock = _WRITER_LOCKS.get(key)
        if lock is None:
            lock = _WRITER_LOCKS[key] = threading.Lock()
        return lock
