"""The one exception tree of mfakit.

Expected outcomes (a wrong code, an expired challenge, a rate limit) are *values*
with a reason, never exceptions. Exceptions mean misuse, a refusal the caller must
handle, or a failure outside mfakit::

    MfaError                      root: catch this to catch everything mfakit raises
    ├── InvalidInput              malformed argument, a bad Policy field (also a ValueError)
    ├── NotPermitted              the actor may not do this
    │   ├── ReauthenticationRequired   needs a fresh password re-entry (S20)
    │   └── StepUpRequired        needs a second factor proven moments ago (S32)
    ├── NotFound                  no such setup, factor or challenge (also a LookupError)
    ├── ConflictingState          the object is not in a state that allows this
    ├── ConfigurationError        bad keys, senders or wiring; an undecryptable secret
    ├── DeliveryError             an SMS, call or email could not be sent; resend later
    └── StorageError              the storage adapter failed; nothing was applied

Messages never contain a code, a secret, an answer or a token: they name the
*field* that was wrong and why, and carry that as attributes for programs.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "ConflictingState",
    "DeliveryError",
    "InvalidInput",
    "MfaError",
    "NotFound",
    "NotPermitted",
    "ReauthenticationRequired",
    "StepUpRequired",
    "StorageError",
]


class MfaError(Exception):
    """Root of every exception mfakit raises on purpose."""


class InvalidInput(MfaError, ValueError):
    """An argument is malformed: wrong type, size, characters or range.

    ``field`` names the argument; ``problem`` says what is wrong with it. The
    offending value itself is never included, since it may be a secret.
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class NotPermitted(MfaError):
    """The actor may not perform this operation (e.g. an admin setting up a
    team member's authenticator, or an impersonating admin)."""


class ReauthenticationRequired(NotPermitted):
    """The operation needs the actor to have re-entered their password within
    the policy's freshness window (``Policy.reauth_max_age``)."""


class StepUpRequired(NotPermitted):
    """The operation removes or binds a factor of a user who has one: it needs
    a step-up grant (``Actor.step_up``) for this user and this actor, issued
    within ``Policy.step_up_seconds`` (S32). Start one with
    :meth:`MFA.begin_step_up`. The message never says why a grant was refused."""


class NotFound(MfaError, LookupError):
    """The named object (setup, factor, challenge) does not exist for this user,
    or no longer exists (expired, removed)."""


class ConflictingState(MfaError):
    """The object exists but its state does not allow the operation, e.g.
    confirming a setup that is already confirmed."""


class ConfigurationError(MfaError):
    """mfakit was given unusable configuration: a short secret key, a store or
    sender lacking methods, a keyring without the key that sealed a secret.
    (A bad :class:`~mfakit.Policy` field raises :class:`InvalidInput` naming it.)"""


class DeliveryError(MfaError):
    """A sender failed to deliver a code. The challenge is left as it was: the
    user's attempts are untouched and a resend may be tried.

    Adapters raise it at their edge, chaining the vendor exception as ``__cause__``;
    the message names the channel, never the code. ``challenge_id`` names the
    challenge whose code failed to go out, when there is one, so the app can
    offer a resend or another method.
    """

    challenge_id: str | None = None


class StorageError(MfaError):
    """The storage adapter failed. The operation was not applied.

    Adapters raise it at their edge, chaining the vendor exception as ``__cause__``.
    """
