"""An email sender over SMTP, using only the standard library (`smtplib`).

Each message opens its own connection, says EHLO, secures it, logs in if
configured, sends, and says QUIT. One connection per message keeps the sender
simple and thread-safe (it holds no connection between calls, so it never
finds one the server closed while idle); codes are sent one at a time, when a
user asks, so the cost of a handshake per message does not matter.

Security modes:

* `"starttls"` (default, port 587): connect in clear, then upgrade with
  STARTTLS. If the server does not offer STARTTLS the message is **not** sent
  and [`DeliveryError`][mfakit.errors.DeliveryError] is raised: a code is never sent in
  clear because a server (or someone in between) left STARTTLS out.
* `"ssl"` (port 465): TLS from the first byte ("implicit TLS").
* `"none"` (port 25): no encryption at all, for a relay on the same machine
  or a test server. It must be asked for by name.

TLS checks the server's certificate and host name with
`ssl.create_default_context()` unless you pass your own `ssl_context`.

Every failure to send (refused connection, timeout, TLS error, refused login,
refused recipient) raises [`DeliveryError`][mfakit.errors.DeliveryError] naming only
the exception's class, with the original exception as `__cause__`; the
message never holds the email's text (it holds a code) or the password.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl

from ..errors import DeliveryError
from .smtp_common import NO_STARTTLS, Security, SmtpSenderBase, failure

__all__ = ["Security", "SmtpEmailSender"]

# smtplib raises these; SMTPException and ssl.SSLError are OSErrors, listed for clarity.
_SEND_ERRORS = (smtplib.SMTPException, ssl.SSLError, OSError)


class SmtpEmailSender(SmtpSenderBase):
    """Implements [`EmailSender`][mfakit.ports.delivery.EmailSender] over SMTP.

    Example:

    ```python
    from mfakit.adapters.smtp import SmtpEmailSender

    email = SmtpEmailSender(
        "smtp.example.org",
        from_addr="no-reply@clinic.example",
        username="mailer",
        password=os.environ["SMTP_PASSWORD"],
    )
    mfa = MFA(..., email=email)
    ```

    `port` defaults to the usual port of the `security` mode (587 for
    `"starttls"`, 465 for `"ssl"`, 25 for `"none"`). Login happens only
    when `username` is given (then `password` is required). `timeout` is
    in seconds and bounds each network operation. `reply_to` adds a
    Reply-To header; `local_hostname` is the name given in EHLO (default:
    this machine's fully qualified name).

    Invalid configuration raises [`ConfigurationError`][mfakit.errors.ConfigurationError].
    """

    # --- the port ----------------------------------------------------------
    def send_email(
        self,
        to: str,
        subject: str,
        text: str,
        *,
        html: str | None = None,
        locale: str | None = None,
    ) -> None:
        """Send `text` as a UTF-8 plain-text email to `to`, with `html`
        as its HTML alternative when given and `locale` as its
        Content-Language.

        Raises [`InvalidInput`][mfakit.errors.InvalidInput] for an address or subject
        that is malformed or holds a line break (header injection), and
        [`DeliveryError`][mfakit.errors.DeliveryError] when the message could not be
        handed to the server.
        """
        recipient, message = self._message(to, subject, text, html=html, locale=locale)
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
            raise failure(exc) from exc
        finally:
            self._hang_up(client, polite=polite)

    # --- steps ---------------------------------------------------------------
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
            raise failure(exc) from exc

    def _secure_and_log_in(self, client: smtplib.SMTP) -> None:
        client.ehlo()
        if self._security == "starttls":
            if not client.has_extn("starttls"):
                raise DeliveryError(NO_STARTTLS)
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
