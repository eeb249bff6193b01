"""Use cases for passkeys and security keys (WebAuthn): register, sign in as a
second factor or without a password, list, rename, remove.

The checks on the browser's JSON and the authenticator's signature are
`mfakit.passkeys` (pure, on py_webauthn, the `webauthn` extra, imported
here only when a passkey call runs). What this module adds is the state:

* every ceremony is stored, then *taken* once by the store (an atomic
  conditional update), so an answer posted twice, or by two app servers at
  once, is verified once; a second one is `REPLAYED`;
* the JSON is parsed before the ceremony is taken, so malformed input changes
  nothing (`MALFORMED_CREDENTIAL`);
* the credential an assertion names is looked up among *all* users', then must
  answer the ceremony (its user's, offered, or, passwordless, its user handle):
  an unknown credential and another user's get the same `UNKNOWN_CREDENTIAL`;
* a new sign count, backup state and last use are saved by compare-and-set,
  only after a successful check, with the clone policy applied to counters
  that went backwards.

A second-factor challenge that offers `Method.WEBAUTHN` has one ceremony,
stored under the challenge's own id: [`MFA.verify`][mfakit.facade.Facade.verify] finds it from the
challenge, and switching to `WEBAUTHN` issues it again (fresh options after a
refusal).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from types import ModuleType

from ..core.actor import Actor
from ..core.audit import Action, Outcome
from ..core.challenge import Purpose
from ..core.methods import Method
from ..core.records import (
    BackupCodeRecord,
    CeremonyRecord,
    ChallengeRecord,
    UserSnapshot,
    WebAuthnCredentialRecord,
)
from ..core.results import (
    BackupCodes,
    Challenge,
    PasskeyInfo,
    PasskeyOptions,
    PasskeyRegistration,
    PasskeySignIn,
    Reason,
)
from ..core.validation import check_encodable, check_id, check_role, check_text
from ..core.webauthn import CeremonyKind, RelyingParty, check_passkey_name
from ..core.writes import (
    DeleteCredential,
    InsertCredential,
    PutCeremony,
    RenameCredential,
    ReplaceBackupCodes,
    RequireNoFactor,
    SetUserHandle,
    UpdateCredential,
    Write,
)
from ..errors import ConfigurationError, ConflictingState, InvalidInput, NotFound, NotPermitted
from ..ports.storage import Store
from .backup_codes import new_backup_codes
from .context import Context
from .devices import devices_revoked, security_writes
from .effects import UseCase, call
from .factors import (
    begun_before_first_factor,
    factors_of,
    load_factors,
    orphan_codes_dropped,
    require_factor_kept,
)
from .limits import clear_after_passkey
from .notices import deliver, notice, notice_target, queue
from .scope import audit, event, notify
from .step_up import require_step_up
from .work import RACES, backoff, commit, contended

__all__ = [
    "MAX_CREDENTIAL_JSON",
    "PasskeyCheck",
    "after_passkey_success",
    "begin_passkey_registration",
    "begin_passkey_sign_in",
    "finish_passkey_registration",
    "finish_passkey_sign_in",
    "issue_challenge_ceremony",
    "list_passkeys",
    "looks_like_credential",
    "remove_passkey",
    "rename_passkey",
    "verify_challenge_passkey",
    "with_options",
]

MAX_CREDENTIAL_JSON = 64 * 1024
"""The most a browser's credential JSON may weigh (attestation certificates
included); longer input is refused before it is parsed."""


def _lib() -> ModuleType:
    try:
        from .. import passkeys
    except ImportError:
        raise ConfigurationError(
            "passkeys need py_webauthn: pip install 'mfakit[webauthn]'"
        ) from None
    return passkeys


def _rp(ctx: Context) -> RelyingParty:
    if ctx.relying_party is None:
        raise ConfigurationError(
            "passkeys need a relying party: MFA(..., relying_party=RelyingParty(...))"
        )
    if Method.WEBAUTHN not in ctx.policy.allowed_methods:
        raise NotPermitted("passkeys are not allowed by the policy")
    return ctx.relying_party


def _credential_json(value: object) -> object:
    """The browser's answer as posted (text or parsed JSON), size-checked; a
    shape `mfakit.passkeys` cannot read becomes a refusal there."""
    if isinstance(value, (str, bytes)):
        if len(value) > MAX_CREDENTIAL_JSON:
            raise InvalidInput("credential_json", "is far too long")
        if isinstance(value, str):
            check_encodable("credential_json", value)
        return value
    if isinstance(value, Mapping):
        try:
            size = len(json.dumps(value))
        except (TypeError, ValueError):
            raise InvalidInput("credential_json", "must be JSON text or a JSON object") from None
        if size > MAX_CREDENTIAL_JSON:
            raise InvalidInput("credential_json", "is far too long")
        return value
    raise InvalidInput("credential_json", "must be JSON text or a JSON object")


def looks_like_credential(value: object) -> bool:
    """Whether a value given as a challenge's "code" is a passkey's answer."""
    if isinstance(value, Mapping):
        return True
    return isinstance(value, str) and value.lstrip()[:1] == "{"


def _info(rec: WebAuthnCredentialRecord) -> PasskeyInfo:
    return PasskeyInfo.from_record(rec)


def _detail(name: str) -> str:
    return f"passkey “{name}”"


# --- registration ---------------------------------------------------------------


def _user_handle(ctx: Context, user_id: str, now: datetime) -> UseCase[bytes]:
    """The user's handle, made (64 random bytes) at their first passkey."""
    for _ in range(3):
        handle = yield from call("store", Store.get_user_handle, user_id)
        if handle is not None:
            return handle
        fresh = ctx.random_bytes(64)
        if (yield from commit(ctx, [SetUserHandle(user_id, fresh, now)])) is not None:
            return fresh
    raise contended("the user handle")


def begin_passkey_registration(
    ctx: Context,
    actor: Actor,
    user_id: str,
    *,
    name: str,
    account_name: str | None = None,
    display_name: str | None = None,
    passwordless: bool = False,
) -> UseCase[PasskeyOptions]:
    """Start adding a passkey or security key: the options for
    `navigator.credentials.create` (`excludeCredentials` lists the user's
    own, so one authenticator is not registered twice). Only the user,
    personally and freshly re-authenticated, with a step-up when they already
    have a factor (S20, S32). `account_name` (default: the user id) and
    `display_name` are what the authenticator shows; `passwordless` asks
    for a discoverable passkey that may sign in alone (`policy.passkey_passwordless`)."""
    Actor.check(actor)
    check_id("user_id", user_id)
    checked = check_passkey_name(name)
    if not isinstance(passwordless, bool):
        raise InvalidInput("passwordless", "must be a bool")
    if account_name is not None:
        check_text("account_name", account_name, max_length=256)
    if display_name is not None:
        check_text("display_name", display_name, max_length=256)
    actor.require_self(user_id, "add a passkey")
    now = ctx.clock.now()
    actor.require_fresh(now, ctx.policy.reauth_max_age)
    rp = _rp(ctx)
    if passwordless and not ctx.policy.passkey_passwordless:
        raise NotPermitted("the policy does not allow passwordless passkeys")
    lib = _lib()
    snapshot = yield from call("store", Store.load_user, user_id)
    factors = factors_of(snapshot)
    yield from require_step_up(ctx, actor, user_id, factors, now)
    if any(c.name == checked for c in snapshot.webauthn):
        raise ConflictingState("the user already has a passkey with this name")
    if len(snapshot.webauthn) >= ctx.policy.max_passkeys:
        raise ConflictingState(f"a user may have at most {ctx.policy.max_passkeys} passkeys")
    handle = yield from _user_handle(ctx, user_id, now)
    pending = lib.registration_options(
        rp,
        ctx.policy,
        ceremony_id=ctx.new_id(),
        challenge=ctx.random_bytes(lib.CHALLENGE_BYTES),
        now=now,
        user_id=user_id,
        user_handle=handle,
        user_name=account_name or user_id,
        display_name=display_name,
        name=checked,
        existing=snapshot.webauthn,
        passwordless=passwordless,
        actor_id=actor.id,
        tenant=ctx.tenant,
    )
    ceremony: CeremonyRecord = pending.ceremony
    yield from commit(ctx, [PutCeremony(ceremony)])
    return PasskeyOptions(
        ceremony_id=ceremony.id, options_json=pending.options_json, expires_at=ceremony.expires_at
    )


def _take(
    ctx: Context, ceremony_id: str, kinds: frozenset[CeremonyKind], now: datetime
) -> UseCase[tuple[CeremonyRecord | None, Reason | None]]:
    """Take a ceremony of one of `kinds` once: the record, or why not
    (`REPLAYED` when it was taken already, `WRONG_CHALLENGE` when there is
    no such ceremony of these kinds)."""
    stored = yield from call("store", Store.get_ceremony, ceremony_id)
    if stored is None or stored.kind not in kinds:
        return None, Reason.WRONG_CHALLENGE
    if stored.used_at is not None:
        return None, Reason.REPLAYED
    taken = yield from call("store", Store.take_ceremony, ceremony_id, now=now)
    if taken is None:  # another request took it between the two reads
        return None, Reason.REPLAYED
    return taken, None


def _refused(
    ctx: Context,
    user_id: str | None,
    reason: Reason,
    now: datetime,
    *,
    actor_id: str | None = None,
    ceremony: str,
) -> UseCase[None]:
    if user_id is None:
        return
    yield from audit(
        ctx,
        Action.PASSKEY_REFUSED,
        user_id,
        actor_id=actor_id,
        outcome=Outcome.FAILURE,
        method=Method.WEBAUTHN,
        reason=reason,
        details={"ceremony": ceremony},
        at=now,
    )


def finish_passkey_registration(
    ctx: Context, actor: Actor, ceremony_id: str, credential_json: object
) -> UseCase[PasskeyRegistration]:
    """Finish adding a passkey with the browser's answer (`credential.toJSON()`).
    The user's first factor comes with backup codes, returned once. A refusal
    (a [`Reason`][mfakit.Reason]) stores nothing; an authenticator already registered (by
    anyone) is `DUPLICATE_CREDENTIAL`."""
    user_id = Actor.check(actor).id
    check_id("ceremony_id", ceremony_id)
    answer = _credential_json(credential_json)
    actor.require_self(user_id, "add a passkey")
    rp = _rp(ctx)
    lib = _lib()
    now = ctx.clock.now()
    stored = yield from call("store", Store.get_ceremony, ceremony_id)
    if stored is None or stored.kind is not CeremonyKind.REGISTER or stored.user_id != user_id:
        raise NotFound("no such passkey registration for this user (it may have expired)")
    try:
        lib._parse.parse_registration(answer)
    except lib._parse.Refused as refused:
        # Malformed: refused before the ceremony is taken, so nothing changes.
        return PasskeyRegistration(ok=False, reason=refused.reason)
    ceremony, reason = yield from _take(ctx, ceremony_id, frozenset({CeremonyKind.REGISTER}), now)
    if ceremony is None:
        assert reason is not None
        yield from _refused(ctx, user_id, reason, now, actor_id=actor.id, ceremony="register")
        return PasskeyRegistration(ok=False, reason=reason)
    factors = yield from load_factors(user_id)
    if begun_before_first_factor(factors, ceremony.created_at):
        # Begun without a step-up while the user had no factor (S32): start again.
        raise ConflictingState("the user set up another factor meanwhile: start again")
    outcome = lib.verify_registration(rp, ceremony, answer, factor_id=ctx.new_id(), now=now)
    record: WebAuthnCredentialRecord | None = outcome.credential
    if record is not None:
        taken = yield from call("store", Store.get_credential, record.credential_id)
        if taken is not None:
            outcome = lib.RegistrationOutcome(ok=False, reason=Reason.DUPLICATE_CREDENTIAL)
    if not outcome.ok or record is None:
        why = outcome.reason or Reason.MALFORMED_CREDENTIAL
        yield from _refused(ctx, user_id, why, now, actor_id=actor.id, ceremony="register")
        return PasskeyRegistration(ok=False, reason=outcome.reason)
    codes: BackupCodes | None = None
    records: list[BackupCodeRecord] | None = None
    if Method.BACKUP_CODE in ctx.policy.allowed_methods and not factors.has_second_factor:
        # The first factor's backup codes, issued once: the batch goes on only
        # while the user still has no factor (two first enrolments at once).
        codes, records = yield from new_backup_codes(ctx, user_id, now)
    target = notice_target(ctx, factors.contacts)
    notices, queued = queue(
        [notice(ctx, user_id, "factor_added", target, now, detail=_detail(record.name))]
    )
    writes: list[Write] = [InsertCredential(record, ctx.policy.max_passkeys)]
    if records is not None:
        writes = [RequireNoFactor(user_id), *writes, ReplaceBackupCodes(user_id, records)]
    revoked_at = len(writes) + 1
    writes += [*security_writes(user_id, now), *queued]
    details = {"factor": record.id[:8], "label": record.name}
    events = [
        event(
            ctx,
            Action.FACTOR_ADDED,
            user_id,
            actor_id=actor.id,
            method=Method.WEBAUTHN,
            details=details,
            at=now,
        )
    ]
    if codes is not None:
        events.append(event(ctx, Action.BACKUP_CODES_ISSUED, user_id, actor_id=actor.id, at=now))
    results = yield from commit(ctx, writes, events)
    if results is None:
        # Registered meanwhile (another tab), or the name or the limit taken,
        # or another first factor bound meanwhile.
        if (yield from call("store", Store.get_credential, record.credential_id)) is not None:
            return PasskeyRegistration(ok=False, reason=Reason.DUPLICATE_CREDENTIAL)
        raise ConflictingState(
            "another passkey took this name, the user has the most passkeys allowed,"
            " or set up another factor meanwhile: start again"
        )
    yield from devices_revoked(ctx, user_id, results[revoked_at], now)
    yield from deliver(ctx, notices)
    return PasskeyRegistration(ok=True, passkey=_info(record), backup_codes=codes)


# --- the second factor of a challenge ------------------------------------------------


def issue_challenge_ceremony(
    ctx: Context, rec: ChallengeRecord, snapshot: UserSnapshot | None = None
) -> UseCase[str | None]:
    """Store the passkey ceremony of a challenge that offers `WEBAUTHN`
    (under the challenge's id, replacing an earlier one) and return its
    request options; None when the challenge offers no passkey."""
    if Method.WEBAUTHN not in rec.methods or ctx.relying_party is None:
        return None
    if snapshot is None:
        snapshot = yield from call("store", Store.load_user, rec.user_id)
    if not snapshot.webauthn:
        return None
    lib = _lib()
    kind = (
        CeremonyKind.STEP_UP if rec.purpose is Purpose.REAUTHENTICATE else CeremonyKind.AUTHENTICATE
    )
    now = ctx.clock.now()
    pending = lib.authentication_options(
        ctx.relying_party,
        ctx.policy,
        ceremony_id=rec.id,
        challenge=ctx.random_bytes(lib.CHALLENGE_BYTES),
        now=now,
        user_id=rec.user_id,
        credentials=snapshot.webauthn,
        kind=kind,
        challenge_id=rec.id,
        actor_id=rec.actor_id,
        tenant=rec.tenant,
    )
    # Never longer than the challenge it answers.
    ceremony = replace(
        pending.ceremony, expires_at=min(pending.ceremony.expires_at, rec.expires_at)
    )
    yield from commit(ctx, [PutCeremony(ceremony)])
    options: str = pending.options_json
    return options


def with_options(challenge: Challenge, options: str | None) -> Challenge:
    return challenge if options is None else replace(challenge, passkey_options=options)


class PasskeyCheck:
    """The outcome of checking a passkey against a challenge, for
    `mfakit.service.challenges.verify` to commit."""

    __slots__ = ("clone", "counted", "credential", "reason")

    def __init__(
        self,
        *,
        reason: Reason | None,
        counted: bool,
        credential: WebAuthnCredentialRecord | None = None,
        clone: bool = False,
    ) -> None:
        self.reason = reason
        self.counted = counted
        """Whether the refusal counts as a wrong attempt (a forged or wrong
        answer does; a replayed or malformed one, which proves nothing, does not)."""
        self.credential = credential
        self.clone = clone


def verify_challenge_passkey(
    ctx: Context, rec: ChallengeRecord, credential_json: object, now: datetime
) -> UseCase[PasskeyCheck]:
    """Check a passkey's answer to a challenge's ceremony: take the ceremony
    once and verify the assertion (nothing saved here)."""
    answer = _credential_json(credential_json)
    rp = _rp(ctx)
    lib = _lib()
    credential_id = lib.assertion_credential_id(answer)
    if credential_id is None:
        return PasskeyCheck(reason=Reason.MALFORMED_CREDENTIAL, counted=False)
    kinds = frozenset({CeremonyKind.AUTHENTICATE, CeremonyKind.STEP_UP})
    ceremony, reason = yield from _take(ctx, rec.id, kinds, now)
    if ceremony is None or ceremony.user_id != rec.user_id or ceremony.challenge_id != rec.id:
        return PasskeyCheck(reason=reason or Reason.WRONG_CHALLENGE, counted=False)
    credential = yield from call("store", Store.get_credential, credential_id)
    outcome = lib.verify_authentication(
        rp, ctx.policy, ceremony, answer, credential=credential, now=now
    )
    if not outcome.ok:
        if outcome.reason is Reason.CLONED_CREDENTIAL and credential is not None:
            yield from _clone_detected(ctx, credential, now, refused=True)
        counted = outcome.reason not in (Reason.MALFORMED_CREDENTIAL, Reason.EXPIRED)
        return PasskeyCheck(reason=outcome.reason, counted=counted)
    return PasskeyCheck(
        reason=None, counted=False, credential=outcome.credential, clone=outcome.clone_detected
    )


def _clone_detected(
    ctx: Context, credential: WebAuthnCredentialRecord, now: datetime, *, refused: bool
) -> UseCase[None]:
    yield from audit(
        ctx,
        Action.PASSKEY_CLONE_DETECTED,
        credential.user_id,
        outcome=Outcome.REFUSED if refused else Outcome.SUCCESS,
        method=Method.WEBAUTHN,
        reason=Reason.CLONED_CREDENTIAL,
        details={"factor": credential.id[:8], "label": credential.name},
        at=now,
    )
    yield from notify(ctx, credential.user_id, "passkey_cloned", detail=credential.name)


def after_passkey_success(ctx: Context, check: PasskeyCheck, now: datetime) -> UseCase[None]:
    """What follows a committed passkey success: a flagged clone is audited and
    the user told."""
    if check.clone and check.credential is not None:
        yield from _clone_detected(ctx, check.credential, now, refused=False)


# --- passwordless sign-in -----------------------------------------------------------


def begin_passkey_sign_in(ctx: Context, *, conditional: bool = False) -> UseCase[PasskeyOptions]:
    """Start a sign-in with no username: any of the site's discoverable
    passkeys may answer (`conditional`: offered in the username field's
    autofill, and the ceremony lives `policy.webauthn_conditional_ttl`).
    Only when `policy.passkey_passwordless`."""
    if not isinstance(conditional, bool):
        raise InvalidInput("conditional", "must be a bool")
    rp = _rp(ctx)
    if not ctx.policy.passkey_passwordless:
        raise NotPermitted("the policy does not allow signing in with a passkey alone")
    lib = _lib()
    pending = lib.passwordless_options(
        rp,
        ctx.policy,
        ceremony_id=ctx.new_id(),
        challenge=ctx.random_bytes(lib.CHALLENGE_BYTES),
        now=ctx.clock.now(),
        conditional=conditional,
        tenant=ctx.tenant,
    )
    ceremony: CeremonyRecord = pending.ceremony
    yield from commit(ctx, [PutCeremony(ceremony)])
    return PasskeyOptions(
        ceremony_id=ceremony.id, options_json=pending.options_json, expires_at=ceremony.expires_at
    )


def finish_passkey_sign_in(
    ctx: Context, ceremony_id: str, credential_json: object
) -> UseCase[PasskeySignIn]:
    """Finish a passwordless sign-in: who signed in, or why not. Only a
    passkey registered for passwordless use, whose user handle is the one
    stored with it, is accepted; every other one gets `UNKNOWN_CREDENTIAL`."""
    check_id("ceremony_id", ceremony_id)
    answer = _credential_json(credential_json)
    rp = _rp(ctx)
    if not ctx.policy.passkey_passwordless:
        raise NotPermitted("the policy does not allow signing in with a passkey alone")
    lib = _lib()
    now = ctx.clock.now()
    credential_id = lib.assertion_credential_id(answer)
    if credential_id is None:
        return PasskeySignIn(ok=False, reason=Reason.MALFORMED_CREDENTIAL)
    ceremony, reason = yield from _take(
        ctx, ceremony_id, frozenset({CeremonyKind.PASSWORDLESS}), now
    )
    if ceremony is None:
        return PasskeySignIn(ok=False, reason=reason)
    credential = yield from call("store", Store.get_credential, credential_id)
    for attempt in range(RACES):
        if attempt:
            yield from backoff(ctx, attempt)
            credential = yield from call("store", Store.get_credential, credential_id)
        outcome = lib.verify_authentication(
            rp, ctx.policy, ceremony, answer, credential=credential, now=now
        )
        if not outcome.ok:
            owner = None if credential is None else credential.user_id
            if outcome.reason is Reason.CLONED_CREDENTIAL and credential is not None:
                yield from _clone_detected(ctx, credential, now, refused=True)
            elif outcome.reason is not Reason.UNKNOWN_CREDENTIAL and outcome.reason is not None:
                # An unknown passkey names nobody; another user's is not theirs to audit.
                yield from _refused(ctx, owner, outcome.reason, now, ceremony="passwordless")
            return PasskeySignIn(ok=False, reason=outcome.reason)
        updated: WebAuthnCredentialRecord = outcome.credential
        passed = event(
            ctx,
            Action.SIGN_IN_PASSKEY,
            updated.user_id,
            method=Method.WEBAUTHN,
            details={"factor": updated.id[:8], "label": updated.name},
            at=now,
        )
        if (yield from commit(ctx, [UpdateCredential(updated)], [passed])) is None:
            continue  # another sign-in used the passkey meanwhile: decide again
        # The cheap factors' failures are cleared, and a lock-out they reached
        # (which never stops a passkey: nothing can guess it) recovered (S34).
        yield from clear_after_passkey(ctx, updated.user_id, now, updated.name)
        if outcome.clone_detected:
            yield from _clone_detected(ctx, updated, now, refused=False)
        return PasskeySignIn(ok=True, user_id=updated.user_id, passkey=_info(updated))
    raise contended("the passkey")


# --- managing ------------------------------------------------------------------


def list_passkeys(ctx: Context, user_id: str) -> UseCase[tuple[PasskeyInfo, ...]]:
    """The user's passkeys and security keys, oldest first."""
    check_id("user_id", user_id)
    records = yield from call("store", Store.list_credentials, user_id)
    return tuple(_info(r) for r in records)


def rename_passkey(
    ctx: Context, actor: Actor, user_id: str, factor_id: str, name: str
) -> UseCase[PasskeyInfo]:
    """Give a passkey a new name (unique among the user's)."""
    check_id("user_id", user_id)
    check_id("factor_id", factor_id)
    checked = check_passkey_name(name)
    Actor.check(actor).require_may_act_for(user_id)
    records = yield from call("store", Store.list_credentials, user_id)
    rec = next((r for r in records if r.id == factor_id), None)
    if rec is None:
        raise NotFound("no such passkey for this user")
    if any(r.name == checked and r.id != factor_id for r in records):
        raise ConflictingState("the user already has a passkey with this name")
    if (yield from commit(ctx, [RenameCredential(user_id, factor_id, checked)])) is None:
        raise ConflictingState("the passkey was removed or another took this name meanwhile")
    yield from audit(
        ctx,
        Action.FACTOR_RENAMED,
        user_id,
        actor_id=actor.id,
        method=Method.WEBAUTHN,
        details={"factor": factor_id[:8], "label": checked},
    )
    return _info(rec.with_(name=checked))


def remove_passkey(
    ctx: Context, actor: Actor, user_id: str, factor_id: str, *, role: object = None
) -> UseCase[None]:
    """Remove a passkey. The user, or an admin from their own session, freshly
    re-authenticated (S20) and stepped up (S32); refused while it is the last
    factor of a role that requires 2FA (L5). Takes effect at once."""
    check_id("user_id", user_id)
    check_id("factor_id", factor_id)
    checked_role = check_role(role)
    Actor.check(actor).require_manager(user_id, "remove a user's factors")
    now = ctx.clock.now()
    actor.require_fresh(now, ctx.policy.reauth_max_age)
    factors = yield from load_factors(user_id)
    yield from require_step_up(ctx, actor, user_id, factors, now)
    rec = next((c for c in factors.webauthn if c.id == factor_id), None)
    if rec is None:
        raise NotFound("no such passkey for this user")
    others: list[Method] = [
        m for m in factors.methods(ctx) if m is not Method.BACKUP_CODE and m is not Method.WEBAUTHN
    ]
    if any(c.id != factor_id for c in factors.webauthn):
        others.append(Method.WEBAUTHN)
    require_factor_kept(ctx.policy.requires_2fa(checked_role), others, "keep another factor first")
    details = {"factor": factor_id[:8], "label": rec.name}
    target = notice_target(ctx, factors.contacts)
    notices, queued = queue(
        [notice(ctx, user_id, "factor_removed", target, now, detail=_detail(rec.name))]
    )
    writes: list[Write] = [
        DeleteCredential(user_id, factor_id),
        *orphan_codes_dropped(user_id, factors, passkey_id=factor_id),
    ]
    revoked_at = len(writes) + 1
    writes += [*security_writes(user_id, now), *queued]
    events = [
        event(
            ctx,
            Action.FACTOR_REMOVED,
            user_id,
            actor_id=actor.id,
            method=Method.WEBAUTHN,
            details=details,
            at=now,
        )
    ]
    if target is None:
        events.append(
            event(
                ctx,
                Action.REMOVED_WITHOUT_NOTICE,
                user_id,
                actor_id=actor.id,
                method=Method.WEBAUTHN,
                details=details,
                at=now,
            )
        )
    results = yield from commit(ctx, writes, events)
    if results is None:
        raise NotFound("no such passkey for this user")
    yield from devices_revoked(ctx, user_id, results[revoked_at], now)
    yield from deliver(ctx, notices)
