"""Challenge use cases: sending codes, verifying, switching method, "try
another way" and the security question (L1, F2-F4, F6, S7-S18, S24, S25).

Every change to a challenge goes through `_advance`, which asks the
transition table for the next state and writes it by compare-and-set, retrying
on a fresh copy when another request got there first. So a code is accepted
once, the last allowed attempt is counted once and the machine never takes an
illegal step, whatever the concurrency.
"""

from __future__ import annotations

import hmac
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ..core import backup_codes as bc
from ..core import limits, otp
from ..core.audit import Action, Outcome
from ..core.challenge import END_STATES, TRANSITIONS, Event, Purpose, State, next_state
from ..core.contacts import ContactKind, mask
from ..core.messages import check_locale
from ..core.methods import Method, parse_method
from ..core.records import (
    AuditRecord,
    BackupCodeRecord,
    ChallengeRecord,
    ContactRecord,
    NoticeRecord,
    UserSnapshot,
)
from ..core.results import (
    AnswerResult,
    BackupCodes,
    Challenge,
    ExpectedCode,
    Reason,
    SendResult,
    VerifyResult,
)
from ..core.validation import check_encodable, check_id, check_text
from ..core.writes import (
    AdvanceTotp,
    InsertDevice,
    PutContact,
    PutCounter,
    ReplaceBackupCodes,
    RequireNoFactor,
    UpdateChallenge,
    UpdateCredential,
    Write,
)
from ..errors import (
    ConflictingState,
    DeliveryError,
    DestinationOptedOut,
    InvalidInput,
    NotFound,
    StorageError,
)
from ..ports.storage import Store
from . import delivery
from .backup_codes import backup_code_used, new_backup_codes
from .contact_change import (
    contact_change_notices,
    contact_changed_event,
    contact_for_change,
    contact_info,
    is_no_op,
)
from .context import Context
from .devices import devices_revoked, new_device, security_writes
from .effects import UseCase, call
from .factors import (
    CHANNEL_KIND,
    TOTP_DIGITS,
    Factors,
    begun_before_first_factor,
    check_answer,
    consume_backup_code,
    factors_of,
    load_factors,
    malformed,
    match_totp,
)
from .limits import (
    FAILURES,
    backup_code_succeeded,
    cleared_on_success,
    count_in_window,
    failure_key,
    give_back,
    lockout_recovered,
    refused,
    release_attempt,
    reserve_attempt,
)
from .notices import deliver, notice, notice_target, queue
from .passkeys import (
    after_passkey_success,
    issue_challenge_ceremony,
    looks_like_credential,
    verify_challenge_passkey,
    with_options,
)
from .scope import audit, event, notify, scoped
from .step_up import issue_grant
from .work import RACES as _UOW_RACES
from .work import backoff, commit, contended

__all__ = [
    "answer_question",
    "cancel",
    "create_challenge",
    "get_challenge",
    "normalize_answer",
    "read_answer",
    "send_code",
    "switch_method",
    "try_another_way",
    "verify",
]

OUT_OF_BAND = frozenset(CHANNEL_KIND)
MAX_LIFETIME = timedelta(hours=1)
"""Resends extend a challenge, but never beyond this from its creation."""
CODE_PURPOSE = "oob-code"
MAX_ANSWER_LENGTH = 128
_RACES = 50
_DAY = timedelta(days=1)


# --- small pure helpers ------------------------------------------------------


def _code_hash(ctx: Context, rec: ChallengeRecord, code: str, key_id: str | None) -> bytes:
    # Bound to the challenge and its purpose (S9); keyed so a dump is useless (S10).
    message = f"{rec.id}\x00{rec.purpose.value}\x00{code}".encode()
    return ctx.keyring.mac(CODE_PURPOSE, message, key_id)


def _new_code(ctx: Context) -> str:
    n = ctx.policy.code_length
    # 64 random bits reduced mod 10**n: bias below 2**-30 for n <= 10.
    return str(int.from_bytes(ctx.random_bytes(8), "big") % 10**n).zfill(n)


def _attempts_left(ctx: Context, rec: ChallengeRecord) -> int:
    return max(ctx.policy.max_attempts - rec.attempts, 0)


def view(ctx: Context, rec: ChallengeRecord, question: str | None = None) -> Challenge:
    """The public, secret-free picture of a challenge."""
    kind = CHANNEL_KIND.get(rec.method)
    destination = None
    if kind is not None and rec.destination is not None:
        destination = mask(kind, rec.destination)
    resend_at = None
    if rec.code_sent_at is not None and rec.state not in END_STATES:
        resend_at = rec.code_sent_at + ctx.policy.resend_cooldown
    return Challenge(
        id=rec.id,
        user_id=rec.user_id,
        purpose=rec.purpose,
        state=rec.state,
        methods=rec.methods,
        method=rec.method,
        expires_at=rec.expires_at,
        attempts_left=_attempts_left(ctx, rec),
        destination=destination,
        code_sent_at=rec.code_sent_at,
        resend_at=resend_at,
        alternatives_locked=rec.alternatives_locked,
        question=question if rec.state is State.AWAITING_ANSWER else None,
        delivery=rec.delivery,
        delivery_error=rec.delivery_error,
    )


def _prepare_answer(ctx: Context, answer: object, field: str) -> str:
    """The answer under the policy's rules (S27): NFC always; trimmed and
    case-folded if set. Only what nobody types raises (a non-str, kilobytes,
    a lone surrogate)."""
    if not isinstance(answer, str):
        raise InvalidInput(field, "must be a str")
    if len(answer) > MAX_ANSWER_LENGTH * 4:
        raise InvalidInput(field, "is far too long")
    text = unicodedata.normalize("NFC", check_encodable(field, answer))
    if ctx.policy.answer_trim:
        text = text.strip()
    if not ctx.policy.answer_case_sensitive:
        text = text.casefold()
    return text


def _answer_problem(text: str) -> str | None:
    if not text.strip() or len(text) > MAX_ANSWER_LENGTH:
        return f"must be 1 to {MAX_ANSWER_LENGTH} characters, not only spaces"
    if any(unicodedata.category(c) == "Cc" for c in text):
        return "must not contain control characters"
    return None


def normalize_answer(ctx: Context, answer: object, *, field: str = "answer") -> str:
    """Apply the policy's answer rules (S27) to an answer being set: anything
    that could not be answered later raises InvalidInput."""
    text = _prepare_answer(ctx, answer, field)
    problem = _answer_problem(text)
    if problem is not None:
        raise InvalidInput(field, problem)
    return text


def read_answer(ctx: Context, answer: object, *, field: str = "answer") -> str | None:
    """An answer as typed to the question, normalised like `normalize_answer`;
    `None` when it cannot be any set answer (blank, too long, control
    characters): a typo, answered with `Reason.MALFORMED_CODE`."""
    text = _prepare_answer(ctx, answer, field)
    return text if _answer_problem(text) is None else None


# --- loading and compare-and-set -----------------------------------------------


def _load(challenge_id: object) -> UseCase[ChallengeRecord]:
    check_id("challenge_id", challenge_id)
    assert isinstance(challenge_id, str)
    rec = yield from call("store", Store.get_challenge, challenge_id)
    if rec is None:
        raise NotFound("no such challenge")
    return rec


def _advance(
    ctx: Context,
    rec: ChallengeRecord,
    event: Event,
    now: datetime,
    change: Callable[[ChallengeRecord], ChallengeRecord] = lambda r: r,
    *,
    contact: ContactRecord | None = None,
    backup_codes: Sequence[BackupCodeRecord] | None = None,
) -> UseCase[ChallengeRecord | None]:
    """Apply `event` (and `change`) to `rec` by compare-and-set.

    Returns the stored record, or `None` when another request changed the
    challenge first; the caller then reloads and decides again.
    """
    target = next_state(rec.state, event)
    updated = change(rec).with_(state=target)
    ok = yield from call(
        "store", Store.update_challenge, updated, contact=contact, backup_codes=backup_codes
    )
    return updated.with_(version=updated.version + 1) if ok else None


def _rescope(ctx: Context, rec: ChallengeRecord) -> UseCase[Context]:
    """The challenge's tenant decides the policy of every later call on it."""
    if rec.tenant == ctx.tenant:
        return ctx
    scoped_ctx: Context = yield from scoped(ctx, tenant=rec.tenant, context=ctx.request)
    return scoped_ctx


def _refresh(ctx: Context, rec: ChallengeRecord, now: datetime) -> UseCase[ChallengeRecord]:
    """Move a live challenge past its expiry to EXPIRED (an outcome, not an error)."""
    for _ in range(_RACES):
        if rec.state in END_STATES or now < rec.expires_at:
            return rec
        stored = yield from _advance(ctx, rec, Event.EXPIRE, now)
        if stored is not None:
            return stored
        rec = yield from _load(rec.id)
    raise StorageError("the challenge is too contended; try again")


def _require_open(rec: ChallengeRecord) -> None:
    """Succeeded and cancelled challenges take no more calls: that is misuse."""
    if rec.state in (State.SUCCEEDED, State.CANCELLED):
        raise ConflictingState(f"the challenge is {rec.state}; start a new one")


# --- creating and sending ----------------------------------------------------


def create_challenge(
    ctx: Context,
    *,
    user_id: str,
    purpose: Purpose,
    methods: tuple[Method, ...],
    method: Method,
    now: datetime,
    alternatives_locked: bool = False,
    target_kind: ContactKind | None = None,
    target_value: str | None = None,
    actor_id: str | None = None,
) -> UseCase[ChallengeRecord]:
    rec = ChallengeRecord(
        id=ctx.new_id(),
        user_id=user_id,
        purpose=purpose,
        state=State.AWAITING_CODE,
        methods=methods,
        method=method,
        created_at=now,
        expires_at=now + ctx.policy.code_ttl,
        alternatives_locked=alternatives_locked,
        target_kind=target_kind,
        target_value=target_value,
        actor_id=actor_id,
        tenant=ctx.tenant,
    )
    yield from call("store", Store.insert_challenge, rec)
    return rec


def _destination(rec: ChallengeRecord, method: Method, factors: Factors) -> str:
    """Where a code for `method` may go: a verified destination (S18), or for
    an enrolment the destination being proven (L3), never anything else."""
    kind = CHANNEL_KIND[method]
    if rec.purpose is Purpose.ENROL_CONTACT:
        if rec.target_kind is not kind or rec.target_value is None:
            raise ConflictingState("this enrolment proves another destination")
        if factors.verified_contact(kind) is not None:
            # The user verified another one meanwhile: this enrolment can no
            # longer succeed, so nothing more goes to its unverified target (S18).
            raise ConflictingState(f"the user verified a {kind} meanwhile")
        return rec.target_value
    contact = factors.verified_contact(kind)
    if contact is None:
        raise ConflictingState(f"the user has no verified {kind} any more")
    return contact.value


@dataclass(frozen=True, slots=True)
class _Quota:
    key: str
    limit: int
    window: timedelta
    budget: str | None = None
    """For a budget of sends to unverified destinations: whose (S33)."""


def _send_quotas(ctx: Context, rec: ChallengeRecord, to: str) -> list[_Quota]:
    """The windowed counters one send takes (S15, S33).

    A code to a verified destination counts per user *and* destination, so no
    other account can use up a user's sign-in codes. A code to a destination
    being enrolled counts apart: per destination (the owner of the number is
    not flooded), and against the daily budgets of the user, the tenant and
    the application (SMS pumping).
    """
    policy = ctx.policy
    if rec.purpose is not Purpose.ENROL_CONTACT:
        return [_Quota(f"sends:{rec.user_id}:{to}", policy.send_quota, policy.send_window)]
    quotas = [
        _Quota(f"sends-unverified:{to}", policy.send_quota, policy.send_window),
        _Quota(f"send-budget:user:{rec.user_id}", policy.unverified_sends_per_user, _DAY, "user"),
    ]
    if policy.unverified_sends_per_tenant is not None:
        quotas.append(
            _Quota(
                f"send-budget:tenant:{rec.tenant or ''}",
                policy.unverified_sends_per_tenant,
                _DAY,
                "tenant",
            )
        )
    if policy.unverified_sends_global is not None:
        quotas.append(_Quota("send-budget:global", policy.unverified_sends_global, _DAY, "global"))
    return quotas


def _take_send_quotas(
    ctx: Context, rec: ChallengeRecord, method: Method, to: str, now: datetime
) -> UseCase[tuple[list[str], SendResult | None]]:
    """Take one send from every quota, or none: the keys taken, or the refusal
    (every counter already taken given back, since nothing was sent)."""
    taken: list[str] = []
    for quota in _send_quotas(ctx, rec, to):
        wait = yield from count_in_window(quota.key, now, limit=quota.limit, window=quota.window)
        if wait is None:
            taken.append(quota.key)
            continue
        for key in taken:
            yield from give_back(key)
        if quota.budget is None:
            reason = Reason.SEND_LIMIT
        else:
            reason = Reason.SEND_BUDGET_EXHAUSTED
            yield from audit(
                ctx,
                Action.SEND_BUDGET_EXHAUSTED,
                rec.user_id,
                actor_id=rec.actor_id,
                outcome=Outcome.REFUSED,
                method=method,
                reason=reason,
                details={"budget": quota.budget, "destination": mask(CHANNEL_KIND[method], to)},
                at=now,
            )
        refusal = SendResult(ok=False, challenge=view(ctx, rec), reason=reason, retry_after=wait)
        return [], refusal
    return taken, None


def _send(
    ctx: Context,
    rec: ChallengeRecord,
    method: Method,
    event: Event,
    now: datetime,
    locale: str | None,
    *,
    cooldown: bool,
    resend: bool = True,
) -> UseCase[SendResult]:
    """Send a fresh code for `method`; the new code replaces the old (S9).

    Within the cooldown after a code for this same method, nothing is sent: a
    `resend` is refused (`COOLDOWN`), any other send answers that the code
    is already on its way (`already_sent`), both with `retry_after`.
    """
    if cooldown and rec.code_sent_at is not None:
        wait = rec.code_sent_at + ctx.policy.resend_cooldown - now
        if wait > timedelta(0):
            if not resend:
                return SendResult(
                    ok=True, challenge=view(ctx, rec), already_sent=True, retry_after=wait
                )
            return SendResult(
                ok=False, challenge=view(ctx, rec), reason=Reason.COOLDOWN, retry_after=wait
            )
    factors = yield from load_factors(rec.user_id)
    to = _destination(rec, method, factors)
    taken, refusal = yield from _take_send_quotas(ctx, rec, method, to, now)
    if refusal is not None:
        return refusal
    code = _new_code(ctx)
    key_id = ctx.keyring.primary_id
    # Without a locale for this call, the user's own (MFA.set_locale).
    locale = locale if locale is not None else factors.locale
    # A code provider makes, sends and checks its own code: no hash of ours.
    by_provider = method in ctx.code_providers
    # Deliver first: a failed delivery raises DeliveryError and leaves the
    # challenge exactly as it was (attempts untouched, resend possible).
    try:
        message_id = yield from delivery.deliver(ctx, method, to, code, locale)
    except DeliveryError as exc:
        # Nothing reached the user: the send counts against no quota or budget.
        for key in taken:
            yield from give_back(key)
        if isinstance(exc, DestinationOptedOut):
            # Not a crash: the host gets a reason and offers another method.
            return (yield from _opted_out(ctx, rec, method, to, now, exc))
        exc.challenge_id = rec.id
        raise
    for _ in range(_RACES):
        stored = yield from _advance(
            ctx,
            rec,
            event,
            now,
            lambda r: r.with_(
                method=method,
                code_hash=None if by_provider else _code_hash(ctx, r, code, key_id),
                code_key_id=None if by_provider else key_id,
                code_sent_at=now,
                destination=to,
                code_length=len(code),
                sends=r.sends + 1,
                expires_at=min(now + ctx.policy.code_ttl, r.created_at + MAX_LIFETIME),
                message_id=message_id,
                delivery=None,
                delivery_error=None,
            ),
        )
        if stored is not None:
            yield from audit(
                ctx,
                Action.CODE_SENT,
                rec.user_id,
                actor_id=rec.actor_id,
                method=method,
                details={
                    "destination": mask(CHANNEL_KIND[method], to),
                    "purpose": rec.purpose.value,
                },
                at=now,
            )
            return SendResult(ok=True, challenge=view(ctx, stored))
        rec = yield from _load(rec.id)
        _require_open(rec)
        if rec.state in END_STATES:
            raise ConflictingState(f"the challenge is {rec.state}")
    raise StorageError("the challenge is too contended; try again")


def _opted_out(
    ctx: Context,
    rec: ChallengeRecord,
    method: Method,
    to: str,
    now: datetime,
    exc: DestinationOptedOut,
) -> UseCase[SendResult]:
    """The recipient told the provider to stop (Twilio 21610, STOP): a refusal
    with its own reason, audited (masked destination only); the challenge is
    left as it was, so another method can be picked."""
    details = {"destination": mask(CHANNEL_KIND[method], to), "purpose": rec.purpose.value}
    if exc.provider is not None:
        details["provider"] = exc.provider
    if exc.provider_code is not None:
        details["provider_code"] = exc.provider_code
    yield from audit(
        ctx,
        Action.CODE_NOT_SENT,
        rec.user_id,
        actor_id=rec.actor_id,
        outcome=Outcome.REFUSED,
        method=method,
        reason=Reason.OPTED_OUT,
        details=details,
        at=now,
    )
    return SendResult(ok=False, challenge=view(ctx, rec), reason=Reason.OPTED_OUT)


def send_code(
    ctx: Context,
    challenge_id: str,
    *,
    method: object = None,
    locale: str | None = None,
    resend: bool = False,
) -> UseCase[SendResult]:
    """Make sure a code for the current method is on its way, or switch to
    another out-of-band `method` and send one.

    Within the cooldown after the last code of the current method (the one
    `begin_sign_in` sent, say) nothing is sent and the result says
    `already_sent`; after it, a new code replaces the old. With `resend`
    the user asked for a *new* code: refused with `COOLDOWN` within it.
    """
    check_locale(locale)
    if not isinstance(resend, bool):
        raise InvalidInput("resend", "must be a bool")
    wanted = None if method is None else parse_method(method)
    rec = yield from _load(challenge_id)
    ctx = yield from _rescope(ctx, rec)
    now = ctx.clock.now()
    _require_open(rec)
    rec = yield from _refresh(ctx, rec, now)
    if wanted is not None and wanted is not rec.method:
        return (yield from switch_method(ctx, challenge_id, wanted, locale=locale))
    if rec.state in (State.EXPIRED, State.LOCKED):
        reason = Reason.EXPIRED if rec.state is State.EXPIRED else Reason.TOO_MANY_ATTEMPTS
        return SendResult(ok=False, challenge=view(ctx, rec), reason=reason)
    if rec.method not in OUT_OF_BAND:
        raise ConflictingState(f"nothing to send for {rec.method}")
    next_state(rec.state, Event.SEND)  # raises if illegal (awaiting an answer)
    return (
        yield from _send(
            ctx, rec, rec.method, Event.SEND, now, locale, cooldown=True, resend=resend
        )
    )


def switch_method(
    ctx: Context, challenge_id: str, method: object, *, locale: str | None = None
) -> UseCase[SendResult]:
    """Use another of the challenge's methods; out-of-band ones send at once.
    The current method again, moments after its code went out, sends nothing:
    the result says `already_sent` (see `send_code`)."""
    check_locale(locale)
    rec = yield from _load(challenge_id)
    ctx = yield from _rescope(ctx, rec)
    target = parse_method(method)
    now = ctx.clock.now()
    _require_open(rec)
    rec = yield from _refresh(ctx, rec, now)
    if rec.state in (State.EXPIRED, State.LOCKED):
        reason = Reason.EXPIRED if rec.state is State.EXPIRED else Reason.TOO_MANY_ATTEMPTS
        return SendResult(ok=False, challenge=view(ctx, rec), reason=reason)
    if target not in rec.methods:
        raise InvalidInput("method", "is not available for this challenge")
    if rec.alternatives_locked and target is not rec.method:
        raise ConflictingState("answer the security question first (try another way)")
    next_state(rec.state, Event.SWITCH)
    if target in OUT_OF_BAND:
        # A new method sends at once; the cooldown applies to the same method.
        same = target is rec.method
        return (
            yield from _send(
                ctx, rec, target, Event.SWITCH, now, locale, cooldown=same, resend=False
            )
        )
    for _ in range(_RACES):
        stored = yield from _advance(
            ctx,
            rec,
            Event.SWITCH,
            now,
            lambda r: r.with_(method=target, code_hash=None, code_key_id=None, destination=None),
        )
        if stored is not None:
            # Switching to a passkey (again) issues its ceremony afresh.
            options = None
            if target is Method.WEBAUTHN:
                options = yield from issue_challenge_ceremony(ctx, stored)
            return SendResult(ok=True, challenge=with_options(view(ctx, stored), options))
        rec = yield from _load(challenge_id)
        _require_open(rec)
    raise StorageError("the challenge is too contended; try again")


def try_another_way(ctx: Context, challenge_id: str) -> UseCase[Challenge]:
    """Ask for the other methods. When the security question guards them
    (seed 000), the challenge now awaits its answer; otherwise nothing changes."""
    rec = yield from _load(challenge_id)
    ctx = yield from _rescope(ctx, rec)
    now = ctx.clock.now()
    _require_open(rec)
    rec = yield from _refresh(ctx, rec, now)
    question = yield from call("store", Store.get_question, rec.user_id)
    if not rec.alternatives_locked or rec.state is not State.AWAITING_CODE:
        return view(ctx, rec, question.question if question else None)
    for _ in range(_RACES):
        stored = yield from _advance(ctx, rec, Event.TRY_ANOTHER_WAY, now)
        if stored is not None:
            return view(ctx, stored, question.question if question else None)
        rec = yield from _load(challenge_id)
        _require_open(rec)
        if rec.state is not State.AWAITING_CODE:
            return view(ctx, rec, question.question if question else None)
    raise StorageError("the challenge is too contended; try again")


def _take_attempt(
    ctx: Context, rec: ChallengeRecord, wrong: Event, now: datetime
) -> UseCase[tuple[ChallengeRecord, bool]]:
    """Take one of the challenge's attempts by compare-and-set *before* a slow
    compare (a backup code's or a security answer's hash), so requests that
    read the challenge at the same time are never compared more than
    `max_attempts` times between them, and one that finds no attempt left
    hashes nothing and learns nothing (S12). Returns the record as stored with
    the attempt taken and True; or the record as it now is and False when no
    attempt is left, the challenge ended or no longer takes `wrong`."""
    for _ in range(_RACES):
        if (
            rec.state in END_STATES
            or rec.attempts >= ctx.policy.max_attempts
            or (rec.state, wrong) not in TRANSITIONS
        ):
            return rec, False
        stored = yield from _advance(
            ctx, rec, wrong, now, lambda r: r.with_(attempts=r.attempts + 1)
        )
        if stored is not None:
            return stored, True
        rec = yield from _load(rec.id)
    raise StorageError("the challenge is too contended; try again")


def _lock_if_last(ctx: Context, taken: ChallengeRecord, now: datetime) -> UseCase[ChallengeRecord]:
    """After a wrong slow compare on the attempt `taken` (the record as its
    reservation stored it): the last allowed attempt locks the challenge
    (S12), recorded and told as any lock; an earlier one changes nothing more."""
    rec = taken
    for _ in range(_RACES):
        if rec.state in END_STATES or taken.attempts < ctx.policy.max_attempts:
            return rec
        stored = yield from _advance(ctx, rec, Event.LOCK, now)
        if stored is not None:
            yield from audit(
                ctx,
                Action.CHALLENGE_LOCKED,
                rec.user_id,
                actor_id=rec.actor_id,
                outcome=Outcome.FAILURE,
                method=rec.method,
                details={"purpose": rec.purpose.value},
                at=now,
            )
            if rec.purpose is Purpose.SIGN_IN:
                yield from notify(ctx, rec.user_id, "second_step_failed")
            return stored
        rec = yield from _load(rec.id)
    raise StorageError("the challenge is too contended; try again")


def answer_question(ctx: Context, challenge_id: str, answer: object) -> UseCase[AnswerResult]:
    """Answer the security question to unlock the other methods (F6)."""
    rec = yield from _load(challenge_id)
    ctx = yield from _rescope(ctx, rec)
    normalized = read_answer(ctx, answer)
    now = ctx.clock.now()
    _require_open(rec)
    rec = yield from _refresh(ctx, rec, now)
    if rec.state in (State.EXPIRED, State.LOCKED):
        reason = Reason.EXPIRED if rec.state is State.EXPIRED else Reason.TOO_MANY_ATTEMPTS
        return AnswerResult(ok=False, challenge=view(ctx, rec), reason=reason)
    next_state(rec.state, Event.ANSWER_WRONG)  # raises unless awaiting an answer
    if normalized is None:
        # A blank answer is a slip, not a guess: nothing is reserved or counted.
        asked = yield from call("store", Store.get_question, rec.user_id)
        return AnswerResult(
            ok=False,
            challenge=view(ctx, rec, asked.question if asked else None),
            reason=Reason.MALFORMED_CODE,
            expected=ExpectedCode(method=None),
        )
    decision, reserved = yield from reserve_attempt(ctx, rec.user_id, now)
    if not decision.allowed:
        refusal = yield from refused(ctx, rec.user_id, decision, None, now)
        return AnswerResult(
            ok=False,
            challenge=view(ctx, rec),
            reason=refusal.reason,
            retry_after=refusal.retry_after,
        )
    question = yield from call("store", Store.get_question, rec.user_id)
    text = question.question if question else None
    rec, taken = yield from _take_attempt(ctx, rec, Event.ANSWER_WRONG, now)
    if not taken:
        # Nothing compared: the account's attempt goes back too.
        yield from release_attempt(rec.user_id, reserved)
        if rec.state not in END_STATES:
            next_state(rec.state, Event.ANSWER_WRONG)  # unlocked meanwhile: as a call now
        return _answer_after(ctx, rec, text)
    if (yield from check_answer(ctx, question, normalized)):
        # A right answer is not a second factor (S27): it only gives back the
        # attempts it reserved (the challenge's and the account's), it does not
        # clear earlier failures.
        yield from release_attempt(rec.user_id, reserved)
        for _ in range(_RACES):
            stored = yield from _advance(
                ctx,
                rec,
                Event.ANSWER_RIGHT,
                now,
                lambda r: r.with_(alternatives_locked=False, attempts=max(r.attempts - 1, 0)),
            )
            if stored is not None:
                return AnswerResult(ok=True, challenge=view(ctx, stored, text))
            rec = yield from _load(challenge_id)
            if rec.state is not State.AWAITING_ANSWER:
                return _answer_after(ctx, rec, text)
        raise StorageError("the challenge is too contended; try again")
    rec = yield from _lock_if_last(ctx, rec, now)
    yield from audit(ctx, Action.QUESTION_FAILED, rec.user_id, outcome=Outcome.FAILURE, at=now)
    reason = Reason.TOO_MANY_ATTEMPTS if rec.state is State.LOCKED else Reason.INVALID_ANSWER
    return AnswerResult(ok=False, challenge=view(ctx, rec, text), reason=reason)


def _answer_after(ctx: Context, rec: ChallengeRecord, text: str | None) -> AnswerResult:
    """The answer when the challenge moved on under a request: unlocked by
    another right answer, or ended. Whether this answer was right is never
    told apart (S12)."""
    if rec.state is State.AWAITING_CODE:
        return AnswerResult(ok=True, challenge=view(ctx, rec, text))
    if rec.state is State.EXPIRED:
        reason = Reason.EXPIRED
    elif rec.state in END_STATES or rec.attempts >= ctx.policy.max_attempts:
        reason = Reason.TOO_MANY_ATTEMPTS
    else:
        reason = Reason.INVALID_ANSWER
    return AnswerResult(ok=False, challenge=view(ctx, rec, text), reason=reason)


def cancel(ctx: Context, challenge_id: str) -> UseCase[Challenge]:
    """Abandon a challenge; cancelling an ended one changes nothing."""
    rec = yield from _load(challenge_id)
    ctx = yield from _rescope(ctx, rec)
    now = ctx.clock.now()
    for _ in range(_RACES):
        if rec.state in END_STATES:
            return view(ctx, rec)
        stored = yield from _advance(ctx, rec, Event.CANCEL, now)
        if stored is not None:
            yield from delivery.cancel_at_provider(ctx, stored)
            return view(ctx, stored)
        rec = yield from _load(challenge_id)
    raise StorageError("the challenge is too contended; try again")


def get_challenge(ctx: Context, challenge_id: str) -> UseCase[Challenge]:
    """The challenge as it stands now (expiry applied)."""
    rec = yield from _load(challenge_id)
    ctx = yield from _rescope(ctx, rec)
    rec = yield from _refresh(ctx, rec, ctx.clock.now())
    question = None
    if rec.state is State.AWAITING_ANSWER:
        stored_question = yield from call("store", Store.get_question, rec.user_id)
        question = stored_question.question if stored_question else None
    return view(ctx, rec, question)


# --- verifying -----------------------------------------------------------------


def _pick_method(rec: ChallengeRecord, code: str) -> tuple[Method, str | None]:
    """Which method a typed code is for, and the code normalised (`None`:
    it cannot be a code of that method, a typo).

    A backup code (letters, twelve characters) is recognised whatever the
    current method, when the challenge allows backup codes and they are not
    locked behind the security question. Anything else is read as a code of
    the current method, so a typo is explained in its terms.
    """
    backup_open = Method.BACKUP_CODE in rec.methods and (
        not rec.alternatives_locked or rec.method is Method.BACKUP_CODE
    )
    if rec.method is Method.BACKUP_CODE:
        return Method.BACKUP_CODE, bc.read_code(code)
    if backup_open:
        backup = bc.read_code(code)
        # One-time codes have at most 10 digits; a backup code has 12 characters,
        # so even a (rare) all-digit backup code is told apart.
        if backup is not None:
            return Method.BACKUP_CODE, backup
    if rec.method is Method.WEBAUTHN:
        # Not typed by a person: the browser posts the passkey's answer.
        raise InvalidInput("code", "answer with the passkey's credential JSON (or a backup code)")
    return rec.method, otp.read_digits(code, _lengths(rec))


def _lengths(rec: ChallengeRecord) -> tuple[int, ...]:
    """The lengths a code of the challenge's current method may have."""
    if rec.method is Method.TOTP:
        return TOTP_DIGITS
    if rec.method is Method.BACKUP_CODE:
        return (bc.CODE_LENGTH,)
    # The length of the code actually sent (the policy may have changed since).
    return (rec.code_length or 6,)


def verify(
    ctx: Context,
    challenge_id: str,
    code: object,
    *,
    trust_device: bool = False,
    device_label: str | None = None,
) -> UseCase[VerifyResult]:
    """Check a code against a challenge; on success apply its purpose and, for a
    sign-in with `trust_device`, trust this device (L2).

    One read (the challenge with its user's factors and failure counter) and
    one unit of work for a TOTP or sent code: the challenge's new state, the
    authenticator's step, the failure counter, the change the challenge
    approves (a contact, first backup codes, the security version and device
    revocation), the trusted device and the audit events commit together,
    conditional on what was read. A lost race reads and decides again. A
    backup code costs a slow hash, so its attempt is reserved first, the hash
    runs outside any transaction, and the outcome commits after.
    """
    if not isinstance(trust_device, bool):
        raise InvalidInput("trust_device", "must be a bool")
    check_id("challenge_id", challenge_id)
    # A passkey's answer (credential JSON, checked by its own parser) or
    # something typed into the code field.
    passkey_answer = looks_like_credential(code)
    typed = "" if passkey_answer else otp.typed_input(code)
    if device_label is not None:
        check_text("device_label", device_label, max_length=64)
    first_codes: tuple[BackupCodes | None, list[BackupCodeRecord] | None] | None = None
    provider_says: dict[tuple[str, str], bool] = {}
    for attempt in range(_UOW_RACES):
        if attempt:
            yield from backoff(ctx, attempt)
        found = yield from call("store", Store.load_challenge, challenge_id, counters=(FAILURES,))
        if found is None:
            raise NotFound("no such challenge")
        rec, snapshot = found
        ctx = yield from _rescope(ctx, rec)
        now = ctx.clock.now()
        _require_open(rec)
        if rec.state not in END_STATES and now >= rec.expires_at:
            rec = yield from _refresh(ctx, rec, now)
        if rec.state is State.EXPIRED:
            return VerifyResult(ok=False, reason=Reason.EXPIRED)
        if rec.state is State.LOCKED or rec.attempts >= ctx.policy.max_attempts:
            # All attempts taken: some may still be checking a slow hash (S12).
            return VerifyResult(ok=False, reason=Reason.TOO_MANY_ATTEMPTS, attempts_left=0)
        next_state(rec.state, Event.CODE_WRONG)  # raises while awaiting an answer
        if passkey_answer:
            if Method.WEBAUTHN not in rec.methods:
                typed = otp.typed_input(code)  # no passkey here: a code after all (or misuse)
            else:
                return (
                    yield from _verify_passkey(
                        ctx, rec, snapshot, code, now, trust_device=trust_device, label=device_label
                    )
                )
        method, normalized = _pick_method(rec, typed)
        provider_ref = delivery.provider_ref(rec) if method in OUT_OF_BAND else None
        if method in OUT_OF_BAND and rec.code_hash is None and provider_ref is None:
            return VerifyResult(
                ok=False, reason=Reason.NO_CODE_SENT, attempts_left=_attempts_left(ctx, rec)
            )
        if normalized is None:
            # A typo, not a guess: before any counter is read or taken (S12, S13).
            return malformed(method, _lengths(rec), attempts_left=_attempts_left(ctx, rec))
        if method is Method.BACKUP_CODE:
            return (
                yield from _verify_backup_code(
                    ctx, rec, normalized, now, trust_device=trust_device, label=device_label
                )
            )
        key = failure_key(rec.user_id)
        counter = snapshot.counters.get(key)
        decision = limits.check_failures(counter, now, ctx.policy)
        if not decision.allowed:
            return (yield from refused(ctx, rec.user_id, decision, method, now))

        factor_writes: list[Write] = []
        factor_id: str | None = None
        replay = False
        if method is Method.TOTP:
            match = match_totp(ctx, snapshot.totps, normalized, now)
            replay = match.replay
            if match.factor_id is not None and match.step is not None:
                factor_id = match.factor_id
                factor_writes.append(AdvanceTotp(rec.user_id, factor_id, match.step, now))
            matched = factor_id is not None
        else:
            fresh = rec.code_sent_at is not None and now < rec.code_sent_at + ctx.policy.code_ttl
            if provider_ref is not None:
                # Asked once per code, whatever the retries: a provider says
                # "approved" only once.
                if fresh and (provider_ref, normalized) not in provider_says:
                    provider_says[provider_ref, normalized] = yield from (
                        delivery.check_with_provider(ctx, rec, normalized)
                    )
                matched = fresh and provider_says[provider_ref, normalized]
            else:
                assert rec.code_hash is not None
                expected = _code_hash(ctx, rec, normalized, rec.code_key_id)
                matched = hmac.compare_digest(expected, rec.code_hash) and fresh
            if matched and rec.purpose is not Purpose.ENROL_CONTACT:
                # The destination must still be a verified factor: a code sent before
                # the phone was removed or changed stops working at once (S22).
                kind = CHANNEL_KIND[method]
                matched = any(
                    c.kind is kind and c.verified and c.value == rec.destination
                    for c in snapshot.contacts
                )

        if not matched:
            # A replay counts against the challenge, not as an account failure
            # (a right code already used is no guess: S5 records it, S13 is
            # about wrong codes).
            counted: list[Write] = []
            if not replay:
                counted.append(PutCounter(limits.count_failure(counter, key, now)))
            outcome = yield from _count_wrong_once(
                ctx, rec, Event.CODE_WRONG, now, counted, method=method, replay=replay
            )
            if outcome is None:
                continue
            return outcome

        if first_codes is None and rec.purpose is Purpose.ENROL_CONTACT:
            # Argon2 for the first backup codes runs here, outside any
            # transaction, once whatever the retries.
            first_codes = yield from _first_codes(ctx, rec.user_id, snapshot, now)
        result = yield from _succeed(
            ctx,
            rec,
            snapshot,
            method,
            now,
            [*factor_writes, cleared_on_success(counter, key, now)],
            first_codes,
            trust_device=trust_device,
            label=device_label,
        )
        if result is None:
            continue
        return replace(result, factor_id=factor_id)
    raise contended("the challenge")


def _count_wrong_once(
    ctx: Context,
    rec: ChallengeRecord,
    wrong: Event,
    now: datetime,
    writes: list[Write],
    *,
    method: Method,
    replay: bool,
    reason: Reason | None = None,
) -> UseCase[VerifyResult | None]:
    """Count a wrong code (or passkey answer: `reason`) on the challenge and
    the account in one unit of work (the last allowed one locks, S12); None if
    it lost a race."""
    event_ = Event.LOCK if rec.attempts + 1 >= ctx.policy.max_attempts else wrong
    updated = rec.with_(state=next_state(rec.state, event_), attempts=rec.attempts + 1)
    if reason is None:
        reason = Reason.REPLAYED if replay else Reason.INVALID_CODE
    details = {"purpose": rec.purpose.value}
    events = [
        event(
            ctx,
            Action.CODE_REPLAYED if replay else Action.SECOND_STEP_FAILED,
            rec.user_id,
            actor_id=rec.actor_id,
            outcome=Outcome.FAILURE,
            method=method,
            reason=reason,
            details=details,
            at=now,
        )
    ]
    locked = updated.state is State.LOCKED
    if locked:
        events.append(
            event(
                ctx,
                Action.CHALLENGE_LOCKED,
                rec.user_id,
                actor_id=rec.actor_id,
                outcome=Outcome.FAILURE,
                method=rec.method,
                details=details,
                at=now,
            )
        )
    if (yield from commit(ctx, [UpdateChallenge(updated), *writes], events)) is None:
        return None
    if locked:
        if rec.purpose is Purpose.SIGN_IN:
            yield from notify(ctx, rec.user_id, "second_step_failed")
        return VerifyResult(ok=False, reason=Reason.TOO_MANY_ATTEMPTS, attempts_left=0)
    stored = updated.with_(version=updated.version + 1)
    return VerifyResult(ok=False, reason=reason, attempts_left=_attempts_left(ctx, stored))


def _verify_passkey(
    ctx: Context,
    rec: ChallengeRecord,
    snapshot: UserSnapshot,
    answer: object,
    now: datetime,
    *,
    trust_device: bool,
    label: str | None,
) -> UseCase[VerifyResult]:
    """A passkey's answer to a challenge: its ceremony is taken once and the
    assertion checked once; then the outcome commits like a code's (the
    credential's new counter and last use with the challenge's success, or a
    wrong attempt counted), reading again after a lost race.

    The account's back-off and lock-out do not stop a passkey (S34): they hold
    back guesses, and nobody can guess a signature. A forged answer still counts
    as a failure (and on the challenge's attempts); a genuine one during a
    lock-out signs in, clears it and tells the user, as a backup code does."""
    key = failure_key(rec.user_id)
    check = yield from verify_challenge_passkey(ctx, rec, answer, now)
    for attempt in range(_UOW_RACES):
        if attempt:
            yield from backoff(ctx, attempt)
            found = yield from call("store", Store.load_challenge, rec.id, counters=(FAILURES,))
            if found is None:
                raise NotFound("no such challenge")
            rec, snapshot = found
            if rec.state in END_STATES:
                # Another request ended the challenge first: this answer is spent.
                return VerifyResult(ok=False, reason=Reason.REPLAYED, attempts_left=0)
        counter = snapshot.counters.get(key)
        if check.reason is not None:
            if not check.counted:
                # Replayed, malformed or too late: nothing guessed, nothing counted.
                yield from audit(
                    ctx,
                    Action.SECOND_STEP_FAILED,
                    rec.user_id,
                    actor_id=rec.actor_id,
                    outcome=Outcome.FAILURE,
                    method=Method.WEBAUTHN,
                    reason=check.reason,
                    details={"purpose": rec.purpose.value},
                    at=now,
                )
                return VerifyResult(
                    ok=False, reason=check.reason, attempts_left=_attempts_left(ctx, rec)
                )
            counted: list[Write] = [PutCounter(limits.count_failure(counter, key, now))]
            outcome = yield from _count_wrong_once(
                ctx,
                rec,
                Event.CODE_WRONG,
                now,
                counted,
                method=Method.WEBAUTHN,
                replay=False,
                reason=check.reason,
            )
            if outcome is None:
                continue
            return outcome
        used = check.credential
        assert used is not None
        current = next((c for c in snapshot.webauthn if c.id == used.id), None)
        if current is None:
            # Removed since the check: a removed factor stops working at once (S22).
            return VerifyResult(ok=False, reason=Reason.UNKNOWN_CREDENTIAL)
        updated = current.with_(
            sign_count=max(current.sign_count, used.sign_count),
            backed_up=used.backed_up,
            last_used_at=now,
            cloned=current.cloned or used.cloned,
        )
        cleared = limits.cleared(counter or limits.fresh_counter(key, now), now)
        result = yield from _succeed(
            ctx,
            rec,
            snapshot,
            Method.WEBAUTHN,
            now,
            [UpdateCredential(updated), PutCounter(cleared)],
            None,
            trust_device=trust_device,
            label=label,
        )
        if result is None:
            continue
        yield from lockout_recovered(ctx, rec.user_id, now, counter, passkey=current.name)
        yield from after_passkey_success(ctx, check, now)
        return replace(result, factor_id=used.id)
    raise contended("the challenge")


def _first_codes(
    ctx: Context, user_id: str, snapshot: UserSnapshot, now: datetime
) -> UseCase[tuple[BackupCodes | None, list[BackupCodeRecord] | None]]:
    """First backup codes when the factor being added is the user's first."""
    if Method.BACKUP_CODE not in ctx.policy.allowed_methods:
        return None, None
    if factors_of(snapshot).has_second_factor:
        return None, None
    shown, records = yield from new_backup_codes(ctx, user_id, now)
    return shown, records


def _succeed(
    ctx: Context,
    rec: ChallengeRecord,
    snapshot: UserSnapshot,
    method: Method,
    now: datetime,
    writes: list[Write],
    first_codes: tuple[BackupCodes | None, list[BackupCodeRecord] | None] | None,
    *,
    trust_device: bool,
    label: str | None,
) -> UseCase[VerifyResult | None]:
    """Mark the challenge SUCCEEDED and apply its purpose in one unit of work
    with `writes` (the factor's step, the cleared counter); None if it lost a
    race. Notices go out after the commit."""
    user_id = rec.user_id
    succeeded = rec.with_(state=next_state(rec.state, Event.CODE_RIGHT))
    batch: list[Write] = [UpdateChallenge(succeeded), *writes]
    details = {"purpose": rec.purpose.value}
    events: list[AuditRecord | None] = [
        event(
            ctx,
            Action.SECOND_STEP_PASSED,
            user_id,
            actor_id=rec.actor_id,
            method=method,
            details=details,
            at=now,
        )
    ]
    codes: BackupCodes | None = None
    old_contact: ContactRecord | None = None
    new_contact: ContactRecord | None = None
    security_change = False
    planned: list[NoticeRecord | None] = []
    if rec.purpose is Purpose.CONTACT_CHANGE:
        assert rec.target_kind is not None and rec.target_value is not None
        old_contact = next((c for c in snapshot.contacts if c.kind is rec.target_kind), None)
        if not is_no_op(rec, old_contact):  # a change to the current value changes nothing
            new_contact = contact_for_change(rec, now, old_contact)
            batch.append(PutContact(new_contact))
            events.append(contact_changed_event(ctx, rec, old_contact, now))
            security_change = ctx.policy.revoke_devices_on_contact_change
        planned += contact_change_notices(ctx, rec, old_contact, snapshot.contacts, now)
    elif rec.purpose is Purpose.ENROL_CONTACT:
        assert rec.target_kind is not None and rec.target_value is not None
        factors = factors_of(snapshot)
        if factors.verified_contact(rec.target_kind) is not None:
            # Two enrolments raced: the first one won; a verified destination
            # is only ever replaced through a guarded change (S19).
            raise ConflictingState(f"the user verified a {rec.target_kind} meanwhile")
        if begun_before_first_factor(factors, rec.created_at):
            # Begun without a step-up while the user had no factor; they have
            # one now, so this would bind a factor without it (S32).
            raise ConflictingState("the user set up another factor meanwhile: start again")
        new_contact = ContactRecord(
            user_id=user_id,
            kind=rec.target_kind,
            value=rec.target_value,
            created_at=now,
            verified_at=now,
        )
        masked = mask(new_contact.kind, new_contact.value)
        events.append(
            event(
                ctx,
                Action.FACTOR_ADDED,
                user_id,
                actor_id=rec.actor_id,
                method=method,
                details={"destination": masked},
                at=now,
            )
        )
        codes, records = first_codes if first_codes is not None else (None, None)
        if records is not None and not factors.has_second_factor:
            # The first factor's backup codes, issued once: the batch goes on
            # only while the user still has no factor (two first enrolments
            # at once: the other one's batch rolls back).
            batch += [
                RequireNoFactor(user_id),
                PutContact(new_contact),
                ReplaceBackupCodes(user_id, records),
            ]
            events.append(
                event(ctx, Action.BACKUP_CODES_ISSUED, user_id, actor_id=rec.actor_id, at=now)
            )
        else:
            codes = None
            batch.append(PutContact(new_contact))
        target = notice_target(ctx, snapshot.contacts, exclude=new_contact.value)
        detail = f"{new_contact.kind} {masked}"
        planned.append(notice(ctx, user_id, "factor_added", target, now, detail=detail))
        security_change = True
    revoked_at = len(batch)
    if security_change:
        batch += security_writes(user_id, now)
    device = None
    if trust_device and rec.purpose is Purpose.SIGN_IN:
        version = snapshot.state.security_version if snapshot.state is not None else 0
        device = new_device(ctx, user_id, label, version, now)
        batch.append(InsertDevice(device.record))
        events.append(device.event)
        target = notice_target(ctx, snapshot.contacts)
        planned.append(
            notice(ctx, user_id, "device_trusted", target, now, detail=device.record.label)
        )
    notices, queued = queue(planned)
    batch += queued
    results = yield from commit(ctx, batch, events)
    if results is None:
        return None
    if security_change:
        yield from devices_revoked(ctx, user_id, results[revoked_at + 1], now)
    yield from deliver(ctx, notices)
    # The value applied, for the host to show ("Your phone is now ..."): the new
    # record, or the current one when a change asked for the value it has.
    applied = new_contact if new_contact is not None else old_contact
    grant = grant_expires = None
    if rec.purpose in (Purpose.SIGN_IN, Purpose.REAUTHENTICATE):
        # A factor was just proven: a step-up grant for whoever passed it (S32).
        grant, grant_expires = issue_grant(ctx, user_id, rec.actor_id or user_id, method, now)
    return VerifyResult(
        ok=True,
        method=method,
        user_id=user_id,
        purpose=rec.purpose,
        backup_codes=codes,
        trust_token=None if device is None else device.token,
        trust_max_age=None if device is None else device.max_age,
        device_id=None if device is None else device.record.id,
        step_up=grant,
        step_up_expires_at=grant_expires,
        contact=None if applied is None else contact_info(applied),
    )


def _verify_backup_code(
    ctx: Context,
    rec: ChallengeRecord,
    normalized: str,
    now: datetime,
    *,
    trust_device: bool,
    label: str | None,
) -> UseCase[VerifyResult]:
    """A backup code on a challenge: reserve the attempt, hash outside any
    transaction, then commit the outcome (S26: one slow hash per try)."""
    # Backup codes count on their own counter (S34): a lock-out of the cheap
    # factors leaves them open, the user's way back in.
    decision, reserved = yield from reserve_attempt(ctx, rec.user_id, now, backup_code=True)
    if not decision.allowed:
        return (yield from refused(ctx, rec.user_id, decision, Method.BACKUP_CODE, now))
    rec, taken = yield from _take_attempt(ctx, rec, Event.CODE_WRONG, now)
    if not taken:
        # Nothing hashed, nothing spent: the account's attempt goes back too.
        yield from give_back(failure_key(rec.user_id, backup_code=True), reserved)
        if rec.state is State.EXPIRED:
            return VerifyResult(ok=False, reason=Reason.EXPIRED)
        return VerifyResult(ok=False, reason=Reason.TOO_MANY_ATTEMPTS, attempts_left=0)
    if not (yield from consume_backup_code(ctx, rec.user_id, normalized, now)):
        rec = yield from _lock_if_last(ctx, rec, now)
        yield from audit(
            ctx,
            Action.SECOND_STEP_FAILED,
            rec.user_id,
            actor_id=rec.actor_id,
            outcome=Outcome.FAILURE,
            method=Method.BACKUP_CODE,
            reason=Reason.INVALID_CODE,
            details={"purpose": rec.purpose.value},
            at=now,
        )
        if rec.state is State.LOCKED:
            return VerifyResult(ok=False, reason=Reason.TOO_MANY_ATTEMPTS, attempts_left=0)
        return VerifyResult(
            ok=False, reason=Reason.INVALID_CODE, attempts_left=_attempts_left(ctx, rec)
        )
    for attempt in range(_UOW_RACES):
        if attempt:
            yield from backoff(ctx, attempt)
            found = yield from call("store", Store.load_challenge, rec.id)
            if found is None:
                raise NotFound("no such challenge")
            rec = found[0]
            if rec.state in END_STATES:
                # Another request ended the challenge first: this code is spent.
                return VerifyResult(ok=False, reason=Reason.INVALID_CODE, attempts_left=0)
        snapshot = yield from call("store", Store.load_user, rec.user_id)
        result = yield from _succeed(
            ctx,
            # A right code gives its attempt back (the challenge ends anyway).
            rec.with_(attempts=max(rec.attempts - 1, 0)),
            snapshot,
            Method.BACKUP_CODE,
            now,
            [],
            None,
            trust_device=trust_device,
            label=label,
        )
        if result is None:
            continue
        yield from backup_code_succeeded(ctx, rec.user_id, now, reserved)
        left = yield from backup_code_used(ctx, rec.user_id, now)
        return replace(
            result,
            backup_codes_left=left,
            backup_codes_low=left <= ctx.policy.backup_codes_low_at,
        )
    raise contended("the challenge")
