"""16 threads submit the same valid code at once: exactly one is accepted."""

from __future__ import annotations

import mfakit
from mfakit import MFA
from mfakit.testing.contract import race

THREADS = 16


def test_same_totp_code_from_many_threads(mfa: MFA, enrol) -> None:
    for user_id in ("alice", "bob", "carol"):
        user = enrol(user_id)
        code = user.code_at()
        wins = race(THREADS, lambda: mfa.verify_totp(user_id, code).ok)  # noqa: B023
        assert wins.count(True) == 1, wins


def test_same_backup_code_from_many_threads(mfa: MFA, enrol) -> None:
    user = enrol()
    code = user.backup_codes[3]
    wins = race(THREADS, lambda: mfa.verify_backup_code("alice", code).ok)
    assert wins.count(True) == 1, wins
    assert mfa.backup_codes_left("alice") == 9


def test_same_sms_code_on_one_challenge_from_many_threads(mfa, outbox, clock) -> None:  # type: ignore[no-untyped-def]
    from mfakit import Actor

    phone = "+14155550101"
    sent = mfa.begin_phone_enrolment(
        Actor.user("alice", reauthenticated_at=clock.now()), "alice", phone
    )
    assert mfa.verify(sent.challenge.id, outbox.last_code(phone)).ok
    start = mfa.begin_sign_in("alice")
    code = outbox.last_code(phone)

    def attempt() -> bool:
        try:
            return bool(mfa.verify(start.challenge.id, code).ok)
        except mfakit.ConflictingState:  # the challenge already succeeded
            return False

    wins = race(THREADS, attempt)
    assert wins.count(True) == 1, wins


def test_last_allowed_attempt_is_counted_once(mfa, outbox, clock) -> None:  # type: ignore[no-untyped-def]
    """16 wrong codes at once on a fresh challenge: it locks, attempts never go negative."""
    from mfakit import Actor, Policy, State

    phone = "+14155550101"
    sent = mfa.begin_phone_enrolment(
        Actor.user("alice", reauthenticated_at=clock.now()), "alice", phone
    )
    assert mfa.verify(sent.challenge.id, outbox.last_code(phone)).ok
    start = mfa.begin_sign_in("alice")
    code = outbox.last_code(phone)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    race(THREADS, lambda: mfa.verify(start.challenge.id, wrong).ok)
    after = mfa.get_challenge(start.challenge.id)
    # Per-account back-off lets 5 attempts through; all 5 are counted on the challenge.
    assert after.state is State.LOCKED and after.attempts_left == 0
    assert Policy().max_attempts == 5
