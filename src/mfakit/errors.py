"""The one exception tree of mfakit.

Expected outcomes (a wrong code, an expired challenge, a rate limit) are *values*
with a reason, never exceptions. Exceptions mean misuse, a refusal the caller must
handle, or a failure outside mfakit:

```text
MfaError                      root: catch this to catch everything mfakit raises
├── InvalidInput              malformed argument, a bad Policy field (also a ValueError)
├── NotPermitted              the actor may not do this
│   ├── ReauthenticationRequired   needs a fresh password re-entry (S20)
│   ├── CallbackRejected      a provider callback whose signature does not verify
│   └── StepUpRequired        needs a second factor proven moments ago (S32)
├── NotFound                  no such setup, factor or challenge (also a LookupError)
├── ConflictingState          the object is not in a state that allows this
├── ConfigurationError        bad keys, senders or wiring; an undecryptable secret
├── DeliveryError             an SMS, call or email could not be sent (reason, retryable,
│   │                         unusable_destination say what to do next)
│   ├── InvalidDestination    not a valid (mobile) number or address: ask for another
│   ├── DestinationOptedOut   the recipient refuses messages (STOP, barred): ask for another
│   ├── ProviderRateLimited   the provider throttled the request; a later resend can work
│   ├── ProviderAuthError     the provider refused the credentials (a configuration problem)
│   └── ProviderError         any other refusal or failure of the provider
│       └── DeliveryUncertain the request may have gone out (a read timeout): do not resend
└── StorageError              the storage adapter failed; nothing was applied
```

Messages never contain a code, a secret, an answer or a token: they name the
*field* that was wrong and why, and carry that as attributes for programs.
"""

from __future__ import annotations

__all__ = [
    "CallbackRejected",
    "ConfigurationError",
    "ConflictingState",
    "DeliveryError",
    "DeliveryUncertain",
    "DestinationOptedOut",
    "InvalidDestination",
    "InvalidInput",
    "MfaError",
    "NotFound",
    "NotPermitted",
    "ProviderAuthError",
    "ProviderError",
    "ProviderRateLimited",
    "ReauthenticationRequired",
    "StepUpRequired",
    "StorageError",
]


class MfaError(Exception):
    """Root of every exception mfakit raises on purpose."""


class InvalidInput(MfaError, ValueError):
    """An argument is malformed: wrong type, size, characters or range.

    `field` names the argument; `problem` says what is wrong with it. The
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
    the policy's freshness window (`Policy.reauth_max_age`)."""


class CallbackRejected(NotPermitted):
    """A delivery-status callback ([`mfakit.delivery_status`][mfakit.delivery_status]) was refused:
    its signature is missing or wrong, its certificate is not the provider's,
    or it names a topic this app does not expect. Answer the request with 403
    and record nothing from it."""


class StepUpRequired(NotPermitted):
    """The operation removes or binds a factor of a user who has one: it needs
    a step-up grant (`Actor.step_up`) for this user and this actor, issued
    within `Policy.step_up_seconds` (S32). Start one with
    [`MFA.begin_step_up`][mfakit.facade.Facade.begin_step_up]. The message never says why a grant
    was refused."""


class NotFound(MfaError, LookupError):
    """The named object (setup, factor, challenge) does not exist for this user,
    or no longer exists (expired, removed)."""


class ConflictingState(MfaError):
    """The object exists but its state does not allow the operation, e.g.
    confirming a setup that is already confirmed."""


class ConfigurationError(MfaError):
    """mfakit was given unusable configuration: a short secret key, a store or
    sender lacking methods, a keyring without the key that sealed a secret.
    (A bad [`Policy`][mfakit.Policy] field raises [`InvalidInput`][mfakit.errors.InvalidInput]
    naming it.)"""


class DeliveryError(MfaError):
    """A sender failed to deliver a code. The challenge is left as it was: the
    user's attempts are untouched and a resend may be tried.

    Adapters raise it at their edge, chaining the vendor exception as `__cause__`;
    the message names the channel, never the code nor the full destination.
    `challenge_id` names the challenge whose code failed to go out, when there
    is one, so the app can offer a resend or another method.

    What the app can do next is carried as attributes, the same on every
    subclass (a subclass only sets other defaults):

    * `reason`: a stable, machine-readable word (`"invalid_destination"`,
      `"opted_out"`, `"rate_limited"`, `"provider_auth"`,
      `"provider_error"`, `"outcome_unknown"`, ...), for the app's own text;
    * `retryable`: a resend later may succeed (the provider throttled or was
      unreachable before it got the request);
    * `unusable_destination`: this number or address will not work (not a
      mobile number, opted out): ask the user for another one;
    * `provider` and `provider_code`: the vendor's name and its error code
      (e.g. `"twilio"`, `"21610"`), for the app's logs.
    """

    challenge_id: str | None = None
    reason: str = "delivery_failed"
    retryable: bool = False
    unusable_destination: bool = False

    def __init__(
        self,
        message: str = "the message could not be sent",
        *,
        reason: str | None = None,
        retryable: bool | None = None,
        unusable_destination: bool | None = None,
        provider: str | None = None,
        provider_code: str | None = None,
    ) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        if retryable is not None:
            self.retryable = retryable
        if unusable_destination is not None:
            self.unusable_destination = unusable_destination
        self.provider = provider
        self.provider_code = provider_code


class InvalidDestination(DeliveryError):
    """The number or address cannot receive this message: malformed for the
    provider, not a mobile number (SMS to a landline), an unknown or
    deactivated number (Twilio 21211, 21614; SNS InvalidParameter on the
    number; Vonage 6, 33). Asking the user for another one is the way out."""

    reason = "invalid_destination"
    unusable_destination = True


class DestinationOptedOut(DeliveryError):
    """The recipient told the provider to stop messages (replied STOP; Twilio
    21610) or the number is barred (Vonage 7). Nothing mfakit sends will get
    through until the user opts in again with the provider: offer another
    method and say so."""

    reason = "opted_out"
    unusable_destination = True


class ProviderRateLimited(DeliveryError):
    """The provider throttled the request without sending it (Twilio 20429 or
    HTTP 429, SNS Throttled, Vonage 1). A resend a little later may work."""

    reason = "rate_limited"
    retryable = True


class ProviderAuthError(DeliveryError):
    """The provider refused the credentials or the account may not do this
    (Twilio 20003, SNS AuthorizationError, Vonage 4): a configuration problem
    for the operator, not something the user can fix."""

    reason = "provider_auth"


class ProviderError(DeliveryError):
    """Any other refusal or failure of the provider (a rejected sender, a
    sandbox restriction such as SES's MessageRejected, a server error, a
    network failure). `reason` narrows it down when the adapter knows more."""

    reason = "provider_error"


class DeliveryUncertain(ProviderError):
    """The request reached the provider but no answer came back in time (a
    read timeout, a dropped connection): the message may have gone out.
    Adapters never retry this one, so that a second code is never sent; the
    app should let the user wait for the message before asking for another."""

    reason = "outcome_unknown"


class StorageError(MfaError):
    """The storage adapter failed. The operation was not applied.

    Adapters raise it at their edge, chaining the vendor exception as `__cause__`.
    """
