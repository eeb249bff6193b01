"""Fixtures for the integration tests: real servers, started in the test process.

A server these tests need is a Python package (``aiosmtpd``). When it is not
installed the tests skip with a message saying what to install, except under
``CI=true``, where a skipped integration test would hide a broken pipeline:
there they fail.
"""

from __future__ import annotations

import datetime
import email
import email.policy
import importlib
import os
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SMTP_USER = "mailer"
SMTP_PASSWORD = "correct horse battery staple"


def require(module_name: str) -> ModuleType:
    """Import ``module_name``; skip the test if it is missing, fail under ``CI=true``."""
    if os.environ.get("CI", "").strip().lower() == "true":
        try:
            return importlib.import_module(module_name)
        except ImportError as exc:
            pytest.fail(
                f"{module_name} is required for the integration tests under CI=true ({exc}); "
                "install the dev extra: pip install -e '.[dev]'",
                pytrace=False,
            )
    module: ModuleType = pytest.importorskip(
        module_name,
        reason=f"{module_name} is not installed (pip install -e '.[dev]'); "
        "set CI=true to make this a failure",
    )
    return module


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (just now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- the SMTP server -------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One message as the server received it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes
    tls: bool
    authenticated: bool

    @property
    def text(self) -> str:
        """The decoded plain-text body (the text/plain part of a multipart
        message), with the wire's CRLF line ends turned back into LF."""
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None, "no text/plain part"
        return str(part.get_content()).replace("\r\n", "\n")

    @property
    def html(self) -> str | None:
        """The decoded text/html alternative, if the message has one."""
        part = self.message.get_body(preferencelist=("html",))
        return None if part is None else str(part.get_content()).replace("\r\n", "\n")

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps every message it accepts. With
    ``require_auth`` it refuses MAIL FROM until the client has logged in."""

    require_auth: bool = False
    received: list[Received] = field(default_factory=list)

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        if self.require_auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=tuple(envelope.rcpt_tos),
                content=envelope.original_content,
                tls=server.transport.get_extra_info("cipher") is not None,
                authenticated=bool(session.authenticated),
            )
        )
        return "250 Message accepted for delivery"


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    mailbox: Mailbox

    @property
    def received(self) -> list[Received]:
        return list(self.mailbox.received)


def check_password(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
    """An aiosmtpd authenticator accepting SMTP_USER / SMTP_PASSWORD only."""
    smtp = require("aiosmtpd.smtp")
    ok = (
        isinstance(auth_data, smtp.LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    # handled=False: aiosmtpd then answers "535 credentials invalid" itself.
    return smtp.AuthResult(success=ok, handled=False)


StartServer = Callable[..., SmtpServer]


@pytest.fixture
def start_smtp_server() -> Iterator[StartServer]:
    """Start an aiosmtpd server on 127.0.0.1; every one is stopped at teardown.

    Keyword arguments go to aiosmtpd's ``Controller`` (and on to its ``SMTP``),
    except ``require_auth`` which goes to the :class:`Mailbox`.
    """
    controller_module = require("aiosmtpd.controller")
    controllers: list[Any] = []

    def start(*, require_auth: bool = False, **kwargs: Any) -> SmtpServer:
        mailbox = Mailbox(require_auth=require_auth)
        port = free_port()  # Controller cannot take port=0 (ENVIRONMENT.md)
        controller = controller_module.Controller(
            mailbox, hostname="127.0.0.1", port=port, server_hostname="mx.test", **kwargs
        )
        controller.start()
        controllers.append(controller)
        return SmtpServer("127.0.0.1", port, mailbox)

    yield start
    for controller in reversed(controllers):
        controller.stop()


@pytest.fixture
def smtp_server(start_smtp_server: StartServer) -> SmtpServer:
    """A plain SMTP server: no STARTTLS, no AUTH (a local relay)."""
    return start_smtp_server()


@pytest.fixture(params=["LOGIN", "PLAIN"])
def auth_smtp_server(request: pytest.FixtureRequest, start_smtp_server: StartServer) -> SmtpServer:
    """A server without TLS that requires AUTH, offering only one mechanism."""
    other = {"LOGIN": "PLAIN", "PLAIN": "LOGIN"}[request.param]
    return start_smtp_server(
        require_auth=True,
        authenticator=check_password,
        auth_require_tls=False,
        auth_exclude_mechanism=[other],
    )


# --- TLS ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    cert_file: Path
    key_file: Path
    ca_pem: str

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts the test CA (and checks the host name)."""
        return ssl.create_default_context(cadata=self.ca_pem)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A throwaway CA and a certificate it signed for ``localhost``."""
    now = datetime.datetime.now(datetime.timezone.utc)
    valid_from, valid_to = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=1)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("mfakit test CA"))
        .issuer_name(_name("mfakit test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_to)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_to)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            # Only the name: connecting to 127.0.0.1 must fail the host name check.
            x509.SubjectAlternativeName([x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )

    directory = tmp_path_factory.mktemp("tls")
    cert_file, key_file = directory / "server.pem", directory / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return TlsFiles(cert_file, key_file, ca_pem)


@pytest.fixture
def starttls_smtp_server(start_smtp_server: StartServer, tls_files: TlsFiles) -> SmtpServer:
    """A submission server: STARTTLS required, then AUTH required (as on port 587)."""
    return start_smtp_server(
        tls_context=tls_files.server_context(),
        require_starttls=True,
        auth_required=True,
        authenticator=check_password,
    )


@pytest.fixture
def ssl_smtp_server(start_smtp_server: StartServer, tls_files: TlsFiles) -> SmtpServer:
    """A server speaking TLS from the first byte (as on port 465)."""
    return start_smtp_server(ssl_context=tls_files.server_context())


# --- a server that never answers ------------------------------------------------------


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (in the kernel backlog) but never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        yield listener.getsockname()[1]
