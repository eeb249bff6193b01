"""A user's typo is not misuse, on ``AsyncMFA`` too (issue 14).

The sync facade's tests (tests/flows/test_malformed_codes.py, test_bad_input.py,
tests/security/test_typos_consume_no_attempts.py) have their twin here for every
call a person types into: ``verify``, ``verify_totp``, ``verify_backup_code``,
``confirm_totp_setup`` and ``answer_security_question``. Each typo comes back as
``Reason.MALFORMED_CODE`` with what the field takes, counts nothing, changes
nothing in the store; only a non-``str`` or an oversize input raises.
"""

from __future__ import annotations

from typing import Any

import pytest

import mfakit
from mfakit import Actor, AsyncMFA, ExpectedCode, Method, Policy, Reason
from mfakit.adapters import Outbox
from mfakit.adapters.memory_async import AsyncMemoryStore
from mfakit.testing import FakeClock, authenticator_code, fast_hasher
from tests.conftest import SECRET
from tests.helpers import fresh, snapshot

EMAIL = "alice@example.org"
PHONE = "+14155550101"
TYPOS = [
    "",
    "   ",
    "12ab",
    "12345",
    "1234567",
    "٦٧٥٢٣٢",
    "６７５２３２",
    "7K2M-Q9XH-4TR",
    "x" * 256,
]
MISUSE: list[Any] = [None, 123456, b"123456", "1" * 10_000]


def build(clock: FakeClock, **kwargs: Any) -> tuple[AsyncMFA, AsyncMemoryStore, Outbox]:
    store, outbox = AsyncMemoryStore(), Outbox()
    amfa = AsyncMFA(
        store=store,
        secret_key=SECRET,
        issuer="Aesthetix CRM",
        clock=clock,
        hasher=fast_hasher(),
        sms=outbox,
        email=outbox,
        **kwargs,
    )
    return amfa, store, outbox


async def enrol_totp(amfa: AsyncMFA, clock: FakeClock) -> tuple[str, list[str]]:
    actor = Actor.user("alice", reauthenticated_at=clock.now())
    setup = await amfa.begin_totp_setup(actor, "alice", account_name=EMAIL)
    done = await amfa.confirm_totp_setup(
        actor, setup.id, authenticator_code(setup.uri, clock.now())
    )
    assert done.ok and done.backup_codes is not None
    clock.advance(seconds=90)
    return setup.uri, list(done.backup_codes)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def parts(clock: FakeClock) -> tuple[AsyncMFA, AsyncMemoryStore, Outbox]:
    return build(clock)


@pytest.mark.asyncio
async def test_typos_on_a_sign_in_challenge(
    parts: tuple[AsyncMFA, AsyncMemoryStore, Outbox], clock: FakeClock
) -> None:
    amfa, store, outbox = parts
    actor = Actor.user("alice", reauthenticated_at=clock.now())
    sent = await amfa.begin_email_enrolment(actor, "alice", EMAIL)
    assert (await amfa.verify(sent.challenge.id, outbox.last_code(EMAIL))).ok
    clock.advance(seconds=61)
    start = await amfa.begin_sign_in("alice")
    assert isinstance(start, mfakit.ChallengeRequired)
    before = snapshot(store.sync)
    for typed in TYPOS:
        result = await amfa.verify(start.challenge.id, typed)
        assert (result.ok, result.reason, result.attempts_left) == (
            False,
            Reason.MALFORMED_CODE,
            5,
        ), repr(typed)
        assert result.expected == ExpectedCode(method=Method.EMAIL, lengths=(6,))
        assert mfakit.texts().explain(result) == "Enter the code from the email: 6 digits."
    for bad in MISUSE:
        with pytest.raises(mfakit.InvalidInput):
            await amfa.verify(start.challenge.id, bad)
    assert snapshot(store.sync) == before
    assert (await amfa.get_challenge(start.challenge.id)).attempts_left == 5
    assert (await amfa.verify(start.challenge.id, f" {outbox.last_code(EMAIL)}\n")).ok


@pytest.mark.asyncio
async def test_typos_to_verify_totp_and_verify_backup_code(
    parts: tuple[AsyncMFA, AsyncMemoryStore, Outbox], clock: FakeClock
) -> None:
    amfa, store, _ = parts
    uri, codes = await enrol_totp(amfa, clock)
    before = snapshot(store.sync)
    for typed in TYPOS:
        totp = await amfa.verify_totp("alice", typed)
        assert (totp.ok, totp.reason) == (False, Reason.MALFORMED_CODE), repr(typed)
        assert totp.expected == ExpectedCode(method=Method.TOTP, lengths=(6, 8))
    for typed in ["", "12", "ZZZZ-ZZZZ-ZZZ", "123456", "x" * 256]:
        backup = await amfa.verify_backup_code("alice", typed)
        assert (backup.ok, backup.reason) == (False, Reason.MALFORMED_CODE), repr(typed)
        assert backup.expected == ExpectedCode(method=Method.BACKUP_CODE, lengths=(12,))
    for bad in MISUSE:
        with pytest.raises(mfakit.InvalidInput):
            await amfa.verify_totp("alice", bad)
        with pytest.raises(mfakit.InvalidInput):
            await amfa.verify_backup_code("alice", bad)
    assert snapshot(store.sync) == before  # no failure counted: no back-off, no lock-out
    assert (await amfa.verify_totp("alice", authenticator_code(uri, clock.now()))).ok
    assert (await amfa.verify_backup_code("alice", codes[0])).ok


@pytest.mark.asyncio
async def test_typos_confirming_an_authenticator_setup(
    parts: tuple[AsyncMFA, AsyncMemoryStore, Outbox], clock: FakeClock
) -> None:
    amfa, _, _ = parts
    actor = Actor.user("alice", reauthenticated_at=clock.now())
    setup = await amfa.begin_totp_setup(actor, "alice", account_name=EMAIL)
    for typed in ("", "12ab", "12345", "1234567"):
        result = await amfa.confirm_totp_setup(actor, setup.id, typed)
        assert (result.ok, result.reason, result.attempts_left) == (
            False,
            Reason.MALFORMED_CODE,
            5,
        )
        assert result.expected == ExpectedCode(method=Method.TOTP, lengths=(6,))
    with pytest.raises(mfakit.InvalidInput):
        await amfa.confirm_totp_setup(actor, setup.id, None)  # type: ignore[arg-type]
    done = await amfa.confirm_totp_setup(
        actor, setup.id, authenticator_code(setup.uri, clock.now())
    )
    assert done.ok


@pytest.mark.asyncio
async def test_a_blank_security_answer(clock: FakeClock) -> None:
    amfa, store, outbox = build(clock, policy=Policy(question_guards_alternatives=True))
    actor = Actor.user("alice", reauthenticated_at=clock.now())
    phone = await amfa.begin_phone_enrolment(actor, "alice", PHONE)
    verified = await amfa.verify(phone.challenge.id, outbox.last_code(PHONE))
    assert verified.ok
    clock.advance(seconds=61)
    actor = fresh(clock)  # a second factor needs a step-up: a grant signed with SECRET
    email = await amfa.begin_email_enrolment(actor, "alice", EMAIL)
    assert (await amfa.verify(email.challenge.id, outbox.last_code(EMAIL))).ok
    question = amfa.security_questions[1]
    await amfa.set_security_question(actor, "alice", question, "Springfield")
    clock.advance(seconds=61)
    start = await amfa.begin_sign_in("alice")
    assert isinstance(start, mfakit.ChallengeRequired) and start.challenge.alternatives_locked
    await amfa.try_another_way(start.challenge.id)
    before = snapshot(store.sync)
    for blank in ["", "   ", "\n", " \t ", "x" * 129]:
        result = await amfa.answer_security_question(start.challenge.id, blank)
        assert (result.ok, result.reason) == (False, Reason.MALFORMED_CODE), repr(blank)
        assert result.expected == ExpectedCode(method=None)
        assert result.challenge.attempts_left == 5
    assert mfakit.texts().explain(result) == "Please type your answer to the security question."
    for bad in [None, 42, "x" * 513]:
        with pytest.raises(mfakit.InvalidInput):
            await amfa.answer_security_question(start.challenge.id, bad)  # type: ignore[arg-type]
    assert snapshot(store.sync) == before
    assert (await amfa.answer_security_question(start.challenge.id, "Springfield")).ok
