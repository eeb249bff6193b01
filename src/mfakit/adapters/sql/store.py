"""`SqlStore`: mfakit's storage on SQLAlchemy Core (SQLite, PostgreSQL).

The statements, the conditions that make each operation atomic and the row
conversions live in `operations`, shared with
[`AsyncSqlStore`][mfakit.adapters.sql.async_store.AsyncSqlStore]; this class runs them on a (sync)
`Engine`: each operation in one `engine.begin()` block, a single statement
in autocommit mode where it is atomic by itself (one round trip), several in
one transaction.

SQLite: [`SqlStore.from_url`][mfakit.adapters.sql.SqlStore.from_url] sets WAL, a 5 s busy timeout
and foreign keys on every connection, and opens write transactions with `BEGIN IMMEDIATE` so
concurrent writers queue for the lock instead of failing (see
[`configure_sqlite`][mfakit.adapters.sql.configure_sqlite]). On a file, the threads of this
process do not race for that lock: their operations queue and run in groups, one
transaction and one COMMIT per group, each operation in a SAVEPOINT and answered only
once its group committed (`_grouped`, `_execute_group`). An in-memory database is one
connection shared by all threads (`StaticPool`), guarded by a lock in the store.

Creating a challenge commits without waiting for the disk: on PostgreSQL the
insert itself sets `synchronous_commit` off for its own transaction
(`set_config(..., true)`, nothing stays on the connection); on a SQLite file in
WAL mode it runs on a second small pool whose connections use `synchronous =
NORMAL`. A crash can lose such a challenge, never half of one, and never
anything that was committed after it: the next ordinary commit (the
verification of that challenge included) flushes it. Losing an unused
challenge only means the user starts the sign-in again. Pass
`durable_challenges=True` to wait for the disk anyway.

Errors: any SQLAlchemy or driver exception becomes
[`StorageError`][mfakit.errors.StorageError] here, with the original chained as
`__cause__`. Messages name the operation and the exception type, never the
SQL parameters (engines made by `from_url` also set `hide_parameters`).
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import Pool, PoolProxiedConnection, StaticPool

from ...core.contacts import ContactKind
from ...core.methods import Method
from ...core.records import (
    AuditRecord,
    BackupCodeRecord,
    CeremonyRecord,
    ChallengeRecord,
    ContactRecord,
    Counter,
    DeviceRecord,
    KeyUse,
    NoticeRecord,
    QuestionRecord,
    TotpRecord,
    UserSnapshot,
    UserState,
    WebAuthnCredentialRecord,
)
from ...core.writes import Write
from ...errors import ConfigurationError
from ...ports.storage import Store
from .fast import RawConnection, driver_execute, end_transaction, engine_instrumented
from .operations import (
    AUTO,
    NATIVE_UPSERT,
    READ,
    TX,
    Op,
    Rollback,
    SqlOperations,
    connection_modes,
    engine_error,
    failed,
    parse_url,
)
from .schema import check_prefix
from .sqlite import (
    configure_sqlite,
    create_private_file,
    is_configured,
    is_memory,
    on_begin,
    sqlite_writer_lock,
)

__all__ = ["SqlStore", "configure_sqlite"]

T = TypeVar("T")


class SqlStore:
    """Implements [`mfakit.ports.storage.Store`][mfakit.ports.storage.Store] on a SQLAlchemy engine.

    `SqlStore(engine)` uses an engine your application owns (create the
    tables with [`create_all`][mfakit.adapters.sql.SqlStore.create_all] or your migrations, see
    [`metadata`][mfakit.adapters.sql.SqlStore.metadata]);
    [`from_url`][mfakit.adapters.sql.SqlStore.from_url] makes and owns one. Tables are named
    `<table_prefix><name>`. The schema version recorded in the database is checked before the first
    operation; a newer one than this release knows is refused with
    [`ConfigurationError`][mfakit.errors.ConfigurationError].
    """

    def __init__(
        self, engine: Engine, *, table_prefix: str = "mfa_", durable_challenges: bool = False
    ) -> None:
        if not isinstance(engine, Engine):
            raise ConfigurationError("SqlStore needs a SQLAlchemy Engine (or use from_url)")
        if not isinstance(durable_challenges, bool):
            raise ConfigurationError("durable_challenges must be True or False")
        self._sql = SqlOperations(table_prefix, engine.dialect)
        self._prefix = self._sql.prefix
        self.metadata = self._sql.metadata
        """The tables of this store, for `create_all` or Alembic."""
        self._t = self._sql.t
        self._engine = engine
        self._owns_engine = False
        self._checked = False
        # The store named in StorageError messages (AsyncSqlStore runs its
        # SQLite operations on a SqlStore of its own and gives its name).
        self._name = type(self).__name__
        # One DB-API connection shared by all threads (an in-memory SQLite
        # database): operations must not interleave on it.
        self._lock: threading.RLock | None = (
            threading.RLock() if isinstance(engine.pool, StaticPool) else None
        )
        # SQLite takes one writer at a time; a writer that finds the lock taken
        # sleeps in its busy handler (up to 100 ms a nap). Operations of this
        # process (reads too) hold this lock instead, shared by every store on
        # the file; those of one store's threads are grouped behind it (see
        # _grouped): taking turns, 50 threads verified at 0.6-1.0x the rate of
        # one (each waiting for the lock, then for the GIL while holding it).
        self._writers: threading.Lock | None = (
            sqlite_writer_lock(engine.url)
            if engine.dialect.name == "sqlite" and self._lock is None
            else None
        )
        # The operations queued for the next group commit, and whether a
        # thread leads one (see _grouped).
        self._queue: deque[_Job] = deque()
        self._mutex = threading.Lock()
        self._leading = False
        # _auto runs single statements, each atomic by itself, without an
        # explicit transaction (one round trip); _txe opens a transaction.
        self._auto, self._txe = connection_modes(engine, engine)
        self._upsert_engine = self._auto if self._dialect in NATIVE_UPSERT else self._txe
        # A configured SQLite engine, or PostgreSQL through psycopg, runs the
        # hot operations on a pooled DB-API connection without SQLAlchemy's
        # Connection (see _execute_raw).
        self._pg = engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"
        self._raw = self._pg or (engine.dialect.name == "sqlite" and is_configured(engine))
        # A new challenge commits without waiting for the disk (see the
        # module's docstring): on PostgreSQL through its statement, on a SQLite
        # file through a pool of its own, made on first use.
        self._relax_challenges = not durable_challenges
        self._relaxable = (
            not durable_challenges and self._raw and not self._pg and self._lock is None
        )
        self._relaxed: Pool | None = None
        self._relaxed_guard = threading.Lock()

    @property
    def _dialect(self) -> str:
        """The dialect the statements are written for (tests set another one
        to run the portable fallbacks on SQLite)."""
        return self._sql.dialect

    @_dialect.setter
    def _dialect(self, name: str) -> None:
        self._sql.dialect = name

    @classmethod
    def from_url(
        cls,
        url: str | URL,
        *,
        table_prefix: str = "mfa_",
        create: bool = True,
        durable_challenges: bool = False,
        **engine_kwargs: Any,
    ) -> SqlStore:
        """Make an engine for `url` and a store on it.

        `sqlite:///mfa.db` gets WAL, a busy timeout and `BEGIN IMMEDIATE`
        writes; `sqlite://` (in memory) one connection shared by threads.
        `postgresql+psycopg://user:pw@host/db` needs `mfakit[postgres]`.
        `create=True` creates missing tables
        ([`create_all`][mfakit.adapters.sql.SqlStore.create_all]); with `create=False` they must
        exist. `durable_challenges=True` makes the creation of a challenge wait for the disk like
        every other commit (see the module's docstring). Other keyword arguments go to
        `sqlalchemy.create_engine` (`hide_parameters` defaults to True so SQL parameters never
        reach exception messages or logs).
        """
        prefix = check_prefix(table_prefix)
        parsed = parse_url(url)
        sqlite = parsed.get_backend_name() == "sqlite"
        memory = sqlite and is_memory(parsed)
        engine_kwargs.setdefault("hide_parameters", True)
        if memory:
            engine_kwargs.setdefault("poolclass", StaticPool)
            connect_args = dict(engine_kwargs.get("connect_args") or {})
            connect_args.setdefault("check_same_thread", False)
            engine_kwargs["connect_args"] = connect_args
        try:
            engine = create_engine(parsed, **engine_kwargs)
        except (ArgumentError, NoSuchModuleError, ImportError) as exc:
            raise engine_error(parsed, exc) from exc
        if sqlite:
            configure_sqlite(engine, wal=not memory)
            create_private_file(parsed)  # 0600, not the umask's 0644
        try:
            store = cls(engine, table_prefix=prefix, durable_challenges=durable_challenges)
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
        """Close the engine's connections if [`from_url`][mfakit.adapters.sql.SqlStore.from_url]
        made it."""
        with self._relaxed_guard:
            relaxed, self._relaxed = self._relaxed, None
        if relaxed is not None:
            relaxed.dispose()
        if self._owns_engine:
            self._engine.dispose()

    def _relaxed_pool(self) -> Pool | None:
        """The pool for creating challenges on a SQLite file without waiting
        for the disk, or None where that does not apply (opted out,
        PostgreSQL, an in-memory database, an engine `configure_sqlite` did
        not prepare). Its connections keep a database not in WAL mode as it is."""
        if not self._relaxable:
            return None
        with self._relaxed_guard:
            if self._relaxed is None:
                # Same creator, size and listeners as the engine's own pool.
                pool = self._engine.pool.recreate()
                event.listen(pool, "connect", _relax_sqlite)
                self._relaxed = pool
                # Closed with the store, or when it is collected (a store on an
                # engine the host owns is often never closed).
                weakref.finalize(self, pool.dispose)
            return self._relaxed

    def create_all(self) -> None:
        """Create the missing tables and record `SCHEMA_VERSION`.

        For quick starts and tests; applications with migrations include
        [`metadata`][mfakit.adapters.sql.SqlStore.metadata] (or `build_metadata`) in them instead.
        """
        with self._guard():
            self._execute(self._sql.create_all())
        self.check_schema()

    def check_schema(self) -> None:
        """Compare the schema version recorded in the database with this
        release's; [`ConfigurationError`][mfakit.errors.ConfigurationError] if the tables are
        missing or newer. Runs once, before the store's first operation."""
        with self._guard():
            if self._checked:
                return
            found = self._execute(self._sql.read_version())
            if found is None:  # the tables came from the host's migrations
                found = self._execute(self._sql.record_version())
            self._sql.check_version(found)
            self._checked = True

    def _guard(self) -> threading.RLock | nullcontext[None]:
        return self._lock if self._lock is not None else nullcontext()

    def _run(self, op: Op[T], pool: Pool | None = None) -> T:
        """Run one store operation: schema checked, serialised on a shared
        connection, database errors translated. `pool`: where a raw
        operation takes its connection (the engine's own by default)."""
        with self._guard():
            if not self._checked:
                self.check_schema()
            return self._execute(op, pool)

    def _execute(self, op: Op[T], pool: Pool | None = None) -> T:
        if pool is None and self._can_group(op):
            return self._grouped(op)
        return self._execute_one(op, pool)

    def _grouped(self, op: Op[T]) -> T:
        """`op` in a group commit with the operations other threads queued
        meanwhile (a SQLite file; see `_execute_group`). A thread that finds
        no group running leads: it takes every queued operation, its own
        included, runs them in one transaction, answers and wakes each thread
        waiting for one, and hands the lead to the first still queued. The
        others sleep on a lock of their own until then (not on a shared one, so
        an answered thread never waits behind the next group). A thread alone
        runs its operation alone, as `_execute_one` would."""
        job = _Job(op)
        with self._mutex:
            self._queue.append(job)
            job.leads = not self._leading
            self._leading = True
        try:
            if not job.leads:
                job.wake.acquire()  # answered, or handed the lead
            if job.outcome is None:
                self._lead(job)
        except BaseException:  # interrupted (KeyboardInterrupt in the main thread)
            if not job.passed:
                with self._mutex:
                    job.abandoned = True  # never handed the lead from now on
                    leads = job.leads
                if leads:  # the lead is this thread's: pass it on, or nobody leads
                    self._pass_lead()
            raise
        ok, value = job.outcome  # type: ignore[misc]
        if ok:
            return cast(T, value)
        raise value

    def _lead(self, job: _Job) -> None:
        try:
            while job.outcome is None:
                with self._mutex:
                    batch = [self._queue.popleft() for _ in range(min(len(self._queue), GROUP_MAX))]
                try:
                    outcomes = self._execute_group([j.op for j in batch])
                except BaseException as exc:  # every thread of the group gets it
                    outcomes = [(False, exc)] * len(batch)
                for queued, outcome in zip(batch, outcomes, strict=True):
                    queued.outcome = outcome
                    if queued is not job:
                        queued.wake.release()
        finally:
            job.passed = True
            self._pass_lead()

    def _pass_lead(self) -> None:
        """Wake the first queued thread to lead the next group (dropping the
        operations of threads interrupted while they waited: they never ran),
        or note that nobody leads."""
        with self._mutex:
            queue = self._queue
            while queue and queue[0].abandoned:
                queue.popleft()
            if queue:
                queue[0].leads = True
                queue[0].wake.release()
            else:
                self._leading = False

    def _execute_one(self, op: Op[T], pool: Pool | None = None) -> T:
        mode = op.mode
        try:
            if op.raw and self._raw and not engine_instrumented(self._engine, on_begin):
                return self._execute_raw(op, pool)
            if mode == READ:
                with self._writers or nullcontext(), self._auto.connect() as conn:
                    return op.run(conn)
            engine = (
                self._auto if mode == AUTO else self._txe if mode == TX else self._upsert_engine
            )
            with self._writers or nullcontext(), engine.begin() as conn:
                return op.run(conn)
        except Rollback as rollback:  # a unit of work lost a race: rolled back
            value: T = rollback.value  # type: ignore[assignment]
            return value
        except (SQLAlchemyError, UnicodeError) as exc:  # UnicodeError: a lone surrogate (S36)
            return failed(self._name, op, exc)

    def _execute_raw(self, op: Op[T], pool: Pool | None = None) -> T:
        """`op` on a DB-API connection from the pool, in the transaction the
        SQLAlchemy path would open: nothing for a read or a single statement
        (it commits by itself: SQLite without BEGIN, psycopg in autocommit
        mode, as the AUTOCOMMIT engine sets it), a transaction for several
        (`BEGIN IMMEDIATE` on SQLite, as the `begin` hook of
        [`configure_sqlite`][mfakit.adapters.sql.configure_sqlite] does; psycopg's own on
        PostgreSQL). SQLAlchemy's `Connection` is skipped (its events, options and
        transaction objects cost more than the statements); the pool still
        checks the connection out and in, and resets it."""
        fairy: PoolProxiedConnection = (
            self._engine.raw_connection() if pool is None else pool.connect()
        )
        conn = RawConnection(self._engine, fairy)
        run = cast(Callable[[RawConnection], T], op.run)
        try:
            with self._writers or nullcontext():
                if op.mode != TX:
                    if not self._pg:
                        return run(conn)
                    dbapi_connection: Any = fairy.dbapi_connection
                    dbapi_connection.autocommit = True
                    try:
                        return run(conn)
                    finally:
                        try:
                            dbapi_connection.autocommit = False
                        except Exception as exc:  # a broken connection: not reused
                            fairy.invalidate(exc)
                if not self._pg:
                    driver_execute(conn, "BEGIN IMMEDIATE")
                try:
                    result = run(conn)
                except BaseException:
                    end_transaction(conn, commit=False)
                    raise
                end_transaction(conn, commit=True)
                return result
        finally:
            fairy.close()

    def _can_group(self, op: Op[Any]) -> bool:
        """Whether `op` may share a transaction with others
        ([`_execute_group`][mfakit.adapters.sql.SqlStore._execute_group])."""
        return bool(
            op.raw
            and self._raw
            and not self._pg
            and self._writers is not None
            and not engine_instrumented(self._engine, on_begin)
        )

    def _execute_group(self, ops: Sequence[Op[Any]]) -> list[Outcome]:
        """Run `ops` (a SQLite file's queued operations, each `_can_group`) in
        ONE write transaction: one `BEGIN IMMEDIATE`, one COMMIT (one fsync)
        for all of them, the outcome of each given only once it committed (a
        group commit). Each `TX` operation runs in a SAVEPOINT, so one that
        loses its race (`Rollback`) is undone alone, as its own transaction
        would be. Any other failure, or a failed COMMIT, rolls the whole group
        back and runs its operations again one by one (`_execute_one`), each with
        its own outcome: nothing of a group applies unless all of it commits."""
        if len(ops) == 1:
            return [_outcome(self._execute_one, ops[0])]
        values: list[object] = []
        committed = False
        fairy = self._engine.raw_connection()
        conn = RawConnection(self._engine, fairy)
        try:
            with self._writers or nullcontext():
                try:
                    # Reads alone take no write lock (other processes' writers
                    # go on); any write takes it from the start.
                    reads = all(op.mode == READ for op in ops)
                    driver_execute(conn, "BEGIN" if reads else "BEGIN IMMEDIATE")
                    for op in ops:
                        run = cast(Callable[[RawConnection], object], op.run)
                        if op.mode != TX:
                            values.append(run(conn))
                            continue
                        driver_execute(conn, "SAVEPOINT mfakit_op")
                        try:
                            values.append(run(conn))
                        except Rollback as rollback:  # lost its race: undone alone
                            driver_execute(conn, "ROLLBACK TO mfakit_op")
                            values.append(rollback.value)
                        driver_execute(conn, "RELEASE mfakit_op")
                    end_transaction(conn, commit=True)
                    committed = True
                except Exception:
                    try:
                        end_transaction(conn, commit=False)
                    except Exception as exc:  # a broken connection: not reused
                        fairy.invalidate(exc)
        finally:
            fairy.close()
        if committed:
            return [(True, value) for value in values]
        return [_outcome(self._execute_one, op) for op in ops]

    # --- the unit of work and one-read snapshots -------------------------------
    def apply(self, writes: Sequence[Write]) -> list[object] | None:
        return self._run(self._sql.apply(writes))

    def load_user(self, user_id: str, *, counters: Sequence[str] = ()) -> UserSnapshot:
        return self._run(self._sql.load_user(user_id, counters))

    def load_challenge(
        self, challenge_id: str, *, counters: Sequence[str] = ()
    ) -> tuple[ChallengeRecord, UserSnapshot] | None:
        return self._run(self._sql.load_challenge(challenge_id, counters))

    def purge(
        self,
        *,
        before: datetime,
        keep_nonzero: Sequence[str] = (),
        limit: int,
        audit_before: datetime | None = None,
    ) -> int:
        return self._run(self._sql.purge(before, keep_nonzero, limit, audit_before))

    # --- key rotation -------------------------------------------------------
    def totps_to_reseal(
        self, *, key_id: str, after: tuple[str, str] | None, limit: int
    ) -> list[TotpRecord]:
        return self._run(self._sql.totps_to_reseal(key_id=key_id, after=after, limit=limit))

    def key_usage(self, *, now: datetime) -> list[KeyUse]:
        return self._run(self._sql.key_usage(now=now))

    def pending_notices(self, *, now: datetime, limit: int) -> list[NoticeRecord]:
        return self._run(self._sql.pending_notices(now, limit))

    # --- authenticator apps -------------------------------------------------
    def add_totp(self, record: TotpRecord, *, limit: int, now: datetime) -> bool:
        return self._run(self._sql.add_totp(record, limit=limit, now=now))

    def get_totp(self, user_id: str, factor_id: str) -> TotpRecord | None:
        return self._run(self._sql.get_totp(user_id, factor_id))

    def list_totp(self, user_id: str) -> list[TotpRecord]:
        return self._run(self._sql.list_totp(user_id))

    def confirm_totp(
        self,
        user_id: str,
        factor_id: str,
        *,
        step: int,
        now: datetime,
        backup_codes: Sequence[BackupCodeRecord] | None,
    ) -> bool:
        op = self._sql.confirm_totp(
            user_id, factor_id, step=step, now=now, backup_codes=backup_codes
        )
        return self._run(op)

    def advance_totp(self, user_id: str, factor_id: str, *, step: int, now: datetime) -> bool:
        return self._run(self._sql.advance_totp(user_id, factor_id, step=step, now=now))

    def rename_totp(self, user_id: str, factor_id: str, label: str) -> bool:
        return self._run(self._sql.rename_totp(user_id, factor_id, label))

    def delete_totp(self, user_id: str, factor_id: str) -> bool:
        return self._run(self._sql.delete_totp(user_id, factor_id))

    # --- backup codes --------------------------------------------------------
    def replace_backup_codes(self, user_id: str, codes: Sequence[BackupCodeRecord]) -> None:
        return self._run(self._sql.replace_backup_codes(user_id, codes))

    def get_backup_code(self, user_id: str, lookup: str) -> BackupCodeRecord | None:
        return self._run(self._sql.get_backup_code(user_id, lookup))

    def use_backup_code(self, user_id: str, lookup: str, *, now: datetime) -> bool:
        return self._run(self._sql.use_backup_code(user_id, lookup, now=now))

    def count_backup_codes(self, user_id: str) -> int:
        return self._run(self._sql.count_backup_codes(user_id))

    # --- counters --------------------------------------------------------------
    def get_counter(self, key: str) -> Counter | None:
        return self._run(self._sql.get_counter(key))

    def put_counter(self, counter: Counter) -> bool:
        return self._run(self._sql.put_counter(counter))

    # --- challenges -----------------------------------------------------------
    def insert_challenge(self, record: ChallengeRecord) -> None:
        if self._dialect == "postgresql":
            relaxed = self._relax_challenges
            return self._run(self._sql.insert_challenge(record, relaxed=relaxed))
        return self._run(self._sql.insert_challenge(record), self._relaxed_pool())

    def get_challenge(self, challenge_id: str) -> ChallengeRecord | None:
        return self._run(self._sql.get_challenge(challenge_id))

    def challenge_for_message(self, message_id: str) -> ChallengeRecord | None:
        return self._run(self._sql.challenge_for_message(message_id))

    def update_challenge(
        self,
        record: ChallengeRecord,
        *,
        contact: ContactRecord | None = None,
        backup_codes: Sequence[BackupCodeRecord] | None = None,
    ) -> bool:
        return self._run(
            self._sql.update_challenge(record, contact=contact, backup_codes=backup_codes)
        )

    # --- contact channels -----------------------------------------------------
    def get_contacts(self, user_id: str) -> list[ContactRecord]:
        return self._run(self._sql.get_contacts(user_id))

    def put_contact(self, record: ContactRecord) -> None:
        return self._run(self._sql.put_contact(record))

    def delete_contact(self, user_id: str, kind: ContactKind) -> bool:
        return self._run(self._sql.delete_contact(user_id, kind))

    # --- security question ----------------------------------------------------
    def get_question(self, user_id: str) -> QuestionRecord | None:
        return self._run(self._sql.get_question(user_id))

    def put_question(self, record: QuestionRecord) -> None:
        return self._run(self._sql.put_question(record))

    # --- trusted devices ------------------------------------------------------
    # --- audit trail (the AuditLog port) ------------------------------------
    def record(self, event: AuditRecord) -> None:
        """Store one audit event (pass this store as `MFA(audit=...)`)."""
        return self._run(self._sql.record(event))

    def list_events(
        self, subject_id: str, *, limit: int = 50, before: str | None = None
    ) -> list[AuditRecord]:
        return self._run(self._sql.list_events(subject_id, limit=limit, before=before))

    def insert_device(self, record: DeviceRecord) -> None:
        return self._run(self._sql.insert_device(record))

    def get_device(self, user_id: str, device_id: str) -> DeviceRecord | None:
        return self._run(self._sql.get_device(user_id, device_id))

    def list_devices(self, user_id: str) -> list[DeviceRecord]:
        return self._run(self._sql.list_devices(user_id))

    def touch_device(self, user_id: str, device_id: str, *, now: datetime) -> bool:
        return self._run(self._sql.touch_device(user_id, device_id, now=now))

    def revoke_device(self, user_id: str, device_id: str, *, now: datetime) -> bool:
        return self._run(self._sql.revoke_device(user_id, device_id, now=now))

    def revoke_devices(self, user_id: str, *, now: datetime) -> int:
        return self._run(self._sql.revoke_devices(user_id, now=now))

    # --- per-user state -------------------------------------------------------
    def get_user_state(self, user_id: str) -> UserState | None:
        return self._run(self._sql.get_user_state(user_id))

    def bump_security_version(self, user_id: str, *, now: datetime) -> int:
        return self._run(self._sql.bump_security_version(user_id, now=now))

    def set_preferred_method(self, user_id: str, method: Method | None, *, now: datetime) -> None:
        return self._run(self._sql.set_preferred_method(user_id, method, now=now))

    def clear_factors(self, user_id: str) -> None:
        return self._run(self._sql.clear_factors(user_id))

    # --- passkeys and security keys (WebAuthn) ---------------------------------
    def get_credential(self, credential_id: bytes) -> WebAuthnCredentialRecord | None:
        return self._run(self._sql.get_credential(credential_id))

    def list_credentials(self, user_id: str) -> list[WebAuthnCredentialRecord]:
        return self._run(self._sql.list_credentials(user_id))

    def get_user_handle(self, user_id: str) -> bytes | None:
        return self._run(self._sql.get_user_handle(user_id))

    def user_for_handle(self, handle: bytes) -> str | None:
        return self._run(self._sql.user_for_handle(handle))

    def get_ceremony(self, ceremony_id: str) -> CeremonyRecord | None:
        return self._run(self._sql.get_ceremony(ceremony_id))

    def take_ceremony(self, ceremony_id: str, *, now: datetime) -> CeremonyRecord | None:
        return self._run(self._sql.take_ceremony(ceremony_id, now=now))


Outcome = tuple[bool, Any]
"""What one operation of a group answered: `(True, value)` or `(False, exception)`."""

GROUP_MAX = 64
"""The most operations one group commit holds (the write lock is held for all)."""


class _Job:
    """An operation queued for a group commit, and its outcome once it ran."""

    __slots__ = ("abandoned", "leads", "op", "outcome", "passed", "wake")

    def __init__(self, op: Op[Any]) -> None:
        self.op = op
        self.outcome: Outcome | None = None
        self.leads = False  # its thread leads the next group
        self.passed = False  # its thread led, and passed the lead on
        self.abandoned = False  # its thread was interrupted while it waited
        # Held until the job is answered or its thread is to lead a group.
        self.wake = threading.Lock()
        self.wake.acquire()


def _outcome(execute: Callable[[Op[Any]], object], op: Op[Any]) -> Outcome:
    try:
        return True, execute(op)
    except Exception as exc:
        return False, exc


if TYPE_CHECKING:  # mypy proves SqlStore implements every storage method

    def _implements(store: SqlStore) -> Store:
        return store


def _relax_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """A new connection of the relaxed pool (SQLite): in WAL mode, commits
    without a sync (`synchronous = NORMAL`, never raised from a lower
    setting). Outside WAL mode the setting stays (NORMAL is not crash-safe
    there)."""
    mode = dbapi_connection.execute("PRAGMA journal_mode").fetchone()[0]
    level = dbapi_connection.execute("PRAGMA synchronous").fetchone()[0]
    if str(mode).lower() == "wal" and int(level) > 1:
        dbapi_connection.execute("PRAGMA synchronous = NORMAL")
