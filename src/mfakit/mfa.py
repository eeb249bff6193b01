"""`MFA`: the synchronous facade over mfakit's use cases.

Its methods (in [`Facade`][mfakit.facade.Facade]) run each use case from
`mfakit.service` with `run_sync`, in the
calling thread. Every call takes an optional `context`
([`RequestContext`][mfakit.RequestContext]: IP, user agent) recorded in the audit trail;
calls that start something take an optional `tenant` whose policy applies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from .facade import Facade
from .service.effects import UseCase, run_sync

__all__ = ["MFA"]

T = TypeVar("T")


class MFA(Facade):
    """Two-factor authentication for one application.

    Example:

    ```python
    mfa = MFA(store=MemoryStore(), secret_key=os.environ["MFA_SECRET_KEY"],
              issuer="Aesthetix CRM")
    setup = mfa.begin_totp_setup(Actor.user("u1", reauthenticated_at=now),
                                 "u1", account_name="alice@clinic.example")
    ```

    `secret_key` is a random key from `mfakit.generate_secret_key`
    (or 32+ random bytes; a list of keys, newest first, or a
    [`Keyring`][mfakit.Keyring]); `issuer` is the name users see in
    their authenticator app and in messages. `sms`, `voice` and `email`
    are senders ([`mfakit.ports.delivery`][mfakit.ports.delivery]); a method without a sender is
    simply not offered. `audit` receives every security event (default: the
    store when it is an audit log, as an SQL store is, else the
    `mfakit.audit` logger; pass a [`MemoryAuditLog`][mfakit.adapters.MemoryAuditLog]
    to list them). `policies` maps tenants to policies.
    `notify=False` turns the security notices (S21) off. `messages`
    replaces or translates the texts.
    """

    def _run(
        self,
        use_case: Callable[..., UseCase[T]],
        *args: object,
        tenant: object = None,
        context: object = None,
        **kwargs: object,
    ) -> T:
        return run_sync(self._use_case(use_case, args, kwargs, tenant, context), self._ports)
