"""Interoperability with authenticator tooling nobody here wrote (issue 9).

* ``zbarimg`` (Debian ``zbar-tools``) decodes the setup's QR code PNG: it must
  yield exactly the ``otpauth://`` URI.
* ``oathtool`` (Debian ``oathtool``) computes codes from that URI's secret at
  the fake clock's time: they confirm the setup, pass ``verify_totp`` and a
  sign-in challenge, for SHA1 with 6 digits (the default policy) and SHA256
  with 8 digits.
* The SVG QR code is well-formed XML.

Without the tools these tests skip, except under ``CI=true`` where they fail:
CI installs them (``apt-get install -y oathtool zbar-tools``).
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from mfakit import MFA, Actor, Method, Policy, Reason
from mfakit.adapters import MemoryAuditLog, MemoryStore, Outbox
from mfakit.core import otp
from mfakit.testing import FakeClock, authenticator_code, fast_hasher
from tests.helpers import grant

SECRET_KEY = "974e91e96a4940420bb0627d98e3746b97b18cbac3df10da63e8689d7e029658"
PACKAGES = {"oathtool": "oathtool", "zbarimg": "zbar-tools"}


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = (
            f"{name} is not installed (Debian package {PACKAGES[name]}: "
            "apt-get install -y oathtool zbar-tools)"
        )
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"CI=true but {message}: CI must run the interoperability tests")
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def oathtool() -> str:
    return require_tool("oathtool")


@pytest.fixture(scope="module")
def zbarimg() -> str:
    return require_tool("zbarimg")


def oath_code(tool: str, secret: str, at: datetime, *, algorithm: str, digits: int) -> str:
    """``oathtool --totp=ALG -d DIGITS -b SECRET -N @EPOCH``."""
    epoch = int(at.timestamp())
    done = subprocess.run(
        [tool, f"--totp={algorithm.lower()}", "-d", str(digits), "-b", secret, "-N", f"@{epoch}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    code = done.stdout.strip()
    assert code.isdigit() and len(code) == digits, done.stdout
    return code


def decode_qr(tool: str, png: Path) -> str:
    """``zbarimg -q --raw FILE`` (exit code 4 means no code was found)."""
    done = subprocess.run(
        [tool, "-q", "--raw", str(png)], capture_output=True, text=True, timeout=60
    )
    # zbarimg may print a harmless D-Bus complaint on stderr; only the exit code counts.
    assert done.returncode != 4, f"zbarimg found no QR code in {png.name}"
    assert done.returncode == 0, (done.returncode, done.stderr)
    return done.stdout.rstrip("\n")


def uri_params(uri: str) -> dict[str, str]:
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp", uri
    return {k: v[0] for k, v in parse_qs(parts.query).items()}


class World:
    def __init__(self, policy: Policy) -> None:
        self.clock = FakeClock()
        self.outbox = Outbox()
        self.mfa = MFA(
            store=MemoryStore(),
            secret_key=SECRET_KEY,
            issuer="Aesthetix CRM",
            sms=self.outbox,
            email=self.outbox,
            audit=MemoryAuditLog(),
            clock=self.clock,
            hasher=fast_hasher(),
            policy=policy,
        )

    def actor(self, user_id: str) -> Actor:
        return Actor.user(
            user_id,
            reauthenticated_at=self.clock.now(),
            step_up=grant(self.clock, user_id, secret=SECRET_KEY),
        )


VARIANTS = [
    pytest.param(Policy(), "SHA1", 6, id="sha1-6-digits"),
    pytest.param(Policy(totp_algorithm="SHA256", totp_digits=8), "SHA256", 8, id="sha256-8-digits"),
]
ACCOUNTS = ["alice@clinic.example", "Zoë Müller+2fa@clinic.example", "dr. o'brien / ward 7"]


@pytest.mark.parametrize("account", ACCOUNTS)
@pytest.mark.parametrize(("policy", "algorithm", "digits"), VARIANTS)
def test_the_qr_png_decodes_to_exactly_the_uri(
    zbarimg: str, tmp_path: Path, policy: Policy, algorithm: str, digits: int, account: str
) -> None:
    w = World(policy)
    setup = w.mfa.begin_totp_setup(w.actor("alice"), "alice", account_name=account)
    png = tmp_path / "qr.png"
    png.write_bytes(setup.qr_png())
    assert decode_qr(zbarimg, png) == setup.uri
    # The data: URI for <img src> holds the same picture.
    head, _, data = setup.qr_data_uri().partition(",")
    assert head == "data:image/png;base64"
    png.write_bytes(base64.b64decode(data))
    assert decode_qr(zbarimg, png) == setup.uri
    # And what the app reads is what the label says.
    params = uri_params(setup.uri)
    assert (params["secret"], params["algorithm"], params["digits"], params["period"]) == (
        setup.secret,
        algorithm,
        str(digits),
        "30",
    )
    assert params["issuer"] == "Aesthetix CRM"
    assert unquote(urlsplit(setup.uri).path) == f"/Aesthetix CRM:{account}"


@pytest.mark.parametrize(("policy", "algorithm", "digits"), VARIANTS)
def test_the_qr_svg_is_well_formed_xml(policy: Policy, algorithm: str, digits: int) -> None:
    w = World(policy)
    setup = w.mfa.begin_totp_setup(w.actor("alice"), "alice", account_name="alice@example.org")
    root = ET.fromstring(setup.qr_svg())  # noqa: S314 (our own output, parsed to check it)
    assert root.tag in ("svg", "{http://www.w3.org/2000/svg}svg"), root.tag
    assert len(list(root.iter())) > 1


@pytest.mark.parametrize(("policy", "algorithm", "digits"), VARIANTS)
def test_oathtool_codes_from_the_scanned_uri_sign_in(
    oathtool: str,
    zbarimg: str,
    tmp_path: Path,
    policy: Policy,
    algorithm: str,
    digits: int,
) -> None:
    w = World(policy)
    setup = w.mfa.begin_totp_setup(w.actor("alice"), "alice", account_name="alice@example.org")
    png = tmp_path / "qr.png"
    png.write_bytes(setup.qr_png())
    params = uri_params(decode_qr(zbarimg, png))  # what a phone app would read
    assert (params["algorithm"], int(params["digits"])) == (algorithm, digits)
    secret = params["secret"]

    def code() -> str:
        now = w.clock.now()
        value = oath_code(oathtool, secret, now, algorithm=algorithm, digits=digits)
        # Three implementations agree: oathtool, pyotp and mfakit's own.
        assert value == authenticator_code(setup.uri, now)
        return value

    confirmed = w.mfa.confirm_totp_setup(w.actor("alice"), setup.id, code())
    assert confirmed.ok, confirmed
    assert confirmed.authenticator is not None
    assert (confirmed.authenticator.algorithm, confirmed.authenticator.digits) == (
        algorithm,
        digits,
    )

    w.clock.advance(seconds=30)
    first = code()
    result = w.mfa.verify_totp("alice", first)
    assert result.ok and result.method is Method.TOTP, result
    replay = w.mfa.verify_totp("alice", first)
    assert (replay.ok, replay.reason) == (False, Reason.REPLAYED)

    w.clock.advance(seconds=30)
    start = w.mfa.begin_sign_in("alice")
    assert start.challenge is not None and start.challenge.method is Method.TOTP
    signed_in = w.mfa.verify(start.challenge.id, code(), trust_device=True)
    assert signed_in.ok and signed_in.trust_token, signed_in
    assert w.outbox.messages == []  # an authenticator app needs no message

    # A code from a step long past is refused.
    w.clock.advance(seconds=30)
    start = w.mfa.begin_sign_in("alice")
    assert start.challenge is not None
    stale = oath_code(
        oathtool, secret, w.clock.now() - timedelta(minutes=5), algorithm=algorithm, digits=digits
    )
    refused = w.mfa.verify(start.challenge.id, stale)
    assert not refused.ok and refused.reason in (Reason.INVALID_CODE, Reason.REPLAYED)


@pytest.mark.parametrize(
    ("algorithm", "digits"), [("SHA1", 6), ("SHA1", 8), ("SHA256", 8), ("SHA512", 8)]
)
def test_oathtool_agrees_with_mfakit_at_many_times(
    oathtool: str, algorithm: str, digits: int
) -> None:
    key = bytes(range(1, 33))
    secret = otp.encode_secret(key)
    for epoch in (59, 1111111109, 1234567890, 2000000000, 1767268800, 4102444800):
        at = datetime.fromtimestamp(epoch).astimezone()
        expected = oath_code(oathtool, secret, at, algorithm=algorithm, digits=digits)
        assert otp.totp(key, epoch, digits=digits, algorithm=algorithm) == expected, epoch
