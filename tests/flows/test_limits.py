"""Per-account failure back-off and lock-out across verifications (S13, S14)."""

from __future__ import annotations

from datetime import timedelta

import pytest

import mfakit
from mfakit import MFA, Actor, Policy, Reason
from mfakit.adapters import MemoryStore
from mfakit.testing import FakeClock, fast_hasher
from tests.conftest import SECRET


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


def test_failures_back_off_then_a_success_resets(mfa: MFA, clock: FakeClock, enrol) -> None:
    user = enrol()
    for _ in range(5):  # free failures
        assert mfa.verify_totp("alice", wrong(user.code_at())).reason is Reason.INVALID_CODE
    limited = mfa.verify_totp("alice", user.code_at())  # even the right code waits
    assert (limited.ok, limited.reason, limited.retry_after) == (
        False,
        Reason.RATE_LIMITED,
        timedelta(seconds=30),
    )
    # Backup codes count apart (S34): a wrong one is checked, not rate-limited.
    assert mfa.verify_backup_code("alice", "AAAA-AAAA-AAAA").reason is Reason.INVALID_CODE
    clock.advance(seconds=30)
    assert mfa.verify_totp("alice", wrong(user.code_at())).reason is Reason.INVALID_CODE
    limited = mfa.verify_totp("alice", user.code_at())
    assert limited.retry_after == timedelta(seconds=60)  # the delay doubled
    clock.advance(seconds=60)
    assert mfa.verify_totp("alice", user.code_at()).ok
    # The success wiped the slate: five more free failures.
    for _ in range(5):
        assert mfa.verify_totp("alice", wrong(user.code_at())).reason is Reason.INVALID_CODE


def test_delay_has_a_ceiling_and_the_account_locks(store: MemoryStore, clock: FakeClock) -> None:
    policy = Policy(lockout_after=15)
    mfa = MFA(
        store=store, secret_key=SECRET, issuer="X", clock=clock, hasher=fast_hasher(), policy=policy
    )
    delays: list[timedelta] = []
    failures = 0
    for _ in range(100):
        r = mfa.verify_totp("alice", "000000")
        if r.reason is Reason.LOCKED_OUT:
            break
        if r.reason is Reason.RATE_LIMITED:
            assert r.retry_after is not None
            delays.append(r.retry_after)
            clock.advance(r.retry_after)
        else:
            assert r.reason is Reason.INVALID_CODE
            failures += 1
    assert failures == 15
    assert delays[:3] == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]
    assert max(delays) == timedelta(hours=1)  # the ceiling, reached and never passed
    locked = mfa.verify_totp("alice", "000000")
    assert (locked.reason, locked.retry_after) == (Reason.LOCKED_OUT, None)
    clock.advance(days=30)
    assert mfa.verify_totp("alice", "000000").reason is Reason.LOCKED_OUT
    # Neither the user nor an impersonating admin can lift it; an admin can.
    for actor in (
        Actor.user("alice", reauthenticated_at=clock.now()),
        Actor.impersonating("boss", "alice", reauthenticated_at=clock.now()),
    ):
        with pytest.raises(mfakit.NotPermitted):
            mfa.unlock_second_step(actor, "alice")
    with pytest.raises(mfakit.ReauthenticationRequired):
        mfa.unlock_second_step(Actor.admin("boss"), "alice")
    mfa.unlock_second_step(Actor.admin("boss", reauthenticated_at=clock.now()), "alice")
    assert mfa.verify_totp("alice", "000000").reason is Reason.INVALID_CODE


def test_an_attackers_failures_do_not_spill_to_another_user(mfa: MFA, enrol) -> None:
    bob = enrol("bob")
    for _ in range(8):
        mfa.verify_totp("alice", "123456")
    assert mfa.verify_totp("bob", bob.code_at()).ok
