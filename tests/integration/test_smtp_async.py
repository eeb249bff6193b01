"""AsyncSmtpEmailSender against the same real SMTP servers as the sync sender
(aiosmtpd, started in this process; see conftest.py).

What arrives at the server is checked, not what the client believes it sent:
envelope, decoded headers and body, TLS and AUTH as the server saw them.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from typing import Any

import pytest

import mfakit
from mfakit import Actor, AsyncMFA
from mfakit.adapters.memory_async import AsyncMemoryStore
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
    require,
)
from .test_smtp import ALICE, FROM, ISSUER, SECRET, code_in

require("aiosmtplib")  # skips (fails under CI=true) without it
AsyncSmtpEmailSender = require("mfakit.adapters.smtp_async").AsyncSmtpEmailSender


def plain_sender(server: SmtpServer, **kwargs: Any) -> Any:
    options: dict[str, Any] = {"from_addr": FROM, "security": "none", "timeout": 5.0}
    options.update(kwargs)
    return AsyncSmtpEmailSender(server.host, server.port, local_hostname="client.test", **options)


def tls_sender(port: int, tls_files: TlsFiles, host: str = "localhost", **kwargs: Any) -> Any:
    """A submission client: STARTTLS trusting the test CA, logged in."""
    options: dict[str, Any] = {
        "from_addr": FROM,
        "username": SMTP_USER,
        "password": SMTP_PASSWORD,
        "ssl_context": tls_files.client_context(),
        "local_hostname": "client.test",
        "timeout": 5.0,
    }
    options.update(kwargs)
    return AsyncSmtpEmailSender(host, port, **options)


def make_mfa(sender: Any, clock: FakeClock) -> tuple[AsyncMFA, AsyncMemoryStore]:
    store = AsyncMemoryStore()
    amfa = AsyncMFA(
        store=store,
        secret_key=SECRET,
        issuer=ISSUER,
        email=sender,
        clock=clock,
        hasher=fast_hasher(),
    )
    return amfa, store


# --- what arrives ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_same_message_as_the_sync_sender(smtp_server: SmtpServer) -> None:
    text = "Bonjour Émile,\n\nvotre code : 123456 — valable 10 minutes.\n"
    subject = "Votre code · Clinique Émile"
    await plain_sender(smtp_server, reply_to="Support@Clinic.Example").send_email(
        "Alice@Example.ORG", subject, text
    )
    SmtpEmailSender(
        smtp_server.host,
        smtp_server.port,
        from_addr=FROM,
        security="none",
        reply_to="Support@Clinic.Example",
        local_hostname="client.test",
    ).send_email("Alice@Example.ORG", subject, text)

    received, reference = smtp_server.received
    assert received.mail_from == FROM
    assert received.rcpt_tos == ("Alice@example.org",)
    assert not received.tls and not received.authenticated
    message = received.message
    assert message["Subject"] == subject
    assert message["To"] == "Alice@example.org"
    assert message["Reply-To"] == "Support@clinic.example"
    assert message["Auto-Submitted"] == "auto-generated"
    assert re.fullmatch(r"<[^<>@\s]+@clinic\.example>", message["Message-ID"])
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert received.text == text
    assert received.content.isascii()  # 7-bit on the wire
    # Header by header, the sync sender's message (but for its own date and id).
    differ = {"Date", "Message-ID"}
    assert [(k, v) for k, v in message.items() if k not in differ] == [
        (k, v) for k, v in reference.message.items() if k not in differ
    ]
    assert received.mail_from == reference.mail_from and received.text == reference.text


@pytest.mark.asyncio
async def test_concurrent_sends_use_their_own_connections(smtp_server: SmtpServer) -> None:
    sender = plain_sender(smtp_server)
    await asyncio.gather(
        *(sender.send_email(f"user{i}@example.org", f"code {i}", f"{i}") for i in range(5))
    )
    received = smtp_server.received
    assert sorted(r.rcpt_tos[0] for r in received) == [f"user{i}@example.org" for i in range(5)]
    assert len({r.message["Message-ID"] for r in received}) == 5


# --- through the library ----------------------------------------------------------


@pytest.fixture(params=["none", "starttls"])
def delivery(
    request: pytest.FixtureRequest, start_smtp_server: StartServer, tls_files: TlsFiles
) -> tuple[SmtpServer, Any]:
    """A local relay, or a submission server with STARTTLS and AUTH, and a sender for it."""
    if request.param == "none":
        server = start_smtp_server()
        return server, plain_sender(server)
    server = start_smtp_server(
        tls_context=tls_files.server_context(),
        require_starttls=True,
        auth_required=True,
        authenticator=check_password,
    )
    return server, tls_sender(server.port, tls_files)


@pytest.mark.asyncio
async def test_email_enrolment_end_to_end(delivery: tuple[SmtpServer, Any]) -> None:
    server, sender = delivery
    secure = "'starttls'" in repr(sender)
    clock = FakeClock()
    amfa, store = make_mfa(sender, clock)
    actor = Actor.user("alice", reauthenticated_at=clock.now())

    result = await amfa.begin_email_enrolment(actor, "alice", ALICE)

    assert result.ok
    (received,) = server.received
    assert received.rcpt_tos == (ALICE,)
    assert received.tls is secure and received.authenticated is secure
    assert received.message["Subject"] == f"Your {ISSUER} verification code"
    done = await amfa.verify(result.challenge.id, code_in(received.text))
    assert done.ok
    (contact,) = await store.get_contacts("alice")
    assert contact.value == ALICE and contact.verified


@pytest.mark.asyncio
async def test_the_code_email_is_multipart_with_html_in_the_users_language(
    smtp_server: SmtpServer,
) -> None:
    clock = FakeClock()
    amfa, _ = make_mfa(plain_sender(smtp_server), clock)
    actor = Actor.user("alice", reauthenticated_at=clock.now())

    result = await amfa.begin_email_enrolment(actor, "alice", ALICE, locale="pt_BR")

    (received,) = smtp_server.received
    assert received.message.get_content_type() == "multipart/alternative"
    assert received.message["Content-Language"] == "pt-BR"  # the BCP 47 form
    code = code_in(received.text)
    assert received.html is not None and '<html lang="pt-BR">' in received.html
    assert f">{code}</strong>" in received.html
    assert (await amfa.verify(result.challenge.id, code)).ok


# --- authentication ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_login_with_the_mechanism_the_server_offers(auth_smtp_server: SmtpServer) -> None:
    sender = plain_sender(auth_smtp_server, username=SMTP_USER, password=SMTP_PASSWORD)
    await sender.send_email(ALICE, "Your code", "123456")

    (received,) = auth_smtp_server.received
    assert received.authenticated
    assert received.text == "123456\n"


@pytest.mark.asyncio
async def test_refused_sender_and_wrong_password(auth_smtp_server: SmtpServer) -> None:
    with pytest.raises(mfakit.DeliveryError) as info:
        await plain_sender(auth_smtp_server).send_email(ALICE, "Your code", "123456")
    assert str(info.value) == "email could not be sent: SMTPSenderRefused"

    password = "wrong-password-4242"
    sender = plain_sender(auth_smtp_server, username=SMTP_USER, password=password)
    with pytest.raises(mfakit.DeliveryError) as info:
        await sender.send_email(ALICE, "Your code", "Your code is 987654")
    assert str(info.value) == "email could not be sent: SMTPAuthenticationError"
    assert isinstance(info.value.__cause__, Exception)
    assert password not in str(info.value) and "987654" not in str(info.value)
    assert auth_smtp_server.received == []


# --- TLS --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_starttls_then_login(starttls_smtp_server: SmtpServer, tls_files: TlsFiles) -> None:
    await tls_sender(starttls_smtp_server.port, tls_files).send_email(ALICE, "Code", "123456")

    (received,) = starttls_smtp_server.received
    assert received.tls and received.authenticated
    assert received.text == "123456\n"


@pytest.mark.parametrize(
    "credentials", [{}, {"username": SMTP_USER, "password": SMTP_PASSWORD}], ids=["anon", "auth"]
)
@pytest.mark.asyncio
async def test_starttls_is_required_when_asked_for(
    smtp_server: SmtpServer, credentials: dict[str, str]
) -> None:
    # The server offers no STARTTLS: nothing is sent in clear, not even the password.
    sender = plain_sender(smtp_server, security="starttls", **credentials)
    with pytest.raises(mfakit.DeliveryError, match="does not offer STARTTLS"):
        await sender.send_email(ALICE, "Your code", "123456")
    assert smtp_server.received == []


@pytest.mark.asyncio
async def test_starttls_checks_the_certificate_and_host_name(
    starttls_smtp_server: SmtpServer, tls_files: TlsFiles
) -> None:
    port = starttls_smtp_server.port
    # The default context does not trust the test CA.
    untrusting = AsyncSmtpEmailSender(
        "localhost", port, from_addr=FROM, local_hostname="client.test", timeout=5.0
    )
    # A trusted certificate, but for "localhost", reached as 127.0.0.1.
    wrong_name = tls_sender(port, tls_files, host="127.0.0.1")
    for sender, reason in ((untrusting, ("self-signed", "issuer")), (wrong_name, ("mismatch",))):
        with pytest.raises(mfakit.DeliveryError) as info:
            await sender.send_email(ALICE, "Your code", "123456")
        assert str(info.value) == "email could not be sent: SSLCertVerificationError"
        assert any(r in str(info.value.__cause__) for r in reason), info.value.__cause__
    assert starttls_smtp_server.received == []


@pytest.mark.asyncio
async def test_implicit_tls(ssl_smtp_server: SmtpServer, tls_files: TlsFiles) -> None:
    sender = AsyncSmtpEmailSender(
        "localhost",
        ssl_smtp_server.port,
        from_addr=FROM,
        security="ssl",
        ssl_context=tls_files.client_context(),
        local_hostname="client.test",
        timeout=5.0,
    )
    await sender.send_email(ALICE, "Your code", "123456")

    (received,) = ssl_smtp_server.received
    assert received.tls and received.text == "123456\n"


# --- failures ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_closed_port_leaves_the_challenge_untouched() -> None:
    sender = AsyncSmtpEmailSender(
        "127.0.0.1", free_port(), from_addr=FROM, security="none", local_hostname="client.test"
    )
    clock = FakeClock()
    amfa, _ = make_mfa(sender, clock)
    actor = Actor.user("alice", reauthenticated_at=clock.now())

    with pytest.raises(mfakit.DeliveryError) as info:
        await amfa.begin_email_enrolment(actor, "alice", ALICE)

    exc = info.value
    assert str(exc) == "email could not be sent: SMTPConnectError (ConnectionRefusedError)"
    assert isinstance(exc.__cause__.__cause__, ConnectionRefusedError)
    assert not re.search(r"[0-9]{6}", str(exc))
    assert exc.challenge_id is not None
    challenge = await amfa.get_challenge(exc.challenge_id)
    assert challenge.attempts_left == 5
    assert challenge.code_sent_at is None and challenge.destination is None


@pytest.mark.asyncio
async def test_a_silent_server_times_out_without_blocking(silent_port: int) -> None:
    sender = AsyncSmtpEmailSender(
        "127.0.0.1",
        silent_port,
        from_addr=FROM,
        security="none",
        timeout=0.3,
        local_hostname="client.test",
    )
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    started = time.monotonic()
    with pytest.raises(mfakit.DeliveryError) as info:
        await sender.send_email(ALICE, "Your code", "123456")
    elapsed = time.monotonic() - started
    task.cancel()
    assert elapsed < 3
    assert ticks >= 10  # the event loop kept running while the server stayed silent
    assert str(info.value).startswith("email could not be sent: SMTPConnectTimeoutError")


@pytest.mark.asyncio
async def test_a_cancelled_send_returns_at_once(silent_port: int) -> None:
    sender = AsyncSmtpEmailSender(
        "127.0.0.1", silent_port, from_addr=FROM, security="none", local_hostname="client.test"
    )
    task = asyncio.create_task(sender.send_email(ALICE, "Your code", "123456"))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 1  # not the 10 s timeout


@pytest.mark.parametrize(
    ("to", "subject", "field"),
    [
        (f"{ALICE}\r\nBcc: mallory@evil.example", "Your code", "to"),
        (ALICE, "Your code\r\nBcc: mallory@evil.example", "subject"),
        ("not an address", "Your code", "to"),
    ],
)
@pytest.mark.asyncio
async def test_header_injection_is_refused(
    smtp_server: SmtpServer, to: str, subject: str, field: str
) -> None:
    with pytest.raises(mfakit.InvalidInput) as info:
        await plain_sender(smtp_server).send_email(to, subject, "123456")
    assert info.value.field == field
    assert smtp_server.received == []


# --- configuration ----------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"host": "smtp.example.org\r\n"},
        {"port": 0},
        {"from_addr": "a@b.example\r\nBcc: x@y.example"},
        {"password": "secret"},
        {"username": "mailer", "password": "pässword"},
        {"security": "tls"},
        {"timeout": float("nan")},
        {"security": "none", "ssl_context": ssl.create_default_context()},
        {"local_hostname": "two words"},
    ],
)
def test_bad_configuration_is_refused_like_the_sync_sender(kwargs: dict[str, Any]) -> None:
    options: dict[str, Any] = {"host": "smtp.example.org", "from_addr": FROM, **kwargs}
    host = options.pop("host")
    for sender_class in (SmtpEmailSender, AsyncSmtpEmailSender):
        with pytest.raises(mfakit.ConfigurationError):
            sender_class(host, **options)


def test_default_ports_repr_and_port() -> None:
    from mfakit.ports.delivery import AsyncEmailSender

    password = "s3cret-password"
    sender = AsyncSmtpEmailSender(
        "smtp.example.org", from_addr=FROM, username=SMTP_USER, password=password
    )
    assert repr(sender) == (
        "AsyncSmtpEmailSender(host='smtp.example.org', port=587, security='starttls', "
        f"from_addr='{FROM}')"
    )
    assert password not in repr(sender)
    assert "port=465" in repr(
        AsyncSmtpEmailSender("smtp.example.org", from_addr=FROM, security="ssl")
    )
    assert "port=25" in repr(AsyncSmtpEmailSender("localhost", from_addr=FROM, security="none"))
    assert isinstance(sender, AsyncEmailSender)
    assert asyncio.iscoroutinefunction(sender.send_email)
