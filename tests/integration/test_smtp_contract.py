"""The sender contract suite run by the SMTP senders, against aiosmtpd."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mfakit.adapters.smtp import SmtpEmailSender
from mfakit.testing.senders import AsyncEmailSenderContract, EmailSenderContract, Received

from .conftest import SmtpServer, free_port, require

FROM = "no-reply@clinic.example"


def read(server: SmtpServer) -> Callable[[], list[Received]]:
    def received() -> list[Received]:
        found = []
        for message in server.received:
            parsed = message.message
            html = parsed.get_body(("html",))
            found.append(
                Received(
                    to=message.rcpt_tos[0],
                    text=message.text if not parsed.is_multipart() else _plain(parsed),
                    subject=str(parsed["Subject"]),
                    html=None if html is None else str(html.get_content()),
                )
            )
        return found

    return received


def _plain(parsed: object) -> str:
    body = parsed.get_body(("plain",))  # type: ignore[attr-defined]
    return str(body.get_content())


class TestSmtpEmailContract(EmailSenderContract):
    @pytest.fixture
    def sender(self, smtp_server: SmtpServer) -> SmtpEmailSender:
        return SmtpEmailSender(
            smtp_server.host, smtp_server.port, from_addr=FROM, security="none", timeout=5
        )

    @pytest.fixture
    def received(self, smtp_server: SmtpServer) -> Callable[[], list[Received]]:
        return read(smtp_server)

    @pytest.fixture
    def broken_sender(self) -> SmtpEmailSender:
        return SmtpEmailSender("127.0.0.1", free_port(), from_addr=FROM, security="none")


class TestAsyncSmtpEmailContract(AsyncEmailSenderContract):
    @pytest.fixture
    def sender(self, smtp_server: SmtpServer) -> object:
        module = require("mfakit.adapters.smtp_async")
        return module.AsyncSmtpEmailSender(
            smtp_server.host, smtp_server.port, from_addr=FROM, security="none", timeout=5
        )

    @pytest.fixture
    def received(self, smtp_server: SmtpServer) -> Callable[[], list[Received]]:
        return read(smtp_server)

    @pytest.fixture
    def broken_sender(self) -> object:
        module = require("mfakit.adapters.smtp_async")
        return module.AsyncSmtpEmailSender(
            "127.0.0.1", free_port(), from_addr=FROM, security="none"
        )


def test_html_alternative_and_content_language(smtp_server: SmtpServer) -> None:
    sender = SmtpEmailSender(
        smtp_server.host, smtp_server.port, from_addr=FROM, security="none", timeout=5
    )
    sender.send_email(
        "alice@example.org",
        "Votre code",
        "Code : 482913",
        html="<p>Code : <b>482913</b></p>",
        locale="fr",
    )
    (message,) = smtp_server.received
    parsed = message.message
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["Content-Language"] == "fr"
    assert _plain(parsed).strip() == "Code : 482913"
    html = parsed.get_body(("html",))
    assert html is not None and "<b>482913</b>" in str(html.get_content())
