"""Finding 5.10 of the 0.1.0 attack review: the tenant taken from the request.

``tenant=`` is given per call. A host that takes it from the request (a form
field, a header, the URL) lets a user of a strict tenant name a lax one and get
its policy. A resolver that knows each user's tenant (``for_user``;
``StaticPolicies(users=...)``) makes mfakit take the tenant from the user and
refuse any other.
"""

from __future__ import annotations

import asyncio

import pytest

from mfakit import (
    MFA,
    AsyncMFA,
    Method,
    NotPermitted,
    Policy,
    StaticPolicies,
    UserPolicyResolver,
)
from mfakit.adapters import MemoryStore, Outbox
from mfakit.adapters.memory_async import AsyncMemoryStore
from mfakit.testing import FakeClock, authenticator_code, fast_hasher
from tests.conftest import SECRET
from tests.helpers import fresh

STRICT = Policy(allowed_methods=frozenset({Method.TOTP, Method.BACKUP_CODE}))  # no SMS
LAX = Policy(allow_restricted_only=True)


def build(policies: StaticPolicies, clock: FakeClock, outbox: Outbox) -> MFA:
    return MFA(
        store=MemoryStore(),
        secret_key=SECRET,
        issuer="Acme",
        clock=clock,
        hasher=fast_hasher(),
        sms=outbox,
        policies=policies,
    )


@pytest.mark.parametrize("users", [{"alice": "strict"}, {"alice": "strict"}.get])
def test_a_user_cannot_pick_a_laxer_tenant(users: object) -> None:
    clock, outbox = FakeClock(), Outbox()
    policies = StaticPolicies({"strict": STRICT, "lax": LAX}, users=users)  # type: ignore[arg-type]
    assert isinstance(policies, UserPolicyResolver)
    mfa = build(policies, clock, outbox)
    setup = mfa.begin_totp_setup(fresh(clock), "alice", account_name="alice")
    assert mfa.confirm_totp_setup(
        fresh(clock), setup.id, authenticator_code(setup.uri, clock.now())
    ).ok
    # The attack: the request names the lax tenant, which allows SMS.
    with pytest.raises(NotPermitted):
        mfa.begin_phone_enrolment(fresh(clock), "alice", "+14155550101", tenant="lax")
    # Without tenant=, the user's own (strict) policy applies: no SMS.
    with pytest.raises(NotPermitted):
        mfa.begin_phone_enrolment(fresh(clock), "alice", "+14155550101")
    assert outbox.messages == []
    # Naming the right tenant is fine, and a user the resolver does not know
    # keeps the per-call tenant.
    with pytest.raises(NotPermitted):
        mfa.begin_phone_enrolment(fresh(clock), "alice", "+14155550101", tenant="strict")
    setup = mfa.begin_totp_setup(fresh(clock, "bob"), "bob", account_name="bob", tenant="lax")
    assert mfa.confirm_totp_setup(
        fresh(clock, "bob"), setup.id, authenticator_code(setup.uri, clock.now()), tenant="lax"
    ).ok
    sent = mfa.begin_phone_enrolment(fresh(clock, "bob"), "bob", "+14155550102", tenant="lax")
    assert sent.ok


class AsyncClinicPolicies:
    """A resolver reading the user's tenant from a database, asynchronously."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def policy_for(self, tenant: str) -> Policy | None:
        return {"strict": STRICT, "lax": LAX}.get(tenant)

    async def for_user(self, user_id: str) -> str | None:
        self.asked.append(user_id)
        return {"alice": "strict"}.get(user_id)


def test_the_async_facade_takes_the_tenant_from_an_async_resolver() -> None:
    clock, outbox, resolver = FakeClock(), Outbox(), AsyncClinicPolicies()
    amfa = AsyncMFA(
        store=AsyncMemoryStore(),
        secret_key=SECRET,
        issuer="Acme",
        clock=clock,
        hasher=fast_hasher(),
        sms=outbox,
        policies=resolver,
    )

    async def run() -> None:
        setup = await amfa.begin_totp_setup(fresh(clock), "alice", account_name="alice")
        code = authenticator_code(setup.uri, clock.now())
        assert (await amfa.confirm_totp_setup(fresh(clock), setup.id, code)).ok
        with pytest.raises(NotPermitted):
            await amfa.begin_phone_enrolment(fresh(clock), "alice", "+14155550101", tenant="lax")
        with pytest.raises(NotPermitted):
            await amfa.begin_phone_enrolment(fresh(clock), "alice", "+14155550101")

    asyncio.run(run())
    assert "alice" in resolver.asked and outbox.messages == []
