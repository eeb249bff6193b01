"""A user's stored locale (``MFA.set_locale``): the codes and security notices sent
to them without a ``locale=`` of the call's own are in their language, through the
real use cases and the Outbox; a call's locale still wins, and other users keep
the default. Only a locale with texts is stored."""

from __future__ import annotations

import asyncio

import pytest

import mfakit
from mfakit import (
    MFA,
    Actor,
    AsyncMFA,
    ContactKind,
    InvalidInput,
    Messages,
    NotPermitted,
    Templates,
)
from mfakit.adapters import MemoryAuditLog, MemoryStore, Outbox
from mfakit.testing import FakeClock, fast_hasher
from tests.conftest import SECRET
from tests.helpers import fresh

PHONE = "+14155550101"
EMAIL = "alice@example.org"
BOB = "bob@example.org"
ISSUER = "Aesthetix CRM"


def build(
    clock: FakeClock,
    outbox: Outbox,
    messages: Messages | None = None,
    store: MemoryStore | None = None,
) -> MFA:
    return MFA(
        store=store if store is not None else MemoryStore(),
        secret_key=SECRET,
        issuer=ISSUER,
        clock=clock,
        hasher=fast_hasher(),
        sms=outbox,
        voice=outbox,
        email=outbox,
        audit=MemoryAuditLog(),
        messages=messages,
    )


def enrol(mfa: MFA, clock: FakeClock, outbox: Outbox, user: str, email: str) -> None:
    sent = mfa.begin_email_enrolment(fresh(clock, user), user, email)
    assert mfa.verify(sent.challenge.id, outbox.last_code(email)).ok
    clock.advance(seconds=31)


def notice_subject(locale: str, kind: str) -> str:
    return mfakit.texts(locale).notice(kind, issuer=ISSUER, when="x").subject


def test_a_german_user_gets_german_notices_and_codes() -> None:
    clock, outbox = FakeClock(), Outbox()
    mfa = build(clock, outbox)
    enrol(mfa, clock, outbox, "alice", EMAIL)
    enrol(mfa, clock, outbox, "bob", BOB)
    assert mfa.set_locale(Actor.user("alice"), "alice", "de-DE") == "de-de"
    outbox.clear()

    mfa.password_changed(fresh(clock), "alice")
    mfa.password_changed(fresh(clock, "bob"), "bob")
    german = outbox.last(EMAIL)
    assert german.subject == "Ihr Passwort für Aesthetix CRM wurde geändert"
    assert german.subject == notice_subject("de", "password_changed")
    # Bob chose nothing: the default locale.
    assert outbox.last(BOB).subject == notice_subject("en", "password_changed")
    assert outbox.last(BOB).subject != german.subject

    # A code sent without a locale of the call's own: German too.
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None
    assert "Bestätigungscode" in outbox.last(EMAIL).text
    assert mfa.verify(start.challenge.id, outbox.last_code(EMAIL)).ok
    clock.advance(seconds=31)
    # The call's own locale wins over the stored one.
    start = mfa.begin_sign_in("alice", locale="fr")
    assert start.challenge is not None
    assert "code de vérification" in outbox.last(EMAIL).text
    assert mfa.verify(start.challenge.id, outbox.last_code(EMAIL)).ok
    clock.advance(seconds=31)

    # A notice to one named destination (the removed phone itself, S21) too.
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    assert "Bestätigungscode" in outbox.last(PHONE).text
    assert mfa.verify(sent.challenge.id, outbox.last_code(PHONE)).ok
    clock.advance(seconds=31)
    mfa.remove_contact(fresh(clock), "alice", ContactKind.PHONE)
    told = outbox.last(PHONE)
    assert told.code is None and "Diese Telefonnummer (+1•••••01) wurde am" in told.text

    # Back to the default.
    assert mfa.set_locale(Actor.user("alice"), "alice", None) is None
    mfa.password_changed(fresh(clock), "alice")
    assert outbox.last(EMAIL).subject == notice_subject("en", "password_changed")


def test_the_host_default_applies_when_the_user_chose_nothing() -> None:
    clock, outbox = FakeClock(), Outbox()
    mfa = build(clock, outbox, Messages(default_locale="es"))
    enrol(mfa, clock, outbox, "alice", EMAIL)
    enrol(mfa, clock, outbox, "bob", BOB)
    mfa.set_locale(Actor.user("alice"), "alice", "pt_BR")
    mfa.password_changed(fresh(clock), "alice")
    mfa.password_changed(fresh(clock, "bob"), "bob")
    assert outbox.last(EMAIL).subject == notice_subject("pt-BR", "password_changed")
    assert outbox.last(BOB).subject == notice_subject("es", "password_changed")


@pytest.mark.parametrize(
    ("given", "stored"),
    [("de", "de"), ("fr-CA", "fr-ca"), ("pt_BR", "pt-br"), ("EN", "en"), ("es-419", "es-419")],
)
def test_a_locale_with_texts_is_stored_normalized(given: str, stored: str) -> None:
    clock, outbox, store = FakeClock(), Outbox(), MemoryStore()
    mfa = build(clock, outbox, store=store)
    assert mfa.set_locale(Actor.user("alice"), "alice", given) == stored
    state = store.get_user_state("alice")
    assert state is not None and state.locale == stored


@pytest.mark.parametrize("bad", ["it", "xx-YY", "", "de DE", "d" * 36, 7, b"de"])
def test_a_locale_without_texts_is_refused_and_nothing_stored(bad: object) -> None:
    clock, outbox, store = FakeClock(), Outbox(), MemoryStore()
    mfa = build(clock, outbox, store=store)
    with pytest.raises(InvalidInput) as caught:
        mfa.set_locale(Actor.user("alice"), "alice", bad)  # type: ignore[arg-type]
    assert caught.value.field == "locale"
    assert store.get_user_state("alice") is None


def test_a_hosts_own_language_is_accepted() -> None:
    clock, outbox = FakeClock(), Outbox()
    italian = Templates(sms="{code} è il tuo codice {issuer}")
    mfa = build(clock, outbox, Messages({"it": italian}))
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    assert mfa.verify(sent.challenge.id, outbox.last_code(PHONE)).ok
    clock.advance(seconds=31)
    assert mfa.set_locale(Actor.user("alice"), "alice", "it") == "it"
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None
    assert "è il tuo codice Aesthetix CRM" in outbox.last(PHONE).text


def test_only_the_user_or_staff_set_it() -> None:
    clock, outbox, store = FakeClock(), Outbox(), MemoryStore()
    mfa = build(clock, outbox, store=store)
    with pytest.raises(NotPermitted):
        mfa.set_locale(Actor.user("mallory"), "alice", "de")
    assert store.get_user_state("alice") is None
    assert mfa.set_locale(Actor.admin("support-1"), "alice", "de") == "de"


def test_async_mfa_sets_it_too() -> None:
    clock, outbox = FakeClock(), Outbox()
    mfa = AsyncMFA(
        store=MemoryStore(),
        secret_key=SECRET,
        issuer=ISSUER,
        clock=clock,
        hasher=fast_hasher(),
        email=outbox,
        audit=MemoryAuditLog(),
    )

    async def main() -> None:
        sent = await mfa.begin_email_enrolment(fresh(clock), "alice", EMAIL)
        assert (await mfa.verify(sent.challenge.id, outbox.last_code(EMAIL))).ok
        assert await mfa.set_locale(Actor.user("alice"), "alice", "fr") == "fr"
        await mfa.password_changed(fresh(clock), "alice")

    asyncio.run(main())
    assert outbox.last(EMAIL).subject == notice_subject("fr", "password_changed")
