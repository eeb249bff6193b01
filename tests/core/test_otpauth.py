"""``otpauth://`` URIs (Key Uri Format, SECURITY.md) and their QR codes."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mfakit.core.otpauth import (
    compatibility_warnings,
    otpauth_uri,
    qr_data_uri,
    qr_png,
    qr_svg,
    qr_text,
)
from mfakit.errors import InvalidInput

SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # b"12345678901234567890"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def parse(uri: str) -> tuple[str, str, dict[str, list[str]]]:
    """Split a URI into (label issuer, label account, query), decoded."""
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth"
    assert parts.netloc == "totp"
    label = parts.path.removeprefix("/")
    # The separator is the one literal ':'; the names are percent-encoded.
    issuer, account = label.split(":")
    return unquote(issuer), unquote(account), parse_qs(parts.query, strict_parsing=True)


def test_exact_format_for_plain_names() -> None:
    assert otpauth_uri(secret=SECRET, issuer="Acme", account="alice") == (
        "otpauth://totp/Acme:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme"
        "&algorithm=SHA1&digits=6&period=30"
    )


def test_exact_format_with_non_default_parameters() -> None:
    uri = otpauth_uri(
        secret=SECRET, issuer="Acme", account="bob", algorithm="SHA256", digits=8, period=60
    )
    assert uri == (
        "otpauth://totp/Acme:bob?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme"
        "&algorithm=SHA256&digits=8&period=60"
    )


@pytest.mark.parametrize(
    ("issuer", "account", "label", "issuer_param"),
    [
        (
            "Aesthetix CRM",
            "alice@clinic.example",
            "Aesthetix%20CRM:alice%40clinic.example",
            "Aesthetix%20CRM",
        ),
        ("Zürich Bank", "jörg", "Z%C3%BCrich%20Bank:j%C3%B6rg", "Z%C3%BCrich%20Bank"),
        ("東京", "ユーザー", "%E6%9D%B1%E4%BA%AC:%E3%83%A6%E3%83%BC%E3%82%B6%E3%83%BC", None),
        ("A&B=C", "x?y#z/w", "A%26B%3DC:x%3Fy%23z%2Fw", "A%26B%3DC"),
        ("100% Inc", "a+b", "100%25%20Inc:a%2Bb", "100%25%20Inc"),
    ],
)
def test_names_are_percent_encoded(
    issuer: str, account: str, label: str, issuer_param: str | None
) -> None:
    uri = otpauth_uri(secret=SECRET, issuer=issuer, account=account)
    assert uri.startswith(f"otpauth://totp/{label}?")
    if issuer_param is not None:
        assert f"&issuer={issuer_param}&" in uri
    assert " " not in uri
    assert uri.isascii()
    got_issuer, got_account, query = parse(uri)
    assert (got_issuer, got_account) == (issuer, account)
    assert query["issuer"] == [issuer]


@pytest.mark.parametrize(
    ("issuer", "account", "field"),
    [
        ("Acme:Corp", "alice", "issuer"),
        ("Acme", "alice:work", "account_name"),
        (":", "alice", "issuer"),
        ("Acme", ":", "account_name"),
    ],
)
def test_colon_is_refused(issuer: str, account: str, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        otpauth_uri(secret=SECRET, issuer=issuer, account=account)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("issuer", "account", "field"),
    [
        ("", "alice", "issuer"),
        ("   ", "alice", "issuer"),
        ("Acme", "", "account_name"),
        ("Acme", "x" * 10_000, "account_name"),
        ("Acme\n", "alice\x00", "account_name"),
        ("Ac\x07me", "alice", "issuer"),
        (None, "alice", "issuer"),
        ("Acme", b"alice", "account_name"),
    ],
)
def test_bad_names_are_refused(issuer: object, account: object, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        otpauth_uri(secret=SECRET, issuer=issuer, account=account)  # type: ignore[arg-type]
    assert info.value.field == field


names = (
    st.text(
        alphabet=st.characters(
            blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters=":"
        ),
        min_size=1,
        max_size=40,
    )
    .map(str.strip)
    .filter(bool)
)


@given(issuer=names, account=names)
def test_issuer_param_equals_label_prefix(issuer: str, account: str) -> None:
    uri = otpauth_uri(secret=SECRET, issuer=issuer, account=account)
    got_issuer, got_account, query = parse(uri)
    assert got_issuer == issuer
    assert got_account == account
    assert query == {
        "secret": [SECRET],
        "issuer": [issuer],
        "algorithm": ["SHA1"],
        "digits": ["6"],
        "period": ["30"],
    }


@given(issuer=names, account=names)
def test_pyotp_reads_our_uri(issuer: str, account: str) -> None:
    # pyotp's parser is independent and refuses a label issuer that differs
    # from the issuer parameter.
    parsed = pyotp.parse_uri(otpauth_uri(secret=SECRET, issuer=issuer, account=account))
    assert isinstance(parsed, pyotp.TOTP)
    assert parsed.issuer == issuer
    assert parsed.name == account
    assert parsed.secret == SECRET
    assert parsed.digits == 6
    assert parsed.interval == 30


def test_pyotp_reads_non_default_parameters() -> None:
    uri = otpauth_uri(
        secret=SECRET, issuer="Acme", account="bob", algorithm="SHA512", digits=8, period=60
    )
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP)
    assert parsed.digits == 8
    assert parsed.interval == 60
    assert parsed.digest().name == "sha512"


# --- compatibility warnings -------------------------------------------------------


def test_no_warnings_for_defaults() -> None:
    assert compatibility_warnings("SHA1", 6, 30) == ()


@pytest.mark.parametrize(
    ("algorithm", "digits", "period", "mentions"),
    [
        ("SHA256", 6, 30, ["SHA256"]),
        ("SHA512", 6, 30, ["SHA512"]),
        ("SHA1", 8, 30, ["8"]),
        ("SHA1", 6, 60, ["60"]),
        ("SHA1", 6, 15, ["15"]),
        ("SHA256", 8, 60, ["SHA256", "8", "60"]),
    ],
)
def test_warnings_for_each_non_default(
    algorithm: str, digits: int, period: int, mentions: list[str]
) -> None:
    notes = compatibility_warnings(algorithm, digits, period)
    assert len(notes) == len(mentions)
    for note, word in zip(notes, mentions, strict=True):
        assert isinstance(note, str)
        assert word in note


# --- QR codes ------------------------------------------------------------------------

URI = (
    "otpauth://totp/Acme:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme"
    "&algorithm=SHA1&digits=6&period=30"
)


def test_qr_png_is_a_png() -> None:
    png = qr_png(URI)
    assert png.startswith(PNG_SIGNATURE)
    assert b"IEND" in png[-12:]


def test_qr_png_scale_changes_size() -> None:
    assert len(qr_png(URI, scale=10)) != len(qr_png(URI, scale=2))


def test_qr_svg_is_an_svg_document() -> None:
    svg = qr_svg(URI)
    assert isinstance(svg, str)
    assert svg.lstrip().startswith("<svg")
    root = ET.fromstring(svg)  # noqa: S314  (our own output, not untrusted XML)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert len(list(root.iter())) > 1  # something is drawn


def test_qr_data_uri_is_base64_png() -> None:
    data = qr_data_uri(URI)
    prefix = "data:image/png;base64,"
    assert data.startswith(prefix)
    assert base64.b64decode(data[len(prefix) :], validate=True).startswith(PNG_SIGNATURE)


def test_qr_text_is_non_empty() -> None:
    text = qr_text(URI)
    assert isinstance(text, str)
    assert len(text.splitlines()) > 5
    assert text.strip()


def test_qr_depends_on_the_uri() -> None:
    other = URI.replace("alice", "bob")
    assert qr_png(URI) != qr_png(other)
    assert qr_svg(URI) != qr_svg(other)
