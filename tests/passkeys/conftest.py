"""Fixtures for the passkey tests: a relying party, a policy, ceremonies and a
software authenticator (``mfakit.testing.webauthn``) playing the user's device.

They need py_webauthn (``pip install 'mfakit[webauthn]'``). Without it they are
skipped with that reason, except under ``CI=true``, where its absence fails.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mfakit import Policy
from mfakit.testing import FakeClock

MISSING = (
    "py_webauthn is not installed: pip install 'mfakit[webauthn]'"
    if importlib.util.find_spec("webauthn") is None
    else None
)
if MISSING is not None and os.environ.get("CI", "").strip().lower() == "true":
    raise RuntimeError(f"the passkey tests must run in CI, but {MISSING}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if MISSING is None:
        return
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.skip(reason=f"passkey tests skipped: {MISSING}"))


ORIGIN = "https://example.com"
USER = "user-1"
OTHER = "user-2"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def now(clock: FakeClock) -> datetime:
    return clock.now()


@pytest.fixture
def policy() -> Policy:
    return Policy(passkey_passwordless=True)


@pytest.fixture
def rp() -> Any:
    from mfakit.passkeys import RelyingParty

    return RelyingParty("example.com", "Example", origins=[ORIGIN, "https://app.example.com"])


class Counter:
    """Distinct ids and challenges per test, as the service's random source gives."""

    def __init__(self) -> None:
        self.n = 0

    def id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}-{self.n}"

    def challenge(self) -> bytes:
        self.n += 1
        return self.n.to_bytes(4, "big") * 8


@pytest.fixture
def ids() -> Counter:
    return Counter()


HANDLES = {USER: b"\x01" * 64, OTHER: b"\x02" * 64}


@pytest.fixture
def begin_registration(rp: Any, policy: Policy, ids: Counter, now: datetime) -> Callable[..., Any]:
    from mfakit.passkeys import registration_options

    def begin(user_id: str = USER, **kwargs: Any) -> Any:
        kwargs.setdefault("policy", policy)
        kwargs.setdefault("now", now)
        kwargs.setdefault("name", "Laptop")
        pol = kwargs.pop("policy")
        return registration_options(
            rp,
            pol,
            ceremony_id=ids.id("reg"),
            challenge=ids.challenge(),
            user_id=user_id,
            user_handle=HANDLES[user_id],
            user_name=f"{user_id}@example.com",
            **kwargs,
        )

    return begin


@pytest.fixture
def register(
    rp: Any, begin_registration: Callable[..., Any], ids: Counter, now: datetime
) -> Callable[..., Any]:
    """Register a credential of ``authenticator`` for ``user_id``; return its record."""
    from mfakit.passkeys import verify_registration

    def run(authenticator: Any, user_id: str = USER, **kwargs: Any) -> Any:
        pending = begin_registration(user_id, **kwargs)
        response = authenticator.create(pending.options_json, origin=ORIGIN)
        outcome = verify_registration(
            rp, pending.ceremony, response, factor_id=ids.id("factor"), now=now
        )
        assert outcome.ok, outcome.reason
        return outcome.credential

    return run


@pytest.fixture
def begin_authentication(
    rp: Any, policy: Policy, ids: Counter, now: datetime
) -> Callable[..., Any]:
    from mfakit.passkeys import authentication_options

    def begin(credentials: list[Any], user_id: str = USER, **kwargs: Any) -> Any:
        pol = kwargs.pop("policy", policy)
        return authentication_options(
            rp,
            pol,
            ceremony_id=ids.id("auth"),
            challenge=ids.challenge(),
            now=kwargs.pop("now", now),
            user_id=user_id,
            credentials=credentials,
            **kwargs,
        )

    return begin


@pytest.fixture
def begin_passwordless(rp: Any, policy: Policy, ids: Counter, now: datetime) -> Callable[..., Any]:
    from mfakit.passkeys import passwordless_options

    def begin(**kwargs: Any) -> Any:
        pol = kwargs.pop("policy", policy)
        return passwordless_options(
            rp, pol, ceremony_id=ids.id("pwless"), challenge=ids.challenge(), now=now, **kwargs
        )

    return begin


LATER = timedelta(seconds=121)
