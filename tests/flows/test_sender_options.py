"""``locale`` and ``html`` reach the senders whose method takes them, decided
once when the facade is built; a sender written as ``send_sms(to, text)``
keeps working; a code provider in a sender's place is recognised."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

import mfakit
from mfakit import MFA, ConfigurationError
from mfakit.adapters import MemoryStore, Outbox
from mfakit.testing import FakeClock, fast_hasher
from mfakit.wiring import accepted_options
from tests.conftest import SECRET
from tests.helpers import EMAIL, PHONE, fresh


class PlainSms:
    """A sender from before the keywords existed."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send_sms(self, to: str, text: str) -> None:
        self.sent.append((to, text))


class KeywordsEmail:
    """A sender taking any keyword (``**options``)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_email(self, to: str, subject: str, text: str, **options: Any) -> str:
        self.sent.append({"to": to, "subject": subject, "text": text, **options})
        return "msg-1"


def build(clock: FakeClock, **senders: object) -> MFA:
    return MFA(
        store=MemoryStore(),
        secret_key=SECRET,
        issuer="Clinic",
        clock=clock,
        hasher=fast_hasher(),
        **senders,  # type: ignore[arg-type]
    )


def test_the_outbox_gets_the_locale_and_an_html_email(mfa: MFA, outbox: Outbox, clock: Any) -> None:
    mfa.begin_email_enrolment(fresh(clock), "alice", EMAIL, locale="fr")
    mail = outbox.messages[-1]
    assert mail.locale == "fr"
    assert mail.code is not None and mail.html is not None
    assert '<html lang="fr">' in mail.html and f">{mail.code}</strong>" in mail.html
    assert "<script" not in mail.html
    mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE, locale="pt_BR")
    assert outbox.messages[-1].locale == "pt-BR" and outbox.messages[-1].html is None


def test_html_escapes_the_text(clock: FakeClock) -> None:
    email = KeywordsEmail()
    mfa = MFA(
        store=MemoryStore(),
        secret_key=SECRET,
        issuer="Smith & <Sons>",
        clock=clock,
        hasher=fast_hasher(),
        email=email,
    )
    mfa.begin_email_enrolment(fresh(clock), "alice", EMAIL)
    (sent,) = email.sent
    assert "locale" not in sent  # none asked for
    assert "Smith &amp; &lt;Sons&gt;" in sent["html"] and "<Sons>" not in sent["html"]


def test_a_sender_without_the_keywords_keeps_working(clock: FakeClock) -> None:
    sms = PlainSms()
    mfa = build(clock, sms=sms)
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE, locale="de")
    assert sent.ok and len(sms.sent) == 1
    assert "Bestätigungscode" in sms.sent[0][1]  # rendered in German all the same


def test_the_signature_is_read_once_at_wiring(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[object] = []
    real = inspect.signature

    def counting(obj: Any, *args: Any, **kwargs: Any) -> inspect.Signature:
        calls.append(obj)
        return real(obj, *args, **kwargs)

    monkeypatch.setattr(inspect, "signature", counting)
    email = KeywordsEmail()
    mfa = build(clock, email=email)
    wired = len(calls)
    assert wired >= 1
    for _ in range(3):
        mfa.begin_email_enrolment(fresh(clock), "alice", EMAIL, locale="es")
        clock.advance(seconds=31)
    assert len(calls) == wired
    assert [s["locale"] for s in email.sent] == ["es"] * 3


def test_accepted_options() -> None:
    def plain(to: str, text: str) -> None: ...

    def named(to: str, text: str, *, locale: str | None = None) -> None: ...

    def anything(to: str, text: str, **kw: Any) -> None: ...

    assert accepted_options(plain, ("locale", "html")) == frozenset()
    assert accepted_options(named, ("locale", "html")) == {"locale"}
    assert accepted_options(anything, ("locale", "html")) == {"locale", "html"}
    assert accepted_options(print, ("locale",)) == frozenset()


class NotASender:
    def start(self) -> None: ...


def test_a_port_that_is_neither_sender_nor_provider_is_refused(clock: FakeClock) -> None:
    with pytest.raises(ConfigurationError, match="send_sms"):
        build(clock, sms=NotASender())


class LocalProvider:
    """A code provider keeping its codes in memory (the Twilio Verify adapter
    is tested against a local server in tests/providers/test_service.py)."""

    def __init__(self) -> None:
        self.started: list[tuple[str, str, str | None]] = []

    def start(self, to: str, channel: str, *, locale: str | None = None) -> str:
        self.started.append((to, channel, locale))
        return f"ref-{len(self.started)}"

    def check(self, ref: str, code: str) -> bool:
        return code == "424242"

    def cancel(self, ref: str) -> None: ...


def test_a_code_provider_takes_the_channel_and_gets_the_language_tag(clock: FakeClock) -> None:
    provider = LocalProvider()
    mfa = build(clock, voice=provider)
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE, method="voice", locale="fr_CA")
    assert sent.ok and provider.started == [(PHONE, "voice", "fr-CA")]
    assert mfa.verify(sent.challenge.id, "000000").reason is mfakit.Reason.INVALID_CODE
    assert mfa.verify(sent.challenge.id, "424242").ok
