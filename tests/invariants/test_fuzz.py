"""Every public entry point of :class:`mfakit.MFA`, fed values of the wrong
type, size and encoding (issue 9).

The methods are found by introspection, so a new public method is fuzzed as
soon as it exists (``test_every_parameter_has_a_valid_default`` fails until
its new parameter names get a valid default below). For each method and each
of its parameters, Hypothesis replaces that one argument with junk (random
unicode, NUL bytes, 1 MB strings, negative and huge ints, floats, bytes,
``None``, lists, dicts, ...) while the others stay valid. Only
:class:`mfakit.MfaError` subclasses or ``TypeError`` may escape, and after a
refusal the store and the outbox are exactly as they were.

The world each call runs in is rebuilt from a template (a user with an
authenticator, a phone, an email, backup codes, a security question, a trusted
device, a pending setup and an open sign-in challenge), so every example
starts from the same state. ``MFAKIT_HYPOTHESIS_PROFILE=nightly`` runs 20
times more examples.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cache
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import mfakit
from mfakit import MFA, Actor, Method, MfaError, RequestContext
from mfakit.adapters import MemoryAuditLog, MemoryStore, Outbox
from mfakit.delivery_status import DeliveryStatus
from mfakit.testing import FakeClock, authenticator_code, fast_hasher
from tests.helpers import grant, snapshot
from tests.invariants.profiles import fuzz_settings

SECRET_KEY = "53c5a1fdd1d7edac93b9f320e1634c4d74985b596fe5902f9865be8fd6625d4a"
USER = "alice"
PHONE = "+14155550101"
EMAIL = "alice@example.org"
MEGABYTE = 1_000_000

# --- values of the wrong type, size and encoding -----------------------------------------

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.sampled_from([-1, 0, 2**31, 2**63, 2**64 + 1, -(2**63), 10**100]),
    st.floats(),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e308, 5e-324]),
    st.text(),
    st.text(min_size=1, max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40).map(lambda s: f"{s}\x00{s}"),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "\x00" * 64,
            "alice\x00",
            "\u202e\u200b\ufeff",
            "１２３４５６",  # fullwidth digits
            "١٢٣٤٥٦",  # Arabic-Indic digits
            "123456\n",
            "ＡＢＣＤ-ＥＦＧＨ-ＪＫＭＮ",
            "e\u0301" * 100,
            "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
            "%s%n%x{0}{}",
            "' OR 1=1 --",
            "../../etc/passwd",
        ]
    ),
    st.sampled_from(["x" * MEGABYTE, "1" * MEGABYTE, "é" * MEGABYTE, "\x00" * MEGABYTE]),
    st.binary(max_size=64),
    st.just(b"123456"),
    st.just(bytearray(b"alice")),
    st.lists(st.integers(), max_size=4),
    st.lists(st.text(max_size=8), max_size=4),
    st.tuples(st.text(max_size=8)),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
    st.frozensets(st.integers(), max_size=3),
    st.just(datetime(2026, 1, 1)),
    st.just(datetime(2026, 1, 1, tzinfo=timezone.utc)),
    st.just(object()),
    st.just(Method.TOTP),
    st.just(Actor.user("mallory")),
    st.just(RequestContext(ip="203.0.113.7")),
    st.just(type),
    st.just(print),
)


NASTY: list[Any] = [
    None,
    True,
    -1,
    2**64,
    -(10**100),
    1.5,
    math.nan,
    math.inf,
    b"alice",
    [],
    {"a": 1},
    "",
    "\x00",
    "alice\x00bob",
    "\ud7ff\ue000\uffff",
    "x" * MEGABYTE,
    "é" * MEGABYTE,
]
"""Every parameter of every method meets each of these at least once."""

# --- the world every call runs in -------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """The store's state after set-up, and the ids valid arguments refer to."""

    state: dict[str, Any]
    messages: int
    now: datetime
    factor_id: str
    setup_id: str
    challenge_id: str
    device_id: str
    trust_token: str
    backup_code: str


def build_mfa(store: MemoryStore, outbox: Outbox, clock: FakeClock) -> MFA:
    return MFA(
        store=store,
        secret_key=SECRET_KEY,
        issuer="Fuzz Co",
        sms=outbox,
        voice=outbox,
        email=outbox,
        audit=MemoryAuditLog(),
        clock=clock,
        hasher=fast_hasher(),
        policy=mfakit.Policy(passkey_passwordless=True),
        relying_party=mfakit.RelyingParty(
            "example.com", "Fuzz Co", origins=["https://example.com"]
        ),
    )


@cache
def template() -> Template:
    store, outbox, clock = MemoryStore(), Outbox(), FakeClock()
    mfa = build_mfa(store, outbox, clock)

    def fresh() -> Actor:
        return Actor.user(
            USER, reauthenticated_at=clock.now(), step_up=grant(clock, USER, secret=SECRET_KEY)
        )

    setup = mfa.begin_totp_setup(fresh(), USER, account_name=EMAIL)
    confirmed = mfa.confirm_totp_setup(
        fresh(), setup.id, authenticator_code(setup.uri, clock.now())
    )
    assert confirmed.ok and confirmed.authenticator and confirmed.backup_codes
    clock.advance(seconds=90)
    sent = mfa.begin_phone_enrolment(fresh(), USER, PHONE)
    assert mfa.verify(sent.challenge.id, outbox.last_code(PHONE)).ok
    sent = mfa.begin_email_enrolment(fresh(), USER, EMAIL)
    assert mfa.verify(sent.challenge.id, outbox.last_code(EMAIL)).ok
    mfa.set_security_question(fresh(), USER, mfa.security_questions[0], "Springfield")
    clock.advance(seconds=90)
    start = mfa.begin_sign_in(USER)
    assert start.challenge is not None
    trusted = mfa.verify(
        start.challenge.id, authenticator_code(setup.uri, clock.now()), trust_device=True
    )
    assert trusted.ok and trusted.trust_token and trusted.device_id
    clock.advance(seconds=90)
    pending = mfa.begin_totp_setup(fresh(), USER, account_name=EMAIL, label="Second")
    mfa.set_preferred_method(fresh(), USER, Method.SMS)
    start = mfa.begin_sign_in(USER)
    assert start.challenge is not None and start.delivery is not None and start.delivery.ok
    return Template(
        state=snapshot(store),
        messages=len(outbox.messages),
        now=clock.now(),
        factor_id=confirmed.authenticator.id,
        setup_id=pending.id,
        challenge_id=start.challenge.id,
        device_id=trusted.device_id,
        trust_token=trusted.trust_token,
        backup_code=confirmed.backup_codes.codes[0],
    )


@dataclass
class World:
    mfa: MFA
    store: MemoryStore
    outbox: Outbox
    clock: FakeClock


def world() -> World:
    """A fresh copy of the template world (the store's dicts deep-copied)."""
    t = template()
    store = MemoryStore()
    for name, value in t.state.items():
        setattr(store, name, copy.deepcopy(value))
    outbox, clock = Outbox(), FakeClock(t.now)
    return World(build_mfa(store, outbox, clock), store, outbox, clock)


# --- valid arguments, by parameter name ------------------------------------------------

VALID: dict[str, Callable[[Template], Any]] = {
    "actor": lambda t: Actor.user(
        USER,
        reauthenticated_at=t.now,
        step_up=grant(FakeClock(t.now), USER, secret=SECRET_KEY),
    ),
    "user_id": lambda t: USER,
    "account_name": lambda t: EMAIL,
    "label": lambda t: "Work phone",
    "secret": lambda t: None,
    "setup_id": lambda t: t.setup_id,
    "code": lambda t: "123456",
    "tenant": lambda t: None,
    "context": lambda t: RequestContext(ip="203.0.113.9", user_agent="Fuzzer/1.0"),
    "factor_id": lambda t: t.factor_id,
    "role": lambda t: None,
    "challenge_id": lambda t: t.challenge_id,
    "trust_device": lambda t: False,
    "device_label": lambda t: None,
    "method": lambda t: Method.SMS,
    "locale": lambda t: "en",
    "answer": lambda t: "Springfield",
    "phone": lambda t: "+14155550102",
    "email": lambda t: "alice.new@example.org",
    "question": lambda t: mfakit.Policy().security_questions[0],
    "device_id": lambda t: t.device_id,
    "kind": lambda t: "email",
    "limit": lambda t: 50,
    "before": lambda t: None,
    "trust_token": lambda t: t.trust_token,
    "older_than": lambda t: timedelta(days=1),
    "batch": lambda t: 100,
    "status": lambda t: DeliveryStatus(
        provider="twilio",
        channel="sms",
        message_id="SM" + "0" * 32,
        state="delivered",
        provider_status="delivered",
    ),
    "progress": lambda t: None,
    "name": lambda t: "Laptop",
    "display_name": lambda t: None,
    "passwordless": lambda t: False,
    "conditional": lambda t: False,
    "ceremony_id": lambda t: "no-such-ceremony",
    "credential_json": lambda t: "{}",
}
"""A valid value for every parameter name of MFA's public methods."""


def public_methods() -> dict[str, Callable[..., Any]]:
    return {
        name: fn
        for name, fn in inspect.getmembers(MFA, predicate=inspect.isfunction)
        if not name.startswith("_")
    }


def parameters(fn: Callable[..., Any]) -> list[str]:
    return [p for p in inspect.signature(fn).parameters if p != "self"]


CASES = [(name, p) for name, fn in sorted(public_methods().items()) for p in parameters(fn)]


def valid_kwargs(name: str, t: Template) -> dict[str, Any]:
    kwargs = {p: VALID[p](t) for p in parameters(public_methods()[name])}
    if name == "begin_contact_change":
        kwargs["phone"] = None  # exactly one of phone= and email=
    return kwargs


def test_every_parameter_has_a_valid_default() -> None:
    assert len(public_methods()) >= 30, sorted(public_methods())
    missing = sorted({p for _, p in CASES} - set(VALID))
    assert not missing, f"give these parameters a valid value in VALID: {missing}"


@pytest.mark.parametrize("name", sorted(public_methods()))
def test_valid_arguments_work(name: str) -> None:
    """The baseline: with every argument valid, no call fails unexpectedly."""
    w = world()
    # MfaError: a legitimate refusal in this state (e.g. nothing to resend yet).
    with contextlib.suppress(MfaError):
        getattr(w.mfa, name)(**valid_kwargs(name, template()))


# --- the fuzz test -------------------------------------------------------------------


def check_one(name: str, param: str, value: Any) -> None:
    w = world()
    kwargs = valid_kwargs(name, template())
    if name == "begin_contact_change" and param == "phone":
        kwargs["email"] = None
    kwargs[param] = value
    before = snapshot(w.store)
    messages = w.outbox.messages
    try:
        getattr(w.mfa, name)(**kwargs)
    except (MfaError, TypeError) as exc:
        # A refusal changes nothing and does not echo what it refused.
        assert snapshot(w.store) == before, f"{name}({param}=...) refused but changed the store"
        assert w.outbox.messages == messages, f"{name}({param}=...) refused but sent a message"
        if isinstance(value, str) and len(value) >= 16:
            assert value not in str(exc), f"{name}: the error echoes the {param} given"
    # Anything else (ValueError, AttributeError, OverflowError, UnicodeError,
    # RecursionError, ...) escapes and fails the test.


@pytest.mark.parametrize(("name", "param"), CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_each_nasty_value_is_refused_with_a_typed_error(name: str, param: str) -> None:
    for value in NASTY:
        check_one(name, param, value)


@pytest.mark.parametrize(("name", "param"), CASES, ids=[f"{n}-{p}" for n, p in CASES])
@fuzz_settings(15)
@given(value=JUNK)
def test_junk_is_refused_with_a_typed_error(name: str, param: str, value: Any) -> None:
    check_one(name, param, value)


@pytest.mark.parametrize(
    ("name", "param"),
    [(n, p) for n, p in CASES if p not in ("actor", "context", "trust_device")],
    ids=[f"{n}-{p}" for n, p in CASES if p not in ("actor", "context", "trust_device")],
)
@fuzz_settings(8)
@given(value=st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=80))
def test_random_text_is_refused_or_handled(name: str, param: str, value: str) -> None:
    """Strings (the type most parameters take) with random content and length."""
    check_one(name, param, value)
