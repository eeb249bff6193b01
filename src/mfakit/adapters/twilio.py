"""Twilio adapters (`pip install 'mfakit[twilio]'`): SMS through the Messages
API, voice calls through the Calls API with inline TwiML, and Twilio Verify as a
[`CodeProvider`][mfakit.ports.delivery.CodeProvider]; each sync (on `twilio`'s own
client) and async (the same client on twilio's `AsyncTwilioHttpClient`, over
`aiohttp`).

Every send has a bounded connect and read timeout (5 s and 10 s by default).
Twilio's answers become typed [`DeliveryError`][mfakit.errors.DeliveryError] subclasses
at this edge: 21211/21614 (not a valid mobile number) is
[`InvalidDestination`][mfakit.errors.InvalidDestination], 21610 (the recipient replied STOP)
is [`DestinationOptedOut`][mfakit.errors.DestinationOptedOut], 20429 or HTTP 429 is
[`ProviderRateLimited`][mfakit.errors.ProviderRateLimited], 20003 or HTTP 401 is
[`ProviderAuthError`][mfakit.errors.ProviderAuthError]; anything else is
[`ProviderError`][mfakit.errors.ProviderError] with Twilio's code in `provider_code`.
A send is retried once, and only when nothing went out (a 429, a refused
connection); a read timeout is [`DeliveryUncertain`][mfakit.errors.DeliveryUncertain] and is
never retried, so a user never gets two codes.

The twilio library logs requests and responses (message bodies hold codes) at
INFO: these adapters give it a logger that says nothing.
"""

from __future__ import annotations

import base64
import re
from typing import Any

try:
    from twilio.base.exceptions import TwilioRestException
    from twilio.http.http_client import TwilioHttpClient
    from twilio.http.response import Response
    from twilio.rest import Client
    from twilio.twiml.voice_response import VoiceResponse
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "mfakit.adapters.twilio needs the 'twilio' extra: pip install 'mfakit[twilio]'"
    ) from exc

from ..errors import (
    ConfigurationError,
    DeliveryError,
    DestinationOptedOut,
    InvalidDestination,
    InvalidInput,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
)
from ..ports.delivery import CodeChannel
from .provider_common import (
    DEFAULT_TIMEOUTS,
    SILENT_LOGGER,
    Timeouts,
    check_email,
    check_locale,
    check_name,
    check_phone,
    check_retry_delay,
    check_text,
    check_timeouts,
    send_async_with_one_retry,
    send_with_one_retry,
    spell_digits,
    transport_failure,
)

__all__ = [
    "AsyncTwilioSmsSender",
    "AsyncTwilioVerify",
    "AsyncTwilioVoiceSender",
    "TwilioSmsSender",
    "TwilioVerify",
    "TwilioVoiceSender",
    "twilio_error",
]

PROVIDER = "twilio"

# Twilio error codes (https://www.twilio.com/docs/api/errors) that say the
# number cannot receive the message at all.
_INVALID_DESTINATION = {
    21211,  # invalid 'To' phone number
    21214,  # 'To' phone number cannot be reached
    21217,  # phone number does not appear to be valid
    21401,  # invalid phone number
    21407,  # this phone number type does not support SMS or MMS
    21612,  # cannot route to this number
    21614,  # 'To' number is not a valid mobile number
    60200,  # Verify: invalid parameter (the number, most often)
    60205,  # Verify: SMS is not supported by landline phone number
}
_OPTED_OUT = {21610}  # attempt to send to an unsubscribed recipient (STOP)
_RATE_LIMITED = {20429, 14107}  # too many requests; SMS send rate limit exceeded
_AUTH = {20003, 20005, 20008}  # authentication failed; account suspended; test credentials
_SENDER = {21212, 21606, 21659, 21603}  # the 'From' number or sender is not usable
_BLOCKED = {60410, 30450}  # Verify fraud guard / SMS pumping protection blocked the prefix
_TOO_MANY_SENDS = {60203}  # Verify: max send attempts reached for this number

# <Say language=...> wants a language and a region; a bare language gets the
# region Twilio's voices cover best.
_SAY_REGIONS = {
    "ar": "arb",
    "da": "da-DK",
    "de": "de-DE",
    "en": "en-US",
    "es": "es-ES",
    "fi": "fi-FI",
    "fr": "fr-FR",
    "it": "it-IT",
    "ja": "ja-JP",
    "ko": "ko-KR",
    "nb": "nb-NO",
    "nl": "nl-NL",
    "pl": "pl-PL",
    "pt": "pt-BR",
    "ru": "ru-RU",
    "sv": "sv-SE",
    "tr": "tr-TR",
    "zh": "cmn-CN",
}
_MESSAGING_SERVICE = re.compile(r"MG[0-9a-fA-F]{32}")
_VERIFY_SERVICE = re.compile(r"VA[0-9a-fA-F]{32}")
_CODE = re.compile(r"[0-9]{4,10}")
_VERIFY_CHANNELS: dict[str, str] = {"sms": "sms", "voice": "call", "email": "email"}


def twilio_error(exc: TwilioRestException, what: str) -> DeliveryError:
    """The typed error for Twilio's answer `exc` (an HTTP error status with
    Twilio's error code); the message names `what` failed and the code, never
    the destination or the message."""
    code = exc.code if isinstance(exc.code, int) else None
    status = exc.status if isinstance(exc.status, int) else 0
    label = f"twilio error {code}" if code is not None else f"HTTP {status}"
    text = f"{what} could not be sent: {label}"
    kwargs: dict[str, Any] = {
        "provider": PROVIDER,
        "provider_code": str(code) if code is not None else None,
    }
    if code in _OPTED_OUT:
        return DestinationOptedOut(f"{what} could not be sent: the recipient opted out", **kwargs)
    if code in _INVALID_DESTINATION:
        return InvalidDestination(f"{text} (the number cannot receive it)", **kwargs)
    if code in _TOO_MANY_SENDS:
        return ProviderRateLimited(
            f"{text} (too many codes sent to this number)",
            retryable=False,
            reason="too_many_sends",
            **kwargs,
        )
    if code in _SENDER:
        return ProviderError(
            f"{text} (the sender is not usable)", reason="invalid_sender", **kwargs
        )
    if code in _BLOCKED:
        return ProviderError(f"{text} (blocked by fraud protection)", reason="blocked", **kwargs)
    if code in _RATE_LIMITED or status == 429:
        return ProviderRateLimited(f"{text} (rate limited)", **kwargs)
    if code in _AUTH or status in (401, 403):
        return ProviderAuthError(f"{text} (credentials refused)", **kwargs)
    return ProviderError(text, **kwargs)


def _say_language(locale: str | None, default: str) -> str:
    if locale is None:
        return default
    if "-" in locale:
        return locale
    return _SAY_REGIONS.get(locale.lower(), default)


def _async_http(timeouts: Timeouts) -> Any:
    """twilio's own async HTTP client, `AsyncTwilioHttpClient` (on `aiohttp`),
    made to keep two promises it does not keep by itself:

    * bounded timeouts: twilio hands aiohttp the per-request timeout, which its
      REST client leaves at `None`, and aiohttp then waits without end; here
      each request gets `sock_connect` and `sock_read` bounds, so a refused or
      slow connection and a slow answer can be told apart (retry or not);
    * a session per request (`pool_connections=False`), so a sender is tied to
      no event loop and holds nothing to close, and the session is closed even
      when the request fails;
    * Basic auth as a header (twilio's `aiohttp.BasicAuth` is deprecated).

    Imported here, not at module level: a sync user needs no `aiohttp`.
    """
    try:
        import aiohttp
        from twilio.http.async_http_client import AsyncTwilioHttpClient
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError(
            "the async Twilio senders need aiohttp: pip install 'mfakit[twilio]'"
        ) from exc

    class BoundedAsyncTwilioHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(pool_connections=False, logger=SILENT_LOGGER)
            connect, read = timeouts
            self.bounds = aiohttp.ClientTimeout(
                total=connect + read, sock_connect=connect, sock_read=read
            )

        async def request(
            self,
            method: str,
            url: str,
            params: dict[str, object] | None = None,
            data: dict[str, object] | None = None,
            headers: dict[str, str] | None = None,
            auth: tuple[str, str] | None = None,
            timeout: float | None = None,
            allow_redirects: bool = False,
        ) -> Any:
            headers = dict(headers or {})
            if auth is not None:
                # The header itself: aiohttp deprecates BasicAuth, which twilio uses.
                token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
                headers["Authorization"] = f"Basic {token}"
            async with (
                aiohttp.ClientSession(timeout=self.bounds) as session,
                session.request(
                    method.upper(),
                    url,
                    params=params,
                    data=data,
                    headers=headers,
                    allow_redirects=allow_redirects,
                ) as response,
            ):
                return Response(response.status, await response.text(), response.headers)

    return BoundedAsyncTwilioHttpClient()


class _Twilio:
    """Configuration shared by every Twilio adapter."""

    _what = "the message"
    _asynchronous = False

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        connect_timeout: float = DEFAULT_TIMEOUTS[0],
        read_timeout: float = DEFAULT_TIMEOUTS[1],
        retry_delay: float = 1.0,
        base_url: str | None = None,
    ) -> None:
        account_sid = check_name(account_sid, "account_sid")
        auth_token = check_name(auth_token, "auth_token")
        self._account_sid = account_sid
        self._timeouts = check_timeouts(connect_timeout, read_timeout)
        self._retry_delay = check_retry_delay(retry_delay)
        if base_url is not None and (
            not isinstance(base_url, str) or not base_url.startswith(("https://", "http://"))
        ):
            raise ConfigurationError("base_url must be an http(s) URL")
        if self._asynchronous:
            http: Any = _async_http(self._timeouts)
        else:
            http = TwilioHttpClient(logger=SILENT_LOGGER)
            # requests takes a (connect, read) pair; twilio's constructor only a number.
            http.timeout = self._timeouts
        # Region and edge are taken from the environment by twilio unless given;
        # they only change the host name, which base_url overrides anyway.
        self._client = Client(account_sid, auth_token, http_client=http)
        if base_url is not None:
            for domain in ("api", "verify"):
                getattr(self._client, domain).base_url = base_url.rstrip("/")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(account_sid={self._account_sid!r})"

    def _failure(self, exc: Exception) -> DeliveryError:
        if isinstance(exc, DeliveryError):
            return exc
        if isinstance(exc, TwilioRestException):
            return twilio_error(exc, self._what)
        found = transport_failure(exc, what=self._what, provider=PROVIDER)
        if found is not None:
            return found
        return ProviderError(
            f"{self._what} could not be sent: {type(exc).__name__}", provider=PROVIDER
        )


class _TwilioSms(_Twilio):
    _what = "the SMS"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        from_: str | None = None,
        messaging_service_sid: str | None = None,
        status_callback: str | None = None,
        connect_timeout: float = DEFAULT_TIMEOUTS[0],
        read_timeout: float = DEFAULT_TIMEOUTS[1],
        retry_delay: float = 1.0,
        base_url: str | None = None,
    ) -> None:
        if (from_ is None) == (messaging_service_sid is None):
            raise ConfigurationError("give exactly one of from_ and messaging_service_sid")
        if from_ is not None:
            from_ = check_name(from_, "from_")
        if messaging_service_sid is not None and (
            not isinstance(messaging_service_sid, str)
            or not _MESSAGING_SERVICE.fullmatch(messaging_service_sid)
        ):
            raise ConfigurationError("messaging_service_sid must look like MG followed by 32 hex")
        if status_callback is not None:
            status_callback = _check_callback(status_callback)
        super().__init__(
            account_sid,
            auth_token,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retry_delay=retry_delay,
            base_url=base_url,
        )
        self._from = from_
        self._messaging_service_sid = messaging_service_sid
        self._status_callback = status_callback

    def _params(self, to: str, text: str, locale: str | None) -> dict[str, Any]:
        check_locale(locale)
        params: dict[str, Any] = {"to": check_phone(to), "body": check_text(text)}
        if self._from is not None:
            params["from_"] = self._from
        else:
            params["messaging_service_sid"] = self._messaging_service_sid
        if self._status_callback is not None:
            params["status_callback"] = self._status_callback
        return params


def _check_callback(url: object) -> str:
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise ConfigurationError("status_callback must be an http(s) URL")
    return url


class TwilioSmsSender(_TwilioSms):
    """Implements [`SmsSender`][mfakit.ports.delivery.SmsSender] with Twilio's
    Messages API.

    `from_` is the sending number (E.164) or alphanumeric sender id;
    `messaging_service_sid` (`MG...`) sends through a Messaging Service
    instead (give exactly one). `status_callback` is the URL Twilio posts
    delivery statuses to (see [`mfakit.delivery_status`][mfakit.delivery_status]).
    `connect_timeout` and `read_timeout` bound each request (seconds);
    `retry_delay` is the pause before the one retry. `base_url` replaces
    `https://api.twilio.com` (a test server, a proxy).
    """

    def send_sms(self, to: str, text: str, *, locale: str | None = None) -> str:
        """Send `text` to `to`; returns the message sid (`SM...`)."""
        params = self._params(to, text, locale)

        def once() -> str:
            try:
                return str(self._client.messages.create(**params).sid)
            except Exception as exc:
                raise self._failure(exc) from exc

        return send_with_one_retry(once, retry_delay=self._retry_delay)


class AsyncTwilioSmsSender(_TwilioSms):
    """Implements [`AsyncSmsSender`][mfakit.ports.delivery.AsyncSmsSender]; the
    arguments are those of [`TwilioSmsSender`][mfakit.adapters.twilio.TwilioSmsSender]. Needs
    `aiohttp` (in the `twilio` extra)."""

    _asynchronous = True

    async def send_sms(self, to: str, text: str, *, locale: str | None = None) -> str:
        """Send `text` to `to`; returns the message sid (`SM...`)."""
        params = self._params(to, text, locale)

        async def once() -> str:
            try:
                return str((await self._client.messages.create_async(**params)).sid)
            except Exception as exc:
                raise self._failure(exc) from exc

        return await send_async_with_one_retry(once, retry_delay=self._retry_delay)


class _TwilioVoice(_Twilio):
    _what = "the call"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        from_: str,
        language: str = "en-US",
        voice: str | None = None,
        pause: int = 1,
        status_callback: str | None = None,
        connect_timeout: float = DEFAULT_TIMEOUTS[0],
        read_timeout: float = DEFAULT_TIMEOUTS[1],
        retry_delay: float = 1.0,
        base_url: str | None = None,
    ) -> None:
        try:
            self._from = check_phone(from_)
            self._language = check_locale(language) or "en-US"
        except InvalidInput as exc:
            raise ConfigurationError(str(exc).replace("to:", "from_:")) from None
        if voice is not None:
            voice = check_name(voice, "voice")
        if isinstance(pause, bool) or not isinstance(pause, int) or not 0 <= pause <= 10:
            raise ConfigurationError("pause must be a whole number of seconds from 0 to 10")
        self._voice = voice
        self._pause = pause
        self._status_callback = (
            None if status_callback is None else _check_callback(status_callback)
        )
        super().__init__(
            account_sid,
            auth_token,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retry_delay=retry_delay,
            base_url=base_url,
        )

    def twiml(self, text: str, *, locale: str | None = None) -> str:
        """The TwiML the call plays: `text` (digits spelled one by one) in
        `locale`'s language, a pause, and `text` again."""
        text = spell_digits(check_text(text))
        language = _say_language(check_locale(locale), self._language)
        response = VoiceResponse()
        say: dict[str, str] = {"language": language}
        if self._voice is not None:
            say["voice"] = self._voice
        response.say(text, **say)
        if self._pause:
            response.pause(length=self._pause)
        response.say(text, **say)
        return str(response)

    def _params(self, to: str, text: str, locale: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {
            "to": check_phone(to),
            "from_": self._from,
            "twiml": self.twiml(text, locale=locale),
        }
        if self._status_callback is not None:
            params["status_callback"] = self._status_callback
        return params


class TwilioVoiceSender(_TwilioVoice):
    """Implements [`VoiceSender`][mfakit.ports.delivery.VoiceSender] with Twilio's
    Calls API and inline TwiML (no URL to host): `<Say>` reads the text with
    the code's digits one by one, in the message's locale (`language` when
    none is given; a bare `"fr"` becomes `"fr-FR"`), then `<Pause>`
    for `pause` seconds, then says it again.

    `from_` is a Twilio voice number (E.164); `voice` picks a Twilio or
    Amazon Polly voice (`"Polly.Lea"`); the other arguments are those of
    [`TwilioSmsSender`][mfakit.adapters.twilio.TwilioSmsSender].
    """

    def send_voice(self, to: str, text: str, *, locale: str | None = None) -> str:
        """Call `to` and read `text`; returns the call sid (`CA...`)."""
        params = self._params(to, text, locale)

        def once() -> str:
            try:
                return str(self._client.calls.create(**params).sid)
            except Exception as exc:
                raise self._failure(exc) from exc

        return send_with_one_retry(once, retry_delay=self._retry_delay)


class AsyncTwilioVoiceSender(_TwilioVoice):
    """Implements [`AsyncVoiceSender`][mfakit.ports.delivery.AsyncVoiceSender]; the
    arguments are those of [`TwilioVoiceSender`][mfakit.adapters.twilio.TwilioVoiceSender]."""

    _asynchronous = True

    async def send_voice(self, to: str, text: str, *, locale: str | None = None) -> str:
        """Call `to` and read `text`; returns the call sid (`CA...`)."""
        params = self._params(to, text, locale)

        async def once() -> str:
            try:
                return str((await self._client.calls.create_async(**params)).sid)
            except Exception as exc:
                raise self._failure(exc) from exc

        return await send_async_with_one_retry(once, retry_delay=self._retry_delay)


class _TwilioVerify(_Twilio):
    _what = "the verification code"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        service_sid: str,
        connect_timeout: float = DEFAULT_TIMEOUTS[0],
        read_timeout: float = DEFAULT_TIMEOUTS[1],
        retry_delay: float = 1.0,
        base_url: str | None = None,
    ) -> None:
        if not isinstance(service_sid, str) or not _VERIFY_SERVICE.fullmatch(service_sid):
            raise ConfigurationError("service_sid must look like VA followed by 32 hex digits")
        super().__init__(
            account_sid,
            auth_token,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retry_delay=retry_delay,
            base_url=base_url,
        )
        self._service = self._client.verify.v2.services(service_sid)

    @staticmethod
    def _start_params(to: str, channel: CodeChannel, locale: str | None) -> dict[str, Any]:
        if channel not in _VERIFY_CHANNELS:
            raise InvalidInput("channel", "must be 'sms', 'voice' or 'email'")
        destination = check_email(to) if channel == "email" else check_phone(to)
        params: dict[str, Any] = {"to": destination, "channel": _VERIFY_CHANNELS[channel]}
        locale = check_locale(locale)
        if locale is not None:
            params["locale"] = locale
        return params

    @staticmethod
    def _check_params(ref: str, code: str) -> dict[str, Any]:
        if not isinstance(ref, str) or not re.fullmatch(r"VE[0-9a-fA-F]{32}", ref):
            raise InvalidInput("ref", "must be a Verification sid (VE followed by 32 hex digits)")
        if not isinstance(code, str) or not _CODE.fullmatch(code):
            raise InvalidInput("code", "must be 4 to 10 digits")
        return {"verification_sid": ref, "code": code}

    @staticmethod
    def _checked(exc: Exception) -> bool:
        """A check refused as "no such verification" (expired, approved,
        cancelled: 20404) or "too many checks" (60202) is a wrong answer."""
        return isinstance(exc, TwilioRestException) and exc.code in (20404, 60202)


class TwilioVerify(_TwilioVerify):
    """Implements [`CodeProvider`][mfakit.ports.delivery.CodeProvider] with Twilio
    Verify: Twilio generates, sends and checks the code; mfakit keeps the
    challenge, its limits and its audit.

    `service_sid` is the Verify Service (`VA...`); the other arguments are
    those of [`TwilioSmsSender`][mfakit.adapters.twilio.TwilioSmsSender]. A start that Twilio
    refuses as too frequent (60203) is [`ProviderRateLimited`][mfakit.errors.ProviderRateLimited]
    with `retryable` false; a number Verify's fraud guard blocks (60410) is a
    [`ProviderError`][mfakit.errors.ProviderError] with reason `"blocked"`.
    """

    def start(self, to: str, channel: CodeChannel, *, locale: str | None = None) -> str:
        """Send a code; returns the Verification sid (`VE...`)."""
        params = self._start_params(to, channel, locale)

        def once() -> str:
            try:
                return str(self._service.verifications.create(**params).sid)
            except Exception as exc:
                raise self._failure(exc) from exc

        return send_with_one_retry(once, retry_delay=self._retry_delay)

    def check(self, ref: str, code: str) -> bool:
        """Whether `code` is right for the verification `ref`."""
        params = self._check_params(ref, code)
        try:
            result = self._service.verification_checks.create(**params)
        except Exception as exc:
            if self._checked(exc):
                return False
            raise self._failure(exc) from exc
        return bool(result.status == "approved")

    def cancel(self, ref: str) -> None:
        """Cancel the verification `ref` at Twilio (its code stops working)."""
        self._check_params(ref, "0000")
        try:
            self._service.verifications(ref).update(status="canceled")
        except Exception as exc:
            if self._checked(exc):
                return
            raise self._failure(exc) from exc


class AsyncTwilioVerify(_TwilioVerify):
    """Implements [`AsyncCodeProvider`][mfakit.ports.delivery.AsyncCodeProvider]; the
    arguments are those of [`TwilioVerify`][mfakit.adapters.twilio.TwilioVerify]."""

    _asynchronous = True

    async def start(self, to: str, channel: CodeChannel, *, locale: str | None = None) -> str:
        """Send a code; returns the Verification sid (`VE...`)."""
        params = self._start_params(to, channel, locale)

        async def once() -> str:
            try:
                return str((await self._service.verifications.create_async(**params)).sid)
            except Exception as exc:
                raise self._failure(exc) from exc

        return await send_async_with_one_retry(once, retry_delay=self._retry_delay)

    async def check(self, ref: str, code: str) -> bool:
        """Whether `code` is right for the verification `ref`."""
        params = self._check_params(ref, code)
        try:
            result = await self._service.verification_checks.create_async(**params)
        except Exception as exc:
            if self._checked(exc):
                return False
            raise self._failure(exc) from exc
        return bool(result.status == "approved")

    async def cancel(self, ref: str) -> None:
        """Cancel the verification `ref` at Twilio (its code stops working)."""
        self._check_params(ref, "0000")
        try:
            await self._service.verifications(ref).update_async(status="canceled")
        except Exception as exc:
            if self._checked(exc):
                return
            raise self._failure(exc) from exc
