"""Regression tests for the bugs the invariant tests ran into (issue 9).

Both were reported with a strict ``xfail`` and fixed in 163e243:

* a pending enrolment kept sending codes to its unverified target after the
  user had verified another destination of that kind (``_destination`` in
  ``service/challenges.py``; S18);
* after the only phone was changed, sign-in treated 2FA as on (the kept
  backup codes) while ``disable_two_factor`` answered "not on"
  (``service/account_changes.py``).
"""

from __future__ import annotations

import pytest

from mfakit import MFA, Actor, ConflictingState, Method, SignInStatus
from mfakit.adapters import MemoryAuditLog, MemoryStore, Outbox
from mfakit.testing import FakeClock, fast_hasher
from tests.helpers import grant

SECRET_KEY = "6a4619950bdbe290dcb94b82a247c450416f5616cf29448c836063f220aa63cd"
OLD_PHONE = "+14155550101"
PHONE = "+14155550102"
NEW_PHONE = "+12015550123"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
def mfa(clock: FakeClock, outbox: Outbox) -> MFA:
    return MFA(
        store=MemoryStore(),
        secret_key=SECRET_KEY,
        issuer="Findings Co",
        sms=outbox,
        voice=outbox,
        email=outbox,
        audit=MemoryAuditLog(),
        clock=clock,
        hasher=fast_hasher(),
    )


def fresh(clock: FakeClock) -> Actor:
    """Alice, password re-entered and stepped up just now."""
    return Actor.user(
        "alice", reauthenticated_at=clock.now(), step_up=grant(clock, secret=SECRET_KEY)
    )


def test_no_code_goes_to_a_number_whose_enrolment_can_no_longer_succeed(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    abandoned = mfa.begin_phone_enrolment(fresh(clock), "alice", OLD_PHONE)
    chosen = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    assert mfa.verify(chosen.challenge.id, outbox.last_code(PHONE)).ok
    before = len(outbox.sent_to(OLD_PHONE))
    clock.advance(minutes=9)  # the re-authentication is stale by now (5 min)
    with pytest.raises(ConflictingState):
        mfa.resend(abandoned.challenge.id)
    with pytest.raises(ConflictingState):
        mfa.send(abandoned.challenge.id, Method.SMS)
    assert len(outbox.sent_to(OLD_PHONE)) == before, "a code went to an unverified number"


def test_2fa_kept_on_after_a_contact_change_can_be_turned_off(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    assert mfa.verify(sent.challenge.id, outbox.last_code(PHONE)).ok
    change = mfa.begin_contact_change(fresh(clock), "alice", phone=NEW_PHONE)
    assert change.ok and change.challenge is not None
    assert mfa.send(change.challenge.id, Method.SMS).ok
    assert mfa.verify(change.challenge.id, outbox.last_code(PHONE)).ok
    # 2FA is on: the next sign-in insists on a proven factor.
    assert mfa.begin_sign_in("alice").status is SignInStatus.ENROLLMENT_REQUIRED
    mfa.disable_two_factor(fresh(clock), "alice")
    assert mfa.begin_sign_in("alice").status is SignInStatus.SATISFIED
    assert mfa.backup_codes_left("alice") == 0
