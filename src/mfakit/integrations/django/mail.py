"""An email sender over Django's email backends (`django.core.mail`).

Codes then go out through whatever the project configured (the default
mailer of `MAILERS` on Django 6.1 and later, `EMAIL_BACKEND` before: SMTP,
a provider's backend, `console` while developing, `locmem` in tests).
Every message is plain text with an optional HTML alternative, marked
`Auto-Submitted: auto-generated`; the recipient and subject are checked as
the SMTP sender checks them (no line breaks: no header injection).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from email.utils import make_msgid
from typing import Any

import django
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.utils.module_loading import import_string

from ...adapters.provider_common import check_locale
from ...adapters.smtp_common import MAX_SUBJECT, failure
from ...core.contacts import normalize_email
from ...errors import ConfigurationError, DeliveryError, InvalidInput

__all__ = ["DjangoEmailSender"]


# Django 6.1 configures mail with MAILERS (aliases, like CACHES) and
# deprecates EMAIL_BACKEND and get_connection().
_HAS_MAILERS = django.VERSION >= (6, 1)


def _mailers() -> Any:
    """`django.core.mail.mailers` (Django 6.1+; the stubs may predate it)."""
    return importlib.import_module("django.core.mail").mailers


def _has_control(value: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in value)


class DjangoEmailSender:
    """Implements [`EmailSender`][mfakit.ports.delivery.EmailSender] with Django's mail.

    `from_email` defaults to `DEFAULT_FROM_EMAIL`. Messages go through the
    project's default mailer (`MAILERS["default"]` on Django 6.1 and later,
    `EMAIL_BACKEND` before), or through the mailer alias `mailer` (Django
    6.1 and later), or through a backend of mfakit's own: `backend` (a
    dotted path) built with `backend_options`. Before Django 6.1,
    `backend_options` alone are options for `EMAIL_BACKEND`; from 6.1 they
    need `backend` (the default mailer's options live in `MAILERS`).
    A wrong combination raises
    [`ConfigurationError`][mfakit.errors.ConfigurationError]. A message the
    backend fails to send raises [`DeliveryError`][mfakit.errors.DeliveryError]
    naming only the exception's class.
    """

    def __init__(
        self,
        *,
        from_email: str | None = None,
        mailer: str | None = None,
        backend: str | None = None,
        backend_options: Mapping[str, Any] | None = None,
    ) -> None:
        sender = from_email if from_email is not None else settings.DEFAULT_FROM_EMAIL
        try:
            self.from_email = normalize_email(sender.rpartition("<")[2].rstrip(">"))
        except (InvalidInput, AttributeError) as exc:
            raise ConfigurationError("from_email must be an email address") from exc
        self._from_header = sender
        if backend is not None and (not isinstance(backend, str) or not backend):
            raise ConfigurationError("backend must be a dotted path")
        if mailer is not None:
            if not isinstance(mailer, str) or not mailer:
                raise ConfigurationError("mailer must be the alias of a mailer in MAILERS")
            if not _HAS_MAILERS:
                raise ConfigurationError("mailer needs Django 6.1 or later (MAILERS)")
            if backend is not None or backend_options:
                raise ConfigurationError("give mailer, or backend and backend_options, not both")
            if mailer not in _mailers():
                raise ConfigurationError(f"no mailer {mailer!r} in MAILERS")
        if backend_options is not None and not isinstance(backend_options, Mapping):
            raise ConfigurationError("backend_options must be a mapping")
        if _HAS_MAILERS and backend_options and backend is None:
            raise ConfigurationError(
                "on Django 6.1 and later, backend_options need backend "
                "(the default mailer's options belong in MAILERS)"
            )
        self._backend_class: Any = None
        if backend is not None:
            try:
                self._backend_class = import_string(backend)
            except ImportError as exc:
                raise ConfigurationError(f"backend {backend!r} does not import") from exc
        self.mailer = mailer
        self.backend = backend
        self._options = dict(backend_options or {})

    def __repr__(self) -> str:
        # The backend's options may hold a password: never shown.
        return (
            f"DjangoEmailSender(from_email={self.from_email!r}, "
            f"mailer={self.mailer!r}, backend={self.backend!r})"
        )

    def _connection(self) -> Any:
        """A backend instance: mfakit's own, the named mailer, or the default one."""
        if self._backend_class is not None:
            return self._backend_class(**self._options)
        if _HAS_MAILERS:
            mailers = _mailers()
            return mailers.default if self.mailer is None else mailers[self.mailer]
        return get_connection(**self._options)

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
            message = EmailMultiAlternatives(
                subject, text, self._from_header, [recipient], headers=headers
            )
            if html is not None:
                message.attach_alternative(html, "text/html")
            # The backend's own send_messages(): the same on every Django,
            # where message.send(connection=...) is deprecated from 6.1.
            sent = self._connection().send_messages([message])
        except Exception as exc:  # any backend's failure; its text may quote the message
            raise failure(exc) from exc
        if sent == 0:  # a backend that swallowed its failure (fail_silently)
            raise DeliveryError("email could not be sent: the backend sent nothing")
        return message_id
