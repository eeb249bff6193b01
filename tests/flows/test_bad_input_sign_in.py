"""Bad input on the sign-in and enrolment calls: typed errors, nothing changed."""

from __future__ import annotations

from typing import Any

import pytest

import mfakit
from mfakit import MFA, Actor
from mfakit.adapters import MemoryStore, Outbox
from mfakit.testing import FakeClock
from tests.helpers import snapshot

BAD_PHONES: list[Any] = [
    "+1 (555) 0100",
    "0",
    "",
    "x" * 5000,
    "415 555 0101",
    "+0 415 555 0101",
    "+1 415 555 O1O1",
    "+1\x00415 555 0101",
    "＋１４１５５５５０１０１",
    None,
    14155550101,
    b"+14155550101",
]
BAD_EMAILS: list[Any] = [
    "alice",
    "alice@",
    "@example.org",
    "alice@localhost",
    "a b@example.org",
    "alice@@example.org",
    "alice@example..org",
    "x" * 5000 + "@example.org",
    "alice\n@example.org",
    None,
    7,
]


@pytest.fixture
def actor(clock: FakeClock) -> Actor:
    return Actor.user("alice", reauthenticated_at=clock.now())


@pytest.mark.parametrize("phone", BAD_PHONES, ids=repr)
def test_bad_phone_numbers(
    mfa: MFA, store: MemoryStore, outbox: Outbox, actor: Actor, phone: Any
) -> None:
    before = snapshot(store)
    with pytest.raises(mfakit.InvalidInput) as info:
        mfa.begin_phone_enrolment(actor, "alice", phone)
    assert info.value.field == "phone"
    assert snapshot(store) == before and outbox.messages == []


@pytest.mark.parametrize("email", BAD_EMAILS, ids=repr)
def test_bad_emails(mfa: MFA, store: MemoryStore, outbox: Outbox, actor: Actor, email: Any) -> None:
    before = snapshot(store)
    with pytest.raises(mfakit.InvalidInput) as info:
        mfa.begin_email_enrolment(actor, "alice", email)
    assert info.value.field == "email"
    assert snapshot(store) == before and outbox.messages == []


@pytest.mark.parametrize("method", ["email", "fax", None, 3, ["sms"]], ids=repr)
def test_bad_phone_method(mfa: MFA, store: MemoryStore, actor: Actor, method: Any) -> None:
    before = snapshot(store)
    with pytest.raises(mfakit.InvalidInput):
        mfa.begin_phone_enrolment(actor, "alice", "+14155550101", method=method)
    assert snapshot(store) == before


@pytest.fixture
def challenge_id(mfa: MFA, outbox: Outbox, clock: FakeClock, actor: Actor) -> str:
    sent = mfa.begin_phone_enrolment(actor, "alice", "+14155550101")
    assert mfa.verify(sent.challenge.id, outbox.last_code("+14155550101")).ok
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None
    return start.challenge.id


BAD_IDS: list[Any] = ["", "x" * 5000, "id\x00", None, 12, b"id"]


@pytest.mark.parametrize("cid", BAD_IDS, ids=repr)
def test_bad_challenge_ids(mfa: MFA, store: MemoryStore, challenge_id: str, cid: Any) -> None:
    before = snapshot(store)
    for call in (
        lambda: mfa.verify(cid, "123456"),
        lambda: mfa.resend(cid),
        lambda: mfa.send(cid, "voice"),
        lambda: mfa.switch_method(cid, "voice"),
        lambda: mfa.try_another_way(cid),
        lambda: mfa.answer_security_question(cid, "Rex"),
        lambda: mfa.cancel(cid),
        lambda: mfa.get_challenge(cid),
    ):
        with pytest.raises(mfakit.InvalidInput):
            call()
    assert snapshot(store) == before


def test_unknown_challenge_ids(mfa: MFA, store: MemoryStore, challenge_id: str) -> None:
    before = snapshot(store)
    for call in (
        lambda: mfa.verify("unknown", "123456"),
        lambda: mfa.resend("unknown"),
        lambda: mfa.switch_method("unknown", "voice"),
        lambda: mfa.try_another_way("unknown"),
        lambda: mfa.cancel("unknown"),
    ):
        with pytest.raises(mfakit.NotFound):
            call()
    assert snapshot(store) == before


@pytest.mark.parametrize("code", ["x" * 5000, "1" * 257, None, 123456, b"123456"], ids=repr)
def test_bad_codes_on_a_challenge(
    mfa: MFA, store: MemoryStore, challenge_id: str, code: Any
) -> None:
    before = snapshot(store)
    with pytest.raises(mfakit.InvalidInput):
        mfa.verify(challenge_id, code)
    assert snapshot(store) == before


@pytest.mark.parametrize("method", ["fax", None, 3, "totp"], ids=repr)
def test_bad_switch_targets(mfa: MFA, store: MemoryStore, challenge_id: str, method: Any) -> None:
    before = snapshot(store)
    with pytest.raises(mfakit.InvalidInput):
        mfa.switch_method(challenge_id, method)
    assert snapshot(store) == before


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("Favourite colour?", "blue"),  # not one of the policy's questions
        (None, "x"),
        (0, "x"),
        ("What was the name of your first pet?", ""),
        ("What was the name of your first pet?", "x" * 5000),
        ("What was the name of your first pet?", "Re\x00x"),
        ("What was the name of your first pet?", None),
    ],
    ids=repr,
)
def test_bad_security_questions(
    mfa: MFA, store: MemoryStore, actor: Actor, question: Any, answer: Any
) -> None:
    before = snapshot(store)
    with pytest.raises(mfakit.InvalidInput):
        mfa.set_security_question(actor, "alice", question, answer)
    assert snapshot(store) == before


@pytest.mark.parametrize(
    "kwargs",
    [
        {"role": ""},
        {"role": "x" * 100},
        {"role": 5},
        {"trust_token": 5},
        {"trust_token": "x" * 5000},
        {"locale": 5},
        {"locale": "x" * 100},
    ],
    ids=repr,
)
def test_bad_sign_in_arguments(
    mfa: MFA, store: MemoryStore, challenge_id: str, kwargs: dict[str, Any]
) -> None:
    before = snapshot(store)
    with pytest.raises(mfakit.InvalidInput):
        mfa.begin_sign_in("alice", **kwargs)
    assert snapshot(store) == before
