"""The storage contract: what every [`Store`][mfakit.ports.storage.Store] must do.

An adapter proves itself by inheriting the suite and providing one fixture,
`store`, that returns a fresh, empty store:

```python
import pytest
from mfakit.testing.contract import StoreContract

class TestMyStore(StoreContract):
    @pytest.fixture
    def store(self):
        return MyStore(...)
```

Every test then runs against it, threads hammering the atomic operations
included. Classes here are not named `Test*`, so importing this module into a
test file collects nothing by itself. Requires pytest.

An async store ([`AsyncStore`][mfakit.ports.storage.AsyncStore]) runs the same
suite through `BlockingStore`, which gives it the sync methods: each
call runs the async store's coroutine on the bridge's own event loop (one
thread) and waits for it. The racing threads then become that many tasks
interleaved on one loop, which is how an async app server drives the store:

```python
class TestMyAsyncStore(StoreContract):
    @pytest.fixture
    def store(self):
        with BlockingStore(MyAsyncStore(...)) as bridge:
            bridge.run(bridge.store.create_all())   # any coroutine, on its loop
            yield bridge
            bridge.run(bridge.store.close())
```

Make the async store's connections on the bridge's loop (`bridge.run`), not
on another one: async drivers tie a connection to the loop that opened it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any, TypeVar

import pytest

from ..core import writes as w
from ..core.challenge import Purpose, State
from ..core.contacts import ContactKind
from ..core.methods import Method
from ..core.records import (
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
    WebAuthnCredentialRecord,
)
from ..core.webauthn import CeremonyKind, CredentialUsage, Discoverable, UserVerification
from ..errors import StorageError
from ..ports.storage import Store

__all__ = [
    "AuditLogContract",
    "AuditRetentionContract",
    "BackupCodeContract",
    "BlockingStore",
    "CeremonyContract",
    "ChallengeContract",
    "ConcurrencyContract",
    "ContactContract",
    "CounterContract",
    "CredentialContract",
    "DeviceContract",
    "FirstFactorContract",
    "KeyRotationContract",
    "NoticeContract",
    "ProcessRaceContract",
    "QuestionContract",
    "RetentionContract",
    "StoreContract",
    "TotpContract",
    "UnitOfWorkContract",
    "race_processes",
]

T0 = datetime(2026, 3, 1, 9, 0, 0, tzinfo=timezone.utc)
THREADS = 16

T = TypeVar("T")

_STORE_METHODS = frozenset(
    name for name, member in vars(Store).items() if callable(member) and not name.startswith("_")
) | {
    # the single-write conveniences every shipped store has (adapters.writes)
    "add_totp",
    "confirm_totp",
    "advance_totp",
    "rename_totp",
    "delete_totp",
    "replace_backup_codes",
    "use_backup_code",
    "put_counter",
    "insert_challenge",
    "update_challenge",
    "put_contact",
    "delete_contact",
    "put_question",
    "insert_device",
    "touch_device",
    "revoke_device",
    "revoke_devices",
    "bump_security_version",
    "set_preferred_method",
    "clear_factors",
    "record",
    "list_events",  # the audit log, which SQL stores also are
    "challenge_for_message",  # optional: MessageLookup, for delivery statuses
}


class BlockingStore:
    """The sync storage methods over an async store, for the contract suite.

    `BlockingStore(async_store)` has every method of
    [`Store`][mfakit.ports.storage.Store]; calling one runs the async store's
    method on the bridge's event loop, in a thread of its own, and blocks
    until it finishes (at most `timeout` seconds). Calls from several
    threads run as concurrent tasks on that loop. `run`
    runs any other coroutine there (creating tables, closing the store);
    `close` (or leaving a `with` block) stops the loop.
    """

    def __init__(self, store: Any, *, timeout: float = 60.0) -> None:
        self.store = store
        self._timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="mfakit-blocking-store", daemon=True
        )
        self._thread.start()

    def __repr__(self) -> str:
        return f"BlockingStore({self.store!r})"

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the bridge's loop and return its result."""
        if self._loop.is_closed():
            coroutine.close()
            raise RuntimeError("this BlockingStore is closed")
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(self._timeout)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name not in _STORE_METHODS:
            raise AttributeError(name)
        method = getattr(self.store, name)

        def blocking(*args: Any, **kwargs: Any) -> Any:
            return self.run(method(*args, **kwargs))

        blocking.__name__ = name
        return blocking

    def close(self) -> None:
        """Stop the event loop and its thread (close the async store first)."""
        if self._loop.is_closed():
            return
        self.run(self._loop.shutdown_asyncgens())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> BlockingStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def totp_record(
    user_id: str = "alice", factor_id: str = "f1", *, at: datetime = T0, **changes: Any
) -> TotpRecord:
    """A pending authenticator record with plausible values."""
    rec = TotpRecord(
        id=factor_id,
        user_id=user_id,
        label="Phone",
        secret_key_id="k1",
        secret_blob=bytes(range(48)),
        algorithm="SHA1",
        digits=6,
        period=30,
        created_at=at,
        expires_at=at + timedelta(minutes=10),
    )
    return replace(rec, **changes) if changes else rec


def backup_codes(
    user_id: str = "alice", n: int = 10, *, at: datetime = T0
) -> list[BackupCodeRecord]:
    return [
        BackupCodeRecord(
            user_id=user_id, lookup=f"{i:02d}", hash=f"$h${user_id}${i}", created_at=at
        )
        for i in range(n)
    ]


def challenge_record(
    challenge_id: str = "c1", user_id: str = "alice", *, at: datetime = T0, **changes: Any
) -> ChallengeRecord:
    """A fresh sign-in challenge awaiting an SMS code."""
    rec = ChallengeRecord(
        id=challenge_id,
        user_id=user_id,
        purpose=Purpose.SIGN_IN,
        state=State.AWAITING_CODE,
        methods=(Method.SMS, Method.VOICE, Method.BACKUP_CODE),
        method=Method.SMS,
        created_at=at,
        expires_at=at + timedelta(minutes=10),
    )
    return replace(rec, **changes) if changes else rec


def race(n: int, action: Callable[[], bool]) -> list[bool]:
    """Run `action` in `n` threads released at the same instant."""
    barrier = threading.Barrier(n)
    results: list[bool] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            outcome = action()
        except BaseException as exc:  # reported below, never swallowed
            errors.append(exc)
            return
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


class TotpContract:
    """Authenticator records: pending, confirmed, CAS on the time step."""

    def test_add_then_get_and_list(self, store: Store) -> None:
        rec = totp_record()
        assert store.add_totp(rec, limit=5, now=T0)
        got = store.get_totp("alice", "f1")
        assert got == rec
        assert got is not None and got.secret_blob == rec.secret_blob
        assert store.list_totp("alice") == [rec]
        assert store.get_totp("bob", "f1") is None
        assert store.list_totp("bob") == []

    def test_list_is_oldest_first(self, store: Store) -> None:
        later = totp_record(factor_id="f2", at=T0 + timedelta(seconds=5))
        store.add_totp(later, limit=5, now=T0)
        store.add_totp(totp_record(), limit=5, now=T0)
        assert [r.id for r in store.list_totp("alice")] == ["f1", "f2"]

    def test_limit_counts_live_records_only(self, store: Store) -> None:
        assert store.add_totp(totp_record(factor_id="a"), limit=2, now=T0)
        assert store.add_totp(totp_record(factor_id="b"), limit=2, now=T0)
        assert not store.add_totp(totp_record(factor_id="c"), limit=2, now=T0)
        assert {r.id for r in store.list_totp("alice")} == {"a", "b"}
        # Once the pending ones expire they no longer count.
        later = T0 + timedelta(minutes=11)
        assert store.add_totp(totp_record(factor_id="d", at=later), limit=2, now=later)
        assert "d" in {r.id for r in store.list_totp("alice")}

    def test_limit_is_per_user(self, store: Store) -> None:
        assert store.add_totp(totp_record("alice", "a"), limit=1, now=T0)
        assert store.add_totp(totp_record("bob", "b"), limit=1, now=T0)

    def test_same_id_twice_is_refused(self, store: Store) -> None:
        assert store.add_totp(totp_record(), limit=5, now=T0)
        assert not store.add_totp(totp_record(label="other"), limit=5, now=T0)
        got = store.get_totp("alice", "f1")
        assert got is not None and got.label == "Phone"

    def test_confirm_sets_step_and_clears_expiry(self, store: Store) -> None:
        store.add_totp(totp_record(), limit=5, now=T0)
        now = T0 + timedelta(minutes=1)
        assert store.confirm_totp("alice", "f1", step=1000, now=now, backup_codes=None)
        got = store.get_totp("alice", "f1")
        assert got is not None
        assert got.confirmed_at == now and got.expires_at is None
        assert got.last_step == 1000 and got.last_used_at == now

    def test_confirm_only_once_and_only_before_expiry(self, store: Store) -> None:
        store.add_totp(totp_record(), limit=5, now=T0)
        store.add_totp(totp_record(factor_id="f2"), limit=5, now=T0)
        assert store.confirm_totp("alice", "f1", step=1, now=T0, backup_codes=None)
        assert not store.confirm_totp("alice", "f1", step=2, now=T0, backup_codes=None)
        late = T0 + timedelta(minutes=10)
        assert not store.confirm_totp("alice", "f2", step=2, now=late, backup_codes=None)
        assert not store.confirm_totp("alice", "missing", step=2, now=T0, backup_codes=None)
        assert not store.confirm_totp("bob", "f1", step=2, now=T0, backup_codes=None)

    def test_confirm_replaces_backup_codes_atomically(self, store: Store) -> None:
        store.replace_backup_codes("alice", backup_codes(n=3))
        store.add_totp(totp_record(), limit=5, now=T0)
        fresh = [replace(c, lookup=f"N{i}") for i, c in enumerate(backup_codes(n=10))]
        assert store.confirm_totp("alice", "f1", step=1, now=T0, backup_codes=fresh)
        assert store.count_backup_codes("alice") == 10
        assert store.get_backup_code("alice", "00") is None
        assert store.get_backup_code("alice", "N0") is not None

    def test_failed_confirm_leaves_backup_codes(self, store: Store) -> None:
        store.replace_backup_codes("alice", backup_codes(n=3))
        assert not store.confirm_totp("alice", "nope", step=1, now=T0, backup_codes=backup_codes())
        assert store.count_backup_codes("alice") == 3

    def test_advance_only_forward_and_only_when_confirmed(self, store: Store) -> None:
        store.add_totp(totp_record(), limit=5, now=T0)
        assert not store.advance_totp("alice", "f1", step=5, now=T0)  # still pending
        store.confirm_totp("alice", "f1", step=5, now=T0, backup_codes=None)
        assert not store.advance_totp("alice", "f1", step=5, now=T0)
        assert not store.advance_totp("alice", "f1", step=4, now=T0)
        later = T0 + timedelta(seconds=30)
        assert store.advance_totp("alice", "f1", step=6, now=later)
        got = store.get_totp("alice", "f1")
        assert got is not None and got.last_step == 6 and got.last_used_at == later
        assert not store.advance_totp("bob", "f1", step=7, now=later)

    def test_rename_and_delete(self, store: Store) -> None:
        store.add_totp(totp_record(), limit=5, now=T0)
        assert not store.rename_totp("alice", "f1", "Pending")  # pending: not renamable
        store.confirm_totp("alice", "f1", step=1, now=T0, backup_codes=None)
        assert store.rename_totp("alice", "f1", "Work phone")
        got = store.get_totp("alice", "f1")
        assert got is not None and got.label == "Work phone"
        assert not store.rename_totp("bob", "f1", "x")
        assert not store.delete_totp("bob", "f1")
        assert store.delete_totp("alice", "f1")
        assert store.get_totp("alice", "f1") is None
        assert not store.delete_totp("alice", "f1")


class BackupCodeContract:
    """Backup codes: replace a set, find by lookup id, consume once."""

    def test_replace_get_use_count(self, store: Store) -> None:
        store.replace_backup_codes("alice", backup_codes())
        assert store.count_backup_codes("alice") == 10
        got = store.get_backup_code("alice", "03")
        assert got is not None and got.hash == "$h$alice$3" and got.used_at is None
        assert store.use_backup_code("alice", "03", now=T0)
        assert not store.use_backup_code("alice", "03", now=T0)
        assert store.get_backup_code("alice", "03") is None
        assert store.count_backup_codes("alice") == 9

    def test_codes_are_per_user(self, store: Store) -> None:
        store.replace_backup_codes("alice", backup_codes("alice"))
        assert store.get_backup_code("bob", "03") is None
        assert not store.use_backup_code("bob", "03", now=T0)
        assert store.count_backup_codes("bob") == 0

    def test_replace_invalidates_old_set(self, store: Store) -> None:
        store.replace_backup_codes("alice", backup_codes(n=10))
        newer = [replace(c, lookup=f"Z{i}") for i, c in enumerate(backup_codes(n=4))]
        store.replace_backup_codes("alice", newer)
        assert store.count_backup_codes("alice") == 4
        assert store.get_backup_code("alice", "00") is None
        assert not store.use_backup_code("alice", "00", now=T0)
        store.replace_backup_codes("alice", [])
        assert store.count_backup_codes("alice") == 0

    def test_unknown_lookup(self, store: Store) -> None:
        assert store.get_backup_code("alice", "ZZ") is None
        assert not store.use_backup_code("alice", "ZZ", now=T0)


class CounterContract:
    """Counters are updated by compare-and-set on their version."""

    def test_insert_update_and_stale_version(self, store: Store) -> None:
        assert store.get_counter("k") is None
        c = Counter(key="k", count=1, window_start=T0, updated_at=T0, version=0)
        assert store.put_counter(c)
        got = store.get_counter("k")
        assert got is not None and got.count == 1 and got.version == 1
        assert got.window_start == T0 and got.updated_at == T0
        assert not store.put_counter(c)  # version 0 is stale now
        later = T0 + timedelta(seconds=1)
        assert store.put_counter(replace(got, count=2, updated_at=later))
        got2 = store.get_counter("k")
        assert got2 is not None and got2.count == 2 and got2.version == 2
        assert got2.updated_at == later
        assert not store.put_counter(replace(got, count=9))
        assert store.get_counter("other") is None


class ChallengeContract:
    """Challenges: insert, read back every field, compare-and-set with effects."""

    def test_insert_and_get_round_trips_every_field(self, store: Store) -> None:
        rec = challenge_record(
            attempts=2,
            alternatives_locked=True,
            code_hash=bytes(range(32)),
            code_key_id="k1",
            code_sent_at=T0 + timedelta(seconds=1),
            destination="+14155550101",
            code_length=8,
            sends=3,
            purpose=Purpose.ENROL_CONTACT,
            target_kind=ContactKind.PHONE,
            target_value="+14155550101",
            actor_id="boss",
            tenant="clinic-7",
            message_id="SM" + "0a" * 16,
            delivery="failed",
            delivery_error="30006",
        )
        store.insert_challenge(rec)
        assert store.get_challenge("c1") == rec
        assert store.get_challenge("nope") is None

    def test_challenge_for_message_finds_the_newest(self, store: Store) -> None:
        if not callable(getattr(store, "challenge_for_message", None)):
            pytest.skip("the store has no challenge_for_message (MessageLookup is optional)")
        sid = "SM" + "1b" * 16
        older = challenge_record("c1", message_id=sid)
        newer = challenge_record("c2", at=T0 + timedelta(minutes=1), message_id=sid)
        other = challenge_record("c3", message_id="SM" + "2c" * 16)
        for rec in (older, newer, other, challenge_record("c4")):
            store.insert_challenge(rec)
        lookup: Any = store
        assert lookup.challenge_for_message(sid) == newer
        assert lookup.challenge_for_message("SM" + "3d" * 16) is None
        moved = replace(newer, message_id="SM" + "4e" * 16, delivery="sent")
        assert store.update_challenge(moved)  # a resend replaces the id
        assert lookup.challenge_for_message(sid) == older
        found = lookup.challenge_for_message("SM" + "4e" * 16)
        assert found is not None and found.id == "c2" and found.delivery == "sent"

    def test_update_is_compare_and_set(self, store: Store) -> None:
        rec = challenge_record()
        store.insert_challenge(rec)
        moved = replace(rec, attempts=1)
        assert store.update_challenge(moved)
        got = store.get_challenge("c1")
        assert got is not None and got.attempts == 1 and got.version == 1
        assert not store.update_challenge(replace(rec, attempts=5))  # stale version 0
        assert store.update_challenge(replace(got, state=State.SUCCEEDED))
        final = store.get_challenge("c1")
        assert final is not None and final.state is State.SUCCEEDED and final.version == 2
        assert not store.update_challenge(replace(challenge_record("ghost")))

    def test_update_applies_contact_and_codes_atomically(self, store: Store) -> None:
        rec = challenge_record()
        store.insert_challenge(rec)
        store.replace_backup_codes("alice", backup_codes(n=2))
        contact = ContactRecord(
            user_id="alice",
            kind=ContactKind.PHONE,
            value="+14155550101",
            created_at=T0,
            verified_at=T0,
        )
        fresh = [replace(c, lookup=f"N{i}") for i, c in enumerate(backup_codes(n=10))]
        stale = replace(rec, version=7)
        assert not store.update_challenge(stale, contact=contact, backup_codes=fresh)
        assert store.get_contacts("alice") == []
        assert store.count_backup_codes("alice") == 2
        assert store.update_challenge(
            replace(rec, state=State.SUCCEEDED), contact=contact, backup_codes=fresh
        )
        assert store.get_contacts("alice") == [contact]
        assert store.count_backup_codes("alice") == 10

    def test_duplicate_insert_is_refused(self, store: Store) -> None:
        store.insert_challenge(challenge_record())
        with pytest.raises(StorageError):
            store.insert_challenge(challenge_record(user_id="bob"))
        got = store.get_challenge("c1")
        assert got is not None and got.user_id == "alice"


class ContactContract:
    """Contacts: one phone and one email per user, replaced by kind."""

    def test_put_get_replace_delete(self, store: Store) -> None:
        phone = ContactRecord(
            user_id="alice", kind=ContactKind.PHONE, value="+14155550101", created_at=T0
        )
        email = ContactRecord(
            user_id="alice",
            kind=ContactKind.EMAIL,
            value="a@example.org",
            created_at=T0,
            verified_at=T0,
        )
        store.put_contact(phone)
        store.put_contact(email)
        assert sorted(store.get_contacts("alice"), key=lambda c: c.kind.value) == [email, phone]
        newer = replace(phone, value="+12015550123", verified_at=T0 + timedelta(minutes=1))
        store.put_contact(newer)
        assert newer in store.get_contacts("alice")
        assert phone not in store.get_contacts("alice")
        assert store.get_contacts("bob") == []
        assert store.delete_contact("alice", ContactKind.PHONE)
        assert not store.delete_contact("alice", ContactKind.PHONE)
        assert store.get_contacts("alice") == [email]


class QuestionContract:
    def test_put_get_replace(self, store: Store) -> None:
        assert store.get_question("alice") is None
        q = QuestionRecord(user_id="alice", question="Pet?", answer_hash="$h$1", created_at=T0)
        store.put_question(q)
        assert store.get_question("alice") == q
        q2 = replace(q, question="City?", answer_hash="$h$2")
        store.put_question(q2)
        assert store.get_question("alice") == q2
        assert store.get_question("bob") is None

    def test_replace_answer_hash_only_over_the_hash_read(self, store: Store) -> None:
        """A stale answer hash re-hashed after a right answer replaces only the
        hash it was read as: a question set meanwhile is kept."""
        q = QuestionRecord(user_id="alice", question="Pet?", answer_hash="$old", created_at=T0)
        store.put_question(q)
        assert store.apply([w.ReplaceAnswerHash("alice", "$old", "$new")]) == [True]
        assert store.get_question("alice") == replace(q, answer_hash="$new")
        # Set anew meanwhile: the upgrade of the hash read before loses.
        store.put_question(replace(q, question="City?", answer_hash="$set"))
        assert store.apply([w.ReplaceAnswerHash("alice", "$new", "$newer")]) is None
        assert store.get_question("alice") == replace(q, question="City?", answer_hash="$set")
        assert store.apply([w.ReplaceAnswerHash("bob", "$set", "$x")]) is None
        assert store.get_question("bob") is None


def device_record(
    device_id: str = "d1", user_id: str = "alice", *, at: datetime = T0, version: int = 0
) -> DeviceRecord:
    return DeviceRecord(
        id=device_id,
        user_id=user_id,
        label="Chrome on Linux",
        created_at=at,
        expires_at=at + timedelta(days=14),
        security_version=version,
    )


class DeviceContract:
    """Trusted devices, per-user state and turning 2FA off (the rest of `Store`)."""

    def test_insert_get_list_devices(self, store: Store) -> None:
        d1 = device_record("d1")
        d2 = device_record("d2", at=T0 + timedelta(seconds=5))
        store.insert_device(d1)
        store.insert_device(d2)
        assert store.get_device("alice", "d1") == d1
        assert store.get_device("bob", "d1") is None
        assert store.list_devices("alice") == [d2, d1]  # newest first
        assert store.list_devices("bob") == []
        with pytest.raises(StorageError):
            store.insert_device(device_record("d1"))

    def test_touch_and_revoke(self, store: Store) -> None:
        store.insert_device(device_record("d1"))
        store.insert_device(device_record("d2"))
        later = T0 + timedelta(hours=1)
        assert store.touch_device("alice", "d1", now=later)
        got = store.get_device("alice", "d1")
        assert got is not None and got.last_used_at == later
        assert store.revoke_device("alice", "d1", now=later)
        assert not store.revoke_device("alice", "d1", now=later)
        assert not store.touch_device("alice", "d1", now=later)
        assert not store.revoke_device("bob", "d2", now=later)
        got = store.get_device("alice", "d1")
        assert got is not None and got.revoked_at == later
        assert store.revoke_devices("alice", now=later) == 1
        assert store.revoke_devices("alice", now=later) == 0

    def test_user_state(self, store: Store) -> None:
        assert store.get_user_state("alice") is None
        assert store.bump_security_version("alice", now=T0) == 1
        assert store.bump_security_version("alice", now=T0) == 2
        store.set_preferred_method("alice", Method.SMS, now=T0)
        state = store.get_user_state("alice")
        assert state is not None
        assert (state.security_version, state.preferred_method) == (2, Method.SMS)
        store.set_preferred_method("bob", None, now=T0)
        bob = store.get_user_state("bob")
        assert bob is not None and bob.security_version == 0 and bob.preferred_method is None

    def test_clear_factors(self, store: Store) -> None:
        store.add_totp(totp_record(), limit=5, now=T0)
        store.confirm_totp("alice", "f1", step=1, now=T0, backup_codes=backup_codes())
        phone = ContactRecord(
            user_id="alice",
            kind=ContactKind.PHONE,
            value="+14155550101",
            created_at=T0,
            verified_at=T0,
        )
        store.put_contact(phone)
        store.add_totp(totp_record("bob"), limit=5, now=T0)
        store.clear_factors("alice")
        assert store.list_totp("alice") == []
        assert store.count_backup_codes("alice") == 0
        assert store.get_contacts("alice") == [replace(phone, verified_at=None)]
        assert len(store.list_totp("bob")) == 1

    def test_concurrent_bumps_are_never_lost(self, store: Store) -> None:
        race(THREADS, lambda: store.bump_security_version("alice", now=T0) > 0)
        state = store.get_user_state("alice")
        assert state is not None and state.security_version == THREADS


def audit_event(n: int, subject: str = "alice", **changes: Any) -> AuditRecord:
    rec = AuditRecord(
        id=f"ev{n:04d}",
        at=T0 + timedelta(seconds=n // 2),  # pairs share a time, as in one call
        action="second_step.passed",
        subject_id=subject,
        actor_id="boss",
        method="totp",
        outcome="success",
        reason=None,
        ip="203.0.113.9",
        user_agent="Firefox",
        tenant="clinic-7",
        details=(("device", "abcd1234"), ("purpose", "sign_in")),
    )
    return replace(rec, **changes) if changes else rec


class AuditLogContract:
    """An audit log ([`AuditLog`][mfakit.ports.audit.AuditLog]): every field kept,
    newest first, paged by event id. Uses the `audit_log` fixture, which
    defaults to `store` for stores that are audit logs too."""

    @pytest.fixture
    def audit_log(self, store: Any) -> Any:
        return store

    def test_round_trip_and_order(self, audit_log: Any) -> None:
        events = [audit_event(n) for n in range(6)]
        for e in events:
            audit_log.record(e)
        audit_log.record(audit_event(99, subject="bob"))
        listed = audit_log.list_events("alice", limit=50)
        assert listed == events[::-1]
        assert [e.id for e in audit_log.list_events("bob")] == ["ev0099"]
        assert audit_log.list_events("nobody") == []

    def test_paging_by_event_id(self, audit_log: Any) -> None:
        events = [audit_event(n) for n in range(7)]
        for e in events:
            audit_log.record(e)
        pages: list[AuditRecord] = []
        page = audit_log.list_events("alice", limit=3)
        while page:
            pages += page
            page = audit_log.list_events("alice", limit=3, before=page[-1].id)
        assert pages == events[::-1]
        assert audit_log.list_events("alice", limit=3, before="no-such-event") == []


class AuditRetentionContract:
    """`purge(audit_before=...)` on a store that is its own audit log: the
    events recorded before the cut-off go, oldest first and in bounded
    batches; newer ones and every user's stay."""

    def test_purge_drops_old_audit_events_only(self, store: Any) -> None:
        day = timedelta(days=1)
        for n in range(5):
            store.record(audit_event(n, at=T0 - (40 - n) * day))  # 40 to 36 days old
        store.record(audit_event(5, subject="bob", at=T0 - 35 * day))
        for n in range(6, 9):
            store.record(audit_event(n, at=T0 - day))  # recent
        kept = ["ev0008", "ev0007", "ev0006"]
        # Without audit_before, the trail is never touched.
        assert store.purge(before=T0, limit=100) == 0
        assert len(store.list_events("alice", limit=50)) == 8
        rounds = []
        while gone := store.purge(before=T0, limit=2, audit_before=T0 - 30 * day):
            assert gone <= 2
            rounds.append(gone)
        assert sum(rounds) == 6 and len(rounds) == 3
        assert [e.id for e in store.list_events("alice", limit=50)] == kept
        assert store.list_events("bob") == []


class KeyRotationContract:
    """What a key rotation needs: the records under other keys, paged; a
    re-seal that is a compare-and-set on the old ciphertext and touches
    nothing else; and which key ids the stored values name."""

    K_OLD, K_NEW = "0123456789abcdef", "fedcba9876543210"

    def _confirmed(self, store: Store, user_id: str, factor_id: str, key_id: str) -> TotpRecord:
        rec = totp_record(user_id, factor_id, secret_key_id=key_id)
        assert store.add_totp(rec, limit=5, now=T0)
        assert store.confirm_totp(user_id, factor_id, step=1, now=T0, backup_codes=None)
        got = store.get_totp(user_id, factor_id)
        assert got is not None
        return got

    def _reseal(self, rec: TotpRecord, blob: bytes = b"\x01" * 48) -> w.ResealTotp:
        return w.ResealTotp(
            rec.user_id, rec.id, rec.secret_key_id, rec.secret_blob, self.K_NEW, blob
        )

    def test_records_under_other_keys_come_in_pages(self, store: Store) -> None:
        for user in ("carol", "alice", "bob"):
            for factor in ("f2", "f1"):
                self._confirmed(store, user, factor, self.K_OLD)
        self._confirmed(store, "dave", "f1", self.K_NEW)
        store.add_totp(totp_record("erin", "p1", secret_key_id=self.K_OLD), limit=5, now=T0)
        seen: list[tuple[str, str]] = []
        after = None
        while page := store.totps_to_reseal(key_id=self.K_NEW, after=after, limit=3):
            assert len(page) <= 3
            seen += [(r.user_id, r.id) for r in page]
            after = seen[-1]
        expected = [(u, f) for u in ("alice", "bob", "carol") for f in ("f1", "f2")]
        assert seen == [*expected, ("erin", "p1")]  # pending setups too; never dave's
        assert store.totps_to_reseal(key_id=self.K_NEW, after=("erin", "p1"), limit=3) == []

    def test_reseal_is_a_compare_and_set_on_the_ciphertext(self, store: Store) -> None:
        rec = self._confirmed(store, "alice", "f1", self.K_OLD)
        assert store.apply([self._reseal(rec)]) == [True]
        got = store.get_totp("alice", "f1")
        assert got is not None
        assert (got.secret_key_id, got.secret_blob) == (self.K_NEW, b"\x01" * 48)
        assert got == replace(rec, secret_key_id=self.K_NEW, secret_blob=b"\x01" * 48)
        # The same write again: its old ciphertext is gone, nothing changes.
        assert store.apply([self._reseal(rec, b"\x02" * 48)]) is None
        assert store.get_totp("alice", "f1") == got
        # A deleted record is not brought back.
        store.delete_totp("alice", "f1")
        assert store.apply([self._reseal(rec)]) is None
        assert store.get_totp("alice", "f1") is None

    def test_reseal_keeps_a_step_advanced_meanwhile(self, store: Store) -> None:
        rec = self._confirmed(store, "alice", "f1", self.K_OLD)
        assert store.advance_totp("alice", "f1", step=7, now=T0 + timedelta(seconds=5))
        assert store.apply([self._reseal(rec)]) == [True]  # read before the advance
        got = store.get_totp("alice", "f1")
        assert got is not None and got.last_step == 7 and got.secret_key_id == self.K_NEW
        assert got.last_used_at == T0 + timedelta(seconds=5)
        assert not store.advance_totp("alice", "f1", step=7, now=T0)  # still no replay
        assert store.advance_totp("alice", "f1", step=8, now=T0)

    def test_a_stale_reseal_rolls_its_batch_back(self, store: Store) -> None:
        a = self._confirmed(store, "alice", "f1", self.K_OLD)
        b = self._confirmed(store, "bob", "f1", self.K_OLD)
        stale = replace(b, secret_blob=b"\x09" * 48)
        assert store.apply([self._reseal(a), self._reseal(stale)]) is None
        assert store.get_totp("alice", "f1") == a
        assert store.get_totp("bob", "f1") == b

    def test_reseals_and_advances_race_without_losing_either(self, store: Store) -> None:
        rec = self._confirmed(store, "alice", "f1", self.K_OLD)
        steps = iter(range(2, 2 + THREADS))
        lock = threading.Lock()
        won: list[tuple[int, bool]] = []

        def act() -> bool:
            with lock:
                step = next(steps)
            if step % 2:
                ok = store.apply([self._reseal(rec, bytes([step]) * 48)]) is not None
            else:
                ok = store.advance_totp("alice", "f1", step=step, now=T0)
            with lock:
                won.append((step, ok))
            return ok

        race(THREADS, act)
        got = store.get_totp("alice", "f1")
        assert got is not None and got.secret_key_id == self.K_NEW
        resealed = [step for step, ok in won if ok and step % 2]
        advanced = [step for step, ok in won if ok and not step % 2]
        # Exactly one re-seal won, and its ciphertext is the one stored, whole.
        assert len(resealed) == 1 and got.secret_blob == bytes(resealed) * 48
        # The newest step accepted is the one kept: no re-seal put an older one back.
        assert advanced and got.last_step == max(advanced)

    def test_key_usage_counts_what_names_each_key(self, store: Store) -> None:
        assert store.key_usage(now=T0) == []
        self._confirmed(store, "alice", "f1", self.K_OLD)
        self._confirmed(store, "alice", "f2", self.K_NEW)
        self._confirmed(store, "bob", "f1", self.K_OLD)
        store.put_question(
            QuestionRecord(
                user_id="alice",
                question="Pet?",
                answer_hash=f"$mfk-hmac1${self.K_OLD}$argon2id$v=19$m=1,t=1,p=1$x$y",
                created_at=T0,
            )
        )
        store.put_question(  # a 0.1.0 unkeyed hash names no key
            QuestionRecord(user_id="bob", question="Pet?", answer_hash="$argon2id$x", created_at=T0)
        )
        code: dict[str, Any] = {"code_hash": b"h" * 32, "code_key_id": self.K_NEW}
        store.insert_challenge(challenge_record("open", **code))
        store.insert_challenge(challenge_record("expired", at=T0 - timedelta(hours=1), **code))
        store.insert_challenge(challenge_record("no-code"))
        store.insert_challenge(challenge_record("done", state=State.SUCCEEDED, **code))
        assert store.key_usage(now=T0 + timedelta(minutes=1)) == [
            KeyUse(key_id=self.K_OLD, authenticators=2, security_answers=1),
            KeyUse(key_id=self.K_NEW, authenticators=1, open_challenges=1),
        ]


class ConcurrencyContract:
    """Atomic operations hammered from threads: exactly one winner each."""

    def test_one_thread_consumes_a_backup_code(self, store: Store) -> None:
        store.replace_backup_codes("alice", backup_codes())
        wins = race(THREADS, lambda: store.use_backup_code("alice", "05", now=T0))
        assert wins.count(True) == 1
        assert store.count_backup_codes("alice") == 9

    def test_one_thread_advances_a_totp_step(self, store: Store) -> None:
        store.add_totp(totp_record(), limit=5, now=T0)
        store.confirm_totp("alice", "f1", step=1, now=T0, backup_codes=None)
        wins = race(THREADS, lambda: store.advance_totp("alice", "f1", step=2, now=T0))
        assert wins.count(True) == 1

    def test_one_thread_confirms_a_setup(self, store: Store) -> None:
        store.add_totp(totp_record(), limit=5, now=T0)
        wins = race(
            THREADS, lambda: store.confirm_totp("alice", "f1", step=1, now=T0, backup_codes=None)
        )
        assert wins.count(True) == 1

    def test_one_thread_wins_a_challenge(self, store: Store) -> None:
        rec = challenge_record()
        store.insert_challenge(rec)
        wins = race(THREADS, lambda: store.update_challenge(replace(rec, state=State.SUCCEEDED)))
        assert wins.count(True) == 1

    def test_counter_increments_are_never_lost(self, store: Store) -> None:
        def increment() -> bool:
            while True:
                cur = store.get_counter("hits")
                base = cur or Counter(key="hits", count=0, window_start=T0, updated_at=T0)
                if store.put_counter(replace(base, count=base.count + 1)):
                    return True

        assert race(THREADS, increment).count(True) == THREADS
        got = store.get_counter("hits")
        assert got is not None and got.count == THREADS


def _state_of(store: Store, user_id: str = "alice") -> tuple[Any, ...]:
    """Everything the unit-of-work tests change, read back through the port."""
    return (
        store.load_user(user_id, counters=("n:",)),
        store.get_challenge("c1"),
        store.get_challenge("c2"),
        store.list_devices(user_id),
        store.get_counter("hits"),
    )


def _counter(key: str, count: int, version: int = 0) -> Counter:
    return Counter(key=key, count=count, window_start=T0, updated_at=T0, version=version)


class UnitOfWorkContract:
    """`apply`: a batch of writes commits whole, or (a condition false) not at
    all; `load_user` / `load_challenge` read everything in one call."""

    def test_results_one_per_write(self, store: Store) -> None:
        store.insert_device(device_record("d1"))
        results = store.apply(
            [
                w.PutCounter(_counter("hits", 1)),
                w.InsertChallenge(challenge_record()),
                w.BumpSecurityVersion("alice", T0),
                w.BumpSecurityVersion("alice", T0),
                w.RevokeDevices("alice", T0),
                w.PutContact(
                    ContactRecord(
                        user_id="alice",
                        kind=ContactKind.EMAIL,
                        value="a@example.org",
                        created_at=T0,
                    )
                ),
            ]
        )
        assert results == [True, None, 1, 2, 1, None]
        got = store.get_counter("hits")
        assert got is not None and (got.count, got.version) == (1, 1)
        assert store.get_challenge("c1") is not None

    def test_empty_batch_is_a_no_op(self, store: Store) -> None:
        assert store.apply([]) == []

    @pytest.mark.parametrize(
        "failing",
        [
            "advance_unconfirmed",
            "use_missing_code",
            "stale_counter",
            "stale_expectation",
            "counter_expected_absent",
            "stale_challenge",
            "delete_missing_contact",
            "delete_missing_totp",
            "touch_revoked_device",
            "confirm_twice",
            "totp_over_limit",
        ],
    )
    def test_a_false_condition_rolls_everything_back(self, store: Store, failing: str) -> None:
        # State before: a confirmed authenticator, codes, a challenge, a device.
        store.add_totp(totp_record(), limit=5, now=T0)
        store.confirm_totp("alice", "f1", step=5, now=T0, backup_codes=backup_codes(n=3))
        store.add_totp(totp_record(factor_id="p1"), limit=5, now=T0)
        store.insert_challenge(challenge_record())
        store.insert_device(device_record("d1"))
        store.revoke_device("alice", "d1", now=T0)
        store.insert_device(device_record("d2"))
        store.put_counter(_counter("hits", 3))
        store.put_counter(_counter("n:alice", 1))
        before = _state_of(store)
        writes: dict[str, w.Write] = {
            "advance_unconfirmed": w.AdvanceTotp("alice", "p1", 9, T0),
            "use_missing_code": w.UseBackupCode("alice", "zz", T0),
            "stale_counter": w.PutCounter(_counter("hits", 9, version=0)),
            "stale_expectation": w.ExpectCounter("hits", 0),
            "counter_expected_absent": w.ExpectCounter("nope", 1),
            "stale_challenge": w.UpdateChallenge(
                replace(challenge_record(), state=State.SUCCEEDED, version=7)
            ),
            "delete_missing_contact": w.DeleteContact("alice", ContactKind.PHONE),
            "delete_missing_totp": w.DeleteTotp("alice", "nope"),
            "touch_revoked_device": w.TouchDevice("alice", "d1", T0),
            "confirm_twice": w.ConfirmTotp("alice", "f1", 9, T0),
            "totp_over_limit": w.AddTotp(totp_record(factor_id="x"), 2, T0),
        }
        failing_write = writes[failing]
        batch: list[w.Write] = [
            # One write of every unconditional kind, and conditional ones that hold...
            w.AdvanceTotp("alice", "f1", 6, T0),
            w.UseBackupCode("alice", "01", T0),
            w.PutCounter(_counter("n:alice", 2, version=1)),
            w.ExpectCounter("hits", 1),
            w.ExpectCounter("nope", 0),
            w.UpdateChallenge(replace(challenge_record(), attempts=1)),
            w.InsertChallenge(challenge_record("c2")),
            w.ReplaceBackupCodes("alice", backup_codes(n=1)),
            w.PutContact(
                ContactRecord(
                    user_id="alice",
                    kind=ContactKind.EMAIL,
                    value="a@example.org",
                    created_at=T0,
                    verified_at=T0,
                )
            ),
            w.PutQuestion(
                QuestionRecord(user_id="alice", question="Q?", answer_hash="$h", created_at=T0)
            ),
            w.InsertDevice(device_record("d3")),
            w.RevokeDevices("alice", T0),
            w.BumpSecurityVersion("alice", T0),
            w.SetPreferredMethod("alice", Method.TOTP, T0),
            w.SetLocale("alice", "de", T0),
            w.RenameTotp("alice", "f1", "Renamed"),
            # ...then the one that does not.
            failing_write,
        ]
        assert store.apply(batch) is None
        assert _state_of(store) == before

    @pytest.mark.parametrize("failing_at", [None, 0, 1, 2, 3])
    def test_a_batch_of_one_row_writes_commits_whole_or_not_at_all(
        self, store: Store, failing_at: int | None
    ) -> None:
        """One-row writes on different tables, the shape of a verification's
        batch (which a SQL store may send as one statement): the one whose
        condition is false may come first, in the middle or last."""
        store.add_totp(totp_record(), limit=5, now=T0)
        store.confirm_totp("alice", "f1", step=5, now=T0, backup_codes=backup_codes(n=3))
        store.insert_challenge(challenge_record())
        store.put_counter(_counter("hits", 3))
        before = _state_of(store)
        holds: list[w.Write] = [
            w.UpdateChallenge(replace(challenge_record(), attempts=1)),
            w.AdvanceTotp("alice", "f1", 6, T0),
            w.UseBackupCode("alice", "01", T0),
            w.PutCounter(_counter("hits", 4, version=1)),
        ]
        fails: list[w.Write] = [
            w.UpdateChallenge(replace(challenge_record(), attempts=1, version=7)),
            w.AdvanceTotp("alice", "f1", 5, T0),  # not after the last step used
            w.UseBackupCode("alice", "zz", T0),
            w.PutCounter(_counter("hits", 4, version=9)),
        ]
        batch = list(holds)
        if failing_at is None:
            assert store.apply(batch) == [True, True, True, True]
            after = store.load_user("alice")
            assert (after.totps[0].last_step, after.backup_codes_left) == (6, 2)
            got = store.get_challenge("c1")
            assert got is not None and got.attempts == 1
            counter = store.get_counter("hits")
            assert counter is not None and (counter.count, counter.version) == (4, 2)
            return
        batch[failing_at] = fails[failing_at]
        assert store.apply(batch) is None
        assert _state_of(store) == before

    @pytest.mark.parametrize("expected", [1, 0])
    def test_an_expectation_guards_a_batch_of_one_row_writes(
        self, store: Store, expected: int
    ) -> None:
        store.add_totp(totp_record(), limit=5, now=T0)
        store.confirm_totp("alice", "f1", step=5, now=T0, backup_codes=None)
        store.insert_challenge(challenge_record())
        store.put_counter(_counter("hits", 3))  # version 1
        before = _state_of(store)
        batch: list[w.Write] = [
            w.ExpectCounter("hits", expected),
            w.AdvanceTotp("alice", "f1", 6, T0),
            w.UpdateChallenge(replace(challenge_record(), state=State.SUCCEEDED)),
        ]
        if expected == 1:
            assert store.apply(batch) == [True, True, True]
            got = store.get_challenge("c1")
            assert got is not None and got.state is State.SUCCEEDED
            assert store.load_user("alice").totps[0].last_step == 6
        else:
            assert store.apply(batch) is None
            assert _state_of(store) == before

    def test_clear_factors_rolls_back_too(self, store: Store) -> None:
        store.add_totp(totp_record(), limit=5, now=T0)
        store.confirm_totp("alice", "f1", step=5, now=T0, backup_codes=backup_codes(n=3))
        store.put_contact(
            ContactRecord(
                user_id="alice",
                kind=ContactKind.PHONE,
                value="+14155550101",
                created_at=T0,
                verified_at=T0,
            )
        )
        before = _state_of(store)
        # DeleteTotp finds nothing: ClearFactors removed it first.
        batch: list[w.Write] = [w.ClearFactors("alice"), w.DeleteTotp("alice", "f1")]
        assert store.apply(batch) is None
        assert _state_of(store) == before
        assert store.apply([w.ClearFactors("alice")]) == [None]
        after = store.load_user("alice")
        assert after.totps == () and after.backup_codes_left == 0
        assert [c.verified for c in after.contacts] == [False]

    def test_set_locale_keeps_the_rest_of_the_state(self, store: Store) -> None:
        assert store.apply([w.SetLocale("alice", "pt-br", T0)]) == [None]
        state = store.get_user_state("alice")
        assert state is not None
        assert (state.locale, state.security_version, state.preferred_method) == ("pt-br", 0, None)
        assert state.updated_at == T0
        store.bump_security_version("alice", now=T0)
        store.set_preferred_method("alice", Method.SMS, now=T0)
        later = T0 + timedelta(minutes=1)
        assert store.apply([w.SetLocale("alice", "de", later)]) == [None]
        state = store.get_user_state("alice")
        assert state is not None and state.updated_at == later
        assert (state.locale, state.security_version, state.preferred_method) == (
            "de",
            1,
            Method.SMS,
        )
        # The one-query snapshot reads it too; another user's state is untouched.
        assert store.load_user("alice").state == state
        assert store.get_user_state("bob") is None
        store.set_preferred_method("alice", None, now=later)
        store.bump_security_version("alice", now=later)
        again = store.get_user_state("alice")
        assert again is not None and again.locale == "de"
        assert store.apply([w.SetLocale("alice", None, later)]) == [None]
        cleared = store.get_user_state("alice")
        assert cleared is not None and cleared.locale is None and cleared.security_version == 2

    def test_a_batch_of_one_conditional_write(self, store: Store) -> None:
        assert store.apply([w.AdvanceTotp("alice", "f1", 1, T0)]) is None
        assert store.apply([w.PutCounter(_counter("hits", 1))]) == [True]
        assert store.apply([w.PutCounter(_counter("hits", 1))]) is None

    def test_expect_counter_is_a_condition_without_a_write(self, store: Store) -> None:
        store.add_totp(totp_record(), limit=5, now=T0)
        store.confirm_totp("alice", "f1", step=5, now=T0, backup_codes=None)
        store.insert_challenge(challenge_record())
        assert store.apply([w.ExpectCounter("hits", 0)]) == [True]  # absent: version 0
        assert store.apply([w.ExpectCounter("hits", 1)]) is None
        store.put_counter(_counter("hits", 0))  # stored at version 1
        step = w.AdvanceTotp("alice", "f1", 6, T0)
        assert store.apply([step, w.ExpectCounter("hits", 0)]) is None
        assert store.apply([w.ExpectCounter("hits", 0), step]) is None
        totp = store.get_totp("alice", "f1")
        assert totp is not None and totp.last_step == 5
        assert store.apply([step, w.ExpectCounter("hits", 1)]) == [True, True]
        totp = store.get_totp("alice", "f1")
        assert totp is not None and totp.last_step == 6
        moved = w.UpdateChallenge(replace(challenge_record(), attempts=1))
        assert store.apply([moved, w.ExpectCounter("hits", 2)]) is None
        got = store.get_challenge("c1")
        assert got is not None and (got.attempts, got.version) == (0, 0)
        assert store.apply([moved, w.ExpectCounter("hits", 1)]) == [True, True]
        got = store.get_challenge("c1")
        assert got is not None and (got.attempts, got.version) == (1, 1)
        # Nothing was written to the counter itself.
        counter = store.get_counter("hits")
        assert counter is not None and (counter.count, counter.version) == (0, 1)

    def test_not_a_write_is_a_storage_error(self, store: Store) -> None:
        with pytest.raises(StorageError):
            store.apply([("not", "a", "write")])  # type: ignore[list-item]
        assert store.get_counter("hits") is None

    def test_duplicate_insert_fails_the_batch(self, store: Store) -> None:
        store.insert_challenge(challenge_record())
        with pytest.raises(StorageError):
            store.apply([w.PutCounter(_counter("hits", 1)), w.InsertChallenge(challenge_record())])
        assert store.get_counter("hits") is None

    def test_load_user_reads_everything(self, store: Store) -> None:
        empty = store.load_user("alice", counters=("n:",))
        assert empty.user_id == "alice"
        assert (empty.totps, empty.contacts, empty.backup_codes_left) == ((), (), 0)
        assert (empty.question, empty.state, dict(empty.counters)) == (None, None, {})
        store.add_totp(totp_record(), limit=5, now=T0)
        store.confirm_totp("alice", "f1", step=5, now=T0, backup_codes=backup_codes(n=4))
        store.add_totp(totp_record(factor_id="f0", at=T0 + timedelta(seconds=1)), limit=5, now=T0)
        store.use_backup_code("alice", "02", now=T0)
        email = ContactRecord(
            user_id="alice",
            kind=ContactKind.EMAIL,
            value="a@example.org",
            created_at=T0,
            verified_at=T0,
        )
        phone = ContactRecord(
            user_id="alice", kind=ContactKind.PHONE, value="+14155550101", created_at=T0
        )
        store.put_contact(phone)
        store.put_contact(email)
        question = QuestionRecord(user_id="alice", question="Q?", answer_hash="$h", created_at=T0)
        store.put_question(question)
        store.bump_security_version("alice", now=T0)
        store.set_preferred_method("alice", Method.SMS, now=T0)
        store.put_counter(_counter("n:alice", 2))
        store.put_counter(_counter("n:bob", 5))
        store.put_counter(_counter("m:alice", 7))
        # Another user's rows never leak in.
        store.add_totp(totp_record("bob", "fb"), limit=5, now=T0)
        store.put_contact(replace(email, user_id="bob"))
        got = store.load_user("alice", counters=("n:", "x:"))
        assert got.totps == tuple(store.list_totp("alice"))
        assert [t.id for t in got.totps] == ["f1", "f0"]
        assert got.totps[0].secret_blob == bytes(range(48))
        assert got.contacts == tuple(store.get_contacts("alice"))
        assert got.backup_codes_left == 3
        assert got.question == question
        assert got.state == store.get_user_state("alice")
        assert got.state is not None and got.state.preferred_method is Method.SMS
        assert dict(got.counters) == {"n:alice": store.get_counter("n:alice")}
        assert got.counter("n:") == store.get_counter("n:alice")
        assert got.counter("x:") is None
        assert store.load_user("alice").counters == {}

    def test_load_challenge_reads_it_with_its_user(self, store: Store) -> None:
        assert store.load_challenge("c1", counters=("n:",)) is None
        rec = challenge_record(
            code_hash=b"\x00h",
            code_key_id="k",
            code_sent_at=T0,
            destination="+14155550101",
            code_length=6,
            sends=1,
            alternatives_locked=True,
            target_kind=ContactKind.PHONE,
            target_value="+14155550199",
            actor_id="admin",
            tenant="t1",
        )
        store.insert_challenge(rec)
        store.add_totp(totp_record(), limit=5, now=T0)
        store.put_counter(_counter("n:alice", 2))
        store.put_counter(_counter("n:bob", 9))
        found = store.load_challenge("c1", counters=("n:",))
        assert found is not None
        challenge, snapshot = found
        assert challenge == store.get_challenge("c1")
        assert challenge.code_hash == b"\x00h" and challenge.alternatives_locked
        assert snapshot == store.load_user("alice", counters=("n:",))
        assert snapshot.counter("n:") == store.get_counter("n:alice")
        _, bare = store.load_challenge("c1") or (None, None)
        assert bare is not None and bare.counters == {}

    def test_batches_race_without_lost_or_partial_updates(self, store: Store) -> None:
        # Each thread adds one to a counter AND trusts a device, as one batch,
        # retrying on a lost race: both land THREADS times, never one alone.
        def both() -> bool:
            device_id = f"d-{threading.get_ident()}"
            while True:
                cur = store.get_counter("hits") or _counter("hits", 0)
                batch: list[w.Write] = [
                    w.InsertDevice(device_record(device_id)),
                    w.PutCounter(replace(cur, count=cur.count + 1)),
                ]
                if store.apply(batch) is not None:
                    return True

        assert race(THREADS, both).count(True) == THREADS
        got = store.get_counter("hits")
        assert got is not None and got.count == THREADS
        assert len(store.list_devices("alice")) == THREADS


class RetentionContract:
    """`purge`: what no longer matters goes, in bounded batches; a lock-out
    and everything still live stay."""

    def _fill(self, store: Store) -> None:
        day = timedelta(days=1)
        old, new = T0 - 3 * day, T0
        for n in range(3):  # expired long ago, and a live one
            store.insert_challenge(challenge_record(f"old{n}", at=old))
        store.insert_challenge(challenge_record("live", at=new))
        for key, count, at in (
            ("sends:+14155550101", 4, old),  # a send window long over
            ("failures:alice", 0, old),  # cleared long ago
            ("failures:bob", 60, old),  # a lock-out: kept however old
            ("failures:carol", 2, new),  # recent
        ):
            store.put_counter(Counter(key=key, count=count, window_start=at, updated_at=at))
        store.insert_device(device_record("gone", at=old - 20 * day))  # expired
        store.insert_device(device_record("revoked", at=old))
        store.revoke_device("alice", "revoked", now=old)
        store.insert_device(device_record("live", at=new))
        store.add_totp(totp_record(factor_id="stale", at=old), limit=5, now=old)
        store.add_totp(totp_record(factor_id="kept", at=old), limit=5, now=old)
        store.confirm_totp("alice", "kept", step=1, now=old, backup_codes=backup_codes(n=3))
        store.use_backup_code("alice", "01", now=old)

    def test_purge_removes_what_no_longer_matters(self, store: Store) -> None:
        self._fill(store)
        before = T0 - timedelta(days=1)
        assert store.purge(before=before, keep_nonzero=("failures:",), limit=100) == 9
        assert store.purge(before=before, keep_nonzero=("failures:",), limit=100) == 0
        assert store.get_challenge("live") is not None
        assert all(store.get_challenge(f"old{n}") is None for n in range(3))
        assert store.get_counter("sends:+14155550101") is None
        assert store.get_counter("failures:alice") is None
        assert store.get_counter("failures:bob") is not None
        assert store.get_counter("failures:carol") is not None
        assert [d.id for d in store.list_devices("alice")] == ["live"]
        assert [t.id for t in store.list_totp("alice")] == ["kept"]
        assert store.count_backup_codes("alice") == 2
        assert store.get_backup_code("alice", "00") is not None

    def test_purge_works_in_bounded_batches(self, store: Store) -> None:
        self._fill(store)
        before = T0 - timedelta(days=1)
        batches = []
        while True:
            gone = store.purge(before=before, keep_nonzero=("failures:",), limit=1)
            if not gone:
                break
            assert gone <= 5  # at most one row of each kind
            batches.append(gone)
        assert sum(batches) == 9 and len(batches) >= 3

    def test_without_keep_a_lock_out_counter_is_purged_too(self, store: Store) -> None:
        self._fill(store)
        store.purge(before=T0 - timedelta(days=1), limit=100)
        assert store.get_counter("failures:bob") is None


def notice_record(
    notice_id: str = "n1", user_id: str = "alice", *, at: datetime = T0, **changes: Any
) -> NoticeRecord:
    """A queued notice, claimed by the request that queued it (as mfakit queues one)."""
    rec = NoticeRecord(
        id=notice_id,
        user_id=user_id,
        kind="factor_removed",
        channel=ContactKind.EMAIL,
        destination="alice@example.com",
        detail="phone •••• ••0101 “Ünïcode”",
        locale="pt_BR",
        created_at=at,
        attempts=1,
        next_attempt_at=at + timedelta(minutes=5),
    )
    return replace(rec, **changes) if changes else rec


class NoticeContract:
    """The notice outbox: `QueueNotice` / `ClaimNotice` / `DeleteNotice`
    and `pending_notices`; a queued notice commits with its batch or not at
    all, and one claim wins."""

    def test_queue_round_trips_every_field_once_due(self, store: Store) -> None:
        rec = notice_record()
        phone = notice_record(
            "n2", channel=ContactKind.PHONE, destination="+14155550101", detail="", locale=None
        )
        assert store.apply([w.QueueNotice(rec), w.QueueNotice(phone)]) == [None, None]
        assert store.pending_notices(now=T0, limit=10) == []  # claimed: not due yet
        due = T0 + timedelta(minutes=5)
        assert store.pending_notices(now=due, limit=10) == [rec, phone]
        assert store.pending_notices(now=due, limit=1) == [rec]
        assert "alice@example.com" not in repr(rec)

    def test_pending_is_longest_due_first(self, store: Store) -> None:
        late = notice_record("a", next_attempt_at=T0 + timedelta(hours=2))
        early = notice_record("b", next_attempt_at=T0 + timedelta(hours=1))
        store.apply([w.QueueNotice(late), w.QueueNotice(early)])
        found = store.pending_notices(now=T0 + timedelta(hours=3), limit=10)
        assert [n.id for n in found] == ["b", "a"]
        assert [n.id for n in store.pending_notices(now=T0 + timedelta(hours=1), limit=10)] == ["b"]

    def test_claim_is_compare_and_set_on_attempts(self, store: Store) -> None:
        store.apply([w.QueueNotice(notice_record())])
        later = T0 + timedelta(minutes=10)
        assert store.apply([w.ClaimNotice("n1", 0, later)]) is None  # stale count
        assert store.apply([w.ClaimNotice("missing", 1, later)]) is None
        assert store.apply([w.ClaimNotice("n1", 1, later)]) == [True]
        assert store.apply([w.ClaimNotice("n1", 1, later)]) is None  # claimed already
        assert store.pending_notices(now=later - timedelta(seconds=1), limit=10) == []
        (claimed,) = store.pending_notices(now=later, limit=10)
        assert claimed.attempts == 2 and claimed.next_attempt_at == later

    def test_delete_removes_and_tolerates_a_missing_notice(self, store: Store) -> None:
        store.apply([w.QueueNotice(notice_record())])
        assert store.apply([w.DeleteNotice("n1")]) == [None]
        assert store.apply([w.DeleteNotice("n1")]) == [None]
        assert store.pending_notices(now=T0 + timedelta(days=1), limit=10) == []

    def test_duplicate_id_is_a_storage_error(self, store: Store) -> None:
        store.apply([w.QueueNotice(notice_record())])
        with pytest.raises(StorageError):
            store.apply([w.QueueNotice(notice_record())])

    def test_a_notice_commits_with_its_batch_or_not_at_all(self, store: Store) -> None:
        store.put_contact(
            ContactRecord(
                user_id="alice", kind=ContactKind.PHONE, value="+14155550101", created_at=T0
            )
        )
        batch: list[w.Write] = [
            w.DeleteContact("alice", ContactKind.PHONE),
            w.BumpSecurityVersion("alice", T0),
            w.QueueNotice(notice_record()),
            w.DeleteContact("alice", ContactKind.EMAIL),  # none: the batch rolls back
        ]
        assert store.apply(batch) is None
        assert store.pending_notices(now=T0 + timedelta(days=1), limit=10) == []
        assert store.get_user_state("alice") is None
        assert store.apply(batch[:3]) is not None
        assert len(store.pending_notices(now=T0 + timedelta(days=1), limit=10)) == 1
        assert store.get_contacts("alice") == []

    def test_one_thread_claims_a_notice(self, store: Store) -> None:
        store.apply([w.QueueNotice(notice_record())])
        later = T0 + timedelta(minutes=10)
        wins = race(THREADS, lambda: store.apply([w.ClaimNotice("n1", 1, later)]) is not None)
        assert wins.count(True) == 1

    def test_purge_drops_notices_queued_before(self, store: Store) -> None:
        day = timedelta(days=1)
        store.apply(
            [w.QueueNotice(notice_record("old", at=T0 - 3 * day)), w.QueueNotice(notice_record())]
        )
        assert store.purge(before=T0 - day, limit=100) == 1
        assert [n.id for n in store.pending_notices(now=T0 + day, limit=10)] == ["n1"]


class FirstFactorContract:
    """`RequireNoFactor`: a batch binding a first factor goes on only while
    the user has none, so of concurrent first enrolments exactly one commits."""

    def test_pending_setups_and_unverified_contacts_are_no_factor(self, store: Store) -> None:
        assert store.apply([w.RequireNoFactor("alice")]) == [True]
        store.add_totp(totp_record(), limit=5, now=T0)
        store.put_contact(
            ContactRecord(user_id="alice", kind=ContactKind.EMAIL, value="a@x.org", created_at=T0)
        )
        assert store.apply([w.RequireNoFactor("alice")]) == [True]

    @pytest.mark.parametrize("factor", ["totp", "contact"])
    def test_a_factor_rolls_the_batch_back(self, store: Store, factor: str) -> None:
        if factor == "totp":
            store.add_totp(totp_record(), limit=5, now=T0)
            store.confirm_totp("alice", "f1", step=1, now=T0, backup_codes=None)
        else:
            store.put_contact(
                ContactRecord(
                    user_id="alice",
                    kind=ContactKind.PHONE,
                    value="+14155550101",
                    created_at=T0,
                    verified_at=T0,
                )
            )
        batch: list[w.Write] = [
            w.ReplaceBackupCodes("alice", backup_codes()),
            w.RequireNoFactor("alice"),
        ]
        assert store.apply(batch) is None
        assert store.count_backup_codes("alice") == 0
        assert store.apply([w.RequireNoFactor("bob")]) == [True]  # per user

    def test_concurrent_first_enrolments_issue_codes_once(self, store: Store) -> None:
        for n in range(THREADS):
            store.add_totp(totp_record(factor_id=f"f{n}"), limit=THREADS + 1, now=T0)
        turn = iter(range(THREADS))
        lock = threading.Lock()

        def enrol() -> bool:
            with lock:
                n = next(turn)
            codes = [replace(c, hash=f"$set{n}") for c in backup_codes()]
            bind: w.Write
            if n % 2:
                bind = w.ConfirmTotp("alice", f"f{n}", 1, T0)
            else:
                phone = ContactRecord(
                    user_id="alice",
                    kind=ContactKind.PHONE,
                    value=f"+1415555{n:04d}",
                    created_at=T0,
                    verified_at=T0,
                )
                bind = w.PutContact(phone)
            batch = [w.RequireNoFactor("alice"), bind, w.ReplaceBackupCodes("alice", codes)]
            return store.apply(batch) is not None

        wins = race(THREADS, enrol)
        assert wins.count(True) == 1
        snapshot = store.load_user("alice")
        bound = [t for t in snapshot.totps if t.confirmed] + [
            c for c in snapshot.contacts if c.verified
        ]
        assert len(bound) == 1
        hashes = {
            c.hash
            for c in (store.get_backup_code("alice", f"{i:02d}") for i in range(10))
            if c is not None
        }
        assert len(hashes) == 1 and snapshot.backup_codes_left == 10


def credential_record(
    factor_id: str = "p1", user_id: str = "alice", **changes: Any
) -> WebAuthnCredentialRecord:
    """A WebAuthn credential with every field set away from its default."""
    values: dict[str, Any] = {
        "id": factor_id,
        "user_id": user_id,
        "credential_id": f"cred-{user_id}-{factor_id}".encode() + b"\x00\xff",
        "public_key": b"\xa5\x01\x02\x03\x26" + factor_id.encode(),
        "user_handle": (user_id.encode() * 64)[:64],
        "name": f"Key {factor_id}",
        "sign_count": 7,
        "transports": ("usb", "nfc"),
        "aaguid": "ee882879-721c-4913-9775-3dfcce97072a",
        "attestation_format": "packed",
        "backup_eligible": True,
        "backed_up": True,
        "discoverable": Discoverable.YES,
        "usage": frozenset({CredentialUsage.SECOND_FACTOR, CredentialUsage.PASSWORDLESS}),
        "user_verified": True,
        "created_at": T0,
    }
    values.update(changes)
    return WebAuthnCredentialRecord(**values)


def ceremony_record(ceremony_id: str = "cer1", **changes: Any) -> CeremonyRecord:
    """A pending ceremony with every field set away from its default."""
    values: dict[str, Any] = {
        "id": ceremony_id,
        "kind": CeremonyKind.REGISTER,
        "user_id": "alice",
        "challenge": bytes(range(32)),
        "rp_id": "example.com",
        "created_at": T0,
        "expires_at": T0 + timedelta(minutes=2),
        "user_verification": UserVerification.REQUIRED,
        "allowed_credential_ids": (b"\x00\x01", b"\xff" * 40),
        "user_handle": b"\x07" * 64,
        "name": "Laptop",
        "usage": frozenset({CredentialUsage.SECOND_FACTOR, CredentialUsage.PASSWORDLESS}),
        "conditional": True,
        "challenge_id": "ch1",
        "actor_id": "admin",
        "tenant": "acme",
    }
    values.update(changes)
    return CeremonyRecord(**values)


class CredentialContract:
    """WebAuthn credentials and user handles: unique ids, names, compare-and-set."""

    def test_insert_round_trips_every_field(self, store: Store) -> None:
        rec = credential_record()
        assert store.apply([w.InsertCredential(rec, 10)]) == [True]
        assert store.get_credential(rec.credential_id) == rec
        assert store.list_credentials("alice") == [rec]
        assert store.load_user("alice").webauthn == (rec,)
        assert store.get_credential(b"no such credential") is None
        assert store.list_credentials("bob") == [] and store.load_user("bob").webauthn == ()

    def test_a_credential_id_is_unique_across_users(self, store: Store) -> None:
        rec = credential_record()
        assert store.apply([w.InsertCredential(rec, 10)]) == [True]
        stolen = credential_record("p9", "bob", credential_id=rec.credential_id)
        assert store.apply([w.InsertCredential(stolen, 10)]) is None
        assert store.list_credentials("bob") == []
        found = store.get_credential(rec.credential_id)
        assert found is not None and found.user_id == "alice"

    def test_names_are_unique_per_user_and_the_limit_holds(self, store: Store) -> None:
        assert store.apply([w.InsertCredential(credential_record("p1"), 2)]) == [True]
        same_name = credential_record("p2", name="Key p1")
        assert store.apply([w.InsertCredential(same_name, 2)]) is None
        assert store.apply([w.InsertCredential(credential_record("p1", "bob"), 2)]) == [True]
        assert store.apply([w.InsertCredential(credential_record("p2"), 2)]) == [True]
        assert store.apply([w.InsertCredential(credential_record("p3"), 2)]) is None
        listed = store.list_credentials("alice")
        assert [c.id for c in listed] == ["p1", "p2"]

    def test_list_is_oldest_first(self, store: Store) -> None:
        later = credential_record("p1", created_at=T0 + timedelta(minutes=1))
        store.apply([w.InsertCredential(later, 10)])
        store.apply([w.InsertCredential(credential_record("p2"), 10)])
        assert [c.id for c in store.list_credentials("alice")] == ["p2", "p1"]
        assert [c.id for c in store.load_user("alice").webauthn] == ["p2", "p1"]

    def test_update_is_compare_and_set_on_the_use_fields(self, store: Store) -> None:
        rec = credential_record()
        store.apply([w.InsertCredential(rec, 10)])
        used = rec.with_(
            sign_count=9, backed_up=False, last_used_at=T0 + timedelta(hours=1), cloned=True
        )
        assert store.apply([w.UpdateCredential(used)]) == [True]
        got = store.get_credential(rec.credential_id)
        assert got == used.with_(version=1)
        assert store.apply([w.UpdateCredential(used.with_(sign_count=10))]) is None
        got = store.get_credential(rec.credential_id)
        assert got is not None and got.sign_count == 9
        # Only the use fields change: a forged name or key in the record is ignored.
        forged = got.with_(name="Evil", public_key=b"other", sign_count=11)
        assert store.apply([w.UpdateCredential(forged)]) == [True]
        got = store.get_credential(rec.credential_id)
        assert got is not None and got.name == rec.name and got.public_key == rec.public_key
        assert got.sign_count == 11 and got.version == 2

    def test_rename_and_delete(self, store: Store) -> None:
        store.apply([w.InsertCredential(credential_record("p1"), 10)])
        store.apply([w.InsertCredential(credential_record("p2"), 10)])
        assert store.apply([w.RenameCredential("alice", "p1", "Phone")]) == [True]
        assert store.apply([w.RenameCredential("alice", "p1", "Phone")]) == [True]
        assert store.apply([w.RenameCredential("alice", "p2", "Phone")]) is None
        assert store.apply([w.RenameCredential("bob", "p1", "Mine")]) is None
        assert store.apply([w.RenameCredential("alice", "nope", "X")]) is None
        assert [c.name for c in store.list_credentials("alice")] == ["Phone", "Key p2"]
        assert store.apply([w.DeleteCredential("bob", "p1")]) is None
        assert store.apply([w.DeleteCredential("alice", "p1")]) == [True]
        assert store.apply([w.DeleteCredential("alice", "p1")]) is None
        assert store.get_credential(credential_record("p1").credential_id) is None
        assert [c.id for c in store.list_credentials("alice")] == ["p2"]
        # The id is free again, for anyone.
        again = credential_record("p7", "bob", credential_id=credential_record("p1").credential_id)
        assert store.apply([w.InsertCredential(again, 10)]) == [True]

    def test_clear_factors_removes_credentials(self, store: Store) -> None:
        store.apply([w.InsertCredential(credential_record("p1"), 10)])
        store.apply([w.InsertCredential(credential_record("p1", "bob"), 10)])
        store.clear_factors("alice")
        assert store.list_credentials("alice") == []
        assert store.get_credential(credential_record("p1").credential_id) is None
        assert len(store.list_credentials("bob")) == 1

    def test_a_failed_batch_inserts_no_credential(self, store: Store) -> None:
        batch: list[w.Write] = [
            w.InsertCredential(credential_record("p1"), 10),
            w.UseBackupCode("alice", "nope", T0),
        ]
        assert store.apply(batch) is None
        assert store.list_credentials("alice") == []

    def test_user_handles_are_set_once_and_map_back(self, store: Store) -> None:
        handle = b"\x42" * 64
        assert store.get_user_handle("alice") is None
        assert store.apply([w.SetUserHandle("alice", handle, T0)]) == [True]
        assert store.apply([w.SetUserHandle("alice", b"\x43" * 64, T0)]) is None
        assert store.apply([w.SetUserHandle("bob", handle, T0)]) is None
        assert store.get_user_handle("alice") == handle
        assert store.user_for_handle(handle) == "alice"
        assert store.user_for_handle(b"\x43" * 64) is None
        assert store.get_user_handle("bob") is None

    def test_one_thread_sets_the_user_handle(self, store: Store) -> None:
        handles = iter(bytes([i]) * 64 for i in range(THREADS))
        lock = threading.Lock()

        def set_handle() -> bool:
            with lock:
                handle = next(handles)
            return store.apply([w.SetUserHandle("alice", handle, T0)]) is not None

        assert race(THREADS, set_handle).count(True) == 1
        handle = store.get_user_handle("alice")
        assert handle is not None and store.user_for_handle(handle) == "alice"

    def test_one_thread_wins_a_sign_count_update(self, store: Store) -> None:
        rec = credential_record()
        store.apply([w.InsertCredential(rec, 10)])
        wins = race(
            THREADS, lambda: store.apply([w.UpdateCredential(rec.with_(sign_count=8))]) is not None
        )
        assert wins.count(True) == 1

    def test_one_thread_registers_a_credential_id(self, store: Store) -> None:
        ids = iter(range(THREADS))
        lock = threading.Lock()
        cid = b"the same authenticator"

        def register() -> bool:
            with lock:
                n = next(ids)
            rec = credential_record(f"p{n}", f"user{n}", credential_id=cid)
            return store.apply([w.InsertCredential(rec, 10)]) is not None

        assert race(THREADS, register).count(True) == 1
        found = store.get_credential(cid)
        assert found is not None and len(store.list_credentials(found.user_id)) == 1


class CeremonyContract:
    """Pending WebAuthn ceremonies: stored, replaced, taken exactly once."""

    def test_put_and_get_round_trip_every_field(self, store: Store) -> None:
        rec = ceremony_record()
        store.apply([w.PutCeremony(rec)])
        assert store.get_ceremony("cer1") == rec
        bare = ceremony_record(
            "cer2",
            kind=CeremonyKind.PASSWORDLESS,
            user_id=None,
            allowed_credential_ids=(),
            user_handle=None,
            name=None,
            usage=frozenset(),
            conditional=False,
            challenge_id=None,
            actor_id=None,
            tenant=None,
        )
        store.apply([w.PutCeremony(bare)])
        assert store.get_ceremony("cer2") == bare
        assert store.get_ceremony("nope") is None

    def test_take_returns_it_once(self, store: Store) -> None:
        rec = ceremony_record()
        store.apply([w.PutCeremony(rec)])
        later = T0 + timedelta(seconds=5)
        assert store.take_ceremony("cer1", now=later) == rec
        assert store.take_ceremony("cer1", now=later) is None
        taken = store.get_ceremony("cer1")
        assert taken is not None and taken.used_at == later
        assert store.take_ceremony("nope", now=later) is None

    def test_put_replaces_a_ceremony_of_the_same_id(self, store: Store) -> None:
        store.apply([w.PutCeremony(ceremony_record())])
        assert store.take_ceremony("cer1", now=T0) is not None
        fresh = ceremony_record(challenge=b"\x09" * 32, kind=CeremonyKind.AUTHENTICATE)
        store.apply([w.PutCeremony(fresh)])
        assert store.get_ceremony("cer1") == fresh
        assert store.take_ceremony("cer1", now=T0) == fresh

    def test_purge_removes_expired_ceremonies(self, store: Store) -> None:
        store.apply([w.PutCeremony(ceremony_record("old"))])
        store.apply([w.PutCeremony(ceremony_record("new", expires_at=T0 + timedelta(days=2)))])
        assert store.purge(before=T0 + timedelta(days=1), limit=100) >= 1
        assert store.get_ceremony("old") is None
        assert store.get_ceremony("new") is not None

    def test_one_thread_takes_a_ceremony(self, store: Store) -> None:
        store.apply([w.PutCeremony(ceremony_record())])
        taken = race(THREADS, lambda: store.take_ceremony("cer1", now=T0) is not None)
        assert taken.count(True) == 1


# --- races between processes ------------------------------------------------------------

PROCESSES = 4
"""How many processes (app servers) a process race runs."""

_PROCESS_TIMEOUT = 120.0
_RACE_SECRET = "5342584fd79b37b3655ca6dd555ad99af1f20e968184884cc8af4edbe232faf8"
_RACE_ORIGIN = "https://example.com"


def _race_take_ceremony(
    store: Store, barrier: Any, *, ceremony_id: str, now: datetime
) -> tuple[bool, str | None]:
    barrier.wait(_PROCESS_TIMEOUT)
    taken = store.take_ceremony(ceremony_id, now=now) is not None
    return taken, None if taken else "taken"


def _race_mfa(store: Store, now: datetime) -> Any:
    """A whole app server on the shared database, as the parent's `_passkey_site` is."""
    from .. import MFA, Policy, RelyingParty
    from . import FakeClock, fast_hasher

    return MFA(
        store=store,
        secret_key=_RACE_SECRET,
        issuer="Race",
        clock=FakeClock(now),
        hasher=fast_hasher(),
        policy=Policy(passkey_passwordless=True),
        relying_party=RelyingParty("example.com", "Race", origins=[_RACE_ORIGIN]),
    )


def _race_finish_passkey(
    store: Store, barrier: Any, *, flow: str, ceremony_id: str, answer: str, now: datetime
) -> tuple[bool, str | None]:
    """Finish one passkey ceremony (every process the same one, with the same answer)."""
    from .. import passkeys  # noqa: F401  (imported before the race, as a warm server has it)
    from ..core.actor import Actor
    from ..errors import ConflictingState

    mfa = _race_mfa(store, now)
    barrier.wait(_PROCESS_TIMEOUT)
    result: Any
    if flow == "register":
        actor = Actor.user("alice", reauthenticated_at=now)
        result = mfa.finish_passkey_registration(actor, ceremony_id, answer)
    elif flow == "passwordless":
        result = mfa.finish_passkey_sign_in(ceremony_id, answer)
    else:
        try:
            result = mfa.verify(ceremony_id, answer)
        except ConflictingState:  # read the challenge after the winner finished it
            return False, "conflict"
    return bool(result.ok), None if result.reason is None else str(result.reason.value)


_PROCESS_SCENARIOS: dict[str, Callable[..., tuple[bool, str | None]]] = {
    "take_ceremony": _race_take_ceremony,
    "finish_passkey": _race_finish_passkey,
}


def _process_racer(barrier: Any, inbox: Any, outbox: Any) -> None:
    """A racing process: runs the scenarios it is sent until it gets `None`."""
    import traceback

    while (message := inbox.get()) is not None:
        factory, scenario, params = message
        store: Any = None
        try:
            store = factory()
            outbox.put(("ok", _PROCESS_SCENARIOS[scenario](store, barrier, **params)))
        except BaseException:
            barrier.abort()  # release the others at once instead of a timeout
            outbox.put(("error", traceback.format_exc()))
        finally:
            close = getattr(store, "close", None)
            if callable(close):
                close()


class _Racers:
    """`PROCESSES` spawned processes, started once (spawning costs seconds) and
    stopped when the interpreter exits."""

    def __init__(self) -> None:
        import atexit
        import multiprocessing

        spawn = multiprocessing.get_context("spawn")
        self.barrier = spawn.Barrier(PROCESSES)
        self.inboxes = [spawn.Queue() for _ in range(PROCESSES)]
        self.outbox = spawn.Queue()
        self.processes = [
            spawn.Process(
                target=_process_racer, args=(self.barrier, inbox, self.outbox), daemon=True
            )
            for inbox in self.inboxes
        ]
        for p in self.processes:
            p.start()
        atexit.register(self.close)

    def run(self, factory: Callable[[], Store], scenario: str, params: dict[str, Any]) -> list[Any]:
        import queue
        import time

        self.barrier.reset()
        for inbox in self.inboxes:
            inbox.put((factory, scenario, params))
        replies: list[tuple[str, Any]] = []
        deadline = time.monotonic() + _PROCESS_TIMEOUT
        while len(replies) < PROCESSES:
            try:
                replies.append(self.outbox.get(timeout=0.5))
            except queue.Empty:
                dead = [p.exitcode for p in self.processes if not p.is_alive()]
                if dead:
                    raise AssertionError(f"a racing process died (exit codes {dead})") from None
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"the racing processes did not answer within {_PROCESS_TIMEOUT} s"
                    ) from None
        errors = [detail for status, detail in replies if status == "error"]
        if errors:
            raise AssertionError("a racing process failed:\n" + "\n".join(errors))
        return [detail for _, detail in replies]

    def alive(self) -> bool:
        return all(p.is_alive() for p in self.processes)

    def close(self) -> None:
        for inbox in self.inboxes:
            inbox.put(None)
        for p in self.processes:
            p.join(timeout=10)
            if p.is_alive():  # pragma: no cover
                p.terminate()
                p.join()


_racers: _Racers | None = None
_racers_lock = threading.Lock()


def race_processes(
    factory: Callable[[], Store], scenario: str, **params: Any
) -> list[tuple[bool, str | None]]:
    """Run `scenario` in `PROCESSES` processes released at the same instant.

    Each process builds its own store with `factory()` (it must be picklable:
    a module-level function or a `functools.partial` of one), as a separate
    app server would; the answers, `(won, why not)`, come in arrival order.
    The processes are spawned at the first race and reused.
    """
    global _racers
    with _racers_lock:
        if _racers is None or not _racers.alive():
            _racers = _Racers()
        racers = _racers
        results = racers.run(factory, scenario, params)
    return [(bool(won), why) for won, why in results]


def _needs_webauthn() -> None:
    """Skip a passkey race without the `webauthn` extra (fail under `CI=true`)."""
    import importlib.util
    import os

    if importlib.util.find_spec("webauthn") is None:
        message = "passkey process races need the webauthn extra: pip install 'mfakit[webauthn]'"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def _passkey_site(store: Store) -> tuple[Any, Any, datetime]:
    """An MFA on `store` (the parent's app server), a software authenticator, and the time."""
    from .webauthn import SoftwareAuthenticator

    return _race_mfa(store, T0), SoftwareAuthenticator(), T0


def _register_alice(mfa: Any, device: Any, now: datetime) -> None:
    from ..core.actor import Actor

    actor = Actor.user("alice", reauthenticated_at=now)
    begun = mfa.begin_passkey_registration(actor, "alice", name="Laptop", passwordless=True)
    answer = device.create(begun.options_json, origin=_RACE_ORIGIN)
    assert mfa.finish_passkey_registration(actor, begun.ceremony_id, answer).ok


def _one_winner(results: list[tuple[bool, str | None]], *losers: str) -> None:
    assert len(results) == PROCESSES, results
    assert [won for won, _ in results].count(True) == 1, results
    assert {why for won, why in results if not won} <= set(losers), results


class ProcessRaceContract:
    """Races between processes, as between app servers: a ceremony finished by
    several at once is finished exactly once.

    Opt in for a store that several processes can share (not an in-memory
    one), with one more fixture, `store_factory`: a picklable callable (a
    module-level function, or a `functools.partial` of one) that builds, in a
    freshly spawned process, a store on the same database as `store`:

    ```python
    class TestMyStore(StoreContract, ProcessRaceContract):
        @pytest.fixture
        def store_factory(self, store):
            return functools.partial(MyStore.from_url, URL)
    ```

    The passkey races need the `webauthn` extra.
    """

    @pytest.fixture
    def store_factory(self, store: Store) -> Callable[[], Store]:
        pytest.fail("override the `store_factory` fixture to use ProcessRaceContract")

    def test_one_process_takes_a_ceremony(
        self, store: Store, store_factory: Callable[[], Store]
    ) -> None:
        store.apply([w.PutCeremony(ceremony_record())])
        results = race_processes(store_factory, "take_ceremony", ceremony_id="cer1", now=T0)
        _one_winner(results, "taken")
        taken = store.get_ceremony("cer1")
        assert taken is not None and taken.used_at == T0

    def test_one_process_finishes_a_passkey_registration(
        self, store: Store, store_factory: Callable[[], Store]
    ) -> None:
        from ..core.actor import Actor

        _needs_webauthn()
        mfa, device, now = _passkey_site(store)
        actor = Actor.user("alice", reauthenticated_at=now)
        begun = mfa.begin_passkey_registration(actor, "alice", name="Laptop")
        answer = device.create(begun.options_json, origin=_RACE_ORIGIN)
        results = race_processes(
            store_factory,
            "finish_passkey",
            flow="register",
            ceremony_id=begun.ceremony_id,
            answer=answer,
            now=now,
        )
        _one_winner(results, "replayed")
        assert len(store.list_credentials("alice")) == 1
        assert store.count_backup_codes("alice") == 10  # the first factor's, issued once

    def test_one_process_finishes_a_passwordless_sign_in(
        self, store: Store, store_factory: Callable[[], Store]
    ) -> None:
        _needs_webauthn()
        mfa, device, now = _passkey_site(store)
        _register_alice(mfa, device, now)
        before = store.list_credentials("alice")[0]
        pending = mfa.begin_passkey_sign_in()
        answer = device.get(pending.options_json, origin=_RACE_ORIGIN)
        results = race_processes(
            store_factory,
            "finish_passkey",
            flow="passwordless",
            ceremony_id=pending.ceremony_id,
            answer=answer,
            now=now,
        )
        _one_winner(results, "replayed")
        after = store.list_credentials("alice")[0]
        assert after.sign_count == before.sign_count + 1 and after.version == before.version + 1

    def test_one_process_finishes_a_second_step_with_a_passkey(
        self, store: Store, store_factory: Callable[[], Store]
    ) -> None:
        _needs_webauthn()
        mfa, device, now = _passkey_site(store)
        _register_alice(mfa, device, now)
        before = store.list_credentials("alice")[0]
        start = mfa.begin_sign_in("alice")
        assert start.challenge is not None and start.challenge.passkey_options is not None
        answer = device.get(start.challenge.passkey_options, origin=_RACE_ORIGIN)
        results = race_processes(
            store_factory,
            "finish_passkey",
            flow="second_step",
            ceremony_id=start.challenge.id,
            answer=answer,
            now=now,
        )
        _one_winner(results, "replayed", "conflict")
        after = store.list_credentials("alice")[0]
        assert after.sign_count == before.sign_count + 1 and after.version == before.version + 1


class StoreContract(
    CredentialContract,
    CeremonyContract,
    TotpContract,
    BackupCodeContract,
    CounterContract,
    ChallengeContract,
    ContactContract,
    QuestionContract,
    DeviceContract,
    ConcurrencyContract,
    UnitOfWorkContract,
    RetentionContract,
    NoticeContract,
    FirstFactorContract,
    KeyRotationContract,
):
    """The whole storage contract. Subclass it and provide a `store` fixture."""

    @pytest.fixture
    def store(self) -> Store:
        pytest.fail("subclass StoreContract and override the `store` fixture")
