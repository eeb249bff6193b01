"""In-memory storage: for tests, prototypes and single-process apps.

Thread-safe: one lock guards every operation, so each compare-and-set, and
each unit of work (`MemoryStore.apply`), is atomic across threads: a
batch is applied under the lock with an undo log, and undone whole when one
of its conditions fails. State lives in this process only; apps with several
server processes need the SQL adapter.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, MutableMapping, Sequence
from dataclasses import replace
from datetime import datetime
from operator import attrgetter
from typing import Any, ClassVar, TypeVar

from ..core import writes as w
from ..core.challenge import OPEN_STATES
from ..core.contacts import ContactKind
from ..core.keys import answer_key_id
from ..core.records import (
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
from ..errors import StorageError
from .writes import WriteMethods

__all__ = ["MemoryStore"]

_MISSING: Any = object()
_NONE: dict[Any, Any] = {}  # what a user without rows in a table reads (never written to)
R = TypeVar("R")

# The orders load_user gives (the SQL store's ORDER BY): a user's authenticators
# oldest first, contacts by kind (a str enum: it sorts as its value), passkeys
# oldest first.
_BY_CREATED = attrgetter("created_at")
_BY_KIND = attrgetter("kind")
_BY_CREATED_ID = attrgetter("created_at", "id")


def _ordered(rows: Iterable[R], key: Callable[[R], Any]) -> tuple[R, ...]:
    """`rows` sorted by `key` (most users have one row or none: nothing to sort)."""
    found = tuple(rows)
    return found if len(found) < 2 else tuple(sorted(found, key=key))


# Two records are built on every verification: the snapshot it reads and the
# authenticator whose step it advances. A frozen dataclass's __init__ sets each
# field through object.__setattr__ after matching keyword arguments; these
# set the same fields directly, at about half the cost. (Neither class has a
# __post_init__; tests/contract/test_memory_store.py checks both builders
# against the classes' own constructors, field by field.)
_new = object.__new__
_set = object.__setattr__


def _advanced(rec: TotpRecord, step: int, now: datetime) -> TotpRecord:
    """`replace(rec, last_step=step, last_used_at=now)`."""
    new: TotpRecord = _new(TotpRecord)
    _set(new, "id", rec.id)
    _set(new, "user_id", rec.user_id)
    _set(new, "label", rec.label)
    _set(new, "secret_key_id", rec.secret_key_id)
    _set(new, "secret_blob", rec.secret_blob)
    _set(new, "algorithm", rec.algorithm)
    _set(new, "digits", rec.digits)
    _set(new, "period", rec.period)
    _set(new, "created_at", rec.created_at)
    _set(new, "expires_at", rec.expires_at)
    _set(new, "confirmed_at", rec.confirmed_at)
    _set(new, "last_step", step)
    _set(new, "last_used_at", now)
    return new


def _purge_nested(
    table: dict[str, dict[Any, Any]], stale: Callable[[Any], bool], limit: int
) -> int:
    """Delete at most `limit` records matching `stale` from a per-user table."""
    gone = 0
    for mine in table.values():
        for key in [k for k, rec in mine.items() if stale(rec)]:
            if gone == limit:
                return gone
            del mine[key]
            gone += 1
    return gone


class _Conflict(Exception):
    """A conditional write of a batch found its condition false."""


class _Undo(list[tuple[MutableMapping[Any, Any], Any, Any]]):
    """What a batch changed, to put back if a later write's condition fails:
    (table, key, old value) in order. (A list itself, as one is made for every
    batch.)"""

    __slots__ = ()

    def set(self, d: MutableMapping[Any, Any], key: Any, value: Any) -> None:
        self.append((d, key, d.get(key, _MISSING)))
        d[key] = value

    def drop(self, d: MutableMapping[Any, Any], key: Any) -> Any:
        old = d.pop(key, _MISSING)
        if old is not _MISSING:
            self.append((d, key, old))
        return old

    def rollback(self) -> None:
        for d, key, old in reversed(self):
            if old is _MISSING:
                d.pop(key, None)
            else:
                d[key] = old


class MemoryStore(WriteMethods):
    """Implements [`mfakit.ports.storage.Store`][mfakit.ports.storage.Store] with dicts and a
    lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totp: dict[str, dict[str, TotpRecord]] = {}
        self._backup: dict[str, dict[str, BackupCodeRecord]] = {}
        # Unused backup codes per user, kept with every change of `_backup` (and
        # put back with it by the undo log): load_user counts none.
        self._unused: dict[str, int] = {}
        self._counters: dict[str, Counter] = {}
        self._challenges: dict[str, ChallengeRecord] = {}
        self._contacts: dict[str, dict[ContactKind, ContactRecord]] = {}
        self._questions: dict[str, QuestionRecord] = {}
        self._devices: dict[str, dict[str, DeviceRecord]] = {}
        self._states: dict[str, UserState] = {}
        self._notices: dict[str, NoticeRecord] = {}
        self._credentials: dict[str, dict[str, WebAuthnCredentialRecord]] = {}
        self._by_credential_id: dict[bytes, tuple[str, str]] = {}
        self._handles: dict[str, bytes] = {}
        self._handle_users: dict[bytes, str] = {}
        self._ceremonies: dict[str, CeremonyRecord] = {}

    def __repr__(self) -> str:
        return f"MemoryStore(users={len(self._totp.keys() | self._backup.keys())})"

    # --- the unit of work ---------------------------------------------------
    def apply(self, writes: Sequence[w.Write]) -> list[object] | None:
        undo = _Undo()
        results: list[object] = []
        table = self._APPLY
        with self._lock:
            try:
                for write in writes:
                    step = table.get(type(write))
                    if step is None:
                        raise StorageError("MemoryStore.apply: not a storage write")
                    results.append(step(self, write, undo))
            except _Conflict:
                undo.rollback()
                return None
            except BaseException:
                undo.rollback()
                raise
        return results

    @staticmethod
    def _require(condition: bool) -> bool:
        if not condition:
            raise _Conflict
        return True

    def _add_totp(self, x: w.AddTotp, undo: _Undo) -> object:
        mine = self._totp.setdefault(x.record.user_id, {})
        for fid in [f for f, r in mine.items() if not r.is_live(x.now)]:
            undo.drop(mine, fid)
        self._require(len(mine) < x.limit and x.record.id not in mine)
        undo.set(mine, x.record.id, x.record)
        return True

    def _confirm_totp(self, x: w.ConfirmTotp, undo: _Undo) -> object:
        mine = self._totp.get(x.user_id, {})
        rec = mine.get(x.factor_id)
        self._require(rec is not None and not rec.confirmed and rec.is_live(x.now))
        assert rec is not None
        confirmed = replace(
            rec, confirmed_at=x.now, expires_at=None, last_step=x.step, last_used_at=x.now
        )
        undo.set(mine, x.factor_id, confirmed)
        return True

    def _advance_totp(self, x: w.AdvanceTotp, undo: _Undo) -> object:
        mine = self._totp.get(x.user_id, _NONE)
        rec = mine.get(x.factor_id)
        if (
            rec is None
            or rec.confirmed_at is None
            or (rec.last_step is not None and rec.last_step >= x.step)
        ):
            raise _Conflict  # gone, pending, or this step or a newer one accepted (S4)
        advanced = _advanced(rec, x.step, x.now)
        undo.set(mine, x.factor_id, advanced)
        return True

    def _rename_totp(self, x: w.RenameTotp, undo: _Undo) -> object:
        mine = self._totp.get(x.user_id, {})
        rec = mine.get(x.factor_id)
        self._require(rec is not None and rec.confirmed)
        assert rec is not None
        undo.set(mine, x.factor_id, replace(rec, label=x.label))
        return True

    def _reseal_totp(self, x: w.ResealTotp, undo: _Undo) -> object:
        mine = self._totp.get(x.user_id, {})
        rec = mine.get(x.factor_id)
        self._require(
            rec is not None and rec.secret_key_id == x.old_key_id and rec.secret_blob == x.old_blob
        )
        assert rec is not None
        undo.set(mine, x.factor_id, replace(rec, secret_key_id=x.key_id, secret_blob=x.blob))
        return True

    def _delete_totp(self, x: w.DeleteTotp, undo: _Undo) -> object:
        return self._require(undo.drop(self._totp.get(x.user_id, {}), x.factor_id) is not _MISSING)

    def _replace_backup_codes(self, x: w.ReplaceBackupCodes, undo: _Undo) -> object:
        codes = {c.lookup: c for c in x.codes}
        undo.set(self._backup, x.user_id, codes)
        undo.set(self._unused, x.user_id, sum(1 for c in codes.values() if c.used_at is None))
        return None

    def _use_backup_code(self, x: w.UseBackupCode, undo: _Undo) -> object:
        codes = self._backup.get(x.user_id, {})
        rec = codes.get(x.lookup)
        self._require(rec is not None and rec.used_at is None)
        assert rec is not None
        undo.set(codes, x.lookup, replace(rec, used_at=x.now))
        undo.set(self._unused, x.user_id, self._unused[x.user_id] - 1)
        return True

    def _put_counter(self, x: w.PutCounter, undo: _Undo) -> object:
        c = x.counter
        current = self._counters.get(c.key)
        self._require((current.version if current is not None else 0) == c.version)
        stored = Counter(
            key=c.key,
            count=c.count,
            window_start=c.window_start,
            updated_at=c.updated_at,
            version=c.version + 1,
        )
        undo.set(self._counters, c.key, stored)
        return True

    def _expect_counter(self, x: w.ExpectCounter, _undo: _Undo) -> object:
        current = self._counters.get(x.key)
        if (current.version if current is not None else 0) != x.version:
            raise _Conflict
        return True

    def _insert_challenge(self, x: w.InsertChallenge, undo: _Undo) -> object:
        if x.record.id in self._challenges:
            raise StorageError("a challenge with this id already exists")
        undo.set(self._challenges, x.record.id, replace(x.record, version=0))
        return None

    def _update_challenge(self, x: w.UpdateChallenge, undo: _Undo) -> object:
        rec = x.record
        current = self._challenges.get(rec.id)
        self._require(current is not None and current.version == rec.version)
        undo.set(self._challenges, rec.id, replace(rec, version=rec.version + 1))
        return True

    def _put_contact(self, x: w.PutContact, undo: _Undo) -> object:
        undo.set(self._contacts.setdefault(x.record.user_id, {}), x.record.kind, x.record)
        return None

    def _delete_contact(self, x: w.DeleteContact, undo: _Undo) -> object:
        mine = self._contacts.get(x.user_id, {})
        return self._require(undo.drop(mine, ContactKind(x.kind)) is not _MISSING)

    def _put_question(self, x: w.PutQuestion, undo: _Undo) -> object:
        undo.set(self._questions, x.record.user_id, x.record)
        return None

    def _replace_answer_hash(self, x: w.ReplaceAnswerHash, undo: _Undo) -> object:
        rec = self._questions.get(x.user_id)
        self._require(rec is not None and rec.answer_hash == x.old_hash)
        assert rec is not None
        undo.set(self._questions, x.user_id, replace(rec, answer_hash=x.new_hash))
        return True

    def _insert_device(self, x: w.InsertDevice, undo: _Undo) -> object:
        mine = self._devices.setdefault(x.record.user_id, {})
        if x.record.id in mine:
            raise StorageError("a device with this id already exists")
        undo.set(mine, x.record.id, x.record)
        return None

    def _touch_device(self, x: w.TouchDevice, undo: _Undo) -> object:
        mine = self._devices.get(x.user_id, {})
        rec = mine.get(x.device_id)
        self._require(rec is not None and rec.revoked_at is None)
        assert rec is not None
        undo.set(mine, x.device_id, replace(rec, last_used_at=x.now))
        return True

    def _revoke_device(self, x: w.RevokeDevice, undo: _Undo) -> object:
        mine = self._devices.get(x.user_id, {})
        rec = mine.get(x.device_id)
        self._require(rec is not None and rec.revoked_at is None)
        assert rec is not None
        undo.set(mine, x.device_id, replace(rec, revoked_at=x.now))
        return True

    def _revoke_devices(self, x: w.RevokeDevices, undo: _Undo) -> object:
        mine = self._devices.get(x.user_id, {})
        live = [d for d in mine.values() if d.revoked_at is None]
        for rec in live:
            undo.set(mine, rec.id, replace(rec, revoked_at=x.now))
        return len(live)

    def _state(self, user_id: str) -> UserState:
        return self._states.get(user_id) or UserState(user_id=user_id)

    def _bump_security_version(self, x: w.BumpSecurityVersion, undo: _Undo) -> object:
        state = self._state(x.user_id)
        version = state.security_version + 1
        undo.set(
            self._states, x.user_id, replace(state, security_version=version, updated_at=x.now)
        )
        return version

    def _set_preferred_method(self, x: w.SetPreferredMethod, undo: _Undo) -> object:
        state = replace(self._state(x.user_id), preferred_method=x.method, updated_at=x.now)
        undo.set(self._states, x.user_id, state)
        return None

    def _set_locale(self, x: w.SetLocale, undo: _Undo) -> object:
        state = replace(self._state(x.user_id), locale=x.locale, updated_at=x.now)
        undo.set(self._states, x.user_id, state)
        return None

    def _clear_factors(self, x: w.ClearFactors, undo: _Undo) -> object:
        undo.drop(self._totp, x.user_id)
        for rec in list(self._credentials.get(x.user_id, {}).values()):
            undo.drop(self._by_credential_id, rec.credential_id)
        undo.drop(self._credentials, x.user_id)
        undo.drop(self._backup, x.user_id)
        undo.drop(self._unused, x.user_id)
        mine = self._contacts.get(x.user_id, {})
        for kind, contact in list(mine.items()):
            undo.set(mine, kind, replace(contact, verified_at=None))
        return None

    def _require_no_factor(self, x: w.RequireNoFactor, undo: _Undo) -> object:
        totps = self._totp.get(x.user_id, {}).values()
        contacts = self._contacts.get(x.user_id, {}).values()
        return self._require(
            not any(t.confirmed for t in totps)
            and not any(c.verified for c in contacts)
            and not self._credentials.get(x.user_id)
        )

    def _queue_notice(self, x: w.QueueNotice, undo: _Undo) -> object:
        if x.record.id in self._notices:
            raise StorageError("a notice with this id already exists")
        undo.set(self._notices, x.record.id, x.record)
        return None

    def _claim_notice(self, x: w.ClaimNotice, undo: _Undo) -> object:
        rec = self._notices.get(x.notice_id)
        self._require(rec is not None and rec.attempts == x.attempts)
        assert rec is not None
        claimed = replace(rec, attempts=rec.attempts + 1, next_attempt_at=x.retry_at)
        undo.set(self._notices, x.notice_id, claimed)
        return True

    def _delete_notice(self, x: w.DeleteNotice, undo: _Undo) -> object:
        undo.drop(self._notices, x.notice_id)
        return None

    def _insert_credential(self, x: w.InsertCredential, undo: _Undo) -> object:
        rec = x.record
        mine = self._credentials.setdefault(rec.user_id, {})
        self._require(
            rec.credential_id not in self._by_credential_id
            and rec.id not in mine
            and len(mine) < x.limit
            and all(c.name != rec.name for c in mine.values())
        )
        undo.set(mine, rec.id, replace(rec, version=0))
        undo.set(self._by_credential_id, rec.credential_id, (rec.user_id, rec.id))
        return True

    def _update_credential(self, x: w.UpdateCredential, undo: _Undo) -> object:
        rec = x.record
        mine = self._credentials.get(rec.user_id, {})
        current = mine.get(rec.id)
        self._require(current is not None and current.version == rec.version)
        assert current is not None
        used = replace(
            current,
            sign_count=rec.sign_count,
            backed_up=rec.backed_up,
            last_used_at=rec.last_used_at,
            cloned=rec.cloned,
            version=rec.version + 1,
        )
        undo.set(mine, rec.id, used)
        return True

    def _rename_credential(self, x: w.RenameCredential, undo: _Undo) -> object:
        mine = self._credentials.get(x.user_id, {})
        rec = mine.get(x.factor_id)
        self._require(
            rec is not None and all(c.name != x.name or c.id == x.factor_id for c in mine.values())
        )
        assert rec is not None
        undo.set(mine, x.factor_id, replace(rec, name=x.name))
        return True

    def _delete_credential(self, x: w.DeleteCredential, undo: _Undo) -> object:
        rec = undo.drop(self._credentials.get(x.user_id, {}), x.factor_id)
        self._require(rec is not _MISSING)
        undo.drop(self._by_credential_id, rec.credential_id)
        return True

    def _set_user_handle(self, x: w.SetUserHandle, undo: _Undo) -> object:
        self._require(x.user_id not in self._handles and x.handle not in self._handle_users)
        undo.set(self._handles, x.user_id, x.handle)
        undo.set(self._handle_users, x.handle, x.user_id)
        return True

    def _put_ceremony(self, x: w.PutCeremony, undo: _Undo) -> object:
        undo.set(self._ceremonies, x.record.id, x.record)
        return None

    def _record_audit(self, x: w.RecordAudit, undo: _Undo) -> object:
        raise StorageError("MemoryStore is not an audit log: record events with MemoryAuditLog")

    _APPLY: ClassVar[dict[type, Callable[[MemoryStore, Any, _Undo], object]]] = {
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

    # --- one-read snapshots -------------------------------------------------
    def _snapshot(self, user_id: str, counters: Sequence[str]) -> UserSnapshot:
        found = {}
        for prefix in counters:
            counter = self._counters.get(prefix + user_id)
            if counter is not None:
                found[counter.key] = counter
        snapshot = _new(UserSnapshot)
        _set(snapshot, "user_id", user_id)
        _set(snapshot, "totps", _ordered(self._totp.get(user_id, _NONE).values(), _BY_CREATED))
        _set(snapshot, "contacts", _ordered(self._contacts.get(user_id, _NONE).values(), _BY_KIND))
        _set(snapshot, "backup_codes_left", self._unused.get(user_id, 0))
        _set(snapshot, "question", self._questions.get(user_id))
        _set(snapshot, "state", self._states.get(user_id))
        _set(snapshot, "counters", found)
        _set(snapshot, "webauthn", self._credentials_of(user_id))
        return snapshot

    def _credentials_of(self, user_id: str) -> tuple[WebAuthnCredentialRecord, ...]:
        return _ordered(self._credentials.get(user_id, _NONE).values(), _BY_CREATED_ID)

    def load_user(self, user_id: str, *, counters: Sequence[str] = ()) -> UserSnapshot:
        with self._lock:
            return self._snapshot(user_id, counters)

    def load_challenge(
        self, challenge_id: str, *, counters: Sequence[str] = ()
    ) -> tuple[ChallengeRecord, UserSnapshot] | None:
        with self._lock:
            rec = self._challenges.get(challenge_id)
            if rec is None:
                return None
            return rec, self._snapshot(rec.user_id, counters)

    # --- retention ---------------------------------------------------------------
    def purge(
        self,
        *,
        before: datetime,
        keep_nonzero: Sequence[str] = (),
        limit: int,
        audit_before: datetime | None = None,
    ) -> int:
        # Not an audit log (MemoryAuditLog is): ``audit_before`` finds nothing here.
        keep = tuple(keep_nonzero)
        gone = 0
        with self._lock:
            old = [k for k, c in self._challenges.items() if c.expires_at < before][:limit]
            for key in old:
                del self._challenges[key]
            counters = [
                k
                for k, c in self._counters.items()
                if c.updated_at < before and not (c.count and k.startswith(keep))
            ][:limit]
            for key in counters:
                del self._counters[key]
            notices = [k for k, n in self._notices.items() if n.created_at < before][:limit]
            for key in notices:
                del self._notices[key]
            ceremonies = [k for k, c in self._ceremonies.items() if c.expires_at < before][:limit]
            for key in ceremonies:
                del self._ceremonies[key]
            gone += len(old) + len(counters) + len(notices) + len(ceremonies)
            gone += _purge_nested(
                self._devices,
                lambda d: (
                    (d.revoked_at is not None and d.revoked_at < before) or d.expires_at < before
                ),
                limit,
            )
            # Used codes only: the count of unused ones (`_unused`) stays right.
            gone += _purge_nested(
                self._backup, lambda c: c.used_at is not None and c.used_at < before, limit
            )
            gone += _purge_nested(
                self._totp,
                lambda t: (
                    t.confirmed_at is None and t.expires_at is not None and t.expires_at < before
                ),
                limit,
            )
        return gone

    # --- the notice outbox -------------------------------------------------------
    def pending_notices(self, *, now: datetime, limit: int) -> list[NoticeRecord]:
        with self._lock:
            due = [n for n in self._notices.values() if n.next_attempt_at <= now]
        return sorted(due, key=lambda n: (n.next_attempt_at, n.id))[:limit]

    # --- key rotation -------------------------------------------------------------
    def totps_to_reseal(
        self, *, key_id: str, after: tuple[str, str] | None, limit: int
    ) -> list[TotpRecord]:
        with self._lock:
            found = [
                rec
                for mine in self._totp.values()
                for rec in mine.values()
                if rec.secret_key_id != key_id and (after is None or (rec.user_id, rec.id) > after)
            ]
        found.sort(key=lambda r: (r.user_id, r.id))
        return found[:limit]

    def key_usage(self, *, now: datetime) -> list[KeyUse]:
        counts: dict[str, dict[str, int]] = {}

        def count(key_id: str | None, kind: str) -> None:
            if key_id is not None:
                kinds = counts.setdefault(key_id, {})
                kinds[kind] = kinds.get(kind, 0) + 1

        with self._lock:
            for mine in self._totp.values():
                for rec in mine.values():
                    count(rec.secret_key_id, "authenticators")
            for question in self._questions.values():
                count(answer_key_id(question.answer_hash), "security_answers")
            for challenge in self._challenges.values():
                if (
                    challenge.code_hash is not None
                    and challenge.expires_at > now
                    and challenge.state in OPEN_STATES
                ):
                    count(challenge.code_key_id, "open_challenges")
        return [KeyUse(key_id=k, **counts[k]) for k in sorted(counts)]

    # --- reads -----------------------------------------------------------------
    def get_totp(self, user_id: str, factor_id: str) -> TotpRecord | None:
        with self._lock:
            return self._totp.get(user_id, {}).get(factor_id)

    def list_totp(self, user_id: str) -> list[TotpRecord]:
        with self._lock:
            return sorted(self._totp.get(user_id, {}).values(), key=lambda r: r.created_at)

    def get_backup_code(self, user_id: str, lookup: str) -> BackupCodeRecord | None:
        with self._lock:
            rec = self._backup.get(user_id, {}).get(lookup)
            return rec if rec is not None and rec.used_at is None else None

    def count_backup_codes(self, user_id: str) -> int:
        with self._lock:
            return self._unused.get(user_id, 0)

    def get_counter(self, key: str) -> Counter | None:
        with self._lock:
            return self._counters.get(key)

    def get_challenge(self, challenge_id: str) -> ChallengeRecord | None:
        with self._lock:
            return self._challenges.get(challenge_id)

    def challenge_for_message(self, message_id: str) -> ChallengeRecord | None:
        with self._lock:
            found = [c for c in self._challenges.values() if c.message_id == message_id]
        return max(found, key=lambda c: c.created_at, default=None)

    def get_contacts(self, user_id: str) -> list[ContactRecord]:
        with self._lock:
            return sorted(self._contacts.get(user_id, {}).values(), key=lambda c: c.kind.value)

    def get_question(self, user_id: str) -> QuestionRecord | None:
        with self._lock:
            return self._questions.get(user_id)

    def get_device(self, user_id: str, device_id: str) -> DeviceRecord | None:
        with self._lock:
            return self._devices.get(user_id, {}).get(device_id)

    def list_devices(self, user_id: str) -> list[DeviceRecord]:
        with self._lock:
            mine = list(self._devices.get(user_id, {}).values())
        return sorted(mine, key=lambda d: d.created_at, reverse=True)

    def get_user_state(self, user_id: str) -> UserState | None:
        with self._lock:
            return self._states.get(user_id)

    # --- passkeys and security keys ------------------------------------------------
    def get_credential(self, credential_id: bytes) -> WebAuthnCredentialRecord | None:
        with self._lock:
            where = self._by_credential_id.get(credential_id)
            if where is None:
                return None
            return self._credentials.get(where[0], {}).get(where[1])

    def list_credentials(self, user_id: str) -> list[WebAuthnCredentialRecord]:
        with self._lock:
            return list(self._credentials_of(user_id))

    def get_user_handle(self, user_id: str) -> bytes | None:
        with self._lock:
            return self._handles.get(user_id)

    def user_for_handle(self, handle: bytes) -> str | None:
        with self._lock:
            return self._handle_users.get(handle)

    def get_ceremony(self, ceremony_id: str) -> CeremonyRecord | None:
        with self._lock:
            return self._ceremonies.get(ceremony_id)

    def take_ceremony(self, ceremony_id: str, *, now: datetime) -> CeremonyRecord | None:
        with self._lock:
            rec = self._ceremonies.get(ceremony_id)
            if rec is None or rec.used_at is not None:
                return None
            self._ceremonies[ceremony_id] = replace(rec, used_at=now)
            return rec
