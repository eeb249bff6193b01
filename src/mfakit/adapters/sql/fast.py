"""Hot statements compiled once and run on the DB-API cursor.

SQLAlchemy's `Connection.execute` costs about 30 µs of Python per statement
(execution context, parameter and result processing, events) even when the
compiled statement comes from its cache; the database's own work for one of
mfakit's key lookups is a few µs. A verification runs a handful of statements,
so that overhead was most of mfakit's CPU on the SQL stores.

A `Hot` statement is compiled once for the connection's dialect (the
SQL text, where each parameter goes, the type's bind and result processors)
and then run directly on the pooled DB-API connection's cursor: parameters are
bound through the same type processors SQLAlchemy would use (so
`UtcDateTime` still refuses naive datetimes and stores UTC),
and rows come back through the same result processors.

On psycopg, the statement is also translated once into PostgreSQL's own
`$1, $2, ...` placeholders and run on a `psycopg.RawCursor`, which sends the
text as it is. psycopg's usual cursor rewrites `%(name)s` placeholders on every
call and caches that rewrite only for texts under 4 KiB; the one-query snapshot
of a user is longer (a dozen branches), so its rewrite cost ~70 µs per call.

Nothing is hidden from instrumentation: when anything listens to the
connection's statement events (`before_cursor_execute` and friends, e.g.
OpenTelemetry's SQLAlchemy instrumentation or a statement counter) or the
engine logs SQL (`echo`), the same text runs through
`Connection.exec_driver_sql` instead, which fires the events and logs as
usual. Driver errors become SQLAlchemy's exception classes (with
`hide_parameters`), and a lost connection is invalidated, as SQLAlchemy
itself does.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.util import find_tables

__all__ = [
    "Hot",
    "OneStatement",
    "RawConnection",
    "driver_execute",
    "end_transaction",
    "engine_instrumented",
    "instrumented",
]

_MISSING: Any = object()

Processor = Callable[[Any], Any] | None


def instrumented(conn: Connection) -> bool:
    """Whether statements on `conn` must go through SQLAlchemy's execution
    (someone listens to the engine's statement events, or it logs SQL)."""
    # The engine's dispatcher, not the connection's: a new connection's joined
    # dispatcher builds each listener collection on first access.
    d = conn.engine.dispatch
    return bool(
        getattr(conn, "_echo", True)
        or d.before_cursor_execute
        or d.after_cursor_execute
        or d.before_execute
        or d.after_execute
    )


def engine_instrumented(engine: Engine, begin_hook: object = None) -> bool:
    """Whether anything observes `engine`'s connections beyond its pool:
    statement, transaction or connection events (other than the store's own
    `begin_hook`), or SQL logging. Only then does a store need SQLAlchemy's
    `Connection`; otherwise it may use a `RawConnection`."""
    d = engine.dispatch
    logger = getattr(engine, "logger", None)
    return bool(
        engine.echo
        or logger is None
        or logger.isEnabledFor(logging.INFO)
        or d.before_cursor_execute
        or d.after_cursor_execute
        or d.before_execute
        or d.after_execute
        or d.commit
        or d.rollback
        or d.engine_connect
        or d.set_connection_execution_options
        or any(fn is not begin_hook for fn in d.begin)
    )


class RawConnection:
    """What `Hot` needs of a `Connection`, over a DB-API connection
    checked out of the engine's pool without one (`engine.raw_connection()`).

    SQLAlchemy's `Connection` costs tens of µs per use (events, options,
    transaction objects); a store takes this path only when nothing observes
    the engine (`engine_instrumented`) and only for operations made of
    `Hot` statements. The pool still checks connections out and in
    (pool events fire, the reset on return runs).
    """

    __slots__ = ("connection", "dialect", "engine")

    def __init__(self, engine: Engine, connection: PoolProxiedConnection) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        self.connection = connection

    def invalidate(self, exception: BaseException | None = None) -> None:
        self.connection.invalidate(exception)


def _wrap(conn: Connection | RawConnection, exc: Exception, sql: str, cursor: Any) -> BaseException:
    """`exc` (a driver error) as SQLAlchemy would raise it; a lost connection
    is invalidated so the pool does not hand it out again."""
    dialect = conn.dialect
    try:
        raw = conn.connection.dbapi_connection
        gone = bool(dialect.is_disconnect(cast(Any, exc), raw, cursor))
    except Exception:
        gone = False
    if gone:
        conn.invalidate(exc)
    return DBAPIError.instance(
        sql,
        None,
        exc,
        dialect.loaded_dbapi.Error,
        hide_parameters=True,
        connection_invalidated=gone,
        dialect=dialect,
    )


def driver_execute(
    conn: Connection | RawConnection, sql: str, args: Any = (), *, fetch: bool = False
) -> Any:
    """Run `sql` (in the driver's paramstyle) on `conn`'s DB-API cursor:
    the rows if `fetch`, else the row count. Through `exec_driver_sql`
    when `instrumented`."""
    if isinstance(conn, Connection) and instrumented(conn):
        result = conn.exec_driver_sql(sql, args, execution_options={"preserve_rowcount": True})
        return result.fetchall() if fetch else result.rowcount
    dbapi_error = conn.dialect.loaded_dbapi.Error
    cursor = conn.connection.cursor()
    try:
        try:
            cursor.execute(sql, args)
            return cursor.fetchall() if fetch else cursor.rowcount
        except dbapi_error as exc:
            raise _wrap(conn, exc, sql, cursor) from exc
    finally:
        cursor.close()


@functools.cache
def _raw_cursor() -> Any:
    """psycopg's `RawCursor` class (psycopg 3.2 and later), or None."""
    try:
        import psycopg  # only asked on the psycopg dialect
    except ImportError:  # pragma: no cover - the dialect imported it
        return None
    return getattr(psycopg, "RawCursor", None)


def _native_execute(
    conn: Connection | RawConnection, sql: str, args: tuple[Any, ...], *, fetch: bool
) -> Any:
    """Run `sql` (with `$n` placeholders) on a psycopg `RawCursor` over
    `conn`'s DB-API connection: the rows if `fetch`, else the row count."""
    dbapi_error = conn.dialect.loaded_dbapi.Error
    cursor = _cursor_of(conn.connection)
    try:
        cursor.execute(sql, args)
        return cursor.fetchall() if fetch else cursor.rowcount
    except dbapi_error as exc:
        raise _wrap(conn, exc, sql, cursor) from exc


_CURSOR = "mfakit.raw_cursor"


def _cursor_of(fairy: PoolProxiedConnection) -> Any:
    """The `RawCursor` kept with this pooled connection (one per DB-API
    connection, in its pool record's `info`, which the pool clears when it
    replaces the connection): making one costs more than a statement's own
    Python work."""
    dbapi_connection = fairy.dbapi_connection
    kept = fairy.info.get(_CURSOR)
    if kept is not None and kept[0] is dbapi_connection and not kept[1].closed:
        return kept[1]
    cursor = _raw_cursor()(dbapi_connection)
    fairy.info[_CURSOR] = (dbapi_connection, cursor)
    return cursor


_PYFORMAT = re.compile(r"%\((\w+)\)s|%%")


def _to_numeric(sql: str) -> tuple[str, list[str]] | None:
    """`sql` in psycopg's `pyformat` paramstyle with `$n` placeholders
    instead (the same name, the same number) and the names in number order;
    None if it holds a `%` this does not understand."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        if name not in order:
            order.append(name)
        return f"${order.index(name) + 1}"

    if "%" in _PYFORMAT.sub("", sql):
        return None
    return _PYFORMAT.sub(number, sql), order


def end_transaction(conn: RawConnection, *, commit: bool) -> None:
    """COMMIT (or ROLLBACK) the DB-API transaction of `conn`; a driver error
    as SQLAlchemy would raise it."""
    dbapi_connection = conn.connection.dbapi_connection
    assert dbapi_connection is not None
    try:
        if commit:
            dbapi_connection.commit()
        else:
            dbapi_connection.rollback()
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _wrap(conn, exc, "COMMIT" if commit else "ROLLBACK", None) from exc


class _Compiled:
    __slots__ = ("names", "native", "native_order", "positional", "results", "slots", "sql")

    def __init__(self, stmt: ClauseElement, dialect: Dialect, keys: Sequence[str] | None) -> None:
        columns = None if keys is None else list(keys)
        compiled = cast(SQLCompiler, stmt.compile(dialect=dialect, column_keys=columns))
        self.sql: str = compiled.string
        self.positional: bool = bool(compiled.positional)
        binds = compiled.binds
        order = list(compiled.positiontup or ()) if self.positional else list(binds)
        slots: list[tuple[str, Processor, Any]] = []
        for name in order:
            param = binds[name]
            proc = param.type.dialect_impl(dialect).bind_processor(dialect)
            # A literal of the statement (a branch's tag) is bound from the
            # statement; the others (``p_*``, the columns set) from the call.
            given = param.required or name.startswith("p_") or (keys is not None and name in keys)
            value = _MISSING if given else param.effective_value
            slots.append((name, proc, value))
        self.slots = slots
        self.names = order
        # psycopg (sync): the same statement with `$n` placeholders, for a RawCursor.
        self.native: str | None = None
        self.native_order: tuple[int, ...] | None = None  # None: the slots' own order
        if (
            dialect.driver == "psycopg"
            and not dialect.is_async
            and dialect.paramstyle == "pyformat"
            and _raw_cursor() is not None
        ):
            numeric = _to_numeric(self.sql)
            if numeric is not None:
                self.native = numeric[0]
                native_order = tuple(order.index(name) for name in numeric[1])
                if native_order != tuple(range(len(order))):
                    self.native_order = native_order
        results: list[tuple[int, Callable[[Any], Any]]] = []
        selected = getattr(stmt, "selected_columns", None)
        if selected is not None and getattr(stmt, "is_select", False):
            for i, column in enumerate(selected):
                proc = column.type.dialect_impl(dialect).result_processor(dialect, None)
                if proc is not None:
                    results.append((i, proc))
        self.results = results

    def args(self, params: Mapping[str, Any]) -> Any:
        out = self._values(params)
        if self.positional:
            return tuple(out)
        return dict(zip(self.names, out, strict=True))

    def native_args(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        out = self._values(params)
        if self.native_order is None:
            return tuple(out)
        return tuple([out[i] for i in self.native_order])

    def _values(self, params: Mapping[str, Any]) -> list[Any]:
        out: list[Any] = []
        append = out.append
        for name, proc, value in self.slots:
            if value is _MISSING:
                value = params[name]
            append(value if proc is None or value is None else proc(value))
        return out


class Hot:
    """A statement run often: compiled on first use for the connection's
    dialect, then run on the DB-API cursor (see the module's docstring).

    `keys` names the columns an INSERT or UPDATE sets (its parameters named
    like the columns); other parameters are the statement's `p_*` bind
    parameters. Parameters are plain values, processed by their column's type.
    """

    __slots__ = ("_compiled", "_footprint", "_keys", "_stmt")

    def __init__(self, stmt: ClauseElement, keys: Sequence[str] | None = None) -> None:
        self._stmt = stmt
        self._keys = None if keys is None else tuple(keys)
        self._compiled: dict[Dialect, _Compiled] = {}
        self._footprint: tuple[str, frozenset[str]] | bool | None = False

    def footprint(self) -> tuple[str, frozenset[str]] | None:
        """For an INSERT, UPDATE or DELETE without RETURNING: the table it
        writes and every table it reads or writes (subqueries included);
        None for anything else."""
        found = self._footprint
        if found is False:
            stmt = self._stmt
            found = None
            if isinstance(stmt, UpdateBase) and not stmt._returning:
                table = getattr(stmt, "table", None)
                if table is not None:
                    touched = frozenset(t.name for t in find_tables(stmt, include_crud=True))
                    found = (table.name, touched | {table.name})
            self._footprint = found
        return cast("tuple[str, frozenset[str]] | None", found)

    def _for(self, conn: Connection | RawConnection) -> _Compiled:
        dialect = conn.dialect
        compiled = self._compiled.get(dialect)
        if compiled is None:
            compiled = self._compiled[dialect] = _Compiled(self._stmt, dialect, self._keys)
        return compiled

    def _execute(
        self, conn: Connection | RawConnection, params: Mapping[str, Any], *, fetch: bool
    ) -> Any:
        compiled = self._for(conn)
        native = compiled.native is not None and not (
            isinstance(conn, Connection) and instrumented(conn)
        )
        try:
            args = compiled.native_args(params) if native else compiled.args(params)
        except (ValueError, TypeError, KeyError) as exc:  # a bind processor refused a value
            raise StatementError(
                "a parameter could not be bound", compiled.sql, None, exc, hide_parameters=True
            ) from exc
        if native:
            assert compiled.native is not None
            return _native_execute(conn, compiled.native, args, fetch=fetch)
        return driver_execute(conn, compiled.sql, args, fetch=fetch)

    def rowcount(self, conn: Connection | RawConnection, params: Mapping[str, Any]) -> int:
        """Run the statement; the number of rows it matched."""
        return int(self._execute(conn, params, fetch=False))

    def rows(
        self, conn: Connection | RawConnection, params: Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        """Run the query; its rows, each value through its column's type."""
        compiled = self._for(conn)
        raw = self._execute(conn, params, fetch=True)
        procs = compiled.results
        out: list[tuple[Any, ...]] = []
        for row in raw:
            values = list(row)
            for i, proc in procs:
                value = values[i]
                if value is not None:
                    values[i] = proc(value)
            out.append(tuple(values))
        return out


_DIVISION_BY_ZERO = "22012"


class OneStatement:
    """Several one-row writes of a unit of work sent to PostgreSQL as ONE
    statement, atomic by itself: each write becomes a data-modifying CTE
    (`WITH m0 AS (UPDATE ... RETURNING 1), m1 AS (INSERT ... RETURNING 1)`)
    and the statement answers how many rows each changed. A *required* write
    that changed no row makes the statement fail (a division by zero on the
    server), so nothing of the others stays: the all-or-nothing rule of
    `apply` in one round trip, without BEGIN and COMMIT.

    Only writes that do not see each other may share a statement (the CTEs
    of one statement all read the snapshot taken before it): no write may
    touch a table another one writes (`combinable`). Only for PostgreSQL
    dialects with psycopg's `pyformat` parameters (psycopg, psycopg2, and
    psycopg's async driver); on psycopg (sync) the text is sent with `$n`
    placeholders on a `RawCursor`, like a `Hot` statement.
    """

    __slots__ = ("_compiled", "_parts")

    def __init__(self, parts: Sequence[tuple[Hot, bool]]) -> None:
        if len(parts) < 2:
            raise ValueError("OneStatement joins at least two writes")
        self._parts = tuple(parts)
        self._compiled: dict[Dialect, _Joined] = {}

    @staticmethod
    def combinable(dialect: Dialect, statements: Sequence[Hot]) -> bool:
        """Whether `statements` may run as one statement on `dialect`."""
        if dialect.name != "postgresql" or dialect.paramstyle != "pyformat":
            return False
        written: list[str] = []
        touched: list[frozenset[str]] = []
        for hot in statements:
            found = hot.footprint()
            if found is None:
                return False
            written.append(found[0])
            touched.append(found[1])
        for i, table in enumerate(written):
            for j, others in enumerate(touched):
                if i != j and table in others:
                    return False
        return True

    def counts(
        self, conn: Connection | RawConnection, params: Sequence[Mapping[str, Any]]
    ) -> list[int] | None:
        """Run every write in one statement: how many rows each changed, or
        None when a required one changed none (then nothing was written)."""
        joined = self._compiled.get(conn.dialect)
        if joined is None:
            joined = self._compiled[conn.dialect] = _Joined(self._parts, conn)
        native = joined.native is not None and not (
            isinstance(conn, Connection) and instrumented(conn)
        )
        try:
            values: dict[str, Any] = {}
            for names, (hot, _), given in zip(joined.names, self._parts, params, strict=True):
                compiled = hot._for(conn)
                values.update(zip(names, compiled._values(given), strict=True))
        except (ValueError, TypeError, KeyError) as exc:  # a bind processor refused a value
            raise StatementError(
                "a parameter could not be bound", joined.sql, None, exc, hide_parameters=True
            ) from exc
        try:
            if native:
                assert joined.native is not None
                args = tuple([values[name] for name in joined.native_names])
                rows = _native_execute(conn, joined.native, args, fetch=True)
            else:
                rows = driver_execute(conn, joined.sql, values, fetch=True)
        except DBAPIError as exc:
            orig = exc.orig
            state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
            if state == _DIVISION_BY_ZERO:
                return None  # a required write changed no row: the statement undid all
            raise
        return [int(n) for n in rows[0][1:]]


class _Joined:
    """The text of a `OneStatement` for one dialect: each part's own
    compiled text with its parameters renamed `m<i>_<name>`."""

    __slots__ = ("names", "native", "native_names", "sql")

    def __init__(self, parts: Sequence[tuple[Hot, bool]], conn: Connection | RawConnection) -> None:
        ctes: list[str] = []
        counts: list[str] = []
        required: list[str] = []
        self.names: list[list[str]] = []
        native_ok = True
        for i, (hot, must) in enumerate(parts):
            compiled = hot._for(conn)
            if compiled.positional:  # pragma: no cover - combinable() admits pyformat only
                raise ValueError("OneStatement needs named parameters")
            native_ok = native_ok and compiled.native is not None

            def rename(match: re.Match[str], i: int = i) -> str:
                name = match.group(1)
                return "%%" if name is None else f"%(m{i}_{name})s"

            ctes.append(f"m{i} AS ({_PYFORMAT.sub(rename, compiled.sql)} RETURNING 1)")
            self.names.append([f"m{i}_{name}" for name in compiled.names])
            # Names made here from the part's number; no text from outside.
            counts.append(f"(SELECT count(*) FROM m{i})")  # noqa: S608
            if must:
                required.append(f"(SELECT count(*) FROM m{i}) = 1")  # noqa: S608
        # A division by zero when a required write changed no row: the
        # statement fails, and with it every write it made.
        guard = f"1 / ({' AND '.join(required)})::int" if required else "1"
        self.sql = f"WITH {', '.join(ctes)} SELECT {guard}, {', '.join(counts)}"
        self.native: str | None = None
        self.native_names: list[str] = []
        if native_ok:
            numeric = _to_numeric(self.sql)
            if numeric is not None:
                self.native, self.native_names = numeric
