"""The Vonage SMS adapters through the real ``vonage`` SDK, against a local
pytest-httpserver over TLS (the SDK only speaks https) that checks each
request and answers with Vonage's documented JSON: errors arrive as a
non-zero ``status`` inside an HTTP 200."""

from __future__ import annotations

import base64
import itertools
import json
import time
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
from mfakit.testing.senders import AsyncSmsSenderContract, Received, SmsSenderContract

from .conftest import VONAGE_KEY, VONAGE_SECRET, closed_port, require

require("vonage")
require("pytest_httpserver")

from werkzeug import Request, Response  # noqa: E402 - after the skip checks

from mfakit.adapters.vonage import AsyncVonageSmsSender, VonageSmsSender  # noqa: E402

TO = "+14155550123"
BASIC = "Basic " + base64.b64encode(f"{VONAGE_KEY}:{VONAGE_SECRET}".encode()).decode()
_ids = itertools.count(1)


def sent(request: Request) -> Response:
    """Vonage's documented success answer for POST /sms/json."""
    body = {
        "message-count": "1",
        "messages": [
            {
                "to": request.form["to"],
                "message-id": f"0A{next(_ids):015X}",
                "status": "0",
                "remaining-balance": "3.14159265",
                "message-price": "0.03330000",
                "network": "12345",
            }
        ],
    }
    return Response(json.dumps(body), status=200, content_type="application/json")


def refused(status: int, text: str) -> Callable[[Request], Response]:
    def handler(request: Request) -> Response:
        body = {"message-count": "1", "messages": [{"status": str(status), "error-text": text}]}
        return Response(json.dumps(body), status=200, content_type="application/json")

    return handler


def vonage_sender(server: Any, **options: Any) -> VonageSmsSender:
    options.setdefault("from_", "Clinic")
    return VonageSmsSender(
        VONAGE_KEY, VONAGE_SECRET, rest_host=f"127.0.0.1:{server.port}", **options
    )


class _Fixtures:
    @pytest.fixture
    def received(self, https_server: Any) -> Callable[[], list[Received]]:
        def read() -> list[Received]:
            return [
                Received(to="+" + r.form["to"], text=r.form["text"])
                for r, _ in https_server.log
                if r.path == "/sms/json"
            ]

        return read

    @pytest.fixture
    def secrets(self) -> list[str]:
        return [VONAGE_SECRET]


class TestVonageSmsContract(_Fixtures, SmsSenderContract):
    @pytest.fixture
    def sender(self, https_server: Any) -> VonageSmsSender:
        https_server.expect_request("/sms/json", method="POST").respond_with_handler(sent)
        return vonage_sender(https_server)

    @pytest.fixture
    def broken_sender(self, https_server: Any) -> VonageSmsSender:
        return VonageSmsSender(
            VONAGE_KEY,
            VONAGE_SECRET,
            from_="Clinic",
            rest_host=f"127.0.0.1:{closed_port()}",
            retry_delay=0,
        )


class TestAsyncVonageSmsContract(_Fixtures, AsyncSmsSenderContract):
    @pytest.fixture
    def sender(self, https_server: Any) -> AsyncVonageSmsSender:
        https_server.expect_request("/sms/json", method="POST").respond_with_handler(sent)
        return AsyncVonageSmsSender(
            VONAGE_KEY, VONAGE_SECRET, from_="Clinic", rest_host=f"127.0.0.1:{https_server.port}"
        )

    @pytest.fixture
    def broken_sender(self, https_server: Any) -> AsyncVonageSmsSender:
        https_server.expect_request("/sms/json").respond_with_handler(refused(6, "Invalid"))
        return AsyncVonageSmsSender(
            VONAGE_KEY, VONAGE_SECRET, from_="Clinic", rest_host=f"127.0.0.1:{https_server.port}"
        )


def test_request_is_exactly_what_vonage_documents(https_server: Any) -> None:
    https_server.expect_request("/sms/json", method="POST").respond_with_handler(sent)
    sender = vonage_sender(https_server, callback="https://app.example/hooks/vonage")
    message_id = sender.send_sms(TO, "482913 est votre code.", locale="fr")
    ((request, _),) = https_server.log
    assert request.method == "POST" and request.path == "/sms/json"
    assert request.headers["Authorization"] == BASIC
    assert request.mimetype == "application/x-www-form-urlencoded"
    assert request.form.to_dict() == {
        "to": "14155550123",
        "from": "Clinic",
        "text": "482913 est votre code.",
        "callback": "https://app.example/hooks/vonage",
        "status-report-req": "True",
    }
    assert message_id.startswith("0A")


def test_non_ascii_text_goes_as_unicode(https_server: Any) -> None:
    https_server.expect_request("/sms/json").respond_with_handler(sent)
    vonage_sender(https_server).send_sms(TO, "482913 é votre code")
    ((request, _),) = https_server.log
    assert request.form["type"] == "unicode"


# (Vonage status, error-text, the error, unusable destination, retryable, tries)
STATUSES = [
    (1, "Throttled", ProviderRateLimited, False, True, 2),
    (3, "Invalid to parameter", InvalidDestination, True, False, 1),
    (6, "Invalid message", InvalidDestination, True, False, 1),
    (33, "Number de-activated", InvalidDestination, True, False, 1),
    (7, "Number barred.", DestinationOptedOut, True, False, 1),
    (4, "Bad Credentials", ProviderAuthError, False, False, 1),
    (9, "Partner quota exceeded", ProviderError, False, False, 1),
    (15, "Illegal Sender Address - rejected", ProviderError, False, False, 1),
    (29, "Non White-listed Destination", ProviderError, False, False, 1),
    (5, "Internal Error", ProviderError, False, False, 1),
]
STATUS_FIELDS = ("status", "text", "kind", "unusable", "retryable", "tries")


def check_mapped(
    error: DeliveryError, status: int, kind: type[DeliveryError], unusable: bool, retryable: bool
) -> None:
    assert type(error) is kind
    assert error.provider == "vonage" and error.provider_code == str(status)
    assert error.unusable_destination is unusable and error.retryable is retryable
    assert "482913" not in str(error) and "14155550123" not in str(error)


@pytest.mark.parametrize(STATUS_FIELDS, STATUSES)
def test_statuses_inside_a_200_are_mapped(
    https_server: Any,
    status: int,
    text: str,
    kind: type[DeliveryError],
    unusable: bool,
    retryable: bool,
    tries: int,
) -> None:
    https_server.expect_request("/sms/json").respond_with_handler(refused(status, text))
    sender = vonage_sender(https_server, retry_delay=0)
    with pytest.raises(DeliveryError) as caught:
        sender.send_sms(TO, "482913 is your code.")
    check_mapped(caught.value, status, kind, unusable, retryable)
    assert len(https_server.log) == tries  # only "throttled" is tried again


@pytest.mark.parametrize(STATUS_FIELDS, STATUSES)
@pytest.mark.asyncio
async def test_async_statuses_inside_a_200_are_mapped(
    https_server: Any,
    status: int,
    text: str,
    kind: type[DeliveryError],
    unusable: bool,
    retryable: bool,
    tries: int,
) -> None:
    https_server.expect_request("/sms/json").respond_with_handler(refused(status, text))
    sender = AsyncVonageSmsSender(
        VONAGE_KEY,
        VONAGE_SECRET,
        from_="Clinic",
        rest_host=f"127.0.0.1:{https_server.port}",
        retry_delay=0,
    )
    with pytest.raises(DeliveryError) as caught:
        await sender.send_sms(TO, "482913 is your code.")
    check_mapped(caught.value, status, kind, unusable, retryable)
    assert len(https_server.log) == tries


@pytest.mark.asyncio
async def test_async_request_is_exactly_the_sync_one(https_server: Any) -> None:
    https_server.expect_request("/sms/json", method="POST").respond_with_handler(sent)
    sender = AsyncVonageSmsSender(
        VONAGE_KEY, VONAGE_SECRET, from_="Clinic", rest_host=f"127.0.0.1:{https_server.port}"
    )
    assert (await sender.send_sms(TO, "482913 is your code.")).startswith("0A")
    ((request, _),) = https_server.log
    assert request.method == "POST" and request.path == "/sms/json"
    assert request.headers["Authorization"] == BASIC
    assert request.form.to_dict() == {
        "to": "14155550123",
        "from": "Clinic",
        "text": "482913 is your code.",
    }


def test_the_sdk_has_a_bounded_timeout_and_no_retries_of_its_own() -> None:
    """10 s by default (the SDK takes one number); the SDK's retries off (its
    transport would retry a dropped connection and so send a second code)."""
    sender = VonageSmsSender(VONAGE_KEY, VONAGE_SECRET, from_="Clinic")
    options = sender._client.http_client.http_client_options
    assert options.timeout == 10 and options.max_retries == 0


def test_http_401_is_an_auth_error(https_server: Any) -> None:
    https_server.expect_request("/sms/json").respond_with_json(
        {"type": "https://developer.vonage.com/api-errors#unauthorized", "title": "Unauthorized"},
        status=401,
    )
    with pytest.raises(ProviderAuthError):
        vonage_sender(https_server).send_sms(TO, "482913 is your code.")
    assert len(https_server.log) == 1


def test_throttled_then_sent(https_server: Any) -> None:
    answers = iter([refused(1, "Throttled"), sent])
    https_server.expect_request("/sms/json").respond_with_handler(lambda r: next(answers)(r))
    assert vonage_sender(https_server, retry_delay=0).send_sms(TO, "482913 is your code.")
    assert len(https_server.log) == 2


def test_read_timeout_is_uncertain_and_not_retried(https_server: Any) -> None:
    def slow(request: Request) -> Response:
        time.sleep(2.0)
        return sent(request)

    https_server.expect_request("/sms/json").respond_with_handler(slow)
    with pytest.raises(DeliveryUncertain):
        vonage_sender(https_server, timeout=1, retry_delay=0).send_sms(TO, "482913 is your code.")
    time.sleep(1.2)
    assert len(https_server.log) == 1


def test_an_untrusted_certificate_fails_without_sending(
    https_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    https_server.expect_request("/sms/json").respond_with_handler(sent)
    with pytest.raises(ProviderError) as caught:
        vonage_sender(https_server).send_sms(TO, "482913 is your code.")
    assert caught.value.reason == "tls_failed"
    assert https_server.log == []


def test_configuration_is_checked() -> None:
    with pytest.raises(ConfigurationError):
        VonageSmsSender(VONAGE_KEY, VONAGE_SECRET, from_="+14155550100")  # no '+' for Vonage
    with pytest.raises(ConfigurationError):
        VonageSmsSender(VONAGE_KEY, VONAGE_SECRET, from_="A sender far too long")
    with pytest.raises(ConfigurationError):
        VonageSmsSender(VONAGE_KEY, "", from_="Clinic")
    with pytest.raises(ConfigurationError):
        VonageSmsSender(VONAGE_KEY, VONAGE_SECRET, from_="Clinic", timeout=0)


def test_a_signed_delivery_receipt_lands_on_the_challenge(https_server: Any) -> None:
    """The sender asks for receipts at `callback`; the receipt Vonage sends for
    the returned message id, signed, is recorded on the challenge and audited."""
    import mfakit
    from mfakit.adapters import MemoryAuditLog, MemoryStore
    from mfakit.delivery_status import vonage_status
    from mfakit.testing import FakeClock, fast_hasher
    from tests.conftest import SECRET
    from tests.helpers import fresh

    from .test_delivery_status import VONAGE_SIGNATURE_SECRET, receipt, vonage_signed

    https_server.expect_request("/sms/json", method="POST").respond_with_handler(sent)
    clock, audit = FakeClock(), MemoryAuditLog()
    mfa = mfakit.MFA(
        store=MemoryStore(),
        secret_key=SECRET,
        issuer="Clinic",
        clock=clock,
        hasher=fast_hasher(),
        audit=audit,
        sms=vonage_sender(https_server, callback="https://app.example/hooks/vonage"),
    )
    started = mfa.begin_phone_enrolment(fresh(clock), "alice", TO)
    ((request, _),) = https_server.log
    assert request.form["callback"] == "https://app.example/hooks/vonage"
    message_id = json.loads(https_server.log[0][1].get_data())["messages"][0]["message-id"]
    params = receipt("failed", "9")
    params["messageId"] = message_id
    status = vonage_status(
        vonage_signed(params, VONAGE_SIGNATURE_SECRET),
        api_key=VONAGE_KEY,
        signature_secret=VONAGE_SIGNATURE_SECRET,
    )
    assert mfa.record_delivery_status(status)
    view = mfa.get_challenge(started.challenge.id)
    assert (view.delivery, view.delivery_error) == ("failed", "9")
    (event,) = [e for e in audit.events if e.action == "code.delivery"]
    assert dict(event.details)["provider"] == "vonage"
    assert "14155550123" not in repr(event)


def test_a_dropped_connection_is_uncertain_and_never_retried(tls_dropping_server: Any) -> None:
    """The SDK itself retries a connection the server dropped ("RemoteDisconnected")
    as many times as its pool is large: the adapter's pool of one makes that a
    single try, and the outcome is unknown, so no second SMS."""
    host = tls_dropping_server.url.removeprefix("https://")
    sender = VonageSmsSender(
        VONAGE_KEY, VONAGE_SECRET, from_="Clinic", rest_host=host, retry_delay=0
    )
    with pytest.raises(DeliveryUncertain):
        sender.send_sms(TO, "482913 is your code.")
    assert len(tls_dropping_server.requests) == 1
    assert b"text=482913" in tls_dropping_server.requests[0]


def test_the_sdk_logs_neither_the_code_nor_the_credentials(
    https_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The SDK logs each request at DEBUG with its text and the previous
    request's headers (Basic credentials): dropped while mfakit sends; the
    host's own records on that logger still pass."""
    import logging

    https_server.expect_request("/sms/json").respond_with_handler(sent)
    sender = vonage_sender(https_server)
    with caplog.at_level(logging.DEBUG, logger="vonage"):
        sender.send_sms(TO, "482913 is your code.")
        sender.send_sms(TO, "739164 is your code.")
        logging.getLogger("vonage").debug("the host's own vonage record")
    assert "482913" not in caplog.text and "739164" not in caplog.text
    assert VONAGE_SECRET not in caplog.text and BASIC.split()[1] not in caplog.text
    assert "the host's own vonage record" in caplog.text


@pytest.mark.asyncio
async def test_the_async_sender_logs_neither_the_code_nor_the_credentials(
    https_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    https_server.expect_request("/sms/json").respond_with_handler(sent)
    sender = AsyncVonageSmsSender(
        VONAGE_KEY, VONAGE_SECRET, from_="Clinic", rest_host=f"127.0.0.1:{https_server.port}"
    )
    with caplog.at_level(logging.DEBUG, logger="vonage"):
        await sender.send_sms(TO, "482913 is your code.")
        await sender.send_sms(TO, "739164 is your code.")
    assert "482913" not in caplog.text and "739164" not in caplog.text
    assert VONAGE_SECRET not in caplog.text and BASIC.split()[1] not in caplog.text
