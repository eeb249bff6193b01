"""``send`` right after ``begin_sign_in`` on ``AsyncMFA`` (issue 14), the twin of
tests/flows/test_send_after_sign_in.py: the code ``begin_sign_in`` sent is on its
way (``already_sent``, with ``retry_after``) and nothing is sent again; ``resend``
in the cooldown is refused; after the cooldown ``send`` sends a new code."""

from __future__ import annotations

from datetime import timedelta

import pytest

import mfakit
from mfakit import Actor, AsyncMFA, Method, Reason
from mfakit.adapters import Outbox
from mfakit.adapters.memory_async import AsyncMemoryStore
from mfakit.testing import FakeClock, fast_hasher
from tests.conftest import SECRET

PHONE = "+14155550101"


@pytest.mark.asyncio
async def test_send_says_the_code_is_on_its_way_and_resend_waits() -> None:
    clock, outbox = FakeClock(), Outbox()
    amfa = AsyncMFA(
        store=AsyncMemoryStore(),
        secret_key=SECRET,
        issuer="Aesthetix CRM",
        clock=clock,
        hasher=fast_hasher(),
        sms=outbox,
    )
    actor = Actor.user("alice", reauthenticated_at=clock.now())
    enrolment = await amfa.begin_phone_enrolment(actor, "alice", PHONE)
    assert (await amfa.verify(enrolment.challenge.id, outbox.last_code(PHONE))).ok
    clock.advance(seconds=61)

    start = await amfa.begin_sign_in("alice")
    assert isinstance(start, mfakit.ChallengeRequired)
    assert start.challenge.method is Method.SMS
    assert start.delivery is not None and not start.delivery.already_sent  # really sent
    first, sent = outbox.last_code(PHONE), len(outbox.sent_to(PHONE))
    clock.advance(seconds=10)
    on_its_way = await amfa.send(start.challenge.id)
    assert (on_its_way.ok, on_its_way.already_sent, on_its_way.reason) == (True, True, None)
    assert on_its_way.retry_after == timedelta(seconds=20)
    assert len(outbox.sent_to(PHONE)) == sent  # nothing sent again
    assert outbox.last_code(PHONE) == first

    early = await amfa.resend(start.challenge.id)
    assert (early.ok, early.already_sent, early.reason) == (False, False, Reason.COOLDOWN)
    assert len(outbox.sent_to(PHONE)) == sent

    clock.advance(seconds=25)
    again = await amfa.send(start.challenge.id)
    assert (again.ok, again.already_sent) == (True, False)
    assert len(outbox.sent_to(PHONE)) == sent + 1
    assert (await amfa.verify(start.challenge.id, outbox.last_code(PHONE))).ok
