"""``SqlStore``: mfakit's storage on SQLAlchemy Core (SQLite, PostgreSQL).

Theory of operation
-------------------
Every operation that decides whether a code is accepted is one conditional
statement, so the database, not this process, decides who wins a race
(ARCHITECTURE.md rule 5)::

    use_backup_code   UPDATE backup_codes SET used_at=:now
                      WHERE user_id=:u AND lookup=:l AND used_at IS NULL
    advance_totp      UPDATE totp_factors SET last_step=:step, ...
                      WHERE user_id=:u AND id=:f AND confirmed_at IS NOT NULL
                        AND (last_step IS NULL OR last_step < :step)
    put_counter       INSERT ... ON CONFLICT DO NOTHING          (version 0)
                      UPDATE counters SET ..., version=:v+1
                      WHERE key=:k AND version=:v                (version v)
    update_challenge  UPDATE challenges SET ..., version=:v+1
                      WHERE id=:id AND version=:v

and the row count says whether it applied. Under PostgreSQL's READ COMMITTED a
second writer blocked on the same row re-evaluates the ``WHERE`` clause against
the committed row (and so matches nothing); SQLite runs one writer at a time.
Single statements run in autocommit mode (one round trip); operations with
several statements (``confirm_totp`` or ``update_challenge`` with backup codes
and a contact, ``replace_backup_codes``, ``clear_factors``, ``add_totp``) run in
one transaction opened with ``engine.begin()``: the conditional statement first,
and the rest only if it matched. Any failure rolls everything back.

SQLite: :meth:`SqlStore.from_url` sets WAL, a 5 s busy timeout and foreign keys
on every connection, and opens write transactions with ``BEGIN IMMEDIATE`` so
concurrent writers queue for the lock instead of failing (see
:func:`configure_sqlite`). An in-memory database is one connection shared by
all threads (``StaticPool``), guarded by a lock in the store.

Errors: any SQLAlchemy or driver exception becomes
:class:`~mfakit.errors.StorageError` here, with the original chained as
``__cause__``. Messages name the operation and the exception type, never the
SQL parameters (engines made by ``from_url`` also set ``hide_parameters``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BindParameter,
    Connection,
    Delete,
    Engine,
    Insert,
    Row,
    Select,
    Table,
    Update,
    bindparam,
    case,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from ...core.challenge import Purpose, State
from ...core.contacts import ContactKind
from ...core.methods import Method
from ...core.records import (
    BackupCodeRecord,
    ChallengeRecord,
    ContactRecord,
    Counter,
    DeviceRecord,
    QuestionRecord,
    TotpRecord,
    UserState,
)
from ...errors import ConfigurationError, StorageError
from ...ports.storage import DeviceStore, Store
from .schema import SCHEMA_COMPONENT, SCHEMA_VERSION, Tables, build_metadata, check_prefix

__all__ = ["SqlStore", "configure_sqlite"]

SQLITE_BUSY_TIMEOUT_MS = 5000

# Execution option read by the SQLite "begin" hook: how to open a transaction.
_BEGIN = "mfakit_sqlite_begin"
_NATIVE_UPSERT = frozenset({"postgresql", "sqlite"})


# --- SQLite set-up ------------------------------------------------------------


def _sqlite_connect(wal: bool) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver must not open transactions itself: SQLAlchemy's "begin"
        # hook below does, so BEGIN IMMEDIATE and SAVEPOINTs work as written.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS:d}")
            cursor.execute("PRAGMA foreign_keys=ON")
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL").fetchall()
        finally:
            cursor.close()

    return on_connect


def _sqlite_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get(_BEGIN)
    if mode == "immediate":
        # Take the write lock now: a second writer waits (busy timeout) here
        # instead of failing later when it upgrades a read lock.
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif mode != "autocommit":
        conn.exec_driver_sql("BEGIN")
    # "autocommit": no BEGIN; the single statement commits by itself.


def configure_sqlite(engine: Engine, *, wal: bool = True) -> None:
    """Prepare a SQLite engine you made yourself the way :meth:`SqlStore.from_url`
    does: WAL journal (``wal=True``; pointless for ``:memory:``), a 5 s busy
    timeout, foreign keys, and SQLAlchemy (not the ``sqlite3`` module) in charge
    of ``BEGIN``, so mfakit's writes use ``BEGIN IMMEDIATE``. Call it before
    the engine's first connection. Your own code keeps plain ``BEGIN``
    transactions, now also for SELECTs (SQLAlchemy's recommended recipe).
    """
    if engine.dialect.name != "sqlite":
        raise ConfigurationError("configure_sqlite() is for SQLite engines")
    if event.contains(engine, "begin", _sqlite_begin):
        return
    event.listen(engine, "connect", _sqlite_connect(wal))
    event.listen(engine, "begin", _sqlite_begin)


def _sqlite_is_memory(url: URL) -> bool:
    db = url.database or ""
    return (
        db in ("", ":memory:")
        or db.startswith("file::memory:")
        or (url.query.get("mode") == "memory")
    )


# --- rows <-> records -------------------------------------------------------------


def _totp_values(r: TotpRecord) -> dict[str, Any]:
    return {
        "user_id": r.user_id,
        "id": r.id,
        "label": r.label,
        "secret_key_id": r.secret_key_id,
        "secret_blob": r.secret_blob,
        "algorithm": r.algorithm,
        "digits": r.digits,
        "period": r.period,
        "created_at": r.created_at,
        "expires_at": r.expires_at,
        "confirmed_at": r.confirmed_at,
        "last_step": r.last_step,
        "last_used_at": r.last_used_at,
    }


def _totp(row: Row[Any]) -> TotpRecord:
    m = row._mapping
    return TotpRecord(
        id=m["id"],
        user_id=m["user_id"],
        label=m["label"],
        secret_key_id=m["secret_key_id"],
        secret_blob=bytes(m["secret_blob"]),
        algorithm=m["algorithm"],
        digits=m["digits"],
        period=m["period"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        confirmed_at=m["confirmed_at"],
        last_step=m["last_step"],
        last_used_at=m["last_used_at"],
    )


def _backup_values(user_id: str, r: BackupCodeRecord) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "lookup": r.lookup,
        "hash": r.hash,
        "created_at": r.created_at,
        "used_at": r.used_at,
    }


def _backup(row: Row[Any]) -> BackupCodeRecord:
    m = row._mapping
    return BackupCodeRecord(
        user_id=m["user_id"],
        lookup=m["lookup"],
        hash=m["hash"],
        created_at=m["created_at"],
        used_at=m["used_at"],
    )


def _counter(row: Row[Any]) -> Counter:
    m = row._mapping
    return Counter(
        key=m["key"],
        count=m["count"],
        window_start=m["window_start"],
        updated_at=m["updated_at"],
        version=m["version"],
    )


def _challenge_values(r: ChallengeRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "user_id": r.user_id,
        "purpose": Purpose(r.purpose).value,
        "state": State(r.state).value,
        "methods": ",".join(Method(m).value for m in r.methods),
        "method": Method(r.method).value,
        "created_at": r.created_at,
        "expires_at": r.expires_at,
        "attempts": r.attempts,
        "alternatives_locked": bool(r.alternatives_locked),
        "code_hash": r.code_hash,
        "code_key_id": r.code_key_id,
        "code_sent_at": r.code_sent_at,
        "destination": r.destination,
        "code_length": r.code_length,
        "sends": r.sends,
        "target_kind": None if r.target_kind is None else ContactKind(r.target_kind).value,
        "target_value": r.target_value,
        "actor_id": r.actor_id,
        "tenant": r.tenant,
        "version": r.version,
    }


def _challenge(row: Row[Any]) -> ChallengeRecord:
    m = row._mapping
    code_hash = m["code_hash"]
    target_kind = m["target_kind"]
    return ChallengeRecord(
        id=m["id"],
        user_id=m["user_id"],
        purpose=Purpose(m["purpose"]),
        state=State(m["state"]),
        methods=tuple(Method(x) for x in m["methods"].split(",") if x),
        method=Method(m["method"]),
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        attempts=m["attempts"],
        alternatives_locked=bool(m["alternatives_locked"]),
        code_hash=None if code_hash is None else bytes(code_hash),
        code_key_id=m["code_key_id"],
        code_sent_at=m["code_sent_at"],
        destination=m["destination"],
        code_length=m["code_length"],
        sends=m["sends"],
        target_kind=None if target_kind is None else ContactKind(target_kind),
        target_value=m["target_value"],
        actor_id=m["actor_id"],
        tenant=m["tenant"],
        version=m["version"],
    )


def _contact_values(r: ContactRecord) -> dict[str, Any]:
    return {
        "user_id": r.user_id,
        "kind": ContactKind(r.kind).value,
        "value": r.value,
        "created_at": r.created_at,
        "verified_at": r.verified_at,
    }


def _contact(row: Row[Any]) -> ContactRecord:
    m = row._mapping
    return ContactRecord(
        user_id=m["user_id"],
        kind=ContactKind(m["kind"]),
        value=m["value"],
        created_at=m["created_at"],
        verified_at=m["verified_at"],
    )


def _question(row: Row[Any]) -> QuestionRecord:
    m = row._mapping
    return QuestionRecord(
        user_id=m["user_id"],
        question=m["question"],
        answer_hash=m["answer_hash"],
        created_at=m["created_at"],
    )


def _device_values(r: DeviceRecord) -> dict[str, Any]:
    return {
        "user_id": r.user_id,
        "id": r.id,
        "label": r.label,
        "created_at": r.created_at,
        "expires_at": r.expires_at,
        "security_version": r.security_version,
        "last_used_at": r.last_used_at,
        "revoked_at": r.revoked_at,
    }


def _device(row: Row[Any]) -> DeviceRecord:
    m = row._mapping
    return DeviceRecord(
        id=m["id"],
        user_id=m["user_id"],
        label=m["label"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        security_version=m["security_version"],
        last_used_at=m["last_used_at"],
        revoked_at=m["revoked_at"],
    )


def _user_state(row: Row[Any]) -> UserState:
    m = row._mapping
    method = m["preferred_method"]
    return UserState(
        user_id=m["user_id"],
        security_version=m["security_version"],
        preferred_method=None if method is None else Method(method),
        updated_at=m["updated_at"],
    )


def _storage_error(operation: str, exc: BaseException) -> StorageError:
    kind = type(exc).__name__
    orig = getattr(exc, "orig", None)
    if orig is not None:
        kind += f" ({type(orig).__module__}.{type(orig).__name__})"
    return StorageError(f"SqlStore.{operation} failed: {kind}")


# --- prepared statements --------------------------------------------------------


def _bp(name: str, table: Table, column: str) -> BindParameter[Any]:
    """A bound parameter typed like ``table.column`` (so datetimes go through
    :class:`UtcDateTime`)."""
    return bindparam(name, type_=table.c[column].type)


class _Statements:
    """The hot-path statements, built once per store with bound parameters
    (named ``p_*``), so each call only binds values and reuses SQLAlchemy's
    compiled-statement cache. Inserts and ``SET`` clauses take their columns
    from the parameters."""

    def __init__(self, t: Tables, dialect: str) -> None:
        totp, b, c, ch = t.totp, t.backup, t.counters, t.challenges
        user = _bp("p_user", totp, "user_id")
        self.get_totp: Select[Any] = select(totp).where(
            totp.c.user_id == user, totp.c.id == _bp("p_id", totp, "id")
        )
        self.list_totp: Select[Any] = (
            select(totp).where(totp.c.user_id == user).order_by(totp.c.created_at, totp.c.id)
        )
        step = _bp("p_step", totp, "last_step")
        self.advance_totp: Update = (
            update(totp)
            .where(
                totp.c.user_id == user,
                totp.c.id == _bp("p_id", totp, "id"),
                totp.c.confirmed_at.is_not(None),
                or_(totp.c.last_step.is_(None), totp.c.last_step < step),
            )
            .values(last_step=step, last_used_at=_bp("p_now", totp, "last_used_at"))
        )
        b_user = _bp("p_user", b, "user_id")
        b_lookup = _bp("p_lookup", b, "lookup")
        self.get_backup_code: Select[Any] = select(b).where(
            b.c.user_id == b_user, b.c.lookup == b_lookup, b.c.used_at.is_(None)
        )
        self.use_backup_code: Update = (
            update(b)
            .where(b.c.user_id == b_user, b.c.lookup == b_lookup, b.c.used_at.is_(None))
            .values(used_at=_bp("p_now", b, "used_at"))
        )
        self.count_backup_codes: Select[Any] = select(func.count()).where(
            b.c.user_id == b_user, b.c.used_at.is_(None)
        )
        self.delete_backup_codes: Delete = delete(b).where(b.c.user_id == b_user)
        self.insert_backup_codes: Insert = insert(b)
        key = _bp("p_key", c, "key")
        self.get_counter: Select[Any] = select(c).where(c.c.key == key)
        self.update_counter: Update = update(c).where(
            c.c.key == key, c.c.version == _bp("p_version", c, "version")
        )
        self.insert_counter: Insert | None = None
        if dialect in _NATIVE_UPSERT:
            # Not stored yet: insert, or nothing if another writer did. An
            # INSERT's row count is only kept when asked for (SQLAlchemy 2).
            ins = pg_insert(c) if dialect == "postgresql" else sqlite_insert(c)
            self.insert_counter = ins.on_conflict_do_nothing(
                index_elements=[c.c.key]
            ).execution_options(preserve_rowcount=True)
        self.insert_challenge: Insert = insert(ch)
        self.get_challenge: Select[Any] = select(ch).where(ch.c.id == _bp("p_id", ch, "id"))
        self.update_challenge: Update = update(ch).where(
            ch.c.id == _bp("p_id", ch, "id"), ch.c.version == _bp("p_version", ch, "version")
        )
        co, q, d, u = t.contacts, t.questions, t.devices, t.user_state
        self.get_contacts: Select[Any] = (
            select(co).where(co.c.user_id == _bp("p_user", co, "user_id")).order_by(co.c.kind)
        )
        self.get_question: Select[Any] = select(q).where(q.c.user_id == _bp("p_user", q, "user_id"))
        d_user, d_id = _bp("p_user", d, "user_id"), _bp("p_id", d, "id")
        self.get_device: Select[Any] = select(d).where(d.c.user_id == d_user, d.c.id == d_id)
        self.touch_device: Update = (
            update(d)
            .where(d.c.user_id == d_user, d.c.id == d_id, d.c.revoked_at.is_(None))
            .values(last_used_at=_bp("p_now", d, "last_used_at"))
        )
        self.get_user_state: Select[Any] = select(u).where(
            u.c.user_id == _bp("p_user", u, "user_id")
        )


# --- the store ----------------------------------------------------------------


class SqlStore:
    """Implements :class:`mfakit.ports.storage.Store` (and ``DeviceStore``) on
    a SQLAlchemy engine.

    ``SqlStore(engine)`` uses an engine your application owns (create the
    tables with :meth:`create_all` or your migrations, see :attr:`metadata`);
    :meth:`from_url` makes and owns one. Tables are named
    ``<table_prefix><name>``. The schema version recorded in the database is
    checked before the first operation; a newer one than this release knows
    is refused with :class:`~mfakit.errors.ConfigurationError`.
    """

    def __init__(self, engine: Engine, *, table_prefix: str = "mfa_") -> None:
        if not isinstance(engine, Engine):
            raise ConfigurationError("SqlStore needs a SQLAlchemy Engine (or use from_url)")
        self._prefix = check_prefix(table_prefix)
        self.metadata = build_metadata(self._prefix)
        """The tables of this store, for ``create_all`` or Alembic."""
        self._t = Tables(self.metadata, self._prefix)
        self._engine = engine
        self._dialect = engine.dialect.name
        self._s = _Statements(self._t, self._dialect)
        self._owns_engine = False
        self._checked = False
        # One DB-API connection shared by all threads (an in-memory SQLite
        # database): operations must not interleave on it.
        self._lock: threading.RLock | None = (
            threading.RLock() if isinstance(engine.pool, StaticPool) else None
        )
        # _auto runs single statements, each atomic by itself, without an
        # explicit transaction (one round trip); _txe opens a transaction.
        if self._dialect == "sqlite" and event.contains(engine, "begin", _sqlite_begin):
            self._auto: Engine = engine.execution_options(**{_BEGIN: "autocommit"})
            self._txe: Engine = engine.execution_options(**{_BEGIN: "immediate"})
        elif self._dialect == "postgresql":
            self._auto = engine.execution_options(isolation_level="AUTOCOMMIT")
            self._txe = engine
        else:
            # SQLite without configure_sqlite(): the sqlite3 module's implicit
            # transactions; every write transaction below starts with a write
            # statement, which takes the write lock before anything is read.
            self._auto = engine
            self._txe = engine
        self._upsert_engine = self._auto if self._dialect in _NATIVE_UPSERT else self._txe

    @classmethod
    def from_url(
        cls,
        url: str | URL,
        *,
        table_prefix: str = "mfa_",
        create: bool = True,
        **engine_kwargs: Any,
    ) -> SqlStore:
        """Make an engine for ``url`` and a store on it.

        ``sqlite:///mfa.db`` gets WAL, a busy timeout and ``BEGIN IMMEDIATE``
        writes; ``sqlite://`` (in memory) one connection shared by threads.
        ``postgresql+psycopg://user:pw@host/db`` needs ``mfakit[postgres]``.
        ``create=True`` creates missing tables (:meth:`create_all`); with
        ``create=False`` they must exist. Other keyword arguments go to
        :func:`sqlalchemy.create_engine` (``hide_parameters`` defaults to True
        so SQL parameters never reach exception messages or logs).
        """
        prefix = check_prefix(table_prefix)
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError, TypeError) as exc:
            raise ConfigurationError("url is not a database URL") from exc
        sqlite = parsed.get_backend_name() == "sqlite"
        memory = sqlite and _sqlite_is_memory(parsed)
        engine_kwargs.setdefault("hide_parameters", True)
        if memory:
            engine_kwargs.setdefault("poolclass", StaticPool)
            connect_args = dict(engine_kwargs.get("connect_args") or {})
            connect_args.setdefault("check_same_thread", False)
            engine_kwargs["connect_args"] = connect_args
        try:
            engine = create_engine(parsed, **engine_kwargs)
        except (ArgumentError, NoSuchModuleError, ImportError) as exc:
            raise ConfigurationError(
                f"cannot make an engine for {parsed.drivername!r} URLs ({type(exc).__name__}); "
                "is its driver installed (mfakit[sql], mfakit[postgres])?"
            ) from exc
        if sqlite:
            configure_sqlite(engine, wal=not memory)
        try:
            store = cls(engine, table_prefix=prefix)
            store._owns_engine = True
            if create:
                store.create_all()
            else:
                store.check_schema()
        except BaseException:
            engine.dispose()
            raise
        return store

    # --- housekeeping ---------------------------------------------------------
    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def table_prefix(self) -> str:
        return self._prefix

    def __repr__(self) -> str:
        return f"SqlStore(dialect={self._dialect!r}, table_prefix={self._prefix!r})"

    def close(self) -> None:
        """Close the engine's connections if :meth:`from_url` made it."""
        if self._owns_engine:
            self._engine.dispose()

    def create_all(self) -> None:
        """Create the missing tables and record :data:`SCHEMA_VERSION`.

        For quick starts and tests; applications with migrations include
        :attr:`metadata` (or :func:`build_metadata`) in them instead.
        """
        v = self._t.version
        with self._guard(), _translated("create_all"), self._txe.begin() as conn:
            if self._dialect == "postgresql":
                # Several app servers may start at once: CREATE TABLE IF NOT
                # EXISTS races in PostgreSQL, so serialise on a lock held until
                # this (transactional) DDL commits.
                key = self._prefix + "schema"
                conn.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))
            self.metadata.create_all(conn)
            found = conn.execute(
                select(v.c.version).where(v.c.component == SCHEMA_COMPONENT)
            ).first()
            if found is None:
                conn.execute(insert(v).values(component=SCHEMA_COMPONENT, version=SCHEMA_VERSION))
        self.check_schema()

    def check_schema(self) -> None:
        """Compare the schema version recorded in the database with this
        release's; :class:`ConfigurationError` if the tables are missing or
        newer. Runs once, before the store's first operation."""
        v = self._t.version
        with self._guard():
            if self._checked:
                return
            query = select(v.c.version).where(v.c.component == SCHEMA_COMPONENT)
            try:
                with self._auto.begin() as conn:
                    found = conn.execute(query).scalar()
            except SQLAlchemyError as exc:
                if not self._has_version_table():
                    raise ConfigurationError(
                        f"mfakit's tables ({self._prefix}...) are missing: "
                        "call create_all() or run your migrations"
                    ) from exc
                raise _storage_error("check_schema", exc) from exc
            if found is None:
                # The tables came from the host's migrations: record the version.
                with _translated("check_schema"), self._txe.begin() as conn:
                    if conn.execute(query).first() is None:
                        conn.execute(
                            insert(v).values(component=SCHEMA_COMPONENT, version=SCHEMA_VERSION)
                        )
                found = SCHEMA_VERSION
            if found > SCHEMA_VERSION:
                raise ConfigurationError(
                    f"the database holds mfakit schema version {found}, newer than this "
                    f"release supports ({SCHEMA_VERSION}): upgrade mfakit"
                )
            if found < SCHEMA_VERSION:  # pragma: no cover - no older version exists yet
                raise ConfigurationError(
                    f"the database holds mfakit schema version {found}; migrate it to "
                    f"{SCHEMA_VERSION} first"
                )
            self._checked = True

    def _has_version_table(self) -> bool:
        from sqlalchemy import inspect

        try:
            with self._engine.connect() as conn:
                return inspect(conn).has_table(self._t.version.name)
        except SQLAlchemyError:
            return True  # unreachable database: report the original failure

    def _guard(self) -> threading.RLock | nullcontext[None]:
        return self._lock if self._lock is not None else nullcontext()

    @contextmanager
    def _op(self, operation: str) -> Iterator[None]:
        """Run one store operation: schema checked, serialised on a shared
        connection, database errors translated."""
        with self._guard():
            if not self._checked:
                self.check_schema()
            try:
                yield
            except SQLAlchemyError as exc:
                raise _storage_error(operation, exc) from exc

    def _lock_user(self, conn: Connection, table: Table, user_id: str) -> None:
        """Serialise writers of one user's rows in ``table`` until commit.

        A row lock (``SELECT ... FOR UPDATE``) cannot do it on PostgreSQL:
        before a user's first authenticator there is no row to lock, so two
        concurrent first inserts would both see room under the limit. Instead
        a transaction-scoped advisory lock on a hash of (table, user) makes
        concurrent ``add_totp`` calls for one user run one after the other;
        it is released at commit or rollback, and a hash collision only makes
        two users' enrolments wait for each other. SQLite needs nothing: its
        write transactions (``BEGIN IMMEDIATE``, or a first statement that
        writes) already run one at a time. Elsewhere (MySQL/InnoDB) ``FOR
        UPDATE`` also locks the index gap, which covers the empty case.
        """
        if self._dialect == "postgresql":
            key = f"{table.name}:{user_id}"
            conn.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))
        elif self._dialect != "sqlite":
            conn.execute(
                select(table.c.user_id).where(table.c.user_id == user_id).with_for_update()
            )

    def _upsert(
        self, conn: Connection, table: Table, values: Mapping[str, Any], keys: Sequence[str]
    ) -> None:
        """Insert ``values``, or update the row with the same ``keys`` (other
        columns keep their values): one ``ON CONFLICT`` statement where the
        dialect has it, else an update and, if it matched nothing, an insert
        inside the caller's transaction."""
        if self._dialect in _NATIVE_UPSERT:
            ins = (pg_insert if self._dialect == "postgresql" else sqlite_insert)(table).values(
                dict(values)
            )
            changes = {k: ins.excluded[k] for k in values if k not in keys}
            conn.execute(
                ins.on_conflict_do_update(index_elements=[table.c[k] for k in keys], set_=changes)
            )
        else:
            changes = {k: v for k, v in values.items() if k not in keys}
            where = [table.c[k] == values[k] for k in keys]
            if conn.execute(update(table).where(*where).values(changes)).rowcount == 0:
                conn.execute(insert(table).values(dict(values)))

    def _replace_codes(
        self, conn: Connection, user_id: str, codes: Sequence[BackupCodeRecord]
    ) -> None:
        conn.execute(self._s.delete_backup_codes, {"p_user": user_id})
        if codes:
            conn.execute(self._s.insert_backup_codes, [_backup_values(user_id, c) for c in codes])

    # --- authenticator apps -------------------------------------------------
    def add_totp(self, record: TotpRecord, *, limit: int, now: datetime) -> bool:
        t = self._t.totp
        with self._op("add_totp"), self._txe.begin() as conn:
            self._lock_user(conn, t, record.user_id)
            # Drop the user's expired pending setups, then count what is left
            # (all live) and whether this id is taken.
            conn.execute(
                delete(t).where(
                    t.c.user_id == record.user_id,
                    t.c.confirmed_at.is_(None),
                    or_(t.c.expires_at.is_(None), t.c.expires_at <= now),
                )
            )
            live, clash = conn.execute(
                select(func.count(), func.count(case((t.c.id == record.id, 1)))).where(
                    t.c.user_id == record.user_id
                )
            ).one()
            if live >= limit or clash:
                return False
            conn.execute(insert(t).values(_totp_values(record)))
            return True

    def get_totp(self, user_id: str, factor_id: str) -> TotpRecord | None:
        params = {"p_user": user_id, "p_id": factor_id}
        with self._op("get_totp"), self._auto.begin() as conn:
            row = conn.execute(self._s.get_totp, params).first()
            return None if row is None else _totp(row)

    def list_totp(self, user_id: str) -> list[TotpRecord]:
        with self._op("list_totp"), self._auto.begin() as conn:
            return [_totp(row) for row in conn.execute(self._s.list_totp, {"p_user": user_id})]

    def confirm_totp(
        self,
        user_id: str,
        factor_id: str,
        *,
        step: int,
        now: datetime,
        backup_codes: Sequence[BackupCodeRecord] | None,
    ) -> bool:
        t = self._t.totp
        confirm = (
            update(t)
            .where(
                t.c.user_id == user_id,
                t.c.id == factor_id,
                t.c.confirmed_at.is_(None),
                t.c.expires_at > now,
            )
            .values(confirmed_at=now, expires_at=None, last_step=step, last_used_at=now)
        )
        if backup_codes is None:
            with self._op("confirm_totp"), self._auto.begin() as conn:
                return conn.execute(confirm).rowcount == 1
        with self._op("confirm_totp"), self._txe.begin() as conn:
            if conn.execute(confirm).rowcount != 1:
                return False
            self._replace_codes(conn, user_id, backup_codes)
            return True

    def advance_totp(self, user_id: str, factor_id: str, *, step: int, now: datetime) -> bool:
        params = {"p_user": user_id, "p_id": factor_id, "p_step": step, "p_now": now}
        with self._op("advance_totp"), self._auto.begin() as conn:
            return conn.execute(self._s.advance_totp, params).rowcount == 1

    def rename_totp(self, user_id: str, factor_id: str, label: str) -> bool:
        t = self._t.totp
        stmt = (
            update(t)
            .where(t.c.user_id == user_id, t.c.id == factor_id, t.c.confirmed_at.is_not(None))
            .values(label=label)
        )
        with self._op("rename_totp"), self._auto.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def delete_totp(self, user_id: str, factor_id: str) -> bool:
        t = self._t.totp
        stmt = delete(t).where(t.c.user_id == user_id, t.c.id == factor_id)
        with self._op("delete_totp"), self._auto.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    # --- backup codes --------------------------------------------------------
    def replace_backup_codes(self, user_id: str, codes: Sequence[BackupCodeRecord]) -> None:
        engine = self._txe if codes else self._auto
        with self._op("replace_backup_codes"), engine.begin() as conn:
            self._replace_codes(conn, user_id, codes)

    def get_backup_code(self, user_id: str, lookup: str) -> BackupCodeRecord | None:
        params = {"p_user": user_id, "p_lookup": lookup}
        with self._op("get_backup_code"), self._auto.begin() as conn:
            row = conn.execute(self._s.get_backup_code, params).first()
            return None if row is None else _backup(row)

    def use_backup_code(self, user_id: str, lookup: str, *, now: datetime) -> bool:
        params = {"p_user": user_id, "p_lookup": lookup, "p_now": now}
        with self._op("use_backup_code"), self._auto.begin() as conn:
            return conn.execute(self._s.use_backup_code, params).rowcount == 1

    def count_backup_codes(self, user_id: str) -> int:
        with self._op("count_backup_codes"), self._auto.begin() as conn:
            return int(conn.execute(self._s.count_backup_codes, {"p_user": user_id}).scalar_one())

    # --- counters --------------------------------------------------------------
    def get_counter(self, key: str) -> Counter | None:
        with self._op("get_counter"), self._auto.begin() as conn:
            row = conn.execute(self._s.get_counter, {"p_key": key}).first()
            return None if row is None else _counter(row)

    def put_counter(self, counter: Counter) -> bool:
        values: dict[str, Any] = {
            "count": counter.count,
            "window_start": counter.window_start,
            "updated_at": counter.updated_at,
            "version": counter.version + 1,
        }
        with self._op("put_counter"):
            if counter.version != 0:
                values["p_key"] = counter.key
                values["p_version"] = counter.version
                with self._auto.begin() as conn:
                    return conn.execute(self._s.update_counter, values).rowcount == 1
            values["key"] = counter.key
            if self._s.insert_counter is not None:
                with self._auto.begin() as conn:
                    return conn.execute(self._s.insert_counter, values).rowcount == 1
            try:
                with self._auto.begin() as conn:
                    conn.execute(insert(self._t.counters), values)
            except IntegrityError:
                return False
            return True

    # --- challenges -----------------------------------------------------------
    def insert_challenge(self, record: ChallengeRecord) -> None:
        values = _challenge_values(record)
        values["version"] = 0
        try:
            with self._op("insert_challenge"), self._auto.begin() as conn:
                conn.execute(self._s.insert_challenge, values)
        except StorageError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise StorageError("a challenge with this id already exists") from exc.__cause__
            raise

    def get_challenge(self, challenge_id: str) -> ChallengeRecord | None:
        with self._op("get_challenge"), self._auto.begin() as conn:
            row = conn.execute(self._s.get_challenge, {"p_id": challenge_id}).first()
            return None if row is None else _challenge(row)

    def update_challenge(
        self,
        record: ChallengeRecord,
        *,
        contact: ContactRecord | None = None,
        backup_codes: Sequence[BackupCodeRecord] | None = None,
    ) -> bool:
        values = _challenge_values(record)
        del values["id"]
        values["version"] = record.version + 1
        values["p_id"] = record.id
        values["p_version"] = record.version
        stmt = self._s.update_challenge
        if contact is None and backup_codes is None:
            with self._op("update_challenge"), self._auto.begin() as conn:
                return conn.execute(stmt, values).rowcount == 1
        with self._op("update_challenge"), self._txe.begin() as conn:
            if conn.execute(stmt, values).rowcount != 1:
                return False
            if contact is not None:
                self._upsert(conn, self._t.contacts, _contact_values(contact), ("user_id", "kind"))
            if backup_codes is not None:
                self._replace_codes(conn, record.user_id, backup_codes)
            return True

    # --- contact channels -----------------------------------------------------
    def get_contacts(self, user_id: str) -> list[ContactRecord]:
        with self._op("get_contacts"), self._auto.begin() as conn:
            rows = conn.execute(self._s.get_contacts, {"p_user": user_id})
            return [_contact(row) for row in rows]

    def put_contact(self, record: ContactRecord) -> None:
        with self._op("put_contact"), self._upsert_engine.begin() as conn:
            self._upsert(conn, self._t.contacts, _contact_values(record), ("user_id", "kind"))

    def delete_contact(self, user_id: str, kind: ContactKind) -> bool:
        t = self._t.contacts
        stmt = delete(t).where(t.c.user_id == user_id, t.c.kind == ContactKind(kind).value)
        with self._op("delete_contact"), self._auto.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    # --- security question ----------------------------------------------------
    def get_question(self, user_id: str) -> QuestionRecord | None:
        with self._op("get_question"), self._auto.begin() as conn:
            row = conn.execute(self._s.get_question, {"p_user": user_id}).first()
            return None if row is None else _question(row)

    def put_question(self, record: QuestionRecord) -> None:
        values = {
            "user_id": record.user_id,
            "question": record.question,
            "answer_hash": record.answer_hash,
            "created_at": record.created_at,
        }
        with self._op("put_question"), self._upsert_engine.begin() as conn:
            self._upsert(conn, self._t.questions, values, ("user_id",))

    # --- trusted devices (DeviceStore) --------------------------------------
    def insert_device(self, record: DeviceRecord) -> None:
        try:
            with self._op("insert_device"), self._auto.begin() as conn:
                conn.execute(insert(self._t.devices).values(_device_values(record)))
        except StorageError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise StorageError("a device with this id already exists") from exc.__cause__
            raise

    def get_device(self, user_id: str, device_id: str) -> DeviceRecord | None:
        params = {"p_user": user_id, "p_id": device_id}
        with self._op("get_device"), self._auto.begin() as conn:
            row = conn.execute(self._s.get_device, params).first()
            return None if row is None else _device(row)

    def list_devices(self, user_id: str) -> list[DeviceRecord]:
        d = self._t.devices
        query = select(d).where(d.c.user_id == user_id).order_by(d.c.created_at.desc(), d.c.id)
        with self._op("list_devices"), self._auto.begin() as conn:
            return [_device(row) for row in conn.execute(query)]

    def _update_live_devices(
        self, operation: str, user_id: str, device_id: str | None, **values: Any
    ) -> int:
        d = self._t.devices
        where = [d.c.user_id == user_id, d.c.revoked_at.is_(None)]
        if device_id is not None:
            where.append(d.c.id == device_id)
        with self._op(operation), self._auto.begin() as conn:
            return int(conn.execute(update(d).where(*where).values(values)).rowcount)

    def touch_device(self, user_id: str, device_id: str, *, now: datetime) -> bool:
        params = {"p_user": user_id, "p_id": device_id, "p_now": now}
        with self._op("touch_device"), self._auto.begin() as conn:
            return conn.execute(self._s.touch_device, params).rowcount == 1

    def revoke_device(self, user_id: str, device_id: str, *, now: datetime) -> bool:
        revoked = self._update_live_devices("revoke_device", user_id, device_id, revoked_at=now)
        return revoked == 1

    def revoke_devices(self, user_id: str, *, now: datetime) -> int:
        return self._update_live_devices("revoke_devices", user_id, None, revoked_at=now)

    # --- per-user state (DeviceStore) ---------------------------------------
    def get_user_state(self, user_id: str) -> UserState | None:
        with self._op("get_user_state"), self._auto.begin() as conn:
            row = conn.execute(self._s.get_user_state, {"p_user": user_id}).first()
            return None if row is None else _user_state(row)

    def bump_security_version(self, user_id: str, *, now: datetime) -> int:
        u = self._t.user_state
        # (insert_returning is known once connected; the schema check connects.)
        if self._dialect in _NATIVE_UPSERT and self._engine.dialect.insert_returning:
            # One statement: create the state at 1 or add one, and read it back
            # (RETURNING needs SQLite 3.35; older ones take the path below).
            ins = (pg_insert if self._dialect == "postgresql" else sqlite_insert)(u).values(
                user_id=user_id, security_version=1, updated_at=now
            )
            stmt = ins.on_conflict_do_update(
                index_elements=[u.c.user_id],
                set_={"security_version": u.c.security_version + 1, "updated_at": now},
            ).returning(u.c.security_version)
            with self._op("bump_security_version"), self._auto.begin() as conn:
                return int(conn.execute(stmt).scalar_one())
        bump = (
            update(u)
            .where(u.c.user_id == user_id)
            .values(security_version=u.c.security_version + 1, updated_at=now)
        )
        with self._op("bump_security_version"), self._txe.begin() as conn:
            if conn.execute(bump).rowcount != 1:
                conn.execute(insert(u).values(user_id=user_id, security_version=1, updated_at=now))
            query = select(u.c.security_version).where(u.c.user_id == user_id)
            return int(conn.execute(query).scalar_one())

    def set_preferred_method(self, user_id: str, method: Method | None, *, now: datetime) -> None:
        values = {
            "user_id": user_id,
            "preferred_method": None if method is None else Method(method).value,
            "updated_at": now,
        }
        with self._op("set_preferred_method"), self._upsert_engine.begin() as conn:
            self._upsert(conn, self._t.user_state, values, ("user_id",))

    def clear_factors(self, user_id: str) -> None:
        t, co = self._t, self._t.contacts
        with self._op("clear_factors"), self._txe.begin() as conn:
            conn.execute(delete(t.totp).where(t.totp.c.user_id == user_id))
            conn.execute(self._s.delete_backup_codes, {"p_user": user_id})
            conn.execute(update(co).where(co.c.user_id == user_id).values(verified_at=None))


if TYPE_CHECKING:  # mypy proves SqlStore implements every storage method

    def _implements(store: SqlStore) -> tuple[Store, DeviceStore]:
        return store, store


@contextmanager
def _translated(operation: str) -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as exc:
        raise _storage_error(operation, exc) from exc
