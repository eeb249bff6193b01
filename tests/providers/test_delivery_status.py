"""Delivery-status callbacks: Twilio's X-Twilio-Signature checked by twilio's
own validator (against a signature computed here from Twilio's documented
algorithm), and SNS message signatures checked against a certificate served
over TLS by a local server, signed with a key made for the test."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import ssl
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from mfakit.delivery_status import (
    DeliveryStatus,
    DeliveryStatusSink,
    SnsVerifier,
    ses_status,
    twilio_status,
)
from mfakit.errors import CallbackRejected, InvalidInput

from .conftest import AUTH_TOKEN, Tls, make_certificate, require

require("twilio")

URL = "https://app.example/hooks/twilio-status?tenant=practice"
SMS_SID = "SM" + "ab" * 16
CALL_SID = "CA" + "cd" * 16
TOPIC = "arn:aws:sns:eu-west-1:123456789012:mfa-email-events"


def twilio_signature(url: str, params: dict[str, str], token: str) -> str:
    """Twilio's documented algorithm: HMAC-SHA1 over the URL followed by each
    POST field name and value, sorted by name; base64."""
    payload = url + "".join(k + params[k] for k in sorted(params))
    digest = hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def message_callback(status: str, error: str | None = None) -> dict[str, str]:
    params = {
        "AccountSid": "AC" + "0123456789abcdef" * 2,
        "MessageSid": SMS_SID,
        "SmsSid": SMS_SID,
        "MessageStatus": status,
        "SmsStatus": status,
        "To": "+14155550123",
        "From": "+14155550100",
        "ApiVersion": "2010-04-01",
    }
    if error is not None:
        params["ErrorCode"] = error
    return params


def test_twilio_delivered() -> None:
    params = message_callback("delivered")
    status = twilio_status(
        URL, params, twilio_signature(URL, params, AUTH_TOKEN), auth_token=AUTH_TOKEN
    )
    assert status == DeliveryStatus(
        provider="twilio",
        channel="sms",
        message_id=SMS_SID,
        state="delivered",
        provider_status="delivered",
    )
    assert status.final
    assert "+14155550123" not in repr(status)


def test_twilio_undelivered_to_a_landline_is_unusable() -> None:
    params = message_callback("undelivered", "30006")
    status = twilio_status(
        URL, params, twilio_signature(URL, params, AUTH_TOKEN), auth_token=AUTH_TOKEN
    )
    assert (status.state, status.error_code, status.unusable_destination) == (
        "failed",
        "30006",
        True,
    )


def test_twilio_call_status() -> None:
    params = {"CallSid": CALL_SID, "CallStatus": "no-answer", "To": "+14155550123"}
    status = twilio_status(
        URL, params, twilio_signature(URL, params, AUTH_TOKEN), auth_token=AUTH_TOKEN
    )
    assert (status.channel, status.message_id, status.state) == ("voice", CALL_SID, "failed")


def test_twilio_forged_callbacks_are_rejected() -> None:
    params = message_callback("delivered")
    good = twilio_signature(URL, params, AUTH_TOKEN)
    with pytest.raises(CallbackRejected):
        twilio_status(URL, {**params, "MessageStatus": "failed"}, good, auth_token=AUTH_TOKEN)
    with pytest.raises(CallbackRejected):
        twilio_status(URL.replace("practice", "other"), params, good, auth_token=AUTH_TOKEN)
    with pytest.raises(CallbackRejected):
        twilio_status(URL, params, twilio_signature(URL, params, "wrong"), auth_token=AUTH_TOKEN)
    with pytest.raises(CallbackRejected):
        twilio_status(URL, params, None, auth_token=AUTH_TOKEN)


def test_twilio_signed_nonsense_is_invalid_input() -> None:
    params = {"MessageSid": SMS_SID, "MessageStatus": "exploded"}
    with pytest.raises(InvalidInput):
        twilio_status(URL, params, twilio_signature(URL, params, AUTH_TOKEN), auth_token=AUTH_TOKEN)


# --- SNS ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signing() -> tuple[Any, Any]:
    """The "SNS" certificate and key, made for these tests."""
    return make_certificate("sns.amazonaws.com")


@pytest.fixture
def cert_url(https_server: Any, signing: tuple[Any, Any]) -> str:
    cert, _ = signing
    https_server.expect_request("/SimpleNotificationService-test.pem").respond_with_data(
        cert.public_bytes(serialization.Encoding.PEM), content_type="application/x-pem-file"
    )
    return https_server.url_for("/SimpleNotificationService-test.pem")


@pytest.fixture
def verifier(tls: Tls) -> SnsVerifier:
    context = ssl.create_default_context(cafile=str(tls.cert_file))
    return SnsVerifier([TOPIC], url_pattern=r"https://127\.0\.0\.1:\d+/", ssl_context=context)


def signed(document: dict[str, str], key: Any, *, version: str = "1") -> bytes:
    fields = (
        ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
        if document["Type"] == "Notification"
        else ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
    )
    text = "".join(f"{k}\n{document[k]}\n" for k in fields if k in document)
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303
    signature = key.sign(text.encode(), padding.PKCS1v15(), algorithm)
    document = {**document, "SignatureVersion": version}
    document["Signature"] = base64.b64encode(signature).decode()
    return json.dumps(document).encode()


def ses_event(kind: str, **extra: Any) -> str:
    event = {
        "eventType": kind,
        "mail": {
            "timestamp": "2026-03-01T09:00:00.000Z",
            "source": "no-reply@clinic.example",
            "messageId": "0100018e-ses-message-id",
            "destination": ["alice@example.org"],
        },
        **extra,
    }
    return json.dumps(event)


def notification(message: str, cert_url: str, topic: str = TOPIC) -> dict[str, str]:
    return {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": topic,
        "Subject": "Amazon SES Email Event Notification",
        "Message": message,
        "Timestamp": "2026-03-01T09:00:01.000Z",
        "SigningCertURL": cert_url,
        "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
    }


@pytest.mark.parametrize("version", ["1", "2"])
def test_sns_ses_delivery(
    verifier: SnsVerifier, cert_url: str, signing: tuple[Any, Any], version: str
) -> None:
    _, key = signing
    body = signed(notification(ses_event("Delivery"), cert_url), key, version=version)
    status = ses_status(verifier.verify(body))
    assert (status.provider, status.channel, status.state) == ("ses", "email", "delivered")
    assert status.message_id == "0100018e-ses-message-id"


def test_sns_permanent_bounce_is_an_unusable_address(
    verifier: SnsVerifier, cert_url: str, signing: tuple[Any, Any], https_server: Any
) -> None:
    _, key = signing
    bounce = {"bounceType": "Permanent", "bounceSubType": "General"}
    status = ses_status(
        verifier.verify(signed(notification(ses_event("Bounce", bounce=bounce), cert_url), key))
    )
    assert (status.state, status.unusable_destination) == ("failed", True)
    assert status.error_code == "Permanent/General"
    # A second message uses the certificate already fetched.
    verifier.verify(signed(notification(ses_event("Send"), cert_url), key))
    fetched = [r for r, _ in https_server.log if r.path.endswith(".pem")]
    assert len(fetched) == 1


def test_sns_forgeries_are_rejected(
    verifier: SnsVerifier, cert_url: str, signing: tuple[Any, Any], https_server: Any
) -> None:
    _, key = signing
    body = json.loads(signed(notification(ses_event("Delivery"), cert_url), key))
    tampered = {**body, "Message": ses_event("Bounce")}
    with pytest.raises(CallbackRejected):
        verifier.verify(json.dumps(tampered))
    other_key = make_certificate("attacker")[1]
    with pytest.raises(CallbackRejected):
        verifier.verify(signed(notification(ses_event("Delivery"), cert_url), other_key))
    other_topic = signed(notification(ses_event("Delivery"), cert_url, topic=TOPIC + "-other"), key)
    with pytest.raises(CallbackRejected):
        verifier.verify(other_topic)
    https_server.clear_log()
    # A certificate somewhere else is never even fetched.
    elsewhere = re.sub(r"https://127\.0\.0\.1", "https://localhost", cert_url)
    elsewhere_body = signed(notification(ses_event("Delivery"), elsewhere), key)
    with pytest.raises(CallbackRejected):
        verifier.verify(elsewhere_body)
    assert https_server.log == []
    with pytest.raises(InvalidInput):
        verifier.verify(b"not json")


def test_default_verifier_only_trusts_sns_addresses(
    cert_url: str, signing: tuple[Any, Any]
) -> None:
    _, key = signing
    with pytest.raises(CallbackRejected, match="SigningCertURL"):
        SnsVerifier([TOPIC]).verify(signed(notification(ses_event("Delivery"), cert_url), key))


def test_sns_subscription_confirmation(
    verifier: SnsVerifier, cert_url: str, signing: tuple[Any, Any], https_server: Any
) -> None:
    _, key = signing
    https_server.expect_request("/confirm").respond_with_data("<ConfirmSubscriptionResponse/>")
    confirm_url = https_server.url_for("/confirm") + "?Action=ConfirmSubscription&Token=t0k3n"
    document = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "t0k3n",
        "TopicArn": TOPIC,
        "Message": "You have chosen to subscribe to the topic.",
        "SubscribeURL": confirm_url,
        "Timestamp": "2026-03-01T09:00:00.000Z",
        "SigningCertURL": cert_url,
    }
    message = verifier.verify(signed(document, key))
    verifier.confirm_subscription(message)
    assert [r.path for r, _ in https_server.log if r.path == "/confirm"] == ["/confirm"]


def test_a_sink_is_a_protocol() -> None:
    class Recorder:
        def __init__(self) -> None:
            self.seen: list[DeliveryStatus] = []

        def record_delivery_status(self, status: DeliveryStatus) -> bool:
            self.seen.append(status)
            return True

    assert isinstance(Recorder(), DeliveryStatusSink)


# --- Vonage ------------------------------------------------------------------------------------

VONAGE_SIGNATURE_SECRET = "vonage-signature-secret-0123456789"
VONAGE_MESSAGE = "0A0000000123ABCD"


def vonage_signed(params: dict[str, str], secret: str, method: str = "sha256") -> dict[str, str]:
    """Vonage's documented signing of webhooks: an HMAC (with the chosen hash)
    of '&name=value' for each field sorted by name, '&' and '=' in values
    replaced by '_'; hex, in the `sig` field."""
    digest = hmac.new(secret.encode(), digestmod=getattr(hashlib, method))
    for name in sorted(params):
        digest.update(f"&{name}={params[name].replace('&', '_').replace('=', '_')}".encode())
    return {**params, "sig": digest.hexdigest()}


def receipt(status: str, error: str = "0", *, at: float | None = None) -> dict[str, str]:
    """A delivery receipt as Vonage sends it to the message's callback."""
    import time

    return {
        "msisdn": "14155550123",
        "to": "Clinic",
        "network-code": "310090",
        "messageId": VONAGE_MESSAGE,
        "price": "0.03330000",
        "status": status,
        "scts": "2603010900",
        "err-code": error,
        "api-key": "abcd1234",
        "message-timestamp": "2026-03-01 09:00:00",
        "timestamp": str(int(time.time() if at is None else at)),
    }


def read_receipt(params: dict[str, str], **options: Any) -> DeliveryStatus:
    require("vonage")
    from mfakit.delivery_status import vonage_status

    options.setdefault("signature_secret", VONAGE_SIGNATURE_SECRET)
    return vonage_status(params, api_key="abcd1234", **options)


@pytest.mark.parametrize("method", ["md5", "sha1", "sha256", "sha512"])
def test_vonage_delivered(method: str) -> None:
    params = vonage_signed(receipt("delivered"), VONAGE_SIGNATURE_SECRET, method)
    status = read_receipt(params, signature_method=method)
    assert status == DeliveryStatus(
        provider="vonage",
        channel="sms",
        message_id=VONAGE_MESSAGE,
        state="delivered",
        provider_status="delivered",
    )
    assert "14155550123" not in repr(status)


def test_vonage_failed_to_an_illegal_number_is_unusable() -> None:
    status = read_receipt(vonage_signed(receipt("failed", "9"), VONAGE_SIGNATURE_SECRET))
    assert (status.state, status.error_code, status.unusable_destination) == ("failed", "9", True)
    busy = read_receipt(vonage_signed(receipt("expired", "7"), VONAGE_SIGNATURE_SECRET))
    assert (busy.state, busy.error_code, busy.unusable_destination) == ("failed", "7", False)
    accepted = read_receipt(vonage_signed(receipt("accepted"), VONAGE_SIGNATURE_SECRET))
    assert (accepted.state, accepted.error_code) == ("sent", None)


def test_vonage_forged_receipts_are_rejected() -> None:
    good = vonage_signed(receipt("failed", "9"), VONAGE_SIGNATURE_SECRET)
    with pytest.raises(CallbackRejected):
        read_receipt({**good, "status": "delivered", "err-code": "0"})  # tampered
    with pytest.raises(CallbackRejected):
        read_receipt({k: v for k, v in good.items() if k != "sig"})  # unsigned
    with pytest.raises(CallbackRejected):
        read_receipt(vonage_signed(receipt("delivered"), "another-secret"))
    with pytest.raises(CallbackRejected):
        read_receipt(good, signature_method="sha512")  # signed with sha256
    old = vonage_signed(receipt("delivered", at=1_700_000_000), VONAGE_SIGNATURE_SECRET)
    with pytest.raises(CallbackRejected, match="too old"):
        read_receipt(old)  # a replay of a receipt signed long ago
    assert read_receipt(old, now=lambda: 1_700_000_100.0).state == "delivered"


def test_vonage_signed_nonsense_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        read_receipt(vonage_signed(receipt("teleported"), VONAGE_SIGNATURE_SECRET))
    with pytest.raises(InvalidInput):
        read_receipt(vonage_signed(receipt("delivered", "x; drop"), VONAGE_SIGNATURE_SECRET))
    with pytest.raises(InvalidInput):
        read_receipt(receipt("delivered"), signature_method="crc32")
