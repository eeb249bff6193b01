"""AsyncMFA: the same use cases, awaited (P5)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import mfakit
from mfakit import Actor, AsyncMFA, Method, Reason
from mfakit.adapters import MemoryStore, Outbox
from mfakit.adapters.memory_async import AsyncMemoryStore
from mfakit.hashers import Argon2Hasher
from mfakit.testing import FakeClock, authenticator_code, fast_hasher

SECRET = "bec8d481e7fde10fde44233720622064260ad73e712f652cba778b694f318cae"
PHONE = "+14155550101"


def build(
    clock: FakeClock, store: Any = None, **kwargs: Any
) -> tuple[AsyncMFA, AsyncMemoryStore, Outbox]:
    astore = store if store is not None else AsyncMemoryStore()
    outbox = Outbox()
    kwargs.setdefault("hasher", fast_hasher())
    amfa = AsyncMFA(
        store=astore,
        secret_key=SECRET,
        issuer="Aesthetix CRM",
        clock=clock,
        sms=outbox,
        voice=outbox,
        email=outbox,
        **kwargs,
    )
    return amfa, astore, outbox


async def enrol_totp(
    amfa: AsyncMFA, clock: FakeClock, user: str = "alice"
) -> tuple[str, list[str]]:
    actor = Actor.user(user, reauthenticated_at=clock.now())
    setup = await amfa.begin_totp_setup(actor, user, account_name=f"{user}@example.org")
    done = await amfa.confirm_totp_setup(
        actor, setup.id, authenticator_code(setup.uri, clock.now())
    )
    assert done.ok and done.backup_codes is not None
    clock.advance(seconds=90)
    return setup.uri, list(done.backup_codes)


@pytest.mark.asyncio
async def test_sign_in_with_an_authenticator() -> None:
    clock = FakeClock()
    amfa, _, _ = build(clock)
    uri, _ = await enrol_totp(amfa, clock)
    start = await amfa.begin_sign_in("alice", role="staff")
    assert start.challenge is not None and start.challenge.method is Method.TOTP
    result = await amfa.verify(
        start.challenge.id, authenticator_code(uri, clock.now()), trust_device=True
    )
    assert result.ok and result.trust_token is not None
    again = await amfa.begin_sign_in("alice", trust_token=result.trust_token)
    assert again.satisfied and again.trusted_device


@pytest.mark.asyncio
async def test_same_results_and_errors_as_the_sync_facade() -> None:
    clock = FakeClock()
    amfa, astore, outbox = build(clock)
    sync = mfakit.MFA(
        store=astore.sync,
        secret_key=SECRET,
        issuer="Aesthetix CRM",
        clock=clock,
        hasher=fast_hasher(),
        sms=outbox,
    )
    actor = Actor.user("alice", reauthenticated_at=clock.now())
    sent = await amfa.begin_phone_enrolment(actor, "alice", PHONE)
    assert sent.ok
    # The state is shared: the sync facade sees the async one's challenge.
    assert sync.get_challenge(sent.challenge.id) == await amfa.get_challenge(sent.challenge.id)
    wrong = await amfa.verify(sent.challenge.id, "000000")
    assert (wrong.ok, wrong.reason, wrong.attempts_left) == (False, Reason.INVALID_CODE, 4)
    typo = await amfa.verify(sent.challenge.id, "12ab56")
    assert (typo.reason, typo.attempts_left) == (Reason.MALFORMED_CODE, 4)
    with pytest.raises(mfakit.InvalidInput):
        await amfa.verify(sent.challenge.id, None)  # type: ignore[arg-type]
    with pytest.raises(mfakit.NotFound):
        await amfa.verify("no-such-challenge", "123456")
    with pytest.raises(mfakit.NotPermitted):
        await amfa.begin_totp_setup(
            Actor.admin("boss", reauthenticated_at=clock.now()), "alice", account_name="a"
        )
    ok = await amfa.verify(sent.challenge.id, outbox.last_code(PHONE))
    assert ok.ok and ok.backup_codes is not None and len(ok.backup_codes) == 10


@pytest.mark.asyncio
async def test_sync_in_memory_ports_work_too() -> None:
    clock = FakeClock()
    amfa, _, _ = build(clock, store=MemoryStore())
    uri, codes = await enrol_totp(amfa, clock)
    assert (await amfa.verify_backup_code("alice", codes[0])).ok
    assert (await amfa.verify_totp("alice", authenticator_code(uri, clock.now()))).ok
    assert await amfa.backup_codes_left("alice") == 9


@pytest.mark.asyncio
async def test_argon2_runs_off_the_event_loop() -> None:
    """While a backup code is checked at full argon2 cost, other tasks keep running."""
    clock = FakeClock()
    amfa, _, _ = build(clock, hasher=Argon2Hasher())
    _, codes = await enrol_totp(amfa, clock)
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await amfa.verify_backup_code("alice", codes[0])
    elapsed = loop.time() - started
    stop.set()
    await task
    assert result.ok
    # A blocked loop would allow ~1 tick; a free one ticks every 5 ms throughout.
    assert elapsed > 0.02
    assert ticks >= max(3, int(elapsed / 0.005 * 0.3)), (ticks, elapsed)


class SlowStore(AsyncMemoryStore):
    """Pauses inside one port call, so a test can cancel the request there."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()

    async def use_backup_code(self, user_id: str, lookup: str, *, now: Any) -> bool:  # type: ignore[override]
        self.entered.set()
        await asyncio.sleep(10)
        return await super().use_backup_code(user_id, lookup, now=now)


@pytest.mark.asyncio
async def test_cancellation_leaves_no_half_applied_state() -> None:
    clock = FakeClock()
    store = SlowStore()
    amfa, _, _ = build(clock, store=store)
    _, codes = await enrol_totp(amfa, clock)
    before = await amfa.backup_codes_left("alice")
    task = asyncio.create_task(amfa.verify_backup_code("alice", codes[0]))
    await store.entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The code was not consumed: it still works, once.
    assert await amfa.backup_codes_left("alice") == before
    store.use_backup_code = AsyncMemoryStore.use_backup_code.__get__(store)  # type: ignore[method-assign]
    assert (await amfa.verify_backup_code("alice", codes[0])).ok
    assert not (await amfa.verify_backup_code("alice", codes[0])).ok


@pytest.mark.asyncio
async def test_cancelled_during_hashing_keeps_the_code() -> None:
    clock = FakeClock()
    amfa, _, _ = build(clock, hasher=Argon2Hasher())
    _, codes = await enrol_totp(amfa, clock)
    task = asyncio.create_task(amfa.verify_backup_code("alice", codes[1]))
    await asyncio.sleep(0.01)  # inside the argon2 verification, in its thread
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await amfa.backup_codes_left("alice") == 10
    assert (await amfa.verify_backup_code("alice", codes[1])).ok


@pytest.mark.asyncio
async def test_concurrent_tasks_accept_a_code_once() -> None:
    clock = FakeClock()
    amfa, _, _ = build(clock)
    uri, _ = await enrol_totp(amfa, clock)
    code = authenticator_code(uri, clock.now())
    results = await asyncio.gather(*(amfa.verify_totp("alice", code) for _ in range(16)))
    assert sum(r.ok for r in results) == 1
    _, bob_codes = await enrol_totp(amfa, clock, "bob")  # alice is backing off now
    results = await asyncio.gather(
        *(amfa.verify_backup_code("bob", bob_codes[2]) for _ in range(8))
    )
    assert sum(r.ok for r in results) == 1


@pytest.mark.asyncio
async def test_step_up_awaited_binds_a_second_factor() -> None:
    """S32 through the async facade: refused without a grant, done with one
    passed by SMS to the user's verified phone (an awaited send)."""
    clock = FakeClock()
    amfa, _, outbox = build(clock)
    uri, _ = await enrol_totp(amfa, clock)
    bare = Actor.user("alice", reauthenticated_at=clock.now())
    with pytest.raises(mfakit.StepUpRequired):
        await amfa.begin_phone_enrolment(bare, "alice", PHONE)
    start = await amfa.begin_step_up(bare, "alice")
    assert isinstance(start, mfakit.StepUpChallenge)
    result = await amfa.verify(start.challenge.id, authenticator_code(uri, clock.now()))
    assert result.ok and result.step_up is not None
    stepped = Actor.user("alice", reauthenticated_at=clock.now(), step_up=result.step_up)
    sent = await amfa.begin_phone_enrolment(stepped, "alice", PHONE)
    assert sent.ok and outbox.last_code(PHONE)
