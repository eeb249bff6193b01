"""`AsyncSqlStore`: mfakit's storage on SQLAlchemy's `AsyncEngine`.

The async twin of [`SqlStore`][mfakit.adapters.sql.SqlStore], for [`AsyncMFA`][mfakit.AsyncMFA]:
SQLite through `aiosqlite`, PostgreSQL through psycopg 3's async
connections. It runs the very operations [`SqlStore`][mfakit.adapters.sql.SqlStore] runs (they live
in `operations`): each one's function goes to
`AsyncConnection.run_sync`, SQLAlchemy's greenlet bridge, so every statement
is awaited on the event loop while the code that issues it, the conditions that
make it atomic and its transaction are the sync store's. The guarantees are
the same: one conditional statement or one transaction per operation, the
database deciding every race, any failure rolled back and reported as
[`StorageError`][mfakit.errors.StorageError].

SQLite files: a store made by
[`from_url`][mfakit.adapters.sql.async_store.AsyncSqlStore.from_url] runs its operations
not through aiosqlite (a hop to the connection's thread and back for every cursor call)
but as jobs of one worker thread with its own `sqlite3` connection, one hop per
operation, the jobs queued meanwhile committed together (`_SqliteWorker`); while
something observes the engine's statements, operations go through aiosqlite.

Cancellation: once an operation has started, it runs to its end in a task of
its own even if the request awaiting it is cancelled, and the cancellation is
raised when it is done (as SQLAlchemy does for closing a connection). So a
cancelled request leaves the database as it was before that operation or after
it, never half applied, and the operation's connection goes back to the pool:
cancelled in the middle of opening one, the driver would otherwise drop it
unclosed.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import weakref
from collections.abc import Awaitable, Mapping, Sequence
from contextlib import nullcontext, suppress
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, InvalidRequestError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

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
from ...ports.storage import AsyncStore
from .fast import engine_instrumented
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
from .sqlite import configure_sqlite, create_private_file, database_path, is_memory, on_begin
from .store import GROUP_MAX, Outcome, SqlStore, _outcome

__all__ = ["AsyncSqlStore"]

T = TypeVar("T")


class AsyncSqlStore:
    """Implements [`mfakit.ports.storage.AsyncStore`][mfakit.ports.storage.AsyncStore] on a
    SQLAlchemy `AsyncEngine`.

    Example:

    ```text
    store = AsyncSqlStore.from_url("sqlite+aiosqlite:///mfa.db")
    await store.create_all()          # or your migrations (see metadata)
    amfa = AsyncMFA(store=store, ...)
    ...
    await store.close()
    ```

    `AsyncSqlStore(async_engine)` uses an engine your application owns;
    [`from_url`][mfakit.adapters.sql.async_store.AsyncSqlStore.from_url] makes and owns one. Tables,
    their prefix and the schema version check are those of
    [`SqlStore`][mfakit.adapters.sql.SqlStore]; both stores can share one database. Use a store from
    one event loop: its engine's connections belong to the loop that opened them.
    """

    def __init__(
        self, engine: AsyncEngine, *, table_prefix: str = "mfa_", durable_challenges: bool = False
    ) -> None:
        if not isinstance(engine, AsyncEngine):
            raise ConfigurationError(
                "AsyncSqlStore needs a SQLAlchemy AsyncEngine (or use from_url)"
            )
        if not isinstance(durable_challenges, bool):
            raise ConfigurationError("durable_challenges must be True or False")
        # On PostgreSQL a new challenge commits without waiting for the disk,
        # as SqlStore's does (its statement says so for its own transaction).
        self._relax_challenges = not durable_challenges
        self._sql = SqlOperations(table_prefix, engine.dialect)
        self._prefix = self._sql.prefix
        self.metadata = self._sql.metadata
        """The tables of this store, for `create_all` or Alembic."""
        self._engine = engine
        self._owns_engine = False
        self._checked = False
        # One DB-API connection shared by every task (an in-memory SQLite
        # database): operations must not interleave on it.
        pool = engine.sync_engine.pool
        self._lock: asyncio.Lock | None = asyncio.Lock() if isinstance(pool, StaticPool) else None
        # SQLite takes one writer at a time and a blocked writer naps in its
        # busy handler: this store's tasks queue here instead, readers too
        # (aiosqlite runs each connection in its own thread: 50 reading
        # threads take the GIL from the one committing; see SqlStore).
        self._writers: asyncio.Lock | None = (
            asyncio.Lock() if engine.dialect.name == "sqlite" and self._lock is None else None
        )
        self._auto, self._txe = connection_modes(engine, engine.sync_engine)
        self._upsert_engine = self._auto if self._sql.dialect in NATIVE_UPSERT else self._txe
        # A SQLite file opened by from_url: the database file and connect
        # arguments its operations' worker thread opens (see _SqliteWorker).
        self._worker_source: tuple[URL, Mapping[str, Any]] | None = None
        self._worker: _SqliteWorker | None = None

    @classmethod
    def from_url(
        cls,
        url: str | URL,
        *,
        table_prefix: str = "mfa_",
        durable_challenges: bool = False,
        **engine_kwargs: Any,
    ) -> AsyncSqlStore:
        """Make an async engine for `url` and a store on it; then `await
        store.create_all()` (or let the first operation check tables made by
        your migrations).

        `sqlite+aiosqlite:///mfa.db` gets WAL, a busy timeout and `BEGIN
        IMMEDIATE` writes, like [`SqlStore.from_url`][mfakit.adapters.sql.SqlStore.from_url];
        `sqlite+aiosqlite://` (in memory) one connection shared by all tasks.
        `postgresql+psycopg://user:pw@host/db` uses psycopg 3's async
        connections (`mfakit[postgres]`). On PostgreSQL a new challenge commits without waiting
        for the disk unless `durable_challenges=True` (see
        [`SqlStore`][mfakit.adapters.sql.SqlStore]; on SQLite it always waits). Other keyword
        arguments go to
        `sqlalchemy.ext.asyncio.create_async_engine` (`hide_parameters`
        defaults to True).
        """
        prefix = check_prefix(table_prefix)
        parsed = parse_url(url)
        sqlite = parsed.get_backend_name() == "sqlite"
        engine_kwargs.setdefault("hide_parameters", True)
        try:
            engine = create_async_engine(parsed, **engine_kwargs)
        except InvalidRequestError as exc:  # a sync driver, e.g. "sqlite://"
            raise ConfigurationError(
                f"{parsed.drivername!r} is not an async driver: use sqlite+aiosqlite:// "
                "or postgresql+psycopg://"
            ) from exc
        except (ArgumentError, NoSuchModuleError, ImportError) as exc:
            raise engine_error(parsed, exc) from exc
        if sqlite:
            configure_sqlite(engine, wal=not is_memory(parsed))
            create_private_file(parsed)  # 0600, not the umask's 0644
        store = cls(engine, table_prefix=prefix, durable_challenges=durable_challenges)
        store._owns_engine = True
        if sqlite and database_path(parsed) is not None:
            store._worker_source = (parsed, dict(engine_kwargs.get("connect_args") or {}))
        return store

    # --- housekeeping ---------------------------------------------------------
    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @property
    def table_prefix(self) -> str:
        return self._prefix

    def __repr__(self) -> str:
        return f"AsyncSqlStore(dialect={self._sql.dialect!r}, table_prefix={self._prefix!r})"

    async def close(self) -> None:
        """Close the engine's connections if
        [`from_url`][mfakit.adapters.sql.async_store.AsyncSqlStore.from_url] made it (and, on a
        SQLite file, stop the store's worker thread)."""
        worker, self._worker = self._worker, None
        if worker is not None:
            await worker.close()
        if self._owns_engine:
            await self._engine.dispose()

    async def create_all(self) -> None:
        """Create the missing tables and record `SCHEMA_VERSION`, then
        check the recorded version (see
        [`SqlStore.create_all`][mfakit.adapters.sql.SqlStore.create_all])."""
        async with self._guard():
            await self._execute(self._sql.create_all())
            await self._check_schema()

    async def check_schema(self) -> None:
        """Compare the recorded schema version with this release's; runs once,
        before the store's first operation (see
        [`SqlStore.check_schema`][mfakit.adapters.sql.SqlStore.check_schema])."""
        async with self._guard():
            await self._check_schema()

    async def _check_schema(self) -> None:
        if self._checked:
            return
        found = await self._execute(self._sql.read_version())
        if found is None:  # the tables came from the host's migrations
            found = await self._execute(self._sql.record_version())
        self._sql.check_version(found)
        self._checked = True

    def _guard(self) -> asyncio.Lock | nullcontext[None]:
        return self._lock if self._lock is not None else nullcontext()

    async def _run(self, op: Op[T]) -> T:
        """Run one store operation: schema checked, serialised on a shared
        connection, database errors translated."""
        async with self._guard():
            if not self._checked:
                await self._check_schema()
            return await self._execute(op)

    async def _execute(self, op: Op[T]) -> T:
        if self._worker_source is not None and not engine_instrumented(
            self._engine.sync_engine, on_begin
        ):
            worker = self._worker
            if worker is None or worker.pid != os.getpid():  # (a forked child has no thread)
                worker = self._worker = _SqliteWorker(self, *self._worker_source)
            return await _to_completion(worker.submit(op))
        return await _to_completion(self._attempt(op))

    async def _attempt(self, op: Op[T]) -> T:
        mode = op.mode
        try:
            if mode == READ:
                async with self._writers or nullcontext(), self._auto.connect() as conn:
                    return await conn.run_sync(op.run)
            engine = (
                self._auto if mode == AUTO else self._txe if mode == TX else self._upsert_engine
            )
            async with self._writers or nullcontext(), engine.begin() as conn:
                return await conn.run_sync(op.run)
        except Rollback as rollback:  # a unit of work lost a race: rolled back
            value: T = rollback.value  # type: ignore[assignment]
            return value
        except (SQLAlchemyError, UnicodeError) as exc:  # UnicodeError: a lone surrogate (S36)
            return failed(type(self).__name__, op, exc)

    # --- the unit of work and one-read snapshots -------------------------------
    async def apply(self, writes: Sequence[Write]) -> list[object] | None:
        return await self._run(self._sql.apply(writes))

    async def load_user(self, user_id: str, *, counters: Sequence[str] = ()) -> UserSnapshot:
        return await self._run(self._sql.load_user(user_id, counters))

    async def load_challenge(
        self, challenge_id: str, *, counters: Sequence[str] = ()
    ) -> tuple[ChallengeRecord, UserSnapshot] | None:
        return await self._run(self._sql.load_challenge(challenge_id, counters))

    async def purge(
        self,
        *,
        before: datetime,
        keep_nonzero: Sequence[str] = (),
        limit: int,
        audit_before: datetime | None = None,
    ) -> int:
        return await self._run(self._sql.purge(before, keep_nonzero, limit, audit_before))

    # --- key rotation -------------------------------------------------------
    async def totps_to_reseal(
        self, *, key_id: str, after: tuple[str, str] | None, limit: int
    ) -> list[TotpRecord]:
        return await self._run(self._sql.totps_to_reseal(key_id=key_id, after=after, limit=limit))

    async def key_usage(self, *, now: datetime) -> list[KeyUse]:
        return await self._run(self._sql.key_usage(now=now))

    async def pending_notices(self, *, now: datetime, limit: int) -> list[NoticeRecord]:
        return await self._run(self._sql.pending_notices(now, limit))

    # --- authenticator apps -------------------------------------------------
    async def add_totp(self, record: TotpRecord, *, limit: int, now: datetime) -> bool:
        return await self._run(self._sql.add_totp(record, limit=limit, now=now))

    async def get_totp(self, user_id: str, factor_id: str) -> TotpRecord | None:
        return await self._run(self._sql.get_totp(user_id, factor_id))

    async def list_totp(self, user_id: str) -> list[TotpRecord]:
        return await self._run(self._sql.list_totp(user_id))

    async def confirm_totp(
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
        return await self._run(op)

    async def advance_totp(self, user_id: str, factor_id: str, *, step: int, now: datetime) -> bool:
        return await self._run(self._sql.advance_totp(user_id, factor_id, step=step, now=now))

    async def rename_totp(self, user_id: str, factor_id: str, label: str) -> bool:
        return await self._run(self._sql.rename_totp(user_id, factor_id, label))

    async def delete_totp(self, user_id: str, factor_id: str) -> bool:
        return await self._run(self._sql.delete_totp(user_id, factor_id))

    # --- backup codes --------------------------------------------------------
    async def replace_backup_codes(self, user_id: str, codes: Sequence[BackupCodeRecord]) -> None:
        return await self._run(self._sql.replace_backup_codes(user_id, codes))

    async def get_backup_code(self, user_id: str, lookup: str) -> BackupCodeRecord | None:
        return await self._run(self._sql.get_backup_code(user_id, lookup))

    async def use_backup_code(self, user_id: str, lookup: str, *, now: datetime) -> bool:
        return await self._run(self._sql.use_backup_code(user_id, lookup, now=now))

    async def count_backup_codes(self, user_id: str) -> int:
        return await self._run(self._sql.count_backup_codes(user_id))

    # --- counters --------------------------------------------------------------
    async def get_counter(self, key: str) -> Counter | None:
        return await self._run(self._sql.get_counter(key))

    async def put_counter(self, counter: Counter) -> bool:
        return await self._run(self._sql.put_counter(counter))

    # --- challenges -----------------------------------------------------------
    async def insert_challenge(self, record: ChallengeRecord) -> None:
        relaxed = self._relax_challenges and self._sql.dialect == "postgresql"
        return await self._run(self._sql.insert_challenge(record, relaxed=relaxed))

    async def get_challenge(self, challenge_id: str) -> ChallengeRecord | None:
        return await self._run(self._sql.get_challenge(challenge_id))

    async def challenge_for_message(self, message_id: str) -> ChallengeRecord | None:
        return await self._run(self._sql.challenge_for_message(message_id))

    async def update_challenge(
        self,
        record: ChallengeRecord,
        *,
        contact: ContactRecord | None = None,
        backup_codes: Sequence[BackupCodeRecord] | None = None,
    ) -> bool:
        return await self._run(
            self._sql.update_challenge(record, contact=contact, backup_codes=backup_codes)
        )

    # --- contact channels -----------------------------------------------------
    async def get_contacts(self, user_id: str) -> list[ContactRecord]:
        return await self._run(self._sql.get_contacts(user_id))

    async def put_contact(self, record: ContactRecord) -> None:
        return await self._run(self._sql.put_contact(record))

    async def delete_contact(self, user_id: str, kind: ContactKind) -> bool:
        return await self._run(self._sql.delete_contact(user_id, kind))

    # --- security question ----------------------------------------------------
    async def get_question(self, user_id: str) -> QuestionRecord | None:
        return await self._run(self._sql.get_question(user_id))

    async def put_question(self, record: QuestionRecord) -> None:
        return await self._run(self._sql.put_question(record))

    # --- trusted devices ------------------------------------------------------
    # --- audit trail (the AuditLog port) ------------------------------------
    async def record(self, event: AuditRecord) -> None:
        """Store one audit event (pass this store as `MFA(audit=...)`)."""
        return await self._run(self._sql.record(event))

    async def list_events(
        self, subject_id: str, *, limit: int = 50, before: str | None = None
    ) -> list[AuditRecord]:
        return await self._run(self._sql.list_events(subject_id, limit=limit, before=before))

    async def insert_device(self, record: DeviceRecord) -> None:
        return await self._run(self._sql.insert_device(record))

    async def get_device(self, user_id: str, device_id: str) -> DeviceRecord | None:
        return await self._run(self._sql.get_device(user_id, device_id))

    async def list_devices(self, user_id: str) -> list[DeviceRecord]:
        return await self._run(self._sql.list_devices(user_id))

    async def touch_device(self, user_id: str, device_id: str, *, now: datetime) -> bool:
        return await self._run(self._sql.touch_device(user_id, device_id, now=now))

    async def revoke_device(self, user_id: str, device_id: str, *, now: datetime) -> bool:
        return await self._run(self._sql.revoke_device(user_id, device_id, now=now))

    async def revoke_devices(self, user_id: str, *, now: datetime) -> int:
        return await self._run(self._sql.revoke_devices(user_id, now=now))

    # --- per-user state -------------------------------------------------------
    async def get_user_state(self, user_id: str) -> UserState | None:
        return await self._run(self._sql.get_user_state(user_id))

    async def bump_security_version(self, user_id: str, *, now: datetime) -> int:
        return await self._run(self._sql.bump_security_version(user_id, now=now))

    async def set_preferred_method(
        self, user_id: str, method: Method | None, *, now: datetime
    ) -> None:
        return await self._run(self._sql.set_preferred_method(user_id, method, now=now))

    async def clear_factors(self, user_id: str) -> None:
        return await self._run(self._sql.clear_factors(user_id))

    # --- passkeys and security keys (WebAuthn) ---------------------------------
    async def get_credential(self, credential_id: bytes) -> WebAuthnCredentialRecord | None:
        return await self._run(self._sql.get_credential(credential_id))

    async def list_credentials(self, user_id: str) -> list[WebAuthnCredentialRecord]:
        return await self._run(self._sql.list_credentials(user_id))

    async def get_user_handle(self, user_id: str) -> bytes | None:
        return await self._run(self._sql.get_user_handle(user_id))

    async def user_for_handle(self, handle: bytes) -> str | None:
        return await self._run(self._sql.user_for_handle(handle))

    async def get_ceremony(self, ceremony_id: str) -> CeremonyRecord | None:
        return await self._run(self._sql.get_ceremony(ceremony_id))

    async def take_ceremony(self, ceremony_id: str, *, now: datetime) -> CeremonyRecord | None:
        return await self._run(self._sql.take_ceremony(ceremony_id, now=now))


class _SqliteWorker:
    """The thread that runs an [`AsyncSqlStore`][mfakit.adapters.sql.async_store.AsyncSqlStore]'s
    operations on a SQLite file: an in-process writer queue.

    aiosqlite runs each connection in a thread of its own and hops to it, and
    back to the event loop, for every cursor call (16 hops per `verify_totp`);
    tasks with a connection each then race for SQLite's write lock. Here each
    store operation is ONE job for one thread with a `sqlite3` connection of
    its own, run as [`SqlStore`][mfakit.adapters.sql.SqlStore] runs it (the same statements, its
    raw fast path, its per-file writer lock shared with the sync stores of this
    process): one hop there and back per operation, and the jobs never wait for
    each other's lock. The jobs queued while one ran are run together in one
    transaction, one COMMIT for all (`SqlStore._execute_group`), each answered
    once that committed. The event loop is never blocked: it only waits for a
    job's future.

    The connections are set up by the async engine's own `connect` listeners
    (those of `configure_sqlite` and any the host added), as aiosqlite's would
    be. The worker is used while nothing observes the async engine's statements
    (SQL logging, `before_cursor_execute` and the like); otherwise operations
    go through aiosqlite, where those see them.
    """

    def __init__(self, owner: AsyncSqlStore, url: URL, connect_args: Mapping[str, Any]) -> None:
        source = owner.engine.sync_engine

        def forward(dbapi_connection: Any, record: Any) -> None:
            # Looked up on each connect: dispose() gives the async engine a new
            # pool, which keeps its listeners.
            source.pool.dispatch.connect(dbapi_connection, record)

        # aiosqlite's own arguments are not sqlite3's.
        args = {k: v for k, v in connect_args.items() if k not in ("iter_chunk_size", "loop")}
        engine = create_engine(
            url.set(drivername="sqlite"),
            connect_args=args,
            hide_parameters=source.hide_parameters,
            # One thread runs one operation (or group) at a time.
            pool_size=1,
            max_overflow=1,
        )
        event.listen(engine, "connect", forward)
        event.listen(engine, "begin", on_begin)
        store = SqlStore(engine, table_prefix=owner.table_prefix)
        store._name = type(owner).__name__
        store._checked = True  # the async store checks the schema version itself
        self._store = store
        self.pid = os.getpid()
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        # Daemon: a store never closed must not keep the process alive; the
        # finalizer ends the thread when the store is collected.
        thread = threading.Thread(target=self._serve, name="mfakit-sqlite", daemon=True)
        thread.start()
        weakref.finalize(owner, self._jobs.put, None)

    def submit(self, op: Op[T]) -> asyncio.Future[T]:
        """Queue `op`; its future on the running loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((op, future, loop))
        return future

    async def close(self) -> None:
        """Close the connections (on the worker, after the jobs queued before)
        and end the thread."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._jobs.put((None, future, loop))
        await future

    def _serve(self) -> None:
        jobs = self._jobs
        while True:
            # The next job and those queued meanwhile, up to a stop: None (the
            # store was collected) or a job without an operation (close()).
            batch: list[_Job] = []
            job = jobs.get()
            while job is not None and job[0] is not None:
                batch.append(job)
                if len(batch) >= GROUP_MAX:
                    break
                try:
                    job = jobs.get_nowait()
                except queue.Empty:
                    break
            if batch:
                _deliver(batch, self._run(batch))
            if job is not None and job[0] is not None:
                continue  # no stop among them
            outcome: Outcome = (True, None)
            try:
                self._store.engine.dispose()
            except Exception as exc:
                outcome = (False, exc)
            if job is not None:
                _deliver([job], [outcome])
            return

    def _run(self, batch: list[_Job]) -> list[Outcome]:
        """The outcome of each job, in order: runs of groupable operations in
        one transaction each, the others alone."""
        store = self._store
        outcomes: list[Outcome] = []
        group: list[Op[Any]] = []
        try:
            for op, _, _ in batch:
                assert op is not None
                if store._can_group(op):
                    group.append(op)
                    continue
                if group:
                    outcomes += store._execute_group(group)
                    group = []
                outcomes.append(_outcome(store._execute_one, op))
            if group:
                outcomes += store._execute_group(group)
        except BaseException as exc:
            outcomes += [(False, exc)] * (len(batch) - len(outcomes))
        return outcomes


_Job = tuple["Op[Any] | None", "asyncio.Future[Any]", asyncio.AbstractEventLoop]


def _deliver(jobs: list[_Job], outcomes: list[Outcome]) -> None:
    """Answer each job's future on its loop (one wake-up per loop)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Outcome]]] = {}
    for (_, future, loop), outcome in zip(jobs, outcomes, strict=True):
        by_loop.setdefault(loop, []).append((future, outcome))
    for loop, answers in by_loop.items():
        with suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_answer, answers)


def _answer(answers: list[tuple[asyncio.Future[Any], Outcome]]) -> None:
    for future, (ok, value) in answers:
        if future.done():  # cancelled before its job ran
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


async def _to_completion(awaitable: Awaitable[T]) -> T:
    """Await `awaitable` (a coroutine, run in a task of its own, or a future)
    so that cancelling the caller does not interrupt it; a cancellation received
    meanwhile is raised once it is done (its result or error then dropped)."""
    task = asyncio.ensure_future(awaitable)
    cancelled: asyncio.CancelledError | None = None
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError as exc:
            if task.cancelled():  # the operation itself was cancelled (loop shutdown)
                raise
            cancelled = exc
        except Exception:
            break  # the operation failed: task.result() raises its error
    if cancelled is not None:
        task.exception()  # retrieved: not reported as "never retrieved"
        raise cancelled
    return task.result()


if TYPE_CHECKING:  # mypy proves AsyncSqlStore implements every async storage method

    def _implements(store: AsyncSqlStore) -> AsyncStore:
        return store
