"""Begin and finish WebAuthn ceremonies: pure functions on py_webauthn.

Each `*_options` function takes the random values it needs (a ceremony id,
a challenge) and the time, and returns a
[`PendingCeremony`][mfakit.passkeys.ceremonies.PendingCeremony]: the record to store and the options
JSON for `navigator.credentials.create` or `get`.
[`verify_registration`][mfakit.passkeys.ceremonies.verify_registration] and
[`verify_authentication`][mfakit.passkeys.ceremonies.verify_authentication] take the stored ceremony
and the browser's JSON and return an outcome: a new or updated credential record, or a
[`Reason`][mfakit.Reason].

What py_webauthn checks (signatures, attestation statements, the client data
and authenticator data fields) it checks; what it leaves to the relying party
is checked here, before any signature is verified: the ceremony's kind, expiry
and single use (with the store's atomic take); `crossOrigin`; that the
credential id in the JSON is the attested one; that the credential answers the
ceremony (its user's, allowed, or, passwordless, its user handle; S24); the
sign count against the clone policy, with counters that stay at 0 accepted.

Nothing here stores anything or reads a clock.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import decode_credential_public_key, parse_attestation_object
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorAssertionResponse,
    AuthenticatorAttestationResponse,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from ..core.policy import Policy
from ..core.records import CeremonyRecord, WebAuthnCredentialRecord
from ..core.results import Reason
from ..core.validation import check_aware, check_id, check_text
from ..core.webauthn import (
    AUTHENTICATION_KINDS,
    Attestation,
    CeremonyKind,
    ClonePolicy,
    CredentialUsage,
    Discoverable,
    RelyingParty,
    SignCountCheck,
    UserVerification,
    ceremony_refusal,
    check_passkey_name,
    check_sign_count,
    check_user_handle,
    credential_answers,
)
from ..errors import InvalidInput
from ._parse import (
    Refused,
    b64url_encode,
    parse_assertion,
    parse_auth_data,
    parse_client_data,
    parse_registration,
)

__all__ = [
    "CHALLENGE_BYTES",
    "SUPPORTED_ALGORITHMS",
    "AuthenticationOutcome",
    "PendingCeremony",
    "RegistrationOutcome",
    "assertion_credential_id",
    "authentication_options",
    "passwordless_options",
    "registration_options",
    "verify_authentication",
    "verify_registration",
]

CHALLENGE_BYTES = 32
"""Random bytes per challenge (WebAuthn asks for at least 16)."""

SUPPORTED_ALGORITHMS = (
    COSEAlgorithmIdentifier.ECDSA_SHA_256,  # ES256: every platform and most keys
    COSEAlgorithmIdentifier.EDDSA,  # Ed25519: newer security keys
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,  # RS256: Windows Hello
)

_MALFORMED_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError)
"""What parsing hostile CBOR inside py_webauthn and cbor2 may raise besides its own errors."""


@dataclass(frozen=True, slots=True)
class PendingCeremony:
    """A ceremony to store, and the options to give the browser.

    `options_json` is `PublicKeyCredentialCreationOptionsJSON` or
    `...RequestOptionsJSON`: the page turns it into options with
    `PublicKeyCredential.parseCreationOptionsFromJSON` or
    `parseRequestOptionsFromJSON` (or the fallback in the docs' script).
    """

    ceremony: CeremonyRecord
    options_json: str = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrationOutcome:
    """The new credential (to store, unless its id is taken: `DUPLICATE_CREDENTIAL`),
    or why the registration was refused."""

    ok: bool
    reason: Reason | None = None
    credential: WebAuthnCredentialRecord | None = None

    def __bool__(self) -> bool:
        return self.ok


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticationOutcome:
    """A verified assertion, or why it was refused.

    On success `credential` is the stored record updated (sign count, backup
    state, last use, clone flag): save it. `user_id` is whose it is (the
    answer to a passwordless sign-in). `clone_detected` is set when its
    counter went backwards and the policy flags instead of refusing: audit it
    and notify the user.
    """

    ok: bool
    reason: Reason | None = None
    credential: WebAuthnCredentialRecord | None = None
    user_id: str | None = None
    user_verified: bool = False
    clone_detected: bool = False

    def __bool__(self) -> bool:
        return self.ok


# --- options ---------------------------------------------------------------------------


def _compact(options_json: str) -> str:
    return json.dumps(json.loads(options_json), separators=(",", ":"))


def _ttl_ms(ttl: timedelta) -> int:
    return int(ttl.total_seconds() * 1000)


def _challenge(challenge: object) -> bytes:
    if not isinstance(challenge, bytes) or len(challenge) < 16:
        raise InvalidInput("challenge", "must be at least 16 random bytes")
    return challenge


def _descriptor(credential: WebAuthnCredentialRecord) -> PublicKeyCredentialDescriptor:
    transports = []
    for name in credential.transports:
        try:
            transports.append(AuthenticatorTransport(name))
        except ValueError:
            continue
    return PublicKeyCredentialDescriptor(id=credential.credential_id, transports=transports or None)


def registration_options(
    rp: RelyingParty,
    policy: Policy,
    *,
    ceremony_id: str,
    challenge: bytes,
    now: datetime,
    user_id: str,
    user_handle: bytes,
    user_name: str,
    display_name: str | None = None,
    name: str,
    existing: Sequence[WebAuthnCredentialRecord] = (),
    passwordless: bool = False,
    actor_id: str | None = None,
    tenant: str | None = None,
) -> PendingCeremony:
    """A registration ceremony for `user_id` and its `navigator.credentials.create` options.

    `user_handle` is the user's handle (`UserState.webauthn_user_handle`;
    make 64 random bytes the first time). `user_name` and `display_name`
    are what the authenticator shows (an email address and a full name, say).
    `existing` are the user's credentials: they go to `excludeCredentials`
    so an authenticator is not registered twice. `passwordless` asks for a
    discoverable credential with user verification, which may then sign in
    alone (only when `policy.passkey_passwordless`).
    """
    check_id("ceremony_id", ceremony_id)
    check_id("user_id", user_id)
    check_aware("now", now)
    handle = check_user_handle(user_handle)
    checked_name = check_passkey_name(name)
    account = check_text("user_name", user_name, max_length=256)
    shown = check_text("display_name", display_name or account, max_length=256)
    if passwordless and not policy.passkey_passwordless:
        raise InvalidInput("passwordless", "the policy does not allow passwordless passkeys")
    uv = (
        UserVerification.REQUIRED
        if passwordless
        else UserVerification(policy.webauthn_user_verification)
    )
    usage = frozenset({CredentialUsage.SECOND_FACTOR})
    if passwordless:
        usage |= {CredentialUsage.PASSWORDLESS}
    ttl = policy.webauthn_ceremony_ttl
    options = generate_registration_options(
        rp_id=rp.rp_id,
        rp_name=rp.rp_name,
        user_id=handle,
        user_name=account,
        user_display_name=shown,
        challenge=_challenge(challenge),
        timeout=_ttl_ms(ttl),
        attestation=AttestationConveyancePreference(Attestation(policy.webauthn_attestation).value),
        authenticator_selection=AuthenticatorSelectionCriteria(
            # A second factor need not take one of a security key's few resident slots.
            resident_key=ResidentKeyRequirement.REQUIRED
            if passwordless
            else ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement(uv.value),
        ),
        exclude_credentials=[_descriptor(c) for c in existing],
        supported_pub_key_algs=list(SUPPORTED_ALGORITHMS),
    )
    body = json.loads(options_to_json(options))
    body["extensions"] = {"credProps": True}  # says whether the key is discoverable
    ceremony = CeremonyRecord(
        id=ceremony_id,
        kind=CeremonyKind.REGISTER,
        user_id=user_id,
        challenge=challenge,
        rp_id=rp.rp_id,
        created_at=now,
        expires_at=now + ttl,
        user_verification=uv,
        allowed_credential_ids=(),
        user_handle=handle,
        name=checked_name,
        usage=usage,
        actor_id=actor_id,
        tenant=tenant,
    )
    return PendingCeremony(ceremony, json.dumps(body, separators=(",", ":")))


def authentication_options(
    rp: RelyingParty,
    policy: Policy,
    *,
    ceremony_id: str,
    challenge: bytes,
    now: datetime,
    user_id: str,
    credentials: Sequence[WebAuthnCredentialRecord],
    kind: CeremonyKind = CeremonyKind.AUTHENTICATE,
    challenge_id: str | None = None,
    actor_id: str | None = None,
    tenant: str | None = None,
) -> PendingCeremony:
    """A second-factor (or step-up) ceremony for `user_id`, offering `credentials`.

    `credentials` are the user's (all of them, or those the use allows); they
    become `allowCredentials` and only they may answer. `challenge_id` links
    the ceremony to the second-factor challenge it answers.
    """
    if kind not in (CeremonyKind.AUTHENTICATE, CeremonyKind.STEP_UP):
        raise InvalidInput("kind", "must be authenticate or step_up")
    check_id("ceremony_id", ceremony_id)
    check_id("user_id", user_id)
    check_aware("now", now)
    foreign = [c for c in credentials if c.user_id != user_id]
    if foreign or not credentials:
        raise InvalidInput("credentials", "must be one or more of the user's own credentials")
    uv = UserVerification(policy.webauthn_user_verification)
    ttl = policy.webauthn_ceremony_ttl
    options = generate_authentication_options(
        rp_id=rp.rp_id,
        challenge=_challenge(challenge),
        timeout=_ttl_ms(ttl),
        allow_credentials=[_descriptor(c) for c in credentials],
        user_verification=UserVerificationRequirement(uv.value),
    )
    ceremony = CeremonyRecord(
        id=ceremony_id,
        kind=kind,
        user_id=user_id,
        challenge=challenge,
        rp_id=rp.rp_id,
        created_at=now,
        expires_at=now + ttl,
        user_verification=uv,
        allowed_credential_ids=tuple(c.credential_id for c in credentials),
        challenge_id=challenge_id,
        actor_id=actor_id,
        tenant=tenant,
    )
    return PendingCeremony(ceremony, _compact(options_to_json(options)))


def passwordless_options(
    rp: RelyingParty,
    policy: Policy,
    *,
    ceremony_id: str,
    challenge: bytes,
    now: datetime,
    conditional: bool = False,
    tenant: str | None = None,
) -> PendingCeremony:
    """A sign-in with no user named: any discoverable passkey may answer.

    `allowCredentials` is empty and user verification required. With
    `conditional` the page offers passkeys in the username field's autofill
    (`mediation: "conditional"`) and the ceremony lives
    `policy.webauthn_conditional_ttl`.
    """
    check_id("ceremony_id", ceremony_id)
    check_aware("now", now)
    if not isinstance(conditional, bool):
        raise InvalidInput("conditional", "must be a bool")
    if not policy.passkey_passwordless:
        raise InvalidInput("policy", "the policy does not allow passwordless passkeys")
    ttl = policy.webauthn_conditional_ttl if conditional else policy.webauthn_ceremony_ttl
    options = generate_authentication_options(
        rp_id=rp.rp_id,
        challenge=_challenge(challenge),
        timeout=_ttl_ms(ttl),
        allow_credentials=[],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    ceremony = CeremonyRecord(
        id=ceremony_id,
        kind=CeremonyKind.PASSWORDLESS,
        user_id=None,
        challenge=challenge,
        rp_id=rp.rp_id,
        created_at=now,
        expires_at=now + ttl,
        user_verification=UserVerification.REQUIRED,
        conditional=conditional,
        tenant=tenant,
    )
    return PendingCeremony(ceremony, _compact(options_to_json(options)))


# --- verification ------------------------------------------------------------------------


def _check_client_data(
    rp: RelyingParty, ceremony: CeremonyRecord, raw: bytes, expected_type: str
) -> None:
    client = parse_client_data(raw)
    if client.type != expected_type:
        raise Refused(Reason.WRONG_TYPE)
    if not hmac.compare_digest(client.challenge, ceremony.challenge):
        raise Refused(Reason.WRONG_CHALLENGE)
    if client.origin not in rp.origins or client.cross_origin:
        raise Refused(Reason.WRONG_ORIGIN)


def _check_flags(
    rp: RelyingParty, ceremony: CeremonyRecord, rp_id_hash: bytes, up: bool, uv: bool
) -> None:
    # The ceremony's RP id, in case the configuration changed while it was pending.
    if ceremony.rp_id != rp.rp_id:
        raise Refused(Reason.WRONG_RP_ID)
    if not hmac.compare_digest(rp_id_hash, hashlib.sha256(rp.rp_id.encode()).digest()):
        raise Refused(Reason.WRONG_RP_ID)
    if not up:
        raise Refused(Reason.USER_NOT_PRESENT)
    if ceremony.user_verification is UserVerification.REQUIRED and not uv:
        raise Refused(Reason.USER_VERIFICATION_MISSING)


def verify_registration(
    rp: RelyingParty,
    ceremony: CeremonyRecord,
    credential_json: object,
    *,
    factor_id: str,
    now: datetime,
) -> RegistrationOutcome:
    """Check the browser's answer to a registration ceremony.

    `ceremony` is the stored record as it was before the store took it
    (`used_at` set means it had been taken already: `REPLAYED`).
    `credential_json` is what the page posted (`credential.toJSON()`, as
    text or parsed). `factor_id` is the id to give the new credential record.
    Duplicate credential ids are the caller's check (the store knows them).
    """
    check_id("factor_id", factor_id)
    check_aware("now", now)
    refusal = ceremony_refusal(
        kind=ceremony.kind,
        expected=frozenset({CeremonyKind.REGISTER}),
        expires_at=ceremony.expires_at,
        used_at=ceremony.used_at,
        now=now,
    )
    if refusal is not None:
        return RegistrationOutcome(ok=False, reason=refusal)
    try:
        return RegistrationOutcome(
            ok=True, credential=_register(rp, ceremony, credential_json, factor_id, now)
        )
    except Refused as refused:
        return RegistrationOutcome(ok=False, reason=refused.reason)


def _register(
    rp: RelyingParty,
    ceremony: CeremonyRecord,
    credential_json: object,
    factor_id: str,
    now: datetime,
) -> WebAuthnCredentialRecord:
    if ceremony.user_id is None or ceremony.user_handle is None or ceremony.name is None:
        raise InvalidInput("ceremony", "is not a complete registration ceremony")
    parsed = parse_registration(credential_json)
    _check_client_data(rp, ceremony, parsed.client_data_json, "webauthn.create")
    try:
        attestation = parse_attestation_object(parsed.attestation_object)
        auth_data = attestation.auth_data
        attested = auth_data.attested_credential_data
        if attested is None:
            raise Refused(Reason.MALFORMED_CREDENTIAL)
        algorithm = decode_credential_public_key(attested.credential_public_key).alg
    except (WebAuthnException, *_MALFORMED_ERRORS):
        raise Refused(Reason.MALFORMED_CREDENTIAL) from None
    flags = auth_data.flags
    if flags.bs and not flags.be:  # Level 3, 6.1: backed up but not eligible is invalid
        raise Refused(Reason.MALFORMED_CREDENTIAL)
    _check_flags(rp, ceremony, auth_data.rp_id_hash, flags.up, flags.uv)
    if attested.credential_id != parsed.credential_id or algorithm not in SUPPORTED_ALGORITHMS:
        raise Refused(Reason.MALFORMED_CREDENTIAL)
    try:
        verified = verify_registration_response(
            credential=RegistrationCredential(
                id=b64url_encode(parsed.credential_id),
                raw_id=parsed.credential_id,
                response=AuthenticatorAttestationResponse(
                    client_data_json=parsed.client_data_json,
                    attestation_object=parsed.attestation_object,
                ),
            ),
            expected_challenge=ceremony.challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=list(rp.origins),
            require_user_verification=ceremony.user_verification is UserVerification.REQUIRED,
            supported_pub_key_algs=list(SUPPORTED_ALGORITHMS),
        )
    except WebAuthnException:
        # Every field was checked above: what is left is the attestation statement
        # (its signature, certificates or an unsupported format).
        raise Refused(Reason.BAD_SIGNATURE) from None
    except _MALFORMED_ERRORS:
        raise Refused(Reason.MALFORMED_CREDENTIAL) from None
    discoverable = {True: Discoverable.YES, False: Discoverable.NO, None: Discoverable.UNKNOWN}[
        parsed.resident_key
    ]
    usage = ceremony.usage or frozenset({CredentialUsage.SECOND_FACTOR})
    if discoverable is Discoverable.NO or not flags.uv:
        # A key that cannot be found without a username, or that did not verify
        # its user, is not a passkey that may sign in alone.
        usage -= {CredentialUsage.PASSWORDLESS}
    return WebAuthnCredentialRecord(
        id=factor_id,
        user_id=ceremony.user_id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        user_handle=ceremony.user_handle,
        name=ceremony.name,
        sign_count=verified.sign_count,
        transports=parsed.transports,
        aaguid=verified.aaguid,
        attestation_format=str(getattr(verified.fmt, "value", verified.fmt)),
        backup_eligible=flags.be,
        backed_up=flags.bs,
        discoverable=discoverable,
        usage=usage or frozenset({CredentialUsage.SECOND_FACTOR}),
        user_verified=flags.uv,
        created_at=now,
    )


def assertion_credential_id(credential_json: object) -> bytes | None:
    """The credential id an assertion names (to look its record up), or `None`
    when the JSON is not a well-formed assertion (answer `MALFORMED_CREDENTIAL`)."""
    try:
        return parse_assertion(credential_json).credential_id
    except Refused:
        return None


def verify_authentication(
    rp: RelyingParty,
    policy: Policy,
    ceremony: CeremonyRecord,
    credential_json: object,
    *,
    credential: WebAuthnCredentialRecord | None,
    now: datetime,
) -> AuthenticationOutcome:
    """Check the browser's answer to a sign-in, step-up or passwordless ceremony.

    `credential` is the stored record whose `credential_id` is
    [`assertion_credential_id`][mfakit.passkeys.ceremonies.assertion_credential_id] of the same
    JSON, or `None` when there is none: an unknown credential and another user's are refused alike
    (`UNKNOWN_CREDENTIAL`). The sign count follows
    `policy.webauthn_clone_policy`.
    """
    check_aware("now", now)
    refusal = ceremony_refusal(
        kind=ceremony.kind,
        expected=AUTHENTICATION_KINDS,
        expires_at=ceremony.expires_at,
        used_at=ceremony.used_at,
        now=now,
    )
    if refusal is not None:
        return AuthenticationOutcome(ok=False, reason=refusal)
    try:
        return _authenticate(rp, policy, ceremony, credential_json, credential, now)
    except Refused as refused:
        return AuthenticationOutcome(ok=False, reason=refused.reason)


def _authenticate(
    rp: RelyingParty,
    policy: Policy,
    ceremony: CeremonyRecord,
    credential_json: object,
    credential: WebAuthnCredentialRecord | None,
    now: datetime,
) -> AuthenticationOutcome:
    parsed = parse_assertion(credential_json)
    _check_client_data(rp, ceremony, parsed.client_data_json, "webauthn.get")
    head = parse_auth_data(parsed.authenticator_data)
    _check_flags(rp, ceremony, head.rp_id_hash, head.user_present, head.user_verified)
    if (
        credential is None
        or not hmac.compare_digest(credential.credential_id, parsed.credential_id)
        or (ceremony.kind is CeremonyKind.PASSWORDLESS and not policy.passkey_passwordless)
        or not credential_answers(
            kind=ceremony.kind,
            ceremony_user_id=ceremony.user_id,
            allowed_credential_ids=ceremony.allowed_credential_ids,
            credential_id=parsed.credential_id,
            credential_user_id=credential.user_id,
            usage=credential.usage,
            credential_user_handle=credential.user_handle,
            response_user_handle=parsed.user_handle,
        )
    ):
        raise Refused(Reason.UNKNOWN_CREDENTIAL)
    try:
        verified = verify_authentication_response(
            credential=AuthenticationCredential(
                id=b64url_encode(parsed.credential_id),
                raw_id=parsed.credential_id,
                response=AuthenticatorAssertionResponse(
                    client_data_json=parsed.client_data_json,
                    authenticator_data=parsed.authenticator_data,
                    signature=parsed.signature,
                    user_handle=parsed.user_handle,
                ),
            ),
            expected_challenge=ceremony.challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=list(rp.origins),
            credential_public_key=credential.public_key,
            # 0 turns py_webauthn's own counter check off (it has no "flag" mode and
            # would refuse 0 after 0); check_sign_count below decides instead.
            credential_current_sign_count=0,
            require_user_verification=ceremony.user_verification is UserVerification.REQUIRED,
        )
    except WebAuthnException:
        raise Refused(Reason.BAD_SIGNATURE) from None
    except _MALFORMED_ERRORS:
        raise Refused(Reason.MALFORMED_CREDENTIAL) from None
    backwards = check_sign_count(credential.sign_count, verified.new_sign_count)
    clone = backwards is SignCountCheck.WENT_BACKWARDS
    if clone and ClonePolicy(policy.webauthn_clone_policy) is ClonePolicy.REJECT:
        raise Refused(Reason.CLONED_CREDENTIAL)
    updated = credential.with_(
        # Never lower the stored counter: the genuine authenticator keeps passing.
        sign_count=max(credential.sign_count, verified.new_sign_count),
        backed_up=head.backed_up,
        last_used_at=now,
        cloned=credential.cloned or clone,
    )
    return AuthenticationOutcome(
        ok=True,
        credential=updated,
        user_id=credential.user_id,
        user_verified=head.user_verified,
        clone_detected=clone,
    )
