"""Phone numbers and email addresses: normalisation, refusals and masking."""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mfakit.core import contacts
from mfakit.core.contacts import ContactKind, mask, normalize_email, normalize_phone
from mfakit.errors import InvalidInput


@pytest.fixture
def builtin_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Behave as if ``phonenumbers`` were not installed."""
    monkeypatch.setattr(contacts, "_phonenumbers", False)


@pytest.fixture
def with_phonenumbers(monkeypatch: pytest.MonkeyPatch) -> Any:
    phonenumbers = pytest.importorskip("phonenumbers")
    monkeypatch.setattr(contacts, "_phonenumbers", phonenumbers)
    return phonenumbers


@pytest.fixture(params=["builtin", "phonenumbers"])
def phone_check(request: pytest.FixtureRequest) -> str:
    """Run a test once per validation branch."""
    request.getfixturevalue("builtin_check" if request.param == "builtin" else "with_phonenumbers")
    return request.param


# --- normalize_phone --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+14155550101", "+14155550101"),
        ("+1 415-555-0101", "+14155550101"),
        ("+1 (415) 555 0101", "+14155550101"),
        ("+1.415.555.0101", "+14155550101"),
        ("+1\u00a0415\u00a0555\u00a00101", "+14155550101"),
        ("+1 201 555 0123", "+12015550123"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_phone_is_normalised_to_e164(phone_check: str, raw: str, e164: str) -> None:
    assert normalize_phone(raw) == e164


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("0", id="zero"),
        pytest.param("", id="empty"),
        pytest.param("+", id="plus-only"),
        pytest.param("415 555 0101", id="no-plus"),
        pytest.param("001 415 555 0101", id="00-prefix"),
        pytest.param("+0 415 555 0101", id="country-code-0"),
        pytest.param("+1 415 555 CALL", id="letters"),
        pytest.param("+1 415 555 0101 ext 2", id="extension"),
        pytest.param("+1234567", id="7-digits"),
        pytest.param("+1234567890123456", id="16-digits"),
        pytest.param("+1 415 555 0101\n", id="newline"),
        pytest.param("+1\t415 555 0101", id="tab"),
        pytest.param("++14155550101", id="double-plus"),
        pytest.param("+1 415 555 0101" + " " * 5000, id="5kB-padding"),
        pytest.param("+" + "1" * 5000, id="5kB-digits"),
        pytest.param("+１ ４１５ ５５５ ０１０１", id="fullwidth-digits"),
        pytest.param("+١٤١٥٥٥٥٠١٠١", id="arabic-indic-digits"),
        pytest.param("\uff0b14155550101", id="fullwidth-plus"),
    ],
)
def test_phone_refusals(phone_check: str, raw: str) -> None:
    with pytest.raises(InvalidInput) as info:
        normalize_phone(raw)
    assert info.value.field == "phone"
    if len(raw.strip()) > 3:  # the value is never echoed back
        assert raw.strip() not in str(info.value)


@pytest.mark.parametrize("value", [None, 14155550101, b"+14155550101", ["+14155550101"]])
def test_phone_must_be_a_str(phone_check: str, value: object) -> None:
    with pytest.raises(InvalidInput, match="must be a str"):
        normalize_phone(value)


def test_phone_refusal_names_the_given_field(phone_check: str) -> None:
    with pytest.raises(InvalidInput) as info:
        normalize_phone("nope", field="new_phone")
    assert info.value.field == "new_phone"
    assert "nope" not in str(info.value)


def test_too_short_phone_is_refused_with_phonenumbers(with_phonenumbers: Any) -> None:
    with pytest.raises(InvalidInput):
        normalize_phone("+1 (555) 0100")


def test_too_short_phone_is_refused_without_phonenumbers(builtin_check: None) -> None:
    with pytest.raises(InvalidInput):
        normalize_phone("+1 (555) 0100")


def test_phonenumbers_refuses_a_possible_but_invalid_number(with_phonenumbers: Any) -> None:
    with pytest.raises(InvalidInput, match="not a valid phone number"):
        normalize_phone("+1 555 010 0100")


def test_builtin_check_accepts_a_possible_number(builtin_check: None) -> None:
    assert normalize_phone("+1 555 010 0100") == "+15550100100"


def test_phonenumbers_is_looked_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contacts, "_phonenumbers", None)
    first = contacts._phone_library()
    assert contacts._phone_library() is first
    try:
        import phonenumbers
    except ImportError:  # pragma: no cover - depends on the extra
        assert first is False
    else:
        assert first is phonenumbers


@given(
    st.from_regex(r"\+[2-9][0-9]{7,14}", fullmatch=True)
    | st.from_regex(r"\+1[0-9]{10}", fullmatch=True)
)
def test_builtin_check_keeps_any_e164_shaped_number(value: str) -> None:
    saved = contacts._phonenumbers
    contacts._phonenumbers = False  # a fixture would not be reset between examples
    try:
        assert normalize_phone(value) == value
    finally:
        contacts._phonenumbers = saved


# --- normalize_email --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("alice@example.org", "alice@example.org"),
        ("Alice@Example.ORG", "Alice@example.org"),
        ("  alice@example.org\n", "alice@example.org"),
        ("alice.smith+2fa@mail.example.co.uk", "alice.smith+2fa@mail.example.co.uk"),
        ("o'brien@example.org", "o'brien@example.org"),
        ("bob@exämple.de", "bob@xn--exmple-cua.de"),
        ("bob@EXÄMPLE.de", "bob@xn--exmple-cua.de"),
        ("carol@xn--exmple-cua.de", "carol@xn--exmple-cua.de"),
        ("dave@my-host.example", "dave@my-host.example"),
        ("a" * 64 + "@example.org", "a" * 64 + "@example.org"),
    ],
)
def test_email_is_normalised(raw: str, normalised: str) -> None:
    assert normalize_email(raw) == normalised


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("alice", id="no-at"),
        pytest.param("alice@", id="no-domain"),
        pytest.param("@example.org", id="no-local"),
        pytest.param("alice@localhost", id="undotted-domain"),
        pytest.param("a b@example.org", id="space-in-local"),
        pytest.param("alice@exa mple.org", id="space-in-domain"),
        pytest.param("alice@@example.org", id="double-at"),
        pytest.param("alice@example..org", id="empty-label"),
        pytest.param("alice@.example.org", id="leading-dot-domain"),
        pytest.param("alice@example.org.", id="trailing-dot-domain"),
        pytest.param(".alice@example.org", id="leading-dot-local"),
        pytest.param("al..ice@example.org", id="double-dot-local"),
        pytest.param("x" * 300 + "@example.org", id="too-long"),
        pytest.param("a" * 65 + "@example.org", id="local-too-long"),
        pytest.param("alice@" + "a" * 64 + ".org", id="label-too-long"),
        pytest.param("alice@-bad.org", id="leading-hyphen"),
        pytest.param("alice@bad-.org", id="trailing-hyphen"),
        pytest.param("alice@exam_ple.org", id="underscore-domain"),
        pytest.param("alice@1.2.3.4", id="numeric-tld"),
        pytest.param("alice@[127.0.0.1]", id="ip-literal"),
        pytest.param('"alice"@example.org', id="quoted-local"),
        pytest.param("alice\x00@example.org", id="nul-local"),
        pytest.param("alice@exa\x00mple.org", id="nul-domain"),
        pytest.param("alice\r\nbcc@example.org", id="crlf-local"),
        pytest.param("alice@example.org\r\nBcc: eve@example.org", id="header-injection"),
        pytest.param("ali\x7fce@example.org", id="del"),
        pytest.param("jos\u00e9@example.org", id="non-ascii-local"),
    ],
)
def test_email_refusals(raw: str) -> None:
    with pytest.raises(InvalidInput) as info:
        normalize_email(raw)
    assert info.value.field == "email"


@pytest.mark.parametrize("value", [None, 42, b"alice@example.org", ("alice@example.org",)])
def test_email_must_be_a_str(value: object) -> None:
    with pytest.raises(InvalidInput, match="must be a str"):
        normalize_email(value)


def test_email_refusal_names_the_given_field_not_the_value() -> None:
    with pytest.raises(InvalidInput) as info:
        normalize_email("secret-name@localhost", field="new_email")
    assert info.value.field == "new_email"
    assert "secret-name" not in str(info.value)


def test_normalised_email_is_at_most_254_characters() -> None:
    raw = "a@" + "ä." * 125 + "de"  # 254 characters as typed
    try:
        result = normalize_email(raw)
    except InvalidInput:
        return
    assert len(result) <= 254


# --- mask -------------------------------------------------------------------------------


def test_mask_phone_keeps_first_two_and_last_two() -> None:
    masked = mask(ContactKind.PHONE, "+14155550101")
    assert masked == "+1•••••01"
    assert "4155550" not in masked


def test_mask_email_keeps_first_letter_and_domain() -> None:
    assert mask(ContactKind.EMAIL, "alice@example.org") == "a•••@example.org"
    assert mask(ContactKind.EMAIL, "Alice@xn--exmple-cua.de") == "A•••@xn--exmple-cua.de"


LOCAL_CHARS = string.ascii_letters + string.digits + ".!#$%&'*+/=?^_`{|}~-"


@given(
    local=st.text(alphabet=LOCAL_CHARS, min_size=2, max_size=64),
    domain=st.sampled_from(["example.org", "mail.example.co.uk", "xn--exmple-cua.de"]),
)
def test_masked_email_hides_the_local_part(local: str, domain: str) -> None:
    masked = mask(ContactKind.EMAIL, f"{local}@{domain}")
    shown, at, shown_domain = masked.rpartition("@")
    assert at and shown_domain == domain
    # The domain is shown on purpose; the local part must not be.
    assert local not in shown
    assert shown == local[0] + "•••"


@given(st.from_regex(r"\+[1-9][0-9]{7,14}", fullmatch=True))
def test_masked_phone_hides_the_middle_digits(phone: str) -> None:
    masked = mask(ContactKind.PHONE, phone)
    assert phone[2:-2] not in masked
    assert masked.startswith(phone[:2]) and masked.endswith(phone[-2:])
    assert sum(char.isdigit() for char in masked) <= 4
