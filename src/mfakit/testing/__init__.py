"""A kit for tests: mfakit's own and your application's (P6).

* [`FakeClock`][mfakit.testing.FakeClock]: time that moves only when the test says so.
* [`authenticator_code`][mfakit.testing.authenticator_code]: what an authenticator app would show
  for a setup's URI or secret, computed by pyotp (an implementation independent of
  mfakit's own).
* [`fast_hasher`][mfakit.testing.fast_hasher]: argon2id at its cheapest parameters, so a test suite
  that issues many backup codes stays fast. Never use it in production.
* [`step_up`][mfakit.testing.step_up]: pass a step-up (S32) with a given code and get the actor
  carrying the grant, for tests of calls that remove or bind a factor.
* [`mfakit.testing.contract`][mfakit.testing.contract]: the storage contract suite (needs pytest).
* [`mfakit.testing.webauthn`][mfakit.testing.webauthn]: a software passkey authenticator and its
  browser, for passkey flows (needs the `webauthn` extra).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from ..core.actor import Actor
from ..core.results import Challenge, StepUpStatus
from ..errors import ConfigurationError, InvalidInput
from ..hashers import Argon2Hasher

if TYPE_CHECKING:
    from ..mfa import MFA

__all__ = ["FakeClock", "authenticator_code", "fast_hasher", "step_up"]

DEFAULT_START = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


class FakeClock:
    """A clock for tests. Starts at `start` (default 2026-01-01 12:00 UTC)
    and moves only through [`advance`][mfakit.testing.FakeClock.advance] and
    [`set`][mfakit.testing.FakeClock.set]."""

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        self._now = self._aware(start)

    @staticmethod
    def _aware(value: datetime) -> datetime:
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise InvalidInput("start", "must be a timezone-aware datetime")
        return value.astimezone(timezone.utc)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | float | None = None, /, **kwargs: float) -> datetime:
        """Move forward by `delta` (a `timedelta`, or seconds as a number:
        `clock.advance(31)`) or by `timedelta(**kwargs)`
        (`clock.advance(minutes=5)`); returns the new time."""
        if delta is not None and kwargs:
            raise InvalidInput("delta", "give a delta or keyword arguments, not both")
        if delta is None:
            step = timedelta(**kwargs)
        elif isinstance(delta, timedelta):
            step = delta
        elif isinstance(delta, (int, float)) and not isinstance(delta, bool):
            step = timedelta(seconds=delta)
        else:
            raise InvalidInput("delta", "must be a timedelta or a number of seconds")
        if step < timedelta(0):
            raise InvalidInput("delta", "a FakeClock never moves backwards; use set()")
        self._now += step
        return self._now

    def set(self, when: datetime) -> None:
        """Jump to `when` (backwards too, to test clock skew)."""
        self._now = self._aware(when)

    def __repr__(self) -> str:
        return f"FakeClock({self._now.isoformat()})"


def authenticator_code(uri_or_secret: str, at: datetime | float) -> str:
    """The code an authenticator app shows at `at` for an `otpauth://` URI
    (honouring its algorithm, digits and period) or a bare base32 secret.

    Computed by pyotp, an implementation independent of mfakit's own (the
    `testing` extra: `pip install 'mfakit[testing]'`)."""
    try:
        import pyotp
    except ImportError as exc:  # pragma: no cover - the testing extra brings it
        raise ConfigurationError(
            "authenticator_code needs pyotp: pip install 'mfakit[testing]'"
        ) from exc
    if uri_or_secret.startswith("otpauth://"):
        query = parse_qs(urlsplit(uri_or_secret).query)
        secret = query["secret"][0]
        digest = {"SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}[
            query.get("algorithm", ["SHA1"])[0]
        ]
        digits = int(query.get("digits", ["6"])[0])
        period = int(query.get("period", ["30"])[0])
        totp = pyotp.TOTP(secret, digits=digits, digest=digest, interval=period)
    else:
        totp = pyotp.TOTP(uri_or_secret)
    when = at.timestamp() if isinstance(at, datetime) else at
    return totp.at(int(when))


def fast_hasher() -> Argon2Hasher:
    """argon2id with the smallest parameters: milliseconds instead of 0.1 s."""
    return Argon2Hasher(time_cost=1, memory_cost=64, parallelism=1)


def step_up(mfa: MFA, actor: Actor, user_id: str, code: str | Callable[[Challenge], str]) -> Actor:
    """`actor` carrying a fresh step-up grant over `user_id` (S32).

    Starts a step-up with [`MFA.begin_step_up`][mfakit.facade.Facade.begin_step_up] and verifies
    `code`: a backup code or an authenticator code as a string, or a function of the
    challenge (to read an SMS or email code from an outbox, say). Returns
    `actor` unchanged when the user has no factor to step up with; raises
    `AssertionError` when the code is refused.
    """
    start = mfa.begin_step_up(actor, user_id)
    if start.status is StepUpStatus.NOT_NEEDED:
        return actor
    value = code(start.challenge) if callable(code) else code
    result = mfa.verify(start.challenge.id, value)
    if not result.ok or result.step_up is None:
        raise AssertionError(f"the step-up was refused: {result.reason}")
    return dataclasses.replace(actor, step_up=result.step_up)
