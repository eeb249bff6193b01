"""The development inbox: every email, text message and call the project
"sends" is printed to the console and kept in memory for ``/dev/inbox/``.
For a demo on one machine only: a real project configures a real email
backend and an SMS provider (see mfakit's docs, "Delivery providers")."""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from django.core.mail.backends.base import BaseEmailBackend

__all__ = ["SMS", "EmailBackend", "Message", "messages"]


@dataclass(frozen=True)
class Message:
    at: datetime
    channel: str
    to: str
    text: str


_lock = threading.Lock()
_messages: list[Message] = []


def _keep(channel: str, to: str, text: str) -> None:
    with _lock:
        _messages.append(Message(datetime.now(timezone.utc), channel, to, text))
        del _messages[:-100]
    print(f"[dev inbox] {channel} to {to}:\n{text}\n", file=sys.stderr, flush=True)


def messages() -> list[Message]:
    """Everything sent, newest first."""
    with _lock:
        return list(reversed(_messages))


class EmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[Any]) -> int:
        for message in email_messages:
            for to in message.recipients():
                _keep("email", to, f"{message.subject}\n\n{message.body}")
        return len(email_messages)


class _Phone:
    """mfakit's SMS and voice sender ports, into the inbox."""

    def send_sms(self, to: str, text: str, *, locale: str | None = None) -> None:
        _keep("sms", to, text)

    def send_voice(self, to: str, text: str, *, locale: str | None = None) -> None:
        _keep("voice", to, text)


SMS = _Phone()
