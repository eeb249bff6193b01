"""Delivery-status callbacks: did the code reach the phone or the mailbox?

Providers tell the app what became of a message by calling it back: Twilio
posts a form to the `status_callback` URL of a message or call (signed with
`X-Twilio-Signature`); Vonage sends a delivery receipt to the `callback`
URL of a message (signed with the account's signature secret); Amazon SES
publishes events (Delivery, Bounce, ...) to an SNS topic, which posts a
signed JSON document to the app's HTTPS subscription. This module is
framework-free: give it what the request carried (URL, form or body, the
signature header) and it checks the signature, then returns a typed
[`DeliveryStatus`][mfakit.delivery_status.DeliveryStatus]. A callback that does not
verify raises [`CallbackRejected`][mfakit.errors.CallbackRejected] (answer 403); a malformed one
raises [`InvalidInput`][mfakit.errors.InvalidInput] (answer 400).

In a Flask view:

```python
from mfakit.delivery_status import twilio_status

@app.post("/hooks/twilio-status")
def twilio_status_hook():
    status = twilio_status(
        request.url, request.form.to_dict(), request.headers.get("X-Twilio-Signature"),
        auth_token=TWILIO_AUTH_TOKEN,
    )
    mfa.record_delivery_status(status)
    return "", 204
```

Recording a status on the challenge that sent the message and in the audit
log is the job of a `DeliveryStatusSink`: `MFA` and `AsyncMFA` are
one (`record_delivery_status`), finding the challenge whose send returned
`status.message_id` (senders return the provider's id; see
`mfakit.ports.delivery`).

Only the parts that say what happened are kept: the message id, the state,
the provider's error code. Never the destination or the text, which the
callback may carry.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .errors import CallbackRejected, InvalidInput

__all__ = [
    "DeliveryState",
    "DeliveryStatus",
    "DeliveryStatusSink",
    "SnsMessage",
    "SnsVerifier",
    "ses_status",
    "twilio_status",
    "vonage_status",
]

DeliveryState = Literal["pending", "sent", "delivered", "failed"]
"""`pending`: accepted, on its way; `sent`: handed to the carrier or the
receiving mail server; `delivered`: the handset or mailbox has it (a voice
call was answered and completed); `failed`: it will not arrive."""


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    """What a provider said about one message."""

    provider: str
    """`"twilio"`, `"vonage"` or `"ses"`."""
    channel: Literal["sms", "voice", "email"]
    message_id: str
    """The id the sender returned when it sent the message (`SM...`,
    `CA...`, an SES `MessageId`)."""
    state: DeliveryState
    provider_status: str
    """The provider's own word for it (`"undelivered"`, `"Bounce"`...)."""
    error_code: str | None = None
    """The provider's error code, when the message failed (`"30006"`)."""
    unusable_destination: bool = False
    """The number or address will never work (a permanent bounce, a landline,
    an opted-out recipient): ask the user for another one."""

    @property
    def final(self) -> bool:
        """Whether no later status can follow (delivered or failed)."""
        return self.state in ("delivered", "failed")


@runtime_checkable
class DeliveryStatusSink(Protocol):
    """Where a verified status goes. `MFA` implements it: it finds
    the challenge whose code went out as `status.message_id`, records the
    state on it and writes an audit record (provider, state, error code;
    never the destination). Returns whether a challenge matched."""

    def record_delivery_status(self, status: DeliveryStatus) -> bool: ...


# --- Twilio --------------------------------------------------------------------------------

_TWILIO_MESSAGE_STATES: dict[str, DeliveryState] = {
    "accepted": "pending",
    "scheduled": "pending",
    "queued": "pending",
    "sending": "pending",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",
}
_TWILIO_CALL_STATES: dict[str, DeliveryState] = {
    "queued": "pending",
    "initiated": "pending",
    "ringing": "sent",
    "in-progress": "sent",
    "completed": "delivered",
    "busy": "failed",
    "no-answer": "failed",
    "canceled": "failed",
    "failed": "failed",
}
# Twilio's carrier errors that mean the number itself is the problem.
_TWILIO_UNUSABLE = {"21610", "21614", "30003", "30005", "30006", "21211"}
_SID = re.compile(r"(SM|MM|CA)[0-9a-fA-F]{32}")


def twilio_status(
    url: str,
    params: Mapping[str, str],
    signature: str | None,
    *,
    auth_token: str,
) -> DeliveryStatus:
    """Check and read a Twilio status callback (a message's or a call's).

    `url` is the full URL Twilio called, exactly as configured (scheme,
    host, port, path and query: behind a proxy, rebuild the public one);
    `params` the POSTed form fields; `signature` the
    `X-Twilio-Signature` header. Verified with twilio's
    `RequestValidator` (`pip install 'mfakit[twilio]'`).
    """
    try:
        from twilio.request_validator import RequestValidator
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError(
            "twilio_status needs the 'twilio' extra: pip install 'mfakit[twilio]'"
        ) from exc
    if not isinstance(auth_token, str) or not auth_token:
        raise InvalidInput("auth_token", "must be a non-empty str")
    if not isinstance(url, str) or not isinstance(params, Mapping):
        raise InvalidInput("params", "must be the URL and the form fields")
    fields = dict(params)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items()):
        raise InvalidInput("params", "must map str to str")
    if not isinstance(signature, str) or not signature:
        raise CallbackRejected("the callback carries no X-Twilio-Signature")
    if not RequestValidator(auth_token).validate(url, fields, signature):
        raise CallbackRejected("the callback's X-Twilio-Signature does not verify")
    error = fields.get("ErrorCode") or None
    if "CallSid" in fields and "CallStatus" in fields:
        sid, word, states, channel = (
            fields["CallSid"],
            fields["CallStatus"],
            _TWILIO_CALL_STATES,
            "voice",
        )
    elif "MessageSid" in fields and ("MessageStatus" in fields or "SmsStatus" in fields):
        word = fields.get("MessageStatus") or fields["SmsStatus"]
        sid, states, channel = fields["MessageSid"], _TWILIO_MESSAGE_STATES, "sms"
    else:
        raise InvalidInput("params", "not a Twilio message or call status callback")
    if not _SID.fullmatch(sid) or word not in states:
        raise InvalidInput("params", "the sid or status is not one Twilio sends")
    return DeliveryStatus(
        provider="twilio",
        channel=channel,  # type: ignore[arg-type]
        message_id=sid,
        state=states[word],
        provider_status=word,
        error_code=error,
        unusable_destination=error in _TWILIO_UNUSABLE,
    )


# --- Vonage --------------------------------------------------------------------------------

_VONAGE_STATES: dict[str, DeliveryState] = {
    "buffered": "pending",
    "accepted": "sent",
    "unknown": "sent",
    "delivered": "delivered",
    "expired": "failed",
    "failed": "failed",
    "rejected": "failed",
}
# Vonage's delivery-receipt error codes that mean the number itself is the
# problem: absent subscriber (permanent), call barred by the user, illegal
# number, unroutable.
_VONAGE_UNUSABLE = {"3", "4", "9", "11"}
_VONAGE_METHODS = ("md5", "sha1", "sha256", "sha512")


def vonage_status(
    params: Mapping[str, str],
    *,
    api_key: str,
    signature_secret: str,
    signature_method: str = "sha256",
    max_age: float = 300.0,
    now: Callable[[], float] | None = None,
) -> DeliveryStatus:
    """Check and read a Vonage SMS delivery receipt (the `callback=` of
    [`VonageSmsSender`][mfakit.adapters.vonage.VonageSmsSender]).

    `params` are the receipt's fields (query string of a GET, or form or JSON
    of a POST), `sig` and `timestamp` among them: turn on signed webhooks
    in the Vonage dashboard and give its signature secret and method
    (`"md5"`, `"sha1"`, `"sha256"` or `"sha512"`: the HMAC variants).
    The signature is checked with the `vonage` SDK's own
    `Auth.check_signature` (`pip install 'mfakit[vonage]'`); a receipt signed
    more than `max_age` seconds ago (by its `timestamp`) is refused as a
    replay.
    """
    try:
        from vonage import Auth
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError(
            "vonage_status needs the 'vonage' extra: pip install 'mfakit[vonage]'"
        ) from exc
    for name, value in (("api_key", api_key), ("signature_secret", signature_secret)):
        if not isinstance(value, str) or not value:
            raise InvalidInput(name, "must be a non-empty str")
    if signature_method not in _VONAGE_METHODS:
        raise InvalidInput("signature_method", "must be md5, sha1, sha256 or sha512")
    if not isinstance(params, Mapping):
        raise InvalidInput("params", "must be the receipt's fields")
    fields = dict(params)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items()):
        raise InvalidInput("params", "must map str to str")
    if not fields.get("sig"):
        raise CallbackRejected("the delivery receipt carries no signature (sig)")
    try:
        signed_at = float(fields.get("timestamp", ""))
    except ValueError:
        raise CallbackRejected("the delivery receipt carries no timestamp") from None
    auth = Auth(
        api_key=api_key,
        signature_secret=signature_secret,
        signature_method=signature_method,
    )
    if not auth.check_signature(dict(fields)):  # (it removes "sig" from what it is given)
        raise CallbackRejected("the delivery receipt's signature does not verify")
    if abs((now or time.time)() - signed_at) > max_age:
        raise CallbackRejected("the delivery receipt is too old (a replay?)")
    message_id, word = fields.get("messageId", ""), fields.get("status", "")
    if not re.fullmatch(r"[0-9A-Za-z-]{1,40}", message_id) or word not in _VONAGE_STATES:
        raise InvalidInput("params", "not a Vonage delivery receipt")
    error = fields.get("err-code") or None
    if error == "0":
        error = None
    if error is not None and not re.fullmatch(r"[0-9]{1,4}", error):
        raise InvalidInput("params", "the err-code is not one Vonage sends")
    return DeliveryStatus(
        provider="vonage",
        channel="sms",
        message_id=message_id,
        state=_VONAGE_STATES[word],
        provider_status=word,
        error_code=error,
        unusable_destination=error in _VONAGE_UNUSABLE,
    )


# --- Amazon SNS and SES ----------------------------------------------------------------------

_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_SIGNED_FIELDS["UnsubscribeConfirmation"] = _SIGNED_FIELDS["SubscriptionConfirmation"]
AWS_URL = r"https://sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/"
"""Where SNS signing certificates and subscription URLs live."""
_MAX_BODY = 256 * 1024


@dataclass(frozen=True, slots=True)
class SnsMessage:
    """A verified SNS message."""

    type: Literal["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"]
    message_id: str
    topic_arn: str
    message: str
    """The published message: for SES events, a JSON document."""
    subscribe_url: str | None = None


class SnsVerifier:
    """Checks SNS messages posted to an HTTPS subscription.

    `topic_arns` are the topics the app subscribed to (anything else is
    refused: SNS signs every topic's messages with the same certificate).
    The signing certificate is fetched from `SigningCertURL` only when the
    URL matches `url_pattern` (by default an `https://sns.<region>.amazonaws.com/`
    address) and is kept for later messages; `ssl_context` and `timeout`
    are used to fetch it.
    """

    def __init__(
        self,
        topic_arns: Collection[str],
        *,
        url_pattern: str = AWS_URL,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 5.0,
        fetch: Callable[[str], bytes] | None = None,
    ) -> None:
        arns = frozenset(topic_arns)
        if not arns or not all(isinstance(a, str) and a.startswith("arn:") for a in arns):
            raise InvalidInput("topic_arns", "must name at least one topic ARN")
        self._topics = arns
        self._url = re.compile(url_pattern)
        self._ssl_context = ssl_context or ssl.create_default_context()
        self._timeout = timeout
        self._fetch = fetch or self._https_get
        self._lock = threading.Lock()
        self._keys: dict[str, rsa.RSAPublicKey] = {}

    def __repr__(self) -> str:
        return f"SnsVerifier(topics={len(self._topics)})"

    def _https_get(self, url: str) -> bytes:
        with urllib.request.urlopen(  # noqa: S310 - the URL matched url_pattern (https)
            url, timeout=self._timeout, context=self._ssl_context
        ) as answer:
            body: bytes = answer.read(64 * 1024)
        return body

    def _key(self, url: str) -> rsa.RSAPublicKey:
        if not self._url.match(url) or not url.startswith("https://"):
            raise CallbackRejected("the SigningCertURL is not an SNS address")
        with self._lock:
            key = self._keys.get(url)
        if key is not None:
            return key
        try:
            certificate = x509.load_pem_x509_certificate(self._fetch(url))
        except (OSError, ValueError) as exc:
            raise CallbackRejected(
                f"the signing certificate could not be loaded ({type(exc).__name__})"
            ) from exc
        public = certificate.public_key()
        if not isinstance(public, rsa.RSAPublicKey):
            raise CallbackRejected("the signing certificate does not hold an RSA key")
        with self._lock:
            if len(self._keys) > 32:  # certificates rotate rarely; never grow without bound
                self._keys.clear()
            self._keys[url] = public
        return public

    def verify(self, body: bytes | str) -> SnsMessage:
        """The verified message in `body` (the POSTed JSON), or
        [`CallbackRejected`][mfakit.errors.CallbackRejected] /
        [`InvalidInput`][mfakit.errors.InvalidInput]."""
        if isinstance(body, bytes):
            if len(body) > _MAX_BODY:
                raise InvalidInput("body", "is too large for an SNS message")
            try:
                body = body.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput("body", "is not UTF-8") from None
        if not isinstance(body, str) or len(body) > _MAX_BODY:
            raise InvalidInput("body", "must be the POSTed JSON document")
        try:
            document = json.loads(body)
        except ValueError:
            raise InvalidInput("body", "is not JSON") from None
        if not isinstance(document, dict):
            raise InvalidInput("body", "is not an SNS message")
        kind = document.get("Type")
        if kind not in _SIGNED_FIELDS:
            raise InvalidInput("body", "is not an SNS message")
        if document.get("TopicArn") not in self._topics:
            raise CallbackRejected("the message comes from a topic this app did not subscribe to")
        version = document.get("SignatureVersion")
        algorithm: hashes.HashAlgorithm
        if version == "1":
            algorithm = hashes.SHA1()  # noqa: S303 - SNS's own signature version 1
        elif version == "2":
            algorithm = hashes.SHA256()
        else:
            raise CallbackRejected("unknown SNS SignatureVersion")
        text = ""
        for name in _SIGNED_FIELDS[kind]:
            if name == "Subject" and "Subject" not in document:
                continue
            value = document.get(name)
            if not isinstance(value, str):
                raise InvalidInput("body", f"the SNS message has no {name}")
            text += f"{name}\n{value}\n"
        try:
            signature = base64.b64decode(str(document.get("Signature", "")), validate=True)
        except (binascii.Error, ValueError):
            raise CallbackRejected("the SNS Signature is not base64") from None
        key = self._key(str(document.get("SigningCertURL", "")))
        try:
            key.verify(signature, text.encode("utf-8"), padding.PKCS1v15(), algorithm)
        except InvalidSignature:
            raise CallbackRejected("the SNS message's signature does not verify") from None
        subscribe_url = document.get("SubscribeURL")
        return SnsMessage(
            type=kind,
            message_id=str(document["MessageId"]),
            topic_arn=str(document["TopicArn"]),
            message=str(document["Message"]),
            subscribe_url=subscribe_url if isinstance(subscribe_url, str) else None,
        )

    def confirm_subscription(self, message: SnsMessage) -> None:
        """Confirm a `SubscriptionConfirmation` by visiting its
        `SubscribeURL` (only an SNS address, as for the certificate)."""
        url = message.subscribe_url
        if message.type != "SubscriptionConfirmation" or url is None:
            raise InvalidInput("message", "is not a subscription confirmation")
        if not self._url.match(url) or not url.startswith("https://"):
            raise CallbackRejected("the SubscribeURL is not an SNS address")
        self._fetch(url)


_SES_STATES: dict[str, DeliveryState] = {
    "Send": "pending",
    "DeliveryDelay": "pending",
    "Delivery": "delivered",
    "Complaint": "delivered",  # it arrived; the recipient marked it as spam
    "Bounce": "failed",
    "Reject": "failed",
    "RenderingFailure": "failed",
}


def ses_status(message: SnsMessage) -> DeliveryStatus:
    """The [`DeliveryStatus`][mfakit.delivery_status.DeliveryStatus] in an SES event notification
    (from a configuration set's SNS event destination, or an identity's
    notifications) that [`SnsVerifier.verify`][mfakit.delivery_status.SnsVerifier.verify]
    returned."""
    if message.type != "Notification":
        raise InvalidInput("message", "is not an SNS notification")
    try:
        event = json.loads(message.message)
    except ValueError:
        raise InvalidInput("message", "is not an SES event") from None
    if not isinstance(event, dict):
        raise InvalidInput("message", "is not an SES event")
    kind = event.get("eventType") or event.get("notificationType")
    mail = event.get("mail")
    if kind not in _SES_STATES or not isinstance(mail, dict):
        raise InvalidInput("message", "is not an SES event mfakit knows")
    message_id = mail.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise InvalidInput("message", "the SES event names no message")
    error: str | None = None
    unusable = False
    if kind == "Bounce":
        found = event.get("bounce")
        bounce: dict[str, object] = found if isinstance(found, dict) else {}
        error = f"{bounce.get('bounceType', '')}/{bounce.get('bounceSubType', '')}"
        unusable = bounce.get("bounceType") == "Permanent"
    return DeliveryStatus(
        provider="ses",
        channel="email",
        message_id=message_id,
        state=_SES_STATES[kind],
        provider_status=kind,
        error_code=error,
        unusable_destination=unusable,
    )
