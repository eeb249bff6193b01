"""Passkeys through the facade on the SQL stores (SQLite file, PostgreSQL, async
SQLite), and a passkey answer posted by many threads at once: verified once.

The snapshot a sign-in reads counts a user's passkeys in its one query and
reads their rows only when there are some; these tests run that path, and the
ceremony's atomic take, on real databases.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mfakit import MFA, Actor, AsyncMFA, ConflictingState, Method, Policy, Reason, RelyingParty
from mfakit.adapters.sql import AsyncSqlStore, SqlStore
from mfakit.testing import FakeClock, fast_hasher
from mfakit.testing.contract import race
from mfakit.testing.webauthn import SoftwareAuthenticator
from tests.sql.conftest import unique_prefix
from tests.sql.test_async_contract import drop_tables

from .every_flow import OnOneLoop, config, run_every_flow

SECRET = "6e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f"
ORIGIN = "https://example.com"
THREADS = 8


def _config(clock: FakeClock) -> dict[str, Any]:
    return {
        "secret_key": SECRET,
        "issuer": "Example",
        "clock": clock,
        "hasher": fast_hasher(),
        "policy": Policy(passkey_passwordless=True),
        "relying_party": RelyingParty("example.com", "Example", origins=[ORIGIN]),
    }


@pytest.fixture(params=["sqlite-file", "postgres"])
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path / 'passkeys.db'}"
    store = SqlStore.from_url(url, table_prefix=unique_prefix())
    yield store
    store.metadata.drop_all(store.engine)
    store.close()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("MFAKIT_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail("CI=true but MFAKIT_TEST_POSTGRES_URL is not set")
        pytest.skip("PostgreSQL tests need a server: set MFAKIT_TEST_POSTGRES_URL")
    return url


def _register(mfa: Any, clock: FakeClock, device: SoftwareAuthenticator, user: str) -> None:
    actor = Actor.user(user, reauthenticated_at=clock.now())
    begun = mfa.begin_passkey_registration(actor, user, name="Laptop", passwordless=True)
    answer = device.create(begun.options_json, origin=ORIGIN)
    assert mfa.finish_passkey_registration(actor, begun.ceremony_id, answer).ok


def test_register_sign_in_and_sign_in_alone_on_sql(sql_store: SqlStore) -> None:
    clock = FakeClock()
    mfa = MFA(store=sql_store, **_config(clock))
    device = SoftwareAuthenticator()
    _register(mfa, clock, device, "alice")
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None and start.challenge.methods[0] is Method.WEBAUTHN
    answer = device.get(start.challenge.passkey_options, origin=ORIGIN)
    result = mfa.verify(start.challenge.id, answer)
    assert result.ok and result.method is Method.WEBAUTHN
    pending = mfa.begin_passkey_sign_in()
    signed = mfa.finish_passkey_sign_in(
        pending.ceremony_id, device.get(pending.options_json, origin=ORIGIN)
    )
    assert signed.ok and signed.user_id == "alice"
    stored = sql_store.list_credentials("alice")[0]
    assert stored.sign_count == 3 and stored.version == 2


def test_one_thread_wins_a_passwordless_sign_in(sql_store: SqlStore) -> None:
    clock = FakeClock()
    mfa = MFA(store=sql_store, **_config(clock))
    device = SoftwareAuthenticator()
    _register(mfa, clock, device, "alice")
    pending = mfa.begin_passkey_sign_in()
    answer = device.get(pending.options_json, origin=ORIGIN)
    reasons: list[Reason | None] = []

    def finish() -> bool:
        result = mfa.finish_passkey_sign_in(pending.ceremony_id, answer)
        reasons.append(result.reason)
        return result.ok

    wins = race(THREADS, finish)
    assert wins.count(True) == 1, reasons
    assert [r for r in reasons if r is not None] == [Reason.REPLAYED] * (THREADS - 1)
    assert sql_store.list_credentials("alice")[0].sign_count == 2


def test_one_thread_wins_a_second_step_with_a_passkey(sql_store: SqlStore) -> None:
    clock = FakeClock()
    mfa = MFA(store=sql_store, **_config(clock))
    device = SoftwareAuthenticator()
    _register(mfa, clock, device, "alice")
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None
    answer = device.get(start.challenge.passkey_options, origin=ORIGIN)
    challenge_id = start.challenge.id

    def finish() -> bool:
        try:
            return mfa.verify(challenge_id, answer).ok
        except ConflictingState:  # read after the winner committed: the challenge succeeded
            return False

    wins = race(THREADS, finish)
    assert wins.count(True) == 1


def test_every_flow_on_sql(sql_store: SqlStore) -> None:
    clock = FakeClock()
    run_every_flow(MFA(store=sql_store, **config(clock)), clock)


@pytest.mark.parametrize("backend", ["sqlite-file", "postgres"])
def test_every_flow_through_the_async_facade(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """AsyncMFA on AsyncSqlStore (aiosqlite, and PostgreSQL through psycopg's async driver)."""
    if backend == "postgres":
        url = request.getfixturevalue("postgres_url")
        store = AsyncSqlStore.from_url(url, table_prefix=unique_prefix())
    else:
        store = AsyncSqlStore.from_url(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(store.create_all())
        clock = FakeClock()
        run_every_flow(OnOneLoop(AsyncMFA(store=store, **config(clock)), loop), clock)
        if backend == "postgres":
            loop.run_until_complete(drop_tables(store))
    finally:
        loop.run_until_complete(store.close())
        loop.close()


def test_async_tasks_finish_a_passwordless_sign_in_once(tmp_path: Path) -> None:
    """Eight tasks of one async app server post the same answer at once: one wins."""

    async def run() -> None:
        store = AsyncSqlStore.from_url(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
        await store.create_all()
        clock = FakeClock()
        amfa = AsyncMFA(store=store, **_config(clock))
        device = SoftwareAuthenticator()
        actor = Actor.user("alice", reauthenticated_at=clock.now())
        begun = await amfa.begin_passkey_registration(actor, "alice", name="Key", passwordless=True)
        answer = device.create(begun.options_json, origin=ORIGIN)
        assert (await amfa.finish_passkey_registration(actor, begun.ceremony_id, answer)).ok
        pending = await amfa.begin_passkey_sign_in()
        answer = device.get(pending.options_json, origin=ORIGIN)
        results = await asyncio.gather(
            *(amfa.finish_passkey_sign_in(pending.ceremony_id, answer) for _ in range(THREADS))
        )
        assert [r.ok for r in results].count(True) == 1, results
        assert {r.reason for r in results if not r.ok} == {Reason.REPLAYED}
        assert (await store.list_credentials("alice"))[0].sign_count == 2
        await store.close()

    asyncio.run(run())
