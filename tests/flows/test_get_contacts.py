"""Reading back what the user owns: ``MFA.get_contacts`` gives the account owner's
phone and email in full with their verified flags, and an enrolment or a contact
change says which value it applied (``VerifyResult.contact``), on the memory store
and the outbox. The values are personal data: no ``repr`` and no log shows them."""

from __future__ import annotations

import asyncio
import logging

import pytest

from mfakit import (
    MFA,
    Actor,
    AsyncMFA,
    Contact,
    ContactKind,
    Contacts,
    InvalidInput,
    Method,
    VerifyResult,
)
from mfakit.adapters import MemoryAuditLog, MemoryStore, Outbox
from mfakit.testing import FakeClock, fast_hasher
from tests.conftest import SECRET
from tests.helpers import fresh

PHONE = "+14155550142"
TYPED_PHONE = "+1 (415) 555-0142"
NEW_PHONE = "+14155550199"
EMAIL = "ada.l@example.org"
NEW_EMAIL = "nina@example.net"


def hidden(text: str, *values: str) -> None:
    """None of ``values`` (nor an email's local part) appears in ``text``."""
    for value in values:
        assert value not in text, text
        assert value.split("@")[0] not in text, text


def test_a_user_without_contacts(mfa: MFA) -> None:
    got = mfa.get_contacts("alice")
    assert got == Contacts(user_id="alice")
    assert (got.phone, got.email, list(got)) == (None, None, [])


def test_enrolments_carry_the_value_applied_and_it_reads_back(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", TYPED_PHONE)
    assert sent.challenge is not None
    result = mfa.verify(sent.challenge.id, outbox.last_code(PHONE))
    assert result.ok and result.contact is not None
    # The value as stored (E.164), not as typed, and proven.
    assert (result.contact.kind, result.contact.value) == (ContactKind.PHONE, PHONE)
    assert result.contact.verified and result.contact.verified_at == clock.now()
    clock.advance(seconds=31)

    sent = mfa.begin_email_enrolment(fresh(clock), "alice", "ada.l@Example.ORG")
    assert sent.challenge is not None
    result = mfa.verify(sent.challenge.id, outbox.last_code(EMAIL))
    assert result.ok and result.contact is not None
    assert (result.contact.kind, result.contact.value, result.contact.verified) == (
        ContactKind.EMAIL,
        EMAIL,
        True,
    )

    got = mfa.get_contacts("alice")
    assert got.phone is not None and got.email is not None
    assert (got.phone.value, got.phone.verified) == (PHONE, True)
    assert got.email == result.contact
    assert [c.kind for c in got] == [ContactKind.PHONE, ContactKind.EMAIL]
    # Another user sees nothing of Alice's.
    assert mfa.get_contacts("bob") == Contacts(user_id="bob")


def test_a_contact_change_carries_the_new_value_unverified(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    enrol(mfa, outbox, clock)
    start = mfa.begin_contact_change(Actor.user("alice"), "alice", phone="+1 415 555 0199")
    assert start.ok and start.challenge is not None
    assert mfa.send(start.challenge.id, Method.EMAIL).ok
    result = mfa.verify(start.challenge.id, outbox.last_code(EMAIL))
    assert result.ok and result.contact is not None
    assert (result.contact.kind, result.contact.value) == (ContactKind.PHONE, NEW_PHONE)
    # Unverified until its possession is proven (L3).
    assert not result.contact.verified and result.contact.verified_at is None
    got = mfa.get_contacts("alice")
    assert got.phone == result.contact
    assert got.email is not None and got.email.verified
    clock.advance(seconds=31)

    # An email change the same way; then a change to the value the user has.
    start = mfa.begin_contact_change(Actor.user("alice"), "alice", email=NEW_EMAIL)
    assert start.ok and start.challenge is not None
    assert mfa.send(start.challenge.id, Method.EMAIL).ok
    result = mfa.verify(start.challenge.id, outbox.last_code(EMAIL))
    assert result.contact is not None and result.contact.value == NEW_EMAIL
    assert mfa.get_contacts("alice").email == result.contact


def test_a_change_to_the_current_value_carries_it(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    enrol(mfa, outbox, clock)
    before = mfa.get_contacts("alice").phone
    start = mfa.begin_contact_change(Actor.user("alice"), "alice", phone=PHONE)
    assert start.ok and start.challenge is not None
    assert mfa.send(start.challenge.id, Method.EMAIL).ok
    result = mfa.verify(start.challenge.id, outbox.last_code(EMAIL))
    assert result.ok and result.contact == before
    assert before is not None and before.verified  # a no-op keeps it proven


def test_other_verifications_carry_no_contact(mfa: MFA, outbox: Outbox, clock: FakeClock) -> None:
    enrol(mfa, outbox, clock)
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None and start.challenge.method is Method.SMS
    result = mfa.verify(start.challenge.id, outbox.last_code(PHONE))
    assert result.ok and result.contact is None


def test_no_repr_and_no_log_shows_the_values(
    mfa: MFA, outbox: Outbox, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    assert sent.challenge is not None
    result = mfa.verify(sent.challenge.id, outbox.last_code(PHONE))
    clock.advance(seconds=31)
    enrol_email_only(mfa, outbox, clock)
    got = mfa.get_contacts("alice")
    assert got.phone is not None and got.email is not None
    for text in (repr(got), str(got), repr(got.phone), repr(result), repr(list(got))):
        hidden(text, PHONE, EMAIL)
    assert "+1•••••42" in repr(got.phone) and "a•••@example.org" in repr(got.email)
    assert "verified=True" in repr(got.phone)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("host").info("contacts: %r, result: %s", got, result)
    hidden(caplog.text, PHONE, EMAIL)
    # The values themselves are there for the owner's page.
    assert got.phone.value == PHONE and got.email.value == EMAIL


@pytest.mark.parametrize("bad", ["", "a" * 300, None, 7, "al\x00ice"])
def test_a_bad_user_id_is_invalid_input(mfa: MFA, bad: object) -> None:
    with pytest.raises(InvalidInput):
        mfa.get_contacts(bad)  # type: ignore[arg-type]


def test_async_mfa_reads_them_back_too(clock: FakeClock) -> None:
    outbox = Outbox()
    mfa = AsyncMFA(
        store=MemoryStore(),
        secret_key=SECRET,
        issuer="Example",
        clock=clock,
        hasher=fast_hasher(),
        email=outbox,
        audit=MemoryAuditLog(),
    )

    async def main() -> tuple[VerifyResult, Contacts]:
        sent = await mfa.begin_email_enrolment(fresh(clock), "alice", EMAIL)
        assert sent.challenge is not None
        result = await mfa.verify(sent.challenge.id, outbox.last_code(EMAIL))
        return result, await mfa.get_contacts("alice")

    result, got = asyncio.run(main())
    assert isinstance(result.contact, Contact) and got.email == result.contact
    assert got.email is not None and got.email.value == EMAIL and got.phone is None


# --- helpers ----------------------------------------------------------------------


def enrol(mfa: MFA, outbox: Outbox, clock: FakeClock) -> None:
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    assert sent.challenge is not None
    assert mfa.verify(sent.challenge.id, outbox.last_code(PHONE)).ok
    clock.advance(seconds=31)
    enrol_email_only(mfa, outbox, clock)


def enrol_email_only(mfa: MFA, outbox: Outbox, clock: FakeClock) -> None:
    sent = mfa.begin_email_enrolment(fresh(clock), "alice", EMAIL)
    assert sent.challenge is not None
    assert mfa.verify(sent.challenge.id, outbox.last_code(EMAIL)).ok
    clock.advance(seconds=31)
