"""Translated texts through real use cases: codes in the call's locale, notices in
the locale the host chooses, and the phrases the service writes about a factor
read back so a notice names it in the user's language (no English left)."""

from __future__ import annotations

import pytest

import mfakit
from mfakit import MFA, Actor, ContactKind, Messages, Method
from mfakit.adapters import MemoryAuditLog, MemoryStore, Outbox
from mfakit.testing import FakeClock, authenticator_code, fast_hasher
from tests.conftest import SECRET
from tests.helpers import fresh

PHONE = "+14155550101"
EMAIL = "alice@example.org"
NEW_EMAIL = "alice.new@example.org"

# English words a German notice must not carry once rendered.
ENGLISH = ("phone", "email", "authenticator app", "(now", " was ", " your ", "verification")


def build(clock: FakeClock, outbox: Outbox, messages: Messages | None = None) -> MFA:
    return MFA(
        store=MemoryStore(),
        secret_key=SECRET,
        issuer="Aesthetix CRM",
        clock=clock,
        hasher=fast_hasher(),
        sms=outbox,
        voice=outbox,
        email=outbox,
        audit=MemoryAuditLog(),
        messages=messages,
    )


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        ("de-DE", "ist Ihr Bestätigungscode für Aesthetix CRM"),
        ("es-MX", "es su código de Aesthetix CRM"),
        ("fr-CA", "est votre code de vérification Aesthetix CRM"),
        ("pt-BR", "é seu código de Aesthetix CRM"),
        ("it", "is your Aesthetix CRM verification code"),
    ],
)
def test_codes_go_out_in_the_calls_locale(locale: str, words: str) -> None:
    clock, outbox = FakeClock(), Outbox()
    mfa = build(clock, outbox)
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE, locale=locale)
    assert words in outbox.last(PHONE).text
    assert mfa.verify(sent.challenge.id, outbox.last_code(PHONE)).ok
    clock.advance(seconds=31)
    start = mfa.begin_sign_in("alice", locale=locale)
    assert start.challenge is not None
    assert words in outbox.last(PHONE).text
    assert mfa.switch_method(start.challenge.id, Method.VOICE, locale=locale).ok
    voice = outbox.last(PHONE).text
    # The voice sender is told the language, so its text-to-speech reads the
    # separated digits in it.
    assert (outbox.last(PHONE).channel, outbox.last(PHONE).locale) == ("voice", locale)
    code = outbox.last_code(PHONE)
    assert ", ".join(code) in voice and code not in voice
    assert (
        voice
        == mfakit.texts(locale)
        .code_message("voice", issuer="Aesthetix CRM", code=code, minutes=10)
        .text
    )
    assert mfa.verify(start.challenge.id, code).ok


def test_notices_go_out_in_the_default_locale_the_host_chose() -> None:
    clock, outbox = FakeClock(), Outbox()
    mfa = build(clock, outbox, Messages(default_locale="de"))
    sent = mfa.begin_email_enrolment(fresh(clock), "alice", EMAIL)
    assert mfa.verify(sent.challenge.id, outbox.last_code(EMAIL)).ok
    clock.advance(seconds=31)
    outbox.clear()

    # factor_added: phone ("phone +1•••••01")
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    assert mfa.verify(sent.challenge.id, outbox.last_code(PHONE)).ok
    clock.advance(seconds=31)
    # factor_added / factor_removed: authenticator app ("authenticator app “Pixel”")
    actor = fresh(clock)
    setup = mfa.begin_totp_setup(actor, "alice", account_name=EMAIL, label="Pixel")
    confirmed = mfa.confirm_totp_setup(actor, setup.id, authenticator_code(setup.uri, clock.now()))
    assert confirmed.ok and confirmed.authenticator is not None
    clock.advance(seconds=90)
    mfa.remove_authenticator(fresh(clock), "alice", confirmed.authenticator.id)
    # factor_removed: phone, told to the email
    mfa.remove_contact(fresh(clock), "alice", ContactKind.PHONE)
    mfa.password_changed(fresh(clock), "alice")
    # contact_changed: email ("email (now a•••@example.org)"), told to the old address
    start = mfa.begin_contact_change(Actor.user("alice"), "alice", email=NEW_EMAIL)
    assert start.ok and start.challenge is not None
    assert mfa.send(start.challenge.id, Method.EMAIL).ok
    assert mfa.verify(start.challenge.id, outbox.last_code(EMAIL)).ok

    notices = [m for m in outbox.messages if m.code is None]
    subjects = [m.subject for m in notices]
    assert subjects == [
        "Bestätigungsmethode bei Aesthetix CRM hinzugefügt",
        "Bestätigungsmethode bei Aesthetix CRM hinzugefügt",
        "Bestätigungsmethode bei Aesthetix CRM entfernt",
        "Bestätigungsmethode bei Aesthetix CRM entfernt",
        "",  # an SMS to the removed phone itself (S21): no subject
        "Ihr Passwort für Aesthetix CRM wurde geändert",
        "Ihre Kontaktdaten bei Aesthetix CRM wurden geändert",
    ]
    texts = [m.text for m in notices]
    assert "eine Telefonnummer (+1•••••01) als Bestätigungsmethode hinzugefügt" in texts[0]
    assert "eine Authenticator-App namens „Pixel“ als Bestätigungsmethode" in texts[1]
    assert "eine Authenticator-App namens „Pixel“ aus den Bestätigungsmethoden" in texts[2]
    assert "eine Telefonnummer (+1•••••01) aus den Bestätigungsmethoden" in texts[3]
    assert "Diese Telefonnummer (+1•••••01) wurde am" in texts[4]
    assert notices[4].to == PHONE and notices[4].channel == "sms"
    assert "die E-Mail-Adresse Ihres Kontos bei Aesthetix CRM in a•••@example.org" in texts[6]
    assert notices[6].to == EMAIL  # the old address hears of the change
    for text in texts:
        for word in ENGLISH:
            assert word not in text, (word, text)


def test_a_trusted_device_and_few_backup_codes_are_told_in_french() -> None:
    clock, outbox = FakeClock(), Outbox()
    mfa = build(clock, outbox, Messages(default_locale="fr"))
    sent = mfa.begin_email_enrolment(fresh(clock), "alice", EMAIL)
    verified = mfa.verify(sent.challenge.id, outbox.last_code(EMAIL))
    assert verified.ok and verified.backup_codes is not None
    codes = list(verified.backup_codes)
    clock.advance(seconds=31)
    start = mfa.begin_sign_in("alice", locale="fr")
    assert start.challenge is not None
    result = mfa.verify(
        start.challenge.id, outbox.last_code(EMAIL), trust_device=True, device_label="Mon PC"
    )
    assert result.ok
    trusted = outbox.last(EMAIL)
    assert trusted.subject == "Nouvel appareil de confiance sur Aesthetix CRM"
    assert "un appareil (Mon PC) a été enregistré comme appareil de confiance" in trusted.text
    low_at = mfa.policy.backup_codes_low_at
    for code in codes[: len(codes) - low_at]:
        assert mfa.verify_backup_code("alice", code).ok
    low = outbox.last(EMAIL)
    assert low.subject == "Il vous reste peu de codes de secours sur Aesthetix CRM"
    assert f"Il vous reste {low_at} codes de secours" in low.text
    assert mfa.verify_backup_code("alice", codes[-1]).ok
    assert f"Il vous reste {low_at - 1} code de secours" in outbox.last(EMAIL).text


def test_mfa_messages_gives_the_hosts_texts() -> None:
    clock, outbox = FakeClock(), Outbox()
    mfa = build(clock, outbox, Messages(default_locale="es"))
    assert isinstance(mfa.messages, mfakit.Messages)
    assert mfa.messages.texts("de").locale == "de"
    assert mfa.messages.texts("it").locale == "es"
    wrong = mfa.verify_totp("alice", "000000")
    assert not wrong.ok and wrong.reason is not None
    assert mfa.messages.texts(None).explain(wrong).startswith("Ese código no es correcto.")
    # The default MFA speaks the five languages.
    assert build(clock, outbox).messages.texts("pt-BR").locale == "pt-br"
