"""A user's factors: what they have, and consuming a code of each kind.

Shared by the direct verifications (`verify_totp`, `verify_backup_code`)
and by challenges, so a TOTP step or a backup code is consumed the same way,
atomically at the store, whichever path submits it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from ..core import backup_codes as bc
from ..core import otp
from ..core.contacts import ContactKind
from ..core.keys import KEYED_ANSWER_PREFIX, Keyring, Sealed
from ..core.methods import RESTRICTED_METHODS, Method
from ..core.records import (
    ContactRecord,
    QuestionRecord,
    TotpRecord,
    UserSnapshot,
    WebAuthnCredentialRecord,
)
from ..core.results import ExpectedCode, Reason, VerifyResult
from ..core.writes import ReplaceAnswerHash, ReplaceBackupCodes, Write
from ..errors import ConfigurationError, NotPermitted
from ..hashers import Hasher
from ..ports.storage import Store
from .context import Context
from .effects import UseCase, call, offload

__all__ = [
    "Factors",
    "TotpMatch",
    "TotpOutcome",
    "begun_before_first_factor",
    "consume_backup_code",
    "consume_totp",
    "factors_of",
    "has_second_factor",
    "hash_answer",
    "load_factors",
    "malformed",
    "match_totp",
    "orphan_codes_dropped",
    "totp_key",
]

TOTP_PURPOSE = "totp-secret"
_NO_KEY = bytes(otp.SECRET_BYTES)
METHOD_ORDER = (
    Method.WEBAUTHN,  # phishing-resistant: offered first
    Method.TOTP,
    Method.SMS,
    Method.VOICE,
    Method.EMAIL,
    Method.BACKUP_CODE,
)
CHANNEL_KIND = {
    Method.SMS: ContactKind.PHONE,
    Method.VOICE: ContactKind.PHONE,
    Method.EMAIL: ContactKind.EMAIL,
}
TOTP_DIGITS = (6, 8)
"""The lengths an authenticator app's code may have."""


def malformed(
    method: Method, lengths: tuple[int, ...], *, attempts_left: int | None = None
) -> VerifyResult:
    """The answer to a typo (`Reason.MALFORMED_CODE`): nothing counted,
    nothing changed. It says what the field takes, which depends on the method
    only, never on the right code or on the user's factors (S24)."""
    return VerifyResult(
        ok=False,
        reason=Reason.MALFORMED_CODE,
        expected=ExpectedCode(method=method, lengths=lengths),
        attempts_left=attempts_left,
    )


def totp_aad(user_id: str, factor_id: str) -> bytes:
    return f"{user_id}\x00{factor_id}".encode()


def totp_key(ctx: Context, rec: TotpRecord) -> bytes:
    """Decrypt an authenticator's key (S28)."""
    return ctx.keyring.open(
        TOTP_PURPOSE, Sealed(rec.secret_key_id, rec.secret_blob), aad=totp_aad(rec.user_id, rec.id)
    )


@dataclass(frozen=True, slots=True)
class Factors:
    """Everything that decides which methods a user can use right now."""

    totps: tuple[TotpRecord, ...]
    contacts: tuple[ContactRecord, ...]
    backup_codes_left: int
    question: QuestionRecord | None
    locale: str | None = None
    """The user's stored locale (`MFA.set_locale`), for texts sent without one."""
    webauthn: tuple[WebAuthnCredentialRecord, ...] = ()

    def verified_contact(self, kind: ContactKind) -> ContactRecord | None:
        for contact in self.contacts:
            if contact.kind is kind and contact.verified:
                return contact
        return None

    @property
    def has_second_factor(self) -> bool:
        """A confirmed authenticator, a passkey, or a verified phone or email."""
        return (
            any(t.confirmed for t in self.totps)
            or any(c.verified for c in self.contacts)
            or bool(self.webauthn)
        )

    @property
    def enrolled(self) -> bool:
        """Whether the user turned 2FA on, whether or not a factor is usable now:
        a factor, or backup codes kept while a changed phone or email awaits its
        possession proof."""
        return (
            any(t.confirmed for t in self.totps)
            or any(c.verified for c in self.contacts)
            or bool(self.webauthn)
            or self.backup_codes_left > 0
        )

    def methods(self, ctx: Context) -> tuple[Method, ...]:
        """Usable methods, in preference order: enrolled, verified, allowed by the
        policy and deliverable by a configured sender."""
        allowed = ctx.policy.allowed_methods
        usable: set[Method] = set()
        if any(t.confirmed for t in self.totps):
            usable.add(Method.TOTP)
        if self.webauthn and ctx.relying_party is not None:
            usable.add(Method.WEBAUTHN)
        for method, kind in CHANNEL_KIND.items():
            if method in ctx.channels and self.verified_contact(kind) is not None:
                usable.add(method)
        if usable and self.backup_codes_left > 0:
            usable.add(Method.BACKUP_CODE)
        return tuple(m for m in METHOD_ORDER if m in usable and m in allowed)

    def only_restricted(self, ctx: Context) -> bool:
        """True when every factor method the user has is SMS or voice (S25)."""
        factors = [m for m in self.methods(ctx) if m is not Method.BACKUP_CODE]
        return bool(factors) and all(m in RESTRICTED_METHODS for m in factors)


def factors_of(snapshot: UserSnapshot) -> Factors:
    """The factors in a user's snapshot."""
    locale = snapshot.state.locale if snapshot.state is not None else None
    return Factors(
        snapshot.totps,
        snapshot.contacts,
        snapshot.backup_codes_left,
        snapshot.question,
        locale=locale,
        webauthn=snapshot.webauthn,
    )


def begun_before_first_factor(factors: Factors, begun_at: datetime) -> bool:
    """Whether an enrolment begun at `begun_at` started while the user had no
    factor (so without a step-up) and the user has one now. Completing it would
    bind a factor without the step-up the user now needs (S32)."""
    active = [t.confirmed_at for t in factors.totps if t.confirmed_at is not None]
    active += [c.verified_at for c in factors.contacts if c.verified_at is not None]
    active += [w.created_at for w in factors.webauthn]
    return bool(active) and all(at > begun_at for at in active)


def load_factors(user_id: str) -> UseCase[Factors]:
    """The user's factors, in one read."""
    snapshot = yield from call("store", Store.load_user, user_id)
    return factors_of(snapshot)


def has_second_factor(user_id: str) -> UseCase[bool]:
    """Whether the user has a confirmed authenticator or a verified phone or email."""
    factors = yield from load_factors(user_id)
    return factors.has_second_factor


def orphan_codes_dropped(
    user_id: str,
    factors: Factors,
    *,
    contact: ContactKind | None = None,
    totp_id: str | None = None,
    passkey_id: str | None = None,
) -> list[Write]:
    """Backup codes back up a factor: the write dropping them when removing
    `contact`, the authenticator `totp_id` or the passkey `passkey_id`
    leaves the user no factor (to join the removal's unit of work); none
    otherwise."""
    kept = (
        any(t.confirmed and t.id != totp_id for t in factors.totps)
        or any(c.verified and c.kind is not contact for c in factors.contacts)
        or any(w.id != passkey_id for w in factors.webauthn)
    )
    return [] if kept else [ReplaceBackupCodes(user_id, [])]


def require_factor_kept(policy_requires: bool, others: Sequence[Method], what: str) -> None:
    """Refuse removing a user's last factor while their role requires 2FA (L5)."""
    if policy_requires and not others:
        raise NotPermitted(f"the policy requires two-step verification for this role: {what}")


@dataclass(frozen=True, slots=True)
class TotpOutcome:
    factor_id: str | None
    replay: bool


class TotpMatch(NamedTuple):
    """Which authenticator shows a code now, and at which step (pure: nothing
    is recorded). `replay` when the code was right for a step already used.

    (A named tuple: one is built on every verification.)"""

    factor_id: str | None
    step: int | None
    replay: bool


_NOT_SHOWN = TotpMatch(None, None, False)
_SHOWN_BEFORE = TotpMatch(None, None, True)


def match_totp(ctx: Context, totps: Sequence[TotpRecord], code: str, now: datetime) -> TotpMatch:
    """Find the confirmed authenticator that shows `code` at `now`, among
    `totps` as read; the caller records the step by compare-and-set."""
    timestamp = now.timestamp()
    digits = len(code)
    window = ctx.policy.totp_window
    checked = replay = False
    unreadable: ConfigurationError | None = None
    for rec in totps:
        if rec.confirmed_at is None or rec.digits != digits:
            continue
        checked = True
        try:
            key = totp_key(ctx, rec)
        except ConfigurationError as exc:
            # One authenticator sealed under a retired key must not lock the
            # user out of the others; it is reported if nothing else matched.
            unreadable = exc
            continue
        match = otp.match_totp(
            key,
            code,
            timestamp=timestamp,
            last_step=rec.last_step,
            period=rec.period,
            digits=digits,
            algorithm=rec.algorithm,
            window=window,
        )
        if match.step is not None:
            return TotpMatch(rec.id, match.step, False)
        replay = replay or match.replay
    if not checked:
        # Spend the same work as a real check: no timing hint that the user
        # has no authenticator (S24).
        otp.match_totp(_NO_KEY, code, timestamp=timestamp, last_step=None, digits=digits)
    if unreadable is not None:
        raise unreadable
    return _SHOWN_BEFORE if replay else _NOT_SHOWN


def consume_totp(ctx: Context, user_id: str, code: str, now: datetime) -> UseCase[TotpOutcome]:
    """Find the authenticator that shows `code` now and record its step.

    Compare-and-set on the step makes a code usable once, and never one of a
    step not newer than the last accepted (S4), across processes.
    """
    records = yield from call("store", Store.list_totp, user_id)
    match = match_totp(ctx, records, code, now)
    if match.factor_id is None or match.step is None:
        return TotpOutcome(None, match.replay)
    advanced = yield from call(
        "store", Store.advance_totp, user_id, match.factor_id, step=match.step, now=now
    )
    if advanced:
        return TotpOutcome(match.factor_id, False)
    return TotpOutcome(None, True)  # another request accepted this step first


def _check_hash(hasher: Hasher, hashed: str | None, code: str) -> bool:
    # With no record, verify against a dummy hash: a miss costs one hash too (S24).
    ok = hasher.verify(hasher.dummy_hash if hashed is None else hashed, code)
    return ok and hashed is not None


def consume_backup_code(ctx: Context, user_id: str, canonical: str, now: datetime) -> UseCase[bool]:
    """Check a normalised backup code with one hash and mark it used, once."""
    lookup = canonical[: bc.LOOKUP_LENGTH]
    record = yield from call("store", Store.get_backup_code, user_id, lookup)
    matched = yield from offload(
        _check_hash, ctx.hasher, record.hash if record else None, canonical
    )
    if not matched:
        return False
    used: bool = yield from call("store", Store.use_backup_code, user_id, lookup, now=now)
    return used  # False: a concurrent request used it first


# --- security answers (S27) -----------------------------------------------------
#
# A security answer has little entropy ("Fluffy"), so a slow hash alone falls to
# a dictionary in a few dozen guesses once the table leaks. The answer is first
# keyed, HMAC-SHA256 under a keyring subkey, and the slow hash is taken of that:
# a dump without the application secret tests nothing. The stored form names the
# scheme and the key: ``$mfk-hmac1$<key id>$<slow hash>``. A hash without the
# prefix is a 0.1.0 (unkeyed) one: it still verifies, and the next right answer
# re-hashes it under the current scheme and primary key.

ANSWER_PURPOSE = "security-answer"


def _keyed(keyring: Keyring, answer: str, key_id: str | None = None) -> str:
    return keyring.mac(ANSWER_PURPOSE, answer.encode("utf-8"), key_id).hex()


def hash_answer(keyring: Keyring, hasher: Hasher, answer: str) -> str:
    """The stored form of a normalised answer: keyed, then slow-hashed (CPU-heavy)."""
    key_id = keyring.primary_id
    return f"{KEYED_ANSWER_PREFIX}{key_id}${hasher.hash(_keyed(keyring, answer, key_id))}"


def _verify_answer(
    keyring: Keyring, hasher: Hasher, stored: str | None, answer: str
) -> tuple[bool, bool]:
    """`(matched, needs_rehash)` for `answer` against a stored hash (or a
    dummy one, so a missing question costs the same time, S24)."""
    if stored is not None and not stored.startswith(KEYED_ANSWER_PREFIX):
        matched = _check_hash(hasher, stored, answer)  # a 0.1.0 unkeyed hash
        return matched, matched
    key_id, inner = None, None
    if stored is not None:
        key_id, _, inner = stored[len(KEYED_ANSWER_PREFIX) :].partition("$")
    matched = _check_hash(hasher, inner, _keyed(keyring, answer, key_id))
    stale = key_id != keyring.primary_id or (inner is not None and hasher.needs_rehash(inner))
    return matched, matched and stale


def check_answer(ctx: Context, question: QuestionRecord | None, answer: str) -> UseCase[bool]:
    """Verify a security answer (already normalised) with one hash, dummy if unset.

    A right answer to a hash of an older scheme, key or cost is re-hashed."""
    stored = question.answer_hash if question else None
    matched, stale = yield from offload(_verify_answer, ctx.keyring, ctx.hasher, stored, answer)
    if stale and question is not None and stored is not None:
        fresh = yield from offload(hash_answer, ctx.keyring, ctx.hasher, answer)
        # A compare-and-set on the hash verified: a question set meanwhile wins
        # (the store then applies nothing, and the new answer stays).
        upgrade = ReplaceAnswerHash(question.user_id, stored, fresh)
        yield from call("store", Store.apply, [upgrade])
    return bool(matched)
