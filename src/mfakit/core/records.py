"""What storage keeps: plain frozen records, one per row.

Secret material inside a record (an encrypted TOTP key, a backup code hash) is
hidden from `repr` so a record in a traceback or a log line leaks nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from typing_extensions import Self

from .challenge import Purpose, State
from .contacts import ContactKind
from .methods import Method
from .webauthn import CeremonyKind, CredentialUsage, Discoverable, UserVerification

__all__ = [
    "AuditRecord",
    "BackupCodeRecord",
    "CeremonyRecord",
    "ChallengeRecord",
    "ContactRecord",
    "Counter",
    "DeviceRecord",
    "KeyUse",
    "NoticeRecord",
    "QuestionRecord",
    "TotpRecord",
    "UserSnapshot",
    "UserState",
    "WebAuthnCredentialRecord",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class TotpRecord:
    """An authenticator app, pending until `confirmed_at` is set.

    `secret_blob` is the AES-GCM ciphertext of the key (nonce first), sealed
    under the keyring key `secret_key_id` with the user and factor ids as
    associated data (S28). `last_step` is the newest accepted time step (S4).
    """

    id: str
    user_id: str
    label: str
    secret_key_id: str
    secret_blob: bytes = field(repr=False)
    algorithm: str
    digits: int
    period: int
    created_at: datetime
    expires_at: datetime | None
    confirmed_at: datetime | None = None
    last_step: int | None = None
    last_used_at: datetime | None = None

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None

    def is_live(self, now: datetime) -> bool:
        """Confirmed, or pending and not yet expired."""
        return self.confirmed or (self.expires_at is not None and now < self.expires_at)

    def with_(self, **changes: object) -> Self:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, kw_only=True)
class BackupCodeRecord:
    """One backup code: found by `(user_id, lookup)`, checked against `hash`."""

    user_id: str
    lookup: str
    hash: str = field(repr=False)
    created_at: datetime
    used_at: datetime | None = None


@dataclass(slots=True, kw_only=True)
class Counter:
    """A named counter for limits (failures per account, sends per destination).

    Updated only by compare-and-set on `version` (0 means "not stored yet"),
    so concurrent attempts on any adapter are each counted exactly once.
    Treat it as immutable (build a new one to change it); it is not frozen only
    because it is built several times on every verification's hot path, where
    a frozen dataclass costs three times as much to create.
    """

    key: str
    count: int
    window_start: datetime
    updated_at: datetime
    version: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactRecord:
    """A user's phone number or email address; one of each kind per user.

    Codes go only to a verified destination (S18), except the possession proof
    that verifies it (L3).
    """

    user_id: str
    kind: ContactKind
    value: str
    created_at: datetime
    verified_at: datetime | None = None

    @property
    def verified(self) -> bool:
        return self.verified_at is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class QuestionRecord:
    """The user's security question and the argon2 hash of its answer (F6, S27)."""

    user_id: str
    question: str
    answer_hash: str = field(repr=False)
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ChallengeRecord:
    """One second-factor challenge; see `mfakit.core.challenge`.

    `code_hash` is the keyed hash of the current out-of-band code only (S9,
    S10), under keyring key `code_key_id`; a resend overwrites it.
    `target_kind`/`target_value` name the destination being enrolled or the
    new value of a contact change. Updated only by compare-and-set on
    `version`.
    """

    id: str
    user_id: str
    purpose: Purpose
    state: State
    methods: tuple[Method, ...]
    method: Method
    created_at: datetime
    expires_at: datetime
    attempts: int = 0
    alternatives_locked: bool = False
    code_hash: bytes | None = field(default=None, repr=False)
    code_key_id: str | None = None
    code_sent_at: datetime | None = None
    destination: str | None = field(default=None, repr=False)
    """Where the current code went (E.164 number or address)."""
    code_length: int = 0
    """Digits of the current code (the policy may change while a challenge is open)."""
    sends: int = 0
    target_kind: ContactKind | None = None
    target_value: str | None = field(default=None, repr=False)
    actor_id: str | None = None
    tenant: str | None = None
    """The tenant whose policy governs the challenge (L7)."""
    message_id: str | None = None
    """The provider's id for the current code: the message id its sender
    returned, or the reference a code provider gave (then `code_hash` is
    `None`: the provider checks the code)."""
    delivery: str | None = None
    """The last delivery state the provider reported for `message_id`
    (`pending`, `sent`, `delivered`, `failed`); `None` until one
    arrives."""
    delivery_error: str | None = None
    """The provider's error code with a `failed` delivery (Twilio's
    `"30006"`, SES's `"Permanent/General"`); at most 64 characters."""
    version: int = 0

    def with_(self, **changes: object) -> Self:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceRecord:
    """A trusted device (L2, S31): listed, labelled, revocable."""

    id: str
    user_id: str
    label: str
    created_at: datetime
    expires_at: datetime
    security_version: int
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NoticeRecord:
    """A security notice waiting in the outbox (S21): queued in the same unit
    of work as the change it tells of, deleted once delivered.

    It keeps what rendering the message needs and nothing more: the notice
    kind, the masked `detail` (never a code or secret), the locale, when the
    change happened, and the destination (an email address or phone number:
    personal data, hidden from `repr` and purged with retention).
    `attempts` counts delivery tries claimed so far; the notice is due again
    at `next_attempt_at`."""

    id: str
    user_id: str
    kind: str
    channel: ContactKind
    destination: str = field(repr=False)
    detail: str = ""
    locale: str | None = None
    created_at: datetime
    attempts: int = 0
    next_attempt_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class UserState:
    """Per-user 2FA state that is not a factor.

    `security_version` grows with every password, factor or contact change
    and with disabling 2FA; trusted-device tokens carry it and go stale when it
    moves (S30). `preferred_method` is the user's choice for sign-in;
    `locale` the language of the texts sent to them (codes and security
    notices) when a call names none (None: the default locale).
    """

    user_id: str
    security_version: int = 0
    preferred_method: Method | None = None
    locale: str | None = None
    updated_at: datetime | None = None
    webauthn_user_handle: bytes | None = field(default=None, repr=False)
    """The user's WebAuthn user handle: 64 random bytes made at their first
    passkey registration and never changed, so one authenticator keeps one
    passkey per user. Never the host's user id (an authenticator may show or
    sync it); it maps back to the user through this record."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    """One security-relevant event (L8). Never a code, secret, answer or full
    token: destinations are masked, device ids shortened."""

    id: str
    at: datetime
    action: str
    subject_id: str
    actor_id: str | None = None
    method: str | None = None
    outcome: str = "success"
    reason: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    tenant: str | None = None
    details: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class UserSnapshot:
    """Everything a verification decides on for one user, read in one query
    ([`load_user`][mfakit.ports.storage.Store.load_user]): authenticators (pending
    ones included), contacts, how many unused backup codes are left, the
    security question, the user's state, the counters asked for (by key;
    an absent key means the counter was never stored) and the user's WebAuthn
    credentials."""

    user_id: str
    totps: tuple[TotpRecord, ...] = ()
    contacts: tuple[ContactRecord, ...] = ()
    backup_codes_left: int = 0
    question: QuestionRecord | None = None
    state: UserState | None = None
    counters: Mapping[str, Counter] = field(default_factory=dict)
    webauthn: tuple[WebAuthnCredentialRecord, ...] = ()
    """The user's passkeys and security keys, oldest first."""

    def counter(self, prefix: str) -> Counter | None:
        """The user's counter `prefix + user_id`, if stored."""
        return self.counters.get(prefix + self.user_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class WebAuthnCredentialRecord:
    """A passkey or security key: a WebAuthn credential registered to one user.

    `credential_id` is the authenticator's id for it, unique across all users;
    `id` is mfakit's factor id (what lists, rename and remove use).
    `public_key` is the COSE key the signatures verify against (public, but
    hidden from `repr` as noise). `user_handle` repeats the user's handle so
    a passwordless assertion is checked against the credential alone.
    `sign_count` is the last counter accepted; `cloned` is set when a counter
    went backwards under `webauthn_clone_policy = "flag"`. `name` is unique
    per user. Updated only by compare-and-set on `version`.
    """

    id: str
    user_id: str
    credential_id: bytes = field(repr=False)
    public_key: bytes = field(repr=False)
    user_handle: bytes = field(repr=False)
    name: str
    sign_count: int
    transports: tuple[str, ...] = ()
    aaguid: str = "00000000-0000-0000-0000-000000000000"
    attestation_format: str = "none"
    backup_eligible: bool = False
    backed_up: bool = False
    discoverable: Discoverable = Discoverable.UNKNOWN
    usage: frozenset[CredentialUsage] = frozenset({CredentialUsage.SECOND_FACTOR})
    user_verified: bool = False
    """Whether the authenticator verified its user at registration."""
    created_at: datetime
    last_used_at: datetime | None = None
    cloned: bool = False
    version: int = 0

    @property
    def passwordless(self) -> bool:
        return CredentialUsage.PASSWORDLESS in self.usage

    def with_(self, **changes: object) -> Self:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, kw_only=True)
class CeremonyRecord:
    """A pending WebAuthn ceremony: what finishing it must check.

    `challenge` is the random challenge the browser signs (single use: the
    store takes a ceremony once, setting `used_at` or deleting it
    atomically). `user_id` is `None` for a passwordless sign-in, where the
    credential names its user. `allowed_credential_ids` are those offered to
    the browser (none for passwordless, or a user without listed credentials).
    For a registration, `name` and `usage` describe the credential to
    create and `user_handle` is the user's handle. `challenge_id` links an
    authentication to the second-factor challenge it answers, if any.
    """

    id: str
    kind: CeremonyKind
    user_id: str | None
    challenge: bytes = field(repr=False)
    rp_id: str
    created_at: datetime
    expires_at: datetime
    user_verification: UserVerification = UserVerification.PREFERRED
    allowed_credential_ids: tuple[bytes, ...] = field(default=(), repr=False)
    user_handle: bytes | None = field(default=None, repr=False)
    name: str | None = None
    usage: frozenset[CredentialUsage] = frozenset()
    conditional: bool = False
    """A passwordless sign-in offered through autofill (conditional UI): it lives longer."""
    challenge_id: str | None = None
    actor_id: str | None = None
    tenant: str | None = None
    used_at: datetime | None = None

    def with_(self, **changes: object) -> Self:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyUse:
    """How many stored values still need one keyring key (by id).

    `authenticators`: TOTP secrets sealed under it (a key rotation re-seals
    them). `security_answers`: answers keyed with it (re-keyed only when the
    user next answers right: the answer itself is never stored).
    `open_challenges`: unexpired challenges whose code hash it keys (gone
    within minutes)."""

    key_id: str
    authenticators: int = 0
    security_answers: int = 0
    open_challenges: int = 0

    @property
    def total(self) -> int:
        return self.authenticators + self.security_answers + self.open_challenges
