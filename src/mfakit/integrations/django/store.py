"""`DjangoStore`: mfakit's storage port on the Django ORM (and its audit log).

Theory of operation
-------------------
`DjangoStore.apply` runs a batch of writes (`mfakit.core.writes`)
in one `transaction.atomic()` block: a transaction of its own, or a
savepoint inside the caller's transaction when there is one. Every
conditional write is one `QuerySet.filter(<condition>).update(...)` (or
`.delete()`) whose row count says whether the condition held:

```text
use_backup_code   BackupCode.objects.filter(user_id=u, lookup=l, used_at=None)
                                     .update(used_at=now)              == 1
advance_totp      TotpFactor.objects.filter(user_id=u, factor_id=f,
                      confirmed_at__isnull=False)
                      .filter(Q(last_step=None) | Q(last_step__lt=step))
                                     .update(last_step=step, ...)      == 1
put_counter       Counter.objects.filter(key=k, version=v).update(..., version=v+1)
update_challenge  Challenge.objects.filter(id=c, version=v).update(..., version=v+1)
```

so the database decides who wins a race: under PostgreSQL's READ COMMITTED a
writer blocked on the same row re-evaluates the `WHERE` clause against the
committed row and matches nothing; SQLite runs one writer at a time (every
batch starts with a write statement, which takes the write lock before
anything is read). A false condition raises inside the atomic block, so the
whole batch rolls back and `apply` answers None.

Inserts rely on the unique keys: a duplicate challenge, device or event is an
`IntegrityError` (a [`StorageError`][mfakit.errors.StorageError]); a counter stored
for the first time (version 0) is an insert whose `IntegrityError` means
another writer got there first (a lost race: None). Either way the exception
leaves the atomic block, which rolls back; nothing runs on the broken
transaction in between, so no extra savepoint is needed.

`add_totp` is the one write a single statement cannot do (count the user's
live authenticators, insert under the limit): it serialises one user's
enrolments first, with a transaction-scoped advisory lock on PostgreSQL
(there may be no row yet to `SELECT ... FOR UPDATE`), `select_for_update`
on the user's rows elsewhere (MySQL also locks the index gap), nothing on
SQLite (one writer at a time).

Reads
-----
`load_user` and `load_challenge` are
ONE query each on PostgreSQL and SQLite: a `UNION ALL` of every table's rows
for the user laid onto shared typed slots (as the SQL store does, see
`mfakit.adapters.sql.snapshot`), written as SQL over the models' table
and column names. On other databases they fall back to one ORM query per
table (six or seven).

Errors: any `django.db.Error` becomes [`StorageError`][mfakit.errors.StorageError]
naming the operation and the exception's class, never its text (which may
quote parameters); the original is chained as `__cause__`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, ClassVar, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, Error, IntegrityError, connections, transaction
from django.db.models import Count, F, Q, QuerySet, Subquery
from django.db.models.functions import Substr
from django.utils.dateparse import parse_datetime

from ...adapters import rows, slots
from ...adapters.writes import WriteMethods
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
from . import models as m
from .signals import send_event

__all__ = ["DjangoStore"]

T = TypeVar("T")


class _Conflict(Exception):
    """A conditional write of a batch found its condition false."""


class _Duplicate(Exception):
    """An insert hit a unique key (the message says which kind of row)."""


def _require(matched: int) -> bool:
    if matched != 1:
        raise _Conflict
    return True


def _utc(value: Any) -> datetime | None:
    """A datetime column as aware UTC, from what the driver returned (SQLite
    gives naive UTC text or datetimes in raw queries)."""
    if value is None:
        return None
    when = value if isinstance(value, datetime) else parse_datetime(str(value))
    if when is None:  # pragma: no cover - Django wrote the column
        raise StorageError("DjangoStore: a stored datetime could not be read")
    if when.tzinfo is None:
        return when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc)


def _need(value: Any) -> datetime:
    when = _utc(value)
    assert when is not None
    return when


# --- passkeys: the SQL store's conversions, with the models' field names ------------


def _credential_values(r: WebAuthnCredentialRecord) -> dict[str, Any]:
    values = rows.credential_values(r)
    values["factor_id"] = values.pop("id")
    return values


def _credential(r: Mapping[str, Any]) -> WebAuthnCredentialRecord:
    values = dict(r)
    values["id"] = values.pop("factor_id")
    values["created_at"] = _need(values["created_at"])
    values["last_used_at"] = _utc(values["last_used_at"])
    return rows.credential_from(values)


def _ceremony(r: Mapping[str, Any]) -> CeremonyRecord:
    values = dict(r)
    for name in ("created_at", "expires_at", "used_at"):
        values[name] = _utc(values[name])
    return rows.ceremony_from(values)


# --- rows to records ------------------------------------------------------------------
# The SQL stores' converters (mfakit.adapters.rows), over the models' field
# names: three models name their record's id differently (their primary key
# ``id`` is Django's own, which the records never see).


def _renamed(
    convert: Callable[[Mapping[str, Any]], T], field: str
) -> Callable[[Mapping[str, Any]], T]:
    """`convert` for a model whose record id is the field `field`."""

    def read(row: Mapping[str, Any]) -> T:
        return convert({**row, "id": row[field]})

    return read


_totp = _renamed(rows.totp_from, "factor_id")
_device = _renamed(rows.device_from, "device_id")
_audit = _renamed(rows.audit_from, "event_id")
_notice = _renamed(rows.notice_from, "notice_id")


def _challenge_values(r: ChallengeRecord) -> dict[str, Any]:
    """A challenge's fields for `create` and `update` (`id` and
    `version` are the caller's)."""
    values = rows.challenge_values(r)
    del values["id"], values["version"]
    return values


# --- the one-query snapshot ---------------------------------------------------------------
# The layout of mfakit.adapters.slots, built as raw SQL over the models' tables.

_PG_TYPES = {
    **dict.fromkeys(slots.TEXT, "text"),
    "b0": "bytea",
    **dict.fromkeys(slots.INT, "bigint"),
    **dict.fromkeys(slots.TIME, "timestamptz"),
}
_FIELDS = {"TotpFactor": {"id": "factor_id"}}
"""The models' field for a slot layout's column where the names differ."""


def _slot_value(slot: str, value: Any) -> Any:
    """A raw query's value as the slot's Python type (SQLite gives datetimes as
    naive UTC text, PostgreSQL bytes as memoryview)."""
    if value is None or slot[0] == "s":
        return value
    if slot[0] == "t":
        return _utc(value)
    if slot[0] == "i":
        return int(value)
    return bytes(value)


def _snapshot_from(
    user_id: str | None, result: Iterable[Sequence[Any]]
) -> tuple[ChallengeRecord | None, UserSnapshot | None]:
    return slots.snapshot_from(
        user_id,
        (
            (values[0], *(_slot_value(s, v) for s, v in zip(slots.SLOTS, values[1:], strict=True)))
            for values in result
        ),
    )


class _SnapshotSql:
    """The `UNION ALL` snapshot queries for one database vendor, over the
    models' (quoted) table and column names."""

    def __init__(self, vendor: str, quote: Callable[[str], str]) -> None:
        self.vendor = vendor
        self.q = quote

    def _table(self, model: Any) -> str:
        return str(self.q(model._meta.db_table))

    def _col(self, model: Any, field: str) -> str:
        return str(self.q(model._meta.get_field(field).column))

    def _slot(self, slot: str, expr: str | None) -> str:
        if self.vendor == "postgresql":
            return f"CAST({expr or 'NULL'} AS {_PG_TYPES[slot]})"
        return expr or "NULL"

    def _branch(self, tag: str, model: Any, columns: Mapping[str, str], where: str) -> str:
        out = [f"'{tag}'"]
        for slot in slots.SLOTS:
            expr = columns.get(slot)
            out.append(self._slot(slot, expr))
        # Only quoted model identifiers and %s placeholders are formatted in.
        return f"SELECT {', '.join(out)} FROM {self._table(model)} WHERE {where}"  # noqa: S608

    def _model_branch(self, tag: str, model: Any, layout: Mapping[str, str], where: str) -> str:
        fields = _FIELDS.get(model.__name__, {})
        columns = {slot: self._col(model, fields.get(name, name)) for name, slot in layout.items()}
        if tag == "h":
            # An integer slot; also hides the column's declared type "bool" from
            # SQLite, whose converter would otherwise apply to the whole column.
            columns["i1"] = f"CAST({columns['i1']} AS integer)"
        return self._branch(tag, model, columns, where)

    def branches(self, user: str, counter_keys: str | None) -> list[str]:
        c = self._col
        used = f"{c(m.BackupCode, 'used_at')} IS NULL"
        out = [
            self._model_branch(
                "t", m.TotpFactor, slots.TOTP, f"{c(m.TotpFactor, 'user_id')} = {user}"
            ),
            self._model_branch(
                "c", m.Contact, slots.CONTACT, f"{c(m.Contact, 'user_id')} = {user}"
            ),
            self._model_branch(
                "q",
                m.SecurityQuestion,
                slots.QUESTION,
                f"{c(m.SecurityQuestion, 'user_id')} = {user}",
            ),
            self._model_branch(
                "s", m.UserState, slots.STATE, f"{c(m.UserState, 'user_id')} = {user}"
            ),
            self._branch(
                "b",
                m.BackupCode,
                {"i0": "COUNT(*)"},
                f"{c(m.BackupCode, 'user_id')} = {user} AND {used}",
            ),
            # Only how many passkeys: their rows are read after, when there are some.
            self._branch(
                "w",
                m.WebAuthnCredential,
                {"i0": "COUNT(*)"},
                f"{c(m.WebAuthnCredential, 'user_id')} = {user}",
            ),
        ]
        if counter_keys is not None:
            where = f"{c(m.Counter, 'key')} IN ({counter_keys})"
            out.append(self._model_branch("k", m.Counter, slots.COUNTER, where))
        return out

    def user(self, n_counters: int) -> str:
        keys = ", ".join(["%s"] * n_counters) if n_counters else None
        return " UNION ALL ".join(self.branches("%s", keys))

    def challenge(self, prefixes: int) -> str:
        c = self._col
        user = (
            f"(SELECT {c(m.Challenge, 'user_id')} FROM {self._table(m.Challenge)} "  # noqa: S608
            f"WHERE {c(m.Challenge, 'id')} = %s)"
        )
        keys = ", ".join([f"%s || {user}"] * prefixes) if prefixes else None
        head = self._model_branch("h", m.Challenge, slots.CHALLENGE, f"{c(m.Challenge, 'id')} = %s")
        return " UNION ALL ".join([head, *self.branches(user, keys)])


# --- the store ----------------------------------------------------------------------------


class DjangoStore(WriteMethods):
    """Implements [`mfakit.ports.storage.Store`][mfakit.ports.storage.Store] and
    [`mfakit.ports.audit.AuditLog`][mfakit.ports.audit.AuditLog] on the models of
    `mfakit.integrations.django` (run `manage.py migrate` first).

    `using` names the database alias (default `"default"`). Thread-safe:
    Django gives each thread its own connection. Use it inside your own
    `transaction.atomic()` blocks freely: each batch is then a savepoint.
    """

    #: Whether load_user/load_challenge may use the one-query UNION ALL (a
    #: test turns it off to run the per-table fallback on SQLite).
    one_query_vendors: ClassVar[frozenset[str]] = frozenset({"postgresql", "sqlite"})

    def __init__(self, using: str = DEFAULT_DB_ALIAS) -> None:
        if not isinstance(using, str) or using not in settings.DATABASES:
            raise ConfigurationError("DjangoStore: using must name a database in DATABASES")
        if not settings.USE_TZ:
            raise ConfigurationError(
                "DjangoStore needs USE_TZ = True: mfakit stores timezone-aware datetimes"
            )
        self.using = using
        self._sql: dict[str, _SnapshotSql] = {}

    def __repr__(self) -> str:
        return f"DjangoStore(using={self.using!r})"

    # --- plumbing ------------------------------------------------------------------
    def _fail(self, operation: str, exc: BaseException) -> StorageError:
        return StorageError(f"DjangoStore.{operation} failed: {type(exc).__name__}")

    def _read(self, operation: str, run: Callable[[], T]) -> T:
        try:
            return run()
        except Error as exc:
            raise self._fail(operation, exc) from exc

    def _objects(self, model: type[Any]) -> QuerySet[Any]:
        manager: Any = model._default_manager
        qs: QuerySet[Any] = manager.using(self.using)
        return qs

    def _snapshot_sql(self) -> _SnapshotSql | None:
        connection = connections[self.using]
        if connection.vendor not in self.one_query_vendors:
            return None
        sql = self._sql.get(connection.vendor)
        if sql is None:
            sql = self._sql[connection.vendor] = _SnapshotSql(
                connection.vendor, connection.ops.quote_name
            )
        return sql

    # --- the unit of work ---------------------------------------------------------
    def apply(self, writes: Sequence[w.Write]) -> list[object] | None:
        steps = []
        for write in writes:
            step = self._APPLY.get(type(write))
            if step is None:
                raise StorageError("DjangoStore.apply: not a storage write")
            steps.append((step, write))
        if not steps:
            return []
        results: list[object] = []
        try:
            with transaction.atomic(using=self.using):
                for step, write in steps:
                    results.append(step(self, write))
        except _Conflict:
            return None
        except _Duplicate as exc:
            raise StorageError(str(exc)) from exc.__cause__
        except Error as exc:
            raise self._fail("apply", exc) from exc
        return results

    def _insert(self, model: type[Any], duplicate: str, **values: Any) -> None:
        try:
            self._objects(model).create(**values)
        except IntegrityError as exc:
            raise _Duplicate(duplicate) from exc

    def _lock_user(self, user_id: str) -> None:
        """Serialise one user's enrolments until the transaction ends (see
        the module docstring)."""
        connection = connections[self.using]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                key = f"{m.TotpFactor._meta.db_table}:{user_id}"
                cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])
        elif connection.vendor != "sqlite":
            list(
                self._objects(m.TotpFactor)
                .select_for_update()
                .filter(user_id=user_id)
                .values_list("pk", flat=True)
            )

    def _add_totp(self, x: w.AddTotp) -> object:
        r = x.record
        self._lock_user(r.user_id)
        mine = self._objects(m.TotpFactor).filter(user_id=r.user_id)
        # Drop the user's expired pending setups; what is left is all live.
        mine.filter(confirmed_at=None).filter(
            Q(expires_at=None) | Q(expires_at__lte=x.now)
        ).delete()
        live = list(mine.values_list("factor_id", flat=True))
        if len(live) >= x.limit or r.id in live:
            raise _Conflict
        self._objects(m.TotpFactor).create(
            user_id=r.user_id,
            factor_id=r.id,
            label=r.label,
            secret_key_id=r.secret_key_id,
            secret_blob=r.secret_blob,
            algorithm=r.algorithm,
            digits=r.digits,
            period=r.period,
            created_at=r.created_at,
            expires_at=r.expires_at,
            confirmed_at=r.confirmed_at,
            last_step=r.last_step,
            last_used_at=r.last_used_at,
        )
        return True

    def _factor(self, user_id: str, factor_id: str) -> QuerySet[Any]:
        qs: QuerySet[Any] = self._objects(m.TotpFactor).filter(user_id=user_id, factor_id=factor_id)
        return qs

    def _confirm_totp(self, x: w.ConfirmTotp) -> object:
        return _require(
            self._factor(x.user_id, x.factor_id)
            .filter(confirmed_at=None, expires_at__gt=x.now)
            .update(confirmed_at=x.now, expires_at=None, last_step=x.step, last_used_at=x.now)
        )

    def _advance_totp(self, x: w.AdvanceTotp) -> object:
        return _require(
            self._factor(x.user_id, x.factor_id)
            .filter(Q(confirmed_at__isnull=False), Q(last_step=None) | Q(last_step__lt=x.step))
            .update(last_step=x.step, last_used_at=x.now)
        )

    def _rename_totp(self, x: w.RenameTotp) -> object:
        return _require(
            self._factor(x.user_id, x.factor_id)
            .filter(confirmed_at__isnull=False)
            .update(label=x.label)
        )

    def _reseal_totp(self, x: w.ResealTotp) -> object:
        return _require(
            self._factor(x.user_id, x.factor_id)
            .filter(secret_key_id=x.old_key_id, secret_blob=x.old_blob)
            .update(secret_key_id=x.key_id, secret_blob=x.blob)
        )

    def _delete_totp(self, x: w.DeleteTotp) -> object:
        return _require(self._factor(x.user_id, x.factor_id).delete()[0])

    def _replace_backup_codes(self, x: w.ReplaceBackupCodes) -> object:
        self._objects(m.BackupCode).filter(user_id=x.user_id).delete()
        if x.codes:
            self._objects(m.BackupCode).bulk_create(
                [
                    m.BackupCode(
                        user_id=x.user_id,
                        lookup=c.lookup,
                        hash=c.hash,
                        created_at=c.created_at,
                        used_at=c.used_at,
                    )
                    for c in x.codes
                ]
            )
        return None

    def _use_backup_code(self, x: w.UseBackupCode) -> object:
        return _require(
            self._objects(m.BackupCode)
            .filter(user_id=x.user_id, lookup=x.lookup, used_at=None)
            .update(used_at=x.now)
        )

    def _put_counter(self, x: w.PutCounter) -> object:
        c = x.counter
        values = {
            "count": c.count,
            "window_start": c.window_start,
            "updated_at": c.updated_at,
            "version": c.version + 1,
        }
        if c.version != 0:
            counters = self._objects(m.Counter).filter(key=c.key, version=c.version)
            return _require(counters.update(**values))
        # Not stored yet: insert; the key taken means another writer won.
        try:
            self._objects(m.Counter).create(key=c.key, **values)
        except IntegrityError as exc:
            raise _Conflict from exc
        return True

    def _expect_counter(self, x: w.ExpectCounter) -> object:
        found = self._objects(m.Counter).filter(key=x.key).values_list("version", flat=True)
        return _require(int((next(iter(found), None) or 0) == x.version))

    def _insert_challenge(self, x: w.InsertChallenge) -> object:
        values = _challenge_values(x.record)
        self._insert(
            m.Challenge,
            "a challenge with this id already exists",
            id=x.record.id,
            version=0,
            **values,
        )
        return None

    def _update_challenge(self, x: w.UpdateChallenge) -> object:
        r = x.record
        return _require(
            self._objects(m.Challenge)
            .filter(id=r.id, version=r.version)
            .update(version=r.version + 1, **_challenge_values(r))
        )

    def _put_contact(self, x: w.PutContact) -> object:
        r = x.record
        row = m.Contact(
            user_id=r.user_id,
            kind=ContactKind(r.kind).value,
            value=r.value,
            created_at=r.created_at,
            verified_at=r.verified_at,
        )
        # One INSERT ... ON CONFLICT DO UPDATE (PostgreSQL, SQLite, MySQL).
        self._objects(m.Contact).bulk_create(
            [row],
            update_conflicts=True,
            unique_fields=["user_id", "kind"],
            update_fields=["value", "created_at", "verified_at"],
        )
        return None

    def _delete_contact(self, x: w.DeleteContact) -> object:
        contacts = self._objects(m.Contact).filter(
            user_id=x.user_id, kind=ContactKind(x.kind).value
        )
        return _require(contacts.delete()[0])

    def _replace_answer_hash(self, x: w.ReplaceAnswerHash) -> object:
        return _require(
            self._objects(m.SecurityQuestion)
            .filter(user_id=x.user_id, answer_hash=x.old_hash)
            .update(answer_hash=x.new_hash)
        )

    def _put_question(self, x: w.PutQuestion) -> object:
        r = x.record
        row = m.SecurityQuestion(
            user_id=r.user_id,
            question=r.question,
            answer_hash=r.answer_hash,
            created_at=r.created_at,
        )
        self._objects(m.SecurityQuestion).bulk_create(
            [row],
            update_conflicts=True,
            unique_fields=["user_id"],
            update_fields=["question", "answer_hash", "created_at"],
        )
        return None

    def _insert_device(self, x: w.InsertDevice) -> object:
        r = x.record
        self._insert(
            m.TrustedDevice,
            "a device with this id already exists",
            user_id=r.user_id,
            device_id=r.id,
            label=r.label,
            created_at=r.created_at,
            expires_at=r.expires_at,
            security_version=r.security_version,
            last_used_at=r.last_used_at,
            revoked_at=r.revoked_at,
        )
        return None

    def _live_devices(self, user_id: str) -> QuerySet[Any]:
        qs: QuerySet[Any] = self._objects(m.TrustedDevice).filter(user_id=user_id, revoked_at=None)
        return qs

    def _touch_device(self, x: w.TouchDevice) -> object:
        devices = self._live_devices(x.user_id).filter(device_id=x.device_id)
        return _require(devices.update(last_used_at=x.now))

    def _revoke_device(self, x: w.RevokeDevice) -> object:
        devices = self._live_devices(x.user_id).filter(device_id=x.device_id)
        return _require(devices.update(revoked_at=x.now))

    def _revoke_devices(self, x: w.RevokeDevices) -> object:
        return int(self._live_devices(x.user_id).update(revoked_at=x.now))

    def _ensure_state(self, user_id: str) -> None:
        # INSERT ... ON CONFLICT DO NOTHING: concurrent first writers both pass.
        self._objects(m.UserState).bulk_create(
            [m.UserState(user_id=user_id, security_version=0)], ignore_conflicts=True
        )

    def _bump_security_version(self, x: w.BumpSecurityVersion) -> object:
        self._ensure_state(x.user_id)
        states = self._objects(m.UserState).filter(user_id=x.user_id)
        states.update(security_version=F("security_version") + 1, updated_at=x.now)
        return int(states.values_list("security_version", flat=True).get())

    def _set_preferred_method(self, x: w.SetPreferredMethod) -> object:
        method = None if x.method is None else Method(x.method).value
        row = m.UserState(
            user_id=x.user_id, security_version=0, preferred_method=method, updated_at=x.now
        )
        self._objects(m.UserState).bulk_create(
            [row],
            update_conflicts=True,
            unique_fields=["user_id"],
            update_fields=["preferred_method", "updated_at"],
        )
        return None

    def _set_locale(self, x: w.SetLocale) -> object:
        row = m.UserState(user_id=x.user_id, security_version=0, locale=x.locale, updated_at=x.now)
        self._objects(m.UserState).bulk_create(
            [row],
            update_conflicts=True,
            unique_fields=["user_id"],
            update_fields=["locale", "updated_at"],
        )
        return None

    def _clear_factors(self, x: w.ClearFactors) -> object:
        self._objects(m.TotpFactor).filter(user_id=x.user_id).delete()
        self._credentials(x.user_id).delete()
        self._objects(m.BackupCode).filter(user_id=x.user_id).delete()
        self._objects(m.Contact).filter(user_id=x.user_id).update(verified_at=None)
        return None

    def _require_no_factor(self, x: w.RequireNoFactor) -> object:
        if connections[self.using].vendor == "sqlite":
            # A write first takes SQLite's write lock before the reads below,
            # so two first enrolments cannot both read "no factor".
            self._ensure_state(x.user_id)
        else:
            self._lock_user(x.user_id)
        totps = self._objects(m.TotpFactor).filter(user_id=x.user_id, confirmed_at__isnull=False)
        contacts = self._objects(m.Contact).filter(user_id=x.user_id, verified_at__isnull=False)
        if totps.exists() or contacts.exists() or self._credentials(x.user_id).exists():
            raise _Conflict
        return True

    def _credentials(self, user_id: str) -> QuerySet[Any]:
        qs: QuerySet[Any] = self._objects(m.WebAuthnCredential).filter(user_id=user_id)
        return qs

    def _insert_credential(self, x: w.InsertCredential) -> object:
        r = x.record
        self._lock_user(r.user_id)
        values = _credential_values(r)
        values["version"] = 0
        try:
            # The write first (SQLite's write lock before any read); a credential
            # id anyone has, or a name or factor id the user has, hits a unique key.
            self._objects(m.WebAuthnCredential).create(**values)
        except IntegrityError as exc:
            raise _Conflict from exc
        if self._credentials(r.user_id).count() > x.limit:
            raise _Conflict
        return True

    def _update_credential(self, x: w.UpdateCredential) -> object:
        r = x.record
        return _require(
            self._credentials(r.user_id)
            .filter(factor_id=r.id, version=r.version)
            .update(
                sign_count=r.sign_count,
                backed_up=bool(r.backed_up),
                last_used_at=r.last_used_at,
                cloned=bool(r.cloned),
                version=r.version + 1,
            )
        )

    def _rename_credential(self, x: w.RenameCredential) -> object:
        try:
            # Another of the user's credentials with this name hits the unique key.
            renamed = self._credentials(x.user_id).filter(factor_id=x.factor_id).update(name=x.name)
        except IntegrityError as exc:
            raise _Conflict from exc
        return _require(renamed)

    def _delete_credential(self, x: w.DeleteCredential) -> object:
        return _require(self._credentials(x.user_id).filter(factor_id=x.factor_id).delete()[0])

    def _set_user_handle(self, x: w.SetUserHandle) -> object:
        try:
            self._objects(m.WebAuthnUser).create(
                user_id=x.user_id, user_handle=x.handle, created_at=x.now
            )
        except IntegrityError as exc:  # the user has one already
            raise _Conflict from exc
        return True

    def _put_ceremony(self, x: w.PutCeremony) -> object:
        values = rows.ceremony_values(x.record)
        row = m.WebAuthnCeremony(**values)
        self._objects(m.WebAuthnCeremony).bulk_create(
            [row],
            update_conflicts=True,
            unique_fields=["id"],
            update_fields=[k for k in values if k != "id"],
        )
        return None

    def _queue_notice(self, x: w.QueueNotice) -> object:
        r = x.record
        self._insert(
            m.Notice,
            "a notice with this id already exists",
            notice_id=r.id,
            user_id=r.user_id,
            kind=r.kind,
            channel=r.channel.value,
            destination=r.destination,
            detail=r.detail,
            locale=r.locale,
            created_at=r.created_at,
            attempts=r.attempts,
            next_attempt_at=r.next_attempt_at,
        )
        return None

    def _claim_notice(self, x: w.ClaimNotice) -> object:
        notices = self._objects(m.Notice).filter(notice_id=x.notice_id, attempts=x.attempts)
        return _require(notices.update(attempts=x.attempts + 1, next_attempt_at=x.retry_at))

    def _delete_notice(self, x: w.DeleteNotice) -> object:
        self._objects(m.Notice).filter(notice_id=x.notice_id).delete()
        return None

    def _record_audit(self, x: w.RecordAudit) -> object:
        r = x.record
        values = rows.audit_values(r)
        values["event_id"] = values.pop("id")
        self._insert(m.AuditEvent, "an event with this id exists", **values)
        # The Django signal goes out once the event is committed, never for
        # one that is rolled back with the caller's transaction.
        transaction.on_commit(functools.partial(send_event, self, r), using=self.using)
        return None

    _APPLY: ClassVar[dict[type, Callable[[DjangoStore, Any], object]]] = {
        w.AddTotp: _add_totp,
        w.ConfirmTotp: _confirm_totp,
        w.AdvanceTotp: _advance_totp,
        w.RenameTotp: _rename_totp,
        w.ResealTotp: _reseal_totp,
        w.DeleteTotp: _delete_totp,
        w.ReplaceBackupCodes: _replace_backup_codes,
        w.UseBackupCode: _use_backup_code,
        w.PutCounter: _put_counter,
        w.ExpectCounter: _expect_counter,
        w.InsertChallenge: _insert_challenge,
        w.UpdateChallenge: _update_challenge,
        w.PutContact: _put_contact,
        w.DeleteContact: _delete_contact,
        w.PutQuestion: _put_question,
        w.ReplaceAnswerHash: _replace_answer_hash,
        w.InsertDevice: _insert_device,
        w.TouchDevice: _touch_device,
        w.RevokeDevice: _revoke_device,
        w.RevokeDevices: _revoke_devices,
        w.BumpSecurityVersion: _bump_security_version,
        w.SetPreferredMethod: _set_preferred_method,
        w.SetLocale: _set_locale,
        w.ClearFactors: _clear_factors,
        w.RequireNoFactor: _require_no_factor,
        w.QueueNotice: _queue_notice,
        w.ClaimNotice: _claim_notice,
        w.DeleteNotice: _delete_notice,
        w.InsertCredential: _insert_credential,
        w.UpdateCredential: _update_credential,
        w.RenameCredential: _rename_credential,
        w.DeleteCredential: _delete_credential,
        w.SetUserHandle: _set_user_handle,
        w.PutCeremony: _put_ceremony,
        w.RecordAudit: _record_audit,
    }

    # --- one-read snapshots ----------------------------------------------------------
    def load_user(self, user_id: str, *, counters: Sequence[str] = ()) -> UserSnapshot:
        def run() -> UserSnapshot:
            sql = self._snapshot_sql()
            if sql is None:
                return self._load_user_per_table(user_id, counters)
            keys = [p + user_id for p in counters]
            params: list[Any] = [user_id] * 6 + keys
            with connections[self.using].cursor() as cursor:
                cursor.execute(sql.user(len(keys)), params)
                snapshot = _snapshot_from(user_id, cursor.fetchall())[1]
            assert snapshot is not None
            return self._with_credentials(snapshot)

        return self._read("load_user", run)

    def load_challenge(
        self, challenge_id: str, *, counters: Sequence[str] = ()
    ) -> tuple[ChallengeRecord, UserSnapshot] | None:
        def run() -> tuple[ChallengeRecord, UserSnapshot] | None:
            sql = self._snapshot_sql()
            if sql is None:
                challenge = self.get_challenge(challenge_id)
                if challenge is None:
                    return None
                return challenge, self._load_user_per_table(challenge.user_id, counters)
            prefixes = list(counters)
            # The challenge's id: once for its row, once per user lookup in the
            # six per-user branches, then a prefix and the id per counter key.
            params: list[Any] = [challenge_id] * 7
            for prefix in prefixes:
                params += [prefix, challenge_id]
            with connections[self.using].cursor() as cursor:
                cursor.execute(sql.challenge(len(prefixes)), params)
                challenge, snapshot = _snapshot_from(None, cursor.fetchall())
            if challenge is None or snapshot is None:
                return None
            return challenge, self._with_credentials(snapshot)

        return self._read("load_challenge", run)

    def _with_credentials(self, snapshot: UserSnapshot) -> UserSnapshot:
        """The snapshot with the user's credentials, read only when the snapshot
        query counted some (users without passkeys pay no second query)."""
        if not snapshot.webauthn:
            return snapshot
        found = self._credentials(snapshot.user_id).order_by("created_at", "factor_id").values()
        return replace(snapshot, webauthn=tuple(_credential(row) for row in found))

    def _load_user_per_table(self, user_id: str, counters: Sequence[str]) -> UserSnapshot:
        o = self._objects
        keys = [p + user_id for p in counters]
        found = {}
        if keys:
            for row in o(m.Counter).filter(key__in=keys).values():
                counter = rows.counter_from(row)
                found[counter.key] = counter
        question = o(m.SecurityQuestion).filter(user_id=user_id).values().first()
        state = o(m.UserState).filter(user_id=user_id).values().first()
        return UserSnapshot(
            user_id=user_id,
            totps=tuple(self.list_totp(user_id)),
            contacts=tuple(self.get_contacts(user_id)),
            backup_codes_left=self.count_backup_codes(user_id),
            question=None if question is None else rows.question_from(question),
            state=None if state is None else rows.user_state_from(state),
            counters=found,
            webauthn=tuple(self.list_credentials(user_id)),
        )

    # --- retention ------------------------------------------------------------------------
    def purge(
        self,
        *,
        before: datetime,
        keep_nonzero: Sequence[str] = (),
        limit: int,
        audit_before: datetime | None = None,
    ) -> int:
        counters = Q(updated_at__lt=before)
        kept = [Q(key__startswith=p) for p in keep_nonzero]
        if kept:
            any_kept = kept[0]
            for q in kept[1:]:
                any_kept |= q
            counters &= Q(count=0) | ~any_kept
        stale: list[tuple[type[Any], Q]] = [
            (m.Challenge, Q(expires_at__lt=before)),
            (m.Counter, counters),
            (m.TrustedDevice, Q(revoked_at__lt=before) | Q(expires_at__lt=before)),
            (m.BackupCode, Q(used_at__lt=before)),
            (m.TotpFactor, Q(confirmed_at=None, expires_at__lt=before)),
            (m.Notice, Q(created_at__lt=before)),
            (m.WebAuthnCeremony, Q(expires_at__lt=before)),
        ]

        def run() -> int:
            gone = 0
            with transaction.atomic(using=self.using):
                for model, where in stale:
                    # At most `limit` rows, chosen by a bounded sub-select on the key.
                    chosen = self._objects(model).filter(where).values("pk")[:limit]
                    gone += self._objects(model).filter(pk__in=Subquery(chosen)).delete()[0]
                if audit_before is not None:
                    # The oldest events among the first `limit` by sequence (as SqlStore).
                    first = self._objects(m.AuditEvent).order_by("seq").values("seq")[:limit]
                    events = self._objects(m.AuditEvent).filter(
                        seq__in=Subquery(first), at__lt=audit_before
                    )
                    gone += events.delete()[0]
            return gone

        return self._read("purge", run)

    # --- the notice outbox -------------------------------------------------------------
    def pending_notices(self, *, now: datetime, limit: int) -> list[NoticeRecord]:
        qs = (
            self._objects(m.Notice)
            .filter(next_attempt_at__lte=now)
            .order_by("next_attempt_at", "notice_id")[:limit]
        )
        return self._all("pending_notices", qs, _notice)

    # --- key rotation ---------------------------------------------------------------------
    def totps_to_reseal(
        self, *, key_id: str, after: tuple[str, str] | None, limit: int
    ) -> list[TotpRecord]:
        qs = self._objects(m.TotpFactor).exclude(secret_key_id=key_id)
        if after is not None:
            user, factor = after
            qs = qs.filter(Q(user_id__gt=user) | Q(user_id=user, factor_id__gt=factor))
        return self._all("totps_to_reseal", qs.order_by("user_id", "factor_id")[:limit], _totp)

    def key_usage(self, *, now: datetime) -> list[KeyUse]:
        def run() -> list[KeyUse]:
            counts: dict[str, dict[str, int]] = {}
            start = len(KEYED_ANSWER_PREFIX) + 1
            grouped = {
                "authenticators": self._objects(m.TotpFactor)
                .values_list("secret_key_id")
                .annotate(n=Count("pk"))
                .order_by(),
                "security_answers": self._objects(m.SecurityQuestion)
                .filter(answer_hash__startswith=KEYED_ANSWER_PREFIX)
                .annotate(kid=Substr("answer_hash", start, KEY_ID_LENGTH))
                .values_list("kid")
                .annotate(n=Count("pk"))
                .order_by(),
                "open_challenges": self._objects(m.Challenge)
                .filter(
                    code_key_id__isnull=False,
                    code_hash__isnull=False,
                    expires_at__gt=now,
                    state__in=[str(state) for state in OPEN_STATES],
                )
                .values_list("code_key_id")
                .annotate(n=Count("pk"))
                .order_by(),
            }
            for kind, qs in grouped.items():
                for key_id, n in qs:
                    counts.setdefault(key_id, {})[kind] = int(n)
            return [KeyUse(key_id=k, **counts[k]) for k in sorted(counts)]

        return self._read("key_usage", run)

    # --- reads ------------------------------------------------------------------------
    def _first(
        self, operation: str, qs: QuerySet[Any], convert: Callable[[Mapping[str, Any]], T]
    ) -> T | None:
        def run() -> T | None:
            row = qs.values().first()
            return None if row is None else convert(row)

        return self._read(operation, run)

    def _all(
        self, operation: str, qs: QuerySet[Any], convert: Callable[[Mapping[str, Any]], T]
    ) -> list[T]:
        return self._read(operation, lambda: [convert(row) for row in qs.values()])

    def get_totp(self, user_id: str, factor_id: str) -> TotpRecord | None:
        return self._first("get_totp", self._factor(user_id, factor_id), _totp)

    def list_totp(self, user_id: str) -> list[TotpRecord]:
        qs = self._objects(m.TotpFactor).filter(user_id=user_id).order_by("created_at", "factor_id")
        return self._all("list_totp", qs, _totp)

    def get_backup_code(self, user_id: str, lookup: str) -> BackupCodeRecord | None:
        qs = self._objects(m.BackupCode).filter(user_id=user_id, lookup=lookup, used_at=None)
        return self._first("get_backup_code", qs, rows.backup_from)

    def count_backup_codes(self, user_id: str) -> int:
        qs = self._objects(m.BackupCode).filter(user_id=user_id, used_at=None)
        return int(self._read("count_backup_codes", qs.count))

    def get_counter(self, key: str) -> Counter | None:
        return self._first(
            "get_counter", self._objects(m.Counter).filter(key=key), rows.counter_from
        )

    def get_challenge(self, challenge_id: str) -> ChallengeRecord | None:
        qs = self._objects(m.Challenge).filter(id=challenge_id)
        return self._first("get_challenge", qs, rows.challenge_from)

    def challenge_for_message(self, message_id: str) -> ChallengeRecord | None:
        qs = self._objects(m.Challenge).filter(message_id=message_id).order_by("-created_at")
        return self._first("challenge_for_message", qs, rows.challenge_from)

    def get_contacts(self, user_id: str) -> list[ContactRecord]:
        qs = self._objects(m.Contact).filter(user_id=user_id).order_by("kind")
        return self._all("get_contacts", qs, rows.contact_from)

    def get_question(self, user_id: str) -> QuestionRecord | None:
        qs = self._objects(m.SecurityQuestion).filter(user_id=user_id)
        return self._first("get_question", qs, rows.question_from)

    def get_device(self, user_id: str, device_id: str) -> DeviceRecord | None:
        qs = self._objects(m.TrustedDevice).filter(user_id=user_id, device_id=device_id)
        return self._first("get_device", qs, _device)

    def list_devices(self, user_id: str) -> list[DeviceRecord]:
        qs = (
            self._objects(m.TrustedDevice)
            .filter(user_id=user_id)
            .order_by("-created_at", "device_id")
        )
        return self._all("list_devices", qs, _device)

    def get_user_state(self, user_id: str) -> UserState | None:
        qs = self._objects(m.UserState).filter(user_id=user_id)
        return self._first("get_user_state", qs, rows.user_state_from)

    # --- passkeys and security keys (WebAuthn) -------------------------------------
    def get_credential(self, credential_id: bytes) -> WebAuthnCredentialRecord | None:
        qs = self._objects(m.WebAuthnCredential).filter(credential_id=credential_id)
        return self._first("get_credential", qs, _credential)

    def list_credentials(self, user_id: str) -> list[WebAuthnCredentialRecord]:
        qs = self._credentials(user_id).order_by("created_at", "factor_id")
        return self._all("list_credentials", qs, _credential)

    def get_user_handle(self, user_id: str) -> bytes | None:
        qs = self._objects(m.WebAuthnUser).filter(user_id=user_id)
        return self._first("get_user_handle", qs, lambda r: bytes(r["user_handle"]))

    def user_for_handle(self, handle: bytes) -> str | None:
        qs = self._objects(m.WebAuthnUser).filter(user_handle=handle)
        return self._first("user_for_handle", qs, lambda r: str(r["user_id"]))

    def get_ceremony(self, ceremony_id: str) -> CeremonyRecord | None:
        qs = self._objects(m.WebAuthnCeremony).filter(id=ceremony_id)
        return self._first("get_ceremony", qs, _ceremony)

    def take_ceremony(self, ceremony_id: str, *, now: datetime) -> CeremonyRecord | None:
        """The conditional `UPDATE ... WHERE used_at IS NULL` decides which of
        concurrent takes wins; the winner reads the row in the same transaction."""

        def run() -> CeremonyRecord | None:
            with transaction.atomic(using=self.using):
                pending = self._objects(m.WebAuthnCeremony).filter(id=ceremony_id, used_at=None)
                if pending.update(used_at=now) != 1:
                    return None
                row = self._objects(m.WebAuthnCeremony).filter(id=ceremony_id).values().get()
            return replace(_ceremony(row), used_at=None)

        return self._read("take_ceremony", run)

    # --- the audit log ------------------------------------------------------------------
    def record(self, event: AuditRecord) -> None:
        """Store one audit event (outside any batch)."""
        self.apply([w.RecordAudit(event)])

    def list_events(
        self, subject_id: str, *, limit: int = 50, before: str | None = None
    ) -> list[AuditRecord]:
        """The subject's events, newest first; `before` (an event id) pages."""
        qs = self._objects(m.AuditEvent).filter(subject_id=subject_id)
        if before is not None:
            cursor = self._objects(m.AuditEvent).filter(event_id=before).values("seq")[:1]
            qs = qs.filter(seq__lt=Subquery(cursor))
        return self._all("list_events", qs.order_by("-seq")[:limit], _audit)
