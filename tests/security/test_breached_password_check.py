"""Finding 5.12 (second half): an optional breached-password check.

:class:`mfakit.adapters.pwned.PwnedPasswords` speaks the Pwned Passwords range
protocol; here it talks to a real HTTP server on 127.0.0.1 (``http.server`` in
a thread) that serves ranges the way api.pwnedpasswords.com does, padding
included. Never the real internet.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mfakit import ConfigurationError, InvalidInput
from mfakit.adapters.pwned import PwnedPasswords
from mfakit.passwords import PasswordProblem, check_new_password
from mfakit.ports.breached import BreachCheckUnavailable, BreachedPasswords

BREACHED = {"Tr0ub4dor&3": 7, "correct horse battery staple": 3}
PADDED_ONLY = "zq7#Lm2!pX-unbreached"  # its suffix is served, but as padding (count 0)


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest().upper()


@dataclass
class Server:
    url: str
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    mode: str = "ok"


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server(url="")
    ranges: dict[str, list[str]] = {}
    for password, count in BREACHED.items():
        digest = sha1(password)
        ranges.setdefault(digest[:5], []).append(f"{digest[5:]}:{count}")
    digest = sha1(PADDED_ONLY)
    ranges.setdefault(digest[:5], []).append(f"{digest[5:]}:0")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append((self.path, dict(self.headers.items())))
            if state.mode == "slow":
                time.sleep(1.0)
            if state.mode == "error":
                self.send_error(503)
                return
            prefix = self.path.rsplit("/", 1)[-1]
            lines = list(ranges.get(prefix, []))
            if self.headers.get("Add-Padding") == "true":
                lines += [f"{i:035X}:0" for i in range(50)]
            body = "\r\n".join(lines).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    class Quiet(ThreadingHTTPServer):
        daemon_threads = False  # server_close() waits for every handler: no stray sockets

        def handle_error(self, request: object, client_address: object) -> None:
            pass  # the slow handler writes after the client gave up: expected

    httpd = Quiet(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/range/"
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_breached_passwords_are_found_and_only_a_prefix_leaves(server: Server) -> None:
    check = PwnedPasswords(url=server.url, timeout=2)
    assert isinstance(check, BreachedPasswords)
    assert check.is_breached("Tr0ub4dor&3")
    assert check.is_breached("correct horse battery staple")
    assert not check.is_breached("a password nobody ever used, 8e1f")
    assert not check.is_breached(PADDED_ONLY)  # padding entries (count 0) never match
    for (path, headers), password in zip(
        server.requests,
        ["Tr0ub4dor&3", "correct horse battery staple", "a password nobody ever used, 8e1f"],
        strict=False,
    ):
        assert path == f"/range/{sha1(password)[:5]}"
        assert headers.get("Add-Padding") == "true"
        assert sha1(password)[5:] not in path and password not in path


def test_min_count(server: Server) -> None:
    check = PwnedPasswords(url=server.url, timeout=2, min_count=5)
    assert check.is_breached("Tr0ub4dor&3")  # seen 7 times
    assert not check.is_breached("correct horse battery staple")  # seen 3 times


def test_check_new_password_asks_last(server: Server) -> None:
    check = PwnedPasswords(url=server.url, timeout=2)
    new = "correct horse battery staple"
    assert check_new_password("old one here", new, new, breached=check) == [
        PasswordProblem.BREACHED
    ]
    before = len(server.requests)
    # A password refused for another reason is not sent at all.
    assert PasswordProblem.COMMON in check_new_password(
        "x" * 8, "password", "password", breached=check
    )
    assert len(server.requests) == before
    assert (
        check_new_password(
            "old one here", "8e1f unused words here", "8e1f unused words here", breached=check
        )
        == []
    )


@pytest.mark.parametrize("mode", ["slow", "error"])
def test_a_failing_service_is_a_typed_error(server: Server, mode: str) -> None:
    server.mode = mode
    check = PwnedPasswords(url=server.url, timeout=0.2)
    with pytest.raises(BreachCheckUnavailable) as info:
        check.is_breached("Tr0ub4dor&3")
    assert "Tr0ub4dor" not in str(info.value)


def test_nothing_listens() -> None:
    check = PwnedPasswords(url="http://127.0.0.1:9/range/", timeout=0.5)
    with pytest.raises(BreachCheckUnavailable):
        check.is_breached("anything at all")


def test_bad_configuration_and_input() -> None:
    for kwargs in (
        {"url": "file:///etc/"},
        {"url": "http://x/range"},
        {"timeout": 0},
        {"min_count": 0},
    ):
        with pytest.raises(ConfigurationError):
            PwnedPasswords(**kwargs)  # type: ignore[arg-type]
    check = PwnedPasswords(url="http://127.0.0.1:9/range/")
    for bad in ("", "\ud800", None, b"bytes"):
        with pytest.raises(InvalidInput):
            check.is_breached(bad)  # type: ignore[arg-type]
