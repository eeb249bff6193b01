"""The shared storage contract on SQLite (memory, file, host-owned engine) and PostgreSQL."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from mfakit.adapters import MemoryStore
from mfakit.adapters.sql import SqlStore
from mfakit.testing.contract import (
    AuditLogContract,
    AuditRetentionContract,
    ProcessRaceContract,
    StoreContract,
)
from tests.conftest import SECRET


class TestSqliteMemory(StoreContract, AuditLogContract, AuditRetentionContract):
    @pytest.fixture
    def store(self) -> Iterator[SqlStore]:
        store = SqlStore.from_url("sqlite://")
        yield store
        store.close()


class TestSqliteFile(StoreContract, AuditLogContract, AuditRetentionContract, ProcessRaceContract):
    """A file database as from_url sets it up: WAL, busy timeout, BEGIN IMMEDIATE;
    the process races open it from four spawned processes."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SqlStore]:
        store = SqlStore.from_url(f"sqlite:///{tmp_path / 'mfa.db'}")
        yield store
        store.close()

    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Callable[[], SqlStore]:
        return functools.partial(
            SqlStore.from_url, f"sqlite:///{tmp_path / 'mfa.db'}", create=False
        )


class TestSqliteOwnEngine(StoreContract):
    """A host's own SQLite engine, left as SQLAlchemy made it (no configure_sqlite)."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SqlStore]:
        engine = create_engine(f"sqlite:///{tmp_path / 'host.db'}")
        store = SqlStore(engine, table_prefix="app_mfa_")
        store.create_all()
        yield store
        engine.dispose()


class TestPortableStatements(StoreContract):
    """The code paths for databases without ``ON CONFLICT`` (update-or-insert,
    insert-and-catch, ``SELECT ... FOR UPDATE``), exercised on a SQLite file."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SqlStore]:
        engine = create_engine(f"sqlite:///{tmp_path / 'portable.db'}")
        store = SqlStore(engine)
        store._dialect = "portable"  # not one of the dialects with native upserts
        store._upsert_engine = store._txe
        store.create_all()
        yield store
        engine.dispose()

    def test_devices_and_state(self, store: SqlStore) -> None:
        from .test_devices import script

        assert script(store) == script(MemoryStore())

    def test_clear_factors(self, store: SqlStore) -> None:
        from .test_devices import clear_script

        assert clear_script(store) == clear_script(MemoryStore())


class TestPostgres(StoreContract, AuditLogContract, AuditRetentionContract, ProcessRaceContract):
    """PostgreSQL through a host-owned engine; fresh tables under a unique prefix.
    The process races reach the same tables from four spawned processes."""

    @pytest.fixture
    def store(self, pg_store: SqlStore) -> SqlStore:
        return pg_store

    @pytest.fixture
    def store_factory(self, postgres_url: str, pg_store: SqlStore) -> Callable[[], SqlStore]:
        return functools.partial(
            SqlStore.from_url, postgres_url, table_prefix=pg_store.table_prefix, create=False
        )


def test_the_sql_store_is_mfas_audit_log(tmp_path: Path) -> None:
    """MFA(audit=store): the events of a real flow land in the table and list back."""
    import mfakit
    from mfakit.testing import FakeClock, authenticator_code, fast_hasher

    store = SqlStore.from_url(f"sqlite:///{tmp_path / 'mfa.db'}")
    clock = FakeClock()
    mfa = mfakit.MFA(
        store=store, audit=store, secret_key=SECRET, issuer="X", clock=clock, hasher=fast_hasher()
    )
    actor = mfakit.Actor.user("alice", reauthenticated_at=clock.now())
    setup = mfa.begin_totp_setup(
        actor, "alice", account_name="a", context=mfakit.RequestContext(ip="203.0.113.9")
    )
    assert mfa.confirm_totp_setup(actor, setup.id, authenticator_code(setup.uri, clock.now())).ok
    actions = [e.action for e in mfa.list_events("alice")]
    assert (
        actions[:2] == ["devices.revoked_all", "backup_codes.issued"] or "factor.added" in actions
    )
    assert "factor.added" in actions
    store.close()
