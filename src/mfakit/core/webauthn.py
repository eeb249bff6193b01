"""WebAuthn (passkeys and security keys): the vocabulary and the pure decisions.

Nothing here parses a browser's JSON or checks a signature; that is
`mfakit.passkeys` (the `webauthn` extra, on py_webauthn). What lives here
are the words the records and the policy use, and the decisions the service
takes on plain values: is this ceremony still usable, does this credential
answer this ceremony, what does a sign count that did not grow mean.

Theory of operation
-------------------
A *ceremony* ([`CeremonyRecord`][mfakit.core.records.CeremonyRecord]) is a pending
registration or authentication with a random challenge and a short expiry. It
is *taken* once: the store marks it used (or deletes it) atomically, so a
second finish of the same ceremony finds it used (`REPLAYED`) or gone.

A *credential* ([`WebAuthnCredentialRecord`][mfakit.core.records.WebAuthnCredentialRecord])
belongs to one user. Every authentication checks, besides the browser's and the
authenticator's own data, that the credential answers the ceremony: it is the
ceremony's user's (the Flask-Security advisory GHSA-f66q-9rf6-8795 was this
check missing), it was allowed, and, without a user (passwordless), that it may
sign in alone and its user handle matches. An unknown credential and another
user's get the same refusal (S24).
"""

from __future__ import annotations

import enum
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from ..errors import InvalidInput
from .results import Reason
from .validation import MAX_LABEL_LENGTH, check_text

__all__ = [
    "AUTHENTICATION_KINDS",
    "USER_HANDLE_BYTES",
    "Attestation",
    "CeremonyKind",
    "ClonePolicy",
    "CredentialUsage",
    "Discoverable",
    "RelyingParty",
    "SignCountCheck",
    "UserVerification",
    "ceremony_refusal",
    "check_passkey_name",
    "check_sign_count",
    "check_user_handle",
    "credential_answers",
]

USER_HANDLE_BYTES = 64
"""Length of a user handle: the most WebAuthn allows, all random (never the host's user id)."""


class CeremonyKind(str, enum.Enum):
    """What a ceremony is for."""

    REGISTER = "register"
    """Add a credential to a user (`navigator.credentials.create`)."""
    AUTHENTICATE = "authenticate"
    """Prove a known user's second factor at sign-in."""
    STEP_UP = "step_up"
    """Prove a signed-in user's factor again before a sensitive change."""
    PASSWORDLESS = "passwordless"
    """Sign in with no user named: a discoverable credential says who it is."""

    def __str__(self) -> str:
        return self.value


AUTHENTICATION_KINDS = frozenset(
    {CeremonyKind.AUTHENTICATE, CeremonyKind.STEP_UP, CeremonyKind.PASSWORDLESS}
)
"""Kinds answered by `navigator.credentials.get`."""


class CredentialUsage(str, enum.Enum):
    """What a credential may be used for."""

    SECOND_FACTOR = "second_factor"
    """After the password, like an authenticator app."""
    PASSWORDLESS = "passwordless"
    """Instead of the password and the second factor: a passkey that verified its user."""

    def __str__(self) -> str:
        return self.value


class Discoverable(str, enum.Enum):
    """Whether the authenticator stored the credential (a *resident key*), as
    it reported through the `credProps` extension; `UNKNOWN` when it did not say."""

    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


class UserVerification(str, enum.Enum):
    """Whether the authenticator must verify its user (PIN, biometric)."""

    REQUIRED = "required"
    PREFERRED = "preferred"

    def __str__(self) -> str:
        return self.value


class Attestation(str, enum.Enum):
    """What the registration asks of the authenticator about its make and model."""

    NONE = "none"
    """No attestation: the privacy-friendly default; nothing to trust or keep."""
    DIRECT = "direct"
    """The authenticator's own statement; it is verified and its format kept."""

    def __str__(self) -> str:
        return self.value


class ClonePolicy(str, enum.Enum):
    """What a sign count that went backwards (a possibly cloned authenticator) does."""

    REJECT = "reject"
    """Refuse the assertion (`Reason.CLONED_CREDENTIAL`)."""
    FLAG = "flag"
    """Accept it, but set the credential's clone flag (to audit and notify)."""

    def __str__(self) -> str:
        return self.value


def ceremony_refusal(
    *,
    kind: CeremonyKind,
    expected: frozenset[CeremonyKind],
    expires_at: datetime,
    used_at: datetime | None,
    now: datetime,
) -> Reason | None:
    """Why a ceremony cannot be finished now, else `None`.

    A ceremony of another kind is, for this finish, no ceremony at all
    (`WRONG_CHALLENGE`); one already finished is `REPLAYED`; one past its
    expiry is `EXPIRED`.
    """
    if kind not in expected:
        return Reason.WRONG_CHALLENGE
    if used_at is not None:
        return Reason.REPLAYED
    if now >= expires_at:
        return Reason.EXPIRED
    return None


def credential_answers(
    *,
    kind: CeremonyKind,
    ceremony_user_id: str | None,
    allowed_credential_ids: tuple[bytes, ...],
    credential_id: bytes,
    credential_user_id: str | None,
    usage: frozenset[CredentialUsage],
    credential_user_handle: bytes | None,
    response_user_handle: bytes | None,
) -> bool:
    """Whether the credential may answer the ceremony (else `UNKNOWN_CREDENTIAL`).

    `credential_user_id` is `None` when no credential has that id. With a
    user (second factor, step-up), the credential must be that user's and, when
    the ceremony listed credentials, one of them. Without (passwordless), it must
    be allowed to sign in alone and the authenticator's user handle must be the
    one stored with it. Every miss is the same answer (S24).
    """
    if credential_user_id is None:
        return False
    if kind is CeremonyKind.PASSWORDLESS:
        if CredentialUsage.PASSWORDLESS not in usage:
            return False
        if credential_user_handle is None or response_user_handle is None:
            return False
        return hmac.compare_digest(credential_user_handle, response_user_handle)
    if ceremony_user_id is None or credential_user_id != ceremony_user_id:
        return False
    if allowed_credential_ids and not any(
        hmac.compare_digest(credential_id, allowed) for allowed in allowed_credential_ids
    ):
        return False
    # A user handle, when the authenticator sends one, must be this user's too.
    return (
        response_user_handle is None
        or credential_user_handle is None
        or hmac.compare_digest(credential_user_handle, response_user_handle)
    )


class SignCountCheck(enum.Enum):
    """What a received signature counter means next to the stored one."""

    OK = "ok"
    """It grew, or both are 0 (synced passkeys keep 0 forever)."""
    WENT_BACKWARDS = "went_backwards"
    """Not greater while one of them is non-zero: the credential may be cloned."""


def check_sign_count(stored: int, received: int) -> SignCountCheck:
    """WebAuthn Level 3, 7.2 step 21: a counter that does not grow signals a clone."""
    if (stored > 0 or received > 0) and received <= stored:
        return SignCountCheck.WENT_BACKWARDS
    return SignCountCheck.OK


def check_passkey_name(name: object) -> str:
    """A credential's name as the user typed it (trimmed), else InvalidInput."""
    return check_text("name", name, max_length=MAX_LABEL_LENGTH)


def check_user_handle(handle: object) -> bytes:
    """A user handle (64 random bytes), else InvalidInput."""
    if not isinstance(handle, bytes) or len(handle) != USER_HANDLE_BYTES:
        raise InvalidInput("user_handle", f"must be {USER_HANDLE_BYTES} bytes")
    return handle


_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def _is_domain(value: str) -> bool:
    labels = value.split(".")
    return len(value) <= 253 and all(_LABEL.fullmatch(label) for label in labels)


def _origin(value: object, rp_id: str) -> str:
    """`value` as the browser writes an origin, checked against `rp_id`."""
    if not isinstance(value, str) or not value or len(value) > 300:
        raise InvalidInput("origins", "each origin must be a non-empty string")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise InvalidInput("origins", "each origin must be scheme://host[:port]") from None
    host = parts.hostname or ""
    if (
        parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username is not None
        or parts.password is not None
        or not _is_domain(host)
    ):
        raise InvalidInput("origins", "each origin must be scheme://host[:port], nothing more")
    scheme = parts.scheme.lower()
    if scheme == "http":
        if host != "localhost":
            raise InvalidInput("origins", "must use https (http only for localhost)")
    elif scheme != "https":
        raise InvalidInput("origins", "must use https (http only for localhost)")
    if host != rp_id and not host.endswith("." + rp_id):
        raise InvalidInput("origins", "each origin's host must be the RP id or a subdomain of it")
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


@dataclass(frozen=True, slots=True)
class RelyingParty:
    """Who asks for passkeys: the site's WebAuthn identity, from configuration.

    `rp_id` is the domain credentials are bound to (`example.com` also
    serves `app.example.com`; `localhost` for development). `origins` are
    the exact page origins ceremonies may run on, each `https://` on the RP id
    or a subdomain of it (`http://localhost:PORT` for development).
    `rp_name` is what authenticators show.

    Example:

    ```python
    rp = RelyingParty("example.com", "Example", origins=["https://example.com",
                                                        "https://app.example.com"])
    ```
    """

    rp_id: str
    rp_name: str
    origins: tuple[str, ...]

    def __init__(self, rp_id: str, rp_name: str, *, origins: Iterable[str]) -> None:
        if not isinstance(rp_id, str) or not _is_domain(rp_id):
            raise InvalidInput("rp_id", "must be a lower-case domain name such as example.com")
        if rp_id.replace(".", "").isdigit():
            raise InvalidInput("rp_id", "must be a domain name, not an IP address")
        name = check_text("rp_name", rp_name, max_length=MAX_LABEL_LENGTH)
        if isinstance(origins, str) or not isinstance(origins, Iterable):
            raise InvalidInput("origins", "must be a list of origins")
        checked = tuple(dict.fromkeys(_origin(o, rp_id) for o in origins))
        if not checked:
            raise InvalidInput("origins", "must list at least one origin")
        object.__setattr__(self, "rp_id", rp_id)
        object.__setattr__(self, "rp_name", name)
        object.__setattr__(self, "origins", checked)
