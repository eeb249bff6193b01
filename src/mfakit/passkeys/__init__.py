"""Passkeys and security keys (WebAuthn) on py_webauthn: `pip install 'mfakit[webauthn]'`.

Pure functions the use cases call, and hosts may call directly:

* [`registration_options`][mfakit.passkeys.ceremonies.registration_options],
  [`authentication_options`][mfakit.passkeys.ceremonies.authentication_options],
  [`passwordless_options`][mfakit.passkeys.ceremonies.passwordless_options] build a
  [`PendingCeremony`][mfakit.passkeys.ceremonies.PendingCeremony] (the record to store and the
  options JSON for the browser);
* [`verify_registration`][mfakit.passkeys.ceremonies.verify_registration] turns the browser's answer
  into a new [`WebAuthnCredentialRecord`][mfakit.core.records.WebAuthnCredentialRecord] or a refusal
  [`Reason`][mfakit.Reason];
* [`assertion_credential_id`][mfakit.passkeys.ceremonies.assertion_credential_id] names the
  credential an assertion uses, and
  [`verify_authentication`][mfakit.passkeys.ceremonies.verify_authentication] checks the assertion
  against it.

[`RelyingParty`][mfakit.core.webauthn.RelyingParty] (the site's RP id, name and allowed origins) is
importable without the extra, from [`mfakit.core.webauthn`][mfakit.core.webauthn].
"""

from __future__ import annotations

try:
    import webauthn as _webauthn  # noqa: F401 - the extra's presence is the point
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("mfakit.passkeys needs py_webauthn: pip install 'mfakit[webauthn]'") from exc

from ..core.webauthn import RelyingParty as RelyingParty
from ._parse import b64url_decode as b64url_decode
from ._parse import b64url_encode as b64url_encode
from .ceremonies import CHALLENGE_BYTES as CHALLENGE_BYTES
from .ceremonies import SUPPORTED_ALGORITHMS as SUPPORTED_ALGORITHMS
from .ceremonies import AuthenticationOutcome as AuthenticationOutcome
from .ceremonies import PendingCeremony as PendingCeremony
from .ceremonies import RegistrationOutcome as RegistrationOutcome
from .ceremonies import assertion_credential_id as assertion_credential_id
from .ceremonies import authentication_options as authentication_options
from .ceremonies import passwordless_options as passwordless_options
from .ceremonies import registration_options as registration_options
from .ceremonies import verify_authentication as verify_authentication
from .ceremonies import verify_registration as verify_registration

__all__ = [
    "CHALLENGE_BYTES",
    "SUPPORTED_ALGORITHMS",
    "AuthenticationOutcome",
    "PendingCeremony",
    "RegistrationOutcome",
    "RelyingParty",
    "assertion_credential_id",
    "authentication_options",
    "b64url_decode",
    "b64url_encode",
    "passwordless_options",
    "registration_options",
    "verify_authentication",
    "verify_registration",
]
