"""The example app's provider switch and delivery-status hooks: environment
variables pick a real provider per channel (the dev inbox by default), the
chosen adapter really sends (Twilio's client, to a local server), and the
status callback route accepts only a correctly signed request."""

from __future__ import annotations

import base64
import hashlib
import hmac
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
