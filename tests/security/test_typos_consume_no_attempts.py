"""Issue 14: a typo is answered ``MALFORMED_CODE`` and consumes nothing.

If a malformed input counted, a user fumbling the field (or a host's form
sending "") would lock the challenge and the account (S12, S13); if it cost a
slow hash, it would be a cheap way to burn CPU (S26). So a thousand malformed
inputs in a row leave every counter as it was, and the right code still passes
first time: on a challenge, with ``verify_totp``, ``verify_backup_code`` and
the security question.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import pytest

from mfakit import MFA, Method, Policy, Reason
from mfakit.adapters import MemoryAuditLog, MemoryStore, Outbox
from mfakit.core import backup_codes, otp
from mfakit.testing import FakeClock, authenticator_code, fast_hasher
from tests.conftest import SECRET, Enrolled
from tests.helpers import EMAIL, enrol_email, enrol_phone, fresh, snapshot

TRIES = 1000
ALPHABET = "0123456789abcxyzABCOIL -\n\t\u00a0\u2013\u0661\uff11.+#é"


def typos(seed: int, *, digits: tuple[int, ...] = (), backup: bool = False) -> Iterator[str]:
    """Random text a person might type that cannot be a code of the given shape."""
    rng = random.Random(seed)
    made = 0
    while made < TRIES:
        size = rng.choice([0, 1, 3, 5, 7, 9, 11, 13, 40, 256])
        text = "".join(rng.choice(ALPHABET) for _ in range(size))
        if digits and otp.read_digits(text, digits) is not None:
            continue
        if backup and backup_codes.read_code(text) is not None:
            continue
        made += 1
        yield text


def test_a_thousand_typos_on_a_challenge_then_the_right_code(
    mfa: MFA, store: MemoryStore, outbox: Outbox, clock: FakeClock, audit_log: MemoryAuditLog
) -> None:
    enrol_email(mfa, outbox, clock)
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None and start.challenge.method is Method.EMAIL
    before, events = snapshot(store), audit_log.list_events("alice", limit=1000)
    # On an email challenge with backup codes open, a backup code's shape is a
    # guess at a backup code: those are left out, everything else is a typo.
    for typed in typos(1, digits=(6,), backup=True):
        result = mfa.verify(start.challenge.id, typed)
        assert result.reason is Reason.MALFORMED_CODE, repr(typed)
        assert result.attempts_left == mfa.policy.max_attempts
    assert snapshot(store) == before
    assert audit_log.list_events("alice", limit=1000) == events
    assert mfa.verify(start.challenge.id, outbox.last_code(EMAIL)).ok


def test_a_thousand_typos_to_verify_totp_then_the_right_code(
    mfa: MFA, store: MemoryStore, enrol: Callable[..., Enrolled]
) -> None:
    user = enrol()
    before = snapshot(store)
    for typed in typos(2, digits=(6, 8)):
        assert mfa.verify_totp("alice", typed).reason is Reason.MALFORMED_CODE, repr(typed)
    assert snapshot(store) == before  # no failure counted: no back-off, no lock-out
    assert mfa.verify_totp("alice", user.code_at()).ok


def test_a_thousand_typos_to_verify_backup_code_then_the_right_code(
    mfa: MFA, store: MemoryStore, enrol: Callable[..., Enrolled]
) -> None:
    user = enrol()
    before = snapshot(store)
    for typed in typos(3, backup=True):
        assert mfa.verify_backup_code("alice", typed).reason is Reason.MALFORMED_CODE
    assert snapshot(store) == before
    assert mfa.verify_backup_code("alice", user.backup_codes[0]).ok


def test_a_thousand_blank_answers_then_the_right_one(
    store: MemoryStore, clock: FakeClock, outbox: Outbox
) -> None:
    mfa = MFA(
        store=store,
        secret_key=SECRET,
        issuer="Aesthetix CRM",
        clock=clock,
        hasher=fast_hasher(),
        sms=outbox,
        email=outbox,
        policy=Policy(question_guards_alternatives=True),
    )
    enrol_phone(mfa, outbox, clock)
    enrol_email(mfa, outbox, clock)
    mfa.set_security_question(fresh(clock), "alice", mfa.security_questions[0], "Rex")
    challenge = mfa.begin_sign_in("alice").challenge
    assert challenge is not None
    mfa.try_another_way(challenge.id)
    before = snapshot(store)
    rng = random.Random(4)
    for _ in range(TRIES):
        blank = "".join(rng.choice(" \t\n\u00a0\u3000") for _ in range(rng.randrange(40)))
        result = mfa.answer_security_question(challenge.id, blank)
        assert result.reason is Reason.MALFORMED_CODE
    assert snapshot(store) == before
    assert mfa.answer_security_question(challenge.id, "Rex").ok


@pytest.mark.parametrize("typed", ["", "12ab", "7K2M-Q9XH-4TR"])
def test_a_typo_is_no_slow_hash(store: MemoryStore, clock: FakeClock, typed: str) -> None:
    # A hasher that counts: a typo must never reach it (S26's one hash per *try*).
    calls: list[str] = []
    hasher = fast_hasher()

    class Counting:
        def __getattr__(self, name: str) -> object:
            calls.append(name)
            return getattr(hasher, name)

    mfa = MFA(store=store, secret_key=SECRET, issuer="X", clock=clock, hasher=Counting())  # type: ignore[arg-type]
    actor = fresh(clock)
    setup = mfa.begin_totp_setup(actor, "alice", account_name="a@example.org")
    assert mfa.confirm_totp_setup(actor, setup.id, authenticator_code(setup.uri, clock.now())).ok
    calls.clear()
    assert mfa.verify_backup_code("alice", typed).reason is Reason.MALFORMED_CODE
    assert calls == []
