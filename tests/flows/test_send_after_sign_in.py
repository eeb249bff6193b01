"""``send`` right after ``begin_sign_in`` (issue 14): "Text me the code" is the
first button a host draws, and ``begin_sign_in`` already sent the code. ``send``
says so (``ok``, ``already_sent``, ``retry_after``) and sends nothing; only
``resend``, the user asking for a *new* code, is refused by the cooldown."""

from __future__ import annotations

from datetime import timedelta

import pytest

import mfakit
from mfakit import MFA, Method, Reason
from mfakit.adapters import Outbox
from mfakit.testing import FakeClock
from tests.helpers import EMAIL, PHONE, enrol_email, enrol_phone


@pytest.fixture
def challenge(mfa: MFA, outbox: Outbox, clock: FakeClock) -> mfakit.Challenge:
    enrol_phone(mfa, outbox, clock)
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None and start.challenge.method is Method.SMS
    assert start.delivery is not None and start.delivery.ok
    assert not start.delivery.already_sent  # that one was really sent
    return start.challenge


@pytest.mark.parametrize(
    "send",
    [
        lambda mfa, cid: mfa.send(cid),
        lambda mfa, cid: mfa.send(cid, Method.SMS),
        lambda mfa, cid: mfa.send(cid, "sms"),
        lambda mfa, cid: mfa.switch_method(cid, Method.SMS),
    ],
    ids=["send", "send(method)", "send('sms')", "switch_method"],
)
def test_send_right_after_sign_in_says_the_code_is_on_its_way(
    mfa: MFA, outbox: Outbox, clock: FakeClock, challenge: mfakit.Challenge, send
) -> None:
    first = outbox.last_code(PHONE)
    sent_before = len(outbox.sent_to(PHONE))
    clock.advance(seconds=10)
    result = send(mfa, challenge.id)
    assert (result.ok, result.already_sent, result.reason) == (True, True, None)
    assert result.retry_after == timedelta(seconds=20)  # when a resend can send a new one
    assert result.challenge.destination == challenge.destination
    assert result.challenge.code_sent_at == challenge.code_sent_at
    assert len(outbox.sent_to(PHONE)) == sent_before  # nothing sent again
    assert mfa.verify(challenge.id, first).ok  # the code on its way still works


def test_resend_in_the_cooldown_is_still_refused(
    mfa: MFA, outbox: Outbox, challenge: mfakit.Challenge
) -> None:
    sent_before = len(outbox.sent_to(PHONE))
    early = mfa.resend(challenge.id)
    assert (early.ok, early.already_sent, early.reason, early.retry_after) == (
        False,
        False,
        Reason.COOLDOWN,
        timedelta(seconds=30),
    )
    assert len(outbox.sent_to(PHONE)) == sent_before


def test_after_the_cooldown_send_sends_a_new_code(
    mfa: MFA, outbox: Outbox, clock: FakeClock, challenge: mfakit.Challenge
) -> None:
    sent_before = len(outbox.sent_to(PHONE))
    clock.advance(seconds=30)
    again = mfa.send(challenge.id)
    assert (again.ok, again.already_sent, again.retry_after) == (True, False, None)
    assert len(outbox.sent_to(PHONE)) == sent_before + 1
    assert again.challenge.code_sent_at == clock.now()
    assert mfa.verify(challenge.id, outbox.last_code(PHONE)).ok


def test_after_a_failed_delivery_send_really_sends(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    enrol_phone(mfa, outbox, clock)
    outbox.fail_next()
    start = mfa.begin_sign_in("alice")
    assert start.delivery_failed and start.challenge is not None
    result = mfa.send(start.challenge.id)
    assert (result.ok, result.already_sent) == (True, False)
    assert mfa.verify(start.challenge.id, outbox.last_code(PHONE)).ok


def test_another_method_is_sent_at_once(mfa: MFA, outbox: Outbox, clock: FakeClock) -> None:
    enrol_phone(mfa, outbox, clock)
    enrol_email(mfa, outbox, clock)
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None and start.challenge.method is Method.SMS
    by_email = mfa.send(start.challenge.id, Method.EMAIL)
    assert (by_email.ok, by_email.already_sent) == (True, False)
    assert by_email.challenge.method is Method.EMAIL
    # ... and the email just sent is then on its way too.
    again = mfa.send(start.challenge.id, Method.EMAIL)
    assert (again.ok, again.already_sent) == (True, True)
    assert mfa.verify(start.challenge.id, outbox.last_code(EMAIL)).ok
