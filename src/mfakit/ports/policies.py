"""The policy port (L7): one policy per tenant, e.g. per clinic.

A tenant given per call (`tenant=`) is only as trustworthy as where the host
takes it from: taken from the request, it lets a user pick the laxest policy.
A resolver that also implements
[`UserPolicyResolver.for_user`][mfakit.ports.policies.UserPolicyResolver.for_user] makes the tenant
a property of the user: mfakit then asks it for every call that names a user, uses that tenant, and
refuses a different `tenant=`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

from ..core.policy import Policy
from ..core.validation import check_id
from ..errors import ConfigurationError

__all__ = ["PolicyResolver", "StaticPolicies", "UserPolicyResolver"]


@runtime_checkable
class PolicyResolver(Protocol):
    """Maps a tenant id to its policy; `None` means "the default policy"."""

    def policy_for(self, tenant: str) -> Policy | None: ...


@runtime_checkable
class UserPolicyResolver(PolicyResolver, Protocol):
    """A resolver that also knows each user's tenant.

    `for_user(user_id)` returns the tenant the user belongs to, or `None`
    when it does not know the user (the call's `tenant=`, or the default
    policy, applies then).
    """

    def for_user(self, user_id: str) -> str | None: ...


class StaticPolicies:
    """A resolver over a fixed mapping (or one the host updates in place).

    Example: `StaticPolicies({"clinic-7": Policy(require_for_roles={"staff"})})`.
    `users` maps user ids to their tenant (a mapping, or a function such as a
    lookup in your user table): the tenant then comes from the user, never from
    the request.
    """

    def __init__(
        self,
        policies: Mapping[str, Policy] | None = None,
        *,
        users: Mapping[str, str] | Callable[[str], str | None] | None = None,
    ) -> None:
        self._policies: dict[str, Policy] = {}
        for tenant, policy in (policies or {}).items():
            self.set(tenant, policy)
        if users is not None and not (isinstance(users, Mapping) or callable(users)):
            raise ConfigurationError("users must map user ids to tenants, or be a function")
        self._users = users

    def __repr__(self) -> str:
        return f"StaticPolicies(tenants={len(self._policies)})"

    def set(self, tenant: str, policy: Policy) -> None:
        """Give `tenant` a new policy; it applies from the next call on."""
        check_id("tenant", tenant)
        if not isinstance(policy, Policy):
            raise ConfigurationError("policies must be mfakit.Policy values")
        self._policies[tenant] = policy

    def policy_for(self, tenant: str) -> Policy | None:
        return self._policies.get(tenant)

    def for_user(self, user_id: str) -> str | None:
        """The user's tenant from `users`, or None (no mapping, or an unknown user)."""
        users = self._users
        if users is None:
            return None
        if isinstance(users, Mapping):
            return users.get(user_id)
        return users(user_id)
