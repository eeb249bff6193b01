"""Fixtures for the provider adapters: the vendors' real client libraries talk
to local servers started in this process.

* Twilio and Vonage: ``pytest-httpserver`` (Werkzeug) on 127.0.0.1 checks each
  request and answers with the vendor's documented JSON; Vonage's SDK only
  speaks https, so its server has a throwaway certificate, trusted through
  ``REQUESTS_CA_BUNDLE``.
* AWS: moto in server mode (``ThreadedMotoServer``) on a loopback port, read
  back through ``/moto-api/data.json``; errors moto cannot produce come from a
  pytest-httpserver speaking the AWS query protocol.

A library these tests need and cannot import makes them skip with a message
saying what to install, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib
import ipaddress
import json
import os
import socket
import ssl
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-auth-token-0123456789abcdef"
MESSAGING_SERVICE = "MG" + "fedcba9876543210" * 2
VERIFY_SERVICE = "VA" + "00112233445566778899aabbccddeeff"
VONAGE_KEY = "abcd1234"
VONAGE_SECRET = "vonage-secret-Zx81"


def require(module_name: str) -> ModuleType:
    """Import ``module_name``; skip the test if it is missing, fail under ``CI=true``."""
    if os.environ.get("CI", "").strip().lower() == "true":
        try:
            return importlib.import_module(module_name)
        except ImportError as exc:
            pytest.fail(
                f"{module_name} is required for the provider tests under CI=true ({exc}); "
                "install the dev extra: pip install -e '.[dev]'",
                pytrace=False,
            )
    module: ModuleType = pytest.importorskip(
        module_name,
        reason=f"{module_name} is not installed (pip install -e '.[dev]'); "
        "set CI=true to make this a failure",
    )
    return module


def closed_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (just now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(scope="session")
def _http_server() -> Iterator[Any]:
    module = require("pytest_httpserver")
    server = module.HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def http_server(_http_server: Any) -> Iterator[Any]:
    """A plain-HTTP pytest-httpserver on 127.0.0.1, emptied for each test
    (expectations and log)."""
    _http_server.clear()
    yield _http_server
    _http_server.clear()


# --- TLS for Vonage -------------------------------------------------------------------


@dataclass(frozen=True)
class Tls:
    cert_file: Path
    key_file: Path
    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_certificate(common_name: str, *, ip: str | None = None) -> tuple[Any, Any]:
    """A self-signed RSA certificate and its key (for a TLS server or for SNS
    message signatures)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    if ip is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
            critical=False,
        )
    return builder.sign(key, hashes.SHA256()), key


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    cert, key = make_certificate("127.0.0.1", ip="127.0.0.1")
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return Tls(cert_file, key_file, key, cert)


@pytest.fixture(scope="session")
def _https_server(tls: Tls) -> Iterator[Any]:
    module = require("pytest_httpserver")
    server = module.HTTPServer(host="127.0.0.1", port=0, ssl_context=tls.server_context())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def https_server(_https_server: Any, tls: Tls, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A pytest-httpserver over TLS on 127.0.0.1, its certificate trusted by
    ``requests`` (``REQUESTS_CA_BUNDLE``) for the test's duration."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.cert_file))
    _https_server.clear()
    yield _https_server
    _https_server.clear()


# --- moto ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Moto:
    url: str

    def data(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=10) as answer:  # noqa: S310
            data: dict[str, Any] = json.load(answer)
        return data

    def sms(self) -> list[dict[str, Any]]:
        return list(self.data().get("sns", {}).get("SMS", []))

    def emails(self) -> list[dict[str, Any]]:
        return list(self.data().get("ses", {}).get("Message", []))

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass


@pytest.fixture(scope="session")
def moto_server() -> Iterator[Moto]:
    """moto in server mode on a loopback port, for the whole session."""
    require("boto3")
    require("flask_cors")  # moto[server]'s own dependency; its absence means no server
    server_module = require("moto.server")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield Moto(f"http://{host}:{port}")
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The usual AWS chain, pointed at throwaway values: environment variables
    only (no shared files of this machine)."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTTESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-test-secret-key")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def moto(moto_server: Moto, aws_env: None) -> Moto:
    """The moto server, emptied for this test."""
    moto_server.reset()
    return moto_server


@pytest.fixture(autouse=True)
def _no_twilio_region(monkeypatch: pytest.MonkeyPatch) -> None:
    """twilio rewrites every host name when TWILIO_REGION or TWILIO_EDGE is set
    (ENVIRONMENT.md): keep a developer's settings away from the local server."""
    monkeypatch.delenv("TWILIO_REGION", raising=False)
    monkeypatch.delenv("TWILIO_EDGE", raising=False)


# --- a server that drops the connection ---------------------------------------------------


@dataclass
class DroppingServer:
    """A TCP server on 127.0.0.1 that reads each request in full and closes
    the connection without answering: the request may have been acted on, so
    a sender must call the outcome unknown and never send it again."""

    url: str
    requests: list[bytes]


@contextlib.contextmanager
def _dropping(context: ssl.SSLContext | None) -> Iterator[DroppingServer]:
    import threading

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    scheme = "http" if context is None else "https"
    server = DroppingServer(f"{scheme}://127.0.0.1:{listener.getsockname()[1]}", [])
    stop = threading.Event()

    def read_request(conn: socket.socket) -> bytes:
        data = b""
        conn.settimeout(5)
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        return head + b"\r\n\r\n" + body

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            try:
                if context is not None:
                    conn.settimeout(5)
                    conn = context.wrap_socket(conn, server_side=True)
                request = read_request(conn)
                if request:  # counted before the close the client will see
                    server.requests.append(request)
            except OSError:
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


@pytest.fixture
def dropping_server() -> Iterator[DroppingServer]:
    with _dropping(None) as server:
        yield server


@pytest.fixture
def tls_dropping_server(tls: Tls, monkeypatch: pytest.MonkeyPatch) -> Iterator[DroppingServer]:
    """The same over TLS, its certificate trusted by ``requests``."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.cert_file))
    with _dropping(tls.server_context()) as server:
        yield server
