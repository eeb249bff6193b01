"""The Twilio adapters through the real ``twilio`` library, against a local
pytest-httpserver that checks each request (method, path, Basic auth, form
fields, TwiML) and answers with Twilio's documented JSON."""

from __future__ import annotations

import base64
import itertools
import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import pytest

from mfakit.errors import (
    DeliveryError,
    DeliveryUncertain,
    DestinationOptedOut,
    InvalidDestination,
    InvalidInput,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
)
from mfakit.testing.senders import (
    AsyncSmsSenderContract,
    AsyncVoiceSenderContract,
    Received,
    SmsSenderContract,
    VoiceSenderContract,
)

from .conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    MESSAGING_SERVICE,
    VERIFY_SERVICE,
    closed_port,
    require,
)

require("twilio")
require("aiohttp")
require("pytest_httpserver")

from werkzeug import Request, Response  # noqa: E402 - after the skip checks

from mfakit.adapters.twilio import (  # noqa: E402
    AsyncTwilioSmsSender,
    AsyncTwilioVerify,
    AsyncTwilioVoiceSender,
    TwilioSmsSender,
    TwilioVerify,
    TwilioVoiceSender,
)

FROM = "+14155550100"
TO = "+14155550123"
MESSAGES = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
CALLS = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
VERIFICATIONS = f"/v2/Services/{VERIFY_SERVICE}/Verifications"
CHECK = f"/v2/Services/{VERIFY_SERVICE}/VerificationCheck"
BASIC = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
_sids = itertools.count(1)


def sid(prefix: str) -> str:
    return f"{prefix}{next(_sids):032x}"


def json_response(body: dict[str, Any], status: int) -> Response:
    import json

    return Response(json.dumps(body), status=status, content_type="application/json")


def message_created(request: Request) -> Response:
    """Twilio's 201 for Messages.json (the documented fields that matter)."""
    form = request.form
    return json_response(
        {
            "account_sid": ACCOUNT_SID,
            "sid": sid("SM"),
            "to": form["To"],
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form["Body"],
            "status": "queued" if "From" in form else "accepted",
            "num_segments": "1",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "price": None,
            "error_code": None,
            "error_message": None,
            "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/SM.json",
        },
        201,
    )


def call_created(request: Request) -> Response:
    form = request.form
    return json_response(
        {
            "account_sid": ACCOUNT_SID,
            "sid": sid("CA"),
            "to": form["To"],
            "from": form["From"],
            "status": "queued",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
        },
        201,
    )


def twilio_error(status: int, code: int, message: str) -> Callable[[Request], Response]:
    """Twilio's documented error body."""

    def handler(request: Request) -> Response:
        return json_response(
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
            status,
        )

    return handler


def requests_to(server: Any, path: str) -> list[Request]:
    return [request for request, _ in server.log if request.path == path]


def said(twiml: str) -> str:
    """The text of the first <Say> of a TwiML document."""
    root = ET.fromstring(twiml)  # noqa: S314 - our own adapter's output
    say = root.find("Say")
    assert say is not None and say.text is not None
    return say.text


def sms_sender(server: Any, **options: Any) -> TwilioSmsSender:
    options.setdefault("from_", FROM)
    return TwilioSmsSender(ACCOUNT_SID, AUTH_TOKEN, base_url=server.url_for("/"), **options)


def dead_url() -> str:
    return f"http://127.0.0.1:{closed_port()}"


# --- the contract suite -----------------------------------------------------------------


class _SmsFixtures:
    @pytest.fixture
    def received(self, http_server: Any) -> Callable[[], list[Received]]:
        def read() -> list[Received]:
            return [
                Received(to=r.form["To"], text=r.form["Body"])
                for r, answer in http_server.log
                if r.path == MESSAGES and answer.status_code == 201
            ]

        return read

    @pytest.fixture
    def secrets(self) -> list[str]:
        return [AUTH_TOKEN]


class TestTwilioSmsContract(_SmsFixtures, SmsSenderContract):
    @pytest.fixture
    def sender(self, http_server: Any) -> TwilioSmsSender:
        http_server.expect_request(MESSAGES, method="POST").respond_with_handler(message_created)
        return sms_sender(http_server)

    @pytest.fixture
    def broken_sender(self) -> TwilioSmsSender:
        return TwilioSmsSender(
            ACCOUNT_SID, AUTH_TOKEN, from_=FROM, base_url=dead_url(), retry_delay=0
        )


class TestAsyncTwilioSmsContract(_SmsFixtures, AsyncSmsSenderContract):
    @pytest.fixture
    def sender(self, http_server: Any) -> AsyncTwilioSmsSender:
        http_server.expect_request(MESSAGES, method="POST").respond_with_handler(message_created)
        return AsyncTwilioSmsSender(
            ACCOUNT_SID, AUTH_TOKEN, from_=FROM, base_url=http_server.url_for("/")
        )

    @pytest.fixture
    def broken_sender(self) -> AsyncTwilioSmsSender:
        return AsyncTwilioSmsSender(
            ACCOUNT_SID, AUTH_TOKEN, from_=FROM, base_url=dead_url(), retry_delay=0
        )


class _VoiceFixtures:
    @pytest.fixture
    def received(self, http_server: Any) -> Callable[[], list[Received]]:
        def read() -> list[Received]:
            return [
                Received(to=r.form["To"], text=said(r.form["Twiml"]))
                for r, answer in http_server.log
                if r.path == CALLS and answer.status_code == 201
            ]

        return read

    @pytest.fixture
    def secrets(self) -> list[str]:
        return [AUTH_TOKEN]


class TestTwilioVoiceContract(_VoiceFixtures, VoiceSenderContract):
    @pytest.fixture
    def sender(self, http_server: Any) -> TwilioVoiceSender:
        http_server.expect_request(CALLS, method="POST").respond_with_handler(call_created)
        return TwilioVoiceSender(
            ACCOUNT_SID, AUTH_TOKEN, from_=FROM, base_url=http_server.url_for("/")
        )

    @pytest.fixture
    def broken_sender(self) -> TwilioVoiceSender:
        return TwilioVoiceSender(
            ACCOUNT_SID, AUTH_TOKEN, from_=FROM, base_url=dead_url(), retry_delay=0
        )


class TestAsyncTwilioVoiceContract(_VoiceFixtures, AsyncVoiceSenderContract):
    @pytest.fixture
    def sender(self, http_server: Any) -> AsyncTwilioVoiceSender:
        http_server.expect_request(CALLS, method="POST").respond_with_handler(call_created)
        return AsyncTwilioVoiceSender(
            ACCOUNT_SID, AUTH_TOKEN, from_=FROM, base_url=http_server.url_for("/")
        )

    @pytest.fixture
    def broken_sender(self) -> AsyncTwilioVoiceSender:
        return AsyncTwilioVoiceSender(
            ACCOUNT_SID, AUTH_TOKEN, from_=FROM, base_url=dead_url(), retry_delay=0
        )


# --- the exact requests -------------------------------------------------------------------


def test_sms_request_is_exactly_what_twilio_documents(http_server: Any) -> None:
    http_server.expect_request(MESSAGES, method="POST").respond_with_handler(message_created)
    sender = sms_sender(http_server, status_callback="https://app.example/hooks/twilio")
    message_sid = sender.send_sms(TO, "482913 is your code.", locale="fr")
    (request,) = requests_to(http_server, MESSAGES)
    assert request.method == "POST"
    assert request.headers["Authorization"] == BASIC
    assert request.mimetype == "application/x-www-form-urlencoded"
    assert request.form.to_dict() == {
        "To": TO,
        "From": FROM,
        "Body": "482913 is your code.",
        "StatusCallback": "https://app.example/hooks/twilio",
    }
    assert message_sid.startswith("SM") and len(message_sid) == 34


def test_sms_through_a_messaging_service(http_server: Any) -> None:
    http_server.expect_request(MESSAGES, method="POST").respond_with_handler(message_created)
    sender = sms_sender(http_server, from_=None, messaging_service_sid=MESSAGING_SERVICE)
    sender.send_sms(TO, "482913 is your code.")
    (request,) = requests_to(http_server, MESSAGES)
    assert request.form.to_dict() == {
        "To": TO,
        "MessagingServiceSid": MESSAGING_SERVICE,
        "Body": "482913 is your code.",
    }


@pytest.mark.parametrize(
    ("locale", "language"), [(None, "en-US"), ("fr", "fr-FR"), ("pt-BR", "pt-BR"), ("de", "de-DE")]
)
def test_voice_call_reads_the_digits_twice_in_the_locale(
    http_server: Any, locale: str | None, language: str
) -> None:
    http_server.expect_request(CALLS, method="POST").respond_with_handler(call_created)
    sender = TwilioVoiceSender(
        ACCOUNT_SID, AUTH_TOKEN, from_=FROM, base_url=http_server.url_for("/"), pause=2
    )
    # A host's own template may put the code in one piece: it is spelled anyway.
    call_sid = sender.send_voice(
        TO, "Your code is 482913. It expires in 10 minutes.", locale=locale
    )
    (request,) = requests_to(http_server, CALLS)
    assert request.headers["Authorization"] == BASIC
    assert set(request.form) == {"To", "From", "Twiml"}
    assert request.form["To"] == TO and request.form["From"] == FROM
    root = ET.fromstring(request.form["Twiml"])  # noqa: S314
    assert root.tag == "Response"
    assert [child.tag for child in root] == ["Say", "Pause", "Say"]
    first, pause, second = list(root)
    spoken = "Your code is 4, 8, 2, 9, 1, 3. It expires in 10 minutes."
    assert first.text == spoken and second.text == spoken
    assert first.get("language") == language and second.get("language") == language
    assert pause.get("length") == "2"
    assert call_sid.startswith("CA")


def test_voice_text_is_escaped_in_twiml(http_server: Any) -> None:
    http_server.expect_request(CALLS, method="POST").respond_with_handler(call_created)
    sender = TwilioVoiceSender(
        ACCOUNT_SID, AUTH_TOKEN, from_=FROM, base_url=http_server.url_for("/")
    )
    sender.send_voice(TO, 'Code <Play>http://evil</Play> & "1, 2, 3, 4"')
    (request,) = requests_to(http_server, CALLS)
    root = ET.fromstring(request.form["Twiml"])  # noqa: S314
    assert [child.tag for child in root] == ["Say", "Pause", "Say"]
    assert "<Play>" in (root[0].text or "")


# --- errors ---------------------------------------------------------------------------------

ERRORS = [
    (400, 21211, "The 'To' number is not a valid phone number.", InvalidDestination, True, False),
    (400, 21614, "'To' number is not a valid mobile number", InvalidDestination, True, False),
    (400, 21610, "Attempt to send to unsubscribed recipient", DestinationOptedOut, True, False),
    (429, 20429, "Too Many Requests", ProviderRateLimited, False, True),
    (401, 20003, "Authenticate", ProviderAuthError, False, False),
    (400, 21606, "The 'From' phone number provided is not valid", ProviderError, False, False),
    (500, 20500, "Internal Server Error", ProviderError, False, False),
]


@pytest.mark.parametrize(("status", "code", "text", "kind", "unusable", "retryable"), ERRORS)
def test_twilio_errors_are_mapped(
    http_server: Any,
    status: int,
    code: int,
    text: str,
    kind: type[DeliveryError],
    unusable: bool,
    retryable: bool,
) -> None:
    http_server.expect_request(MESSAGES).respond_with_handler(twilio_error(status, code, text))
    sender = sms_sender(http_server, retry_delay=0)
    with pytest.raises(DeliveryError) as caught:
        sender.send_sms(TO, "482913 is your code.")
    error = caught.value
    assert type(error) is kind
    assert error.unusable_destination is unusable
    assert error.retryable is retryable
    assert error.provider == "twilio" and error.provider_code == str(code)
    assert "482913" not in str(error) and TO not in str(error) and AUTH_TOKEN not in str(error)
    # Only a throttled request is tried a second time.
    assert len(requests_to(http_server, MESSAGES)) == (2 if retryable else 1)


def test_opted_out_has_its_own_reason(http_server: Any) -> None:
    http_server.expect_request(MESSAGES).respond_with_handler(
        twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
    )
    with pytest.raises(DestinationOptedOut) as caught:
        sms_sender(http_server).send_sms(TO, "482913 is your code.")
    assert caught.value.reason == "opted_out"


def test_a_throttled_send_is_retried_once_and_then_goes_out(http_server: Any) -> None:
    answers = iter([twilio_error(429, 20429, "Too Many Requests"), message_created])
    http_server.expect_request(MESSAGES).respond_with_handler(lambda r: next(answers)(r))
    message_sid = sms_sender(http_server, retry_delay=0).send_sms(TO, "482913 is your code.")
    assert message_sid.startswith("SM")
    assert len(requests_to(http_server, MESSAGES)) == 2


def test_retry_waits_retry_delay(http_server: Any) -> None:
    http_server.expect_request(MESSAGES).respond_with_handler(
        twilio_error(429, 20429, "Too Many Requests")
    )
    started = time.monotonic()
    with pytest.raises(ProviderRateLimited):
        sms_sender(http_server, retry_delay=0.3).send_sms(TO, "482913 is your code.")
    assert time.monotonic() - started >= 0.3


def slow(seconds: float) -> Callable[[Request], Response]:
    def handler(request: Request) -> Response:
        time.sleep(seconds)
        return message_created(request)

    return handler


def test_a_read_timeout_is_uncertain_and_never_retried(http_server: Any) -> None:
    http_server.expect_request(MESSAGES).respond_with_handler(slow(1.0))
    sender = sms_sender(http_server, read_timeout=0.3, retry_delay=0)
    with pytest.raises(DeliveryUncertain) as caught:
        sender.send_sms(TO, "482913 is your code.")
    assert caught.value.retryable is False and caught.value.reason == "outcome_unknown"
    time.sleep(0.8)  # let the slow handler finish, then count what arrived
    assert len(requests_to(http_server, MESSAGES)) == 1


def test_a_refused_connection_is_retryable() -> None:
    sender = TwilioSmsSender(
        ACCOUNT_SID, AUTH_TOKEN, from_=FROM, base_url=dead_url(), retry_delay=0
    )
    with pytest.raises(ProviderError) as caught:
        sender.send_sms(TO, "482913 is your code.")
    assert caught.value.reason == "unreachable" and caught.value.retryable is True


@pytest.mark.parametrize(("status", "code", "text", "kind", "unusable", "retryable"), ERRORS)
@pytest.mark.asyncio
async def test_async_twilio_errors_are_mapped(
    http_server: Any,
    status: int,
    code: int,
    text: str,
    kind: type[DeliveryError],
    unusable: bool,
    retryable: bool,
) -> None:
    http_server.expect_request(MESSAGES).respond_with_handler(twilio_error(status, code, text))
    sender = AsyncTwilioSmsSender(
        ACCOUNT_SID, AUTH_TOKEN, from_=FROM, base_url=http_server.url_for("/"), retry_delay=0
    )
    with pytest.raises(DeliveryError) as caught:
        await sender.send_sms(TO, "482913 is your code.")
    error = caught.value
    assert type(error) is kind
    assert error.unusable_destination is unusable and error.retryable is retryable
    assert error.provider == "twilio" and error.provider_code == str(code)
    assert "482913" not in str(error) and TO not in str(error)
    assert len(requests_to(http_server, MESSAGES)) == (2 if retryable else 1)


@pytest.mark.asyncio
async def test_async_sms_request_is_exactly_what_twilio_documents(http_server: Any) -> None:
    http_server.expect_request(MESSAGES, method="POST").respond_with_handler(message_created)
    sender = AsyncTwilioSmsSender(
        ACCOUNT_SID,
        AUTH_TOKEN,
        messaging_service_sid=MESSAGING_SERVICE,
        status_callback="https://app.example/hooks/twilio",
        base_url=http_server.url_for("/"),
    )
    message_sid = await sender.send_sms(TO, "482913 is your code.", locale="pt-BR")
    (request,) = requests_to(http_server, MESSAGES)
    assert request.method == "POST"
    assert request.headers["Authorization"] == BASIC
    assert request.mimetype == "application/x-www-form-urlencoded"
    assert request.form.to_dict() == {
        "To": TO,
        "MessagingServiceSid": MESSAGING_SERVICE,
        "Body": "482913 is your code.",
        "StatusCallback": "https://app.example/hooks/twilio",
    }
    assert message_sid.startswith("SM") and len(message_sid) == 34


@pytest.mark.asyncio
async def test_async_refused_connection_is_retryable() -> None:
    sender = AsyncTwilioSmsSender(
        ACCOUNT_SID, AUTH_TOKEN, from_=FROM, base_url=dead_url(), retry_delay=0
    )
    with pytest.raises(ProviderError) as caught:
        await sender.send_sms(TO, "482913 is your code.")
    assert caught.value.reason == "unreachable" and caught.value.retryable is True


def test_transports_are_twilios_own_clients_with_bounded_default_timeouts() -> None:
    """Sync on twilio's TwilioHttpClient (requests), async on its
    AsyncTwilioHttpClient (aiohttp); both bounded by default (5 s to connect,
    10 s to read), where twilio alone would wait without end."""
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.http.http_client import TwilioHttpClient

    sync = TwilioSmsSender(ACCOUNT_SID, AUTH_TOKEN, from_=FROM)._client.http_client
    assert isinstance(sync, TwilioHttpClient)
    assert sync.timeout == (5.0, 10.0)
    for sender in (
        AsyncTwilioSmsSender(ACCOUNT_SID, AUTH_TOKEN, from_=FROM),
        AsyncTwilioVoiceSender(ACCOUNT_SID, AUTH_TOKEN, from_=FROM),
        AsyncTwilioVerify(ACCOUNT_SID, AUTH_TOKEN, service_sid=VERIFY_SERVICE),
    ):
        client = sender._client.http_client
        assert isinstance(client, AsyncTwilioHttpClient) and client.is_async
        assert client.session is None  # a session per request, tied to no event loop
        assert (client.bounds.sock_connect, client.bounds.sock_read) == (5.0, 10.0)
        assert client.bounds.total == 15.0


@pytest.mark.asyncio
async def test_async_errors_retry_and_timeouts(http_server: Any) -> None:
    answers = iter(
        [
            twilio_error(429, 20429, "Too Many Requests"),
            message_created,
            twilio_error(400, 21610, "Attempt to send to unsubscribed recipient"),
            slow(1.0),
        ]
    )
    http_server.expect_request(MESSAGES).respond_with_handler(lambda r: next(answers)(r))
    sender = AsyncTwilioSmsSender(
        ACCOUNT_SID,
        AUTH_TOKEN,
        from_=FROM,
        base_url=http_server.url_for("/"),
        read_timeout=0.3,
        retry_delay=0,
    )
    assert (await sender.send_sms(TO, "482913 is your code.")).startswith("SM")
    assert len(requests_to(http_server, MESSAGES)) == 2
    with pytest.raises(DestinationOptedOut):
        await sender.send_sms(TO, "482913 is your code.")
    assert len(requests_to(http_server, MESSAGES)) == 3
    with pytest.raises(DeliveryUncertain):
        await sender.send_sms(TO, "482913 is your code.")
    time.sleep(0.8)
    assert len(requests_to(http_server, MESSAGES)) == 4


@pytest.mark.asyncio
async def test_async_request_is_exactly_the_sync_one(http_server: Any) -> None:
    http_server.expect_request(CALLS, method="POST").respond_with_handler(call_created)
    sender = AsyncTwilioVoiceSender(
        ACCOUNT_SID, AUTH_TOKEN, from_=FROM, base_url=http_server.url_for("/")
    )
    await sender.send_voice(TO, "Your code is: 4, 8, 2, 9, 1, 3.", locale="fr")
    (request,) = requests_to(http_server, CALLS)
    assert request.headers["Authorization"] == BASIC
    assert request.form["Twiml"] == sender.twiml("Your code is: 4, 8, 2, 9, 1, 3.", locale="fr")


def test_the_sdk_logs_nothing_of_the_message(
    http_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    http_server.expect_request(MESSAGES).respond_with_handler(message_created)
    with caplog.at_level(logging.DEBUG):
        sms_sender(http_server).send_sms(TO, "482913 is your code.")
    assert "482913" not in caplog.text and AUTH_TOKEN not in caplog.text


def test_configuration_is_checked() -> None:
    from mfakit.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        TwilioSmsSender(ACCOUNT_SID, AUTH_TOKEN)  # neither from_ nor a service
    with pytest.raises(ConfigurationError):
        TwilioSmsSender(
            ACCOUNT_SID, AUTH_TOKEN, from_=FROM, messaging_service_sid=MESSAGING_SERVICE
        )
    with pytest.raises(ConfigurationError):
        TwilioSmsSender(ACCOUNT_SID, AUTH_TOKEN, messaging_service_sid="MG123")
    with pytest.raises(ConfigurationError):
        TwilioSmsSender(ACCOUNT_SID, AUTH_TOKEN, from_=FROM, read_timeout=0)
    with pytest.raises(ConfigurationError):
        TwilioSmsSender(ACCOUNT_SID, "", from_=FROM)
    with pytest.raises(ConfigurationError):
        TwilioVoiceSender(ACCOUNT_SID, AUTH_TOKEN, from_="Clinic")
    with pytest.raises(InvalidInput):
        TwilioSmsSender(ACCOUNT_SID, AUTH_TOKEN, from_=FROM).send_sms("0415550123", "x")


# --- Twilio Verify ---------------------------------------------------------------------------


def verification(request: Request) -> Response:
    form = request.form
    return json_response(
        {
            "sid": sid("VE"),
            "service_sid": VERIFY_SERVICE,
            "account_sid": ACCOUNT_SID,
            "to": form["To"],
            "channel": form["Channel"],
            "status": "pending",
            "valid": False,
            "lookup": {},
            "amount": None,
            "payee": None,
            "send_code_attempts": [{"time": "2026-03-01T09:00:00Z", "channel": form["Channel"]}],
        },
        201,
    )


def verification_check(correct: str) -> Callable[[Request], Response]:
    def handler(request: Request) -> Response:
        approved = request.form["Code"] == correct
        return json_response(
            {
                "sid": request.form["VerificationSid"],
                "service_sid": VERIFY_SERVICE,
                "account_sid": ACCOUNT_SID,
                "to": TO,
                "channel": "sms",
                "status": "approved" if approved else "pending",
                "valid": approved,
            },
            200,
        )

    return handler


def verify(server: Any) -> TwilioVerify:
    return TwilioVerify(
        ACCOUNT_SID,
        AUTH_TOKEN,
        service_sid=VERIFY_SERVICE,
        base_url=server.url_for("/"),
        retry_delay=0,
    )


def test_verify_start_check_and_cancel(http_server: Any) -> None:
    http_server.expect_request(VERIFICATIONS, method="POST").respond_with_handler(verification)
    http_server.expect_request(CHECK, method="POST").respond_with_handler(
        verification_check("482913")
    )
    provider = verify(http_server)
    ref = provider.start(TO, "voice", locale="fr")
    assert ref.startswith("VE")
    (start,) = requests_to(http_server, VERIFICATIONS)
    assert start.headers["Authorization"] == BASIC
    assert start.form.to_dict() == {"To": TO, "Channel": "call", "Locale": "fr"}
    assert provider.check(ref, "111111") is False
    assert provider.check(ref, "482913") is True
    checks = requests_to(http_server, CHECK)
    assert [c.form.to_dict() for c in checks] == [
        {"VerificationSid": ref, "Code": "111111"},
        {"VerificationSid": ref, "Code": "482913"},
    ]
    cancel_path = f"{VERIFICATIONS}/{ref}"
    http_server.expect_request(cancel_path, method="POST").respond_with_json(
        {"sid": ref, "service_sid": VERIFY_SERVICE, "status": "canceled"}
    )
    provider.cancel(ref)
    (cancel,) = requests_to(http_server, cancel_path)
    assert cancel.form.to_dict() == {"Status": "canceled"}


def test_verify_check_of_an_unknown_verification_is_false(http_server: Any) -> None:
    http_server.expect_request(CHECK).respond_with_handler(
        twilio_error(404, 20404, "The requested resource was not found")
    )
    assert verify(http_server).check("VE" + "a" * 32, "482913") is False


def test_verify_errors_are_mapped(http_server: Any) -> None:
    answers = iter(
        [
            twilio_error(429, 60203, "Max send attempts reached"),
            twilio_error(403, 60410, "Verification delivery attempt blocked"),
            twilio_error(400, 60200, "Invalid parameter"),
        ]
    )
    http_server.expect_request(VERIFICATIONS).respond_with_handler(lambda r: next(answers)(r))
    provider = verify(http_server)
    with pytest.raises(ProviderRateLimited) as too_many:
        provider.start(TO, "sms")
    assert too_many.value.retryable is False and too_many.value.reason == "too_many_sends"
    with pytest.raises(ProviderError) as blocked:
        provider.start(TO, "sms")
    assert blocked.value.reason == "blocked"
    with pytest.raises(InvalidDestination):
        provider.start(TO, "sms")
    assert len(requests_to(http_server, VERIFICATIONS)) == 3  # none of them retried


def test_verify_refuses_malformed_input(http_server: Any) -> None:
    provider = verify(http_server)
    with pytest.raises(InvalidInput):
        provider.start(TO, "fax")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        provider.start("alice@", "email")
    with pytest.raises(InvalidInput):
        provider.check("VE123", "482913")
    with pytest.raises(InvalidInput):
        provider.check("VE" + "a" * 32, "48 29 13")
    assert http_server.log == []


@pytest.mark.asyncio
async def test_async_verify(http_server: Any) -> None:
    http_server.expect_request(VERIFICATIONS, method="POST").respond_with_handler(verification)
    http_server.expect_request(CHECK, method="POST").respond_with_handler(
        verification_check("482913")
    )
    provider = AsyncTwilioVerify(
        ACCOUNT_SID, AUTH_TOKEN, service_sid=VERIFY_SERVICE, base_url=http_server.url_for("/")
    )
    ref = await provider.start("alice@example.org", "email")
    (start,) = requests_to(http_server, VERIFICATIONS)
    assert start.form.to_dict() == {"To": "alice@example.org", "Channel": "email"}
    assert await provider.check(ref, "000000") is False
    assert await provider.check(ref, "482913") is True
    cancel_path = f"{VERIFICATIONS}/{ref}"
    http_server.expect_request(cancel_path, method="POST").respond_with_handler(
        twilio_error(404, 20404, "The requested resource was not found")
    )
    await provider.cancel(ref)  # already gone at Twilio: not an error


def test_a_dropped_connection_is_uncertain_and_never_retried(dropping_server: Any) -> None:
    """Twilio got the whole request and the connection died before any answer:
    the SMS may be on its way, so no second one (sync and async)."""
    sender = TwilioSmsSender(
        ACCOUNT_SID, AUTH_TOKEN, from_=FROM, base_url=dropping_server.url, retry_delay=0
    )
    with pytest.raises(DeliveryUncertain) as caught:
        sender.send_sms(TO, "482913 is your code.")
    assert caught.value.retryable is False and "482913" not in str(caught.value)
    assert len(dropping_server.requests) == 1
    assert b"Body=482913" in dropping_server.requests[0]  # it went out in full


@pytest.mark.asyncio
async def test_async_dropped_connection_is_uncertain_and_never_retried(
    dropping_server: Any,
) -> None:
    sender = AsyncTwilioSmsSender(
        ACCOUNT_SID, AUTH_TOKEN, from_=FROM, base_url=dropping_server.url, retry_delay=0
    )
    with pytest.raises(DeliveryUncertain):
        await sender.send_sms(TO, "482913 is your code.")
    assert len(dropping_server.requests) == 1


@pytest.mark.asyncio
async def test_the_async_sdk_logs_nothing_of_the_message(
    http_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    http_server.expect_request(MESSAGES).respond_with_handler(message_created)
    sender = AsyncTwilioSmsSender(
        ACCOUNT_SID, AUTH_TOKEN, from_=FROM, base_url=http_server.url_for("/")
    )
    with caplog.at_level(logging.DEBUG):
        await sender.send_sms(TO, "482913 is your code.")
    assert "482913" not in caplog.text and AUTH_TOKEN not in caplog.text
