"""Amazon Web Services adapters (`pip install 'mfakit[aws]'`): SMS through
Amazon SNS `Publish` and email through Amazon SES v2 `SendEmail`, sync on
`boto3` and async on `aiobotocore`.

Region and credentials come from the usual AWS chain (environment variables,
shared config and credentials files, instance or task roles), never from
mfakit: pass a `boto3.Session` (or an `aiobotocore` session) to pick a
profile or region. `endpoint_url` points the client elsewhere (a VPC
endpoint, a test server).

The clients are built with bounded connect and read timeouts and with
botocore's own retries turned off: botocore would retry a read timeout, which
may send a second code. mfakit retries once, only when AWS throttled the
request or the connection could not be made. Errors are mapped at this edge:
SNS `InvalidParameter` on the phone number is
[`InvalidDestination`][mfakit.errors.InvalidDestination], `AuthorizationError` (and
missing or refused credentials) [`ProviderAuthError`][mfakit.errors.ProviderAuthError],
`Throttled` [`ProviderRateLimited`][mfakit.errors.ProviderRateLimited]; SES's
`MessageRejected` (a sandbox account sending to an unverified address, most
often) is [`ProviderError`][mfakit.errors.ProviderError] with reason `"rejected"`.

botocore logs request parameters (the message, which holds the code) at DEBUG
on `botocore.endpoint` (for aiobotocore too): these adapters put a filter on
that logger that drops its DEBUG records while one of their sends runs (in
that thread or task); the host's own AWS calls log as before.
"""

from __future__ import annotations

import html as html_lib
from typing import Any

try:
    import boto3
    import botocore.exceptions as bce
    from botocore.config import Config
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "mfakit.adapters.aws needs the 'aws' extra: pip install 'mfakit[aws]'"
    ) from exc

from ..core.contacts import normalize_email
from ..errors import (
    ConfigurationError,
    DeliveryError,
    DeliveryUncertain,
    DestinationOptedOut,
    InvalidDestination,
    InvalidInput,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
)
from .provider_common import (
    DEFAULT_TIMEOUTS,
    check_email,
    check_locale,
    check_name,
    check_phone,
    check_retry_delay,
    check_text,
    check_timeouts,
    quiet_vendor_debug,
    send_async_with_one_retry,
    send_with_one_retry,
    silence_vendor_debug,
)

__all__ = [
    "AsyncSesEmailSender",
    "AsyncSnsSmsSender",
    "SesEmailSender",
    "SnsSmsSender",
    "aws_error",
]

_AUTH = {
    "AuthorizationError",
    "AccessDenied",
    "AccessDeniedException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
}
_THROTTLED = {
    "Throttled",
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
}
_INVALID = {
    "InvalidParameter",
    "InvalidParameterValue",
    "ValidationException",
    "BadRequestException",
}
_PAUSED = {"AccountSuspendedException", "SendingPausedException"}
_SMS_TYPES = ("Transactional", "Promotional")
MAX_SUBJECT = 998


def aws_error(exc: Exception, what: str, provider: str) -> DeliveryError:
    """The typed error for a botocore exception `exc`; the message names
    `what` and AWS's error code, never the destination or the text."""
    kwargs: dict[str, Any] = {"provider": provider}
    if isinstance(exc, bce.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "")) or "Unknown"
        detail = str(error.get("Message", "")).lower()
        kwargs["provider_code"] = code
        text = f"{what} could not be sent: {provider} error {code}"
        if code in _THROTTLED:
            return ProviderRateLimited(f"{text} (rate limited)", **kwargs)
        if code in _AUTH:
            return ProviderAuthError(f"{text} (credentials refused)", **kwargs)
        if code in _INVALID and ("phone" in detail or "destination" in detail):
            return InvalidDestination(f"{text} (the destination cannot receive it)", **kwargs)
        if code in _INVALID:
            return ProviderError(
                f"{text} (invalid parameter)", reason="invalid_parameter", **kwargs
            )
        if code == "MessageRejected":
            return ProviderError(
                f"{text} (rejected; a sandbox account may only send to verified addresses)",
                reason="rejected",
                **kwargs,
            )
        if code in _PAUSED:
            return ProviderError(f"{text} (sending is paused)", reason="sending_paused", **kwargs)
        if code == "MailFromDomainNotVerifiedException":
            return ProviderError(f"{text} (sender not verified)", reason="invalid_sender", **kwargs)
        return ProviderError(text, **kwargs)
    name = type(exc).__name__
    if isinstance(exc, (bce.NoCredentialsError, bce.PartialCredentialsError)):
        return ProviderAuthError(f"{what} could not be sent: no AWS credentials ({name})", **kwargs)
    if isinstance(exc, bce.SSLError):
        return ProviderError(
            f"{what} could not be sent: TLS with {provider} failed ({name})",
            reason="tls_failed",
            **kwargs,
        )
    if isinstance(exc, (bce.EndpointConnectionError, bce.ConnectTimeoutError)):
        # Raised while connecting: no request was written.
        return ProviderError(
            f"{what} could not be sent: {provider} could not be reached ({name})",
            reason="unreachable",
            retryable=True,
            **kwargs,
        )
    if isinstance(exc, (bce.ReadTimeoutError, bce.ConnectionClosedError, bce.HTTPClientError)):
        return DeliveryUncertain(
            f"{what} may or may not have been sent: no answer from {provider} ({name})", **kwargs
        )
    return ProviderError(f"{what} could not be sent: {name}", **kwargs)


def _config_kwargs(connect_timeout: float, read_timeout: float) -> dict[str, Any]:
    c, r = check_timeouts(connect_timeout, read_timeout)
    # total_max_attempts=1: botocore retries nothing, not even a read timeout.
    return {"connect_timeout": c, "read_timeout": r, "retries": {"total_max_attempts": 1}}


def _check_endpoint(endpoint_url: object) -> str | None:
    if endpoint_url is not None and (
        not isinstance(endpoint_url, str) or not endpoint_url.startswith(("https://", "http://"))
    ):
        raise ConfigurationError("endpoint_url must be an http(s) URL")
    return endpoint_url


class _Aws:
    _service = ""
    _provider = ""
    _what = ""

    def __init__(
        self,
        *,
        session: Any = None,
        endpoint_url: str | None = None,
        connect_timeout: float = DEFAULT_TIMEOUTS[0],
        read_timeout: float = DEFAULT_TIMEOUTS[1],
        retry_delay: float = 1.0,
    ) -> None:
        self._endpoint_url = _check_endpoint(endpoint_url)
        self._config_kwargs = _config_kwargs(connect_timeout, read_timeout)
        self._retry_delay = check_retry_delay(retry_delay)
        self._session = session
        silence_vendor_debug("botocore.endpoint")  # it dumps each request's parameters

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def _failure(self, exc: Exception) -> DeliveryError:
        if isinstance(exc, DeliveryError):
            return exc
        return aws_error(exc, self._what, self._provider)


class _SyncAws(_Aws):
    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        session = self._session if self._session is not None else boto3.session.Session()
        try:
            self._client = session.client(
                self._service,
                endpoint_url=self._endpoint_url,
                config=Config(**self._config_kwargs),
            )
        except bce.NoRegionError:
            raise ConfigurationError(
                "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or a profile's region), "
                "or pass a boto3 Session with one"
            ) from None

    def _call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        def once() -> dict[str, Any]:
            try:
                with quiet_vendor_debug():
                    result: dict[str, Any] = getattr(self._client, operation)(**params)
            except Exception as exc:
                raise self._failure(exc) from exc
            return result

        return send_with_one_retry(once, retry_delay=self._retry_delay)


class _AsyncAws(_Aws):
    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        try:
            from aiobotocore.config import AioConfig
            from aiobotocore.session import get_session
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise ImportError(
                f"{type(self).__name__} needs aiobotocore: pip install 'mfakit[aws]'"
            ) from exc
        self._aio_session = self._session if self._session is not None else get_session()
        self._aio_config = AioConfig(**self._config_kwargs)
        region = self._aio_session.get_config_variable("region")
        if not region:
            raise ConfigurationError(
                "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or a profile's region), "
                "or pass an aiobotocore session with one"
            )

    async def _call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        async def once() -> dict[str, Any]:
            try:
                # A client per send: it belongs to the running event loop, and
                # codes go out one at a time, so its cost does not matter.
                with quiet_vendor_debug():
                    async with self._aio_session.create_client(
                        self._service, endpoint_url=self._endpoint_url, config=self._aio_config
                    ) as client:
                        result: dict[str, Any] = await getattr(client, operation)(**params)
            except Exception as exc:
                raise self._failure(exc) from exc
            return result

        return await send_async_with_one_retry(once, retry_delay=self._retry_delay)


class _Sns:
    _service = "sns"
    _provider = "sns"
    _what = "the SMS"

    def _setup(
        self,
        *,
        sender_id: str | None,
        origination_number: str | None,
        sms_type: str,
        max_price: str | None,
        check_opt_out: bool,
    ) -> None:
        if sms_type not in _SMS_TYPES:
            raise ConfigurationError("sms_type must be 'Transactional' or 'Promotional'")
        attributes: dict[str, dict[str, str]] = {
            "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": sms_type}
        }
        if sender_id is not None:
            if not isinstance(sender_id, str) or not (
                1 <= len(sender_id) <= 11 and sender_id.isascii() and sender_id.isalnum()
            ):
                raise ConfigurationError("sender_id must be 1 to 11 ASCII letters or digits")
            attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": sender_id}
        if origination_number is not None:
            try:
                origination_number = check_phone(origination_number)
            except InvalidInput:
                raise ConfigurationError("origination_number must be an E.164 number") from None
            attributes["AWS.MM.SMS.OriginationNumber"] = {
                "DataType": "String",
                "StringValue": origination_number,
            }
        if max_price is not None:
            try:
                if not 0 < float(check_name(max_price, "max_price")) < 1000:
                    raise ValueError
            except ValueError:
                raise ConfigurationError(
                    "max_price must be a price in USD, such as '0.50'"
                ) from None
            attributes["AWS.SNS.SMS.MaxPrice"] = {"DataType": "Number", "StringValue": max_price}
        if not isinstance(check_opt_out, bool):
            raise ConfigurationError("check_opt_out must be True or False")
        self._attributes = attributes
        self._check_opt_out = check_opt_out

    def _params(self, to: str, text: str, locale: str | None) -> dict[str, Any]:
        check_locale(locale)
        return {
            "PhoneNumber": check_phone(to),
            "Message": check_text(text),
            "MessageAttributes": self._attributes,
        }

    def _opted_out(self) -> DestinationOptedOut:
        return DestinationOptedOut(
            "the SMS could not be sent: the recipient opted out", provider=self._provider
        )


class SnsSmsSender(_Sns, _SyncAws):
    """Implements [`SmsSender`][mfakit.ports.delivery.SmsSender] with Amazon SNS
    `Publish` to a phone number.

    `sms_type` is `"Transactional"` (the default: highest delivery
    reliability, what a code needs) or `"Promotional"`; `sender_id` an
    alphanumeric sender id where the country allows one;
    `origination_number` the number (or short code) to send from;
    `max_price` the most (USD) one message may cost. With
    `check_opt_out=True` each send first asks SNS whether the number opted
    out (SNS drops such messages silently) and raises
    [`DestinationOptedOut`][mfakit.errors.DestinationOptedOut] if so. `session`,
    `endpoint_url`, `connect_timeout`, `read_timeout` and
    `retry_delay` are as described in the module docstring.
    """

    def __init__(
        self,
        *,
        sender_id: str | None = None,
        origination_number: str | None = None,
        sms_type: str = "Transactional",
        max_price: str | None = None,
        check_opt_out: bool = False,
        session: Any = None,
        endpoint_url: str | None = None,
        connect_timeout: float = DEFAULT_TIMEOUTS[0],
        read_timeout: float = DEFAULT_TIMEOUTS[1],
        retry_delay: float = 1.0,
    ) -> None:
        self._setup(
            sender_id=sender_id,
            origination_number=origination_number,
            sms_type=sms_type,
            max_price=max_price,
            check_opt_out=check_opt_out,
        )
        super().__init__(
            session=session,
            endpoint_url=endpoint_url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retry_delay=retry_delay,
        )

    def send_sms(self, to: str, text: str, *, locale: str | None = None) -> str:
        """Publish `text` to `to`; returns SNS's `MessageId`."""
        params = self._params(to, text, locale)
        if self._check_opt_out:
            answer = self._call("check_if_phone_number_is_opted_out", {"phoneNumber": to})
            if answer.get("isOptedOut"):
                raise self._opted_out()
        return str(self._call("publish", params)["MessageId"])


class AsyncSnsSmsSender(_Sns, _AsyncAws):
    """Implements [`AsyncSmsSender`][mfakit.ports.delivery.AsyncSmsSender] on
    `aiobotocore`; the arguments are those of [`SnsSmsSender`][mfakit.adapters.aws.SnsSmsSender] (an
    `aiobotocore` session instead of a `boto3` one)."""

    def __init__(
        self,
        *,
        sender_id: str | None = None,
        origination_number: str | None = None,
        sms_type: str = "Transactional",
        max_price: str | None = None,
        check_opt_out: bool = False,
        session: Any = None,
        endpoint_url: str | None = None,
        connect_timeout: float = DEFAULT_TIMEOUTS[0],
        read_timeout: float = DEFAULT_TIMEOUTS[1],
        retry_delay: float = 1.0,
    ) -> None:
        self._setup(
            sender_id=sender_id,
            origination_number=origination_number,
            sms_type=sms_type,
            max_price=max_price,
            check_opt_out=check_opt_out,
        )
        super().__init__(
            session=session,
            endpoint_url=endpoint_url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retry_delay=retry_delay,
        )

    async def send_sms(self, to: str, text: str, *, locale: str | None = None) -> str:
        """Publish `text` to `to`; returns SNS's `MessageId`."""
        params = self._params(to, text, locale)
        if self._check_opt_out:
            answer = await self._call("check_if_phone_number_is_opted_out", {"phoneNumber": to})
            if answer.get("isOptedOut"):
                raise self._opted_out()
        return str((await self._call("publish", params))["MessageId"])


def text_to_html(text: str, *, locale: str | None = None) -> str:
    """A minimal HTML version of a plain-text email: the text escaped, its
    line breaks kept."""
    lang = f' lang="{html_lib.escape(locale)}"' if locale else ""
    body = html_lib.escape(text)
    return (
        f'<!DOCTYPE html><html{lang}><head><meta charset="utf-8"></head><body>'
        f'<div style="white-space: pre-wrap; font-family: sans-serif">{body}</div>'
        "</body></html>"
    )


class _Ses:
    _service = "sesv2"
    _provider = "ses"
    _what = "the email"

    def _setup(
        self, *, from_addr: str, reply_to: str | None, configuration_set: str | None
    ) -> None:
        try:
            self._from_addr = normalize_email(from_addr, field="from_addr")
            self._reply_to = (
                None if reply_to is None else normalize_email(reply_to, field="reply_to")
            )
        except InvalidInput as exc:
            raise ConfigurationError(str(exc)) from None
        self._configuration_set = (
            None
            if configuration_set is None
            else check_name(configuration_set, "configuration_set")
        )

    def _params(
        self, to: str, subject: str, text: str, html: str | None, locale: str | None
    ) -> dict[str, Any]:
        recipient = check_email(to)
        subject = check_text(subject, "subject", limit=MAX_SUBJECT)
        if any(ord(c) < 32 for c in subject):
            raise InvalidInput("subject", "must not contain line breaks or control characters")
        text = check_text(text, limit=100_000)
        locale = check_locale(locale)
        html = (
            text_to_html(text, locale=locale)
            if html is None
            else check_text(html, "html", limit=500_000)
        )
        params: dict[str, Any] = {
            "FromEmailAddress": self._from_addr,
            "Destination": {"ToAddresses": [recipient]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": subject, "Charset": "UTF-8"},
                    "Body": {
                        "Text": {"Data": text, "Charset": "UTF-8"},
                        "Html": {"Data": html, "Charset": "UTF-8"},
                    },
                }
            },
        }
        if self._reply_to is not None:
            params["ReplyToAddresses"] = [self._reply_to]
        if self._configuration_set is not None:
            params["ConfigurationSetName"] = self._configuration_set
        return params


class SesEmailSender(_Ses, _SyncAws):
    """Implements [`EmailSender`][mfakit.ports.delivery.EmailSender] with Amazon SES
    v2 `SendEmail`: a text part and an HTML part (built from the text,
    escaped, when no `html` is given).

    `from_addr` must be an identity verified in SES; `reply_to` adds a
    Reply-To address; `configuration_set` names the SES configuration set
    (its event destinations feed delivery statuses, see
    [`mfakit.delivery_status`][mfakit.delivery_status]). The other arguments are as for
    [`SnsSmsSender`][mfakit.adapters.aws.SnsSmsSender].
    """

    def __init__(
        self,
        from_addr: str,
        *,
        reply_to: str | None = None,
        configuration_set: str | None = None,
        session: Any = None,
        endpoint_url: str | None = None,
        connect_timeout: float = DEFAULT_TIMEOUTS[0],
        read_timeout: float = DEFAULT_TIMEOUTS[1],
        retry_delay: float = 1.0,
    ) -> None:
        self._setup(from_addr=from_addr, reply_to=reply_to, configuration_set=configuration_set)
        super().__init__(
            session=session,
            endpoint_url=endpoint_url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retry_delay=retry_delay,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(from_addr={self._from_addr!r})"

    def send_email(
        self,
        to: str,
        subject: str,
        text: str,
        *,
        html: str | None = None,
        locale: str | None = None,
    ) -> str:
        """Send the email; returns SES's `MessageId`."""
        params = self._params(to, subject, text, html, locale)
        return str(self._call("send_email", params)["MessageId"])


class AsyncSesEmailSender(_Ses, _AsyncAws):
    """Implements [`AsyncEmailSender`][mfakit.ports.delivery.AsyncEmailSender] on
    `aiobotocore`; the arguments are those of
    [`SesEmailSender`][mfakit.adapters.aws.SesEmailSender]."""

    def __init__(
        self,
        from_addr: str,
        *,
        reply_to: str | None = None,
        configuration_set: str | None = None,
        session: Any = None,
        endpoint_url: str | None = None,
        connect_timeout: float = DEFAULT_TIMEOUTS[0],
        read_timeout: float = DEFAULT_TIMEOUTS[1],
        retry_delay: float = 1.0,
    ) -> None:
        self._setup(from_addr=from_addr, reply_to=reply_to, configuration_set=configuration_set)
        super().__init__(
            session=session,
            endpoint_url=endpoint_url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retry_delay=retry_delay,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(from_addr={self._from_addr!r})"

    async def send_email(
        self,
        to: str,
        subject: str,
        text: str,
        *,
        html: str | None = None,
        locale: str | None = None,
    ) -> str:
        """Send the email; returns SES's `MessageId`."""
        params = self._params(to, subject, text, html, locale)
        return str((await self._call("send_email", params))["MessageId"])
