"""An email sender over Django's email backend (`django.core.mail`).

Codes then go out through whatever the project configured (`EMAIL_BACKEND`:
SMTP, a provider's backend, `console` while developing, `locmem` in
tests). Every message is plain text with an optional HTML alternative, marked
`Auto-Submitted: auto-generated`; the recipient and subject are checked as
the SMTP sender checks them (no line breaks: no header injection).
"""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import make_msgid
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from ...adapters.provider_common import check_locale
from ...adapters.smtp_common import MAX_SUBJECT, failure
from ...core.contacts import normalize_email
from ...errors import ConfigurationError, InvalidInput

__all__ = ["DjangoEmailSender"]


def _has_control(value: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in value)


class DjangoEmailSender:
    """Implements [`EmailSender`][mfakit.ports.delivery.EmailSender] with Django's mail.

    `from_email` defaults to `DEFAULT_FROM_EMAIL`. `backend` (a dotted
    path) and `backend_options` choose another backend than
    `EMAIL_BACKEND` for mfakit's messages (`get_connection(backend,
    **backend_options)`). A message the backend fails to send raises
    [`DeliveryError`][mfakit.errors.DeliveryError] naming only the exception's class.
    """

    def __init__(
        self,
        *,
        from_email: str | None = None,
        backend: str | None = None,
        backend_options: Mapping[str, Any] | None = None,
    ) -> None:
        sender = from_email if from_email is not None else settings.DEFAULT_FROM_EMAIL
        try:
            self.from_email = normalize_email(sender.rpartition("<")[2].rstrip(">"))
        except (InvalidInput, AttributeError) as exc:
            raise ConfigurationError("from_email must be an email address") from exc
        self._from_header = sender
        if backend is not None and not isinstance(backend, str):
            raise ConfigurationError("backend must be a dotted path")
        self.backend = backend
        self._options = dict(backend_options or {})

    def __repr__(self) -> str:
        # The backend's options may hold a password: never shown.
        return f"DjangoEmailSender(from_email={self.from_email!r}, backend={self.backend!r})"

    def send_email(
        self,
        to: str,
        subject: str,
        text: str,
        *,
        html: str | None = None,
        locale: str | None = None,
    ) -> str | None:
        for field, value in (("to", to), ("subject", subject), ("text", text)):
            if not isinstance(value, str):
                raise InvalidInput(field, "must be a str")
        if html is not None and not isinstance(html, str):
            raise InvalidInput("html", "must be a str")
        check_locale(locale)
        if _has_control(to):
            raise InvalidInput("to", "must not contain line breaks or control characters")
        if _has_control(subject):
            raise InvalidInput("subject", "must not contain line breaks or control characters")
        if len(subject) > MAX_SUBJECT:
            raise InvalidInput("subject", f"must be at most {MAX_SUBJECT} characters")
        recipient = normalize_email(to, field="to")
        message_id = make_msgid(domain=self.from_email.rpartition("@")[2])
        headers = {"Message-ID": message_id, "Auto-Submitted": "auto-generated"}
        if locale is not None:
            headers["Content-Language"] = locale
        try:
            connection = get_connection(self.backend, **self._options)
            message = EmailMultiAlternatives(
                subject,
                text,
                self._from_header,
                [recipient],
                headers=headers,
                connection=connection,
            )
            if html is not None:
                message.attach_alternative(html, "text/html")
            message.send(fail_silently=False)
        except Exception as exc:  # any backend's failure; its text may quote the message
            raise failure(exc) from exc
        return message_id
