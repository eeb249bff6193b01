"""`Policy`: every number and switch that shapes mfakit's behaviour.

Defaults come from the reference products (the "seeds") and NIST SP 800-63B;
each field documents its source. A policy is a frozen value: build a new one with
`dataclasses.replace` or [`Policy.replace`][mfakit.Policy.replace]. Bounds are checked at
construction so a bad policy fails at start-up, not at the first sign-in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from typing_extensions import Self

from ..errors import InvalidInput
from .methods import Method
from .webauthn import Attestation, ClonePolicy, UserVerification

__all__ = ["HashAlgorithm", "Policy"]

HashAlgorithm = str
"""One of `"SHA1"`, `"SHA256"`, `"SHA512"`."""

_TOTP_ALGORITHMS = frozenset({"SHA1", "SHA256", "SHA512"})
_ALL_METHODS = frozenset(Method)


def _positive(name: str, value: timedelta, *, maximum: timedelta | None = None) -> None:
    if not isinstance(value, timedelta):
        raise InvalidInput(name, "must be a datetime.timedelta")
    if value <= timedelta(0):
        raise InvalidInput(name, "must be positive")
    if maximum is not None and value > maximum:
        raise InvalidInput(name, f"must be at most {maximum}")


def _int_range(name: str, value: int, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(name, "must be an int")
    if not low <= value <= high:
        raise InvalidInput(name, f"must be between {low} and {high}")


@dataclass(frozen=True, kw_only=True)
class Policy:
    """What mfakit enforces. Every field has a safe default.

    Example:

    ```python
    strict_staff = Policy(require_for_roles={"staff"}, trust_days=30)
    ```
    """

    # --- who must use 2FA, and how (L7) ---------------------------------
    require_for_roles: frozenset[str] = frozenset()
    """Roles that must have a second factor; enforced at their next sign-in (seed 002)."""
    allowed_methods: frozenset[Method] = _ALL_METHODS
    """Methods users may enrol and use. The `nist` preset removes SMS, voice and email (S25)."""
    allow_restricted_only: bool = True
    """Whether SMS/voice may be a user's only factor (S25). `False` refuses that."""

    # --- authenticator apps (F1, S1-S4) ----------------------------------
    totp_algorithm: HashAlgorithm = "SHA1"
    """Hash for new authenticators. SHA1 is what every app supports (RFC 6238)."""
    totp_digits: int = 6
    """Digits of new authenticators' codes: 6 or 8 (some apps ignore 8)."""
    totp_period: int = 30
    """Seconds per step for new authenticators; over 120 is refused (S3)."""
    totp_window: int = 1
    """Steps accepted either side of now to absorb clock drift (S3): 0 or 1."""
    max_authenticators: int = 5
    """Authenticators one user may have, pending setups included."""
    setup_ttl: timedelta = timedelta(minutes=10)
    """How long an unconfirmed authenticator setup stays valid."""

    # --- backup codes (F5, S26) -------------------------------------------
    backup_code_count: int = 10
    """Codes in a fresh set (seed 001)."""
    backup_codes_low_at: int = 2
    """Warn the user when this many or fewer codes are left."""

    # --- out-of-band codes (F2-F4, S7-S9, S12, S15) ----------------------
    code_length: int = 6
    """Digits of SMS, voice and email codes: 6 to 10 (seed 002 uses 8)."""
    code_ttl: timedelta = timedelta(minutes=10)
    """Lifetime of a sent code and of a challenge (S8)."""
    max_attempts: int = 5
    """Wrong codes per challenge before it locks (S12)."""
    resend_cooldown: timedelta = timedelta(seconds=30)
    """Minimum time between two sends on one challenge (S15)."""
    send_quota: int = 5
    """Sends per destination per `send_window` (S15)."""
    send_window: timedelta = timedelta(minutes=10)
    """The window of `send_quota`. Codes to a *verified* destination are counted
    per user and destination, so no other account can use up a user's quota;
    codes to a destination being enrolled are counted apart (S33)."""
    unverified_sends_per_user: int = 10
    """Codes one user may have sent to destinations being enrolled (not yet
    verified) per day, whatever the number of distinct destinations (S33)."""
    unverified_sends_per_tenant: int | None = None
    """Codes to destinations being enrolled per tenant per day; `None`: no budget."""
    unverified_sends_global: int | None = None
    """Codes to destinations being enrolled, application-wide, per day; `None`:
    no budget. Read from the policy in force for the call."""

    # --- per-account failures (S13, S14) ---------------------------------
    free_failures: int = 5
    """Consecutive failures per account before delays start."""
    backoff_base: timedelta = timedelta(seconds=30)
    """First delay after `free_failures`; it doubles with each further failure."""
    backoff_ceiling: timedelta = timedelta(hours=1)
    """The delay never exceeds this (S13)."""
    lockout_after: int = 50
    """Consecutive failures after which the second step locks until an admin
    unlocks it or the user recovers with a backup code; at most 100 (S13).
    Counts failures of the cheap factors (authenticator, SMS, voice, email codes
    and security answers), never of backup codes (S34)."""
    backup_code_free_failures: int = 10
    """Consecutive wrong backup codes before delays start. Backup codes have
    their own failure counter, so failures of the other factors never block
    them (S34); the delays double from `backoff_base` up to `backoff_ceiling`."""
    backup_code_lockout_after: int = 100
    """Consecutive wrong backup codes after which backup codes lock until an
    admin unlocks them; at most 100 (S13, S34). A backup code carries 50 secret bits,
    so this guards against denial of service more than guessing."""

    # --- step-up (S32) -----------------------------------------------------
    step_up_seconds: int = 300
    """How long a step-up grant (a second factor proven through
    [`MFA.begin_step_up`][mfakit.facade.Facade.begin_step_up] or at sign-in) lets its actor remove
    or bind factors of that user: 30 to 3600 seconds."""

    # --- re-authentication (S20) ------------------------------------------
    reauth_max_age: timedelta = timedelta(minutes=5)
    """How recent a password re-entry must be for sensitive changes; at most 20 min."""

    # --- trust, contact changes, security question (L2, L4, F6) ----------
    trust_days: int = 14
    """Lifetime of a trusted-device token (seed 000); 1 to 365 (seed 002)."""
    contact_changes_per_day: int = 5
    """Phone/email change attempts per user per day (seed 001, S16)."""
    revoke_devices_on_contact_change: bool = True
    """Whether a phone or email change revokes the user's trusted devices."""
    question_guards_alternatives: bool = False
    """Whether "try another way" needs the security question first (seed 000)."""
    answer_case_sensitive: bool = True
    """Security answers are case-sensitive by default (seed 000)."""
    answer_trim: bool = False
    """Whether to strip surrounding whitespace from security answers."""
    security_questions: tuple[str, ...] = (
        "What was the name of your first pet?",
        "In which city were you born?",
        "What was the name of your first school?",
    )
    """Questions a user may pick from (seed 000: three by default)."""

    # --- retention -----------------------------------------------------------
    audit_retention_days: int | None = None
    """Days the audit trail kept in the store is kept: older events go at the
    next [MFA.purge_expired][mfakit.MFA.purge_expired] (or `mfakit purge`); 1 to 36500.
    `None` (the default): kept forever."""

    # --- passkeys and security keys (WebAuthn) ------------------------------
    webauthn_user_verification: str = "preferred"
    """`"preferred"` or `"required"`: whether a second-factor passkey must verify
    its user (PIN, biometric). A passwordless sign-in always requires it."""
    webauthn_attestation: str = "none"
    """`"none"` (default: no make-and-model statement, nothing to trust) or
    `"direct"` (the statement is verified and its format kept)."""
    passkey_passwordless: bool = False
    """Whether passkeys may sign users in without a password (discoverable
    credentials, autofill). Off: passkeys are second factors only."""
    webauthn_clone_policy: str = "reject"
    """A signature counter that went backwards: `"reject"` the sign-in, or
    `"flag"` it (accept, mark the credential, audit and notify). Counters that
    stay at 0 (synced passkeys) are fine either way."""
    webauthn_ceremony_ttl: timedelta = timedelta(seconds=120)
    """Lifetime of a registration or sign-in ceremony; at most 10 minutes."""
    webauthn_conditional_ttl: timedelta = timedelta(minutes=5)
    """Lifetime of a passwordless sign-in offered through autofill, which waits
    while the user reads the page; at most 1 hour."""
    max_passkeys: int = 10
    """Passkeys and security keys one user may register; 1 to 50."""

    def __post_init__(self) -> None:
        roles = self.require_for_roles
        if isinstance(roles, str) or not isinstance(roles, Iterable):
            raise InvalidInput("require_for_roles", "must be a set of role names")
        roles = frozenset(roles)
        if not all(isinstance(r, str) and 0 < len(r) <= 64 for r in roles):
            raise InvalidInput("require_for_roles", "role names must be 1-64 character strings")
        object.__setattr__(self, "require_for_roles", roles)

        methods = self.allowed_methods
        if isinstance(methods, str) or not isinstance(methods, Iterable):
            raise InvalidInput("allowed_methods", "must be a set of Method values")
        try:
            methods = frozenset(Method(m) for m in methods)
        except ValueError:
            raise InvalidInput("allowed_methods", "contains an unknown method") from None
        if not methods:
            raise InvalidInput("allowed_methods", "must allow at least one method")
        object.__setattr__(self, "allowed_methods", methods)

        if not isinstance(self.totp_algorithm, str) or self.totp_algorithm not in _TOTP_ALGORITHMS:
            raise InvalidInput("totp_algorithm", "must be SHA1, SHA256 or SHA512")
        if type(self.totp_digits) is not int or self.totp_digits not in (6, 8):
            raise InvalidInput("totp_digits", "must be 6 or 8")
        _int_range("totp_period", self.totp_period, 15, 120)
        _int_range("totp_window", self.totp_window, 0, 1)
        _int_range("max_authenticators", self.max_authenticators, 1, 20)
        _positive("setup_ttl", self.setup_ttl, maximum=timedelta(hours=1))
        _int_range("backup_code_count", self.backup_code_count, 1, 20)
        _int_range("backup_codes_low_at", self.backup_codes_low_at, 0, self.backup_code_count)
        _int_range("code_length", self.code_length, 6, 10)
        _positive("code_ttl", self.code_ttl, maximum=timedelta(hours=1))
        _int_range("max_attempts", self.max_attempts, 1, 10)
        _positive("resend_cooldown", self.resend_cooldown, maximum=timedelta(minutes=10))
        _int_range("send_quota", self.send_quota, 1, 100)
        _positive("send_window", self.send_window, maximum=timedelta(days=1))
        _int_range("lockout_after", self.lockout_after, 1, 100)
        _int_range("free_failures", self.free_failures, 1, self.lockout_after)
        _int_range("backup_code_lockout_after", self.backup_code_lockout_after, 1, 100)
        _int_range(
            "backup_code_free_failures",
            self.backup_code_free_failures,
            1,
            self.backup_code_lockout_after,
        )
        _int_range("step_up_seconds", self.step_up_seconds, 30, 3600)
        _int_range("unverified_sends_per_user", self.unverified_sends_per_user, 1, 1000)
        for budget in ("unverified_sends_per_tenant", "unverified_sends_global"):
            if getattr(self, budget) is not None:
                _int_range(budget, getattr(self, budget), 1, 10_000_000)
        _positive("backoff_base", self.backoff_base, maximum=timedelta(hours=1))
        _positive("backoff_ceiling", self.backoff_ceiling, maximum=timedelta(hours=1))
        if self.backoff_ceiling < self.backoff_base:
            raise InvalidInput("backoff_ceiling", "must not be below backoff_base")
        _positive("reauth_max_age", self.reauth_max_age, maximum=timedelta(minutes=20))
        _int_range("trust_days", self.trust_days, 1, 365)
        if self.audit_retention_days is not None:
            _int_range("audit_retention_days", self.audit_retention_days, 1, 36_500)
        _int_range("contact_changes_per_day", self.contact_changes_per_day, 1, 100)
        questions = self.security_questions
        if isinstance(questions, str) or not isinstance(questions, Iterable):
            raise InvalidInput("security_questions", "must be a sequence of questions")
        questions = tuple(questions)
        if not 1 <= len(questions) <= 20 or not all(
            isinstance(q, str) and 0 < len(q.strip()) <= 200 for q in questions
        ):
            raise InvalidInput("security_questions", "must hold 1 to 20 questions of 1-200 chars")
        if len(set(questions)) != len(questions):
            raise InvalidInput("security_questions", "must not repeat a question")
        object.__setattr__(self, "security_questions", questions)
        for name, kind in (
            ("webauthn_user_verification", UserVerification),
            ("webauthn_attestation", Attestation),
            ("webauthn_clone_policy", ClonePolicy),
        ):
            value = getattr(self, name)
            choices = ", ".join(repr(member.value) for member in kind)
            try:
                member = kind(value) if isinstance(value, str) else None
            except ValueError:
                member = None
            if member is None:
                raise InvalidInput(name, f"must be one of {choices}")
            object.__setattr__(self, name, member.value)
        _positive(
            "webauthn_ceremony_ttl", self.webauthn_ceremony_ttl, maximum=timedelta(minutes=10)
        )
        _positive(
            "webauthn_conditional_ttl", self.webauthn_conditional_ttl, maximum=timedelta(hours=1)
        )
        _int_range("max_passkeys", self.max_passkeys, 1, 50)
        for flag in (
            "revoke_devices_on_contact_change",
            "allow_restricted_only",
            "question_guards_alternatives",
            "answer_case_sensitive",
            "answer_trim",
            "passkey_passwordless",
        ):
            if not isinstance(getattr(self, flag), bool):
                raise InvalidInput(flag, "must be a bool")

    @property
    def step_up_max_age(self) -> timedelta:
        """`step_up_seconds` as a `timedelta`."""
        return timedelta(seconds=self.step_up_seconds)

    def replace(self, **changes: Any) -> Self:
        """A copy with `changes` applied and validated."""
        return dataclasses.replace(self, **changes)

    def requires_2fa(self, role: str | None) -> bool:
        """Whether a user with `role` must have a second factor."""
        return role is not None and role in self.require_for_roles

    @classmethod
    def default(cls) -> Self:
        """The seed-compatible default: every method allowed, 2FA optional."""
        return cls()

    @classmethod
    def nist(cls, *, require_for_roles: Iterable[str] = ()) -> Self:
        """A strict preset after NIST SP 800-63B AAL2.

        Only non-restricted methods (authenticator apps and backup codes) count
        as second factors; SMS, voice and email are off (S25). Trusted devices
        last a week. Consecutive failures lock the second step at 100, the
        ceiling 800-63B 5.2.2 sets (the delays before it are the default ones).
        """
        return cls(
            require_for_roles=frozenset(require_for_roles),
            allowed_methods=frozenset({Method.TOTP, Method.BACKUP_CODE}),
            allow_restricted_only=False,
            totp_window=1,
            trust_days=7,
            max_attempts=5,
            lockout_after=100,
            question_guards_alternatives=False,
        )
