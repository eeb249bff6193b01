"""What the SMTP email senders share: their configuration and its checks, the
message they build, and how a failure is reported.

[`SmtpEmailSender`][mfakit.adapters.smtp.SmtpEmailSender] (`smtplib`) and
[`AsyncSmtpEmailSender`][mfakit.adapters.smtp_async.AsyncSmtpEmailSender] (`aiosmtplib`)
both derive from `SmtpSenderBase`, so they take the same arguments,
refuse the same mistakes and send the very same message; only the
conversation with the server differs.
"""

from __future__ import annotations

import math
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Literal

from ..core.contacts import normalize_email
from ..errors import ConfigurationError, DeliveryError, InvalidInput
from .provider_common import check_locale

__all__ = ["DEFAULT_PORTS", "NO_STARTTLS", "Security", "SmtpSenderBase", "failure"]

Security = Literal["starttls", "ssl", "none"]

DEFAULT_PORTS: dict[Security, int] = {"starttls": 587, "ssl": 465, "none": 25}
MAX_SUBJECT = 998  # RFC 5322 line limit; a subject is far shorter in practice

NO_STARTTLS = (
    "email could not be sent: the server does not offer STARTTLS (refusing to send in clear)"
)


def _has_control(value: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in value)


def failure(exc: BaseException) -> DeliveryError:
    """The error for a message that could not be sent: the exception's class
    only (and that of the exception it wraps, if it says so), never its text,
    which may quote the server or the message."""
    cause = exc.__cause__
    detail = "" if cause is None else f" ({type(cause).__name__})"
    return DeliveryError(f"email could not be sent: {type(exc).__name__}{detail}")


class SmtpSenderBase:
    """The checked configuration of an SMTP sender and the message it sends.

    See [`SmtpEmailSender`][mfakit.adapters.smtp.SmtpEmailSender] for the arguments.
    Invalid configuration raises [`ConfigurationError`][mfakit.errors.ConfigurationError].
    """

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        from_addr: str,
        username: str | None = None,
        password: str | None = None,
        security: Security = "starttls",
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        reply_to: str | None = None,
        local_hostname: str | None = None,
    ) -> None:
        if not isinstance(security, str) or security not in DEFAULT_PORTS:
            raise ConfigurationError("security must be 'starttls', 'ssl' or 'none'")
        if not isinstance(host, str) or not host.strip() or _has_control(host) or " " in host:
            raise ConfigurationError("host must be a non-empty host name or address")
        if port is None:
            port = DEFAULT_PORTS[security]
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ConfigurationError("port must be an integer from 1 to 65535")
        try:
            from_addr = normalize_email(from_addr, field="from_addr")
            reply_to = None if reply_to is None else normalize_email(reply_to, field="reply_to")
        except InvalidInput as exc:
            raise ConfigurationError(str(exc)) from None
        if username is None and password is not None:
            raise ConfigurationError("password is set but username is not")
        if username is not None:
            # SMTP AUTH encodes credentials as ASCII; fail here, not at the first send.
            if not isinstance(username, str) or not username or not username.isascii():
                raise ConfigurationError("username must be a non-empty ASCII str")
            if not isinstance(password, str) or not password or not password.isascii():
                raise ConfigurationError("username needs a password: a non-empty ASCII str")
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not math.isfinite(timeout)
            or timeout <= 0
        ):
            raise ConfigurationError("timeout must be a positive number of seconds")
        if ssl_context is not None:
            if not isinstance(ssl_context, ssl.SSLContext):
                raise ConfigurationError("ssl_context must be an ssl.SSLContext")
            if security == "none":
                raise ConfigurationError("ssl_context is given but security is 'none'")
        if local_hostname is not None and (
            not isinstance(local_hostname, str)
            or not local_hostname
            or not local_hostname.isascii()
            or _has_control(local_hostname)
            or " " in local_hostname
        ):
            raise ConfigurationError("local_hostname must be a non-empty ASCII name without spaces")
        self._host = host.strip()
        self._port = port
        self._security: Security = security
        self._from_addr = from_addr
        self._username = username
        self._password = password
        self._timeout = float(timeout)
        # Built once (it reads the system's CA certificates); safe to share between threads.
        if ssl_context is None and security != "none":
            ssl_context = ssl.create_default_context()
        self._ssl_context = ssl_context
        self._reply_to = reply_to
        self._local_hostname = local_hostname

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(host={self._host!r}, port={self._port}, "
            f"security={self._security!r}, from_addr={self._from_addr!r})"
        )

    def _message(
        self,
        to: str,
        subject: str,
        text: str,
        *,
        html: str | None = None,
        locale: str | None = None,
    ) -> tuple[str, EmailMessage]:
        """The normalized recipient and the message, or
        [`InvalidInput`][mfakit.errors.InvalidInput]: plain text, with `html` as its alternative
        when given, and `locale` as the Content-Language."""
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
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = self._from_addr
        message["To"] = recipient
        if self._reply_to is not None:
            message["Reply-To"] = self._reply_to
        message["Date"] = formatdate(usegmt=True)
        # The sender's domain, not this machine's name: no DNS look-up per message.
        message["Message-ID"] = make_msgid(domain=self._from_addr.rpartition("@")[2])
        message["Auto-Submitted"] = "auto-generated"
        # Quoted-printable keeps the message 7-bit: no server has to support 8BITMIME.
        message.set_content(text, charset="utf-8", cte="quoted-printable")
        if html is not None:
            message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
        if locale is not None:  # after the content: set_content drops Content-* headers
            message["Content-Language"] = locale
        return recipient, message

    def _tls_context(self) -> ssl.SSLContext:
        assert self._ssl_context is not None  # set for every mode but "none"
        return self._ssl_context
