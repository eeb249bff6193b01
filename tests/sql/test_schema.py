"""The schema: table prefixes, the recorded version, SQLite settings, wiring."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, select, text, update

from mfakit import MFA, ConfigurationError
from mfakit.adapters.sql import SCHEMA_VERSION, SqlStore, build_metadata, configure_sqlite
from mfakit.adapters.sql.schema import TABLES
from mfakit.ports.storage import Store
from mfakit.testing.contract import T0, backup_codes, totp_record
from tests.conftest import SECRET

from .conftest import unique_prefix


def version_table(store: SqlStore) -> str:
    return store.table_prefix + "schema_version"


def recorded_version(store: SqlStore) -> int | None:
    table = store.metadata.tables[version_table(store)]
    with store.engine.connect() as conn:
        return conn.execute(select(table.c.version)).scalar()


def set_version(store: SqlStore, version: int) -> None:
    table = store.metadata.tables[version_table(store)]
    with store.engine.begin() as conn:
        conn.execute(update(table).values(version=version))


def test_metadata_names_every_table_with_its_prefix_and_key() -> None:
    md = build_metadata("acme_")
    assert set(md.tables) == {f"acme_{name}" for name in TABLES}
    keys = {name: [c.name for c in t.primary_key.columns] for name, t in md.tables.items()}
    assert keys == {
        "acme_schema_version": ["component"],
        "acme_totp_factors": ["user_id", "id"],
        "acme_backup_codes": ["user_id", "lookup"],
        "acme_counters": ["key"],
        "acme_challenges": ["id"],
        "acme_contacts": ["user_id", "kind"],
        "acme_security_questions": ["user_id"],
        "acme_trusted_devices": ["user_id", "id"],
        "acme_user_state": ["user_id"],
        "acme_audit_events": ["seq"],
        "acme_notice_outbox": ["id"],
        "acme_webauthn_credentials": ["user_id", "id"],
        "acme_webauthn_users": ["user_id"],
        "acme_webauthn_ceremonies": ["id"],
    }
    # Constraint names carry the prefix too (they share one namespace in PostgreSQL).
    assert all(t.primary_key.name == f"{name}_pkey" for name, t in md.tables.items())


@pytest.mark.parametrize("prefix", ["1abc", "a-b", "a b", "x" * 31, None, "mfa;drop"])
def test_bad_prefixes_are_refused(prefix: object) -> None:
    with pytest.raises(ConfigurationError):
        build_metadata(prefix)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        SqlStore.from_url("sqlite://", table_prefix=prefix)  # type: ignore[arg-type]


def test_empty_prefix_is_allowed() -> None:
    store = SqlStore.from_url("sqlite://", table_prefix="")
    assert "totp_factors" in store.metadata.tables
    assert store.get_totp("alice", "f1") is None
    store.close()


@pytest.mark.parametrize("backend", ["sqlite-file", "postgres"])
def test_prefixes_keep_stores_apart(make_store: Callable[[str], SqlStore], backend: str) -> None:
    first = make_store(backend)
    second = SqlStore(first.engine, table_prefix=unique_prefix())
    second.create_all()
    try:
        assert first.add_totp(totp_record(), limit=5, now=T0)
        first.replace_backup_codes("alice", backup_codes(n=3))
        assert second.list_totp("alice") == []
        assert second.count_backup_codes("alice") == 0
        second.replace_backup_codes("alice", backup_codes(n=1))
        assert first.count_backup_codes("alice") == 3
    finally:
        second.metadata.drop_all(second.engine)


@pytest.mark.parametrize("backend", ["sqlite-memory", "sqlite-file", "postgres"])
def test_schema_version_is_recorded(make_store: Callable[[str], SqlStore], backend: str) -> None:
    store = make_store(backend)
    assert recorded_version(store) == SCHEMA_VERSION
    store.create_all()  # idempotent
    table = store.metadata.tables[version_table(store)]
    with store.engine.connect() as conn:
        assert conn.execute(select(table)).all() == [("mfakit", SCHEMA_VERSION)]


@pytest.mark.parametrize("backend", ["sqlite-file", "postgres"])
def test_newer_schema_is_refused(make_store: Callable[[str], SqlStore], backend: str) -> None:
    store = make_store(backend)
    set_version(store, SCHEMA_VERSION + 1)
    fresh = SqlStore(store.engine, table_prefix=store.table_prefix)
    with pytest.raises(ConfigurationError, match="newer"):
        fresh.get_totp("alice", "f1")
    with pytest.raises(ConfigurationError, match="newer"):
        fresh.check_schema()
    with pytest.raises(ConfigurationError, match="newer"):
        fresh.create_all()
    if backend == "sqlite-file":
        url = store.engine.url
        for create in (True, False):
            with pytest.raises(ConfigurationError, match="newer"):
                SqlStore.from_url(url, create=create)


def test_missing_tables_are_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="create_all"):
        SqlStore.from_url(f"sqlite:///{tmp_path / 'empty.db'}", create=False)
    engine = create_engine(f"sqlite:///{tmp_path / 'empty2.db'}")
    with pytest.raises(ConfigurationError, match="missing"):
        SqlStore(engine).get_counter("k")
    engine.dispose()


def test_tables_from_migrations_get_their_version_recorded(tmp_path: Path) -> None:
    """A host that created the tables with Alembic (no version row yet)."""
    engine = create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    build_metadata("mfa_").create_all(engine)
    store = SqlStore(engine)
    assert store.get_totp("alice", "f1") is None
    assert recorded_version(store) == SCHEMA_VERSION
    engine.dispose()


def test_sqlite_file_uses_wal_and_a_busy_timeout(sqlite_file_url: str) -> None:
    store = SqlStore.from_url(sqlite_file_url)
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    store.close()


def test_sqlite_writes_begin_immediate(sqlite_file_url: str) -> None:
    from sqlalchemy import event

    store = SqlStore.from_url(sqlite_file_url)
    seen: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    store.replace_backup_codes("alice", backup_codes(n=2))
    assert seen[0] == "BEGIN IMMEDIATE"
    store.close()


def test_memory_database_is_shared_by_threads() -> None:
    import threading

    store = SqlStore.from_url("sqlite://")
    thread = threading.Thread(target=lambda: store.add_totp(totp_record(), limit=5, now=T0))
    thread.start()
    thread.join()
    assert [r.id for r in store.list_totp("alice")] == ["f1"]
    store.close()


def test_configure_sqlite_refuses_other_databases(pg_engine: Engine) -> None:
    with pytest.raises(ConfigurationError):
        configure_sqlite(pg_engine)


def test_wiring_errors() -> None:
    with pytest.raises(ConfigurationError):
        SqlStore("sqlite://")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        SqlStore.from_url("not a url at all")
    with pytest.raises(ConfigurationError):
        SqlStore.from_url("nosuchdatabase://x/y")


def test_repr_shows_no_credentials() -> None:
    store = SqlStore.from_url("sqlite://")
    assert repr(store) == "SqlStore(dialect='sqlite', table_prefix='mfa_')"
    store.close()


def test_sql_store_satisfies_the_store_protocol() -> None:
    """MFA accepts it (it checks every Store method is there)."""
    store = SqlStore.from_url("sqlite://")
    ports: Store = store
    mfa = MFA(store=ports, secret_key=SECRET, issuer="Acme")
    assert "SqlStore" in repr(mfa)
    store.close()


def test_importing_mfakit_does_not_import_sqlalchemy() -> None:
    code = (
        "import sys, mfakit, mfakit.adapters, mfakit.testing, mfakit.ports.storage\n"
        "assert 'sqlalchemy' not in sys.modules, 'sqlalchemy was imported'\n"
        "import mfakit.adapters.sql\n"
        "assert 'sqlalchemy' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_a_challenge_round_trips_with_its_tenant(any_store: SqlStore) -> None:
    from dataclasses import replace

    from mfakit.testing.contract import challenge_record

    rec = challenge_record(tenant="clinic-7", actor_id="boss", methods=())
    any_store.insert_challenge(rec)
    assert any_store.get_challenge("c1") == rec
    assert any_store.update_challenge(replace(rec, tenant=None))
    got = any_store.get_challenge("c1")
    assert got is not None and got.tenant is None and got.methods == ()
