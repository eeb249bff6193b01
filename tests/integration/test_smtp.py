"""SmtpEmailSender against a real SMTP server (aiosmtpd, started in this process).

What arrives at the server is checked, not what the client believes it sent:
envelope, decoded headers and body, TLS and AUTH as the server saw them.
"""

from __future__ import annotations

import re
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

import pytest

import mfakit
from mfakit import MFA, Actor
from mfakit.adapters import MemoryStore
from mfakit.adapters.smtp import SmtpEmailSender
from mfakit.testing import FakeClock, fast_hasher

from .conftest import (
    SMTP_PASSWORD,
    SMTP_USER,
    SmtpServer,
    StartServer,
    TlsFiles,
    check_password,
    free_port,
)

FROM = "no-reply@clinic.example"
ALICE = "alice@example.org"
ISSUER = "Clinique Émile"
SECRET = "8f0191b122cd68fc1720e82c11f7f0f297e63f8893d407688a8c6268943cacee"
CODE = re.compile(r"^\s+([0-9]{6,10})\s*$", re.MULTILINE)


def plain_sender(server: SmtpServer, **kwargs: Any) -> SmtpEmailSender:
    options: dict[str, Any] = {"from_addr": FROM, "security": "none", "timeout": 5.0}
    options.update(kwargs)
    return SmtpEmailSender(server.host, server.port, local_hostname="client.test", **options)


def code_in(text: str) -> str:
    match = CODE.search(text)
    assert match is not None, "no code in the email"
    return match.group(1)


def make_mfa(store: MemoryStore, clock: FakeClock, sender: SmtpEmailSender) -> MFA:
    return MFA(
        store=store,
        secret_key=SECRET,
        issuer=ISSUER,
        email=sender,
        clock=clock,
        hasher=fast_hasher(),
    )


# --- what arrives ---------------------------------------------------------------


def test_a_utf8_plain_text_email_arrives_with_its_headers(smtp_server: SmtpServer) -> None:
    text = "Bonjour Émile,\n\nvotre code : 123456 — valable 10 minutes.\n"
    plain_sender(smtp_server).send_email(ALICE, "Votre code · Clinique Émile", text)

    (received,) = smtp_server.received
    assert received.mail_from == FROM
    assert received.rcpt_tos == (ALICE,)
    assert not received.tls and not received.authenticated
    message = received.message
    assert message["Subject"] == "Votre code · Clinique Émile"
    assert message["From"] == FROM
    assert message["To"] == ALICE
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Date"].datetime.tzinfo is not None
    assert re.fullmatch(r"<[^<>@\s]+@clinic\.example>", message["Message-ID"])
    assert "Reply-To" not in message
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert received.text == text
    # On the wire the whole message is 7-bit: an RFC 2047 subject, a
    # quoted-printable body. No server needs 8BITMIME or SMTPUTF8.
    assert received.content.isascii()


def test_reply_to_and_normalized_recipient(smtp_server: SmtpServer) -> None:
    sender = plain_sender(smtp_server, reply_to="Support@Clinic.Example")
    sender.send_email("Alice@Example.ORG", "Your code", "123456")

    (received,) = smtp_server.received
    assert received.rcpt_tos == ("Alice@example.org",)
    assert received.message["To"] == "Alice@example.org"
    assert received.message["Reply-To"] == "Support@clinic.example"


def test_each_message_uses_its_own_connection_and_message_id(smtp_server: SmtpServer) -> None:
    sender = plain_sender(smtp_server)
    sender.send_email(ALICE, "one", "first")
    sender.send_email("bob@example.org", "two", "second")

    first, second = smtp_server.received
    assert [r.rcpt_tos for r in (first, second)] == [(ALICE,), ("bob@example.org",)]
    assert first.message["Message-ID"] != second.message["Message-ID"]


# --- through the library ----------------------------------------------------------


@pytest.fixture(params=["none", "starttls"])
def delivery(
    request: pytest.FixtureRequest, start_smtp_server: StartServer, tls_files: TlsFiles
) -> tuple[SmtpServer, SmtpEmailSender]:
    """A server and a sender for it: a local relay, or a submission server with
    STARTTLS and AUTH."""
    if request.param == "none":
        server = start_smtp_server()
        return server, plain_sender(server)
    server = start_smtp_server(
        tls_context=tls_files.server_context(),
        require_starttls=True,
        auth_required=True,
        authenticator=check_password,
    )
    sender = SmtpEmailSender(
        "localhost",
        server.port,
        from_addr=FROM,
        username=SMTP_USER,
        password=SMTP_PASSWORD,
        ssl_context=tls_files.client_context(),
        local_hostname="client.test",
        timeout=5.0,
    )
    return server, sender


def test_email_enrolment_end_to_end(
    delivery: tuple[SmtpServer, SmtpEmailSender], store: MemoryStore, clock: FakeClock
) -> None:
    server, sender = delivery
    secure = "'starttls'" in repr(sender)
    mfa = make_mfa(store, clock, sender)
    actor = Actor.user("alice", reauthenticated_at=clock.now())

    result = mfa.begin_email_enrolment(actor, "alice", ALICE)

    assert result.ok
    (received,) = server.received
    assert received.rcpt_tos == (ALICE,)
    assert received.tls is secure and received.authenticated is secure
    assert received.message["Subject"] == f"Your {ISSUER} verification code"
    body = received.text
    assert f"Your {ISSUER} verification code is:" in body
    code = code_in(body)
    assert mfa.verify(result.challenge.id, code).ok


def test_the_code_email_is_multipart_with_html_in_the_users_language(
    smtp_server: SmtpServer, store: MemoryStore, clock: FakeClock
) -> None:
    """SmtpEmailSender.send_email takes html= and locale=: mfakit passes the
    message's language and an HTML body, and both reach the server."""
    mfa = make_mfa(store, clock, plain_sender(smtp_server))
    actor = Actor.user("alice", reauthenticated_at=clock.now())

    result = mfa.begin_email_enrolment(actor, "alice", ALICE, locale="fr")

    (received,) = smtp_server.received
    message = received.message
    assert message.get_content_type() == "multipart/alternative"
    assert message["Content-Language"] == "fr"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    code = code_in(received.text)
    assert "code" in received.text and "vérification" in received.text
    html = received.html
    assert html is not None and html.startswith("<!DOCTYPE html>")
    assert '<html lang="fr">' in html
    assert f">{code}</strong>" in html  # the code set apart
    assert html.count(code) == received.text.count(code)
    assert mfa.verify(result.challenge.id, code).ok


# --- authentication ---------------------------------------------------------------


def test_login_with_the_mechanism_the_server_offers(auth_smtp_server: SmtpServer) -> None:
    sender = plain_sender(auth_smtp_server, username=SMTP_USER, password=SMTP_PASSWORD)
    sender.send_email(ALICE, "Your code", "123456")

    (received,) = auth_smtp_server.received
    assert received.authenticated
    assert received.text == "123456\n"


def test_the_auth_server_refuses_a_sender_without_credentials(
    auth_smtp_server: SmtpServer,
) -> None:
    with pytest.raises(mfakit.DeliveryError) as info:
        plain_sender(auth_smtp_server).send_email(ALICE, "Your code", "123456")
    assert str(info.value) == "email could not be sent: SMTPSenderRefused"
    assert auth_smtp_server.received == []


def test_a_wrong_password_is_a_delivery_error(auth_smtp_server: SmtpServer) -> None:
    password = "wrong-password-4242"
    sender = plain_sender(auth_smtp_server, username=SMTP_USER, password=password)
    with pytest.raises(mfakit.DeliveryError) as info:
        sender.send_email(ALICE, "Your code", "Your code is 987654")

    assert str(info.value) == "email could not be sent: SMTPAuthenticationError"
    assert isinstance(info.value.__cause__, Exception)
    assert password not in str(info.value) and "987654" not in str(info.value)
    assert auth_smtp_server.received == []


# --- TLS --------------------------------------------------------------------------


def test_starttls_then_login(starttls_smtp_server: SmtpServer, tls_files: TlsFiles) -> None:
    sender = SmtpEmailSender(
        "localhost",
        starttls_smtp_server.port,
        from_addr=FROM,
        username=SMTP_USER,
        password=SMTP_PASSWORD,
        ssl_context=tls_files.client_context(),
        local_hostname="client.test",
        timeout=5.0,
    )
    sender.send_email(ALICE, "Your code", "123456")

    (received,) = starttls_smtp_server.received
    assert received.tls and received.authenticated
    assert received.text == "123456\n"


@pytest.mark.parametrize(
    "credentials", [{}, {"username": SMTP_USER, "password": SMTP_PASSWORD}], ids=["anon", "auth"]
)
def test_starttls_is_required_when_asked_for(
    smtp_server: SmtpServer, credentials: dict[str, str]
) -> None:
    # The server offers no STARTTLS: nothing is sent in clear, not even the password.
    sender = plain_sender(smtp_server, security="starttls", **credentials)
    with pytest.raises(mfakit.DeliveryError, match="does not offer STARTTLS"):
        sender.send_email(ALICE, "Your code", "123456")
    assert smtp_server.received == []


def test_starttls_checks_the_certificate(starttls_smtp_server: SmtpServer) -> None:
    # The default context does not trust the test CA.
    sender = SmtpEmailSender(
        "localhost", starttls_smtp_server.port, from_addr=FROM, local_hostname="client.test"
    )
    with pytest.raises(mfakit.DeliveryError) as info:
        sender.send_email(ALICE, "Your code", "123456")
    assert str(info.value) == "email could not be sent: SSLCertVerificationError"
    assert "self-signed" in str(info.value.__cause__) or "issuer" in str(info.value.__cause__)
    assert starttls_smtp_server.received == []


def test_starttls_checks_the_host_name(
    starttls_smtp_server: SmtpServer, tls_files: TlsFiles
) -> None:
    # A trusted certificate, but for "localhost": reaching the server as
    # 127.0.0.1 must fail, as a man in the middle with another site's certificate would.
    sender = SmtpEmailSender(
        "127.0.0.1",
        starttls_smtp_server.port,
        from_addr=FROM,
        username=SMTP_USER,
        password=SMTP_PASSWORD,
        ssl_context=tls_files.client_context(),
        local_hostname="client.test",
    )
    with pytest.raises(mfakit.DeliveryError) as info:
        sender.send_email(ALICE, "Your code", "123456")
    assert str(info.value) == "email could not be sent: SSLCertVerificationError"
    assert "mismatch" in str(info.value.__cause__)
    assert starttls_smtp_server.received == []


def test_implicit_tls(ssl_smtp_server: SmtpServer, tls_files: TlsFiles) -> None:
    sender = SmtpEmailSender(
        "localhost",
        ssl_smtp_server.port,
        from_addr=FROM,
        security="ssl",
        ssl_context=tls_files.client_context(),
        local_hostname="client.test",
        timeout=5.0,
    )
    sender.send_email(ALICE, "Your code", "123456")

    (received,) = ssl_smtp_server.received
    assert received.tls


# --- failures ---------------------------------------------------------------------


def test_a_closed_port_leaves_the_challenge_untouched(store: MemoryStore, clock: FakeClock) -> None:
    port = free_port()
    sender = SmtpEmailSender(
        "127.0.0.1", port, from_addr=FROM, security="none", local_hostname="client.test"
    )
    mfa = make_mfa(store, clock, sender)
    actor = Actor.user("alice", reauthenticated_at=clock.now())

    with pytest.raises(mfakit.DeliveryError) as info:
        mfa.begin_email_enrolment(actor, "alice", ALICE)

    exc = info.value
    assert str(exc) == "email could not be sent: ConnectionRefusedError"
    assert isinstance(exc.__cause__, ConnectionRefusedError)
    assert not re.search(r"[0-9]{6}", str(exc))
    assert exc.challenge_id is not None
    challenge = mfa.get_challenge(exc.challenge_id)
    assert challenge.attempts_left == 5
    assert challenge.code_sent_at is None
    assert challenge.destination is None


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections (in the kernel backlog) but never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        yield listener.getsockname()[1]


def test_a_silent_server_times_out(silent_server: int) -> None:
    sender = SmtpEmailSender(
        "127.0.0.1",
        silent_server,
        from_addr=FROM,
        security="none",
        timeout=0.3,
        local_hostname="client.test",
    )
    started = time.monotonic()
    with pytest.raises(mfakit.DeliveryError) as info:
        sender.send_email(ALICE, "Your code", "123456")
    assert time.monotonic() - started < 3
    # smtplib reports a read timeout as a disconnection; the cause says why.
    assert str(info.value) == "email could not be sent: SMTPServerDisconnected"
    assert "timed out" in str(info.value.__cause__)


@pytest.mark.parametrize(
    ("to", "subject", "field"),
    [
        (f"{ALICE}\r\nBcc: mallory@evil.example", "Your code", "to"),
        (f"{ALICE}\n", "Your code", "to"),
        (ALICE, "Your code\r\nBcc: mallory@evil.example", "subject"),
        (ALICE, "Your code\n\nfake body", "subject"),
        ("not an address", "Your code", "to"),
    ],
)
def test_header_injection_is_refused(
    smtp_server: SmtpServer, to: str, subject: str, field: str
) -> None:
    with pytest.raises(mfakit.InvalidInput) as info:
        plain_sender(smtp_server).send_email(to, subject, "123456")
    assert info.value.field == field
    assert smtp_server.received == []


# --- configuration ----------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"host": ""},
        {"host": "   "},
        {"host": "smtp.example.org\r\n"},
        {"port": 0},
        {"port": 65536},
        {"port": "587"},
        {"port": True},
        {"from_addr": "not an address"},
        {"from_addr": "a@b.example\r\nBcc: x@y.example"},
        {"reply_to": "nope"},
        {"password": "secret"},
        {"username": "mailer"},
        {"username": "mailer", "password": ""},
        {"username": "mailer", "password": "pässword"},
        {"security": "tls"},
        {"security": None},
        {"timeout": 0},
        {"timeout": float("nan")},
        {"security": "none", "ssl_context": ssl.create_default_context()},
        {"local_hostname": "two words"},
        {"local_hostname": "hôte.example"},
    ],
)
def test_bad_configuration_is_refused(kwargs: dict[str, Any]) -> None:
    options: dict[str, Any] = {"host": "smtp.example.org", "from_addr": FROM, **kwargs}
    host = options.pop("host")
    with pytest.raises(mfakit.ConfigurationError):
        SmtpEmailSender(host, **options)


def test_default_ports_and_repr() -> None:
    password = "s3cret-password"
    sender = SmtpEmailSender(
        "smtp.example.org", from_addr=FROM, username=SMTP_USER, password=password
    )
    assert repr(sender) == (
        "SmtpEmailSender(host='smtp.example.org', port=587, security='starttls', "
        f"from_addr='{FROM}')"
    )
    assert password not in repr(sender)
    assert "port=465" in repr(SmtpEmailSender("smtp.example.org", from_addr=FROM, security="ssl"))
    assert "port=25" in repr(SmtpEmailSender("localhost", from_addr=FROM, security="none"))
    assert "port=2525" in repr(SmtpEmailSender("localhost", 2525, from_addr=FROM))


def test_it_implements_the_email_port() -> None:
    from mfakit.ports.delivery import EmailSender

    assert isinstance(SmtpEmailSender("localhost", from_addr=FROM), EmailSender)
