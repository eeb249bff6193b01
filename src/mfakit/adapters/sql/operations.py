"""The SQL of every storage operation, written once for both SQL stores.

Theory of operation
-------------------
Every operation that decides whether a code is accepted is one conditional
statement, so the database, not this process, decides who wins a race
(ARCHITECTURE.md rule 5):

```text
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
```

and the row count says whether it applied. Under PostgreSQL's READ COMMITTED a
second writer blocked on the same row re-evaluates the `WHERE` clause against
the committed row (and so matches nothing); SQLite runs one writer at a time.

Sync and async
--------------
`SqlOperations` turns each storage call into an `Op`: the
operation's name (for error messages), how its connection is opened
(`AUTO`, `TX` or `UPSERT`) and a function that runs its
statements on a SQLAlchemy `Connection`. [`SqlStore`][mfakit.adapters.sql.SqlStore] calls
that function inside `engine.begin()`;
[`AsyncSqlStore`][mfakit.adapters.sql.async_store.AsyncSqlStore] hands the very same function to
`AsyncConnection.run_sync` (SQLAlchemy's greenlet bridge: each statement is awaited underneath). So
the statements, the conditions that make them atomic, the transactions and the row conversions
exist once; each store is only a driver.

* `READ`: reads only, on the `AUTO` connection, closed without a
  commit (nothing to make durable).
* `AUTO`: a single statement, atomic by itself, without an explicit
  transaction where the store can (autocommit on PostgreSQL, no `BEGIN` on a
  configured SQLite): one round trip.
* `TX`: several statements in one transaction (`BEGIN IMMEDIATE` on a
  configured SQLite): the conditional statement first, the rest only if it
  matched. Any failure rolls everything back.
* `UPSERT`: one `ON CONFLICT` statement where the dialect has it
  (as `AUTO`), else an update-or-insert (as `TX`).

Errors: any SQLAlchemy or driver exception becomes
[`StorageError`][mfakit.errors.StorageError] (`failed`), with the original
chained as `__cause__`. Messages name the operation and the exception type,
never the SQL parameters (engines made by `from_url` also set
`hide_parameters`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Literal, NoReturn, TypeVar

from sqlalchemy import (
    BindParameter,
    Connection,
    Delete,
    Engine,
    Insert,
    Select,
    Table,
    Update,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    inspect,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError

from ...core import writes as w
from ...core.challenge import OPEN_STATES
from ...core.contacts import ContactKind
from ...core.keys import KEY_ID_LENGTH, KEYED_ANSWER_PREFIX
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
from ...errors import ConfigurationError, StorageError
from .. import rows
from .fast import Hot, OneStatement
from .schema import SCHEMA_COMPONENT, SCHEMA_VERSION, Tables, build_metadata, check_prefix
from .snapshot import challenge_snapshot_query, snapshot_from, user_snapshot_query
from .sqlite import BEGIN_OPTION, is_configured

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "AUTO",
    "NATIVE_UPSERT",
    "READ",
    "TX",
    "UPSERT",
    "Mode",
    "Op",
    "Rollback",
    "SqlOperations",
    "Statements",
    "connection_modes",
    "engine_error",
    "failed",
    "parse_url",
    "storage_error",
]

T = TypeVar("T")
R = TypeVar("R")
E = TypeVar("E", Engine, "AsyncEngine")

Mode = Literal["read", "auto", "tx", "upsert"]
READ: Mode = "read"
AUTO: Mode = "auto"
TX: Mode = "tx"
UPSERT: Mode = "upsert"

NATIVE_UPSERT = frozenset({"postgresql", "sqlite"})


class Op(Generic[T]):
    """One store operation, ready to run: `run(conn)` in a connection opened
    as `mode`. `on_duplicate` answers for a unique-key violation (an
    `IntegrityError`) instead of the usual [`StorageError`][mfakit.errors.StorageError]."""

    __slots__ = ("mode", "name", "on_duplicate", "raw", "run", "single")

    def __init__(
        self,
        name: str,
        mode: Mode,
        run: Callable[[Connection], T],
        on_duplicate: Callable[[IntegrityError], T] | None = None,
        *,
        raw: bool = False,
        single: tuple[Hot, Mapping[str, Any], bool] | None = None,
    ) -> None:
        self.name = name
        self.mode = mode
        self.run = run
        self.on_duplicate = on_duplicate
        self.raw = raw
        """Made of `Hot` statements only: `run` also takes a
        `RawConnection`."""
        self.single = single
        """One `Hot` write and its parameters, and whether the operation
        answers `rows changed == 1` (else None): what `apply` needs to join
        it with others in one statement (`OneStatement`)."""


class Rollback(Exception):
    """Raised inside an operation's transaction to roll it back; the store
    then answers `value` (a unit of work that lost a race: None)."""

    def __init__(self, value: object = None) -> None:
        super().__init__()
        self.value = value


def storage_error(store: str, operation: str, exc: BaseException) -> StorageError:
    """`StorageError` for `store.operation`, naming the exception's class
    (and the driver's) only: never its text, which may quote parameters."""
    kind = type(exc).__name__
    orig = getattr(exc, "orig", None)
    if orig is not None:
        kind += f" ({type(orig).__module__}.{type(orig).__name__})"
    return StorageError(f"{store}.{operation} failed: {kind}")


def failed(store: str, op: Op[T], exc: SQLAlchemyError | UnicodeError) -> T:
    """What `op` answers when the database raised `exc`: its
    `on_duplicate` answer for an `IntegrityError` where it has one, else a
    [`StorageError`][mfakit.errors.StorageError] chained to `exc` (also for text the driver cannot
    encode, S36)."""
    if op.on_duplicate is not None and isinstance(exc, IntegrityError):
        return op.on_duplicate(exc)
    raise storage_error(store, op.name, exc) from exc


def _refuse(message: str) -> Callable[[IntegrityError], NoReturn]:
    def refuse(exc: IntegrityError) -> NoReturn:
        raise StorageError(message) from exc

    return refuse


def _not_stored(_exc: IntegrityError) -> bool:
    return False


# --- engines ------------------------------------------------------------------


def parse_url(url: str | URL) -> URL:
    """`url` parsed, or [`ConfigurationError`][mfakit.errors.ConfigurationError]."""
    try:
        return make_url(url)
    except (ArgumentError, ValueError, TypeError) as exc:
        raise ConfigurationError("url is not a database URL") from exc


def engine_error(url: URL, exc: BaseException) -> ConfigurationError:
    """The error for an engine that could not be made for `url`."""
    return ConfigurationError(
        f"cannot make an engine for {url.drivername!r} URLs ({type(exc).__name__}); "
        "is its driver installed (mfakit[sql], mfakit[postgres])?"
    )


def connection_modes(engine: E, sync_engine: Engine) -> tuple[E, E]:
    """The engines (or async engines) for `AUTO` and `TX`:
    `engine` with execution options for its dialect. `sync_engine` is
    `engine` itself or, for an async engine, its `sync_engine`."""
    dialect = sync_engine.dialect.name
    if dialect == "sqlite" and is_configured(sync_engine):
        auto = engine.execution_options(**{BEGIN_OPTION: "autocommit"})
        return auto, engine.execution_options(**{BEGIN_OPTION: "immediate"})
    if dialect == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT"), engine
    # SQLite without configure_sqlite(): the driver's implicit transactions;
    # every write transaction starts with a write statement, which takes the
    # write lock before anything is read.
    return engine, engine


# --- statements -------------------------------------------------------------------


def _bp(name: str, table: Table, column: str) -> BindParameter[Any]:
    """A bound parameter typed like `table.column` (so datetimes go through
    `UtcDateTime`)."""
    return bindparam(name, type_=table.c[column].type)


class Statements:
    """The hot-path statements, built once per store with bound parameters
    (named `p_*`), so each call only binds values and reuses SQLAlchemy's
    compiled-statement cache. Inserts and `SET` clauses take their columns
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
        if dialect in NATIVE_UPSERT:
            # Not stored yet: insert, or nothing if another writer did. An
            # INSERT's row count is only kept when asked for (SQLAlchemy 2).
            ins = pg_insert(c) if dialect == "postgresql" else sqlite_insert(c)
            self.insert_counter = ins.on_conflict_do_nothing(
                index_elements=[c.c.key]
            ).execution_options(preserve_rowcount=True)
        self.insert_challenge: Insert = insert(ch)
        self.insert_audit: Insert = insert(t.audit)
        self.get_challenge: Select[Any] = select(ch).where(ch.c.id == _bp("p_id", ch, "id"))
        self.challenge_for_message: Select[Any] = (
            select(ch)
            .where(ch.c.message_id == _bp("p_message", ch, "message_id"))
            .order_by(ch.c.created_at.desc())
            .limit(1)
        )
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
        # The statements of a verification, run on the DB-API cursor (.fast).
        counter_set = ("count", "window_start", "updated_at", "version")
        challenge_columns = [col.key for col in ch.columns]
        self.hot_advance_totp = Hot(self.advance_totp)
        self.hot_use_backup_code = Hot(self.use_backup_code)
        self.hot_touch_device = Hot(self.touch_device)
        self.hot_update_counter = Hot(self.update_counter, counter_set)
        self.hot_insert_counter = (
            None if self.insert_counter is None else Hot(self.insert_counter, ("key", *counter_set))
        )
        self.hot_insert_challenge = Hot(self.insert_challenge, challenge_columns)
        # PostgreSQL: the same insert, committed without waiting for the disk.
        # `set_config(..., true)` lasts for the statement's own transaction
        # (autocommit): nothing stays on the connection (safe behind PgBouncer).
        self.hot_insert_challenge_relaxed: Hot | None = None
        if dialect == "postgresql":
            relaxed = select(
                func.set_config("synchronous_commit", "off", true()).label("relaxed")
            ).subquery()
            values = select(*[bindparam(k, type_=ch.c[k].type) for k in challenge_columns])
            self.hot_insert_challenge_relaxed = Hot(
                insert(ch).from_select(challenge_columns, values.select_from(relaxed)),
                challenge_columns,
            )
        challenge_set = [k for k in challenge_columns if k != "id"]
        self.hot_update_challenge = Hot(self.update_challenge, challenge_set)
        # ExpectCounter folded into another conditional statement of its batch:
        # "and the counter p_ckey is (still) at version p_cversion, 0: absent".
        stored_version = select(c.c.version).where(c.c.key == _bp("p_ckey", c, "key"))
        guard = func.coalesce(stored_version.scalar_subquery(), 0) == _bp(
            "p_cversion", c, "version"
        )
        self.hot_counter_version = Hot(stored_version)
        self.hot_advance_totp_guarded = Hot(self.advance_totp.where(guard))
        self.hot_update_challenge_guarded = Hot(self.update_challenge.where(guard), challenge_set)
        # inline(): no RETURNING of the new ``seq`` (PostgreSQL), nobody reads it.
        self.hot_insert_audit = Hot(
            insert(t.audit).inline(), [col.key for col in t.audit.columns if col.key != "seq"]
        )
        cr = t.credentials
        self.credential_columns = [col.key for col in cr.columns]
        self.hot_list_credentials = Hot(
            select(cr)
            .where(cr.c.user_id == _bp("p_user", cr, "user_id"))
            .order_by(cr.c.created_at, cr.c.id)
        )


# --- the operations ---------------------------------------------------------------


class SqlOperations:
    """Every operation of the storage ports for one table prefix, as an `Op`.

    The builders take the port's arguments; `dialect` (the dialect's name)
    chooses between `ON CONFLICT` statements and their portable fallbacks
    when an operation runs.
    """

    def __init__(self, table_prefix: str, dialect: Dialect) -> None:
        self.prefix = check_prefix(table_prefix)
        self.metadata = build_metadata(self.prefix)
        self.t = Tables(self.metadata, self.prefix)
        self.sa_dialect = dialect
        self.dialect = dialect.name
        self.s = Statements(self.t, self.dialect)
        v = self.t.version
        self._version = select(v.c.version).where(v.c.component == SCHEMA_COMPONENT)
        self._user_snapshot: dict[int, Hot] = {}
        self._challenge_snapshot: dict[tuple[str, ...], Hot] = {}
        self._one_statements: dict[tuple[tuple[Hot, bool], ...], OneStatement | None] = {}
        self._writers: dict[type, Callable[[Any], Op[Any]]] = {
            w.AddTotp: lambda x: self.add_totp(x.record, limit=x.limit, now=x.now),
            w.ConfirmTotp: lambda x: self.confirm_totp(
                x.user_id, x.factor_id, step=x.step, now=x.now, backup_codes=None
            ),
            w.AdvanceTotp: lambda x: self.advance_totp(
                x.user_id, x.factor_id, step=x.step, now=x.now
            ),
            w.RenameTotp: lambda x: self.rename_totp(x.user_id, x.factor_id, x.label),
            w.ResealTotp: self.reseal_totp,
            w.DeleteTotp: lambda x: self.delete_totp(x.user_id, x.factor_id),
            w.ReplaceBackupCodes: lambda x: self.replace_backup_codes(x.user_id, x.codes),
            w.UseBackupCode: lambda x: self.use_backup_code(x.user_id, x.lookup, now=x.now),
            w.PutCounter: lambda x: self.put_counter(x.counter),
            w.ExpectCounter: lambda x: self.expect_counter(x.key, x.version),
            w.InsertChallenge: lambda x: self.insert_challenge(x.record),
            w.UpdateChallenge: lambda x: self.update_challenge(x.record),
            w.PutContact: lambda x: self.put_contact(x.record),
            w.DeleteContact: lambda x: self.delete_contact(x.user_id, x.kind),
            w.PutQuestion: lambda x: self.put_question(x.record),
            w.ReplaceAnswerHash: lambda x: self.replace_answer_hash(
                x.user_id, x.old_hash, x.new_hash
            ),
            w.InsertDevice: lambda x: self.insert_device(x.record),
            w.TouchDevice: lambda x: self.touch_device(x.user_id, x.device_id, now=x.now),
            w.RevokeDevice: lambda x: self.revoke_device(x.user_id, x.device_id, now=x.now),
            w.RevokeDevices: lambda x: self.revoke_devices(x.user_id, now=x.now),
            w.BumpSecurityVersion: lambda x: self.bump_security_version(x.user_id, now=x.now),
            w.SetPreferredMethod: lambda x: self.set_preferred_method(
                x.user_id, x.method, now=x.now
            ),
            w.SetLocale: lambda x: self.set_locale(x.user_id, x.locale, now=x.now),
            w.ClearFactors: lambda x: self.clear_factors(x.user_id),
            w.RequireNoFactor: lambda x: self.require_no_factor(x.user_id),
            w.QueueNotice: lambda x: self.queue_notice(x.record),
            w.ClaimNotice: lambda x: self.claim_notice(x.notice_id, x.attempts, x.retry_at),
            w.DeleteNotice: lambda x: self.delete_notice(x.notice_id),
            w.InsertCredential: lambda x: self.insert_credential(x.record, limit=x.limit),
            w.UpdateCredential: lambda x: self.update_credential(x.record),
            w.RenameCredential: lambda x: self.rename_credential(x.user_id, x.factor_id, x.name),
            w.DeleteCredential: lambda x: self.delete_credential(x.user_id, x.factor_id),
            w.SetUserHandle: lambda x: self.set_user_handle(x.user_id, x.handle, now=x.now),
            w.PutCeremony: lambda x: self.put_ceremony(x.record),
            w.RecordAudit: lambda x: self.record(x.record),
        }

    # --- shapes ---------------------------------------------------------------
    @staticmethod
    def _first(
        name: str,
        stmt: Select[Any],
        params: Mapping[str, Any],
        convert: Callable[[Mapping[Any, Any]], R],
    ) -> Op[R | None]:
        def run(conn: Connection) -> R | None:
            row = conn.execute(stmt, params).first()
            return None if row is None else convert(row._mapping)

        return Op(name, READ, run)

    @staticmethod
    def _all(
        name: str,
        stmt: Select[Any],
        params: Mapping[str, Any],
        convert: Callable[[Mapping[Any, Any]], R],
    ) -> Op[list[R]]:
        def run(conn: Connection) -> list[R]:
            return [convert(row._mapping) for row in conn.execute(stmt, params)]

        return Op(name, READ, run)

    @staticmethod
    def _applied(
        name: str, stmt: Update | Delete | Insert | Hot, params: Mapping[str, Any] | None = None
    ) -> Op[bool]:
        """One conditional statement; True if it changed exactly one row."""
        if isinstance(stmt, Hot):
            hot, values = stmt, params or {}

            def run_hot(conn: Connection) -> bool:
                return hot.rowcount(conn, values) == 1

            return Op(name, AUTO, run_hot, raw=True, single=(hot, values, True))

        def run(conn: Connection) -> bool:
            return conn.execute(stmt, params).rowcount == 1

        return Op(name, AUTO, run)

    # --- helpers inside a connection --------------------------------------------
    def _lock_user(self, conn: Connection, table: Table, user_id: str) -> None:
        """Serialise writers of one user's rows in `table` until commit.

        A row lock (`SELECT ... FOR UPDATE`) cannot do it on PostgreSQL:
        before a user's first authenticator there is no row to lock, so two
        concurrent first inserts would both see room under the limit. Instead
        a transaction-scoped advisory lock on a hash of (table, user) makes
        concurrent `add_totp` calls for one user run one after the other;
        it is released at commit or rollback, and a hash collision only makes
        two users' enrolments wait for each other. SQLite needs nothing: its
        write transactions (`BEGIN IMMEDIATE`, or a first statement that
        writes) already run one at a time. Elsewhere (MySQL/InnoDB) `FOR
        UPDATE` also locks the index gap, which covers the empty case.
        """
        if self.dialect == "postgresql":
            key = f"{table.name}:{user_id}"
            conn.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))
        elif self.dialect != "sqlite":
            conn.execute(
                select(table.c.user_id).where(table.c.user_id == user_id).with_for_update()
            )

    def _upsert(
        self, conn: Connection, table: Table, values: Mapping[str, Any], keys: Sequence[str]
    ) -> None:
        """Insert `values`, or update the row with the same `keys` (other
        columns keep their values): one `ON CONFLICT` statement where the
        dialect has it, else an update and, if it matched nothing, an insert
        inside the caller's transaction."""
        if self.dialect in NATIVE_UPSERT:
            ins = (pg_insert if self.dialect == "postgresql" else sqlite_insert)(table).values(
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

    def _upsert_op(
        self, name: str, table: Table, values: Mapping[str, Any], keys: Sequence[str]
    ) -> Op[None]:
        def run(conn: Connection) -> None:
            self._upsert(conn, table, values, keys)

        return Op(name, UPSERT, run)

    def _replace_codes(
        self, conn: Connection, user_id: str, codes: Sequence[BackupCodeRecord]
    ) -> None:
        conn.execute(self.s.delete_backup_codes, {"p_user": user_id})
        if codes:
            values = [rows.backup_values(user_id, c) for c in codes]
            conn.execute(self.s.insert_backup_codes, values)

    # --- schema -------------------------------------------------------------------
    def create_all(self) -> Op[None]:
        """Create the missing tables and record `SCHEMA_VERSION` (if no
        version is recorded yet)."""

        def run(conn: Connection) -> None:
            if self.dialect == "postgresql":
                # Several app servers may start at once: CREATE TABLE IF NOT
                # EXISTS races in PostgreSQL, so serialise on a lock held until
                # this (transactional) DDL commits.
                key = self.prefix + "schema"
                conn.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))
            self.metadata.create_all(conn)
            self._record_version(conn)

        return Op("create_all", TX, run)

    def read_version(self) -> Op[int | None]:
        """The recorded schema version (None: none recorded); a
        [`ConfigurationError`][mfakit.errors.ConfigurationError] if the tables are missing."""

        def run(conn: Connection) -> int | None:
            try:
                found: int | None = conn.execute(self._version).scalar()
            except SQLAlchemyError as exc:
                if self._has_version_table(conn):
                    raise
                raise ConfigurationError(
                    f"mfakit's tables ({self.prefix}...) are missing: "
                    "run `mfakit db upgrade` (or call create_all())"
                ) from exc
            return found

        return Op("check_schema", AUTO, run)

    def record_version(self) -> Op[int]:
        """Record `SCHEMA_VERSION` unless a version is recorded (the
        tables came from the host's migrations); returns the recorded one."""
        return Op("check_schema", TX, self._record_version)

    def _record_version(self, conn: Connection) -> int:
        found: int | None = conn.execute(self._version).scalar()
        if found is not None:
            return found
        conn.execute(
            insert(self.t.version).values(component=SCHEMA_COMPONENT, version=SCHEMA_VERSION)
        )
        return SCHEMA_VERSION

    def _has_version_table(self, conn: Connection) -> bool:
        try:
            return inspect(conn).has_table(self.t.version.name)
        except SQLAlchemyError:
            return True  # unreachable database: report the original failure

    @staticmethod
    def check_version(found: int) -> None:
        """Refuse a recorded schema version this release cannot work with,
        naming what to run about it."""
        if found > SCHEMA_VERSION:
            raise ConfigurationError(
                f"the database holds mfakit schema version {found}, newer than this "
                f"release supports ({SCHEMA_VERSION}): upgrade mfakit (pip install -U mfakit)"
            )
        if found < SCHEMA_VERSION:
            raise ConfigurationError(
                f"the database holds mfakit schema version {found}, older than this "
                f"release's ({SCHEMA_VERSION}): run `mfakit db upgrade` (or "
                "mfakit.adapters.sql.migrate.upgrade(url, table_prefix=...))"
            )

    # --- the unit of work ------------------------------------------------------
    def apply(self, writes: Sequence[w.Write]) -> Op[list[object] | None]:
        """Every write's statements in one transaction, in order; a conditional
        write that matches no row raises `Rollback` (None). A batch of
        one runs the way its write alone would (one round trip where it can)."""
        ops: list[tuple[bool, Op[Any] | None]] = []
        guards = self._fold_expectations(writes)
        for i, x in enumerate(writes):
            guard = guards.get(i)
            if type(x) is w.ExpectCounter and guard is not None:
                ops.append((True, None))  # checked by the statement it was folded into
                continue
            build = self._writers.get(type(x))
            if build is None:
                raise StorageError("apply: not a storage write")
            op = self._guarded(x, guard) if guard is not None else build(x)
            ops.append((type(x) in w.CONDITIONAL, op))
        live = [op for _, op in ops if op is not None]
        if len(live) == 1:
            op = live[0]
            conditional = any(c for c, o in ops if o is op)

            def run_one(conn: Connection) -> list[object] | None:
                result = op.run(conn)
                if conditional and result is not True:
                    return None
                return [result if o is op else True for _, o in ops]

            dup = op.on_duplicate
            on_duplicate = None
            if dup is not None:

                def on_duplicate(exc: IntegrityError) -> list[object] | None:
                    result = dup(exc)
                    return None if result is False else [result]

            return Op("apply", op.mode, run_one, on_duplicate=on_duplicate, raw=op.raw)

        joined = self._joined(ops)
        if joined is not None:
            return joined

        def run(conn: Connection) -> list[object] | None:
            results: list[object] = []
            for conditional, op in ops:
                if op is None:
                    results.append(True)
                    continue
                try:
                    result = op.run(conn)
                except IntegrityError as exc:
                    if op.on_duplicate is _not_stored:  # a counter inserted meanwhile
                        raise Rollback(None) from exc
                    raise
                if conditional and result is not True:
                    raise Rollback(None)
                results.append(result)
            return results

        return Op("apply", TX, run, raw=all(op.raw for op in live))

    def _joined(self, ops: Sequence[tuple[bool, Op[Any] | None]]) -> Op[list[object] | None] | None:
        """The batch as one statement (`OneStatement`: one round trip,
        atomic without a transaction of its own) where the dialect allows it
        and every write is one `Hot` statement that sees none of the others'
        tables; else None."""
        parts = [(conditional, op.single) for conditional, op in ops if op is not None]
        if len(parts) < 2 or any(single is None for _, single in parts):
            return None
        singles = [single for _, single in parts if single is not None]
        key = tuple(
            (hot, conditional) for (conditional, _), (hot, _, _) in zip(parts, singles, strict=True)
        )
        # Decided once per shape of batch (None: the writes may not be joined).
        if key in self._one_statements:
            joined = self._one_statements[key]
        else:
            statements = [hot for hot, _ in key]
            combinable = OneStatement.combinable(self.sa_dialect, statements)
            joined = self._one_statements[key] = OneStatement(key) if combinable else None
        if joined is None:
            return None
        params = [values for _, values, _ in singles]
        answers = [applied for _, _, applied in singles]
        # A counter inserted meanwhile (where a write answers a duplicate that
        # way) is a lost race, as in the sequential batch.
        lost_race = any(op.on_duplicate is _not_stored for _, op in ops if op is not None)

        def run(conn: Connection) -> list[object] | None:
            try:
                counts = joined.counts(conn, params)
            except IntegrityError:
                if lost_race:
                    return None
                raise
            if counts is None:
                return None
            found = iter(zip(counts, answers, strict=True))
            results: list[object] = []
            for _, op in ops:
                if op is None:
                    results.append(True)  # an expectation folded into a write
                    continue
                count, applied = next(found)
                results.append(count == 1 if applied else None)
            return results

        raw = all(op.raw for _, op in ops if op is not None)
        return Op("apply", AUTO, run, raw=raw)

    _GUARDABLE = (w.AdvanceTotp, w.UpdateChallenge)

    @classmethod
    def _fold_expectations(cls, writes: Sequence[w.Write]) -> dict[int, tuple[str, int]]:
        """Where an `ExpectCounter` is checked
        without a statement of its own: the batch's first `AdvanceTotp` or
        `UpdateChallenge` (a conditional UPDATE) also requires the counter's
        version. Maps that write's index, and the ExpectCounter's, to the
        (key, version) expected."""
        expect = next(((i, x) for i, x in enumerate(writes) if type(x) is w.ExpectCounter), None)
        if expect is None:
            return {}
        host = next((i for i, x in enumerate(writes) if type(x) in cls._GUARDABLE), None)
        if host is None:
            return {}
        i, x = expect
        assert isinstance(x, w.ExpectCounter)
        return {host: (x.key, x.version), i: (x.key, x.version)}

    def _guarded(self, x: w.Write, guard: tuple[str, int]) -> Op[bool]:
        key, version = guard
        if isinstance(x, w.AdvanceTotp):
            params = {"p_user": x.user_id, "p_id": x.factor_id, "p_step": x.step, "p_now": x.now}
            params.update(p_ckey=key, p_cversion=version)
            return self._applied("advance_totp", self.s.hot_advance_totp_guarded, params)
        assert isinstance(x, w.UpdateChallenge)
        values = self._challenge_update_values(x.record)
        values.update(p_ckey=key, p_cversion=version)
        return self._applied("update_challenge", self.s.hot_update_challenge_guarded, values)

    def expect_counter(self, key: str, version: int) -> Op[bool]:
        stmt = self.s.hot_counter_version

        def run(conn: Connection) -> bool:
            found = stmt.rows(conn, {"p_ckey": key})
            return (found[0][0] if found else 0) == version

        return Op("expect_counter", READ, run, raw=True)

    def load_user(self, user_id: str, counters: Sequence[str]) -> Op[UserSnapshot]:
        stmt = self._user_snapshot.get(len(counters))
        if stmt is None:
            query = user_snapshot_query(self.t, counters=len(counters))
            stmt = self._user_snapshot[len(counters)] = Hot(query)
        params: dict[str, Any] = {"p_user": user_id}
        for i, prefix in enumerate(counters):
            params[f"p_k{i}"] = prefix + user_id

        def run(conn: Connection) -> UserSnapshot:
            snapshot = snapshot_from(user_id, stmt.rows(conn, params))[1]
            assert snapshot is not None
            return self._with_credentials(conn, snapshot)

        return Op("load_user", READ, run, raw=True)

    def load_challenge(
        self, challenge_id: str, counters: Sequence[str]
    ) -> Op[tuple[ChallengeRecord, UserSnapshot] | None]:
        prefixes = tuple(counters)
        stmt = self._challenge_snapshot.get(prefixes)
        if stmt is None:
            query = challenge_snapshot_query(self.t, prefixes)
            stmt = self._challenge_snapshot[prefixes] = Hot(query)
        params = {"p_id": challenge_id}

        def run(conn: Connection) -> tuple[ChallengeRecord, UserSnapshot] | None:
            challenge, snapshot = snapshot_from(None, stmt.rows(conn, params))
            if challenge is None or snapshot is None:
                return None
            return challenge, self._with_credentials(conn, snapshot)

        return Op("load_challenge", READ, run, raw=True)

    # --- retention -------------------------------------------------------------
    def purge(
        self,
        before: datetime,
        keep_nonzero: Sequence[str],
        limit: int,
        audit_before: datetime | None = None,
    ) -> Op[int]:
        """Each kind of stale row, at most `limit` of each, found through a
        bounded sub-select on its primary key (short transaction, no scan held
        under a lock for long). Audit events go oldest first among the first
        `limit` by sequence (no index on their time: events are recorded in
        time order, so the old ones are at the start and no scan goes further)."""
        t = self.t

        def bounded(table: Table, where: Any) -> Delete:
            keys = [table.c[c.name] for c in table.primary_key.columns]
            chosen = select(*keys).where(where).limit(limit)
            found = keys[0].in_(chosen) if len(keys) == 1 else tuple_(*keys).in_(chosen)
            return delete(table).where(found)

        c, d, b, f, n = t.counters, t.devices, t.backup, t.totp, t.notices
        kept = [c.c.key.startswith(p, autoescape=True) for p in keep_nonzero]
        counters = c.c.updated_at < before
        if kept:
            counters = and_(counters, or_(c.c.count == 0, ~or_(*kept)))
        statements = [
            bounded(t.challenges, t.challenges.c.expires_at < before),
            bounded(c, counters),
            bounded(d, or_(d.c.revoked_at < before, d.c.expires_at < before)),
            bounded(b, b.c.used_at < before),
            bounded(f, and_(f.c.confirmed_at.is_(None), f.c.expires_at < before)),
            bounded(n, n.c.created_at < before),
            bounded(t.ceremonies, t.ceremonies.c.expires_at < before),
        ]
        if audit_before is not None:
            a = t.audit
            first = select(a.c.seq, a.c.at).order_by(a.c.seq).limit(limit).subquery()
            old_events = select(first.c.seq).where(first.c.at < audit_before)
            statements.append(delete(a).where(a.c.seq.in_(old_events)))

        def run(conn: Connection) -> int:
            return sum(int(conn.execute(stmt).rowcount) for stmt in statements)

        return Op("purge", TX, run)

    # --- authenticator apps -------------------------------------------------
    def add_totp(self, record: TotpRecord, *, limit: int, now: datetime) -> Op[bool]:
        t = self.t.totp

        def run(conn: Connection) -> bool:
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
            conn.execute(insert(t).values(rows.totp_values(record)))
            return True

        return Op("add_totp", TX, run)

    def get_totp(self, user_id: str, factor_id: str) -> Op[TotpRecord | None]:
        params = {"p_user": user_id, "p_id": factor_id}
        return self._first("get_totp", self.s.get_totp, params, rows.totp_from)

    def list_totp(self, user_id: str) -> Op[list[TotpRecord]]:
        return self._all("list_totp", self.s.list_totp, {"p_user": user_id}, rows.totp_from)

    def confirm_totp(
        self,
        user_id: str,
        factor_id: str,
        *,
        step: int,
        now: datetime,
        backup_codes: Sequence[BackupCodeRecord] | None,
    ) -> Op[bool]:
        t = self.t.totp
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
            return self._applied("confirm_totp", confirm)

        def run(conn: Connection) -> bool:
            if conn.execute(confirm).rowcount != 1:
                return False
            self._replace_codes(conn, user_id, backup_codes)
            return True

        return Op("confirm_totp", TX, run)

    def advance_totp(self, user_id: str, factor_id: str, *, step: int, now: datetime) -> Op[bool]:
        params = {"p_user": user_id, "p_id": factor_id, "p_step": step, "p_now": now}
        return self._applied("advance_totp", self.s.hot_advance_totp, params)

    def rename_totp(self, user_id: str, factor_id: str, label: str) -> Op[bool]:
        t = self.t.totp
        stmt = (
            update(t)
            .where(t.c.user_id == user_id, t.c.id == factor_id, t.c.confirmed_at.is_not(None))
            .values(label=label)
        )
        return self._applied("rename_totp", stmt)

    def reseal_totp(self, x: w.ResealTotp) -> Op[bool]:
        t = self.t.totp
        stmt = (
            update(t)
            .where(
                t.c.user_id == x.user_id,
                t.c.id == x.factor_id,
                t.c.secret_key_id == x.old_key_id,
                t.c.secret_blob == x.old_blob,
            )
            .values(secret_key_id=x.key_id, secret_blob=x.blob)
        )
        return self._applied("reseal_totp", stmt)

    def totps_to_reseal(
        self, *, key_id: str, after: tuple[str, str] | None, limit: int
    ) -> Op[list[TotpRecord]]:
        t = self.t.totp
        stmt = select(t).where(t.c.secret_key_id != key_id)
        if after is not None:
            user, factor = after
            stmt = stmt.where(or_(t.c.user_id > user, and_(t.c.user_id == user, t.c.id > factor)))
        stmt = stmt.order_by(t.c.user_id, t.c.id).limit(limit)
        return self._all("totps_to_reseal", stmt, {}, rows.totp_from)

    def key_usage(self, *, now: datetime) -> Op[list[KeyUse]]:
        t, q, c = self.t.totp, self.t.questions, self.t.challenges
        answer_kid = func.substr(q.c.answer_hash, len(KEYED_ANSWER_PREFIX) + 1, KEY_ID_LENGTH)
        queries = {
            "authenticators": select(t.c.secret_key_id, func.count()).group_by(t.c.secret_key_id),
            "security_answers": select(answer_kid, func.count())
            .where(q.c.answer_hash.startswith(KEYED_ANSWER_PREFIX, autoescape=True))
            .group_by(answer_kid),
            "open_challenges": select(c.c.code_key_id, func.count())
            .where(
                c.c.code_key_id.is_not(None),
                c.c.code_hash.is_not(None),
                c.c.expires_at > now,
                c.c.state.in_([str(state) for state in OPEN_STATES]),
            )
            .group_by(c.c.code_key_id),
        }

        def run(conn: Connection) -> list[KeyUse]:
            counts: dict[str, dict[str, int]] = {}
            for kind, stmt in queries.items():
                for key_id, n in conn.execute(stmt):
                    counts.setdefault(key_id, {})[kind] = int(n)
            return [KeyUse(key_id=k, **counts[k]) for k in sorted(counts)]

        return Op("key_usage", READ, run)

    def delete_totp(self, user_id: str, factor_id: str) -> Op[bool]:
        t = self.t.totp
        return self._applied(
            "delete_totp", delete(t).where(t.c.user_id == user_id, t.c.id == factor_id)
        )

    # --- backup codes --------------------------------------------------------
    def replace_backup_codes(self, user_id: str, codes: Sequence[BackupCodeRecord]) -> Op[None]:
        def run(conn: Connection) -> None:
            self._replace_codes(conn, user_id, codes)

        return Op("replace_backup_codes", TX if codes else AUTO, run)

    def get_backup_code(self, user_id: str, lookup: str) -> Op[BackupCodeRecord | None]:
        params = {"p_user": user_id, "p_lookup": lookup}
        return self._first("get_backup_code", self.s.get_backup_code, params, rows.backup_from)

    def use_backup_code(self, user_id: str, lookup: str, *, now: datetime) -> Op[bool]:
        params = {"p_user": user_id, "p_lookup": lookup, "p_now": now}
        return self._applied("use_backup_code", self.s.hot_use_backup_code, params)

    def count_backup_codes(self, user_id: str) -> Op[int]:
        stmt = self.s.count_backup_codes

        def run(conn: Connection) -> int:
            return int(conn.execute(stmt, {"p_user": user_id}).scalar_one())

        return Op("count_backup_codes", READ, run)

    # --- counters --------------------------------------------------------------
    def get_counter(self, key: str) -> Op[Counter | None]:
        return self._first("get_counter", self.s.get_counter, {"p_key": key}, rows.counter_from)

    def put_counter(self, counter: Counter) -> Op[bool]:
        values: dict[str, Any] = {
            "count": counter.count,
            "window_start": counter.window_start,
            "updated_at": counter.updated_at,
            "version": counter.version + 1,
        }
        if counter.version != 0:
            values["p_key"] = counter.key
            values["p_version"] = counter.version
            return self._applied("put_counter", self.s.hot_update_counter, values)
        values["key"] = counter.key
        if self.s.hot_insert_counter is not None:
            return self._applied("put_counter", self.s.hot_insert_counter, values)
        # No ON CONFLICT: insert, and a duplicate key means another writer won.
        stmt = insert(self.t.counters)

        def run(conn: Connection) -> bool:
            conn.execute(stmt, values)
            return True

        return Op("put_counter", AUTO, run, on_duplicate=_not_stored)

    # --- challenges -----------------------------------------------------------
    def insert_challenge(self, record: ChallengeRecord, *, relaxed: bool = False) -> Op[None]:
        """`relaxed`: commit without waiting for the disk where the dialect can
        say so for one statement (PostgreSQL)."""
        values = rows.challenge_values(record)
        values["version"] = 0
        stmt = self.s.hot_insert_challenge
        if relaxed and self.s.hot_insert_challenge_relaxed is not None:
            stmt = self.s.hot_insert_challenge_relaxed

        def run(conn: Connection) -> None:
            stmt.rowcount(conn, values)

        refuse = _refuse("a challenge with this id already exists")
        return Op("insert_challenge", AUTO, run, on_duplicate=refuse, raw=True)

    def get_challenge(self, challenge_id: str) -> Op[ChallengeRecord | None]:
        params = {"p_id": challenge_id}
        return self._first("get_challenge", self.s.get_challenge, params, rows.challenge_from)

    def challenge_for_message(self, message_id: str) -> Op[ChallengeRecord | None]:
        params = {"p_message": message_id}
        stmt = self.s.challenge_for_message
        return self._first("challenge_for_message", stmt, params, rows.challenge_from)

    def update_challenge(
        self,
        record: ChallengeRecord,
        *,
        contact: ContactRecord | None = None,
        backup_codes: Sequence[BackupCodeRecord] | None = None,
    ) -> Op[bool]:
        values = self._challenge_update_values(record)
        stmt = self.s.hot_update_challenge
        if contact is None and backup_codes is None:
            return self._applied("update_challenge", stmt, values)

        def run(conn: Connection) -> bool:
            if stmt.rowcount(conn, values) != 1:
                return False
            if contact is not None:
                contact_values = rows.contact_values(contact)
                self._upsert(conn, self.t.contacts, contact_values, ("user_id", "kind"))
            if backup_codes is not None:
                self._replace_codes(conn, record.user_id, backup_codes)
            return True

        return Op("update_challenge", TX, run)

    @staticmethod
    def _challenge_update_values(record: ChallengeRecord) -> dict[str, Any]:
        values = rows.challenge_values(record)
        del values["id"]
        values["version"] = record.version + 1
        values["p_id"] = record.id
        values["p_version"] = record.version
        return values

    # --- contact channels -----------------------------------------------------
    def get_contacts(self, user_id: str) -> Op[list[ContactRecord]]:
        return self._all(
            "get_contacts", self.s.get_contacts, {"p_user": user_id}, rows.contact_from
        )

    def put_contact(self, record: ContactRecord) -> Op[None]:
        values = rows.contact_values(record)
        return self._upsert_op("put_contact", self.t.contacts, values, ("user_id", "kind"))

    def delete_contact(self, user_id: str, kind: ContactKind) -> Op[bool]:
        t = self.t.contacts
        stmt = delete(t).where(t.c.user_id == user_id, t.c.kind == ContactKind(kind).value)
        return self._applied("delete_contact", stmt)

    # --- security question ----------------------------------------------------
    def get_question(self, user_id: str) -> Op[QuestionRecord | None]:
        params = {"p_user": user_id}
        return self._first("get_question", self.s.get_question, params, rows.question_from)

    def put_question(self, record: QuestionRecord) -> Op[None]:
        values = {
            "user_id": record.user_id,
            "question": record.question,
            "answer_hash": record.answer_hash,
            "created_at": record.created_at,
        }
        return self._upsert_op("put_question", self.t.questions, values, ("user_id",))

    def replace_answer_hash(self, user_id: str, old_hash: str, new_hash: str) -> Op[bool]:
        q = self.t.questions
        stmt = (
            update(q)
            .where(q.c.user_id == user_id, q.c.answer_hash == old_hash)
            .values(answer_hash=new_hash)
        )
        return self._applied("replace_answer_hash", stmt)

    # --- trusted devices ------------------------------------------------------
    def insert_device(self, record: DeviceRecord) -> Op[None]:
        stmt = insert(self.t.devices).values(rows.device_values(record))

        def run(conn: Connection) -> None:
            conn.execute(stmt)

        refuse = _refuse("a device with this id already exists")
        return Op("insert_device", AUTO, run, on_duplicate=refuse)

    def get_device(self, user_id: str, device_id: str) -> Op[DeviceRecord | None]:
        params = {"p_user": user_id, "p_id": device_id}
        return self._first("get_device", self.s.get_device, params, rows.device_from)

    def list_devices(self, user_id: str) -> Op[list[DeviceRecord]]:
        d = self.t.devices
        query = select(d).where(d.c.user_id == user_id).order_by(d.c.created_at.desc(), d.c.id)
        return self._all("list_devices", query, {}, rows.device_from)

    def touch_device(self, user_id: str, device_id: str, *, now: datetime) -> Op[bool]:
        params = {"p_user": user_id, "p_id": device_id, "p_now": now}
        return self._applied("touch_device", self.s.hot_touch_device, params)

    def _revoke(self, user_id: str, device_id: str | None, now: datetime) -> Update:
        d = self.t.devices
        where = [d.c.user_id == user_id, d.c.revoked_at.is_(None)]
        if device_id is not None:
            where.append(d.c.id == device_id)
        return update(d).where(*where).values(revoked_at=now)

    def revoke_device(self, user_id: str, device_id: str, *, now: datetime) -> Op[bool]:
        return self._applied("revoke_device", self._revoke(user_id, device_id, now))

    def revoke_devices(self, user_id: str, *, now: datetime) -> Op[int]:
        stmt = self._revoke(user_id, None, now)

        def run(conn: Connection) -> int:
            return int(conn.execute(stmt).rowcount)

        return Op("revoke_devices", AUTO, run)

    # --- per-user state -------------------------------------------------------
    def get_user_state(self, user_id: str) -> Op[UserState | None]:
        params = {"p_user": user_id}
        return self._first("get_user_state", self.s.get_user_state, params, rows.user_state_from)

    def bump_security_version(self, user_id: str, *, now: datetime) -> Op[int]:
        u = self.t.user_state
        # (insert_returning is known once connected; the schema check connects.)
        if self.dialect in NATIVE_UPSERT and self.sa_dialect.insert_returning:
            # One statement: create the state at 1 or add one, and read it back
            # (RETURNING needs SQLite 3.35; older ones take the path below).
            ins = (pg_insert if self.dialect == "postgresql" else sqlite_insert)(u).values(
                user_id=user_id, security_version=1, updated_at=now
            )
            stmt = ins.on_conflict_do_update(
                index_elements=[u.c.user_id],
                set_={"security_version": u.c.security_version + 1, "updated_at": now},
            ).returning(u.c.security_version)

            def upsert(conn: Connection) -> int:
                return int(conn.execute(stmt).scalar_one())

            return Op("bump_security_version", AUTO, upsert)
        bump = (
            update(u)
            .where(u.c.user_id == user_id)
            .values(security_version=u.c.security_version + 1, updated_at=now)
        )

        def run(conn: Connection) -> int:
            if conn.execute(bump).rowcount != 1:
                conn.execute(insert(u).values(user_id=user_id, security_version=1, updated_at=now))
            query = select(u.c.security_version).where(u.c.user_id == user_id)
            return int(conn.execute(query).scalar_one())

        return Op("bump_security_version", TX, run)

    def set_preferred_method(
        self, user_id: str, method: Method | None, *, now: datetime
    ) -> Op[None]:
        values = {
            "user_id": user_id,
            "preferred_method": None if method is None else Method(method).value,
            "updated_at": now,
        }
        return self._upsert_op("set_preferred_method", self.t.user_state, values, ("user_id",))

    def set_locale(self, user_id: str, locale: str | None, *, now: datetime) -> Op[None]:
        values = {"user_id": user_id, "locale": locale, "updated_at": now}
        return self._upsert_op("set_locale", self.t.user_state, values, ("user_id",))

    # --- audit trail --------------------------------------------------------
    def record(self, event: AuditRecord) -> Op[None]:
        stmt = self.s.hot_insert_audit
        values = rows.audit_values(event)

        def run(conn: Connection) -> None:
            stmt.rowcount(conn, values)

        refuse = _refuse("an event with this id exists")
        return Op("record", AUTO, run, on_duplicate=refuse, raw=True, single=(stmt, values, False))

    def list_events(
        self, subject_id: str, *, limit: int, before: str | None
    ) -> Op[list[AuditRecord]]:
        a = self.t.audit
        stmt = select(a).where(a.c.subject_id == subject_id)
        if before is not None:
            cursor = select(a.c.seq).where(a.c.id == before).scalar_subquery()
            stmt = stmt.where(a.c.seq < cursor)
        stmt = stmt.order_by(a.c.seq.desc()).limit(limit)
        return self._all("list_events", stmt, {}, rows.audit_from)

    # --- first factors and the notice outbox ---------------------------------
    def require_no_factor(self, user_id: str) -> Op[bool]:
        t, co = self.t.totp, self.t.contacts

        def run(conn: Connection) -> bool:
            # Two first enrolments at once both take this lock, so the second
            # sees the first's factor once it commits (READ COMMITTED reads
            # committed rows at each statement; SQLite writes one at a time).
            self._lock_user(conn, co, user_id)
            found = (
                conn.execute(
                    select(func.count())
                    .select_from(t)
                    .where(t.c.user_id == user_id, t.c.confirmed_at.is_not(None))
                ).scalar_one()
                + conn.execute(
                    select(func.count())
                    .select_from(co)
                    .where(co.c.user_id == user_id, co.c.verified_at.is_not(None))
                ).scalar_one()
                + conn.execute(
                    select(func.count())
                    .select_from(self.t.credentials)
                    .where(self.t.credentials.c.user_id == user_id)
                ).scalar_one()
            )
            return not found

        return Op("require_no_factor", TX, run)

    def queue_notice(self, record: NoticeRecord) -> Op[None]:
        stmt = insert(self.t.notices).values(rows.notice_values(record))

        def run(conn: Connection) -> None:
            conn.execute(stmt)

        refuse = _refuse("a notice with this id already exists")
        return Op("queue_notice", AUTO, run, on_duplicate=refuse)

    def claim_notice(self, notice_id: str, attempts: int, retry_at: datetime) -> Op[bool]:
        n = self.t.notices
        stmt = (
            update(n)
            .where(n.c.id == notice_id, n.c.attempts == attempts)
            .values(attempts=attempts + 1, next_attempt_at=retry_at)
        )
        return self._applied("claim_notice", stmt)

    def delete_notice(self, notice_id: str) -> Op[None]:
        n = self.t.notices
        stmt = delete(n).where(n.c.id == notice_id)

        def run(conn: Connection) -> None:
            conn.execute(stmt)

        return Op("delete_notice", AUTO, run)

    def pending_notices(self, now: datetime, limit: int) -> Op[list[NoticeRecord]]:
        n = self.t.notices
        query = (
            select(n)
            .where(n.c.next_attempt_at <= now)
            .order_by(n.c.next_attempt_at, n.c.id)
            .limit(limit)
        )
        return self._all("pending_notices", query, {}, rows.notice_from)

    def clear_factors(self, user_id: str) -> Op[None]:
        t, co = self.t, self.t.contacts

        def run(conn: Connection) -> None:
            conn.execute(delete(t.totp).where(t.totp.c.user_id == user_id))
            conn.execute(delete(t.credentials).where(t.credentials.c.user_id == user_id))
            conn.execute(self.s.delete_backup_codes, {"p_user": user_id})
            conn.execute(update(co).where(co.c.user_id == user_id).values(verified_at=None))

        return Op("clear_factors", TX, run)

    # --- passkeys and security keys (WebAuthn) ------------------------------------
    def _with_credentials(self, conn: Connection, snapshot: UserSnapshot) -> UserSnapshot:
        """The snapshot with the user's credentials, read only when the snapshot
        query counted some (users without passkeys pay no second round trip)."""
        if not snapshot.webauthn:
            return snapshot
        # A pre-compiled statement: load_user runs on the raw driver connection.
        names = self.s.credential_columns
        found = [
            rows.credential_from(dict(zip(names, row, strict=True)))
            for row in self.s.hot_list_credentials.rows(conn, {"p_user": snapshot.user_id})
        ]
        return replace(snapshot, webauthn=tuple(found))

    def _list_credentials(self, user_id: str) -> Select[Any]:
        t = self.t.credentials
        return select(t).where(t.c.user_id == user_id).order_by(t.c.created_at, t.c.id)

    def insert_credential(self, record: WebAuthnCredentialRecord, *, limit: int) -> Op[bool]:
        t = self.t.credentials
        values = rows.credential_values(record)
        values["version"] = 0

        def run(conn: Connection) -> bool:
            self._lock_user(conn, t, record.user_id)
            # The insert first (on SQLite it takes the write lock before any
            # read); a credential id anyone has, or a factor id or name the user
            # has, hits a unique key (on_duplicate: not stored).
            conn.execute(insert(t).values(values))
            count = conn.execute(select(func.count()).where(t.c.user_id == record.user_id))
            if count.scalar_one() > limit:
                raise Rollback(None)
            return True

        return Op("insert_credential", TX, run, on_duplicate=_not_stored)

    def update_credential(self, record: WebAuthnCredentialRecord) -> Op[bool]:
        t = self.t.credentials
        stmt = (
            update(t)
            .where(
                t.c.user_id == record.user_id, t.c.id == record.id, t.c.version == record.version
            )
            .values(
                sign_count=record.sign_count,
                backed_up=bool(record.backed_up),
                last_used_at=record.last_used_at,
                cloned=bool(record.cloned),
                version=record.version + 1,
            )
        )
        return self._applied("update_credential", stmt)

    def rename_credential(self, user_id: str, factor_id: str, name: str) -> Op[bool]:
        t = self.t.credentials
        stmt = update(t).where(t.c.user_id == user_id, t.c.id == factor_id).values(name=name)

        def run(conn: Connection) -> bool:
            return conn.execute(stmt).rowcount == 1

        # Another of the user's credentials with this name: the unique key refuses it.
        return Op("rename_credential", AUTO, run, on_duplicate=_not_stored)

    def delete_credential(self, user_id: str, factor_id: str) -> Op[bool]:
        t = self.t.credentials
        return self._applied(
            "delete_credential", delete(t).where(t.c.user_id == user_id, t.c.id == factor_id)
        )

    def set_user_handle(self, user_id: str, handle: bytes, *, now: datetime) -> Op[bool]:
        stmt = insert(self.t.handles).values(user_id=user_id, user_handle=handle, created_at=now)

        def run(conn: Connection) -> bool:
            conn.execute(stmt)
            return True

        # The user has one already, or (never, with 64 random bytes) another user has it.
        return Op("set_user_handle", AUTO, run, on_duplicate=_not_stored)

    def put_ceremony(self, record: CeremonyRecord) -> Op[None]:
        return self._upsert_op(
            "put_ceremony", self.t.ceremonies, rows.ceremony_values(record), ("id",)
        )

    def get_credential(self, credential_id: bytes) -> Op[WebAuthnCredentialRecord | None]:
        t = self.t.credentials
        stmt = select(t).where(t.c.credential_id == credential_id)
        return self._first("get_credential", stmt, {}, rows.credential_from)

    def list_credentials(self, user_id: str) -> Op[list[WebAuthnCredentialRecord]]:
        stmt = self._list_credentials(user_id)
        return self._all("list_credentials", stmt, {}, rows.credential_from)

    def get_user_handle(self, user_id: str) -> Op[bytes | None]:
        h = self.t.handles
        stmt = select(h.c.user_handle).where(h.c.user_id == user_id)

        def run(conn: Connection) -> bytes | None:
            found = conn.execute(stmt).scalar()
            return None if found is None else bytes(found)

        return Op("get_user_handle", READ, run)

    def user_for_handle(self, handle: bytes) -> Op[str | None]:
        h = self.t.handles
        stmt = select(h.c.user_id).where(h.c.user_handle == handle)

        def run(conn: Connection) -> str | None:
            found: str | None = conn.execute(stmt).scalar()
            return found

        return Op("user_for_handle", READ, run)

    def get_ceremony(self, ceremony_id: str) -> Op[CeremonyRecord | None]:
        c = self.t.ceremonies
        stmt = select(c).where(c.c.id == ceremony_id)
        return self._first("get_ceremony", stmt, {}, rows.ceremony_from)

    def take_ceremony(self, ceremony_id: str, *, now: datetime) -> Op[CeremonyRecord | None]:
        """One conditional `UPDATE ... WHERE used_at IS NULL RETURNING`: the
        database lets exactly one of concurrent takes match the row (PostgreSQL
        re-checks the condition on the committed row; SQLite has one writer)."""
        c = self.t.ceremonies
        take = update(c).where(c.c.id == ceremony_id, c.c.used_at.is_(None)).values(used_at=now)
        if self.sa_dialect.update_returning:
            stmt = take.returning(*c.columns)

            def run(conn: Connection) -> CeremonyRecord | None:
                row = conn.execute(stmt).first()
                if row is None:
                    return None
                return replace(rows.ceremony_from(row._mapping), used_at=None)

            return Op("take_ceremony", AUTO, run)
        read = select(c).where(c.c.id == ceremony_id)

        def run_tx(conn: Connection) -> CeremonyRecord | None:
            # Without RETURNING: the conditional update decides, then the row is read
            # in the same transaction.
            if conn.execute(take).rowcount != 1:
                return None
            row = conn.execute(read).one()
            return replace(rows.ceremony_from(row._mapping), used_at=None)

        return Op("take_ceremony", TX, run_tx)
