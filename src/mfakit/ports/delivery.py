"""Delivery ports (P2): SMS, voice and email.

Each is one method, so an adapter may implement any subset (the in-memory
:class:`~mfakit.adapters.outbox.Outbox` and the console sender implement all
three). Adapters raise :class:`~mfakit.errors.DeliveryError` when a message
cannot be handed to the provider.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = [
    "AsyncEmailSender",
    "AsyncSmsSender",
    "AsyncVoiceSender",
    "EmailSender",
    "SmsSender",
    "VoiceSender",
]


@runtime_checkable
class SmsSender(Protocol):
    def send_sms(self, to: str, text: str) -> None:
        """Send ``text`` to the E.164 number ``to``."""
        ...


@runtime_checkable
class VoiceSender(Protocol):
    def send_voice(self, to: str, text: str) -> None:
        """Call the E.164 number ``to`` and read ``text`` aloud."""
        ...


@runtime_checkable
class EmailSender(Protocol):
    def send_email(self, to: str, subject: str, text: str) -> None:
        """Send a plain-text email."""
        ...


@runtime_checkable
class AsyncSmsSender(Protocol):
    async def send_sms(self, to: str, text: str) -> None: ...


@runtime_checkable
class AsyncVoiceSender(Protocol):
    async def send_voice(self, to: str, text: str) -> None: ...


@runtime_checkable
class AsyncEmailSender(Protocol):
    async def send_email(self, to: str, subject: str, text: str) -> None: ...
