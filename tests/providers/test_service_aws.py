"""Amazon SES wired into MFA, through the real boto3 client against moto in
server mode: the code email carries mfakit's HTML part in the user's
language, its SES MessageId is kept on the challenge, and an SES bounce
event for it (as SNS delivers it) is recorded on the challenge and audited."""

from __future__ import annotations

import json
import re

import pytest

from mfakit import MFA
from mfakit.adapters import MemoryAuditLog, MemoryStore
from mfakit.delivery_status import SnsMessage, ses_status
from mfakit.testing import FakeClock, fast_hasher
from tests.conftest import SECRET
from tests.helpers import fresh

from .conftest import Moto, require

require("boto3")

from mfakit.adapters.aws import SesEmailSender, SnsSmsSender  # noqa: E402

FROM = "no-reply@clinic.example"
ALICE = "alice@example.org"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:mfa-email-events"


def ses_event(message_id: str, kind: str, **extra: object) -> SnsMessage:
    """An SES event notification as SnsVerifier.verify returns it."""
    event = {
        "eventType": kind,
        "mail": {"messageId": message_id, "destination": [ALICE], "source": FROM},
        **extra,
    }
    return SnsMessage(
        type="Notification", message_id="sns-1", topic_arn=TOPIC, message=json.dumps(event)
    )


@pytest.fixture
def mfa(moto: Moto) -> tuple[MFA, MemoryAuditLog, FakeClock]:
    import boto3

    boto3.client("sesv2", endpoint_url=moto.url).create_email_identity(EmailIdentity=FROM)
    clock, audit = FakeClock(), MemoryAuditLog()
    mfa = MFA(
        store=MemoryStore(),
        secret_key=SECRET,
        issuer="Clinic",
        clock=clock,
        hasher=fast_hasher(),
        audit=audit,
        email=SesEmailSender(FROM, endpoint_url=moto.url),
        sms=SnsSmsSender(endpoint_url=moto.url),
    )
    return mfa, audit, clock


def test_ses_gets_the_html_part_and_the_bounce_is_recorded(
    moto: Moto, mfa: tuple[MFA, MemoryAuditLog, FakeClock]
) -> None:
    service, audit, clock = mfa
    sent = service.begin_email_enrolment(fresh(clock), "alice", ALICE, locale="es")
    assert sent.ok
    (stored,) = moto.emails()
    html = stored["body"]  # moto keeps the HTML part of a two-part email
    assert '<html lang="es">' in html and "verificación" in html
    code = re.search(r">([0-9]{6})</strong>", html)
    assert code is not None  # mfakit's HTML, not the sender's escaped fallback

    bounce = {"bounceType": "Permanent", "bounceSubType": "OnAccountSuppressionList"}
    status = ses_status(ses_event(stored["id"], "Bounce", bounce=bounce))
    assert service.record_delivery_status(status)
    view = service.get_challenge(sent.challenge.id)
    assert view.delivery == "failed"
    assert view.delivery_error == "Permanent/OnAccountSuppressionList"
    (event,) = [e for e in audit.events if e.action == "code.delivery"]
    assert dict(event.details)["provider"] == "ses" and event.method == "email"
    assert ALICE not in repr(event) and code.group(1) not in repr(event)


def test_an_sms_status_never_lands_on_an_email_challenge(
    moto: Moto, mfa: tuple[MFA, MemoryAuditLog, FakeClock]
) -> None:
    service, _, clock = mfa
    sent = service.begin_email_enrolment(fresh(clock), "alice", ALICE)
    (stored,) = moto.emails()
    status = ses_status(ses_event(stored["id"], "Delivery"))
    wrong_channel = type(status)(
        provider="twilio",
        channel="sms",
        message_id=status.message_id,
        state="failed",
        provider_status="failed",
    )
    assert not service.record_delivery_status(wrong_channel)
    assert service.get_challenge(sent.challenge.id).delivery is None
    assert service.record_delivery_status(status)
    assert service.get_challenge(sent.challenge.id).delivery == "delivered"
