"""A sender for development: prints each SMS, call and email to a stream.

It shows codes in clear, which is its purpose on a developer's machine; never
wire it in production (use a provider's adapter or
[`SmtpEmailSender`][mfakit.adapters.smtp.SmtpEmailSender]).
"""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from ..errors import DeliveryError
from .provider_common import check_message

__all__ = ["ConsoleSender"]


class ConsoleSender:
    """Implements the SMS, voice and email ports by writing to `stream`
    (default: standard output at the time of sending)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "ConsoleSender()"

    def _write(self, header: str, text: str) -> None:
        stream = self._stream if self._stream is not None else sys.stdout
        with self._lock:
            try:
                stream.write(f"--- {header}\n{text.rstrip()}\n---\n")
                stream.flush()
            except (OSError, ValueError) as exc:  # a closed or broken stream
                # Like any sender: nothing went out (the quota is given back).
                raise DeliveryError(
                    f"the console sender could not write ({type(exc).__name__})",
                    reason="provider_error",
                    retryable=False,
                    provider="console",
                ) from exc

    def send_sms(self, to: str, text: str, *, locale: str | None = None) -> None:
        check_message(to, text, locale=locale)
        self._write(f"SMS to {to}{_lang(locale)}", text)

    def send_voice(self, to: str, text: str, *, locale: str | None = None) -> None:
        check_message(to, text, locale=locale)
        self._write(f"voice call to {to}{_lang(locale)}", text)

    def send_email(
        self,
        to: str,
        subject: str,
        text: str,
        *,
        html: str | None = None,
        locale: str | None = None,
    ) -> None:
        # The HTML part is not printed: the text part says the same.
        check_message(to, text, subject=subject, html=html, locale=locale)
        self._write(f"email to {to}{_lang(locale)}: {subject}", text)


def _lang(locale: str | None) -> str:
    return "" if locale is None else f" [{locale}]"
