"""Creating a challenge commits without waiting for the disk; everything else
still does (adapters/sql/store.py). Checked on the connections themselves:
SQLite's own statement trace says which connection ran each statement, and
each connection's `synchronous` setting says whether its commits sync."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text

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


def test_postgres_relaxes_the_insert_for_its_own_transaction_only(postgres_url: str) -> None:
    """The challenge insert turns `synchronous_commit` off inside the
    statement, for its transaction: seen off before that transaction commits,
    on again after, on the same connection (nothing stays on it for the next
    user of the connection, e.g. behind PgBouncer)."""
    from tests.sql.conftest import unique_prefix

    store = SqlStore.from_url(postgres_url, table_prefix=unique_prefix())
    try:
        sign_in_twice(store)  # the relaxed insert works end to end
        relaxed = store._sql.s.hot_insert_challenge_relaxed
        assert relaxed is not None
        record = store.get_challenge(_any_challenge_id(store))
        assert record is not None
        values = {**_challenge_values(record, "c-relaxed")}
        with store.engine.connect() as conn:
            assert conn.execute(text("SHOW synchronous_commit")).scalar() == "on"
            conn.rollback()
            with conn.begin():
                assert relaxed.rowcount(conn, values) == 1
                assert conn.execute(text("SHOW synchronous_commit")).scalar() == "off"
            assert conn.execute(text("SHOW synchronous_commit")).scalar() == "on"
        assert store.get_challenge("c-relaxed") is not None
    finally:
        store.metadata.drop_all(store.engine)
        store.close()


def _any_challenge_id(store: SqlStore) -> str:
    table = store.metadata.tables[f"{store.table_prefix}challenges"]
    with store.engine.connect() as conn:
        found = conn.execute(select(table.c.id).limit(1)).scalar()
    assert isinstance(found, str)
    return found


def _challenge_values(record: Any, new_id: str) -> dict[str, Any]:
    from dataclasses import replace

    from mfakit.adapters import rows

    values = rows.challenge_values(replace(record, id=new_id))
    values["version"] = 0
    return values


@pytest.mark.parametrize("durable", [False, True])
def test_postgres_stores_send_the_relaxed_insert_unless_durable(
    postgres_url: str, durable: bool
) -> None:
    """Both stores, through the statements a listener sees (a listener puts
    the store on SQLAlchemy's path, which runs the same statements)."""
    import asyncio

    from mfakit.adapters.sql import AsyncSqlStore
    from tests.sql.conftest import unique_prefix

    seen: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if re.match(r"\s*INSERT INTO \w+_challenges ", statement):  # not a batch naming it
            seen.append(statement)

    store = SqlStore.from_url(
        postgres_url, table_prefix=unique_prefix(), durable_challenges=durable
    )
    event.listen(store.engine, "before_cursor_execute", listen)
    try:
        sign_in_twice(store)
    finally:
        store.metadata.drop_all(store.engine)
        store.close()
    assert len(seen) == 2
    assert all(("set_config" in s) is not durable for s in seen)

    async def async_side() -> None:
        astore = AsyncSqlStore.from_url(
            postgres_url, table_prefix=unique_prefix(), durable_challenges=durable
        )
        event.listen(astore.engine.sync_engine, "before_cursor_execute", listen)
        try:
            await astore.create_all()
            record = _a_challenge()
            await astore.insert_challenge(record)
            assert await astore.get_challenge(record.id) == record
        finally:
            async with astore.engine.begin() as conn:
                await conn.run_sync(astore.metadata.drop_all)
            await astore.close()

    seen.clear()
    asyncio.run(async_side())
    assert len(seen) == 1
    assert ("set_config" in seen[0]) is not durable


def _a_challenge() -> Any:
    from datetime import datetime, timezone

    from mfakit.core.challenge import Purpose, State
    from mfakit.core.methods import Method
    from mfakit.core.records import ChallengeRecord

    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return ChallengeRecord(
        id="c-async",
        user_id="alice",
        purpose=Purpose.SIGN_IN,
        state=State.AWAITING_CODE,
        methods=(Method.TOTP,),
        method=Method.TOTP,
        created_at=now,
        expires_at=now + timedelta(minutes=5),
    )


def test_durable_challenges_must_be_a_bool_for_the_async_store_too() -> None:
    from mfakit.adapters.sql import AsyncSqlStore

    with pytest.raises(ConfigurationError, match="durable_challenges"):
        AsyncSqlStore.from_url("sqlite+aiosqlite://", durable_challenges=1)  # type: ignore[arg-type]
