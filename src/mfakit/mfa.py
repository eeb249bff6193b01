"""``MFA``: the synchronous facade over mfakit's use cases.

Each method validates its arguments, then runs the use case from
:mod:`mfakit.service` with :func:`~mfakit.service.effects.run_sync`. It holds
no business logic of its own, so the async facade offers the same behaviour.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from .core.actor import Actor
from .core.contacts import ContactKind
from .core.keys import Keyring, SecretKey
from .core.messages import Messages
from .core.methods import Method
from .core.otpauth import MAX_NAME_LENGTH
from .core.policy import Policy
from .core.results import (
    AnswerResult,
    AuthenticatorInfo,
    BackupCodes,
    Challenge,
    SendResult,
    SignInStart,
    TotpConfirmation,
    TotpSetup,
    VerifyResult,
)
from .core.validation import check_text
from .errors import ConfigurationError, InvalidInput
from .hashers import Argon2Hasher, Hasher
from .ports.clock import Clock, SystemClock
from .ports.delivery import EmailSender, SmsSender, VoiceSender
from .ports.storage import Store
from .service import authenticators, backup_codes, challenges, enrolment, limits, sign_in
from .service.context import Context
from .service.effects import UseCase, run_sync

__all__ = ["MFA"]

T = TypeVar("T")

_STORE_METHODS = tuple(n for n in vars(Store) if not n.startswith("_"))
_SENDERS = (
    ("sms", "send_sms", Method.SMS),
    ("voice", "send_voice", Method.VOICE),
    ("email", "send_email", Method.EMAIL),
)


def build_context(
    *,
    secret_key: Keyring | SecretKey | Iterable[SecretKey],
    issuer: str,
    policy: Policy | None,
    clock: Clock | None,
    hasher: Hasher | None,
    senders: Mapping[str, object],
    messages: Messages | None,
) -> Context:
    """Validate the configuration shared by the sync and async facades."""
    if ":" in str(issuer):
        raise ConfigurationError("issuer must not contain ':'")
    try:
        issuer = check_text("issuer", issuer, max_length=MAX_NAME_LENGTH)
    except InvalidInput as exc:
        raise ConfigurationError(str(exc)) from None
    if policy is not None and not isinstance(policy, Policy):
        raise ConfigurationError("policy must be an mfakit.Policy")
    if clock is not None and not isinstance(clock, Clock):
        raise ConfigurationError("clock must have a now() method")
    if hasher is not None and not isinstance(hasher, Hasher):
        raise ConfigurationError("hasher must implement mfakit.hashers.Hasher")
    channels = set()
    for port, method_name, method in _SENDERS:
        sender = senders.get(port)
        if sender is None:
            continue
        if not callable(getattr(sender, method_name, None)):
            raise ConfigurationError(f"the {port} sender must have a {method_name}() method")
        channels.add(method)
    if messages is not None and not isinstance(messages, Messages):
        raise ConfigurationError("messages must be an mfakit.Messages")
    return Context(
        channels=frozenset(channels),
        messages=messages if messages is not None else Messages(),
        policy=policy if policy is not None else Policy(),
        keyring=Keyring.coerce(secret_key),
        hasher=hasher if hasher is not None else Argon2Hasher(),
        clock=clock if clock is not None else SystemClock(),
        issuer=issuer,
    )


class MFA:
    """Two-factor authentication for one application.

    Example::

        mfa = MFA(store=MemoryStore(), secret_key=os.environ["MFA_SECRET_KEY"],
                  issuer="Aesthetix CRM")
        setup = mfa.begin_totp_setup(Actor.user("u1", reauthenticated_at=now),
                                     "u1", account_name="alice@clinic.example")

    ``secret_key`` is at least 32 bytes of secret (or a list of them, newest
    first, or a :class:`~mfakit.Keyring`); ``issuer`` is the name users see in
    their authenticator app and in messages. ``sms``, ``voice`` and ``email``
    are senders (:mod:`mfakit.ports.delivery`); a method without a sender is
    simply not offered. ``messages`` replaces or translates the texts.
    """

    def __init__(
        self,
        *,
        store: Store,
        secret_key: Keyring | SecretKey | Iterable[SecretKey],
        issuer: str,
        sms: SmsSender | None = None,
        voice: VoiceSender | None = None,
        email: EmailSender | None = None,
        policy: Policy | None = None,
        clock: Clock | None = None,
        hasher: Hasher | None = None,
        messages: Messages | None = None,
    ) -> None:
        missing = [m for m in _STORE_METHODS if not callable(getattr(store, m, None))]
        if missing:
            raise ConfigurationError(f"store lacks storage methods: {', '.join(missing)}")
        senders = {"sms": sms, "voice": voice, "email": email}
        self._ctx = build_context(
            secret_key=secret_key,
            issuer=issuer,
            policy=policy,
            clock=clock,
            hasher=hasher,
            senders=senders,
            messages=messages,
        )
        self._ports: dict[str, Any] = {"store": store, **senders}

    def __repr__(self) -> str:
        return f"MFA(issuer={self._ctx.issuer!r}, store={self._ports['store']!r})"

    @property
    def policy(self) -> Policy:
        return self._ctx.policy

    @property
    def issuer(self) -> str:
        return self._ctx.issuer

    def _run(self, use_case: UseCase[T]) -> T:
        return run_sync(use_case, self._ports)

    # --- authenticator apps ---------------------------------------------
    def begin_totp_setup(
        self,
        actor: Actor,
        user_id: str,
        *,
        account_name: str,
        label: str | None = None,
        secret: str | None = None,
    ) -> TotpSetup:
        """Start adding an authenticator app; confirm it with
        :meth:`confirm_totp_setup`. Needs the user personally, re-authenticated
        within ``policy.reauth_max_age``."""
        return self._run(
            authenticators.begin_totp_setup(
                self._ctx,
                actor,
                user_id,
                account_name=account_name,
                label=label,
                secret=secret,
            )
        )

    def confirm_totp_setup(self, actor: Actor, setup_id: str, code: str) -> TotpConfirmation:
        """Confirm a setup with the first code the app shows."""
        return self._run(authenticators.confirm_totp_setup(self._ctx, actor, setup_id, code))

    def verify_totp(self, user_id: str, code: str) -> VerifyResult:
        """Check a code from one of the user's authenticator apps."""
        return self._run(authenticators.verify_totp(self._ctx, user_id, code))

    def list_authenticators(self, user_id: str) -> tuple[AuthenticatorInfo, ...]:
        """The user's confirmed authenticator apps."""
        return self._run(authenticators.list_authenticators(self._ctx, user_id))

    def rename_authenticator(
        self, actor: Actor, user_id: str, factor_id: str, label: str
    ) -> AuthenticatorInfo:
        """Rename one of the user's authenticator apps."""
        return self._run(
            authenticators.rename_authenticator(self._ctx, actor, user_id, factor_id, label)
        )

    def remove_authenticator(self, actor: Actor, user_id: str, factor_id: str) -> None:
        """Remove one of the user's authenticator apps (needs re-authentication)."""
        return self._run(authenticators.remove_authenticator(self._ctx, actor, user_id, factor_id))

    # --- backup codes -----------------------------------------------------
    def verify_backup_code(self, user_id: str, code: str) -> VerifyResult:
        """Accept one of the user's unused backup codes, once."""
        return self._run(backup_codes.verify_backup_code(self._ctx, user_id, code))

    def regenerate_backup_codes(self, actor: Actor, user_id: str) -> BackupCodes:
        """Issue a fresh set of backup codes; the old set stops working."""
        return self._run(backup_codes.regenerate_backup_codes(self._ctx, actor, user_id))

    def backup_codes_left(self, user_id: str) -> int:
        """How many unused backup codes the user has."""
        return self._run(backup_codes.backup_codes_left(self._ctx, user_id))

    # --- limits -------------------------------------------------------------
    def unlock_second_step(self, actor: Actor, user_id: str) -> None:
        """Lift a user's failure back-off or lock-out (an admin, re-authenticated)."""
        return self._run(limits.unlock_second_step(self._ctx, actor, user_id))

    # --- sign-in second step (L1) ---------------------------------------------
    def begin_sign_in(
        self,
        user_id: str,
        *,
        role: str | None = None,
        trust_token: str | None = None,
        locale: str | None = None,
    ) -> SignInStart:
        """After the password check: satisfied, enrollment required, or a
        challenge (whose code is sent at once for SMS, voice and email)."""
        return self._run(
            sign_in.begin_sign_in(
                self._ctx, user_id, role=role, trust_token=trust_token, locale=locale
            )
        )

    def verify(self, challenge_id: str, code: str) -> VerifyResult:
        """Check a code (or a backup code) against a challenge."""
        return self._run(challenges.verify(self._ctx, challenge_id, code))

    def send(
        self, challenge_id: str, method: Method | str | None = None, *, locale: str | None = None
    ) -> SendResult:
        """Send a code for the current method (a resend, after the cooldown),
        or switch to ``method`` and send one."""
        return self._run(
            challenges.send_code(
                self._ctx,
                challenge_id,
                method=None if method is None else _method(method),
                locale=locale,
            )
        )

    def resend(self, challenge_id: str, *, locale: str | None = None) -> SendResult:
        """Send a new code for the current method; the old one stops working."""
        return self.send(challenge_id, locale=locale)

    def switch_method(
        self, challenge_id: str, method: Method | str, *, locale: str | None = None
    ) -> SendResult:
        """Use another of the challenge's methods (SMS, voice, email send at once)."""
        return self._run(challenges.switch_method(self._ctx, challenge_id, method, locale=locale))

    def try_another_way(self, challenge_id: str) -> Challenge:
        """Ask for the other methods; may require the security question first."""
        return self._run(challenges.try_another_way(self._ctx, challenge_id))

    def answer_security_question(self, challenge_id: str, answer: str) -> AnswerResult:
        """Answer the security question to unlock the other methods."""
        return self._run(challenges.answer_question(self._ctx, challenge_id, answer))

    def cancel(self, challenge_id: str) -> Challenge:
        """Abandon a challenge."""
        return self._run(challenges.cancel(self._ctx, challenge_id))

    def get_challenge(self, challenge_id: str) -> Challenge:
        """A challenge as it stands (for re-rendering a page)."""
        return self._run(challenges.get_challenge(self._ctx, challenge_id))

    # --- enrolling phones, emails and the security question (L3, F6) ----------
    def begin_phone_enrolment(
        self,
        actor: Actor,
        user_id: str,
        phone: str,
        *,
        method: Method | str = Method.SMS,
        locale: str | None = None,
    ) -> SendResult:
        """Send a code to a new phone number by SMS or voice to prove it is the
        user's; :meth:`verify` with that code marks the number verified."""
        via = _method(method)
        if via not in (Method.SMS, Method.VOICE):
            raise InvalidInput("method", "a phone is proven by sms or voice")
        return self._run(
            enrolment.begin_contact_enrolment(
                self._ctx,
                actor,
                user_id,
                kind=ContactKind.PHONE,
                value=phone,
                method=via,
                locale=locale,
            )
        )

    def begin_email_enrolment(
        self, actor: Actor, user_id: str, email: str, *, locale: str | None = None
    ) -> SendResult:
        """Send a code to a new email address to prove it is the user's."""
        return self._run(
            enrolment.begin_contact_enrolment(
                self._ctx,
                actor,
                user_id,
                kind=ContactKind.EMAIL,
                value=email,
                method=Method.EMAIL,
                locale=locale,
            )
        )

    @property
    def security_questions(self) -> tuple[str, ...]:
        """The questions users may choose from (``Policy.security_questions``)."""
        return self._ctx.policy.security_questions

    def set_security_question(self, actor: Actor, user_id: str, question: str, answer: str) -> None:
        """Set the user's security question and answer (stored hashed)."""
        return self._run(
            enrolment.set_security_question(self._ctx, actor, user_id, question, answer)
        )


def _method(value: object) -> Method:
    try:
        return Method(value)
    except (ValueError, TypeError):
        raise InvalidInput("method", "is not a known method") from None
