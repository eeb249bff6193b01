"""An email sender over SMTP, using only the standard library (``smtplib``).

Each message opens its own connection, says EHLO, secures it, logs in if
configured, sends, and says QUIT. One connection per message keeps the sender
simple and thread-safe (it holds no connection between calls, so it never
finds one the server closed while idle); codes are sent one at a time, when a
user asks, so the cost of a handshake per message does not matter.

Security modes:

* ``"starttls"`` (default, port 587): connect in clear, then upgrade with
  STARTTLS. If the server does not offer STARTTLS the message is **not** sent
  and :class:`~mfakit.errors.DeliveryError` is raised: a code is never sent in
  clear because a server (or someone in between) left STARTTLS out.
* ``"ssl"`` (port 465): TLS from the first byte ("implicit TLS").
* ``"none"`` (port 25): no encryption at all, for a relay on the same machine
  or a test server. It must be asked for by name.

TLS checks the server's certificate and host name with
``ssl.create_default_context()`` unless you pass your own ``ssl_context``.

Every failure to send (refused connection, timeout, TLS error, refused login,
refused recipient) raises :class:`~mfakit.errors.DeliveryError` naming only
the exception's class, with the original exception as ``__cause__``; the
message never holds the email's text (it holds a code) or the password.
"""

from __future__ import annotations

import contextlib
import math
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Literal

from ..core.contacts import normalize_email
from ..errors import ConfigurationError, DeliveryError, InvalidInput

__all__ = ["Security", "SmtpEmailSender"]

Security = Literal["starttls", "ssl", "none"]

_DEFAULT_PORTS: dict[Security, int] = {"starttls": 587, "ssl": 465, "none": 25}
_MAX_SUBJECT = 998  # RFC 5322 line limit; a subject is far shorter in practice
# smtplib raises these; SMTPException and ssl.SSLError are OSErrors, listed for clarity.
_SEND_ERRORS = (smtplib.SMTPException, ssl.SSLError, OSError)


def _has_control(value: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in value)


def _failure(exc: BaseException) -> DeliveryError:
    return DeliveryError(f"email could not be sent: {type(exc).__name__}")


class SmtpEmailSender:
    """Implements :class:`~mfakit.ports.delivery.EmailSender` over SMTP.

    Example::

        from mfakit.adapters.smtp import SmtpEmailSender

        email = SmtpEmailSender(
            "smtp.example.org",
            from_addr="no-reply@clinic.example",
            username="mailer",
            password=os.environ["SMTP_PASSWORD"],
        )
        mfa = MFA(..., email=email)

    ``port`` defaults to the usual port of the ``security`` mode (587 for
    ``"starttls"``, 465 for ``"ssl"``, 25 for ``"none"``). Login happens only
    when ``username`` is given (then ``password`` is required). ``timeout`` is
    in seconds and bounds each network operation. ``reply_to`` adds a
    Reply-To header; ``local_hostname`` is the name given in EHLO (default:
    this machine's fully qualified name).

    Invalid configuration raises :class:`~mfakit.errors.ConfigurationError`.
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
        if not isinstance(security, str) or security not in _DEFAULT_PORTS:
            raise ConfigurationError("security must be 'starttls', 'ssl' or 'none'")
        if not isinstance(host, str) or not host.strip() or _has_control(host) or " " in host:
            raise ConfigurationError("host must be a non-empty host name or address")
        if port is None:
            port = _DEFAULT_PORTS[security]
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
            # smtplib encodes credentials as ASCII; fail here, not at the first send.
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
            f"SmtpEmailSender(host={self._host!r}, port={self._port}, "
            f"security={self._security!r}, from_addr={self._from_addr!r})"
        )

    # --- the port ----------------------------------------------------------
    def send_email(self, to: str, subject: str, text: str) -> None:
        """Send ``text`` as a UTF-8 plain-text email to ``to``.

        Raises :class:`~mfakit.errors.InvalidInput` for an address or subject
        that is malformed or holds a line break (header injection), and
        :class:`~mfakit.errors.DeliveryError` when the message could not be
        handed to the server.
        """
        recipient, message = self._message(to, subject, text)
        client = self._connect()
        # Say QUIT only while the server is known to be listening: after a
        # broken socket or TLS failure it could only wait for the timeout.
        polite = True
        try:
            self._secure_and_log_in(client)
            client.send_message(message, from_addr=self._from_addr, to_addrs=[recipient])
        except _SEND_ERRORS as exc:
            polite = isinstance(exc, smtplib.SMTPException) and not isinstance(
                exc, smtplib.SMTPServerDisconnected
            )
            raise _failure(exc) from exc
        finally:
            self._hang_up(client, polite=polite)

    # --- steps ---------------------------------------------------------------
    def _message(self, to: str, subject: str, text: str) -> tuple[str, EmailMessage]:
        """The normalized recipient and the message, or :class:`InvalidInput`."""
        for field, value in (("to", to), ("subject", subject), ("text", text)):
            if not isinstance(value, str):
                raise InvalidInput(field, "must be a str")
        if _has_control(to):
            raise InvalidInput("to", "must not contain line breaks or control characters")
        if _has_control(subject):
            raise InvalidInput("subject", "must not contain line breaks or control characters")
        if len(subject) > _MAX_SUBJECT:
            raise InvalidInput("subject", f"must be at most {_MAX_SUBJECT} characters")
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
        return recipient, message

    def _connect(self) -> smtplib.SMTP:
        try:
            if self._security == "ssl":
                return smtplib.SMTP_SSL(
                    self._host,
                    self._port,
                    local_hostname=self._local_hostname,
                    timeout=self._timeout,
                    context=self._tls_context(),
                )
            return smtplib.SMTP(
                self._host,
                self._port,
                local_hostname=self._local_hostname,
                timeout=self._timeout,
            )
        except _SEND_ERRORS as exc:
            raise _failure(exc) from exc

    def _tls_context(self) -> ssl.SSLContext:
        assert self._ssl_context is not None  # set for every mode but "none"
        return self._ssl_context

    def _secure_and_log_in(self, client: smtplib.SMTP) -> None:
        client.ehlo()
        if self._security == "starttls":
            if not client.has_extn("starttls"):
                raise DeliveryError(
                    "email could not be sent: the server does not offer STARTTLS "
                    "(refusing to send in clear)"
                )
            client.starttls(context=self._tls_context())
            client.ehlo()
        if self._username is not None:
            assert self._password is not None
            client.login(self._username, self._password)

    @staticmethod
    def _hang_up(client: smtplib.SMTP, *, polite: bool) -> None:
        """Close the connection. Once the message is accepted, a failing QUIT
        must not turn the send into a failure (the code has gone out)."""
        if polite:
            with contextlib.suppress(*_SEND_ERRORS):
                client.quit()
        client.close()
