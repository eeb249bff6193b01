"""The policy port (L7): one policy per tenant, e.g. per clinic."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from ..core.policy import Policy
from ..core.validation import check_id
from ..errors import ConfigurationError

__all__ = ["PolicyResolver", "StaticPolicies"]


@runtime_checkable
class PolicyResolver(Protocol):
    """Maps a tenant id to its policy; ``None`` means "the default policy"."""

    def policy_for(self, tenant: str) -> Policy | None: ...


class StaticPolicies:
    """A resolver over a fixed mapping (or one the host updates in place).

    Example: ``StaticPolicies({"clinic-7": Policy(require_for_roles={"staff"})})``.
    """

    def __init__(self, policies: Mapping[str, Policy] | None = None) -> None:
        self._policies: dict[str, Policy] = {}
        for tenant, policy in (policies or {}).items():
            self.set(tenant, policy)

    def __repr__(self) -> str:
        return f"StaticPolicies(tenants={len(self._policies)})"

    def set(self, tenant: str, policy: Policy) -> None:
        """Give ``tenant`` a new policy; it applies from the next call on."""
        check_id("tenant", tenant)
        if not isinstance(policy, Policy):
            raise ConfigurationError("policies must be mfakit.Policy values")
        self._policies[tenant] = policy

    def policy_for(self, tenant: str) -> Policy | None:
        return self._policies.get(tenant)
