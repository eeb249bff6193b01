"""Vonage SMS adapters (`pip install 'mfakit[vonage]'`) on the official
`vonage` SDK (its SMS API).

Vonage reports most failures as a non-zero `status` inside an HTTP 200
answer; the SDK turns them into `SmsError`, and this edge into typed
[`DeliveryError`][mfakit.errors.DeliveryError] subclasses: 1 (throttled)
[`ProviderRateLimited`][mfakit.errors.ProviderRateLimited]; 3 and 6 (invalid number or
message that cannot be routed) and 33 (deactivated number)
[`InvalidDestination`][mfakit.errors.InvalidDestination]; 7 (barred number)
[`DestinationOptedOut`][mfakit.errors.DestinationOptedOut]; 4, 8, 14, 32 (credentials, barred
account, signature) [`ProviderAuthError`][mfakit.errors.ProviderAuthError]; the rest
[`ProviderError`][mfakit.errors.ProviderError] with Vonage's status in
`provider_code`.

The SDK's own retries are turned off (its transport would retry a dropped
connection, which may send a second code); mfakit retries once, only when
Vonage throttled the message or the connection could not be made. The SDK
logs each request at DEBUG on the `vonage` logger, with the message text
(which holds the code) and the headers of the previous request (which hold
the credentials): these adapters put a filter on that logger that drops the
SDK's DEBUG records emitted while one of their sends runs (in that thread or
task); anything else the SDK logs, for the host's own calls too, passes.

The SDK has no async client: [`AsyncVonageSmsSender`][mfakit.adapters.vonage.AsyncVonageSmsSender]
runs the sync one in a worker thread (`asyncio.to_thread`).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

try:
    import vonage
    from vonage_http_client.errors import (
        AuthenticationError,
        ForbiddenError,
        HttpRequestError,
        RateLimitedError,
    )
    from vonage_sms import SmsError, SmsMessage
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "mfakit.adapters.vonage needs the 'vonage' extra: pip install 'mfakit[vonage]'"
    ) from exc

from ..errors import (
    ConfigurationError,
    DeliveryError,
    DestinationOptedOut,
    InvalidDestination,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
)
from .provider_common import (
    DEFAULT_TIMEOUTS,
    check_locale,
    check_name,
    check_phone,
    check_retry_delay,
    check_text,
    check_timeouts,
    quiet_vendor_debug,
    send_with_one_retry,
    silence_vendor_debug,
    transport_failure,
)

__all__ = ["AsyncVonageSmsSender", "VonageSmsSender", "vonage_status_error"]

PROVIDER = "vonage"
_STATUS = re.compile(r"error code (\d+)")
_SENDER = re.compile(r"[A-Za-z0-9 ]{1,11}|[0-9]{4,15}")


def vonage_status_error(status: int, what: str = "the SMS") -> DeliveryError:
    """The typed error for a Vonage SMS API `status` (non-zero)."""
    kwargs: dict[str, Any] = {"provider": PROVIDER, "provider_code": str(status)}
    text = f"{what} could not be sent: vonage status {status}"
    if status == 1:
        return ProviderRateLimited(f"{text} (throttled)", **kwargs)
    if status in (3, 6, 33):
        return InvalidDestination(f"{text} (the number cannot receive it)", **kwargs)
    if status == 7:
        return DestinationOptedOut(f"{what} could not be sent: the number is barred", **kwargs)
    if status in (4, 8, 14, 32):
        return ProviderAuthError(f"{text} (credentials or account refused)", **kwargs)
    if status == 9:
        return ProviderError(f"{text} (quota exceeded)", reason="insufficient_funds", **kwargs)
    if status == 15:
        return ProviderError(f"{text} (sender not allowed)", reason="invalid_sender", **kwargs)
    if status == 29:
        return ProviderError(
            f"{text} (a trial account may only send to its test numbers)",
            reason="rejected",
            **kwargs,
        )
    return ProviderError(text, **kwargs)


class VonageSmsSender:
    """Implements [`SmsSender`][mfakit.ports.delivery.SmsSender] with Vonage's SMS
    API.

    `api_key` and `api_secret` are the account's credentials (sent as
    Basic auth); `from_` the sender: a number (digits, no `+`) or an
    alphanumeric id of up to 11 characters where the country allows one.
    `timeout` bounds each request (whole seconds: the SDK takes one number
    for connect and read); `retry_delay` is the pause before the one retry;
    `rest_host` replaces `rest.nexmo.com` (a test server).
    Non-ASCII text is sent as `unicode`.
    """

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        *,
        from_: str,
        timeout: int = int(DEFAULT_TIMEOUTS[1]),
        retry_delay: float = 1.0,
        rest_host: str | None = None,
        callback: str | None = None,
    ) -> None:
        api_key = check_name(api_key, "api_key")
        api_secret = check_name(api_secret, "api_secret")
        if not isinstance(from_, str) or not _SENDER.fullmatch(from_):
            raise ConfigurationError(
                "from_ must be a number without '+' or an id of 1 to 11 letters, digits, spaces"
            )
        if isinstance(timeout, bool) or not isinstance(timeout, int):
            raise ConfigurationError("timeout must be a whole number of seconds")
        check_timeouts(timeout, timeout)
        if callback is not None and (
            not isinstance(callback, str) or not callback.startswith(("https://", "http://"))
        ):
            raise ConfigurationError("callback must be an http(s) URL")
        options: dict[str, Any] = {"timeout": timeout, "max_retries": 0, "pool_maxsize": 1}
        if rest_host is not None:
            options["rest_host"] = check_name(rest_host, "rest_host")
        self._api_key = api_key
        self._from = from_
        self._callback = callback
        self._retry_delay = check_retry_delay(retry_delay)
        silence_vendor_debug("vonage")  # the SDK's one logger (vonage_http_client)
        # pool_maxsize=1 also makes the SDK's own "RemoteDisconnected" loop try only once.
        self._client = vonage.Vonage(
            vonage.Auth(api_key=api_key, api_secret=api_secret),
            vonage.HttpClientOptions(**options),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(api_key={self._api_key!r}, from_={self._from!r})"

    def _failure(self, exc: Exception) -> DeliveryError:
        if isinstance(exc, SmsError):
            found = _STATUS.search(str(exc))
            if found:
                return vonage_status_error(int(found.group(1)))
            return ProviderError("the SMS could not be sent: vonage refused it", provider=PROVIDER)
        if isinstance(exc, (AuthenticationError, ForbiddenError)):
            return ProviderAuthError(
                "the SMS could not be sent: vonage refused the credentials", provider=PROVIDER
            )
        if isinstance(exc, RateLimitedError):
            return ProviderRateLimited("the SMS could not be sent: HTTP 429", provider=PROVIDER)
        if isinstance(exc, HttpRequestError):
            return ProviderError(
                f"the SMS could not be sent: vonage answered HTTP {exc.response.status_code}",
                provider=PROVIDER,
            )
        found_transport = transport_failure(exc, what="the SMS", provider=PROVIDER)
        if found_transport is not None:
            return found_transport
        return ProviderError(f"the SMS could not be sent: {type(exc).__name__}", provider=PROVIDER)

    def send_sms(self, to: str, text: str, *, locale: str | None = None) -> str:
        """Send `text` to `to`; returns Vonage's message id."""
        check_locale(locale)
        number = check_phone(to)[1:]  # Vonage wants the digits, no '+'
        text = check_text(text)
        fields: dict[str, Any] = {"to": number, "from_": self._from, "text": text}
        if not text.isascii():
            fields["type"] = "unicode"
        if self._callback is not None:
            fields["callback"] = self._callback
            fields["status_report_req"] = True
        message = SmsMessage(**fields)

        def once() -> str:
            try:
                with quiet_vendor_debug():
                    response = self._client.sms.send(message)
            except Exception as exc:
                raise self._failure(exc) from exc
            return str(response.messages[0].message_id)

        return send_with_one_retry(once, retry_delay=self._retry_delay)


class AsyncVonageSmsSender:
    """Implements [`AsyncSmsSender`][mfakit.ports.delivery.AsyncSmsSender] by running a
    [`VonageSmsSender`][mfakit.adapters.vonage.VonageSmsSender] (same arguments) in a worker
    thread."""

    def __init__(self, api_key: str, api_secret: str, **options: Any) -> None:
        self._sync = VonageSmsSender(api_key, api_secret, **options)

    def __repr__(self) -> str:
        return f"Async{self._sync!r}"

    async def send_sms(self, to: str, text: str, *, locale: str | None = None) -> str:
        """Send `text` to `to`; returns Vonage's message id."""
        return await asyncio.to_thread(self._sync.send_sms, to, text, locale=locale)
