"""Creating a challenge commits without waiting for the disk; everything else
still does (adapters/sql/store.py). Checked on the connections themselves:
SQLite's own statement trace says which connection ran each statement, and
each connection's `synchronous` setting says whether its commits sync."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from mfakit import MFA, Actor
from mfakit.adapters.sql import SqlStore
from mfakit.errors import ConfigurationError
from mfakit.testing import FakeClock, authenticator_code, fast_hasher

SECRET = "5b0c3c1f7d2e4a6b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d"


def sign_in_twice(store: SqlStore) -> None:
    clock = FakeClock()
    mfa = MFA(
        store=store,
        secret_key=SECRET,
        issuer="Relaxed",
        clock=clock,
        hasher=fast_hasher(),
        audit=store,
    )
    actor = Actor.user("alice", reauthenticated_at=clock.now())
    started = mfa.begin_totp_setup(actor, "alice", account_name="alice@example.org")
    code = authenticator_code(started.uri, clock.now())
    assert mfa.confirm_totp_setup(actor, started.id, code).ok
    for _ in range(2):
        clock.advance(timedelta(seconds=30))
        start = mfa.begin_sign_in("alice")
        assert start.challenge is not None
        code = authenticator_code(started.uri, clock.now())
        assert mfa.verify(start.challenge.id, code).ok


class Traced:
    """Every statement SQLite runs, with the connection that ran it."""

    def __init__(self, store: SqlStore) -> None:
        self.seen: list[tuple[int, str]] = []
        self.connections: dict[int, Any] = {}

        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            key = id(dbapi_connection)
            self.connections[key] = dbapi_connection
            dbapi_connection.set_trace_callback(lambda sql: self.seen.append((key, sql)))

        # Before any connection: the challenge pool copies the engine's listeners.
        event.listen(store.engine, "connect", on_connect)
        store.engine.dispose()

    def levels(self, starts: str) -> set[int]:
        """The `synchronous` level of each connection that ran a statement
        starting with `starts`."""
        keys = {key for key, sql in self.seen if sql.lstrip().startswith(starts)}
        assert keys, f"no statement starting with {starts!r}"
        return {self.connections[k].execute("PRAGMA synchronous").fetchone()[0] for k in keys}


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "mfa.db"


def test_sqlite_creates_challenges_without_a_sync_and_commits_the_rest_with_one(
    sqlite_path: Path,
) -> None:
    store = SqlStore.from_url(f"sqlite:///{sqlite_path}")
    traced = Traced(store)
    try:
        sign_in_twice(store)
        p = store.table_prefix
        assert traced.levels(f"INSERT INTO {p}challenges") == {1}  # NORMAL: no sync
        assert traced.levels(f"UPDATE {p}totp_factors") == {2}  # FULL: synced
        assert traced.levels(f"INSERT INTO {p}audit_events") == {2}
    finally:
        store.close()


def test_sqlite_durable_challenges_sync_every_commit(sqlite_path: Path) -> None:
    store = SqlStore.from_url(f"sqlite:///{sqlite_path}", durable_challenges=True)
    traced = Traced(store)
    try:
        sign_in_twice(store)
        assert traced.levels(f"INSERT INTO {store.table_prefix}challenges") == {2}
    finally:
        store.close()


def test_sqlite_never_raises_a_lower_setting(sqlite_path: Path) -> None:
    store = SqlStore.from_url(f"sqlite:///{sqlite_path}")

    def off(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA synchronous = OFF")

    event.listen(store.engine, "connect", off)
    store.engine.dispose()
    traced = Traced(store)
    try:
        sign_in_twice(store)
        assert traced.levels(f"INSERT INTO {store.table_prefix}challenges") == {0}
    finally:
        store.close()


def test_durable_challenges_must_be_a_bool(sqlite_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="durable_challenges"):
        SqlStore.from_url(f"sqlite:///{sqlite_path}", durable_challenges="no")  # type: ignore[arg-type]


def test_postgres_creates_challenges_with_synchronous_commit_off(postgres_url: str) -> None:
    from tests.sql.conftest import unique_prefix

    store = SqlStore.from_url(postgres_url, table_prefix=unique_prefix())
    try:
        sign_in_twice(store)
        relaxed = store._relaxed_pool()
        assert relaxed is not None
        fairy = relaxed.connect()
        try:
            assert fairy.dbapi_connection.execute("SHOW synchronous_commit").fetchone() == ("off",)  # type: ignore[union-attr]
        finally:
            fairy.close()
        with store.engine.connect() as conn:
            assert conn.execute(text("SHOW synchronous_commit")).scalar() == "on"
            # Both challenges were created there and passed through the engine's own pool.
            table = store.metadata.tables[f"{store.table_prefix}challenges"]
            count = conn.execute(
                select(func.count()).select_from(table).where(table.c.state == "succeeded")
            ).scalar()
            assert count == 2
    finally:
        store.metadata.drop_all(store.engine)
        store.close()
    durable = SqlStore.from_url(postgres_url, table_prefix=unique_prefix(), durable_challenges=True)
    try:
        assert durable._relaxed_pool() is None
    finally:
        durable.metadata.drop_all(durable.engine)
        durable.close()
