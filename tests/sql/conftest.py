"""Fixtures for the SQL adapter: SQLite in memory and in a file, and PostgreSQL.

PostgreSQL is found through ``MFAKIT_TEST_POSTGRES_URL`` (``.ci/run`` starts a
throwaway server with ``scripts/postgres`` and sets it). Without it the
PostgreSQL tests skip, except under ``CI=true``, where they fail: CI must run
them. Each PostgreSQL test gets its own table prefix and drops its tables
afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from mfakit.adapters.sql import SqlStore

from .racers import Racers

PG_ENV = "MFAKIT_TEST_POSTGRES_URL"
PG_SKIP = f"PostgreSQL tests need a server: set {PG_ENV} to run them; .ci/run does"
BACKENDS = ("sqlite-memory", "sqlite-file", "postgres")


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}_"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get(PG_ENV, "").strip()
    if not url:
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"CI=true but {PG_ENV} is not set: CI must run the PostgreSQL tests")
        pytest.skip(PG_SKIP)
    return url


@pytest.fixture(scope="session")
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    """One engine for the whole session (the host-owned-engine path); enough
    connections for the contract's 16 racing threads."""
    engine = create_engine(postgres_url, pool_size=20, max_overflow=5, hide_parameters=True)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_store(pg_engine: Engine) -> Iterator[SqlStore]:
    """A store on PostgreSQL with fresh tables under a unique prefix."""
    store = SqlStore(pg_engine, table_prefix=unique_prefix())
    store.create_all()
    yield store
    store.metadata.drop_all(pg_engine)


@pytest.fixture
def sqlite_file_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mfa.db'}"


@pytest.fixture
def make_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[str], SqlStore]]:
    """``make_store(backend)`` for a fresh, empty store on one of BACKENDS."""
    made: list[SqlStore] = []

    def make(backend: str) -> SqlStore:
        if backend == "sqlite-memory":
            store = SqlStore.from_url("sqlite://")
        elif backend == "sqlite-file":
            store = SqlStore.from_url(f"sqlite:///{tmp_path / f'mfa{len(made)}.db'}")
        elif backend == "postgres":
            engine = request.getfixturevalue("pg_engine")
            store = SqlStore(engine, table_prefix=unique_prefix())
            store.create_all()
        else:  # pragma: no cover
            raise ValueError(backend)
        made.append(store)
        return store

    yield make
    for store in made:
        if store.engine.dialect.name == "postgresql":
            store.metadata.drop_all(store.engine)
        store.close()


@pytest.fixture(params=BACKENDS)
def any_store(request: pytest.FixtureRequest, make_store: Callable[[str], SqlStore]) -> SqlStore:
    """The same test on every backend."""
    return make_store(request.param)


@pytest.fixture(scope="session")
def racers() -> Iterator[Racers]:
    """Four worker processes (spawned once per session) for the races."""
    pool = Racers(4)
    yield pool
    pool.close()
