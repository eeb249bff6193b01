"""The facade methods shared by [`MFA`][mfakit.MFA] and
[`AsyncMFA`][mfakit.AsyncMFA], written once.

Every public method is one line: it names the use case and hands it to
`_run`, which the sync facade drives in the calling thread and the async
facade awaits. The async facade's typed signatures live in `aio.pyi`,
generated from this class (`python tools/make_async_stub.py`; a test fails
when it is out of date).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from .core.actor import Actor
from .core.audit import RequestContext
from .core.contacts import ContactKind
from .core.keys import Keyring, SecretKey
from .core.messages import Messages
from .core.methods import Method
from .core.policy import Policy
from .core.records import AuditRecord
from .core.results import (
    AnswerResult,
    AuthenticatorInfo,
    BackupCodes,
    Challenge,
    ContactChangeStart,
    Contacts,
    DeviceInfo,
    FactorInfo,
    KeyRotation,
    KeyUsage,
    PasskeyInfo,
    PasskeyOptions,
    PasskeyRegistration,
    PasskeySignIn,
    SendResult,
    SignInStart,
    StepUpStart,
    TotpConfirmation,
    TotpSetup,
    VerifyResult,
)
from .core.webauthn import RelyingParty
from .hashers import Hasher
from .ports.audit import AuditSink
from .ports.clock import Clock
from .ports.delivery import CodeProvider, EmailSender, SmsSender, VoiceSender
from .ports.policies import PolicyResolver
from .ports.storage import Store
from .service import (
    account,
    account_changes,
    authenticators,
    backup_codes,
    challenges,
    delivery,
    devices,
    enrolment,
    limits,
    notices,
    passkeys,
    retention,
    rotation,
    scope,
    sign_in,
)
from .service.context import Context
from .service.effects import UseCase
from .wiring import build_context, check_ports, choose_audit

if TYPE_CHECKING:  # not at run time: it loads the signature checkers
    from .delivery_status import DeliveryStatus

__all__ = ["Facade"]

T = TypeVar("T")


class Facade(abc.ABC):
    """Every use case of mfakit, as methods. Not used directly."""

    _ctx: Context
    _ports: dict[str, Any]

    def __init__(
        self,
        *,
        store: Store,
        secret_key: Keyring | SecretKey | Iterable[SecretKey],
        issuer: str,
        sms: SmsSender | CodeProvider | None = None,
        voice: VoiceSender | CodeProvider | None = None,
        email: EmailSender | CodeProvider | None = None,
        policy: Policy | None = None,
        policies: PolicyResolver | None = None,
        audit: AuditSink | None = None,
        notify: bool = True,
        clock: Clock | None = None,
        hasher: Hasher | None = None,
        messages: Messages | None = None,
        relying_party: RelyingParty | None = None,
    ) -> None:
        senders = {"sms": sms, "voice": voice, "email": email}
        audit = choose_audit(store, audit)  # type: ignore[assignment]  # the store may be the log
        self._ports = check_ports(store=store, senders=senders, audit=audit, policies=policies)
        self._ctx = build_context(
            secret_key=secret_key,
            issuer=issuer,
            policy=policy,
            clock=clock,
            hasher=hasher,
            senders=senders,
            messages=messages,
            audit=audit,
            policies=policies,
            notify=notify,
            store=store,
            relying_party=relying_party,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(issuer={self._ctx.issuer!r}, store={self._ports['store']!r})"

    def _use_case(
        self,
        use_case: Callable[..., UseCase[T]],
        args: tuple[object, ...],
        kwargs: dict[str, object],
        tenant: object,
        context: object,
    ) -> UseCase[T]:
        if tenant is None and context is None and not self._ctx.tenant_from_user:
            # the common case: no wrapper generator
            return use_case(self._ctx, *args, **kwargs)
        return scope.in_scope(self._ctx, tenant, context, use_case, *args, **kwargs)

    @abc.abstractmethod
    def _run(
        self,
        use_case: Callable[..., UseCase[T]],
        *args: object,
        tenant: object = None,
        context: object = None,
        **kwargs: object,
    ) -> T:
        """Drive the use case: in this thread (sync) or awaited (async)."""

    @property
    def policy(self) -> Policy:
        """The default policy (tenants may have their own)."""
        return self._ctx.policy

    def policy_for(self, tenant: str | None = None) -> Policy:
        """The policy in force for `tenant` (the default policy without one)."""
        return self._run(scope.policy_for, tenant=tenant)

    @property
    def messages(self) -> Messages:
        """Every text this instance sends, and the sentences to show:
        `mfa.messages.texts(locale).explain(result)`."""
        return self._ctx.messages

    @property
    def clock(self) -> Clock:
        """The clock mfakit decides time with; use it for `reauthenticated_at`
        so the host and mfakit agree (and tests can fake both)."""
        return self._ctx.clock

    @property
    def issuer(self) -> str:
        return self._ctx.issuer

    # --- authenticator apps ---------------------------------------------
    def begin_totp_setup(
        self,
        actor: Actor,
        user_id: str,
        *,
        account_name: str,
        label: str | None = None,
        secret: str | None = None,
        tenant: str | None = None,
        context: RequestContext | None = None,
    ) -> TotpSetup:
        """Start adding an authenticator app; confirm it with
        [`confirm_totp_setup`][mfakit.facade.Facade.confirm_totp_setup]. Needs the user personally,
        re-authenticated within `policy.reauth_max_age`."""
        return self._run(
            authenticators.begin_totp_setup,
            actor,
            user_id,
            account_name=account_name,
            label=label,
            secret=secret,
            tenant=tenant,
            context=context,
        )

    def confirm_totp_setup(
        self,
        actor: Actor,
        setup_id: str,
        code: str,
        *,
        tenant: str | None = None,
        context: RequestContext | None = None,
    ) -> TotpConfirmation:
        """Confirm a setup with the first code the app shows. The user's first
        factor comes with ten backup codes, returned once."""
        return self._run(
            authenticators.confirm_totp_setup,
            actor,
            setup_id,
            code,
            tenant=tenant,
            context=context,
        )

    def verify_totp(
        self,
        user_id: str,
        code: str,
        *,
        tenant: str | None = None,
        context: RequestContext | None = None,
    ) -> VerifyResult:
        """Check a code from one of the user's authenticator apps."""
        return self._run(authenticators.verify_totp, user_id, code, tenant=tenant, context=context)

    def list_authenticators(self, user_id: str) -> tuple[AuthenticatorInfo, ...]:
        """The user's confirmed authenticator apps."""
        return self._run(authenticators.list_authenticators, user_id)

    def rename_authenticator(
        self,
        actor: Actor,
        user_id: str,
        factor_id: str,
        label: str,
        *,
        context: RequestContext | None = None,
    ) -> AuthenticatorInfo:
        """Rename one of the user's authenticator apps."""
        return self._run(
            authenticators.rename_authenticator,
            actor,
            user_id,
            factor_id,
            label,
            context=context,
        )

    def remove_authenticator(
        self,
        actor: Actor,
        user_id: str,
        factor_id: str,
        *,
        role: str | None = None,
        tenant: str | None = None,
        context: RequestContext | None = None,
    ) -> None:
        """Remove one of the user's authenticator apps (needs re-authentication;
        refused if it would leave a user whose `role` requires 2FA without a factor)."""
        return self._run(
            authenticators.remove_authenticator,
            actor,
            user_id,
            factor_id,
            role=role,
            tenant=tenant,
            context=context,
        )

    # --- passkeys and security keys (WebAuthn) ----------------------------
    def begin_passkey_registration(
        self,
        actor: Actor,
        user_id: str,
        *,
        name: str,
        account_name: str | None = None,
        display_name: str | None = None,
        passwordless: bool = False,
        tenant: str | None = None,
        context: RequestContext | None = None,
    ) -> PasskeyOptions:
        """Start adding a passkey or security key named `name`: give
        `options_json` to `navigator.credentials.create` and post its answer
        to [finish_passkey_registration][mfakit.MFA.finish_passkey_registration].
        Needs the user personally, re-authenticated, and a step-up when they already have a factor.
        `passwordless` asks for a passkey that may also sign in alone."""
        return self._run(
            passkeys.begin_passkey_registration,
            actor,
            user_id,
            name=name,
            account_name=account_name,
            display_name=display_name,
            passwordless=passwordless,
            tenant=tenant,
            context=context,
        )

    def finish_passkey_registration(
        self,
        actor: Actor,
        ceremony_id: str,
        credential_json: str | dict[str, object],
        *,
        tenant: str | None = None,
        context: RequestContext | None = None,
    ) -> PasskeyRegistration:
        """Finish adding a passkey with the browser's answer (`credential.toJSON()`,
        as text or parsed). The user's first factor comes with backup codes."""
        return self._run(
            passkeys.finish_passkey_registration,
            actor,
            ceremony_id,
            credential_json,
            tenant=tenant,
            context=context,
        )

    def begin_passkey_sign_in(
        self,
        *,
        conditional: bool = False,
        tenant: str | None = None,
        context: RequestContext | None = None,
    ) -> PasskeyOptions:
        """Start a sign-in without a username or password (`policy.passkey_passwordless`);
        `conditional` offers passkeys in the username field's autofill."""
        return self._run(
            passkeys.begin_passkey_sign_in, conditional=conditional, tenant=tenant, context=context
        )

    def finish_passkey_sign_in(
        self,
        ceremony_id: str,
        credential_json: str | dict[str, object],
        *,
        tenant: str | None = None,
        context: RequestContext | None = None,
    ) -> PasskeySignIn:
        """Finish a passwordless sign-in: `user_id` on success."""
        return self._run(
            passkeys.finish_passkey_sign_in,
            ceremony_id,
            credential_json,
            tenant=tenant,
            context=context,
        )

    def list_passkeys(self, user_id: str) -> tuple[PasskeyInfo, ...]:
        """The user's passkeys and security keys, oldest first."""
        return self._run(passkeys.list_passkeys, user_id)

    def rename_passkey(
        self,
        actor: Actor,
        user_id: str,
        factor_id: str,
        name: str,
        *,
        context: RequestContext | None = None,
    ) -> PasskeyInfo:
        """Give one of the user's passkeys a new name (unique among theirs)."""
        return self._run(passkeys.rename_passkey, actor, user_id, factor_id, name, context=context)

    def remove_passkey(
        self,
        actor: Actor,
        user_id: str,
        factor_id: str,
        *,
        role: str | None = None,
        tenant: str | None = None,
        context: RequestContext | None = None,
    ) -> None:
        """Remove one of the user's passkeys (needs re-authentication and a
        step-up; refused if it would leave a user whose `role` requires 2FA
        without a factor)."""
        return self._run(
            passkeys.remove_passkey,
            actor,
            user_id,
            factor_id,
            role=role,
            tenant=tenant,
            context=context,
        )

    # --- backup codes -----------------------------------------------------
    def verify_backup_code(
        self,
        user_id: str,
        code: str,
        *,
        tenant: str | None = None,
        context: RequestContext | None = None,
    ) -> VerifyResult:
        """Accept one of the user's unused backup codes, once."""
        return self._run(
            backup_codes.verify_backup_code, user_id, code, tenant=tenant, context=context
        )

    def regenerate_backup_codes(
        self,
        actor: Actor,
        user_id: str,
        *,
        tenant: str | None = None,
        context: RequestContext | None = None,
    ) -> BackupCodes:
        """Issue a fresh set of backup codes; the old set stops working."""
        return self._run(
            backup_codes.regenerate_backup_codes, actor, user_id, tenant=tenant, context=context
        )

    def backup_codes_left(self, user_id: str) -> int:
        """How many unused backup codes the user has."""
        return self._run(backup_codes.backup_codes_left, user_id)

    # --- limits -------------------------------------------------------------
    def unlock_second_step(
        self,
        actor: Actor,
        user_id: str,
        *,
        tenant: str | None = None,
        context: RequestContext | None = None,
    ) -> None:
        """Lift a user's failure back-off or lock-out (an admin, re-authenticated)."""
        return self._run(limits.unlock_second_step, actor, user_id, tenant=tenant, context=context)

    # --- sign-in second step (L1) ---------------------------------------------
    def begin_sign_in(
        self,
        user_id: str,
        *,
        role: str | None = None,
        trust_token: str | None = None,
        locale: str | None = None,
        tenant: str | None = None,
        context: RequestContext | None = None,
    ) -> SignInStart:
        """After the password check: satisfied (no 2FA, or a trusted device),
        enrollment required, or a challenge (whose code is sent at once for
        SMS, voice and email)."""
        return self._run(
            sign_in.begin_sign_in,
            user_id,
            role=role,
            trust_token=trust_token,
            locale=locale,
            tenant=tenant,
            context=context,
        )

    def begin_step_up(
        self,
        actor: Actor,
        user_id: str,
        *,
        locale: str | None = None,
        tenant: str | None = None,
        context: RequestContext | None = None,
    ) -> StepUpStart:
        """Start proving a second factor again, before a call that removes or
        binds a factor raises [`StepUpRequired`][mfakit.errors.StepUpRequired] (S32). Returns
        `StepUpNotNeeded` for a user with no active factor, else a
        `StepUpChallenge` over the user's factors (backup codes count; SMS,
        voice and email send at once). A successful [`verify`][mfakit.facade.Facade.verify] returns
        the grant as `result.step_up`: pass it back in `Actor(step_up=...)`.
        For an admin acting for a member the codes go to the member."""
        return self._run(
            sign_in.begin_step_up,
            actor,
            user_id,
            locale=locale,
            tenant=tenant,
            context=context,
        )

    def verify(
        self,
        challenge_id: str,
        code: str | dict[str, object],
        *,
        trust_device: bool = False,
        device_label: str | None = None,
        context: RequestContext | None = None,
    ) -> VerifyResult:
        """Check a code (or a backup code) against a challenge; for
        `Method.WEBAUTHN`, `code` is the browser's answer to
        `challenge.passkey_options` (`credential.toJSON()`). With
        `trust_device` a successful sign-in returns `trust_token` and
        `trust_max_age` for a cookie. A successful sign-in or step-up returns
        the step-up grant as `step_up` (until `step_up_expires_at`)."""
        return self._run(
            challenges.verify,
            challenge_id,
            code,
            trust_device=trust_device,
            device_label=device_label,
            context=context,
        )

    def send(
        self,
        challenge_id: str,
        method: Method | str | None = None,
        *,
        locale: str | None = None,
        context: RequestContext | None = None,
    ) -> SendResult:
        """Make sure a code for the current method is on its way ("Text me the
        code"), or switch to `method` and send one. Moments after a code of
        this method went out (`begin_sign_in` sends one), nothing is sent
        again: `ok` with `already_sent` and `retry_after`. Later, a new
        code replaces the old."""
        return self._run(
            challenges.send_code,
            challenge_id,
            method=method,
            locale=locale,
            context=context,
        )

    def resend(
        self,
        challenge_id: str,
        *,
        locale: str | None = None,
        context: RequestContext | None = None,
    ) -> SendResult:
        """Send a new code for the current method ("I did not get it"); the old
        one stops working. Refused with `Reason.COOLDOWN` and `retry_after`
        moments after the last one."""
        return self._run(
            challenges.send_code, challenge_id, locale=locale, resend=True, context=context
        )

    def switch_method(
        self,
        challenge_id: str,
        method: Method | str,
        *,
        locale: str | None = None,
        context: RequestContext | None = None,
    ) -> SendResult:
        """Use another of the challenge's methods (SMS, voice, email send at once)."""
        return self._run(
            challenges.switch_method, challenge_id, method, locale=locale, context=context
        )

    def try_another_way(
        self, challenge_id: str, *, context: RequestContext | None = None
    ) -> Challenge:
        """Ask for the other methods; may require the security question first."""
        return self._run(challenges.try_another_way, challenge_id, context=context)

    def answer_security_question(
        self, challenge_id: str, answer: str, *, context: RequestContext | None = None
    ) -> AnswerResult:
        """Answer the security question to unlock the other methods."""
        return self._run(challenges.answer_question, challenge_id, answer, context=context)

    def cancel(self, challenge_id: str, *, context: RequestContext | None = None) -> Challenge:
        """Abandon a challenge."""
        return self._run(challenges.cancel, challenge_id, context=context)

    def get_challenge(self, challenge_id: str) -> Challenge:
        """A challenge as it stands (for re-rendering a page)."""
        return self._run(challenges.get_challenge, challenge_id)

    def record_delivery_status(
        self, status: DeliveryStatus, *, context: RequestContext | None = None
    ) -> bool:
        """Record a provider's delivery status (from
        `mfakit.delivery_status`, signature already checked) on the
        challenge whose code went out under `status.message_id`, and in the
        audit log; `get_challenge` then shows it (`delivery`). Returns
        whether a challenge matched. A status of an older message (replaced
        by a resend) or of an unknown one changes nothing; statuses arriving
        out of order never move a challenge back. Makes this facade a
        `DeliveryStatusSink`."""
        return self._run(delivery.record_delivery_status, status, context=context)

    # --- enrolling phones, emails and the security question (L3, F6) ----------
    def begin_phone_enrolment(
        self,
        actor: Actor,
        user_id: str,
        phone: str,
        *,
        method: Method | str = Method.SMS,
        locale: str | None = None,
        tenant: str | None = None,
        context: RequestContext | None = None,
    ) -> SendResult:
        """Send a code to a new phone number by SMS or voice to prove it is the
        user's; [`verify`][mfakit.facade.Facade.verify] with that code marks the number verified."""
        return self._run(
            enrolment.begin_contact_enrolment,
            actor,
            user_id,
            kind=ContactKind.PHONE,
            value=phone,
            method=method,
            locale=locale,
            tenant=tenant,
            context=context,
        )

    def begin_email_enrolment(
        self,
        actor: Actor,
        user_id: str,
        email: str,
        *,
        locale: str | None = None,
        tenant: str | None = None,
        context: RequestContext | None = None,
    ) -> SendResult:
        """Send a code to a new email address to prove it is the user's."""
        return self._run(
            enrolment.begin_contact_enrolment,
            actor,
            user_id,
            kind=ContactKind.EMAIL,
            value=email,
            method=Method.EMAIL,
            locale=locale,
            tenant=tenant,
            context=context,
        )

    @property
    def security_questions(self) -> tuple[str, ...]:
        """The questions users may choose from (`Policy.security_questions`)."""
        return self._ctx.policy.security_questions

    def get_security_question(self, user_id: str) -> str | None:
        """The security question the user chose (never the answer), or None."""
        return self._run(enrolment.get_security_question, user_id)

    def set_security_question(
        self,
        actor: Actor,
        user_id: str,
        question: str,
        answer: str,
        *,
        tenant: str | None = None,
        context: RequestContext | None = None,
    ) -> None:
        """Set the user's security question and answer (stored hashed)."""
        return self._run(
            enrolment.set_security_question,
            actor,
            user_id,
            question,
            answer,
            tenant=tenant,
            context=context,
        )

    # --- trusted devices (L2) ---------------------------------------------------
    def list_devices(self, user_id: str, *, tenant: str | None = None) -> tuple[DeviceInfo, ...]:
        """The user's trusted devices, newest first."""
        return self._run(devices.list_devices, user_id, tenant=tenant)

    def revoke_device(
        self,
        actor: Actor,
        user_id: str,
        device_id: str,
        *,
        context: RequestContext | None = None,
    ) -> None:
        """Stop trusting one device; its token fails from the next call on."""
        return self._run(devices.revoke_device, actor, user_id, device_id, context=context)

    def revoke_all_devices(
        self, actor: Actor, user_id: str, *, context: RequestContext | None = None
    ) -> int:
        """Stop trusting every device of the user; returns how many."""
        return self._run(devices.revoke_all_devices, actor, user_id, context=context)

    # --- changing the phone or email (L4) -----------------------------------------
    def begin_contact_change(
        self,
        actor: Actor,
        user_id: str,
        *,
        phone: str | None = None,
        email: str | None = None,
        tenant: str | None = None,
        context: RequestContext | None = None,
    ) -> ContactChangeStart:
        """Start changing the user's phone number or email. The returned
        challenge offers only channels verified before the change (never the
        new destination); [`send`][mfakit.facade.Facade.send] a code on one, then
        [`verify`][mfakit.facade.Facade.verify] it to apply the change. At most
        `policy.contact_changes_per_day` a day."""
        return self._run(
            account_changes.begin_contact_change,
            actor,
            user_id,
            phone=phone,
            email=email,
            tenant=tenant,
            context=context,
        )

    # --- managing 2FA (L5) -----------------------------------------------------------
    def list_factors(self, user_id: str, *, tenant: str | None = None) -> tuple[FactorInfo, ...]:
        """The user's authenticator apps, phone and email, with their state."""
        return self._run(account_changes.list_factors, user_id, tenant=tenant)

    def get_contacts(self, user_id: str, *, tenant: str | None = None) -> Contacts:
        """The user's phone and email in full, with whether each is verified, to
        show the account owner ("Your phone: +14155550142"). Show it to that user
        only: `list_factors` is the masked view for everyone else. The result's
        `repr` masks the values, so logging it leaks nothing."""
        return self._run(account_changes.get_contacts, user_id, tenant=tenant)

    def set_preferred_method(
        self,
        actor: Actor,
        user_id: str,
        method: Method | str | None,
        *,
        tenant: str | None = None,
        context: RequestContext | None = None,
    ) -> None:
        """Choose the method sign-in starts with (None: the default order)."""
        return self._run(
            account_changes.set_preferred_method,
            actor,
            user_id,
            method,
            tenant=tenant,
            context=context,
        )

    def set_locale(
        self,
        actor: Actor,
        user_id: str,
        locale: str | None,
        *,
        tenant: str | None = None,
        context: RequestContext | None = None,
    ) -> str | None:
        """Store the user's language (`"de"`, `"pt-BR"`; None: the default
        locale). Codes and security notices sent without a `locale=` of their
        own are written in it. The locale must have texts (see
        `Messages.locales`), else `InvalidInput`. Returns the stored tag,
        normalized (`"pt-br"`)."""
        return self._run(
            account_changes.set_locale, actor, user_id, locale, tenant=tenant, context=context
        )

    def remove_contact(
        self,
        actor: Actor,
        user_id: str,
        kind: ContactKind | str,
        *,
        role: str | None = None,
        tenant: str | None = None,
        context: RequestContext | None = None,
    ) -> None:
        """Remove the user's phone or email (needs re-authentication; refused if
        it would leave a user whose role requires 2FA without a factor)."""
        return self._run(
            account_changes.remove_contact,
            actor,
            user_id,
            kind,
            role=role,
            tenant=tenant,
            context=context,
        )

    def disable_two_factor(
        self,
        actor: Actor,
        user_id: str,
        *,
        role: str | None = None,
        tenant: str | None = None,
        context: RequestContext | None = None,
    ) -> None:
        """Turn 2FA off (needs re-authentication; refused while the policy
        requires it for `role`). Enrolling a factor turns it on again."""
        return self._run(
            account_changes.disable_two_factor,
            actor,
            user_id,
            role=role,
            tenant=tenant,
            context=context,
        )

    # --- account events the host reports (L6) ------------------------------------
    def password_changed(
        self, actor: Actor, user_id: str, *, context: RequestContext | None = None
    ) -> None:
        """Call after the user's password changed (or was reset): trusted devices
        are revoked, the event recorded and the user notified. 2FA stays on."""
        return self._run(account.password_changed, actor, user_id, context=context)

    # --- retention ------------------------------------------------------------------
    def purge_expired(self, *, older_than: timedelta = retention.MIN_AGE, batch: int = 1000) -> int:
        """Delete expired challenges, stale counters, revoked or expired devices,
        used backup codes, abandoned setups and undelivered notices older than `older_than` (at
        least a day), `batch` rows of each kind per transaction; returns how
        many went. Audit events kept in the store go too once older than
        `Policy.audit_retention_days` (kept forever by default). Run it from a
        scheduled job (hourly or daily). A lock-out is never lifted by it."""
        return self._run(retention.purge_expired, older_than=older_than, batch=batch)

    # --- the notice outbox (S21) ------------------------------------------------------
    def deliver_pending_notices(self, *, limit: int = 100) -> int:
        """Send up to `limit` security notices left in the outbox (a send
        that failed, or a process stopped between a change and its notice);
        returns how many were delivered. Run it from a scheduled job every few
        minutes; several may run at once (each notice is claimed first)."""
        return self._run(notices.deliver_pending_notices, limit=limit)

    # --- key rotation -------------------------------------------------------------
    def rotate_keys(
        self, *, batch: int = 100, progress: Callable[[KeyRotation], object] | None = None
    ) -> KeyRotation:
        """Re-seal every authenticator secret sealed under an older key with the
        keyring's primary key, `batch` records a unit of work, calling
        `progress` with the running totals after each batch. Safe while the
        application serves traffic (each record is re-sealed by a
        compare-and-set on its old ciphertext, nothing else of it changes) and
        resumable (run it again: it finds what is left). Then
        [unused_keys][mfakit.MFA.unused_keys] says which old keys can leave the keyring."""
        return self._run(rotation.rotate_keys, batch=batch, progress=progress)

    def key_usage(self) -> KeyUsage:
        """How many stored values still need each key: authenticator secrets,
        security answers (re-keyed when their user next answers right) and
        open challenges; which old keys nothing needs; which ids the keyring
        lacks."""
        return self._run(rotation.key_usage)

    def unused_keys(self) -> tuple[str, ...]:
        """The ids of the older keys of the keyring that no stored value needs
        any more: drop them from the keyring (trusted-device and step-up
        tokens they signed stop working then)."""
        return self._run(rotation.unused_keys)

    # --- audit (L8) ---------------------------------------------------------------
    def list_events(
        self, user_id: str, *, limit: int = 50, before: str | None = None
    ) -> list[AuditRecord]:
        """The user's recent security events, newest first; for the next page
        pass `before=page[-1].id`."""
        return self._run(scope.list_events, user_id, limit=limit, before=before)
