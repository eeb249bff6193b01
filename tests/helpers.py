"""Small helpers for tests."""

from __future__ import annotations

import copy
from typing import Any

from mfakit import MFA, Actor, Keyring, Method
from mfakit.adapters import MemoryStore, Outbox
from mfakit.core.step_up import StepUpClaims, sign_grant
from mfakit.testing import FakeClock
from tests.conftest import SECRET

PHONE = "+14155550101"
EMAIL = "alice@example.org"


def snapshot(store: MemoryStore) -> dict[str, Any]:
    """Everything the memory store holds, deep-copied, to prove "nothing changed"."""
    return {k: copy.deepcopy(v) for k, v in vars(store).items() if k != "_lock"}


def grant(
    clock: FakeClock, user_id: str = "alice", actor_id: str | None = None, *, secret: str = SECRET
) -> str:
    """A step-up grant (S32) as ``MFA.verify`` issues it after a step-up, now,
    signed with the test key of the ``mfa`` fixture. For tests about something
    else than the step-up; tests/security/test_factor_binding_without_second_factor.py
    passes real step-ups and checks every refusal."""
    claims = StepUpClaims(user_id, actor_id or user_id, clock.now(), Method.TOTP)
    return sign_grant(Keyring(secret), claims)


def fresh(
    clock: FakeClock, user_id: str = "alice", *, step_up: bool = True, secret: str = SECRET
) -> Actor:
    """The user, having just re-entered their password and (unless
    ``step_up=False``) passed a step-up, with a grant signed under ``secret``
    (the key of the MFA the test calls)."""
    return Actor.user(
        user_id,
        reauthenticated_at=clock.now(),
        step_up=grant(clock, user_id, secret=secret) if step_up else None,
    )


def enrol_phone(
    mfa: MFA, outbox: Outbox, clock: FakeClock, user_id: str = "alice", phone: str = PHONE
) -> list[str]:
    """Prove a phone by SMS; returns the first backup codes if it was the first factor."""
    sent = mfa.begin_phone_enrolment(fresh(clock, user_id), user_id, phone)
    result = mfa.verify(sent.challenge.id, outbox.last_code(phone))
    assert result.ok
    clock.advance(seconds=31)
    return list(result.backup_codes or [])


def enrol_email(
    mfa: MFA, outbox: Outbox, clock: FakeClock, user_id: str = "alice", email: str = EMAIL
) -> None:
    """Prove an email address."""
    sent = mfa.begin_email_enrolment(fresh(clock, user_id), user_id, email)
    assert mfa.verify(sent.challenge.id, outbox.last_code(email)).ok
    clock.advance(seconds=31)
