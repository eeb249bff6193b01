"""An in-memory outbox: a sender for SMS, voice and email that keeps what it
was asked to send, so tests can read "the last code sent to X" (P6).

Tests may also make the next sends fail with [`Outbox.fail_next`][mfakit.adapters.Outbox.fail_next],
to see how the application copes with a provider outage.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

from ..errors import DeliveryError
from .provider_common import check_message

__all__ = ["Outbox", "SentMessage"]

_CODE = re.compile(r"(?<![0-9])(?:[0-9](?:, )?){6,10}(?![0-9])")


@dataclass(frozen=True, slots=True)
class SentMessage:
    channel: str
    """`"sms"`, `"voice"` or `"email"`."""
    to: str
    subject: str
    text: str = field(repr=False)
    locale: str | None = None
    """The language mfakit asked for, if it passed one."""
    html: str | None = field(default=None, repr=False)
    """The HTML alternative of an email, if one was given."""

    @property
    def code(self) -> str | None:
        """The first 6-10 digit code in the text (voice digits joined), if any."""
        match = _CODE.search(self.text)
        return match.group(0).replace(", ", "") if match else None


class Outbox:
    """Implements [`SmsSender`][mfakit.ports.delivery.SmsSender], `VoiceSender` and
    `EmailSender` by recording messages. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[SentMessage] = []
        self._failures = 0

    def __repr__(self) -> str:
        return f"Outbox(messages={len(self._messages)})"

    def _record(self, message: SentMessage) -> None:
        with self._lock:
            if self._failures:
                self._failures -= 1
                raise DeliveryError(f"the {message.channel} provider is unavailable (simulated)")
            self._messages.append(message)

    def send_sms(self, to: str, text: str, *, locale: str | None = None) -> None:
        check_message(to, text, locale=locale)
        self._record(SentMessage("sms", to, "", text, locale))

    def send_voice(self, to: str, text: str, *, locale: str | None = None) -> None:
        check_message(to, text, locale=locale)
        self._record(SentMessage("voice", to, "", text, locale))

    def send_email(
        self,
        to: str,
        subject: str,
        text: str,
        *,
        html: str | None = None,
        locale: str | None = None,
    ) -> None:
        check_message(to, text, subject=subject, html=html, locale=locale)
        self._record(SentMessage("email", to, subject, text, locale, html))

    # --- for tests ------------------------------------------------------
    def fail_next(self, count: int = 1) -> None:
        """Make the next `count` sends raise [`DeliveryError`][mfakit.errors.DeliveryError]."""
        with self._lock:
            self._failures = count

    @property
    def messages(self) -> list[SentMessage]:
        """Everything sent, oldest first."""
        with self._lock:
            return list(self._messages)

    def sent_to(self, to: str) -> list[SentMessage]:
        """Messages sent to `to` (a number or an address), oldest first."""
        return [m for m in self.messages if m.to == to]

    def last(self, to: str) -> SentMessage:
        """The last message sent to `to`; `LookupError` if none."""
        sent = self.sent_to(to)
        if not sent:
            raise LookupError(f"nothing was sent to {to}")
        return sent[-1]

    def last_code(self, to: str) -> str:
        """The code in the newest message to `to` that carries one (a security
        notice sent since does not hide it); LookupError if none does."""
        with self._lock:
            for message in reversed(self._messages):
                if message.to == to and message.code is not None:
                    return message.code
        raise LookupError(f"no message to {to} holds a code")

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
