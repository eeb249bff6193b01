"""Small helpers for tests."""

from __future__ import annotations

import copy
from typing import Any

from mfakit import MFA, Actor
from mfakit.adapters import MemoryStore, Outbox
from mfakit.testing import FakeClock

PHONE = "+14155550101"
EMAIL = "alice@example.org"


def snapshot(store: MemoryStore) -> dict[str, Any]:
    """Everything the memory store holds, deep-copied, to prove "nothing changed"."""
    return {k: copy.deepcopy(v) for k, v in vars(store).items() if k != "_lock"}


def fresh(clock: FakeClock, user_id: str = "alice") -> Actor:
    """The user, having just re-entered their password."""
    return Actor.user(user_id, reauthenticated_at=clock.now())


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
