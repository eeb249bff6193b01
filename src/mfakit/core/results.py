"""Values the use cases return.

Expected refusals are values here, with a [`Reason`][mfakit.Reason] and, where waiting
helps, `retry_after`. Anything holding a secret (a setup's key, fresh backup
codes) hides it from `repr`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from ..errors import InvalidInput
from . import otpauth
from .challenge import Purpose, State
from .contacts import ContactKind, mask
from .methods import Method

if TYPE_CHECKING:
    from .messages import Texts
    from .records import KeyUse, WebAuthnCredentialRecord

__all__ = [
    "AnswerResult",
    "AuthenticatorInfo",
    "BackupCodes",
    "Challenge",
    "ChallengeRequired",
    "Contact",
    "ContactChangeStart",
    "Contacts",
    "DeviceInfo",
    "EnrollmentRequired",
    "ExpectedCode",
    "FactorInfo",
    "KeyRotation",
    "KeyUsage",
    "PasskeyInfo",
    "PasskeyOptions",
    "PasskeyRegistration",
    "PasskeySignIn",
    "Reason",
    "Satisfied",
    "SendResult",
    "SignInStart",
    "SignInStatus",
    "StepUpChallenge",
    "StepUpNotNeeded",
    "StepUpStart",
    "StepUpStatus",
    "TotpConfirmation",
    "TotpSetup",
    "VerifyResult",
]


class Reason(str, enum.Enum):
    """Why a code, an answer or a passkey was refused."""

    INVALID_CODE = "invalid_code"
    """Wrong code, or no such factor for the user (the same answer on purpose, S24)."""
    MALFORMED_CODE = "malformed_code"
    """What was typed cannot be a code of this kind (letters in a six-digit
    code, a wrong length, nothing at all) or, for the security question, is
    blank. A typo, not a guess: no attempt is counted, nothing changes, and
    `expected` says what the field takes. Only its shape was looked at,
    never the right code."""
    REPLAYED = "replayed"
    """The code was right but already used; wait for the next one (S4). For a
    passkey: the ceremony was already finished once; start a new one."""
    RATE_LIMITED = "rate_limited"
    """Too many recent failures on the account; see `retry_after` (S13)."""
    LOCKED_OUT = "locked_out"
    """Too many consecutive failures: the second step is locked until an
    admin unlocks it or the user recovers (S13)."""
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    """Too many wrong codes or answers for this setup or challenge; start again (S12)."""
    EXPIRED = "expired"
    """The challenge or its code, or a passkey ceremony, expired; start again
    or resend (S8)."""
    NO_CODE_SENT = "no_code_sent"
    """The current method needs a code to be sent first (it may have failed)."""
    COOLDOWN = "cooldown"
    """A code was sent moments ago; resend after `retry_after` (S15)."""
    SEND_LIMIT = "send_limit"
    """Too many codes went to this destination recently; see `retry_after` (S15)."""
    INVALID_ANSWER = "invalid_answer"
    """The security question's answer was wrong."""
    DAILY_LIMIT = "daily_limit"
    """Too many contact changes today (S16); see `retry_after`."""
    SEND_BUDGET_EXHAUSTED = "send_budget_exhausted"
    """The budget of codes to destinations being enrolled (per user, tenant or
    application, per day) is used up (S33); see `retry_after`."""
    OPTED_OUT = "opted_out"
    """The recipient told the provider to stop sending to this number (they
    replied STOP): no code was sent; offer another method. Only the user can
    undo it (by replying START)."""
    NO_ELIGIBLE_METHOD = "no_eligible_method"
    """No channel verified before the change can approve it (S19): set up an
    authenticator app or verify the email address first."""

    # --- passkeys and security keys (WebAuthn) --------------------------
    WRONG_ORIGIN = "wrong_origin"
    """The browser ran the ceremony on a page of another origin, or inside a
    frame of another site (`crossOrigin`): possibly a phishing site."""
    WRONG_RP_ID = "wrong_rp_id"
    """The authenticator signed for another relying party id."""
    WRONG_TYPE = "wrong_type"
    """A registration answered with an assertion or the reverse, or the
    credential is not a `public-key` credential."""
    WRONG_CHALLENGE = "wrong_challenge"
    """The response answers another challenge, or no ceremony of this kind has
    this id."""
    USER_NOT_PRESENT = "user_not_present"
    """The authenticator did not report a user's touch or gesture."""
    USER_VERIFICATION_MISSING = "user_verification_missing"
    """User verification (PIN, biometric) was required but not performed."""
    UNKNOWN_CREDENTIAL = "unknown_credential"
    """No such credential, or it belongs to someone else, was not allowed for
    this ceremony, or may not sign in without a password (the same answer on
    purpose, S24)."""
    CLONED_CREDENTIAL = "cloned_credential"
    """The credential's signature counter went backwards: the authenticator may
    have been cloned (`Policy.webauthn_clone_policy = "reject"`)."""
    DUPLICATE_CREDENTIAL = "duplicate_credential"
    """This authenticator's credential is already registered."""
    BAD_SIGNATURE = "bad_signature"
    """The assertion's signature or the registration's attestation did not verify."""
    MALFORMED_CREDENTIAL = "malformed_credential"
    """The credential JSON is not a well-formed WebAuthn response, or uses an
    algorithm or attestation format that is not supported."""

    def __str__(self) -> str:
        return self.value

    def message(
        self,
        texts: Texts | None = None,
        *,
        retry_after: timedelta | None = None,
        attempts_left: int | None = None,
        expected: ExpectedCode | None = None,
    ) -> str:
        """A short sentence to show the user, in the language of `texts`
        (`mfa.messages.texts(locale)` or `mfakit.texts(locale)`; English without).
        For `MALFORMED_CODE`, pass the result's `expected` to say what the
        field takes.

        >>> Reason.EXPIRED.message()
        'This code has expired. Please ask for a new one.'
        """
        from .messages import Texts, english  # messages imports this module

        texts = english() if texts is None else texts
        if not isinstance(texts, Texts):
            raise InvalidInput("texts", "must be an mfakit Texts, e.g. mfakit.texts('fr')")
        return texts.reason(
            self, retry_after=retry_after, attempts_left=attempts_left, expected=expected
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpectedCode:
    """What a code field takes, given with `Reason.MALFORMED_CODE` so the
    message can say it: `Reason.MALFORMED_CODE.message(expected=...)` or
    `texts.explain(result)` gives "Enter the code from the email: 6 digits."

    The shape is the method's, public: nothing here depends on the right code.
    """

    method: Method | None
    """The method the code was for; `None` for the security question's answer."""
    lengths: tuple[int, ...] = ()
    """The lengths accepted, spaces and dashes aside: the digits of the code
    sent (SMS, voice, email), `(6, 8)` for an authenticator app, `(12,)`
    for a backup code; empty for an answer."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Contact:
    """One of the user's phone number or email address, in full, for its owner
    ("Your phone: +14155550142").

    `verified` is whether its possession was proven (codes go only to a
    verified one); a changed value stays unverified until then. The value is
    personal data: `repr` masks it, so a logged result never shows it.
    """

    kind: ContactKind
    value: str
    """The full value as stored: E.164 for a phone, the normalized address for
    an email."""
    verified: bool
    created_at: datetime
    verified_at: datetime | None = None

    def __repr__(self) -> str:
        return (
            f"Contact(kind={self.kind.value!r}, value={mask(self.kind, self.value)!r},"
            f" verified={self.verified})"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Contacts:
    """What `MFA.get_contacts` reads back: the user's phone and email (None when
    they have none), each with its full value; `repr` masks them."""

    user_id: str
    phone: Contact | None = None
    email: Contact | None = None

    def __iter__(self) -> Iterator[Contact]:
        """The contacts the user has: phone first, then email."""
        return iter([c for c in (self.phone, self.email) if c is not None])

    def __repr__(self) -> str:
        return f"Contacts(user_id={self.user_id!r}, phone={self.phone!r}, email={self.email!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyResult:
    """The outcome of checking a code.

    `ok` is the only field a caller must read. On success `method` and
    `factor_id` say what was used; `backup_codes_left` is set when a backup
    code was used, and `backup_codes_low` asks the app to warn the user.
    """

    ok: bool
    reason: Reason | None = None
    method: Method | None = None
    factor_id: str | None = None
    user_id: str | None = None
    """Whose challenge it was (set on a challenge's successful verification)."""
    purpose: Purpose | None = None
    """What the challenge was for (set on a challenge's successful verification)."""
    retry_after: timedelta | None = None
    backup_codes_left: int | None = None
    backup_codes_low: bool = False
    attempts_left: int | None = None
    backup_codes: BackupCodes | None = None
    """First backup codes, when a possession proof enrolled the user's first factor."""
    trust_token: str | None = field(default=None, repr=False)
    """With `trust_device=True`: the value for a cookie that skips the second
    step on this device for `trust_max_age` seconds."""
    trust_max_age: int | None = None
    device_id: str | None = None
    step_up: str | None = field(default=None, repr=False)
    """After a step-up or sign-in challenge: the step-up grant (S32). Keep it in
    the session and pass it back as `Actor.step_up`; it lets this actor remove
    or bind this user's factors until `step_up_expires_at`."""
    step_up_expires_at: datetime | None = None
    expected: ExpectedCode | None = None
    """With `Reason.MALFORMED_CODE`: what the code field takes."""
    contact: Contact | None = None
    """The phone or email this verification applied, in full (its `repr` is
    masked): after a phone or email enrolment the new, verified destination;
    after a contact change the new value (unverified until its possession is
    proven) or, when it asked for the current value, that one. None otherwise."""

    def __bool__(self) -> bool:
        return self.ok


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticatorInfo:
    """An authenticator app as listed to its user (no secret)."""

    id: str
    label: str
    algorithm: str
    digits: int
    period: int
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TotpSetup:
    """A pending authenticator setup: show the QR code (or the key for manual
    entry), then confirm it with a first code before `expires_at`.

    `secret` and `uri` carry the key and are hidden from `repr`.
    `warnings` lists settings some authenticator apps ignore.
    """

    id: str
    user_id: str
    secret: str = field(repr=False)
    uri: str = field(repr=False)
    expires_at: datetime
    algorithm: str = "SHA1"
    digits: int = 6
    period: int = 30
    warnings: tuple[str, ...] = ()

    @property
    def secret_groups(self) -> str:
        """The key in groups of four, easier to type by hand."""
        return " ".join(self.secret[i : i + 4] for i in range(0, len(self.secret), 4))

    def qr_svg(self, *, scale: int = 4) -> str:
        """The QR code of [`uri`][mfakit.TotpSetup.uri] as SVG text."""
        return otpauth.qr_svg(self.uri, scale=scale)

    def qr_png(self, *, scale: int = 6) -> bytes:
        """The QR code of [`uri`][mfakit.TotpSetup.uri] as PNG bytes."""
        return otpauth.qr_png(self.uri, scale=scale)

    def qr_data_uri(self, *, scale: int = 6) -> str:
        """The QR code as a `data:image/png` URI for `<img src=...>`."""
        return otpauth.qr_data_uri(self.uri, scale=scale)

    def qr_text(self) -> str:
        """The QR code drawn for a terminal."""
        return otpauth.qr_text(self.uri)


@dataclass(frozen=True, slots=True)
class BackupCodes:
    """Freshly issued backup codes: show them once, then forget them.

    Iterating yields the codes formatted for display (`7K2M-Q9XH-4TRD`).
    The repr shows only how many there are.
    """

    codes: tuple[str, ...] = field(repr=False)

    def __iter__(self) -> Iterator[str]:
        return iter(self.codes)

    def __len__(self) -> int:
        return len(self.codes)

    def __repr__(self) -> str:
        return f"BackupCodes(<{len(self.codes)} codes hidden>)"

    def as_text(self, issuer: str = "", *, texts: Texts | None = None) -> str:
        """A plain-text sheet to download or print, in the language of `texts`
        (English without)."""
        from .messages import Texts, english  # messages imports this module

        texts = english() if texts is None else texts
        if not isinstance(texts, Texts):
            raise InvalidInput("texts", "must be an mfakit Texts, e.g. mfakit.texts('fr')")
        return texts.backup_codes_sheet(self.codes, issuer)


@dataclass(frozen=True, slots=True, kw_only=True)
class TotpConfirmation:
    """The outcome of confirming an authenticator setup.

    On success `authenticator` describes it and `backup_codes` holds the
    user's first backup codes when this was their first factor (show them once).
    """

    ok: bool
    reason: Reason | None = None
    attempts_left: int | None = None
    authenticator: AuthenticatorInfo | None = None
    backup_codes: BackupCodes | None = None
    expected: ExpectedCode | None = None
    """With `Reason.MALFORMED_CODE`: what the code field takes."""

    def __bool__(self) -> bool:
        return self.ok


class SignInStatus(str, enum.Enum):
    """The `status` of each outcome of `MFA.begin_sign_in`."""

    SATISFIED = "satisfied"
    """`Satisfied`: no second step needed, 2FA is not required and not
    enrolled, or the device is trusted (`trusted_device`)."""
    ENROLLMENT_REQUIRED = "enrollment_required"
    """`EnrollmentRequired`: the policy requires 2FA for the user's role and
    they have no factor yet."""
    CHALLENGE = "challenge"
    """`ChallengeRequired`: the user must pass its `challenge`."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True, kw_only=True)
class Challenge:
    """A challenge as the app shows it. Nothing secret; destinations are masked.

    `methods` are the methods this challenge accepts; `method` is the current
    one. While `alternatives_locked` only `method` may be used until the
    security question (`question`) is answered via "try another way".
    """

    id: str
    user_id: str
    purpose: Purpose
    state: State
    methods: tuple[Method, ...]
    method: Method
    expires_at: datetime
    attempts_left: int
    destination: str | None = None
    """The masked number or address the current code went to."""
    code_sent_at: datetime | None = None
    resend_at: datetime | None = None
    """When a resend of the current method becomes possible."""
    alternatives_locked: bool = False
    question: str | None = None
    """The security question to answer, in state `AWAITING_ANSWER`."""
    delivery: str | None = None
    """What the provider last reported about the current code
    (`record_delivery_status`): `"pending"`, `"sent"`,
    `"delivered"` or `"failed"`; `None` until a report arrives."""
    delivery_error: str | None = None
    """The provider's error code with a `"failed"` delivery (`"30006"`)."""
    passkey_options: str | None = field(default=None, repr=False)
    """When `methods` include `WEBAUTHN`: the request options JSON for
    `navigator.credentials.get` (set by `begin_sign_in`, `begin_step_up`
    and switching to `WEBAUTHN`, which issues fresh ones after a refusal).
    Post the browser's answer to [MFA.verify][mfakit.MFA.verify] as the code."""

    @property
    def is_open(self) -> bool:
        return self.state in (State.AWAITING_CODE, State.AWAITING_ANSWER)


@dataclass(frozen=True, slots=True, kw_only=True)
class SendResult:
    """The outcome of sending a code.

    `ok` is true when a code for `challenge.method` is on its way: sent now,
    or, with `already_sent`, sent moments ago (by `begin_sign_in`, a
    switch or an earlier send) and nothing was sent again; `retry_after`
    then says when `MFA.resend` can send a new one. When `ok` is false,
    `reason` says why (cooldown on a resend, send limit) and `retry_after`
    when to try again; a delivery failure raises `mfakit.DeliveryError` instead.
    """

    ok: bool
    challenge: Challenge
    reason: Reason | None = None
    retry_after: timedelta | None = None
    already_sent: bool = False
    """Nothing was sent now: the code sent moments ago for this method is
    still on its way and valid (within `Policy.resend_cooldown`)."""

    def __bool__(self) -> bool:
        return self.ok


@dataclass(frozen=True, slots=True, kw_only=True)
class AnswerResult:
    """The outcome of answering the security question. A blank answer is
    `Reason.MALFORMED_CODE` (not counted as an attempt)."""

    ok: bool
    challenge: Challenge
    reason: Reason | None = None
    retry_after: timedelta | None = None
    expected: ExpectedCode | None = None
    """With `Reason.MALFORMED_CODE`: what the field takes (an answer)."""

    def __bool__(self) -> bool:
        return self.ok


class _SignInOutcome:
    """What the three outcomes of `MFA.begin_sign_in` share: `status`, and
    every field the single `SignInStart` class of mfakit 0.1 had, so code
    written for it still runs; an outcome that has no such field answers
    `None` or `False`. Narrow with `match` or `status` to type-check."""

    __slots__ = ()
    status: SignInStatus

    @property
    def challenge(self) -> Challenge | None:
        """`None`: only `ChallengeRequired` has a challenge."""
        return None

    @property
    def delivery(self) -> SendResult | None:
        """`None`: only `ChallengeRequired` sends a code."""
        return None

    @property
    def delivery_failed(self) -> bool:
        return False

    @property
    def stronger_factor_required(self) -> bool:
        return False

    @property
    def trusted_device(self) -> bool:
        """`False`: only `Satisfied` can be satisfied by a trusted device."""
        return False

    @property
    def satisfied(self) -> bool:
        """No second step needed (the same as `status is SignInStatus.SATISFIED`)."""
        return self.status is SignInStatus.SATISFIED

    @property
    def enrollment_required(self) -> bool:
        """The user must set up a factor first (`status is ENROLLMENT_REQUIRED`)."""
        return self.status is SignInStatus.ENROLLMENT_REQUIRED


@dataclass(frozen=True, slots=True, kw_only=True)
class Satisfied(_SignInOutcome):
    """`MFA.begin_sign_in` needs no second step: the user has no factor and
    their role does not require one, or `trusted_device` (a valid
    remember-this-device token). Sign them in."""

    status: Literal[SignInStatus.SATISFIED] = SignInStatus.SATISFIED
    trusted_device: bool = False
    """Satisfied by a valid trusted-device token."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EnrollmentRequired(_SignInOutcome):
    """`MFA.begin_sign_in`: the policy requires 2FA for the user's role (or
    they turned it on) and none of their factors is usable. Send them to set
    one up before they get in."""

    status: Literal[SignInStatus.ENROLLMENT_REQUIRED] = SignInStatus.ENROLLMENT_REQUIRED


@dataclass(frozen=True, slots=True, kw_only=True)
class ChallengeRequired(_SignInOutcome):
    """`MFA.begin_sign_in` started a challenge: the user must pass `challenge`.

    `delivery` is the outcome of the automatic send when the preferred method
    is SMS, voice or email (`None` otherwise); `delivery_failed` is true
    when the provider refused it, in which case the user can resend or switch
    method. `stronger_factor_required` says the user's only factors are
    restricted (SMS, voice) and the policy wants another.
    """

    status: Literal[SignInStatus.CHALLENGE] = SignInStatus.CHALLENGE
    challenge: Challenge
    delivery: SendResult | None = None
    delivery_failed: bool = False
    stronger_factor_required: bool = False


SignInStart = Satisfied | EnrollmentRequired | ChallengeRequired
"""What `MFA.begin_sign_in` returns: one of three classes, told apart by
`status` (a `Literal`) or by class, so `match` and a type checker narrow it:

```python
match mfa.begin_sign_in(user_id):
    case mfakit.Satisfied():
        ...  # sign in
    case mfakit.EnrollmentRequired():
        ...  # set up a factor first
    case mfakit.ChallengeRequired(challenge=challenge):
        ...  # challenge.id: show the code page
```
"""


class StepUpStatus(str, enum.Enum):
    NOT_NEEDED = "not_needed"
    """The user has no active factor: nothing to step up with, nothing needed."""
    CHALLENGE = "challenge"
    """The actor must pass `StepUpChallenge.challenge`."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True, kw_only=True)
class StepUpNotNeeded:
    """[`MFA.begin_step_up`][mfakit.facade.Facade.begin_step_up] for a user with no active factor:
    the calls that bind a first factor need no step-up."""

    status: Literal[StepUpStatus.NOT_NEEDED] = StepUpStatus.NOT_NEEDED


@dataclass(frozen=True, slots=True, kw_only=True)
class StepUpChallenge:
    """[`MFA.begin_step_up`][mfakit.facade.Facade.begin_step_up] started a challenge of purpose
    `REAUTHENTICATE` over the user's factors (backup codes included).

    `delivery` is the outcome of the automatic send when the first method is
    SMS, voice or email; `delivery_failed` is true when the provider refused
    it. A successful [`MFA.verify`][mfakit.facade.Facade.verify] returns the grant as `step_up`.
    """

    status: Literal[StepUpStatus.CHALLENGE] = StepUpStatus.CHALLENGE
    challenge: Challenge
    delivery: SendResult | None = None
    delivery_failed: bool = False


StepUpStart = StepUpNotNeeded | StepUpChallenge
"""What [`MFA.begin_step_up`][mfakit.facade.Facade.begin_step_up] returns; `status` tells the two
apart (and narrows the type for a type checker)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceInfo:
    """A trusted device as listed to its user. `active` is false once it was
    revoked, expired, or outdated by a security change."""

    id: str
    label: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime
    active: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactChangeStart:
    """The outcome of [`MFA.begin_contact_change`][mfakit.facade.Facade.begin_contact_change].

    On success `challenge.methods` lists the channels verified *before* the
    change that may approve it (show them in a "choose how to verify" dialog),
    never the new destination. Otherwise `reason` is `DAILY_LIMIT` (with
    `retry_after`) or `NO_ELIGIBLE_METHOD`.
    """

    ok: bool
    challenge: Challenge | None = None
    reason: Reason | None = None
    retry_after: timedelta | None = None

    def __bool__(self) -> bool:
        return self.ok


@dataclass(frozen=True, slots=True, kw_only=True)
class FactorInfo:
    """One of the user's second factors as listed on a security page.

    `kind` is `"totp"`, `"passkey"`, `"phone"` or `"email"`; `methods` the
    sign-in methods it gives; `restricted` is true for a phone (SMS and voice
    are "restricted" under NIST SP 800-63B, S25). `destination` is masked.
    """

    id: str
    kind: str
    label: str
    methods: tuple[Method, ...]
    verified: bool
    restricted: bool
    created_at: datetime
    last_used_at: datetime | None = None
    destination: str | None = None
    preferred: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PasskeyInfo:
    """A passkey or security key as listed to its user (no key material).

    `backed_up` says a passkey manager syncs it (it survives a lost device);
    `passwordless` that it may sign in alone; `cloned` that its signature
    counter once went backwards (under `webauthn_clone_policy = "flag"`).
    """

    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    transports: tuple[str, ...]
    backup_eligible: bool
    backed_up: bool
    discoverable: str
    """`"yes"`, `"no"` or `"unknown"`."""
    passwordless: bool
    aaguid: str
    """The authenticator model's id (all zeros when attestation was not asked for)."""
    cloned: bool

    @classmethod
    def from_record(cls, record: WebAuthnCredentialRecord) -> PasskeyInfo:
        return cls(
            id=record.id,
            name=record.name,
            created_at=record.created_at,
            last_used_at=record.last_used_at,
            transports=record.transports,
            backup_eligible=record.backup_eligible,
            backed_up=record.backed_up,
            discoverable=record.discoverable.value,
            passwordless=record.passwordless,
            aaguid=record.aaguid,
            cloned=record.cloned,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PasskeyOptions:
    """A begun passkey ceremony: give `options_json` to the page and keep
    `ceremony_id` (in the session, or in the page) for the finish call."""

    ceremony_id: str
    options_json: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class PasskeyRegistration:
    """The outcome of finishing a passkey registration.

    On success `passkey` describes it and `backup_codes` holds the user's
    first backup codes when it was their first factor (show them once).
    """

    ok: bool
    reason: Reason | None = None
    passkey: PasskeyInfo | None = None
    backup_codes: BackupCodes | None = None

    def __bool__(self) -> bool:
        return self.ok


# --- key rotation ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRotation:
    """How far [MFA.rotate_keys][mfakit.MFA.rotate_keys] got: every authenticator secret it
    found under an older key, re-sealed under `key_id` (the keyring's
    primary) or counted as left alone.

    `resealed`: re-sealed by this run. `changed`: changed by someone else
    between reading and writing (deleted, replaced or re-sealed by another
    run): nothing was overwritten. `unreadable`: sealed under a key missing
    from the keyring, or altered; left as they are (see
    [MFA.key_usage][mfakit.MFA.key_usage]). `done` is False in the reports given to a
    `progress` callback between batches."""

    key_id: str
    resealed: int = 0
    changed: int = 0
    unreadable: int = 0
    done: bool = False

    @property
    def seen(self) -> int:
        return self.resealed + self.changed + self.unreadable


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyUsage:
    """Which keys the stored values still need ([MFA.key_usage][mfakit.MFA.key_usage]).

    `keys` has one [KeyUse][mfakit.KeyUse] per key id the store
    names and per key of the keyring (zeros for one nothing names), primary
    first, then the keyring's order, then ids the keyring lacks. `unused` are
    the older keys nothing names: they can leave the keyring. `unknown` are
    ids the store names but the keyring lacks: what they sealed or keyed cannot
    be read (a key dropped too early)."""

    primary: str
    keys: tuple[KeyUse, ...]
    unused: tuple[str, ...]
    unknown: tuple[str, ...]

    def of(self, key_id: str) -> KeyUse | None:
        """The usage of one key id, if the keyring or the store knows it."""
        return next((k for k in self.keys if k.key_id == key_id), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class PasskeySignIn:
    """The outcome of a passwordless sign-in with a passkey.

    On success `user_id` is who signed in (the password and the second step
    are both satisfied: the passkey verified its user) and `passkey` the
    credential used. Otherwise `reason` says why; nothing tells an unknown
    passkey from another user's.
    """

    ok: bool
    reason: Reason | None = None
    user_id: str | None = None
    passkey: PasskeyInfo | None = None

    def __bool__(self) -> bool:
        return self.ok
