"""An async email sender over SMTP, on `aiosmtplib` (`pip install
mfakit[async-smtp]`), for [`AsyncMFA`][mfakit.AsyncMFA].

The async twin of [`SmtpEmailSender`][mfakit.adapters.smtp.SmtpEmailSender]: the same
constructor, the same checks, the very same message (both build it in
`mfakit.adapters.smtp_common`), the same security modes:

* `"starttls"` (default, port 587): connect in clear, then upgrade with
  STARTTLS; a server that does not offer it gets nothing, not even the
  password ([`DeliveryError`][mfakit.errors.DeliveryError]);
* `"ssl"` (port 465): TLS from the first byte;
* `"none"` (port 25): no encryption, asked for by name.

Each message opens its own connection (EHLO, TLS, login if configured, send,
QUIT) without blocking the event loop. TLS checks the certificate and host
name with `ssl.create_default_context()` unless you pass `ssl_context`.
Every failure raises [`DeliveryError`][mfakit.errors.DeliveryError] naming only the
exception's class (and the one it wraps), with the original as `__cause__`:
never the message (it holds a code) or the password. A send cancelled midway
drops the connection at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

try:
    import aiosmtplib
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "mfakit.adapters.smtp_async needs aiosmtplib: pip install 'mfakit[async-smtp]'"
    ) from exc

from ..errors import DeliveryError
from .smtp_common import NO_STARTTLS, Security, SmtpSenderBase, failure

__all__ = ["AsyncSmtpEmailSender", "Security"]

# aiosmtplib wraps socket errors in its own; TLS errors and timeouts may come raw.
_SEND_ERRORS = (aiosmtplib.SMTPException, ssl.SSLError, OSError, asyncio.TimeoutError)
# The server answered (a refused login, sender or recipient): the connection still works.
_ANSWERED = (
    aiosmtplib.SMTPResponseException,
    aiosmtplib.SMTPRecipientsRefused,
    aiosmtplib.SMTPNotSupported,
)


class AsyncSmtpEmailSender(SmtpSenderBase):
    """Implements [`AsyncEmailSender`][mfakit.ports.delivery.AsyncEmailSender] over SMTP.

    Example:

    ```python
    from mfakit.adapters.smtp_async import AsyncSmtpEmailSender

    email = AsyncSmtpEmailSender(
        "smtp.example.org",
        from_addr="no-reply@clinic.example",
        username="mailer",
        password=os.environ["SMTP_PASSWORD"],
    )
    amfa = AsyncMFA(..., email=email)
    ```

    The arguments are those of [`SmtpEmailSender`][mfakit.adapters.smtp.SmtpEmailSender]
    (`host`, `port`, `from_addr`, `username`, `password`,
    `security`, `timeout`, `ssl_context`, `reply_to`,
    `local_hostname`), checked the same way: invalid configuration raises
    [`ConfigurationError`][mfakit.errors.ConfigurationError]. The sender holds no
    connection between calls, so one instance serves any number of
    concurrent tasks.
    """

    async def send_email(
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
        client = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            local_hostname=self._local_hostname,
            timeout=self._timeout,
            use_tls=self._security == "ssl",
            start_tls=False,  # upgraded below, or refused: never silently in clear
            tls_context=self._ssl_context if self._security == "ssl" else None,
        )
        # Say QUIT only while the server is known to be listening: after a
        # broken connection, a TLS failure or a cancellation, just drop it.
        polite = False
        try:
            await client.connect()
            polite = True
            await self._secure_and_log_in(client)
            await client.send_message(message, sender=self._from_addr, recipients=[recipient])
        except _SEND_ERRORS as exc:
            polite = polite and isinstance(exc, _ANSWERED)
            raise failure(exc) from exc
        except asyncio.CancelledError:
            polite = False
            raise
        finally:
            await self._hang_up(client, polite=polite)

    async def _secure_and_log_in(self, client: aiosmtplib.SMTP) -> None:
        await client.ehlo()
        if self._security == "starttls":
            if not client.supports_extension("starttls"):
                raise DeliveryError(NO_STARTTLS)
            await client.starttls(tls_context=self._tls_context())
            await client.ehlo()
        if self._username is not None:
            assert self._password is not None
            await client.login(self._username, self._password)

    @staticmethod
    async def _hang_up(client: aiosmtplib.SMTP, *, polite: bool) -> None:
        """Close the connection. Once the message is accepted, a failing QUIT
        must not turn the send into a failure (the code has gone out)."""
        if polite and client.is_connected:
            with contextlib.suppress(*_SEND_ERRORS):
                await client.quit()
        client.close()
