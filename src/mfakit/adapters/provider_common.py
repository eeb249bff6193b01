"""What the provider adapters (Twilio, AWS, Vonage) share: checks of their
arguments and configuration, the one-retry rule, and a logger that says nothing.

The retry rule (issue 16): a send is tried at most twice, and the second try
happens only when the first failed with an error that proves nothing went out
(`retryable` is true: the provider throttled the request, or the connection
was refused before the request was written). An ambiguous failure (a read
timeout after the request was sent) is [`DeliveryUncertain`][mfakit.errors.DeliveryUncertain]
and is never retried, so a user never receives two different codes.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

from ..core.contacts import normalize_email
from ..errors import ConfigurationError, DeliveryError, InvalidInput

__all__ = [
    "SILENT_LOGGER",
    "Timeouts",
    "check_email",
    "check_locale",
    "check_phone",
    "check_text",
    "check_timeouts",
    "missing_extra",
    "quiet_vendor_debug",
    "send_async_with_one_retry",
    "send_with_one_retry",
    "silence_vendor_debug",
    "spell_digits",
]

T = TypeVar("T")

Timeouts = tuple[float, float]
"""(connect, read) timeouts in seconds."""

DEFAULT_TIMEOUTS: Timeouts = (5.0, 10.0)
MAX_TEXT = 1600  # Twilio's body limit; codes and notices are far shorter
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_DIGIT_RUN = re.compile(r"(?<![0-9])[0-9](?:[ ]?[0-9]){3,}(?![0-9])")
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8}){0,3}")

# Vendor SDKs log request and response bodies (which hold the code) at INFO or
# DEBUG. Adapters that can choose the SDK's logger hand it this one: it has no
# parent and no handler, and its level is above CRITICAL.
SILENT_LOGGER = logging.Logger("mfakit.silenced-vendor-sdk", level=logging.CRITICAL + 1)
SILENT_LOGGER.propagate = False


_SENDING: contextvars.ContextVar[bool] = contextvars.ContextVar("mfakit_sending", default=False)


class _QuietWhileSending(logging.Filter):
    """Drops a vendor logger's DEBUG records while an mfakit adapter is
    sending in this thread or task (they dump the message, which holds the
    code); the host's own use of the SDK logs as before."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_SENDING.get() and record.levelno <= logging.DEBUG)


_QUIET = _QuietWhileSending()


def silence_vendor_debug(logger_name: str) -> None:
    """Put the filter on `logger_name` (once; a filter acts on the records
    logged through that very logger, not its children)."""
    logger = logging.getLogger(logger_name)
    if _QUIET not in logger.filters:
        logger.addFilter(_QUIET)


@contextlib.contextmanager
def quiet_vendor_debug() -> Iterator[None]:
    """Mark the current thread or task as sending, for the filter."""
    token = _SENDING.set(True)
    try:
        yield
    finally:
        _SENDING.reset(token)


def missing_extra(module: str, extra: str) -> ImportError:
    return ImportError(f"{module} needs the '{extra}' extra: pip install 'mfakit[{extra}]'")


def check_phone(to: object) -> str:
    """`to` as an E.164 number, or [`InvalidInput`][mfakit.errors.InvalidInput] (never quoting
    it)."""
    if not isinstance(to, str):
        raise InvalidInput("to", "must be a str")
    if not _E164.fullmatch(to):
        raise InvalidInput("to", "must be an E.164 number such as +14155550101")
    return to


def check_email(to: object) -> str:
    if not isinstance(to, str):
        raise InvalidInput("to", "must be a str")
    return normalize_email(to, field="to")


def check_text(text: object, field: str = "text", *, limit: int = MAX_TEXT) -> str:
    if not isinstance(text, str):
        raise InvalidInput(field, "must be a str")
    if not text.strip():
        raise InvalidInput(field, "must not be empty")
    if len(text) > limit:
        raise InvalidInput(field, f"must be at most {limit} characters")
    return text


def check_locale(locale: object) -> str | None:
    if locale is None:
        return None
    if not isinstance(locale, str) or not _LOCALE.fullmatch(locale):
        raise InvalidInput("locale", "must be a language tag such as 'fr' or 'pt-BR'")
    return locale


def check_timeouts(connect_timeout: object, read_timeout: object) -> Timeouts:
    values = []
    for name, value in (("connect_timeout", connect_timeout), ("read_timeout", read_timeout)):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or not 0 < value <= 300
        ):
            raise ConfigurationError(f"{name} must be a number of seconds in (0, 300]")
        values.append(float(value))
    return values[0], values[1]


def check_retry_delay(retry_delay: object) -> float:
    if (
        isinstance(retry_delay, bool)
        or not isinstance(retry_delay, (int, float))
        or not math.isfinite(retry_delay)
        or not 0 <= retry_delay <= 30
    ):
        raise ConfigurationError("retry_delay must be a number of seconds in [0, 30]")
    return float(retry_delay)


def check_name(value: object, field: str) -> str:
    """A non-empty, single-line configuration string (an id, a sid, a key)."""
    if not isinstance(value, str) or not value.strip() or any(ord(c) < 32 for c in value):
        raise ConfigurationError(f"{field} must be a non-empty single-line str")
    return value.strip()


def spell_digits(text: str) -> str:
    """Runs of four or more digits (a code, maybe grouped as `"123 456"`)
    spelled out one by one as `"1, 2, 3, 4, 5, 6"`, so a speech engine never
    reads "one hundred twenty-three thousand...". The voice text mfakit renders
    is spelled already (`{spoken_code}`); this makes sure of it for a host's
    own template. Short numbers ("10 minutes") are left alone."""

    def spell(match: re.Match[str]) -> str:
        return ", ".join(ch for ch in match.group(0) if ch.isdigit())

    return _DIGIT_RUN.sub(spell, text)


def send_with_one_retry(send: Callable[[], T], *, retry_delay: float) -> T:
    """`send()`; once more after `retry_delay` seconds if it raised a
    [`DeliveryError`][mfakit.errors.DeliveryError] that is `retryable` (nothing went out)."""
    try:
        return send()
    except DeliveryError as exc:
        if not exc.retryable:
            raise
    if retry_delay:
        time.sleep(retry_delay)
    return send()


async def send_async_with_one_retry(send: Callable[[], Awaitable[T]], *, retry_delay: float) -> T:
    """The async twin of `send_with_one_retry`."""
    try:
        return await send()
    except DeliveryError as exc:
        if not exc.retryable:
            raise
    if retry_delay:
        import asyncio  # here: a sync user never loads asyncio

        await asyncio.sleep(retry_delay)
    return await send()


def transport_failure(exc: BaseException, *, what: str, provider: str) -> DeliveryError | None:
    """The error for a failure of the HTTP transport (`requests`, `aiohttp`),
    or `None` if `exc` is not one.

    A connection that was refused or timed out while connecting carried no
    request: retryable. A TLS failure is a configuration problem: not
    retryable. Anything after the request may have been written (a read
    timeout, a dropped connection) is [`DeliveryUncertain`][mfakit.errors.DeliveryUncertain].
    """
    from ..errors import DeliveryUncertain, ProviderError

    name = type(exc).__name__
    not_sent = ProviderError(
        f"{what} could not be sent: {provider} could not be reached ({name})",
        reason="unreachable",
        retryable=True,
        provider=provider,
    )
    uncertain = DeliveryUncertain(
        f"{what} may or may not have been sent: no answer from {provider} ({name})",
        provider=provider,
    )
    tls = ProviderError(
        f"{what} could not be sent: TLS with {provider} failed ({name})",
        reason="tls_failed",
        provider=provider,
    )
    try:
        import requests
        import urllib3.exceptions as u3
    except ImportError:  # pragma: no cover - every adapter on requests has it
        pass
    else:
        if isinstance(exc, requests.exceptions.SSLError):
            return tls
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return not_sent
        if isinstance(exc, requests.exceptions.ConnectionError):
            reason = exc.args[0] if exc.args else None
            if isinstance(reason, u3.MaxRetryError):
                reason = reason.reason
            if isinstance(reason, (u3.NewConnectionError, u3.ConnectTimeoutError)):
                return not_sent
            return uncertain
        if isinstance(exc, requests.exceptions.RequestException):
            return uncertain
    try:
        import aiohttp
    except ImportError:
        pass
    else:
        if isinstance(exc, (aiohttp.ClientSSLError, aiohttp.ServerFingerprintMismatch)):
            return tls
        if isinstance(exc, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)):
            return not_sent
        from asyncio import TimeoutError as AsyncTimeout  # (not TimeoutError before 3.11)

        if isinstance(exc, (aiohttp.ClientError, AsyncTimeout)):
            return uncertain
    from asyncio import TimeoutError as AsyncTimeout  # (a failure path: loading it is fine)

    if isinstance(exc, (AsyncTimeout, TimeoutError, OSError)):
        return uncertain
    return None


def check_message(
    to: object,
    text: object,
    *,
    subject: object = "",
    html: object = None,
    locale: object = None,
) -> None:
    """The light checks every sender makes, even one that sends nowhere (the
    outbox, the console): strings where strings are due, a subject on one line,
    a well-formed locale. Raises [`InvalidInput`][mfakit.errors.InvalidInput] naming the
    argument."""
    for field, value in (("to", to), ("text", text), ("subject", subject)):
        if not isinstance(value, str):
            raise InvalidInput(field, "must be a str")
    if html is not None and not isinstance(html, str):
        raise InvalidInput("html", "must be a str")
    assert isinstance(subject, str) and isinstance(to, str)
    for field, value in (("to", to), ("subject", subject)):
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise InvalidInput(field, "must not contain line breaks or control characters")
    check_locale(locale)
