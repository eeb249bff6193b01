"""Delivery ports (P2): SMS, voice and email, and codes checked by a provider.

Each sender port is one method, so an adapter may implement any subset (the
in-memory [`Outbox`][mfakit.adapters.Outbox] and the console sender
implement all three). Adapters raise [`DeliveryError`][mfakit.errors.DeliveryError] (or
one of its subclasses, which say whether a resend can help and whether the
destination is unusable) when a message cannot be handed to the provider.

The keyword-only parameters are optional for an adapter: mfakit passes
`locale` (a BCP 47 tag such as `"fr"` or `"pt-BR"`, the language of the
text) and `html` only to a sender whose method accepts them, so a sender
written with the plain `send_sms(to, text)` signature keeps working.

A sender may return the provider's message id (a Twilio `SM...` sid, an SNS
`MessageId`): delivery-status callbacks ([`mfakit.delivery_status`][mfakit.delivery_status]) name
the message by it. `None` means the sender has no such id.

[`CodeProvider`][mfakit.ports.delivery.CodeProvider] is for services that generate and check the
code themselves (Twilio Verify): mfakit keeps its challenge, limits, quotas, audit
and notices, and asks the provider only to send a code and to check one.
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

__all__ = [
    "AsyncCodeProvider",
    "AsyncEmailSender",
    "AsyncSmsSender",
    "AsyncVoiceSender",
    "CodeChannel",
    "CodeProvider",
    "EmailSender",
    "SmsSender",
    "VoiceSender",
]

CodeChannel = Literal["sms", "voice", "email"]
"""The channels a [`CodeProvider`][mfakit.ports.delivery.CodeProvider] may be asked to send a code
on."""


@runtime_checkable
class SmsSender(Protocol):
    def send_sms(self, to: str, text: str, *, locale: str | None = None) -> str | None:
        """Send `text` to the E.164 number `to`; `locale` is the text's
        language. Returns the provider's message id, if it has one."""
        ...


@runtime_checkable
class VoiceSender(Protocol):
    def send_voice(self, to: str, text: str, *, locale: str | None = None) -> str | None:
        """Call the E.164 number `to` and read `text` aloud in the language
        `locale`. The text mfakit renders spells a code as separate digits
        ("1, 2, 3, ..."), so a speech engine reads them one by one. Returns the
        provider's call id, if it has one."""
        ...


@runtime_checkable
class EmailSender(Protocol):
    def send_email(
        self,
        to: str,
        subject: str,
        text: str,
        *,
        html: str | None = None,
        locale: str | None = None,
    ) -> str | None:
        """Send an email with a plain-text part and, when `html` is given,
        an HTML alternative. Returns the provider's message id, if any."""
        ...


@runtime_checkable
class AsyncSmsSender(Protocol):
    async def send_sms(self, to: str, text: str, *, locale: str | None = None) -> str | None:
        """See [`SmsSender.send_sms`][mfakit.ports.delivery.SmsSender.send_sms]."""
        ...


@runtime_checkable
class AsyncVoiceSender(Protocol):
    async def send_voice(self, to: str, text: str, *, locale: str | None = None) -> str | None:
        """See [`VoiceSender.send_voice`][mfakit.ports.delivery.VoiceSender.send_voice]."""
        ...


@runtime_checkable
class AsyncEmailSender(Protocol):
    async def send_email(
        self,
        to: str,
        subject: str,
        text: str,
        *,
        html: str | None = None,
        locale: str | None = None,
    ) -> str | None:
        """See [`EmailSender.send_email`][mfakit.ports.delivery.EmailSender.send_email]."""
        ...


@runtime_checkable
class CodeProvider(Protocol):
    """A service that generates, sends and checks the code itself (Twilio
    Verify). mfakit still owns the challenge: its state, expiry, attempt
    limits, resend cooldown and quotas, the audit log and the notices. The
    provider only replaces "make a code and send it" and "compare the code".

    * [`start`][mfakit.ports.delivery.CodeProvider.start] sends a code to `to` on `channel` and
      returns the provider's reference for it (e.g. a Verification sid), which mfakit
      keeps on the challenge. It raises [`DeliveryError`][mfakit.errors.DeliveryError]
      (or a subclass) when nothing was sent.
    * [`check`][mfakit.ports.delivery.CodeProvider.check] asks whether `code` is right for the
      reference that `start` returned: `True` once, when it is; `False` for a wrong
      code and for a reference the provider no longer knows (expired, used,
      cancelled). It raises [`DeliveryError`][mfakit.errors.DeliveryError] only when
      the provider could not answer.
    * [`cancel`][mfakit.ports.delivery.CodeProvider.cancel] tells the provider that mfakit's
      challenge ended (expired, replaced, cancelled), so its code stops working there too.
      It never raises for a reference the provider no longer knows.
    """

    def start(self, to: str, channel: CodeChannel, *, locale: str | None = None) -> str: ...

    def check(self, ref: str, code: str) -> bool: ...

    def cancel(self, ref: str) -> None: ...


@runtime_checkable
class AsyncCodeProvider(Protocol):
    """The async twin of [`CodeProvider`][mfakit.ports.delivery.CodeProvider]."""

    async def start(self, to: str, channel: CodeChannel, *, locale: str | None = None) -> str: ...

    async def check(self, ref: str, code: str) -> bool: ...

    async def cancel(self, ref: str) -> None: ...
