"""Database failures become StorageError at the adapter's edge, and a failed
transaction leaves nothing half-written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError

from mfakit import ContactKind, State, StorageError
from mfakit.adapters.sql import SqlStore
from mfakit.core.records import BackupCodeRecord, ContactRecord, Counter
from mfakit.testing.contract import T0, backup_codes, challenge_record, totp_record


def duplicated_codes() -> list[BackupCodeRecord]:
    """Ten fresh codes, two of which share a lookup id: the insert must fail."""
    codes = [replace(c, lookup=f"N{i}", hash=f"$leak${i}") for i, c in enumerate(backup_codes())]
    codes[9] = replace(codes[9], lookup="N0")
    return codes


def test_unreachable_postgres_is_a_storage_error() -> None:
    url = "postgresql+psycopg://mfa:not-a-real-password@127.0.0.1:1/nowhere"
    with pytest.raises(StorageError) as info:
        SqlStore.from_url(url, connect_args={"connect_timeout": 3})
    assert isinstance(info.value.__cause__, SQLAlchemyError)
    assert "not-a-real-password" not in str(info.value)


def test_unopenable_sqlite_file_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError) as info:
        SqlStore.from_url(f"sqlite:///{tmp_path / 'missing-dir' / 'mfa.db'}")
    assert isinstance(info.value.__cause__, SQLAlchemyError)


def test_dropped_table_is_a_storage_error(any_store: SqlStore) -> None:
    any_store.replace_backup_codes("alice", backup_codes(n=2))
    any_store.metadata.tables[any_store.table_prefix + "backup_codes"].drop(any_store.engine)
    with pytest.raises(StorageError) as info:
        any_store.count_backup_codes("alice")
    assert isinstance(info.value.__cause__, SQLAlchemyError)
    assert "count_backup_codes" in str(info.value)
    with pytest.raises(StorageError):
        any_store.use_backup_code("alice", "00", now=T0)
    # The other tables still work.
    assert any_store.get_challenge("nope") is None


def test_failed_update_challenge_changes_nothing(any_store: SqlStore) -> None:
    store = any_store
    rec = challenge_record()
    store.insert_challenge(rec)
    store.replace_backup_codes("alice", backup_codes(n=2))
    contact = ContactRecord(
        user_id="alice", kind=ContactKind.PHONE, value="+14155550101", created_at=T0
    )
    with pytest.raises(StorageError) as info:
        store.update_challenge(
            replace(rec, state=State.SUCCEEDED), contact=contact, backup_codes=duplicated_codes()
        )
    # Neither the challenge, nor the contact, nor the old codes moved.
    assert store.get_challenge("c1") == rec
    assert store.get_contacts("alice") == []
    assert store.count_backup_codes("alice") == 2
    assert store.get_backup_code("alice", "00") is not None
    # No parameter (a code hash) in the message or its cause.
    assert "$leak$" not in str(info.value)
    assert "$leak$" not in str(info.value.__cause__)
    # And the challenge can still move on.
    assert store.update_challenge(replace(rec, state=State.SUCCEEDED), contact=contact)
    assert store.get_contacts("alice") == [contact]


def test_failed_confirm_changes_nothing(any_store: SqlStore) -> None:
    store = any_store
    store.replace_backup_codes("alice", backup_codes(n=3))
    assert store.add_totp(totp_record(), limit=5, now=T0)
    with pytest.raises(StorageError):
        store.confirm_totp("alice", "f1", step=7, now=T0, backup_codes=duplicated_codes())
    got = store.get_totp("alice", "f1")
    assert got is not None and not got.confirmed and got.last_step is None
    assert store.count_backup_codes("alice") == 3
    assert store.confirm_totp("alice", "f1", step=7, now=T0, backup_codes=None)


def test_failed_replace_keeps_the_old_codes(any_store: SqlStore) -> None:
    any_store.replace_backup_codes("alice", backup_codes(n=4))
    with pytest.raises(StorageError):
        any_store.replace_backup_codes("alice", duplicated_codes())
    assert any_store.count_backup_codes("alice") == 4


def test_naive_datetime_is_refused(any_store: SqlStore) -> None:
    naive = datetime(2026, 3, 1, 9, 0)  # naive: the point of the test
    with pytest.raises(StorageError):
        any_store.put_counter(Counter(key="k", count=1, window_start=naive, updated_at=naive))
    assert any_store.get_counter("k") is None


def test_datetimes_come_back_aware_utc(any_store: SqlStore) -> None:
    from datetime import timezone

    paris = timezone(timedelta(hours=1))
    at = T0.astimezone(paris)
    assert any_store.put_counter(Counter(key="k", count=1, window_start=at, updated_at=at))
    got = any_store.get_counter("k")
    assert got is not None
    assert got.window_start == T0 and got.window_start.tzinfo == timezone.utc


@pytest.mark.parametrize("backend", ["sqlite-memory", "sqlite-file", "postgres"])
def test_atomic_operations_are_single_statements(
    make_store: Callable[[str], SqlStore], backend: str
) -> None:
    """No read-then-write: each compare-and-set is one statement on the wire."""
    store = make_store(backend)
    store.replace_backup_codes("alice", backup_codes(n=2))
    store.add_totp(totp_record(), limit=5, now=T0)
    store.confirm_totp("alice", "f1", step=1, now=T0, backup_codes=None)
    store.insert_challenge(challenge_record())
    store.put_counter(Counter(key="k", count=1, window_start=T0, updated_at=T0))
    seen: list[str] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def count(*args: object) -> None:
        seen.append(str(args[2]).split()[0].upper())

    def statements(action: Callable[[], bool]) -> list[str]:
        seen.clear()
        assert action()
        return list(seen)

    assert statements(lambda: store.use_backup_code("alice", "00", now=T0)) == ["UPDATE"]
    assert statements(lambda: store.advance_totp("alice", "f1", step=2, now=T0)) == ["UPDATE"]
    counter = store.get_counter("k")
    assert counter is not None
    assert statements(lambda: store.put_counter(replace(counter, count=2))) == ["UPDATE"]
    fresh = Counter(key="new", count=1, window_start=T0, updated_at=T0)
    assert statements(lambda: store.put_counter(fresh)) == ["INSERT"]
    rec = challenge_record()
    assert statements(lambda: store.update_challenge(replace(rec, attempts=1))) == ["UPDATE"]
