"""A sender for development: prints each SMS, call and email to a stream.

It shows codes in clear, which is its purpose on a developer's machine; never
wire it in production (use a provider's adapter or
:class:`~mfakit.adapters.smtp.SmtpEmailSender`).
"""

from __future__ import annotations

import sys
import threading
from typing import TextIO

__all__ = ["ConsoleSender"]


class ConsoleSender:
    """Implements the SMS, voice and email ports by writing to ``stream``
    (default: standard output at the time of sending)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "ConsoleSender()"

    def _write(self, header: str, text: str) -> None:
        stream = self._stream if self._stream is not None else sys.stdout
        with self._lock:
            stream.write(f"--- {header}\n{text.rstrip()}\n---\n")
            stream.flush()

    def send_sms(self, to: str, text: str) -> None:
        self._write(f"SMS to {to}", text)

    def send_voice(self, to: str, text: str) -> None:
        self._write(f"voice call to {to}", text)

    def send_email(self, to: str, subject: str, text: str) -> None:
        self._write(f"email to {to}: {subject}", text)
