"""Trusted devices and per-user state (``DeviceStore``): the SQL store behaves
like the memory store, and the security version is bumped atomically."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from mfakit import Method, StorageError
from mfakit.adapters import MemoryStore
from mfakit.adapters.sql import SqlStore
from mfakit.core.records import DeviceRecord
from mfakit.testing.contract import T0


def device(device_id: str, user_id: str = "alice", *, minutes: int = 0) -> DeviceRecord:
    at = T0 + timedelta(minutes=minutes)
    return DeviceRecord(
        id=device_id,
        user_id=user_id,
        label="Firefox on Linux",
        created_at=at,
        expires_at=at + timedelta(days=14),
        security_version=3,
    )


def script(store: Any) -> list[object]:
    """Every DeviceStore operation; returns what each one answered."""
    later = T0 + timedelta(hours=1)
    out: list[object] = []
    for i, user in enumerate(["alice", "alice", "alice", "bob"]):
        store.insert_device(device(f"d{i}", user, minutes=i))
    out.append(store.get_device("alice", "d1"))
    out.append(store.get_device("bob", "d1"))
    out.append(store.list_devices("alice"))
    out.append(store.touch_device("alice", "d1", now=later))
    out.append(store.touch_device("alice", "nope", now=later))
    out.append(store.revoke_device("alice", "d1", now=later))
    out.append(store.revoke_device("alice", "d1", now=later))
    out.append(store.touch_device("alice", "d1", now=later))
    out.append(store.revoke_devices("alice", now=later))
    out.append(store.revoke_devices("alice", now=later))
    out.append(store.list_devices("alice"))
    out.append(store.list_devices("bob"))
    out.append(store.get_user_state("alice"))
    out.append(store.bump_security_version("alice", now=T0))
    out.append(store.bump_security_version("alice", now=later))
    store.set_preferred_method("alice", Method.SMS, now=later)
    out.append(store.get_user_state("alice"))
    store.set_preferred_method("carol", Method.TOTP, now=T0)
    out.append(store.get_user_state("carol"))
    out.append(store.bump_security_version("carol", now=later))
    store.set_preferred_method("carol", None, now=later)
    out.append(store.get_user_state("carol"))
    return out


def test_devices_and_state_behave_like_the_memory_store(any_store: SqlStore) -> None:
    assert script(any_store) == script(MemoryStore())


def test_duplicate_device_is_refused(any_store: SqlStore) -> None:
    any_store.insert_device(device("d1"))
    with pytest.raises(StorageError, match="already exists"):
        any_store.insert_device(device("d1"))
    any_store.insert_device(device("d1", "bob"))  # ids are per user


def test_security_version_bumps_are_never_lost(any_store: SqlStore) -> None:
    barrier = threading.Barrier(8)
    seen: list[int] = []
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            barrier.wait()
            for _ in range(5):
                seen.append(any_store.bump_security_version("alice", now=T0))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(seen) == list(range(1, 41))
    state = any_store.get_user_state("alice")
    assert state is not None and state.security_version == 40


def test_preferences_keep_the_security_version(
    make_store: Callable[[str], SqlStore],
) -> None:
    store = make_store("sqlite-memory")
    assert store.bump_security_version("alice", now=T0) == 1
    store.set_preferred_method("alice", Method.EMAIL, now=T0)
    state = store.get_user_state("alice")
    assert state is not None and state.security_version == 1
    assert state.preferred_method is Method.EMAIL


def clear_script(store: Any) -> list[object]:
    from mfakit import ContactKind
    from mfakit.core.records import ContactRecord
    from mfakit.testing.contract import backup_codes, totp_record

    store.add_totp(totp_record(), limit=5, now=T0)
    store.confirm_totp("alice", "f1", step=1, now=T0, backup_codes=backup_codes(n=3))
    store.add_totp(totp_record("bob", "f9"), limit=5, now=T0)
    for user in ("alice", "bob"):
        store.put_contact(
            ContactRecord(
                user_id=user,
                kind=ContactKind.EMAIL,
                value=f"{user}@example.org",
                created_at=T0,
                verified_at=T0,
            )
        )
    store.clear_factors("alice")
    store.clear_factors("nobody")
    return [
        store.list_totp("alice"),
        store.count_backup_codes("alice"),
        store.get_contacts("alice"),
        store.list_totp("bob"),
        store.get_contacts("bob"),
    ]


def test_clear_factors_behaves_like_the_memory_store(any_store: SqlStore) -> None:
    got = clear_script(any_store)
    assert got == clear_script(MemoryStore())
    assert got[0] == [] and got[1] == 0 and got[2][0].verified_at is None
