"""DjangoStore beyond the contract: shipped migrations match the models, the
snapshots are one query, batches nest in the caller's transaction, failures
are StorageErrors that quote nothing, and ``import mfakit`` stays Django-free."""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import replace
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from mfakit import StorageError
from mfakit.core import writes as w
from mfakit.core.records import Counter
from mfakit.integrations.django.store import DjangoStore
from mfakit.testing.contract import (
    T0,
    UnitOfWorkContract,
    backup_codes,
    challenge_record,
    race,
    totp_record,
)

from .conftest import ThreadTidyStore
from .settings import MFAKIT_ONLY

pytestmark = pytest.mark.django_db(
    transaction=True, databases="__all__", available_apps=MFAKIT_ONLY
)


@pytest.fixture(params=["sqlite", "postgres"])
def alias(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_alias"))
    return "default"


def test_migrations_match_the_models() -> None:
    out = StringIO()
    call_command("makemigrations", "mfakit", check=True, dry_run=True, stdout=out)
    assert "No changes detected" in out.getvalue()


def test_tables_are_prefixed_and_created_by_migrate(alias: str) -> None:
    tables = set(connections[alias].introspection.table_names())
    expected = {
        "mfakit_totp_factors",
        "mfakit_backup_codes",
        "mfakit_counters",
        "mfakit_challenges",
        "mfakit_contacts",
        "mfakit_security_questions",
        "mfakit_trusted_devices",
        "mfakit_user_state",
        "mfakit_audit_events",
    }
    assert expected <= tables


def test_snapshots_are_one_query(alias: str) -> None:
    store = DjangoStore(alias)
    store.add_totp(totp_record(), limit=5, now=T0)
    store.replace_backup_codes("alice", backup_codes(n=3))
    store.insert_challenge(challenge_record())
    with CaptureQueriesContext(connections[alias]) as queries:
        snapshot = store.load_user("alice", counters=("n:", "m:"))
        found = store.load_challenge("c1", counters=("n:",))
    assert len(queries) == 2
    assert snapshot.backup_codes_left == 3 and len(snapshot.totps) == 1
    assert found is not None and found[1] == store.load_user("alice", counters=("n:",))


def test_a_conditional_write_is_one_update(alias: str) -> None:
    store = DjangoStore(alias)
    store.replace_backup_codes("alice", backup_codes(n=3))
    with CaptureQueriesContext(connections[alias]) as queries:
        assert store.use_backup_code("alice", "01", now=T0)
    statements = [q["sql"].split()[0].upper() for q in queries]
    # BEGIN/SAVEPOINT bookkeeping aside, the write itself is a single UPDATE.
    assert statements.count("UPDATE") == 1
    assert not {"SELECT", "INSERT", "DELETE"} & set(statements)


def test_a_batch_is_a_savepoint_in_the_callers_transaction(alias: str) -> None:
    store = DjangoStore(alias)
    store.add_totp(totp_record(), limit=5, now=T0)
    with transaction.atomic(using=alias):
        # A lost batch rolls back to its savepoint; the caller's work stays usable.
        assert store.apply([w.BumpSecurityVersion("alice", T0), w.DeleteTotp("alice", "x")]) is None
        assert store.get_user_state("alice") is None
        assert store.apply([w.BumpSecurityVersion("alice", T0)]) == [1]
    assert store.get_user_state("alice") is not None

    def callers_work_fails() -> None:
        with transaction.atomic(using=alias):
            assert store.apply([w.BumpSecurityVersion("alice", T0)]) == [2]
            raise RuntimeError("the caller's transaction fails")

    with pytest.raises(RuntimeError):
        callers_work_fails()
    state = store.get_user_state("alice")
    assert state is not None and state.security_version == 1  # rolled back with it


def test_a_duplicate_in_the_callers_transaction_leaves_it_usable(alias: str) -> None:
    store = DjangoStore(alias)
    store.insert_challenge(challenge_record())
    with transaction.atomic(using=alias):
        with pytest.raises(StorageError, match="already exists"):
            store.insert_challenge(challenge_record())
        # A counter raced in by another writer is a lost race, not an error.
        assert store.put_counter(replace(_counter(), count=1))
        assert not store.put_counter(replace(_counter(), count=2))
        store.bump_security_version("alice", now=T0)
    got = store.get_counter("hits")
    assert got is not None and got.count == 1


def _counter() -> Counter:
    return Counter(key="hits", count=0, window_start=T0, updated_at=T0)


def test_database_failures_are_storage_errors_without_parameters(alias: str) -> None:
    store = DjangoStore(alias)
    secret_label = "label-" + "x" * 300  # too long for PostgreSQL's varchar(255)
    rec = totp_record(label=secret_label)
    if connections[alias].vendor == "postgresql":
        with pytest.raises(StorageError) as caught:
            store.add_totp(rec, limit=5, now=T0)
        message = str(caught.value)
        assert message.startswith("DjangoStore.apply failed: ")
        assert "xxxx" not in message and caught.value.__cause__ is not None
    with connections[alias].cursor() as cursor:
        cursor.execute("DROP TABLE mfakit_counters")
    try:
        with pytest.raises(StorageError) as caught:
            store.get_counter("secret-key-name")
        assert str(caught.value).startswith("DjangoStore.get_counter failed: ")
        assert "secret-key-name" not in str(caught.value)
        with pytest.raises(StorageError, match=r"^DjangoStore\.load_user failed"):
            store.load_user("alice", counters=("n:",))
    finally:
        from mfakit.integrations.django import models

        with connections[alias].schema_editor() as editor:
            editor.create_model(models.Counter)


def test_bad_configuration_is_refused(settings: object) -> None:
    from mfakit import ConfigurationError

    with pytest.raises(ConfigurationError, match="DATABASES"):
        DjangoStore("nope")
    settings.USE_TZ = False  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match="USE_TZ"):
        DjangoStore()


class TestPerTableReads(UnitOfWorkContract):
    """The snapshot fallback for databases without the one-query UNION
    (one query per table), run on SQLite."""

    @pytest.fixture
    def store(self) -> ThreadTidyStore:
        return ThreadTidyStore(_PerTableStore())


class _PerTableStore(DjangoStore):
    one_query_vendors = frozenset()


def test_import_mfakit_does_not_import_django() -> None:
    code = "import sys, mfakit, mfakit.integrations; print('django' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_concurrent_first_enrolments_respect_the_limit(alias: str) -> None:
    """The one write a single statement cannot do: sixteen threads add a first
    authenticator each for one user with no row yet to lock; the per-user lock
    (an advisory lock on PostgreSQL) lets exactly ``limit`` of them in."""
    store = ThreadTidyStore(DjangoStore(alias))
    ids = iter(range(16))
    lock = threading.Lock()

    def add() -> bool:
        with lock:
            factor_id = f"f{next(ids)}"
        return bool(store.add_totp(totp_record(factor_id=factor_id), limit=3, now=T0))

    results = race(16, add)
    assert results.count(True) == 3
    assert len(store.list_totp("alice")) == 3
