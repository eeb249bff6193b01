"""Issue 12, finding 4: half-done security changes.

Before the fix a contact change or a factor removal was committed first; the
security-version bump, the device revocation and the notice to the old address
were later calls. A storage error or a cancelled task between them left old
trust tokens valid and the old address uninformed.

Now each change is one unit of work: the change, the version bump, the
revocation, the audit events and the notices (queued in the outbox) commit
together or not at all; the notices are sent right after, and what is left is
sent by ``deliver_pending_notices()``. These tests inject a failure at every
step of every security change (the Nth store call raises, the sender fails, the
task is cancelled at the Nth await of the async store or of the sender, the
Nth await of the async store raises) on the memory stores and on SQLite (sync and
aiosqlite), and check that either nothing changed or all of it
did (factor gone AND version bumped AND devices revoked AND the notice
delivered or waiting in the outbox), then that the outbox delivers it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mfakit import MFA, Action, Actor, AsyncMFA, InvalidInput, StorageError
from mfakit.adapters import MemoryAuditLog, MemoryStore, Outbox
from mfakit.adapters.memory_async import AsyncMemoryStore
from mfakit.adapters.sql import AsyncSqlStore, SqlStore
from mfakit.testing import FakeClock, authenticator_code, fast_hasher
from tests.conftest import SECRET
from tests.helpers import EMAIL, PHONE, fresh

NEW_EMAIL = "alice.new@example.org"
NEW_PHONE = "+14155550199"
FAR = timedelta(days=3650)


# --- stores that fail on demand (real adapters underneath) ----------------------


class _Faults:
    """Counts the port calls of a store and fails the ``fail_at``-th."""

    def __init__(self) -> None:
        self.fail_at: int | None = None
        self.calls = 0

    def step(self) -> bool:
        """Count one call; whether it is the one to fail."""
        if self.fail_at is None:
            return False
        self.calls += 1
        return self.calls == self.fail_at


_PORT = frozenset(
    {
        "apply",
        "load_user",
        "load_challenge",
        "get_contacts",
        "get_user_state",
        "get_device",
        "list_devices",
        "get_totp",
        "pending_notices",
        "count_backup_codes",
        "get_challenge",
    }
)


class FailingMemoryStore(MemoryStore):
    """A MemoryStore whose ``faults.fail_at``-th port call raises StorageError."""

    def __init__(self) -> None:
        super().__init__()
        self.faults = _Faults()

    def __getattribute__(self, name: str) -> Any:
        attr = super().__getattribute__(name)
        if name in _PORT:
            faults = super().__getattribute__("faults")

            def call(*args: Any, **kwargs: Any) -> Any:
                if faults.step():
                    raise StorageError(f"{name} failed (injected)")
                return attr(*args, **kwargs)

            return call
        return attr


class FailingSqlStore(SqlStore):
    """A SqlStore (SQLite) whose ``faults.fail_at``-th port call raises StorageError."""

    faults: _Faults

    def __getattribute__(self, name: str) -> Any:
        attr = super().__getattribute__(name)
        if name in _PORT:
            faults = super().__getattribute__("faults")

            def call(*args: Any, **kwargs: Any) -> Any:
                if faults.step():
                    raise StorageError(f"{name} failed (injected)")
                return attr(*args, **kwargs)

            return call
        return attr


def make_store(kind: str, tmp_path: Path) -> Any:
    if kind == "memory":
        return FailingMemoryStore()
    store = FailingSqlStore.from_url(f"sqlite:///{tmp_path / 'mfa.db'}")
    store.faults = _Faults()
    store.create_all()
    return store


# --- Alice: an authenticator, a phone, an email and a trusted device ----------------


@dataclass
class World:
    mfa: MFA
    store: Any
    clock: FakeClock
    outbox: Outbox
    uri: str
    factor_id: str
    extra: dict[str, str] = field(default_factory=dict)

    def code(self) -> str:
        return authenticator_code(self.uri, self.clock.now())


def build(store: Any, **kwargs: Any) -> World:
    clock = FakeClock()
    outbox = Outbox()
    mfa = MFA(
        store=store,
        secret_key=SECRET,
        issuer="Aesthetix CRM",
        clock=clock,
        hasher=fast_hasher(),
        sms=outbox,
        voice=outbox,
        email=outbox,
        **kwargs,
    )
    actor = fresh(clock)
    setup = mfa.begin_totp_setup(actor, "alice", account_name=EMAIL)
    confirmed = mfa.confirm_totp_setup(actor, setup.id, authenticator_code(setup.uri, clock.now()))
    assert confirmed.ok and confirmed.authenticator is not None
    clock.advance(seconds=90)
    for begin, to in ((mfa.begin_phone_enrolment, PHONE), (mfa.begin_email_enrolment, EMAIL)):
        sent = begin(fresh(clock), "alice", to)
        assert mfa.verify(sent.challenge.id, outbox.last_code(to)).ok
        clock.advance(seconds=31)
    world = World(mfa, store, clock, outbox, setup.uri, confirmed.authenticator.id)
    assert confirmed.backup_codes is not None
    world.extra["backup_code"] = next(iter(confirmed.backup_codes))
    started = mfa.begin_sign_in("alice")
    assert started.challenge is not None
    assert mfa.verify(started.challenge.id, world.code(), trust_device=True).ok
    clock.advance(seconds=90)
    outbox.clear()
    return world


# --- the security changes, and what "all of it" means for each ----------------------


@dataclass(frozen=True)
class Change:
    """One security change: how to prepare and make it, whether its change
    (beyond version, devices and notices) is visible, and where its notices go."""

    prepare: Callable[[World], None]
    make: Callable[[World], object]
    changed: Callable[[World, Any], bool]
    notified: tuple[str, ...]
    revokes: bool = True
    """Whether the change moves the security version and revokes devices."""


def _nothing(world: World) -> None:
    return None


def _begin_email_change(world: World) -> None:
    start = world.mfa.begin_contact_change(fresh(world.clock), "alice", email=NEW_EMAIL)
    assert start.ok and start.challenge is not None
    world.extra["challenge"] = start.challenge.id


def _begin_second_authenticator(world: World) -> None:
    setup = world.mfa.begin_totp_setup(
        fresh(world.clock), "alice", account_name=EMAIL, label="Tablet"
    )
    world.extra["setup"], world.extra["setup_uri"] = setup.id, setup.uri


def _begin_phone_enrolment(world: World) -> None:
    """Remove the phone, trust a device again, then begin enrolling another
    phone: verifying its code adds a factor (version, devices, notice)."""
    world.mfa.remove_contact(fresh(world.clock), "alice", "phone")
    started = world.mfa.begin_sign_in("alice")
    assert started.challenge is not None
    assert world.mfa.verify(started.challenge.id, world.code(), trust_device=True).ok
    world.clock.advance(seconds=90)
    sent = world.mfa.begin_phone_enrolment(fresh(world.clock), "alice", NEW_PHONE)
    assert sent.challenge is not None
    world.extra["challenge"] = sent.challenge.id
    world.extra["code"] = world.outbox.last_code(NEW_PHONE)


def _use_a_backup_code(world: World) -> None:
    assert world.mfa.verify_backup_code("alice", world.extra["backup_code"]).ok


CHANGES: dict[str, Change] = {
    "remove_contact": Change(
        _nothing,
        lambda w: w.mfa.remove_contact(fresh(w.clock), "alice", "phone"),
        lambda w, snap: all(c.kind.value != "phone" for c in snap.contacts),
        (EMAIL, PHONE),  # another channel, and the removed destination (S21)
    ),
    "remove_authenticator": Change(
        _nothing,
        lambda w: w.mfa.remove_authenticator(fresh(w.clock), "alice", w.factor_id),
        lambda w, snap: not snap.totps,
        (EMAIL,),
    ),
    "disable_two_factor": Change(
        _nothing,
        lambda w: w.mfa.disable_two_factor(fresh(w.clock), "alice"),
        lambda w, snap: not snap.totps and not any(c.verified for c in snap.contacts),
        (EMAIL,),
    ),
    "password_changed": Change(
        _nothing,
        lambda w: w.mfa.password_changed(Actor.user("alice"), "alice"),
        lambda w, snap: True,  # nothing but the version, the devices and the notice
        (EMAIL,),
    ),
    "contact_change": Change(
        _begin_email_change,
        lambda w: w.mfa.verify(w.extra["challenge"], w.code()),
        lambda w, snap: any(c.value == NEW_EMAIL for c in snap.contacts),
        (EMAIL,),  # the old address is told
    ),
    "authenticator_added": Change(
        _begin_second_authenticator,
        lambda w: w.mfa.confirm_totp_setup(
            fresh(w.clock),
            w.extra["setup"],
            authenticator_code(w.extra["setup_uri"], w.clock.now()),
        ),
        lambda w, snap: sum(1 for t in snap.totps if t.confirmed) == 2,
        (EMAIL,),
    ),
    "backup_codes_regenerated": Change(
        _use_a_backup_code,  # 9 left: a new set shows as 10
        lambda w: w.mfa.regenerate_backup_codes(fresh(w.clock), "alice"),
        lambda w, snap: snap.backup_codes_left == 10,
        (EMAIL,),
        revokes=False,
    ),
    "phone_enrolled": Change(
        _begin_phone_enrolment,
        lambda w: w.mfa.verify(w.extra["challenge"], w.extra["code"]),
        lambda w, snap: any(c.value == NEW_PHONE and c.verified for c in snap.contacts),
        (EMAIL,),  # the other channel, never the phone being enrolled
    ),
}


@dataclass(frozen=True)
class Observed:
    snapshot: Any
    version: int
    live_devices: int
    pending: int
    told: dict[str, int]


def observe(world: World, notified: tuple[str, ...]) -> Observed:
    store = world.store
    saved, store.faults.fail_at = store.faults.fail_at, None
    try:
        state = store.get_user_state("alice")
        return Observed(
            snapshot=store.load_user("alice"),
            version=0 if state is None else state.security_version,
            live_devices=sum(1 for d in store.list_devices("alice") if d.revoked_at is None),
            pending=len(store.pending_notices(now=world.clock.now() + FAR, limit=100)),
            told={to: len(world.outbox.sent_to(to)) for to in notified},
        )
    finally:
        store.faults.fail_at = saved


def assert_none_or_all(change: Change, world: World, before: Observed, after: Observed) -> bool:
    """Nothing changed, or all of it did; returns whether it did."""
    assert before.live_devices, "no trusted device to revoke: the check would prove nothing"
    if after == before:
        return False
    assert change.changed(world, after.snapshot), "a side effect without the change"
    if change.revokes:
        assert after.version > before.version, "changed, but the security version did not move"
        assert after.live_devices == 0, "changed, but a trusted device still works"
    else:
        assert (after.version, after.live_devices) == (before.version, before.live_devices)
    for to in change.notified:
        delivered = after.told[to] > before.told[to]
        assert delivered or after.pending, f"changed, but {to} was neither told nor queued"
    return True


def deliver_the_rest(world: World, change: Change, before: Observed) -> None:
    """After a change: what the outbox still holds is delivered, once due."""
    world.store.faults.fail_at = None
    world.clock.advance(minutes=6)  # past the lease of the request that queued them
    world.mfa.deliver_pending_notices()
    after = observe(world, change.notified)
    assert after.pending == 0
    for to in change.notified:
        assert after.told[to] > before.told[to], f"{to} was never told"


@pytest.fixture(params=["memory", "sqlite"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("name", list(CHANGES))
def test_a_store_failure_at_any_step_leaves_none_or_all(
    name: str, store_kind: str, tmp_path: Path
) -> None:
    change = CHANGES[name]
    outcomes = []
    for fail_at in range(1, 40):
        path = tmp_path / f"{fail_at}"
        path.mkdir()
        world = build(make_store(store_kind, path))
        change.prepare(world)
        before = observe(world, change.notified)
        world.store.faults.fail_at = fail_at
        with contextlib.suppress(StorageError):
            change.make(world)
        reached = world.store.faults.calls >= fail_at
        after = observe(world, change.notified)
        done = assert_none_or_all(change, world, before, after)
        outcomes.append(done)
        if done:
            deliver_the_rest(world, change, before)
        else:
            assert after.pending == 0
        if not reached:  # the call ran to its end: every step has had its failure
            assert done
            break
    else:
        pytest.fail("the change never completed")
    # Some failure left nothing done, and some (after the commit) left it all.
    assert not outcomes[0] and any(outcomes[:-1])


@pytest.mark.parametrize("name", list(CHANGES))
def test_a_failed_send_leaves_the_notice_in_the_outbox(
    name: str, store_kind: str, tmp_path: Path
) -> None:
    change = CHANGES[name]
    world = build(make_store(store_kind, tmp_path))
    change.prepare(world)
    before = observe(world, change.notified)
    world.outbox.fail_next(len(change.notified))
    change.make(world)
    after = observe(world, change.notified)
    assert assert_none_or_all(change, world, before, after)
    assert after.pending == len(change.notified)
    assert after.told == before.told
    # Not before the lease of the request that queued it is over...
    assert world.mfa.deliver_pending_notices() == 0
    world.clock.advance(minutes=6)
    assert world.mfa.deliver_pending_notices() == len(change.notified)
    assert world.mfa.deliver_pending_notices() == 0
    done = observe(world, change.notified)
    assert done.pending == 0
    assert all(done.told[to] == before.told[to] + 1 for to in change.notified)


def test_a_notice_failing_again_waits_longer_each_time(tmp_path: Path) -> None:
    world = build(make_store("memory", tmp_path))
    world.outbox.fail_next(1)
    world.mfa.password_changed(Actor.user("alice"), "alice")

    def attempts() -> int:
        (queued,) = world.store.pending_notices(now=world.clock.now() + FAR, limit=10)
        return queued.attempts

    waits = []
    for _ in range(4):
        world.outbox.fail_next(1)
        start, minutes = attempts(), 0
        while attempts() == start:
            world.clock.advance(minutes=1)
            minutes += 1
            assert world.mfa.deliver_pending_notices() == 0
        waits.append(minutes)
    assert waits == [5, 10, 20, 40]
    assert world.outbox.sent_to(EMAIL) == []
    world.clock.advance(minutes=80)
    assert world.mfa.deliver_pending_notices() == 1
    assert len(world.outbox.sent_to(EMAIL)) == 1


# --- AsyncMFA: a task cancelled at any await -------------------------------------------


class _Hang:
    """Hangs the ``hang_at``-th awaited call (store or sender) until cancelled;
    with ``fail``, that call (of the store) raises StorageError instead."""

    def __init__(self, hang_at: int, *, fail: bool = False) -> None:
        self.hang_at = hang_at
        self.fail = fail
        self.calls = 0
        self.reached = asyncio.Event()

    async def step(self) -> None:
        self.calls += 1
        if self.calls == self.hang_at:
            self.reached.set()
            if self.fail:
                raise StorageError("injected")
            await asyncio.Event().wait()  # until the task is cancelled


class HangingAsyncStore:
    """An async store (AsyncMemoryStore, or a SqlStore run off the loop) whose
    calls first pass through ``hang``."""

    def __init__(self, inner: Any, hang: _Hang | None) -> None:
        self.inner = inner
        self.hang = hang

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.hang is not None:
                await self.hang.step()
            result = target(*args, **kwargs)
            if asyncio.iscoroutine(result):
                return await result
            return result

        return call


class HangingOutbox:
    """An async sender over an Outbox whose sends pass through ``hang``."""

    def __init__(self, outbox: Outbox, hang: _Hang | None) -> None:
        self.outbox = outbox
        self.hang = hang

    async def send_sms(self, to: str, text: str, *, locale: str | None = None) -> None:
        if self.hang is not None:
            await self.hang.step()
        self.outbox.send_sms(to, text, locale=locale)

    async def send_voice(self, to: str, text: str, *, locale: str | None = None) -> None:
        self.outbox.send_voice(to, text, locale=locale)

    async def send_email(
        self,
        to: str,
        subject: str,
        text: str,
        *,
        locale: str | None = None,
        html: str | None = None,
    ) -> None:
        if self.hang is not None:
            await self.hang.step()
        self.outbox.send_email(to, subject, text, locale=locale, html=html)


async def async_mfa(world: World, hang: _Hang, kind: str, path: Path) -> tuple[AsyncMFA, Any]:
    """AsyncMFA over the same state: AsyncMemoryStore on the world's store, or
    AsyncSqlStore (aiosqlite) on its SQLite file."""
    if kind == "memory":
        inner: Any = AsyncMemoryStore(world.store)
    else:
        inner = AsyncSqlStore.from_url(f"sqlite+aiosqlite:///{path / 'mfa.db'}")
    # A failing store's calls are counted, not the sender's (senders raise
    # DeliveryError, covered by test_a_failed_send_leaves_the_notice_in_the_outbox).
    sender = HangingOutbox(world.outbox, None if hang.fail else hang)
    amfa = AsyncMFA(
        store=HangingAsyncStore(inner, hang),
        secret_key=SECRET,
        issuer="Aesthetix CRM",
        clock=world.clock,
        hasher=fast_hasher(),
        sms=sender,
        voice=sender,
        email=sender,
    )
    return amfa, inner


ASYNC_CALLS: dict[str, Callable[[AsyncMFA, World], Any]] = {
    "remove_contact": lambda a, w: a.remove_contact(fresh(w.clock), "alice", "phone"),
    "remove_authenticator": lambda a, w: a.remove_authenticator(
        fresh(w.clock), "alice", w.factor_id
    ),
    "disable_two_factor": lambda a, w: a.disable_two_factor(fresh(w.clock), "alice"),
    "password_changed": lambda a, w: a.password_changed(Actor.user("alice"), "alice"),
    "contact_change": lambda a, w: a.verify(w.extra["challenge"], w.code()),
    "authenticator_added": lambda a, w: a.confirm_totp_setup(
        fresh(w.clock), w.extra["setup"], authenticator_code(w.extra["setup_uri"], w.clock.now())
    ),
    "backup_codes_regenerated": lambda a, w: a.regenerate_backup_codes(fresh(w.clock), "alice"),
    "phone_enrolled": lambda a, w: a.verify(w.extra["challenge"], w.extra["code"]),
}


@pytest.mark.parametrize("name", list(ASYNC_CALLS))
def test_a_cancelled_task_at_any_await_leaves_none_or_all(
    name: str, store_kind: str, tmp_path: Path
) -> None:
    change = CHANGES[name]
    outcomes = []
    for hang_at in range(1, 40):
        path = tmp_path / f"{hang_at}"
        path.mkdir()
        world = build(make_store(store_kind, path))
        change.prepare(world)
        before = observe(world, change.notified)
        hang = _Hang(hang_at)

        async def run(world: World = world, hang: _Hang = hang, path: Path = path) -> bool:
            amfa, inner = await async_mfa(world, hang, store_kind, path)
            try:
                task = asyncio.ensure_future(ASYNC_CALLS[name](amfa, world))
                waiter = asyncio.ensure_future(hang.reached.wait())
                await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
                if task.done():
                    waiter.cancel()
                    task.result()
                    return False
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                return True
            finally:
                if store_kind != "memory":
                    await inner.close()

        cancelled = asyncio.run(run())
        after = observe(world, change.notified)
        done = assert_none_or_all(change, world, before, after)
        outcomes.append(done)
        if done:
            deliver_the_rest(world, change, before)
        if not cancelled:
            assert done
            break
    else:
        pytest.fail("the change never completed")
    assert not outcomes[0] and any(outcomes[:-1])


@pytest.mark.parametrize("name", list(ASYNC_CALLS))
def test_an_async_store_failure_at_any_step_leaves_none_or_all(
    name: str, store_kind: str, tmp_path: Path
) -> None:
    """AsyncMemoryStore and AsyncSqlStore (aiosqlite): the Nth awaited store call
    raises StorageError."""
    change = CHANGES[name]
    outcomes = []
    for fail_at in range(1, 40):
        path = tmp_path / f"{fail_at}"
        path.mkdir()
        world = build(make_store(store_kind, path))
        change.prepare(world)
        before = observe(world, change.notified)
        hang = _Hang(fail_at, fail=True)

        async def run(world: World = world, hang: _Hang = hang, path: Path = path) -> None:
            amfa, inner = await async_mfa(world, hang, store_kind, path)
            try:
                with contextlib.suppress(StorageError):
                    await ASYNC_CALLS[name](amfa, world)
            finally:
                if store_kind != "memory":
                    await inner.close()

        asyncio.run(run())
        after = observe(world, change.notified)
        done = assert_none_or_all(change, world, before, after)
        outcomes.append(done)
        if done:
            deliver_the_rest(world, change, before)
        else:
            assert after.pending == 0
        if not hang.reached.is_set():  # ran to its end: every step has had its failure
            assert done
            break
    else:
        pytest.fail("the change never completed")
    assert not outcomes[0] and any(outcomes[:-1])


# --- the outbox's other promises --------------------------------------------------------


def test_told_is_decided_by_the_channels_not_by_the_delivery(tmp_path: Path) -> None:
    """A verified email whose send fails still counts as a way to tell the
    user: the notice is on its way, so no ``removed_without_independent_notice``."""
    audit = MemoryAuditLog()
    world = build(make_store("memory", tmp_path), audit=audit)
    world.outbox.fail_next(2)  # both notices of the removal fail now
    world.mfa.remove_contact(fresh(world.clock), "alice", "phone")
    actions = [e.action for e in audit.list_events("alice", limit=500)]
    assert Action.REMOVED_WITHOUT_NOTICE not in actions
    assert actions.count(Action.NOTICE_FAILED) == 2
    world.clock.advance(minutes=6)
    assert world.mfa.deliver_pending_notices() == 2


def test_without_notices_nothing_is_queued(tmp_path: Path) -> None:
    store = make_store("memory", tmp_path)
    world = build(store, notify=False)
    world.mfa.remove_contact(fresh(world.clock), "alice", "phone")
    assert store.pending_notices(now=world.clock.now() + FAR, limit=10) == []
    assert world.outbox.messages == []


def test_purge_drops_notices_never_delivered(tmp_path: Path) -> None:
    world = build(make_store("memory", tmp_path))
    world.outbox.fail_next(1)
    world.mfa.password_changed(Actor.user("alice"), "alice")
    world.clock.advance(days=2)
    world.mfa.purge_expired()
    assert world.store.pending_notices(now=world.clock.now() + FAR, limit=10) == []
    assert world.mfa.deliver_pending_notices() == 0


@pytest.mark.parametrize("limit", [0, -1, 10_001, 1.5, "10", True, None])
def test_deliver_pending_notices_refuses_a_bad_limit(limit: Any, tmp_path: Path) -> None:
    world = build(make_store("memory", tmp_path))
    with pytest.raises(InvalidInput):
        world.mfa.deliver_pending_notices(limit=limit)


def test_async_mfa_delivers_pending_notices(tmp_path: Path) -> None:
    world = build(make_store("memory", tmp_path))
    world.outbox.fail_next(1)
    world.mfa.password_changed(Actor.user("alice"), "alice")
    world.clock.advance(minutes=6)

    async def deliver() -> int:
        amfa, _ = await async_mfa(world, _Hang(0), "memory", tmp_path)
        return await amfa.deliver_pending_notices(limit=1)

    assert asyncio.run(deliver()) == 1
    assert len(world.outbox.sent_to(EMAIL)) == 1
