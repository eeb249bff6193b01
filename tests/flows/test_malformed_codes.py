"""A user's typo is not misuse (issue 14): whatever a person can type into a
code field comes back as ``Reason.MALFORMED_CODE``, counts as no attempt,
changes nothing and says what the field takes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import mfakit
from mfakit import MFA, ExpectedCode, Method, Policy, Reason
from mfakit.adapters import MemoryAuditLog, MemoryStore, Outbox
from mfakit.testing import FakeClock, authenticator_code, fast_hasher
from tests.conftest import SECRET, Enrolled
from tests.helpers import EMAIL, enrol_email, enrol_phone, fresh, snapshot

TYPOS = [
    "",
    "   ",
    "12ab",
    "12345",
    "1234567",
    "675 23",
    "٦٧٥٢٣٢",  # Arabic-Indic digits
    "６７５２３２",  # full-width digits
    "675\x00232",
    "7K2M-Q9XH-4TR",  # a backup code missing a character
    "x" * 256,
]


@pytest.fixture
def backup(mfa: MFA, outbox: Outbox, clock: FakeClock) -> list[str]:
    """Alice proves an email address, her first factor: her backup codes."""
    sent = mfa.begin_email_enrolment(fresh(clock), "alice", EMAIL)
    result = mfa.verify(sent.challenge.id, outbox.last_code(EMAIL))
    assert result.ok and result.backup_codes is not None
    clock.advance(seconds=31)
    return list(result.backup_codes)


@pytest.fixture
def email_challenge(mfa: MFA, backup: list[str]) -> mfakit.Challenge:
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None and start.challenge.method is Method.EMAIL
    return start.challenge


@pytest.mark.parametrize("typed", TYPOS, ids=repr)
def test_a_typo_on_an_email_challenge_is_malformed_and_counts_nothing(
    mfa: MFA,
    store: MemoryStore,
    audit_log: MemoryAuditLog,
    email_challenge: mfakit.Challenge,
    typed: str,
) -> None:
    before = snapshot(store)
    events = audit_log.list_events("alice", limit=100)
    result = mfa.verify(email_challenge.id, typed)
    assert not result.ok
    assert result.reason is Reason.MALFORMED_CODE
    assert result.expected == ExpectedCode(method=Method.EMAIL, lengths=(6,))
    assert result.attempts_left == 5  # nothing counted
    assert snapshot(store) == before
    assert audit_log.list_events("alice", limit=100) == events
    assert mfa.get_challenge(email_challenge.id).attempts_left == 5
    # The sentence names what *this* challenge's field takes.
    assert mfakit.texts().explain(result) == "Enter the code from the email: 6 digits."


@pytest.mark.parametrize(
    "pasted",
    ["{c}\n", " {c} ", "{c}\r\n", "{h}-{t}", "{h} {t}", "{h}\u2013{t}", "\t{h}\u00a0{t}"],
    ids=repr,
)
def test_what_people_paste_around_a_code_is_read(
    mfa: MFA, outbox: Outbox, email_challenge: mfakit.Challenge, pasted: str
) -> None:
    code = outbox.last_code(EMAIL)
    typed = pasted.format(c=code, h=code[:3], t=code[3:])
    assert mfa.verify(email_challenge.id, typed).ok


def test_a_well_formed_wrong_code_still_counts(
    mfa: MFA, outbox: Outbox, email_challenge: mfakit.Challenge
) -> None:
    code = outbox.last_code(EMAIL)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    result = mfa.verify(email_challenge.id, wrong)
    assert (result.reason, result.attempts_left) == (Reason.INVALID_CODE, 4)
    # A backup code's shape on an email challenge is a backup code: counted too.
    result = mfa.verify(email_challenge.id, "ZZZZ-ZZZZ-ZZZZ")
    assert (result.reason, result.attempts_left) == (Reason.INVALID_CODE, 3)


def test_a_backup_code_still_works_on_an_email_challenge(
    mfa: MFA, backup: list[str], email_challenge: mfakit.Challenge
) -> None:
    result = mfa.verify(email_challenge.id, backup[0].lower().replace("-", " ") + "\n")
    assert result.ok and result.method is Method.BACKUP_CODE


def test_the_answer_does_not_depend_on_the_right_code(
    mfa: MFA, outbox: Outbox, clock: FakeClock, backup: list[str]
) -> None:
    # Two challenges, two different right codes: every typo gets the same answer.
    first = mfa.begin_sign_in("alice").challenge
    first_code = outbox.last_code(EMAIL)
    clock.advance(seconds=61)
    second = mfa.begin_sign_in("alice").challenge
    assert first is not None and second is not None
    assert outbox.last_code(EMAIL) != first_code or first.id != second.id
    for typed in TYPOS:
        assert mfa.verify(first.id, typed) == mfa.verify(second.id, typed)


@pytest.mark.parametrize("typed", ["", "12ab", "12345", "1234567", "123456789"], ids=repr)
def test_a_typo_on_an_authenticator_challenge(
    mfa: MFA, store: MemoryStore, enrol: Callable[..., Enrolled], typed: str
) -> None:
    enrol()
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None and start.challenge.method is Method.TOTP
    before = snapshot(store)
    result = mfa.verify(start.challenge.id, typed)
    assert result.reason is Reason.MALFORMED_CODE and result.attempts_left == 5
    assert result.expected == ExpectedCode(method=Method.TOTP, lengths=(6, 8))
    assert snapshot(store) == before
    assert mfakit.texts().explain(result) == (
        "Enter the code your authenticator app shows: 6 or 8 digits."
    )


def test_a_typo_on_a_backup_code_challenge(mfa: MFA, email_challenge: mfakit.Challenge) -> None:
    switched = mfa.switch_method(email_challenge.id, Method.BACKUP_CODE)
    assert switched.challenge.method is Method.BACKUP_CODE
    result = mfa.verify(email_challenge.id, "123456")
    assert result.reason is Reason.MALFORMED_CODE and result.attempts_left == 5
    assert result.expected == ExpectedCode(method=Method.BACKUP_CODE, lengths=(12,))
    assert "12 letters and digits" in mfakit.texts().explain(result)


def test_a_typo_confirming_an_authenticator_setup(
    mfa: MFA, store: MemoryStore, clock: FakeClock
) -> None:
    actor = fresh(clock)
    setup = mfa.begin_totp_setup(actor, "alice", account_name="alice@example.org")
    for typed in ("", "12ab", "12345", "1234567"):
        result = mfa.confirm_totp_setup(actor, setup.id, typed)
        assert (result.ok, result.reason, result.attempts_left) == (
            False,
            Reason.MALFORMED_CODE,
            5,
        )
        assert result.expected == ExpectedCode(method=Method.TOTP, lengths=(6,))
    assert mfa.confirm_totp_setup(actor, setup.id, authenticator_code(setup.uri, clock.now())).ok


def test_the_sentence_for_each_sent_code_and_language(
    mfa: MFA, outbox: Outbox, email_challenge: mfakit.Challenge
) -> None:
    result = mfa.verify(email_challenge.id, "12ab")
    assert mfakit.texts("fr").explain(result) == "Saisissez le code reçu par e-mail : 6 chiffres."
    for method, english in [
        (Method.SMS, "Enter the code from the text message: 8 digits."),
        (Method.VOICE, "Enter the code read out in the phone call: 8 digits."),
        (Method.EMAIL, "Enter the code from the email: 8 digits."),
    ]:
        expected = ExpectedCode(method=method, lengths=(8,))
        assert Reason.MALFORMED_CODE.message(expected=expected) == english
    # Without ``expected``, a general sentence.
    assert Reason.MALFORMED_CODE.message() == (
        "That does not look like a code. Check it and try again."
    )


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


@pytest.mark.parametrize("answer", ["", "   ", "\n", " \t ", "x" * 129, "Spring\x07field"])
def test_a_blank_answer_is_malformed_and_counts_nothing(
    guarded: MFA, store: MemoryStore, outbox: Outbox, clock: FakeClock, answer: str
) -> None:
    mfa = guarded
    enrol_phone(mfa, outbox, clock)
    enrol_email(mfa, outbox, clock)
    question = mfa.security_questions[1]
    mfa.set_security_question(fresh(clock), "alice", question, "Springfield")
    challenge = mfa.begin_sign_in("alice").challenge
    assert challenge is not None and challenge.alternatives_locked
    mfa.try_another_way(challenge.id)
    before = snapshot(store)
    result = mfa.answer_security_question(challenge.id, answer)
    assert (result.ok, result.reason) == (False, Reason.MALFORMED_CODE)
    assert result.expected == ExpectedCode(method=None)
    assert result.challenge.attempts_left == 5 and result.challenge.question == question
    assert snapshot(store) == before
    assert mfakit.texts().explain(result) == "Please type your answer to the security question."
    assert mfa.answer_security_question(challenge.id, "Springfield").ok


@pytest.mark.parametrize("answer", [None, 42, "x" * 513], ids=repr)
def test_an_answer_nobody_types_raises(
    guarded: MFA, outbox: Outbox, clock: FakeClock, answer: object
) -> None:
    mfa = guarded
    enrol_phone(mfa, outbox, clock)
    enrol_email(mfa, outbox, clock)
    mfa.set_security_question(fresh(clock), "alice", mfa.security_questions[1], "Springfield")
    challenge = mfa.begin_sign_in("alice").challenge
    assert challenge is not None
    mfa.try_another_way(challenge.id)
    with pytest.raises(mfakit.InvalidInput):
        mfa.answer_security_question(challenge.id, answer)  # type: ignore[arg-type]
