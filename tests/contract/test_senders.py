"""The sender contract suite run by the senders that ship with the core: the
in-memory outbox and the console sender."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import pytest

from mfakit.adapters import ConsoleSender, Outbox
from mfakit.testing.senders import (
    EmailSenderContract,
    Received,
    SmsSenderContract,
    VoiceSenderContract,
)


class _OutboxFixtures:
    @pytest.fixture
    def sender(self) -> Outbox:
        return Outbox()

    @pytest.fixture
    def received(self, sender: Outbox) -> Callable[[], list[Received]]:
        return lambda: [
            Received(to=m.to, text=m.text, subject=m.subject or None, html=m.html)
            for m in sender.messages
        ]

    @pytest.fixture
    def broken_sender(self) -> Outbox:
        outbox = Outbox()
        outbox.fail_next(1)
        return outbox


class TestOutboxSms(_OutboxFixtures, SmsSenderContract):
    pass


class TestOutboxVoice(_OutboxFixtures, VoiceSenderContract):
    pass


class TestOutboxEmail(_OutboxFixtures, EmailSenderContract):
    pass


def test_outbox_keeps_the_locale_and_html() -> None:
    outbox = Outbox()
    outbox.send_email("a@example.org", "S", "482913", html="<b>482913</b>", locale="fr")
    outbox.send_sms("+14155550101", "482913", locale="pt-BR")
    email, sms = outbox.messages
    assert (email.locale, email.html) == ("fr", "<b>482913</b>")
    assert (sms.locale, sms.html) == ("pt-BR", None)


MESSAGE = re.compile(
    r"^--- (?:SMS|voice call|email) to ([^\s:]+)(?: \[[^\]\n]+\])?(?:: ([^\n]*))?\n(.*?)\n---$",
    re.S | re.M,
)


class _ConsoleFixtures:
    @pytest.fixture
    def stream(self) -> io.StringIO:
        return io.StringIO()

    @pytest.fixture
    def sender(self, stream: io.StringIO) -> ConsoleSender:
        return ConsoleSender(stream)

    @pytest.fixture
    def broken_sender(self) -> ConsoleSender:
        closed = io.StringIO()
        closed.close()  # a console that cannot be written to
        return ConsoleSender(closed)

    @pytest.fixture
    def received(self, stream: io.StringIO) -> Callable[[], list[Received]]:
        return lambda: [
            Received(to=to, text=text, subject=subject or None)
            for to, subject, text in MESSAGE.findall(stream.getvalue())
        ]


class TestConsoleSms(_ConsoleFixtures, SmsSenderContract):
    pass


class TestConsoleVoice(_ConsoleFixtures, VoiceSenderContract):
    pass


class TestConsoleEmail(_ConsoleFixtures, EmailSenderContract):
    pass
