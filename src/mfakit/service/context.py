"""`Context`: everything a use case needs that is not a port call."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ..core.audit import RequestContext
from ..core.keys import Keyring
from ..core.messages import Messages
from ..core.methods import Method
from ..core.policy import Policy
from ..core.webauthn import RelyingParty
from ..hashers import Hasher
from ..ports.clock import Clock

__all__ = ["Context"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """Configuration shared by every use case of one `MFA` instance.

    `random_bytes` is the one source of randomness (S2): `secrets.token_bytes`.
    """

    policy: Policy
    keyring: Keyring
    hasher: Hasher
    clock: Clock
    issuer: str
    channels: frozenset[Method] = frozenset()
    """Out-of-band methods a sender (or a code provider) is configured for."""
    code_providers: frozenset[Method] = frozenset()
    """Channels configured with a [`CodeProvider`][mfakit.ports.delivery.CodeProvider]:
    the provider makes, sends and checks their codes."""
    sender_options: Mapping[Method, frozenset[str]] = field(default_factory=dict)
    """Per channel, which optional keywords (`locale`, `html`) its sender's
    method accepts; decided once, when the facade is built."""
    messages: Messages = field(default_factory=Messages)
    random_bytes: Callable[[int], bytes] = secrets.token_bytes
    has_resolver: bool = False
    """Whether a `policies` port maps tenants to policies."""
    tenant_from_user: bool = False
    """Whether the `policies` port also maps users to tenants (`for_user`)."""
    audit_log: bool = False
    """Whether the `audit` port can also list events."""
    audit_enabled: Callable[[], bool] | None = None
    """The audit sink's `enabled()` check, when it has one."""
    audit_wants: Callable[[str, str], bool] | None = None
    """The audit sink's `wants(action, outcome)` check, when it has one: an
    event it would drop is never built."""
    audit_in_store: bool = False
    """Whether the audit log is the store itself: events then join the unit of
    work that makes the change they describe (one commit, never one without
    the other)."""
    notify: bool = True
    """Whether security notices (S21) are sent."""
    message_lookup: bool = False
    """Whether the store finds challenges by message id
    ([`MessageLookup`][mfakit.ports.storage.MessageLookup]), for delivery statuses."""
    relying_party: RelyingParty | None = None
    """The site's WebAuthn identity; passkeys are offered only with one."""

    # Request scope, set per call by `mfakit.service.scope.scoped`.
    tenant: str | None = None
    request: RequestContext = field(default_factory=RequestContext)

    def can_send(self, method: Method) -> bool:
        """Whether `method` has a sender mfakit can hand any text to (a code
        provider only sends its own codes: no notices)."""
        return method in self.channels and method not in self.code_providers

    def new_id(self) -> str:
        """A fresh 128-bit identifier, URL-safe."""
        return base64.urlsafe_b64encode(self.random_bytes(16)).rstrip(b"=").decode("ascii")
