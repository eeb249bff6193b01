"""The sign-in second step end to end (L1, F2-F4, F6, S7-S18, S24, S25).

The stories of seed 000 (authenticator, SMS or email; resend; "try another way"
guarded by a security question; a case-sensitive answer) and seed 002 (SMS or
voice call, 8-digit codes, resend) run here on the memory store and the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

import pytest

import mfakit
from mfakit import MFA, Actor, Method, Policy, Reason, State
from mfakit.adapters import MemoryStore, Outbox
from mfakit.testing import FakeClock, fast_hasher
from tests.conftest import SECRET
from tests.helpers import fresh

PHONE = "+14155550101"
EMAIL = "alice@example.org"


def enrol_phone(
    mfa: MFA,
    outbox: Outbox,
    clock: FakeClock,
    user_id: str = "alice",
    phone: str = PHONE,
    method: str = "sms",
) -> list[str]:
    sent = mfa.begin_phone_enrolment(fresh(clock, user_id), user_id, phone, method=method)
    assert sent.ok
    result = mfa.verify(sent.challenge.id, outbox.last_code(phone))
    assert result.ok, result
    clock.advance(seconds=31)
    return list(result.backup_codes or [])


def enrol_email(
    mfa: MFA, outbox: Outbox, clock: FakeClock, user_id: str = "alice", email: str = EMAIL
) -> None:
    sent = mfa.begin_email_enrolment(fresh(clock, user_id), user_id, email)
    assert mfa.verify(sent.challenge.id, outbox.last_code(email)).ok
    clock.advance(seconds=31)


def other(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


# --- deciding ---------------------------------------------------------------


def test_no_factor_and_not_required_is_satisfied(mfa: MFA, outbox: Outbox) -> None:
    start = mfa.begin_sign_in("alice", role="client")
    assert start.satisfied and start.challenge is None
    assert outbox.messages == []


def test_required_role_without_factor_must_enrol(store: MemoryStore, clock: FakeClock) -> None:
    mfa = MFA(
        store=store,
        secret_key=SECRET,
        issuer="X",
        clock=clock,
        policy=Policy(require_for_roles={"staff"}),
    )
    assert mfa.begin_sign_in("alice", role="staff").enrollment_required
    assert mfa.begin_sign_in("bob", role="client").satisfied
    assert mfa.begin_sign_in("carol").satisfied


def test_authenticator_is_preferred_and_nothing_is_sent(
    mfa: MFA, outbox: Outbox, clock: FakeClock, enrol: Callable[..., object]
) -> None:
    enrol_phone(mfa, outbox, clock)
    user = enrol()
    outbox.clear()
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None
    assert start.challenge.method is Method.TOTP
    assert start.challenge.methods == (Method.TOTP, Method.SMS, Method.VOICE, Method.BACKUP_CODE)
    assert outbox.messages == []
    assert mfa.verify(start.challenge.id, user.code_at()).ok  # type: ignore[attr-defined]


# --- seed 002: SMS or voice, 8-digit codes, resend -------------------------


def test_seed_002_voice_call_with_eight_digit_codes(
    store: MemoryStore, clock: FakeClock, outbox: Outbox
) -> None:
    mfa = MFA(
        store=store,
        secret_key=SECRET,
        issuer="Practice",
        clock=clock,
        hasher=fast_hasher(),
        sms=outbox,
        voice=outbox,
        policy=Policy(code_length=8),
    )
    enrol_phone(mfa, outbox, clock, method="voice")
    start = mfa.begin_sign_in("alice", role="staff")
    challenge = start.challenge
    assert challenge is not None and challenge.method is Method.SMS
    assert start.delivery is not None and start.delivery.ok
    assert challenge.destination == "+1•••••01"
    # The user does not receive the SMS and asks for a call instead.
    call = mfa.switch_method(challenge.id, Method.VOICE)
    assert call.ok and call.challenge.method is Method.VOICE
    message = outbox.last(PHONE)
    assert message.channel == "voice"
    code = message.code
    assert code is not None and len(code) == 8
    assert ", ".join(code) in message.text  # read digit by digit
    assert mfa.verify(challenge.id, code).ok


def test_resend_has_a_cooldown_and_replaces_the_old_code(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    enrol_phone(mfa, outbox, clock)
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None
    cid = start.challenge.id
    first = outbox.last_code(PHONE)
    early = mfa.resend(cid)
    assert (early.ok, early.reason, early.retry_after) == (
        False,
        Reason.COOLDOWN,
        timedelta(seconds=30),
    )
    clock.advance(seconds=29)
    assert mfa.resend(cid).retry_after == timedelta(seconds=1)
    clock.advance(seconds=1)
    again = mfa.resend(cid)
    assert again.ok
    second = outbox.last_code(PHONE)
    assert len(outbox.sent_to(PHONE)) == 3  # enrolment, first, resend
    if second != first:  # (1 in a million they coincide)
        r = mfa.verify(cid, first)
        assert (r.ok, r.reason) == (False, Reason.INVALID_CODE)
    assert mfa.verify(cid, second).ok


def test_send_quota_per_destination(mfa: MFA, outbox: Outbox, clock: FakeClock) -> None:
    enrol_phone(mfa, outbox, clock)  # one send to the phone (10:00 window starts here? no: earlier)
    clock.advance(minutes=11)  # a fresh window
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None
    for _ in range(4):
        clock.advance(seconds=30)
        assert mfa.resend(start.challenge.id).ok
    clock.advance(seconds=30)
    refused = mfa.resend(start.challenge.id)
    assert (refused.ok, refused.reason) == (False, Reason.SEND_LIMIT)
    assert refused.retry_after == timedelta(minutes=10) - timedelta(seconds=150)
    # A new challenge does not reset the destination's quota.
    assert mfa.begin_sign_in("alice").delivery.reason is Reason.SEND_LIMIT  # type: ignore[union-attr]
    assert len(outbox.sent_to(PHONE)) == 1 + 5
    clock.advance(refused.retry_after)  # type: ignore[arg-type]
    assert mfa.resend(start.challenge.id).ok


# --- seed 000: try another way through the security question -----------------


@pytest.fixture
def guarded(store: MemoryStore, clock: FakeClock, outbox: Outbox) -> MFA:
    return MFA(
        store=store,
        secret_key=SECRET,
        issuer="Aesthetix CRM",
        clock=clock,
        hasher=fast_hasher(),
        sms=outbox,
        email=outbox,
        policy=Policy(question_guards_alternatives=True),
    )


def test_seed_000_try_another_way_needs_the_security_question(
    guarded: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    mfa = guarded
    backup = enrol_phone(mfa, outbox, clock)
    enrol_email(mfa, outbox, clock)
    question = mfa.security_questions[1]
    mfa.set_security_question(fresh(clock), "alice", question, "Springfield")
    start = mfa.begin_sign_in("alice")
    challenge = start.challenge
    assert (
        challenge is not None and challenge.method is Method.SMS and challenge.alternatives_locked
    )
    # Locked: no email, no backup code before the question.
    with pytest.raises(mfakit.ConflictingState):
        mfa.switch_method(challenge.id, Method.EMAIL)
    # A backup code is no SMS code: a typo as far as this challenge goes.
    typo = mfa.verify(challenge.id, backup[0])
    assert typo.reason is Reason.MALFORMED_CODE and typo.attempts_left == 5
    assert typo.expected == mfakit.ExpectedCode(method=Method.SMS, lengths=(6,))
    asked = mfa.try_another_way(challenge.id)
    assert asked.state is State.AWAITING_ANSWER and asked.question == question
    wrong = mfa.answer_security_question(challenge.id, "springfield")  # case-sensitive (seed 000)
    assert (wrong.ok, wrong.reason, wrong.challenge.attempts_left) == (
        False,
        Reason.INVALID_ANSWER,
        4,
    )
    right = mfa.answer_security_question(challenge.id, "Springfield")
    assert right.ok and not right.challenge.alternatives_locked
    via_email = mfa.switch_method(challenge.id, "email")
    assert via_email.ok and via_email.challenge.destination == "a•••@example.org"
    assert mfa.verify(challenge.id, outbox.last_code(EMAIL)).ok


def test_backup_code_after_the_question(guarded: MFA, outbox: Outbox, clock: FakeClock) -> None:
    backup = enrol_phone(guarded, outbox, clock)
    guarded.set_security_question(fresh(clock), "alice", guarded.security_questions[0], "Rex")
    cid = guarded.begin_sign_in("alice").challenge.id  # type: ignore[union-attr]
    guarded.try_another_way(cid)
    assert guarded.answer_security_question(cid, "Rex").ok
    result = guarded.verify(cid, backup[0])
    assert result.ok and result.method is Method.BACKUP_CODE and result.backup_codes_left == 9


def test_answer_options_trim_and_fold(store: MemoryStore, clock: FakeClock, outbox: Outbox) -> None:
    mfa = MFA(
        store=store,
        secret_key=SECRET,
        issuer="X",
        clock=clock,
        hasher=fast_hasher(),
        sms=outbox,
        email=outbox,
        policy=Policy(
            question_guards_alternatives=True, answer_trim=True, answer_case_sensitive=False
        ),
    )
    enrol_phone(mfa, outbox, clock)
    enrol_email(mfa, outbox, clock)
    mfa.set_security_question(fresh(clock), "alice", mfa.security_questions[0], "  Rex ")
    cid = mfa.begin_sign_in("alice").challenge.id  # type: ignore[union-attr]
    mfa.try_another_way(cid)
    assert mfa.answer_security_question(cid, "REX").ok


def test_wrong_answers_lock_the_challenge(guarded: MFA, outbox: Outbox, clock: FakeClock) -> None:
    enrol_phone(guarded, outbox, clock)
    enrol_email(guarded, outbox, clock)
    guarded.set_security_question(fresh(clock), "alice", guarded.security_questions[0], "Rex")
    cid = guarded.begin_sign_in("alice").challenge.id  # type: ignore[union-attr]
    guarded.try_another_way(cid)
    for _ in range(4):
        assert guarded.answer_security_question(cid, "Max").reason is Reason.INVALID_ANSWER
    last = guarded.answer_security_question(cid, "Max")
    assert (last.ok, last.reason, last.challenge.state) == (
        False,
        Reason.TOO_MANY_ATTEMPTS,
        State.LOCKED,
    )
    assert guarded.answer_security_question(cid, "Rex").reason is Reason.TOO_MANY_ATTEMPTS


def test_without_the_guard_alternatives_are_open(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    backup = enrol_phone(mfa, outbox, clock)
    mfa.set_security_question(fresh(clock), "alice", mfa.security_questions[0], "Rex")
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None and not start.challenge.alternatives_locked
    assert mfa.try_another_way(start.challenge.id).state is State.AWAITING_CODE
    assert mfa.verify(start.challenge.id, backup[3]).ok


# --- limits, expiry, binding ------------------------------------------------------


def test_five_wrong_codes_lock_the_challenge(mfa: MFA, outbox: Outbox, clock: FakeClock) -> None:
    enrol_phone(mfa, outbox, clock)
    cid = mfa.begin_sign_in("alice").challenge.id  # type: ignore[union-attr]
    code = outbox.last_code(PHONE)
    for left in (4, 3, 2, 1):
        r = mfa.verify(cid, other(code))
        assert (r.ok, r.reason, r.attempts_left) == (False, Reason.INVALID_CODE, left)
    r = mfa.verify(cid, other(code))
    assert (r.ok, r.reason, r.attempts_left) == (False, Reason.TOO_MANY_ATTEMPTS, 0)
    assert mfa.verify(cid, code).reason is Reason.TOO_MANY_ATTEMPTS  # the right code is too late
    assert mfa.get_challenge(cid).state is State.LOCKED
    assert mfa.resend(cid).reason is Reason.TOO_MANY_ATTEMPTS


def test_a_resend_does_not_restore_attempts(mfa: MFA, outbox: Outbox, clock: FakeClock) -> None:
    enrol_phone(mfa, outbox, clock)
    cid = mfa.begin_sign_in("alice").challenge.id  # type: ignore[union-attr]
    for _ in range(3):
        mfa.verify(cid, other(outbox.last_code(PHONE)))
    clock.advance(seconds=30)
    assert mfa.resend(cid).challenge.attempts_left == 2


def test_expiry_at_ten_minutes(mfa: MFA, outbox: Outbox, clock: FakeClock) -> None:
    enrol_phone(mfa, outbox, clock)
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None
    assert start.challenge.expires_at == clock.now() + timedelta(minutes=10)
    code = outbox.last_code(PHONE)
    clock.advance(minutes=10, seconds=1)
    r = mfa.verify(start.challenge.id, code)
    assert (r.ok, r.reason) == (False, Reason.EXPIRED)
    assert mfa.get_challenge(start.challenge.id).state is State.EXPIRED


def test_just_before_expiry_still_works(mfa: MFA, outbox: Outbox, clock: FakeClock) -> None:
    enrol_phone(mfa, outbox, clock)
    cid = mfa.begin_sign_in("alice").challenge.id  # type: ignore[union-attr]
    clock.advance(minutes=9, seconds=59)
    assert mfa.verify(cid, outbox.last_code(PHONE)).ok


def test_a_code_only_works_on_its_own_challenge(mfa: MFA, outbox: Outbox, clock: FakeClock) -> None:
    enrol_phone(mfa, outbox, clock)
    enrol_email(mfa, outbox, clock)
    first = mfa.begin_sign_in("alice").challenge.id  # type: ignore[union-attr]
    first_code = outbox.last_code(PHONE)
    second = mfa.begin_sign_in("alice").challenge
    assert second is not None
    mfa.switch_method(second.id, "email")
    assert not mfa.verify(second.id, first_code).ok
    assert mfa.verify(first, first_code).ok


def test_a_succeeded_challenge_takes_no_more_codes(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    enrol_phone(mfa, outbox, clock)
    cid = mfa.begin_sign_in("alice").challenge.id  # type: ignore[union-attr]
    code = outbox.last_code(PHONE)
    assert mfa.verify(cid, code).ok
    with pytest.raises(mfakit.ConflictingState):
        mfa.verify(cid, code)
    with pytest.raises(mfakit.ConflictingState):
        mfa.resend(cid)


def test_cancel(mfa: MFA, outbox: Outbox, clock: FakeClock) -> None:
    enrol_phone(mfa, outbox, clock)
    cid = mfa.begin_sign_in("alice").challenge.id  # type: ignore[union-attr]
    assert mfa.cancel(cid).state is State.CANCELLED
    with pytest.raises(mfakit.ConflictingState):
        mfa.verify(cid, outbox.last_code(PHONE))


def test_account_backoff_spans_challenges(mfa: MFA, enrol: Callable[..., object]) -> None:
    """New challenges do not reset the per-account failure count (S13)."""
    user = enrol()
    for _ in range(5):
        cid = mfa.begin_sign_in("alice").challenge.id  # type: ignore[union-attr]
        code = user.code_at()  # type: ignore[attr-defined]
        assert mfa.verify(cid, other(code)).reason is Reason.INVALID_CODE
    cid = mfa.begin_sign_in("alice").challenge.id  # type: ignore[union-attr]
    r = mfa.verify(cid, user.code_at())  # type: ignore[attr-defined]
    assert (r.reason, r.retry_after) == (Reason.RATE_LIMITED, timedelta(seconds=30))
    assert mfa.get_challenge(cid).attempts_left == 5  # refused before counting


# --- delivery ---------------------------------------------------------------------


def test_delivery_failure_leaves_the_challenge_usable(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    enrol_phone(mfa, outbox, clock)
    outbox.fail_next()
    start = mfa.begin_sign_in("alice")
    assert start.delivery_failed and start.challenge is not None
    cid = start.challenge.id
    assert start.challenge.attempts_left == 5 and start.challenge.code_sent_at is None
    r = mfa.verify(cid, "123456")
    assert (r.ok, r.reason, r.attempts_left) == (False, Reason.NO_CODE_SENT, 5)
    outbox.fail_next()
    with pytest.raises(mfakit.DeliveryError) as info:
        mfa.resend(cid)  # no cooldown applies: nothing went out
    assert info.value.challenge_id == cid
    assert mfa.get_challenge(cid).attempts_left == 5
    assert mfa.resend(cid).ok
    assert mfa.verify(cid, outbox.last_code(PHONE)).ok


def test_methods_without_a_sender_are_not_offered(
    store: MemoryStore, clock: FakeClock, outbox: Outbox
) -> None:
    full = MFA(
        store=store,
        secret_key=SECRET,
        issuer="X",
        clock=clock,
        hasher=fast_hasher(),
        sms=outbox,
        voice=outbox,
        email=outbox,
    )
    enrol_phone(full, outbox, clock)
    sms_only = MFA(store=store, secret_key=SECRET, issuer="X", clock=clock, sms=outbox)
    start = sms_only.begin_sign_in("alice")
    assert start.challenge is not None
    assert start.challenge.methods == (Method.SMS, Method.BACKUP_CODE)


# --- enrolment (L3) and restricted factors (S25) ----------------------------------


def test_enrolment_needs_the_user_freshly_reauthenticated(mfa: MFA, clock: FakeClock) -> None:
    with pytest.raises(mfakit.ReauthenticationRequired):
        mfa.begin_phone_enrolment(Actor.user("alice"), "alice", PHONE)
    for actor in (
        Actor.admin("boss", reauthenticated_at=clock.now()),
        Actor.impersonating("boss", "alice", reauthenticated_at=clock.now()),
    ):
        with pytest.raises(mfakit.NotPermitted):
            mfa.begin_email_enrolment(actor, "alice", EMAIL)


def test_first_possession_proof_issues_backup_codes_once(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    assert len(enrol_phone(mfa, outbox, clock)) == 10
    sent = mfa.begin_email_enrolment(fresh(clock), "alice", EMAIL)
    second = mfa.verify(sent.challenge.id, outbox.last_code(EMAIL))
    assert second.ok and second.backup_codes is None


def test_an_unverified_destination_gets_no_sign_in_code(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    """S18: a phone whose possession proof never finished is not a factor."""
    mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    outbox.clear()
    assert mfa.begin_sign_in("alice").satisfied
    assert outbox.messages == []


def test_a_verified_phone_cannot_be_replaced_by_enrolment(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    enrol_phone(mfa, outbox, clock)
    with pytest.raises(mfakit.ConflictingState):
        mfa.begin_phone_enrolment(fresh(clock), "alice", "+12015550123")


def test_nist_preset_refuses_sms_voice_and_email(
    store: MemoryStore, clock: FakeClock, outbox: Outbox
) -> None:
    mfa = MFA(
        store=store,
        secret_key=SECRET,
        issuer="X",
        clock=clock,
        sms=outbox,
        voice=outbox,
        email=outbox,
        policy=Policy.nist(require_for_roles={"staff"}),
    )
    for call in (
        lambda: mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE),
        lambda: mfa.begin_email_enrolment(fresh(clock), "alice", EMAIL),
    ):
        with pytest.raises(mfakit.NotPermitted):
            call()
    assert mfa.begin_sign_in("alice", role="staff").enrollment_required


def test_restricted_only_factor_is_refused_and_flagged(
    store: MemoryStore, clock: FakeClock, outbox: Outbox
) -> None:
    """S25: under allow_restricted_only=False a phone cannot be the only factor;
    a user who got there under an older policy is flagged at sign-in."""
    strict = MFA(
        store=store,
        secret_key=SECRET,
        issuer="X",
        clock=clock,
        hasher=fast_hasher(),
        sms=outbox,
        email=outbox,
        policy=Policy(allow_restricted_only=False),
    )
    with pytest.raises(mfakit.NotPermitted):
        strict.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    enrol_email(strict, outbox, clock)
    enrol_phone(strict, outbox, clock)  # fine once a stronger factor exists
    lax = MFA(
        store=store, secret_key=SECRET, issuer="X", clock=clock, hasher=fast_hasher(), sms=outbox
    )
    enrol_phone(lax, outbox, clock, user_id="bob", phone="+12015550123")
    start = strict.begin_sign_in("bob")
    assert start.stronger_factor_required and start.challenge is not None
    assert not strict.begin_sign_in("alice").stronger_factor_required


# --- nothing secret anywhere -------------------------------------------------------


def test_no_plaintext_code_in_store_or_logs(
    mfa: MFA, store: MemoryStore, outbox: Outbox, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    enrol_phone(mfa, outbox, clock)
    start = mfa.begin_sign_in("alice")
    code = outbox.last_code(PHONE)
    dump = repr(vars(store)) + repr(start) + caplog.text
    (rec,) = [c for c in store._challenges.values() if c.id == start.challenge.id]  # type: ignore[union-attr]
    assert code not in dump
    assert code.encode() not in (rec.code_hash or b"")
    wrong = other(code)
    mfa.verify(start.challenge.id, wrong)  # type: ignore[union-attr]
    assert wrong not in caplog.text and code not in caplog.text


def test_unknown_user_and_unknown_challenge(mfa: MFA) -> None:
    assert mfa.begin_sign_in("nobody").satisfied
    with pytest.raises(mfakit.NotFound):
        mfa.verify("no-such-challenge", "123456")
    with pytest.raises(mfakit.NotFound):
        mfa.resend("no-such-challenge")


def test_failed_deliveries_do_not_use_up_the_send_quota(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    enrol_phone(mfa, outbox, clock)
    clock.advance(minutes=11)
    cid = mfa.begin_sign_in("alice").challenge.id  # type: ignore[union-attr]
    clock.advance(seconds=30)
    for _ in range(6):
        outbox.fail_next()
        with pytest.raises(mfakit.DeliveryError):
            mfa.resend(cid)
    # Four resends still fit in the window (the first send went out).
    for _ in range(4):
        clock.advance(seconds=30)
        assert mfa.resend(cid).ok
    clock.advance(seconds=30)
    assert mfa.resend(cid).reason is Reason.SEND_LIMIT
