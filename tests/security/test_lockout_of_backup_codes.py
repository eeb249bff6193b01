"""Issue 12, finding 3 (S34): an attacker with the password locked the victim
out of every factor until an admin acted.

Fifty wrong codes locked TOTP *and* backup codes, so the victim's right codes
were refused. Now backup codes have their own failure counter: failures of the
cheap factors never block them, and a right backup code during a lock-out
signs in, clears the lock-out and tells the user.
"""

from __future__ import annotations

from collections.abc import Callable

from mfakit import MFA, Action, Policy, Reason
from mfakit.adapters import MemoryAuditLog, MemoryStore, Outbox
from mfakit.testing import FakeClock, authenticator_code, fast_hasher
from tests.conftest import SECRET, Enrolled
from tests.helpers import EMAIL, enrol_email, fresh


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


def lock_out(mfa: MFA, clock: FakeClock, user: Enrolled) -> None:
    """The attacker, with the password, fails until the account locks."""
    for _ in range(mfa.policy.lockout_after):
        mfa.verify_totp(user.user_id, wrong(user.code_at()))
        clock.advance(hours=1)  # past every back-off delay
    assert mfa.verify_totp(user.user_id, user.code_at()).reason is Reason.LOCKED_OUT


def test_a_right_backup_code_recovers_a_lock_out_and_the_user_is_told(
    mfa: MFA,
    outbox: Outbox,
    clock: FakeClock,
    enrol: Callable[..., Enrolled],
    audit_log: MemoryAuditLog,
) -> None:
    user = enrol()
    enrol_email(mfa, outbox, clock)
    lock_out(mfa, clock, user)
    before = len(outbox.messages)
    result = mfa.verify_backup_code("alice", user.backup_codes[0])
    assert result.ok, result
    (notice,) = [m for m in outbox.messages[before:] if "tried many" in m.subject]
    assert notice.to == EMAIL and "change your password" in notice.text
    assert Action.ACCOUNT_RECOVERED.value in [
        e.action for e in audit_log.list_events("alice", limit=10)
    ]
    # The lock-out is cleared: the authenticator works again.
    clock.advance(seconds=30)
    assert mfa.verify_totp("alice", user.code_at()).ok


def test_a_backup_code_on_a_sign_in_challenge_passes_a_lock_out(
    mfa: MFA, clock: FakeClock, enrol: Callable[..., Enrolled]
) -> None:
    user = enrol()
    lock_out(mfa, clock, user)
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None
    assert mfa.verify(start.challenge.id, user.code_at()).reason is Reason.LOCKED_OUT
    signed_in = mfa.verify(start.challenge.id, user.backup_codes[1])
    assert signed_in.ok and signed_in.step_up is not None
    clock.advance(seconds=30)
    assert mfa.verify_totp("alice", user.code_at()).ok


def test_wrong_backup_codes_have_their_own_counter_and_ceiling(
    store: MemoryStore, clock: FakeClock
) -> None:
    policy = Policy(backup_code_free_failures=3, backup_code_lockout_after=6)
    mfa = MFA(
        store=store, secret_key=SECRET, issuer="X", clock=clock, hasher=fast_hasher(), policy=policy
    )

    setup = mfa.begin_totp_setup(fresh(clock), "alice", account_name="alice")
    confirmed = mfa.confirm_totp_setup(
        fresh(clock), setup.id, authenticator_code(setup.uri, clock.now())
    )
    assert confirmed.backup_codes is not None
    codes = list(confirmed.backup_codes)
    clock.advance(seconds=60)
    for _ in range(3):  # free
        assert mfa.verify_backup_code("alice", "AAAA-AAAA-AAAA").reason is Reason.INVALID_CODE
    assert mfa.verify_backup_code("alice", codes[0]).reason is Reason.RATE_LIMITED
    # The authenticator is not blocked by wrong backup codes (and vice versa).
    assert mfa.verify_totp("alice", authenticator_code(setup.uri, clock.now())).ok
    for _ in range(3):
        clock.advance(hours=1)
        assert mfa.verify_backup_code("alice", "AAAA-AAAA-AAAA").reason is Reason.INVALID_CODE
    clock.advance(hours=1)
    assert mfa.verify_backup_code("alice", codes[0]).reason is Reason.LOCKED_OUT
    clock.advance(seconds=30)
    assert mfa.verify_totp("alice", authenticator_code(setup.uri, clock.now())).ok
