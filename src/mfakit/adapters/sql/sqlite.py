"""SQLite set-up shared by [`SqlStore`][mfakit.adapters.sql.SqlStore] and
[`AsyncSqlStore`][mfakit.adapters.sql.async_store.AsyncSqlStore] (`sqlite3` and `aiosqlite` alike).

[`configure_sqlite`][mfakit.adapters.sql.configure_sqlite] installs two event hooks: on every new
connection a busy timeout, foreign keys and (for files) the WAL journal, with the driver's
own transaction handling switched off; and a `begin` hook that opens each
transaction the way the store asks for it through the execution option
`BEGIN_OPTION` (`BEGIN IMMEDIATE` for writes, nothing at all for a
single self-committing statement). For an `AsyncEngine` the hooks go on its
`sync_engine`, as SQLAlchemy's aiosqlite documentation prescribes.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import URL

from ...errors import ConfigurationError
from .fast import driver_execute

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "BEGIN_OPTION",
    "SQLITE_BUSY_TIMEOUT_MS",
    "configure_sqlite",
    "create_private_file",
    "database_path",
    "is_configured",
    "is_memory",
    "on_begin",
    "sqlite_writer_lock",
]

SQLITE_BUSY_TIMEOUT_MS = 5000

BEGIN_OPTION = "mfakit_sqlite_begin"
"""Execution option read by the `begin` hook: `"immediate"` or `"autocommit"`."""


PRIVATE_MODE = 0o600
"""A database file [`SqlStore.from_url`][mfakit.adapters.sql.SqlStore.from_url] creates is readable
by its owner only."""


def database_path(url: URL) -> str | None:
    """The file a SQLite URL names, or None (in memory, or a `file:` URI)."""
    db = url.database or ""
    if is_memory(url) or db.startswith("file:"):
        return None
    return db


def create_private_file(url: URL) -> None:
    """Create the database file of `url` with mode 0600 if it does not exist.

    SQLite would create it with the process umask (usually 0644: readable by
    every local user) and copies the file's mode to the `-wal` and `-shm`
    files; an empty file is a valid empty database. An existing file is left as
    it is.
    """
    path = database_path(url)
    if path is None:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except OSError:
        return  # there already, or not creatable: SQLite opens it or reports why
    os.close(fd)


def _restrict_journals(dbapi_connection: Any) -> None:
    """`-wal` and `-shm` no more readable than the database (SQLite copies the
    mode, but a file left by an earlier run with another umask keeps its own)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA database_list")
        rows = cursor.fetchall()
    finally:
        cursor.close()
    for row in rows:
        main = row[2] if len(row) > 2 else ""
        if row[1] != "main" or not main:
            continue
        try:
            mode = os.stat(main).st_mode & 0o777
        except OSError:
            return
        for suffix in ("-wal", "-shm"):
            try:
                if os.stat(main + suffix).st_mode & 0o777 & ~mode:
                    os.chmod(main + suffix, mode)
            except OSError:
                continue  # not there (yet), or not ours: SQLite copies the mode anyway


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
        if wal:
            _restrict_journals(dbapi_connection)

    return on_connect


def on_begin(conn: Connection) -> None:
    """The `begin` hook [`configure_sqlite`][mfakit.adapters.sql.configure_sqlite] installs."""
    mode = conn.get_execution_options().get(BEGIN_OPTION)
    if mode == "immediate":
        # Take the write lock now: a second writer waits (busy timeout) here
        # instead of failing later when it upgrades a read lock.
        driver_execute(conn, "BEGIN IMMEDIATE")
    elif mode != "autocommit":
        driver_execute(conn, "BEGIN")
    # "autocommit": no BEGIN; the single statement commits by itself.


def _sync_engine(engine: Engine | AsyncEngine) -> Engine:
    sync = getattr(engine, "sync_engine", engine)
    if not isinstance(sync, Engine):
        raise ConfigurationError("configure_sqlite() needs a SQLAlchemy Engine or AsyncEngine")
    return sync


def configure_sqlite(engine: Engine | AsyncEngine, *, wal: bool = True) -> None:
    """Prepare a SQLite engine you made yourself the way
    [`SqlStore.from_url`][mfakit.adapters.sql.SqlStore.from_url] (or
    [`AsyncSqlStore.from_url`][mfakit.adapters.sql.async_store.AsyncSqlStore.from_url]) does: WAL
    journal (`wal=True`; pointless for `:memory:`), a 5 s busy timeout, foreign keys, and
    SQLAlchemy (not the driver) in charge of `BEGIN`, so mfakit's writes use
    `BEGIN IMMEDIATE`. Call it before the engine's first connection. Your own
    code keeps plain `BEGIN` transactions, now also for SELECTs (SQLAlchemy's
    recommended recipe). An `AsyncEngine` (aiosqlite) is configured through
    its `sync_engine`.
    """
    sync = _sync_engine(engine)
    if sync.dialect.name != "sqlite":
        raise ConfigurationError("configure_sqlite() is for SQLite engines")
    if is_configured(sync):
        return
    event.listen(sync, "connect", _on_connect(wal))
    event.listen(sync, "begin", on_begin)


def is_configured(engine: Engine) -> bool:
    """Whether [`configure_sqlite`][mfakit.adapters.sql.configure_sqlite] prepared `engine` (a sync
    engine)."""
    return event.contains(engine, "begin", on_begin)


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
