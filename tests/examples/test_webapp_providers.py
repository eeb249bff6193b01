"""The example app's provider switch and delivery-status hooks: environment
variables pick a real provider per channel (the dev inbox by default), the
chosen adapter really sends (Twilio's and Vonage's SDKs to local servers,
boto3 to moto), and the status callback routes accept only a correctly signed
request and record the status on the challenge and in the audit log."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import mfakit
from tests.providers.conftest import ACCOUNT_SID, AUTH_TOKEN, require

require("flask")

from examples.webapp import create_app  # noqa: E402 - after the skip check
from examples.webapp.delivery import make_senders  # noqa: E402

MESSAGES = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
SMS_SID = "SM" + "ab" * 16
EMAIL_FROM = "no-reply@clinic.example"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:mfa-email-events"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("MFAKIT_SMS_PROVIDER", "MFAKIT_VOICE_PROVIDER", "MFAKIT_EMAIL_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    return monkeypatch


def make_app(tmp_path: Path) -> Any:
    return create_app(
        {
            "DATABASE": str(tmp_path / "app.db"),
            "MFA_SECRET_KEY": "1bfdff8ae5b4e19754767960e825cefbcfa831318507d40247d6e6c9acbe02b0",
            "SECRET_KEY": "provider switch tests session key",
            "FAST_HASHING": True,
            "ECHO_MESSAGES": False,
        }
    )


@pytest.fixture
def app(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> Iterator[Any]:
    application = make_app(tmp_path)
    yield application
    application.extensions["webapp"].close()


def test_defaults_to_the_dev_inbox(app: Any) -> None:
    services = app.extensions["webapp"]
    assert services.senders_description == "SMS: dev inbox; voice: dev inbox; email: dev inbox"


def test_twilio_is_chosen_by_environment_and_really_sends(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, http_server: Any
) -> None:
    require("twilio")
    http_server.expect_request(MESSAGES, method="POST").respond_with_json(
        {"sid": SMS_SID, "status": "queued"}, status=201
    )
    clean_env.setenv("MFAKIT_SMS_PROVIDER", "twilio")
    clean_env.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    clean_env.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    clean_env.setenv("TWILIO_FROM", "+14155550100")
    clean_env.setenv("TWILIO_API_BASE_URL", http_server.url_for("/"))
    application = make_app(tmp_path)
    try:
        services = application.extensions["webapp"]
        assert services.senders_description == "SMS: Twilio; voice: dev inbox; email: dev inbox"
        actor = mfakit.Actor.user("u-1", reauthenticated_at=datetime.now(timezone.utc))
        services.mfa.begin_phone_enrolment(actor, "u-1", "+1 415 555 0123")
        ((request, _),) = http_server.log
        assert request.form["To"] == "+14155550123"
        assert request.form["From"] == "+14155550100"
        assert services.outbox.messages == []  # it went to Twilio, not the dev inbox
    finally:
        application.extensions["webapp"].close()


def test_twilio_verify_is_chosen_by_environment_and_checks_the_codes(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, http_server: Any
) -> None:
    require("twilio")
    service = "VA" + "00112233445566778899aabbccddeeff"
    ref = "VE" + "12" * 16
    verifications = f"/v2/Services/{service}/Verifications"
    check = f"/v2/Services/{service}/VerificationCheck"
    http_server.expect_request(verifications, method="POST").respond_with_json(
        {"sid": ref, "status": "pending"}, status=201
    )
    http_server.expect_request(check, method="POST").respond_with_json(
        {"sid": ref, "status": "approved"}
    )
    clean_env.setenv("MFAKIT_SMS_PROVIDER", "twilio-verify")
    clean_env.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    clean_env.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    clean_env.setenv("TWILIO_VERIFY_SERVICE_SID", service)
    clean_env.setenv("TWILIO_API_BASE_URL", http_server.url_for("/"))
    application = make_app(tmp_path)
    try:
        services = application.extensions["webapp"]
        assert services.senders_description.startswith("SMS: Twilio Verify;")
        actor = mfakit.Actor.user("u-1", reauthenticated_at=datetime.now(timezone.utc))
        sent = services.mfa.begin_phone_enrolment(actor, "u-1", "+1 415 555 0123")
        assert sent.ok
        assert services.mfa.verify(sent.challenge.id, "482913").ok  # Twilio approved it
        start, checked = (request for request, _ in http_server.log)
        assert start.path == verifications and start.form["To"] == "+14155550123"
        assert checked.path == check and checked.form.to_dict() == {
            "VerificationSid": ref,
            "Code": "482913",
        }
        assert services.outbox.messages == []
    finally:
        application.extensions["webapp"].close()


def test_bad_choices_stop_the_app_naming_the_setting(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(mfakit.ConfigurationError, match="MFAKIT_SMS_PROVIDER"):
        make_senders(object(), {"MFAKIT_SMS_PROVIDER": "carrier-pigeon"})
    with pytest.raises(mfakit.ConfigurationError, match="VONAGE_API_KEY"):
        make_senders(object(), {"MFAKIT_SMS_PROVIDER": "vonage"})
    with pytest.raises(mfakit.ConfigurationError, match="MFAKIT_EMAIL_FROM"):
        make_senders(object(), {"MFAKIT_EMAIL_PROVIDER": "smtp", "SMTP_HOST": "mail.test"})


def signature(url: str, params: dict[str, str]) -> str:
    payload = url + "".join(k + params[k] for k in sorted(params))
    digest = hmac.new(AUTH_TOKEN.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def test_twilio_status_hook(app: Any, clean_env: pytest.MonkeyPatch) -> None:
    require("twilio")
    client = app.test_client()
    params = {"MessageSid": SMS_SID, "MessageStatus": "undelivered", "ErrorCode": "30006"}
    url = "http://localhost/hooks/twilio-status"
    assert client.post("/hooks/twilio-status", data=params).status_code == 404  # not configured
    clean_env.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    forged = client.post(
        "/hooks/twilio-status",
        data={**params, "MessageStatus": "delivered"},
        headers={"X-Twilio-Signature": signature(url, params)},
    )
    assert forged.status_code == 403
    good = client.post(
        "/hooks/twilio-status", data=params, headers={"X-Twilio-Signature": signature(url, params)}
    )
    assert good.status_code == 204  # no CSRF token needed: the signature authenticates it
    (status,) = app.extensions["webapp"].statuses.statuses
    assert (status.message_id, status.state, status.error_code) == (SMS_SID, "failed", "30006")
    # No challenge of this app sent that message: the MFA found none to update.
    assert not app.extensions["webapp"].mfa.record_delivery_status(status)
    inbox = client.get("/dev/inbox").get_data(as_text=True)
    assert SMS_SID in inbox and "failed (unusable destination)" in inbox


def enrolment_actor() -> mfakit.Actor:
    return mfakit.Actor.user("u-1", reauthenticated_at=datetime.now(timezone.utc))


def test_twilio_status_is_recorded_on_the_challenge_that_sent_it(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, http_server: Any
) -> None:
    """The whole loop: the app sends through Twilio (a local server), Twilio
    calls /hooks/twilio-status back, the challenge shows the delivery and the
    audit log has it."""
    require("twilio")
    http_server.expect_request(MESSAGES, method="POST").respond_with_json(
        {"sid": SMS_SID, "status": "queued"}, status=201
    )
    for name, value in {
        "MFAKIT_SMS_PROVIDER": "twilio",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM": "+14155550100",
        "TWILIO_API_BASE_URL": http_server.url_for("/"),
        "TWILIO_STATUS_CALLBACK": "http://localhost/hooks/twilio-status",
    }.items():
        clean_env.setenv(name, value)
    application = make_app(tmp_path)
    try:
        services = application.extensions["webapp"]
        sent = services.mfa.begin_phone_enrolment(enrolment_actor(), "u-1", "+1 415 555 0123")
        ((request, _),) = http_server.log
        assert request.form["StatusCallback"] == "http://localhost/hooks/twilio-status"
        params = {"MessageSid": SMS_SID, "MessageStatus": "delivered"}
        url = "http://localhost/hooks/twilio-status"
        answer = application.test_client().post(
            "/hooks/twilio-status",
            data=params,
            headers={"X-Twilio-Signature": signature(url, params)},
        )
        assert answer.status_code == 204
        assert services.mfa.get_challenge(sent.challenge.id).delivery == "delivered"
        (event,) = [e for e in services.audit.list_events("u-1") if e.action == "code.delivery"]
        assert dict(event.details)["state"] == "delivered"
        assert "+14155550123" not in repr(event)
    finally:
        application.extensions["webapp"].close()


def test_sns_and_ses_are_chosen_by_environment_and_really_send(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, moto: Any
) -> None:
    """Region, credentials and the endpoint come from the usual AWS chain (here
    AWS_ENDPOINT_URL points boto3 at moto); nothing goes to the dev inbox."""
    import boto3

    boto3.client("sesv2", endpoint_url=moto.url).create_email_identity(EmailIdentity=EMAIL_FROM)
    clean_env.setenv("MFAKIT_SMS_PROVIDER", "sns")
    clean_env.setenv("MFAKIT_EMAIL_PROVIDER", "ses")
    clean_env.setenv("MFAKIT_EMAIL_FROM", EMAIL_FROM)
    clean_env.setenv("MFAKIT_SNS_SENDER_ID", "Clinic")
    clean_env.setenv("AWS_ENDPOINT_URL", moto.url)
    application = make_app(tmp_path)
    try:
        services = application.extensions["webapp"]
        assert services.senders_description == (
            "SMS: Amazon SNS; voice: dev inbox; email: Amazon SES"
        )
        assert services.mfa.begin_phone_enrolment(enrolment_actor(), "u-1", "+1 415 555 0123").ok
        (sms,) = moto.sms()
        assert sms["phone_number"] == "+14155550123"
        assert services.mfa.begin_email_enrolment(enrolment_actor(), "u-1", "alice@example.org").ok
        (email,) = moto.emails()
        assert email["destinations"]["ToAddresses"] == ["alice@example.org"]
        assert services.outbox.messages == []
    finally:
        application.extensions["webapp"].close()


def test_vonage_is_chosen_by_environment_sends_and_its_receipts_land(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, https_server: Any
) -> None:
    """Vonage's SDK sends to a local HTTPS server, asking for receipts at the
    app's hook; a signed receipt is recorded on the challenge, a forged one is
    refused."""
    require("vonage")
    from tests.providers.test_delivery_status import receipt, vonage_signed

    https_server.expect_request("/sms/json", method="POST").respond_with_json(
        {"message-count": "1", "messages": [{"status": "0", "message-id": "0A00000001"}]}
    )
    for name, value in {
        "MFAKIT_SMS_PROVIDER": "vonage",
        "VONAGE_API_KEY": "abcd1234",
        "VONAGE_API_SECRET": "vonage-secret-Zx81",
        "VONAGE_FROM": "Clinic",
        "VONAGE_REST_HOST": f"127.0.0.1:{https_server.port}",
        "VONAGE_STATUS_CALLBACK": "https://app.example/hooks/vonage-receipts",
    }.items():
        clean_env.setenv(name, value)
    clean_env.delenv("VONAGE_SIGNATURE_SECRET", raising=False)
    application = make_app(tmp_path)
    try:
        services = application.extensions["webapp"]
        client = application.test_client()
        assert services.senders_description.startswith("SMS: Vonage;")
        sent = services.mfa.begin_phone_enrolment(enrolment_actor(), "u-1", "+1 415 555 0123")
        assert sent.ok
        ((request, _),) = https_server.log
        assert request.path == "/sms/json"
        assert request.form["to"] == "14155550123" and request.form["from"] == "Clinic"
        assert request.form["callback"] == "https://app.example/hooks/vonage-receipts"
        assert services.outbox.messages == []

        params = {**receipt("delivered"), "messageId": "0A00000001"}
        good = vonage_signed(params, "signature-secret-for-the-demo", "sha512")
        assert client.get("/hooks/vonage-receipts", query_string=good).status_code == 404
        clean_env.setenv("VONAGE_SIGNATURE_SECRET", "signature-secret-for-the-demo")
        clean_env.setenv("VONAGE_SIGNATURE_METHOD", "sha512")
        forged = {**good, "status": "failed"}
        assert client.post("/hooks/vonage-receipts", data=forged).status_code == 403
        assert services.mfa.get_challenge(sent.challenge.id).delivery is None
        assert client.post("/hooks/vonage-receipts", json=good).status_code == 204
        assert services.mfa.get_challenge(sent.challenge.id).delivery == "delivered"
        (status,) = services.statuses.statuses
        assert (status.provider, status.message_id) == ("vonage", "0A00000001")
    finally:
        application.extensions["webapp"].close()


def test_ses_events_hook_checks_the_sns_signature_and_records_the_bounce(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, moto: Any, https_server: Any, tls: Any
) -> None:
    """SES sends (moto), its Bounce event arrives through SNS at
    /hooks/ses-events, signed with a key made here (its certificate served
    over TLS by a local server): a forgery is refused, the real one lands on
    the challenge and in the audit log."""
    import ssl

    import boto3
    from cryptography.hazmat.primitives import serialization

    from mfakit.delivery_status import SnsVerifier
    from tests.providers.conftest import make_certificate
    from tests.providers.test_delivery_status import notification, ses_event, signed

    boto3.client("sesv2", endpoint_url=moto.url).create_email_identity(EmailIdentity=EMAIL_FROM)
    clean_env.setenv("MFAKIT_EMAIL_PROVIDER", "ses")
    clean_env.setenv("MFAKIT_EMAIL_FROM", EMAIL_FROM)
    clean_env.setenv("AWS_ENDPOINT_URL", moto.url)
    cert, key = make_certificate("sns.amazonaws.com")
    https_server.expect_request("/SimpleNotificationService-test.pem").respond_with_data(
        cert.public_bytes(serialization.Encoding.PEM), content_type="application/x-pem-file"
    )
    cert_url = https_server.url_for("/SimpleNotificationService-test.pem")
    application = make_app(tmp_path)
    try:
        services = application.extensions["webapp"]
        client = application.test_client()
        sent = services.mfa.begin_email_enrolment(enrolment_actor(), "u-1", "alice@example.org")
        (email,) = moto.emails()
        bounce = {"bounceType": "Permanent", "bounceSubType": "General"}
        event = json.loads(ses_event("Bounce", bounce=bounce))
        event["mail"]["messageId"] = email["id"]
        body = signed(notification(json.dumps(event), cert_url), key)

        assert client.post("/hooks/ses-events", data=body).status_code == 404  # not configured
        clean_env.setenv("MFAKIT_SES_EVENTS_TOPIC_ARN", TOPIC)
        # The app's verifier, trusting the local certificate server instead of sns.*.amazonaws.com.
        application.extensions["webapp.sns"] = SnsVerifier(
            [TOPIC],
            url_pattern=r"https://127\.0\.0\.1:\d+/",
            ssl_context=ssl.create_default_context(cafile=str(tls.cert_file)),
        )
        forged = json.loads(body)
        forged["Message"] = forged["Message"].replace("Permanent", "Transient")
        assert client.post("/hooks/ses-events", data=json.dumps(forged)).status_code == 403
        assert client.post("/hooks/ses-events", data=b"not json").status_code == 400
        assert services.mfa.get_challenge(sent.challenge.id).delivery is None

        assert client.post("/hooks/ses-events", data=body).status_code == 204
        view = services.mfa.get_challenge(sent.challenge.id)
        assert (view.delivery, view.delivery_error) == ("failed", "Permanent/General")
        (audited,) = [e for e in services.audit.list_events("u-1") if e.action == "code.delivery"]
        assert dict(audited.details)["provider"] == "ses"
        assert "alice@example.org" not in repr(audited)
        (status,) = services.statuses.statuses
        assert status.unusable_destination
    finally:
        application.extensions["webapp"].close()
