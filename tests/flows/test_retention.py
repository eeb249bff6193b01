"""``purge_expired``: a year of sign-ins leaves a day's worth of rows; a
lock-out survives any purge."""

from __future__ import annotations

from datetime import timedelta

import pytest

import mfakit
from mfakit import MFA, Actor, Reason
from mfakit.adapters import MemoryStore
from mfakit.testing import FakeClock


def test_a_year_of_sign_ins_leaves_a_days_worth(
    mfa: MFA, store: MemoryStore, clock: FakeClock, enrol
) -> None:
    user = enrol()
    for _day in range(400):
        for _ in range(10):
            start = mfa.begin_sign_in("alice")
            assert start.challenge is not None
            clock.advance(minutes=30)
            mfa.verify(start.challenge.id, user.code_at())
        clock.advance(hours=19)
    assert len(store._challenges) == 4000
    gone = mfa.purge_expired(batch=500)
    assert gone >= 3990
    left = store._challenges
    assert len(left) <= 10
    assert all(c.expires_at >= clock.now() - timedelta(days=1) for c in left.values())
    assert mfa.purge_expired() == 0


def test_a_lock_out_survives_a_purge(mfa: MFA, clock: FakeClock, enrol, policy) -> None:
    enrol()
    for _ in range(policy.lockout_after):
        clock.advance(hours=2)  # past every back-off delay
        mfa.verify_totp("alice", "000000")
    clock.advance(days=30)
    mfa.purge_expired()
    assert mfa.verify_totp("alice", "000000").reason is Reason.LOCKED_OUT
    mfa.unlock_second_step(Actor.admin("root", reauthenticated_at=clock.now()), "alice")
    assert mfa.verify_totp("alice", "000000").reason is Reason.INVALID_CODE


@pytest.mark.parametrize(
    "kwargs",
    [{"older_than": timedelta(hours=23)}, {"older_than": 86400}, {"batch": 0}, {"batch": "9"}],
)
def test_bad_arguments_are_refused(mfa: MFA, kwargs: dict[str, object]) -> None:
    with pytest.raises(mfakit.InvalidInput):
        mfa.purge_expired(**kwargs)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_async_purge(clock: FakeClock) -> None:
    store = MemoryStore()
    amfa = mfakit.AsyncMFA(
        store=store, secret_key=mfakit.generate_secret_key(), issuer="A", clock=clock
    )
    assert await amfa.purge_expired() == 0


def test_audit_events_go_after_the_policys_retention_only(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """On a store that keeps the audit trail (SQLite): kept forever by default;
    with ``audit_retention_days`` the older events go at the next purge."""
    from mfakit.adapters.sql import SqlStore
    from mfakit.testing import fast_hasher
    from tests.helpers import fresh

    clock = FakeClock()
    store = SqlStore.from_url(f"sqlite:///{tmp_path / 'audit.db'}")

    def app(policy: mfakit.Policy) -> MFA:
        return MFA(
            store=store,
            audit=store,
            secret_key=mfakit.generate_secret_key(),
            issuer="R",
            clock=clock,
            hasher=fast_hasher(),
            policy=policy,
        )

    keep, drop = app(mfakit.Policy()), app(mfakit.Policy(audit_retention_days=30))
    keep.revoke_all_devices(fresh(clock, "alice", step_up=False), "alice")  # one event
    clock.advance(timedelta(days=20))
    keep.revoke_all_devices(fresh(clock, "alice", step_up=False), "alice")
    clock.advance(timedelta(days=20))  # the first is 40 days old, the second 20
    assert keep.purge_expired() == 0 and len(keep.list_events("alice")) == 2
    assert drop.purge_expired(batch=1) == 1
    [left] = drop.list_events("alice")
    assert left.at == clock.now() - timedelta(days=20)
    store.close()
