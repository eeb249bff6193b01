"""``MFA``: the synchronous facade over mfakit's use cases.

Each method validates its arguments, then runs the use case from
:mod:`mfakit.service` with :func:`~mfakit.service.effects.run_sync`. It holds
no business logic of its own, so the async facade offers the same behaviour.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from .core.actor import Actor
from .core.keys import Keyring, SecretKey
from .core.otpauth import MAX_NAME_LENGTH
from .core.policy import Policy
from .core.results import AuthenticatorInfo, BackupCodes, TotpConfirmation, TotpSetup, VerifyResult
from .core.validation import check_text
from .errors import ConfigurationError, InvalidInput
from .hashers import Argon2Hasher, Hasher
from .ports.clock import Clock, SystemClock
from .ports.storage import Store
from .service import authenticators, backup_codes, limits
from .service.context import Context
from .service.effects import UseCase, run_sync

__all__ = ["MFA"]

T = TypeVar("T")

_STORE_METHODS = tuple(n for n in vars(Store) if not n.startswith("_"))


def build_context(
    *,
    secret_key: Keyring | SecretKey | Iterable[SecretKey],
    issuer: str,
    policy: Policy | None,
    clock: Clock | None,
    hasher: Hasher | None,
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
    return Context(
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
    their authenticator app.
    """

    def __init__(
        self,
        *,
        store: Store,
        secret_key: Keyring | SecretKey | Iterable[SecretKey],
        issuer: str,
        policy: Policy | None = None,
        clock: Clock | None = None,
        hasher: Hasher | None = None,
    ) -> None:
        missing = [m for m in _STORE_METHODS if not callable(getattr(store, m, None))]
        if missing:
            raise ConfigurationError(f"store lacks storage methods: {', '.join(missing)}")
        self._ctx = build_context(
            secret_key=secret_key, issuer=issuer, policy=policy, clock=clock, hasher=hasher
        )
        self._ports: dict[str, Any] = {"store": store}

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
