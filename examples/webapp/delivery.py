"""Choosing the SMS, voice and email senders from environment variables.

By default every channel goes to the dev inbox (console and outbox). Set
``MFAKIT_SMS_PROVIDER``, ``MFAKIT_VOICE_PROVIDER`` or ``MFAKIT_EMAIL_PROVIDER``
to switch a channel to a real provider; each provider reads its own variables
(see docs/example-app.md, "Real providers"):

==========================  =====================================================
``MFAKIT_SMS_PROVIDER``     ``dev`` (default), ``twilio``, ``twilio-verify``, ``sns``,
                            ``vonage``
``MFAKIT_VOICE_PROVIDER``   ``dev`` (default), ``twilio``
``MFAKIT_EMAIL_PROVIDER``   ``dev`` (default), ``ses``, ``smtp``
==========================  =====================================================

A provider's module is imported only when it is chosen, so the demo needs no
vendor SDK until you ask for one. Missing settings stop the app at start-up
with a message naming the variable.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mfakit.delivery_status import DeliveryStatus
from mfakit.errors import ConfigurationError
from mfakit.ports.delivery import CodeProvider, EmailSender, SmsSender, VoiceSender

__all__ = ["Senders", "StatusLog", "make_senders"]

log = logging.getLogger(__name__)

PROVIDERS = {
    "sms": ("dev", "twilio", "twilio-verify", "sns", "vonage"),
    "voice": ("dev", "twilio"),
    "email": ("dev", "ses", "smtp"),
}
NAMES = {
    "dev": "dev inbox",
    "twilio": "Twilio",
    "twilio-verify": "Twilio Verify",
    "sns": "Amazon SNS",
    "vonage": "Vonage",
    "ses": "Amazon SES",
    "smtp": "SMTP",
}


@dataclass(frozen=True, slots=True)
class Senders:
    sms: SmsSender | CodeProvider
    """A sender, or Twilio Verify (which makes, sends and checks the codes)."""
    voice: VoiceSender
    email: EmailSender
    description: str
    """For the start-up banner, e.g. "SMS: Twilio; voice: dev inbox; email: dev inbox"."""


def _need(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"the chosen provider needs the environment variable {name}")
    return value


def _twilio_options(environ: Mapping[str, str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    base_url = environ.get("TWILIO_API_BASE_URL", "").strip()  # a test server
    if base_url:
        options["base_url"] = base_url
    callback = environ.get("TWILIO_STATUS_CALLBACK", "").strip()
    if callback:
        options["status_callback"] = callback
    return options


def _sms(choice: str, environ: Mapping[str, str]) -> SmsSender | CodeProvider:
    if choice == "twilio-verify":
        from mfakit.adapters.twilio import TwilioVerify

        options = _twilio_options(environ)
        options.pop("status_callback", None)  # Verify reports no per-message status here
        return TwilioVerify(
            _need(environ, "TWILIO_ACCOUNT_SID"),
            _need(environ, "TWILIO_AUTH_TOKEN"),
            service_sid=_need(environ, "TWILIO_VERIFY_SERVICE_SID"),
            **options,
        )
    if choice == "twilio":
        from mfakit.adapters.twilio import TwilioSmsSender

        service = environ.get("TWILIO_MESSAGING_SERVICE_SID", "").strip()
        sender: dict[str, Any] = (
            {"messaging_service_sid": service}
            if service
            else {"from_": _need(environ, "TWILIO_FROM")}
        )
        return TwilioSmsSender(
            _need(environ, "TWILIO_ACCOUNT_SID"),
            _need(environ, "TWILIO_AUTH_TOKEN"),
            **sender,
            **_twilio_options(environ),
        )
    if choice == "sns":
        from mfakit.adapters.aws import SnsSmsSender

        return SnsSmsSender(sender_id=environ.get("MFAKIT_SNS_SENDER_ID") or None)
    from mfakit.adapters.vonage import VonageSmsSender

    rest_host = environ.get("VONAGE_REST_HOST", "").strip()  # a test server
    return VonageSmsSender(
        _need(environ, "VONAGE_API_KEY"),
        _need(environ, "VONAGE_API_SECRET"),
        from_=_need(environ, "VONAGE_FROM"),
        rest_host=rest_host or None,
        callback=environ.get("VONAGE_STATUS_CALLBACK", "").strip() or None,
    )


def _voice(environ: Mapping[str, str]) -> VoiceSender:
    from mfakit.adapters.twilio import TwilioVoiceSender

    return TwilioVoiceSender(
        _need(environ, "TWILIO_ACCOUNT_SID"),
        _need(environ, "TWILIO_AUTH_TOKEN"),
        from_=_need(environ, "TWILIO_FROM"),
        **_twilio_options(environ),
    )


def _email(choice: str, environ: Mapping[str, str]) -> EmailSender:
    if choice == "ses":
        from mfakit.adapters.aws import SesEmailSender

        return SesEmailSender(
            _need(environ, "MFAKIT_EMAIL_FROM"),
            configuration_set=environ.get("MFAKIT_SES_CONFIGURATION_SET") or None,
        )
    from mfakit.adapters.smtp import SmtpEmailSender

    security = environ.get("SMTP_SECURITY", "starttls")
    if security not in ("starttls", "ssl", "none"):
        raise ConfigurationError("SMTP_SECURITY must be starttls, ssl or none")
    port = environ.get("SMTP_PORT", "").strip()
    return SmtpEmailSender(
        _need(environ, "SMTP_HOST"),
        int(port) if port else None,
        from_addr=_need(environ, "MFAKIT_EMAIL_FROM"),
        username=environ.get("SMTP_USERNAME") or None,
        password=environ.get("SMTP_PASSWORD") or None,
        security=security,  # type: ignore[arg-type]  # checked just above
    )


def make_senders(dev: Any, environ: Mapping[str, str] | None = None) -> Senders:
    """The senders for each channel: ``dev`` (the dev-inbox sender) unless the
    environment picks a provider."""
    env = os.environ if environ is None else environ
    chosen: dict[str, str] = {}
    for channel, allowed in PROVIDERS.items():
        choice = env.get(f"MFAKIT_{channel.upper()}_PROVIDER", "dev").strip().lower() or "dev"
        if choice not in allowed:
            raise ConfigurationError(
                f"MFAKIT_{channel.upper()}_PROVIDER must be one of {', '.join(allowed)}"
            )
        chosen[channel] = choice
    sms: SmsSender | CodeProvider = dev if chosen["sms"] == "dev" else _sms(chosen["sms"], env)
    voice: VoiceSender = dev if chosen["voice"] == "dev" else _voice(env)
    email: EmailSender = dev if chosen["email"] == "dev" else _email(chosen["email"], env)
    description = "; ".join(
        f"{label}: {NAMES[chosen[channel]]}"
        for channel, label in (("sms", "SMS"), ("voice", "voice"), ("email", "email"))
    )
    return Senders(sms, voice, email, description)


class StatusLog:
    """A :class:`~mfakit.delivery_status.DeliveryStatusSink` for the demo: keeps
    the latest delivery statuses (newest last; thread-safe, bounded) and logs
    each one: provider, message id, state, error code, never the destination."""

    def __init__(self, size: int = 100) -> None:
        self._lock = threading.Lock()
        self._statuses: collections.deque[DeliveryStatus] = collections.deque(maxlen=size)

    def record_delivery_status(
        self, status: DeliveryStatus, *, challenge_found: bool = True
    ) -> bool:
        with self._lock:
            self._statuses.append(status)
        log.info(
            "delivery status: %s %s %s %s%s",
            status.provider,
            status.message_id,
            status.state,
            status.error_code or "-",
            "" if challenge_found else " (no open challenge sent it)",
        )
        return True

    @property
    def statuses(self) -> list[DeliveryStatus]:
        with self._lock:
            return list(self._statuses)
