"""AsyncSqlStore: the shared storage contract on aiosqlite (file and memory) and
on PostgreSQL through psycopg's async connections, driven through the blocking
bridge; then its own behaviour and AsyncMFA on it, end to end.

PostgreSQL follows tests/sql/conftest.py: ``MFAKIT_TEST_POSTGRES_URL``, a skip
without it, a failure under ``CI=true``; fresh tables under a unique prefix.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import create_engine, event, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

from mfakit import Actor, AsyncMFA, ConfigurationError, ContactKind, Method, State, StorageError
from mfakit.adapters import Outbox
from mfakit.adapters.sql import SCHEMA_VERSION, AsyncSqlStore, SqlStore
from mfakit.core.records import ContactRecord
from mfakit.testing import FakeClock, authenticator_code, fast_hasher
from mfakit.testing.contract import (
    T0,
    AuditLogContract,
    AuditRetentionContract,
    BlockingStore,
    ConcurrencyContract,
    DeviceContract,
    StoreContract,
    backup_codes,
    challenge_record,
)

from .conftest import unique_prefix
from .test_errors import duplicated_codes

SECRET = "ab8e865d1068caf0041de2d6a1816e3dea5378887d7ae15da06450664d09045f"
PHONE = "+14155550101"


async def drop_tables(store: AsyncSqlStore) -> None:
    async with store.engine.begin() as conn:
        await conn.run_sync(store.metadata.drop_all)


# --- the contract ---------------------------------------------------------------


class TestAsyncSqliteFile(StoreContract, AuditLogContract, AuditRetentionContract):
    """aiosqlite on a file as from_url sets it up: WAL, busy timeout, BEGIN IMMEDIATE."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[BlockingStore]:
        with BlockingStore(AsyncSqlStore.from_url(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")) as b:
            b.run(b.store.create_all())
            yield b
            b.run(b.store.close())


class TestAsyncSqliteMemory(StoreContract):
    """One shared connection (StaticPool): the store serialises its tasks."""

    @pytest.fixture
    def store(self) -> Iterator[BlockingStore]:
        with BlockingStore(AsyncSqlStore.from_url("sqlite+aiosqlite://")) as b:
            b.run(b.store.create_all())
            yield b
            b.run(b.store.close())


class TestAsyncSqliteOwnEngine(ConcurrencyContract, DeviceContract):
    """A host's own aiosqlite engine, left as SQLAlchemy made it (no
    configure_sqlite): the driver's own transactions, raced. (The races and
    the multi-statement operations only: without WAL every test pays for
    several synced writes.)"""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[BlockingStore]:
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'host.db'}")
        with BlockingStore(AsyncSqlStore(engine, table_prefix="app_mfa_")) as b:
            b.run(b.store.create_all())
            yield b
            b.run(engine.dispose())


class TestAsyncPostgres(StoreContract, AuditLogContract, AuditRetentionContract):
    """psycopg async through a host-owned AsyncEngine; fresh tables under a unique prefix."""

    @pytest.fixture
    def store(self, postgres_url: str) -> Iterator[BlockingStore]:
        # Enough connections for the 16 racing tasks. An engine per test: its
        # connections belong to the bridge's loop, which lives for one test.
        engine = create_async_engine(
            postgres_url, pool_size=20, max_overflow=5, hide_parameters=True
        )
        with BlockingStore(AsyncSqlStore(engine, table_prefix=unique_prefix())) as b:
            b.run(b.store.create_all())
            yield b
            b.run(drop_tables(b.store))
            b.run(engine.dispose())


# --- the store itself ---------------------------------------------------------------

BACKENDS = ("sqlite-file", "postgres")


@pytest_asyncio.fixture(params=BACKENDS)
async def astore(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncSqlStore]:
    """A fresh AsyncSqlStore made by from_url, tables created."""
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        store = AsyncSqlStore.from_url(url, table_prefix=unique_prefix(), pool_size=20)
    else:
        store = AsyncSqlStore.from_url(f"sqlite+aiosqlite:///{tmp_path / 'mfa.db'}")
    await store.create_all()
    yield store
    if store.engine.dialect.name == "postgresql":
        await drop_tables(store)
    await store.close()


@pytest.mark.asyncio
async def test_database_failures_are_storage_errors(astore: AsyncSqlStore) -> None:
    store = astore
    await store.insert_challenge(challenge_record())
    await store.replace_backup_codes("alice", backup_codes(n=2))
    with pytest.raises(StorageError, match="already exists"):
        await store.insert_challenge(challenge_record())
    contact = ContactRecord(user_id="alice", kind=ContactKind.PHONE, value=PHONE, created_at=T0)
    done = replace(challenge_record(), state=State.SUCCEEDED)
    with pytest.raises(StorageError) as info:
        await store.update_challenge(done, contact=contact, backup_codes=duplicated_codes())
    assert isinstance(info.value.__cause__, SQLAlchemyError)
    assert str(info.value).startswith("AsyncSqlStore.update_challenge failed: IntegrityError")
    assert "$leak$" not in str(info.value)
    # One transaction: neither the challenge, nor the contact, nor the codes moved.
    assert await store.get_challenge("c1") == challenge_record()
    assert await store.get_contacts("alice") == []
    assert await store.count_backup_codes("alice") == 2
    # A dropped table fails its operations only.
    async with store.engine.begin() as conn:
        await conn.run_sync(store.metadata.tables[store.table_prefix + "backup_codes"].drop)
    with pytest.raises(StorageError, match="count_backup_codes"):
        await store.count_backup_codes("alice")
    assert await store.update_challenge(done, contact=contact)
    assert await store.get_contacts("alice") == [contact]


@pytest.mark.asyncio
async def test_schema_checks(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'schema.db'}"
    bare = AsyncSqlStore.from_url(url)
    with pytest.raises(ConfigurationError, match="missing"):
        await bare.get_counter("k")
    await bare.create_all()
    assert await bare.get_counter("k") is None
    await bare.close()
    # The sync store sees the same tables; a newer recorded version is refused by both.
    sync = SqlStore.from_url(f"sqlite:///{tmp_path / 'schema.db'}", create=False)
    with sync.engine.begin() as conn:
        conn.execute(update(sync.metadata.tables["mfa_schema_version"]).values(version=99))
    sync.close()
    newer = AsyncSqlStore.from_url(url)
    with pytest.raises(ConfigurationError, match="newer"):
        await newer.get_totp("alice", "f1")
    with pytest.raises(ConfigurationError, match="newer"):
        await newer.create_all()
    await newer.close()
    assert SCHEMA_VERSION < 99


@pytest.mark.asyncio
async def test_sqlite_settings_and_begin_immediate(tmp_path: Path) -> None:
    store = AsyncSqlStore.from_url(f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}")
    await store.create_all()
    async with store.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 5000
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    seen: list[str] = []
    event.listen(store.engine.sync_engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    await store.replace_backup_codes("alice", backup_codes(n=2))
    assert seen[0] == "BEGIN IMMEDIATE"
    seen.clear()
    assert await store.use_backup_code("alice", "00", now=T0)
    assert [s.split()[0] for s in seen] == ["UPDATE"]  # one statement, no BEGIN
    await store.close()


def test_wiring_errors() -> None:
    with pytest.raises(ConfigurationError, match="AsyncEngine"):
        AsyncSqlStore(create_engine("sqlite://"))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="not an async driver"):
        AsyncSqlStore.from_url("sqlite:///mfa.db")
    with pytest.raises(ConfigurationError):
        AsyncSqlStore.from_url("not a url at all")
    with pytest.raises(ConfigurationError):
        AsyncSqlStore.from_url("sqlite+aiosqlite://", table_prefix="1bad")
    store = AsyncSqlStore.from_url("sqlite+aiosqlite://", table_prefix="app_")
    assert repr(store) == "AsyncSqlStore(dialect='sqlite', table_prefix='app_')"
    assert "app_totp_factors" in store.metadata.tables


# --- AsyncMFA on AsyncSqlStore, end to end ------------------------------------------


def build(store: AsyncSqlStore, clock: FakeClock) -> tuple[AsyncMFA, Outbox]:
    outbox = Outbox()
    amfa = AsyncMFA(
        store=store,
        secret_key=SECRET,
        issuer="Aesthetix CRM",
        clock=clock,
        hasher=fast_hasher(),
        sms=outbox,
        email=outbox,
    )
    return amfa, outbox


async def enrol_totp(amfa: AsyncMFA, clock: FakeClock, user: str) -> tuple[str, list[str]]:
    actor = Actor.user(user, reauthenticated_at=clock.now())
    setup = await amfa.begin_totp_setup(actor, user, account_name=f"{user}@example.org")
    done = await amfa.confirm_totp_setup(
        actor, setup.id, authenticator_code(setup.uri, clock.now())
    )
    assert done.ok and done.backup_codes is not None
    clock.advance(seconds=90)  # the steps around "now" are unused again
    return setup.uri, list(done.backup_codes)


@pytest.mark.asyncio
async def test_totp_enrolment_and_sign_in(astore: AsyncSqlStore) -> None:
    clock = FakeClock()
    amfa, _ = build(astore, clock)
    uri, codes = await enrol_totp(amfa, clock, "alice")
    assert await amfa.backup_codes_left("alice") == 10
    start = await amfa.begin_sign_in("alice", role="staff")
    assert start.challenge is not None and start.challenge.method is Method.TOTP
    result = await amfa.verify(
        start.challenge.id, authenticator_code(uri, clock.now()), trust_device=True
    )
    assert result.ok and result.trust_token is not None
    again = await amfa.begin_sign_in("alice", trust_token=result.trust_token)
    assert again.satisfied and again.trusted_device
    assert (await amfa.verify_backup_code("alice", codes[0])).ok
    assert not (await amfa.verify_backup_code("alice", codes[0])).ok
    assert await amfa.backup_codes_left("alice") == 9


@pytest.mark.asyncio
async def test_sms_enrolment_through_an_outbox(astore: AsyncSqlStore) -> None:
    clock = FakeClock()
    amfa, outbox = build(astore, clock)
    actor = Actor.user("bob", reauthenticated_at=clock.now())
    sent = await amfa.begin_phone_enrolment(actor, "bob", PHONE)
    assert sent.ok and sent.challenge is not None
    wrong = await amfa.verify(sent.challenge.id, "000000")
    assert not wrong.ok and wrong.attempts_left == 4
    done = await amfa.verify(sent.challenge.id, outbox.last_code(PHONE))
    assert done.ok and done.backup_codes is not None
    (contact,) = await astore.get_contacts("bob")
    assert (contact.kind, contact.value, contact.verified) == (ContactKind.PHONE, PHONE, True)
    # And the phone now signs bob in.
    start = await amfa.begin_sign_in("bob")
    assert start.challenge is not None and start.challenge.method is Method.SMS
    assert (await amfa.verify(start.challenge.id, outbox.last_code(PHONE))).ok


@pytest.mark.asyncio
async def test_concurrent_tasks_accept_a_code_once(astore: AsyncSqlStore) -> None:
    clock = FakeClock()
    amfa, _ = build(astore, clock)
    uri, codes = await enrol_totp(amfa, clock, "carol")
    code = authenticator_code(uri, clock.now())
    results = await asyncio.gather(*(amfa.verify_totp("carol", code) for _ in range(16)))
    assert sum(r.ok for r in results) == 1, results
    uri, codes = await enrol_totp(amfa, clock, "dave")
    results = await asyncio.gather(*(amfa.verify_backup_code("dave", codes[4]) for _ in range(8)))
    assert sum(r.ok for r in results) == 1, results
    assert await amfa.backup_codes_left("dave") == 9


@pytest.mark.asyncio
async def test_cancelled_requests_leave_whole_state(astore: AsyncSqlStore) -> None:
    """Requests cancelled at different points, while a connection is being
    opened included: each backup code is consumed entirely or not at all, no
    connection is left behind unclosed (-W error would catch it), and the
    store keeps working."""
    clock = FakeClock()
    amfa, _ = build(astore, clock)
    _, codes = await enrol_totp(amfa, clock, "erin")
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert (await amfa.verify_backup_code("erin", codes[9])).ok
    took = loop.time() - started
    outcomes: list[Any] = []
    for i, code in enumerate(codes[:8]):
        if i % 2:
            await astore.engine.dispose()  # the next request opens a connection
        task = asyncio.create_task(amfa.verify_backup_code("erin", code))
        await asyncio.sleep(took * i / 5)  # from at once to after it should be done
        task.cancel()
        try:
            outcomes.append((await task).ok)
        except asyncio.CancelledError:
            outcomes.append("cancelled")
    gc.collect()  # an abandoned connection would warn now
    assert outcomes[0] == "cancelled"
    # Each code is either spent (and refused now) or intact (and accepted now, once).
    left = await amfa.backup_codes_left("erin")
    retried = [(await amfa.verify_backup_code("erin", code)).ok for code in codes[:8]]
    assert left - retried.count(True) == await amfa.backup_codes_left("erin") == 1
    assert not any(ok for outcome, ok in zip(outcomes, retried, strict=True) if outcome is True)
