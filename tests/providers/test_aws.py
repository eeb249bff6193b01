"""The AWS adapters through the real ``boto3`` and ``aiobotocore`` clients.

Sends go to moto in server mode on a loopback port and are read back from
moto's own state (``/moto-api/data.json``). What moto cannot produce (SNS
throttling and authorization errors, a slow answer) comes from a
pytest-httpserver speaking the AWS protocol to the same real clients, which
also lets the tests check the exact request (SMS attributes, signed
credentials from the environment)."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest

from mfakit.errors import (
    ConfigurationError,
    DeliveryError,
    DeliveryUncertain,
    DestinationOptedOut,
    InvalidDestination,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
)
from mfakit.testing.senders import (
    AsyncEmailSenderContract,
    AsyncSmsSenderContract,
    EmailSenderContract,
    Received,
    SmsSenderContract,
)

from .conftest import Moto, closed_port, require

require("boto3")
require("aiobotocore")
require("pytest_httpserver")

from werkzeug import Request, Response  # noqa: E402 - after the skip checks

from mfakit.adapters.aws import (  # noqa: E402
    AsyncSesEmailSender,
    AsyncSnsSmsSender,
    SesEmailSender,
    SnsSmsSender,
)

FROM = "no-reply@clinic.example"
TO = "+14155550123"
ALICE = "alice@example.org"
SNS_NS = "http://sns.amazonaws.com/doc/2010-03-31/"


def dead_url() -> str:
    return f"http://127.0.0.1:{closed_port()}"


def verify_sender(moto: Moto) -> None:
    import boto3

    boto3.client("sesv2", endpoint_url=moto.url).create_email_identity(EmailIdentity=FROM)


# --- the contract suite against moto ----------------------------------------------------


class _SnsFixtures:
    @pytest.fixture
    def received(self, moto: Moto) -> Callable[[], list[Received]]:
        return lambda: [Received(to=m["phone_number"], text=m["message"]) for m in moto.sms()]


class TestSnsSmsContract(_SnsFixtures, SmsSenderContract):
    @pytest.fixture
    def sender(self, moto: Moto) -> SnsSmsSender:
        return SnsSmsSender(endpoint_url=moto.url)

    @pytest.fixture
    def broken_sender(self, aws_env: None) -> SnsSmsSender:
        return SnsSmsSender(endpoint_url=dead_url(), retry_delay=0)


class TestAsyncSnsSmsContract(_SnsFixtures, AsyncSmsSenderContract):
    @pytest.fixture
    def sender(self, moto: Moto) -> AsyncSnsSmsSender:
        return AsyncSnsSmsSender(endpoint_url=moto.url)

    @pytest.fixture
    def broken_sender(self, aws_env: None) -> AsyncSnsSmsSender:
        return AsyncSnsSmsSender(endpoint_url=dead_url(), retry_delay=0)


class _SesFixtures:
    @pytest.fixture
    def received(self, moto: Moto) -> Callable[[], list[Received]]:
        # moto keeps the HTML part of a two-part email (and the text part only
        # when there is no HTML): both hold the code.
        def read() -> list[Received]:
            return [
                Received(
                    to=m["destinations"]["ToAddresses"][0],
                    text=m["body"],
                    subject=m["subject"],
                    html=m["body"],
                )
                for m in moto.emails()
            ]

        return read


class TestSesEmailContract(_SesFixtures, EmailSenderContract):
    @pytest.fixture
    def sender(self, moto: Moto) -> SesEmailSender:
        verify_sender(moto)
        return SesEmailSender(FROM, endpoint_url=moto.url)

    @pytest.fixture
    def broken_sender(self, moto: Moto) -> SesEmailSender:
        return SesEmailSender(FROM, endpoint_url=moto.url)  # the sender is not verified


class TestAsyncSesEmailContract(_SesFixtures, AsyncEmailSenderContract):
    @pytest.fixture
    def sender(self, moto: Moto) -> AsyncSesEmailSender:
        verify_sender(moto)
        return AsyncSesEmailSender(FROM, endpoint_url=moto.url)

    @pytest.fixture
    def broken_sender(self, aws_env: None) -> AsyncSesEmailSender:
        return AsyncSesEmailSender(FROM, endpoint_url=dead_url(), retry_delay=0)


# --- moto: what arrives, and what it refuses -----------------------------------------------


def test_sns_sms_arrives_with_its_message_id(moto: Moto) -> None:
    sender = SnsSmsSender(endpoint_url=moto.url, sender_id="Clinic")
    message_id = sender.send_sms(TO, "482913 is your code.")
    assert moto.sms() == [
        {"message": "482913 is your code.", "message_id": message_id, "phone_number": TO}
    ]


def test_sns_opted_out_number_is_refused_before_sending(moto: Moto) -> None:
    # moto answers "opted out" for numbers ending in 99, as the real
    # CheckIfPhoneNumberIsOptedOut would for a number that replied STOP.
    sender = SnsSmsSender(endpoint_url=moto.url, check_opt_out=True)
    with pytest.raises(DestinationOptedOut) as caught:
        sender.send_sms("+14155550199", "482913 is your code.")
    assert caught.value.reason == "opted_out" and caught.value.unusable_destination
    assert moto.sms() == []
    sender.send_sms(TO, "482913 is your code.")
    assert len(moto.sms()) == 1


def test_ses_email_has_text_and_html_parts(moto: Moto) -> None:
    verify_sender(moto)
    message_id = SesEmailSender(FROM, endpoint_url=moto.url).send_email(
        "alice@example.org", "Your code", "Code: 482913 <not a tag>", locale="fr"
    )
    (stored,) = moto.emails()
    assert stored["id"] == message_id and stored["source"] == FROM
    assert stored["subject"] == "Your code"
    assert "Code: 482913 &lt;not a tag&gt;" in stored["body"]  # escaped, never raw HTML
    assert '<html lang="fr">' in stored["body"]


def test_ses_sandbox_rejection_is_mapped(moto: Moto) -> None:
    # SES in the sandbox (and moto) refuse a sender that is not verified.
    with pytest.raises(ProviderError) as caught:
        SesEmailSender(FROM, endpoint_url=moto.url).send_email("alice@example.org", "S", "482913")
    error = caught.value
    assert error.reason == "rejected" and error.provider_code == "MessageRejected"
    assert error.retryable is False
    assert "alice@example.org" not in str(error) and "482913" not in str(error)
    assert moto.emails() == []


@pytest.mark.asyncio
async def test_async_ses_sandbox_rejection_is_mapped(moto: Moto) -> None:
    with pytest.raises(ProviderError) as caught:
        await AsyncSesEmailSender(FROM, endpoint_url=moto.url).send_email("a@example.org", "S", "1")
    assert caught.value.reason == "rejected"


# --- the AWS protocol from a local server: exact requests and mapped errors ---------------


def sns_ok(request: Request) -> Response:
    body = (
        f'<PublishResponse xmlns="{SNS_NS}"><PublishResult>'
        "<MessageId>5b2e9a3c-0000-4000-8000-000000000001</MessageId></PublishResult>"
        "<ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></PublishResponse>"
    )
    return Response(body, status=200, content_type="text/xml")


def sns_error(status: int, code: str, message: str) -> Callable[[Request], Response]:
    def handler(request: Request) -> Response:
        body = (
            f'<ErrorResponse xmlns="{SNS_NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
            f"<Message>{message}</Message></Error><RequestId>r-2</RequestId></ErrorResponse>"
        )
        return Response(body, status=status, content_type="text/xml")

    return handler


def form_of(request: Request) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(request.get_data(as_text=True)))


def test_sns_publish_request_carries_the_sms_attributes(http_server: Any, aws_env: None) -> None:
    http_server.expect_request("/", method="POST").respond_with_handler(sns_ok)
    sender = SnsSmsSender(
        endpoint_url=http_server.url_for("/"),
        sender_id="Clinic",
        origination_number="+14155550100",
        max_price="0.50",
    )
    assert sender.send_sms(TO, "482913 is your code.") == "5b2e9a3c-0000-4000-8000-000000000001"
    ((request, _),) = http_server.log
    form = form_of(request)
    assert form["Action"] == "Publish" and form["PhoneNumber"] == TO
    assert form["Message"] == "482913 is your code."
    attributes = {
        form[f"MessageAttributes.entry.{n}.Name"]: (
            form[f"MessageAttributes.entry.{n}.Value.DataType"],
            form[f"MessageAttributes.entry.{n}.Value.StringValue"],
        )
        for n in range(1, 5)
    }
    assert attributes == {
        "AWS.SNS.SMS.SMSType": ("String", "Transactional"),
        "AWS.SNS.SMS.SenderID": ("String", "Clinic"),
        "AWS.MM.SMS.OriginationNumber": ("String", "+14155550100"),
        "AWS.SNS.SMS.MaxPrice": ("Number", "0.50"),
    }
    # Credentials and region came from the usual chain (here: the environment).
    authorization = request.headers["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDTESTTESTTESTTEST/")
    assert "/eu-west-1/sns/aws4_request" in authorization


# (HTTP status, AWS error code, message, the error, unusable destination, retryable, tries)
SNS_ERRORS = [
    (429, "Throttled", "Rate exceeded", ProviderRateLimited, False, True, 2),
    (403, "AuthorizationError", "User is not authorized", ProviderAuthError, False, False, 1),
    (
        400,
        "InvalidParameter",
        "Invalid parameter: PhoneNumber Reason: +14155550123 is not valid to publish to",
        InvalidDestination,
        True,
        False,
        1,
    ),
    (400, "InvalidParameter", "Invalid parameter: SenderID", ProviderError, False, False, 1),
    (500, "InternalError", "Internal error", ProviderError, False, False, 1),
]
SNS_ERROR_FIELDS = ("status", "code", "message", "kind", "unusable", "retryable", "tries")


def check_mapped(
    error: DeliveryError, kind: type[DeliveryError], code: str, unusable: bool, retryable: bool
) -> None:
    assert type(error) is kind
    assert error.provider_code == code
    assert error.unusable_destination is unusable and error.retryable is retryable
    assert TO not in str(error) and "482913" not in str(error)
    assert "alice@example.org" not in str(error)


@pytest.mark.parametrize(SNS_ERROR_FIELDS, SNS_ERRORS)
def test_sns_errors_are_mapped(
    http_server: Any,
    aws_env: None,
    status: int,
    code: str,
    message: str,
    kind: type[DeliveryError],
    unusable: bool,
    retryable: bool,
    tries: int,
) -> None:
    http_server.expect_request("/").respond_with_handler(sns_error(status, code, message))
    sender = SnsSmsSender(endpoint_url=http_server.url_for("/"), retry_delay=0)
    with pytest.raises(DeliveryError) as caught:
        sender.send_sms(TO, "482913 is your code.")
    check_mapped(caught.value, kind, code, unusable, retryable)
    assert caught.value.provider == "sns"
    # botocore's own retries are off: one request, two only for throttling.
    assert len(http_server.log) == tries


@pytest.mark.parametrize(SNS_ERROR_FIELDS, SNS_ERRORS)
@pytest.mark.asyncio
async def test_async_sns_errors_are_mapped(
    http_server: Any,
    aws_env: None,
    status: int,
    code: str,
    message: str,
    kind: type[DeliveryError],
    unusable: bool,
    retryable: bool,
    tries: int,
) -> None:
    http_server.expect_request("/").respond_with_handler(sns_error(status, code, message))
    sender = AsyncSnsSmsSender(endpoint_url=http_server.url_for("/"), retry_delay=0)
    with pytest.raises(DeliveryError) as caught:
        await sender.send_sms(TO, "482913 is your code.")
    check_mapped(caught.value, kind, code, unusable, retryable)
    assert len(http_server.log) == tries


def test_sns_throttled_then_sent(http_server: Any, aws_env: None) -> None:
    answers = iter([sns_error(429, "Throttled", "Rate exceeded"), sns_ok])
    http_server.expect_request("/").respond_with_handler(lambda r: next(answers)(r))
    sender = SnsSmsSender(endpoint_url=http_server.url_for("/"), retry_delay=0)
    assert sender.send_sms(TO, "482913 is your code.")
    assert len(http_server.log) == 2


def test_sns_read_timeout_is_uncertain_and_not_retried(http_server: Any, aws_env: None) -> None:
    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return sns_ok(request)

    http_server.expect_request("/").respond_with_handler(slow)
    sender = SnsSmsSender(endpoint_url=http_server.url_for("/"), read_timeout=0.3, retry_delay=0)
    with pytest.raises(DeliveryUncertain):
        sender.send_sms(TO, "482913 is your code.")
    time.sleep(0.8)
    assert len(http_server.log) == 1


@pytest.mark.asyncio
async def test_async_sns_request_errors_and_retry(http_server: Any, aws_env: None) -> None:
    answers = iter(
        [
            sns_error(429, "Throttled", "Rate exceeded"),
            sns_ok,
            sns_error(403, "AuthorizationError", "no"),
        ]
    )
    http_server.expect_request("/").respond_with_handler(lambda r: next(answers)(r))
    sender = AsyncSnsSmsSender(endpoint_url=http_server.url_for("/"), retry_delay=0)
    assert await sender.send_sms(TO, "482913 is your code.")
    assert len(http_server.log) == 2
    form = form_of(http_server.log[1][0])
    assert form["MessageAttributes.entry.1.Name"] == "AWS.SNS.SMS.SMSType"
    assert form["MessageAttributes.entry.1.Value.StringValue"] == "Transactional"
    with pytest.raises(ProviderAuthError):
        await sender.send_sms(TO, "482913 is your code.")
    assert len(http_server.log) == 3


def test_ses_request_has_both_parts(http_server: Any, aws_env: None) -> None:
    http_server.expect_request("/v2/email/outbound-emails", method="POST").respond_with_json(
        {"MessageId": "0100018e-ses-id"}
    )
    sender = SesEmailSender(
        FROM,
        endpoint_url=http_server.url_for("/"),
        reply_to="help@clinic.example",
        configuration_set="mfa-events",
    )
    html = "<p>Your code is <b>482913</b></p>"
    assert sender.send_email("alice@example.org", "Your code", "482913", html=html) == (
        "0100018e-ses-id"
    )
    ((request, _),) = http_server.log
    assert json.loads(request.get_data()) == {
        "FromEmailAddress": FROM,
        "Destination": {"ToAddresses": ["alice@example.org"]},
        "ReplyToAddresses": ["help@clinic.example"],
        "ConfigurationSetName": "mfa-events",
        "Content": {
            "Simple": {
                "Subject": {"Data": "Your code", "Charset": "UTF-8"},
                "Body": {
                    "Text": {"Data": "482913", "Charset": "UTF-8"},
                    "Html": {"Data": html, "Charset": "UTF-8"},
                },
            }
        },
    }


SES_ERRORS = [
    # SES v2 throttling (sending rate) and SES's older word for it
    (429, "TooManyRequestsException", ProviderRateLimited, True),
    (400, "Throttling", ProviderRateLimited, True),
    # the sandbox: an unverified sender or recipient
    (400, "MessageRejected", ProviderError, False),
    (400, "SendingPausedException", ProviderError, False),
    (403, "AccessDeniedException", ProviderAuthError, False),
]


@pytest.mark.parametrize(("status", "code", "kind", "retryable"), SES_ERRORS)
def test_ses_errors_are_mapped(
    http_server: Any,
    aws_env: None,
    status: int,
    code: str,
    kind: type[DeliveryError],
    retryable: bool,
) -> None:
    http_server.expect_request("/v2/email/outbound-emails").respond_with_json(
        {"message": "refused"}, status=status, headers={"x-amzn-ErrorType": code}
    )
    sender = SesEmailSender(FROM, endpoint_url=http_server.url_for("/"), retry_delay=0)
    with pytest.raises(DeliveryError) as caught:
        sender.send_email("alice@example.org", "Your code", "482913")
    check_mapped(caught.value, kind, code, False, retryable)
    assert caught.value.provider == "ses"
    assert len(http_server.log) == (2 if retryable else 1)


@pytest.mark.parametrize(("status", "code", "kind", "retryable"), SES_ERRORS)
@pytest.mark.asyncio
async def test_async_ses_errors_are_mapped(
    http_server: Any,
    aws_env: None,
    status: int,
    code: str,
    kind: type[DeliveryError],
    retryable: bool,
) -> None:
    http_server.expect_request("/v2/email/outbound-emails").respond_with_json(
        {"message": "refused"}, status=status, headers={"x-amzn-ErrorType": code}
    )
    sender = AsyncSesEmailSender(FROM, endpoint_url=http_server.url_for("/"), retry_delay=0)
    with pytest.raises(DeliveryError) as caught:
        await sender.send_email("alice@example.org", "Your code", "482913")
    check_mapped(caught.value, kind, code, False, retryable)
    assert len(http_server.log) == (2 if retryable else 1)


def test_clients_have_bounded_timeouts_and_no_retries_of_their_own(aws_env: None) -> None:
    """5 s to connect, 10 s to read by default; botocore's retries off (it would
    retry a read timeout and so send a second code)."""
    for sender in (SnsSmsSender(), SesEmailSender(FROM)):
        config = sender._client.meta.config
        assert (config.connect_timeout, config.read_timeout) == (5.0, 10.0)
        assert config.retries["total_max_attempts"] == 1
    for aio in (AsyncSnsSmsSender(), AsyncSesEmailSender(FROM)):
        assert (aio._aio_config.connect_timeout, aio._aio_config.read_timeout) == (5.0, 10.0)
        assert aio._aio_config.retries["total_max_attempts"] == 1


def test_missing_region_is_a_configuration_error(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(ConfigurationError, match="region"):
        SnsSmsSender()
    with pytest.raises(ConfigurationError, match="region"):
        AsyncSesEmailSender(FROM)


def test_configuration_is_checked(aws_env: None) -> None:
    with pytest.raises(ConfigurationError):
        SnsSmsSender(sms_type="Urgent")
    with pytest.raises(ConfigurationError):
        SnsSmsSender(sender_id="Far too long a sender")
    with pytest.raises(ConfigurationError):
        SnsSmsSender(origination_number="4155550100")
    with pytest.raises(ConfigurationError):
        SesEmailSender("not an address")
    with pytest.raises(ConfigurationError):
        SnsSmsSender(connect_timeout=-1)


@pytest.mark.asyncio
async def test_async_sns_timeout_is_uncertain_and_refusal_retryable(
    http_server: Any, aws_env: None
) -> None:
    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return sns_ok(request)

    http_server.expect_request("/").respond_with_handler(slow)
    sender = AsyncSnsSmsSender(
        endpoint_url=http_server.url_for("/"), read_timeout=0.3, retry_delay=0
    )
    with pytest.raises(DeliveryUncertain):
        await sender.send_sms(TO, "482913 is your code.")
    time.sleep(0.8)
    assert len(http_server.log) == 1
    refused = AsyncSnsSmsSender(endpoint_url=dead_url(), retry_delay=0)
    with pytest.raises(ProviderError) as caught:
        await refused.send_sms(TO, "482913 is your code.")
    assert caught.value.reason == "unreachable" and caught.value.retryable is True


def test_sns_dropped_connection_is_uncertain_and_never_retried(
    dropping_server: Any, aws_env: None
) -> None:
    sender = SnsSmsSender(endpoint_url=dropping_server.url, retry_delay=0)
    with pytest.raises(DeliveryUncertain):
        sender.send_sms(TO, "482913 is your code.")
    assert len(dropping_server.requests) == 1
    assert b"Action=Publish" in dropping_server.requests[0]


@pytest.mark.asyncio
async def test_async_ses_dropped_connection_is_uncertain_and_never_retried(
    dropping_server: Any, aws_env: None
) -> None:
    sender = AsyncSesEmailSender(FROM, endpoint_url=dropping_server.url, retry_delay=0)
    with pytest.raises(DeliveryUncertain):
        await sender.send_email("alice@example.org", "Your code", "482913")
    assert len(dropping_server.requests) == 1


def test_botocore_logs_no_message_while_mfakit_sends(
    moto: Moto, caplog: pytest.LogCaptureFixture
) -> None:
    """botocore.endpoint dumps each request's parameters at DEBUG (the SMS
    text, the email body): dropped while mfakit sends; the host's own calls
    still log."""
    import logging

    import boto3

    verify_sender(moto)
    with caplog.at_level(logging.DEBUG):
        SnsSmsSender(endpoint_url=moto.url).send_sms(TO, "482913 is your code.")
        SesEmailSender(FROM, endpoint_url=moto.url).send_email(ALICE, "Code", "739164")
        boto3.client("sns", endpoint_url=moto.url).list_topics()  # the host's own call
    assert "482913" not in caplog.text and "739164" not in caplog.text
    assert any(
        r.name == "botocore.endpoint" and "ListTopics" in r.getMessage() for r in caplog.records
    )


@pytest.mark.asyncio
async def test_aiobotocore_logs_no_message_while_mfakit_sends(
    moto: Moto, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    verify_sender(moto)
    with caplog.at_level(logging.DEBUG):
        await AsyncSnsSmsSender(endpoint_url=moto.url).send_sms(TO, "482913 is your code.")
        await AsyncSesEmailSender(FROM, endpoint_url=moto.url).send_email(ALICE, "Code", "739164")
    assert "482913" not in caplog.text and "739164" not in caplog.text
    assert len(moto.sms()) == 1 and len(moto.emails()) == 1
