"""Optional OpenTelemetry metrics and traces (`pip install 'mfakit[otel]'`).

```python
from mfakit.otel import instrument

instrument(mfa)                      # the global meter and tracer providers
instrument(mfa, meter_provider=mp, tracer_provider=tp)
```

It hooks one place, the facade's `_run` of *this* instance: an MFA that is
not instrumented runs exactly as before and pays nothing. Each use case runs
in a span (`mfakit.<use case>`) with a child span per port call
(`mfakit.<port>.<method>`); the port calls of the instrumented facade go
through thin proxies that time them.

Instruments (all attributes are from fixed vocabularies: method, channel,
outcome, status, action, store class, operation; never a user id, phone
number, email address, code or secret):

`mfakit.sign_in.started` / `mfakit.sign_in.result` {`status`}
    `begin_sign_in` calls and what they decided (satisfied, challenge,
    enrollment_required).
`mfakit.verifications` {`method`, `outcome`}
    code checks (verify, verify_totp, verify_backup_code, confirm_totp_setup),
    security answers (`method=security_question`) and passwordless passkey
    sign-ins (`method=webauthn`): `outcome` is `success` or the refusal's
    reason (`invalid_code`, `replayed`, ...).
`mfakit.sends` {`channel`, `outcome`, `error.type`}
    codes and notices handed to a sender or a code provider (`start`), and
    what it did.
`mfakit.lockouts` {`method`, `reason`}, `mfakit.replays` {`method`},
`mfakit.rate_limits` {`method`, `reason`}
    verifications refused by a lock-out (the account's, or a challenge out of
    attempts), replayed codes, attempts refused by the account's back-off
    (`reason=rate_limited`) and sends refused by a limit (`cooldown`,
    `send_limit`, `send_budget_exhausted`).
`mfakit.store.duration` (s) {`store`, `operation`}
    each store call; `mfakit.use_case.duration` (s) {`use_case`, `store`}
    each facade call (verification latency by store: `use_case=verify`).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from .core.records import ChallengeRecord
from .core.results import (
    AnswerResult,
    PasskeySignIn,
    Reason,
    SendResult,
    SignInStart,
    TotpConfirmation,
    VerifyResult,
)
from .errors import ConfigurationError

__all__ = ["Instrumentation", "instrument"]

_SENDERS = frozenset({"sms", "voice", "email"})
# A sender's send, or a code provider's (Twilio Verify's) start of a verification.
_SEND_METHODS = frozenset({"send_sms", "send_voice", "send_email", "start"})
# The method a use case verifies without a challenge (or beside its codes).
_DIRECT = {
    "verify_totp": "totp",
    "verify_backup_code": "backup_code",
    "confirm_totp_setup": "totp",
    "answer_question": "security_question",
    "finish_passkey_sign_in": "webauthn",
}
_CHECKS = (VerifyResult, TotpConfirmation, AnswerResult, PasskeySignIn)
# Sends refused by a limit (S15, S33) before any sender was called.
_SEND_LIMITS = frozenset({Reason.COOLDOWN, Reason.SEND_LIMIT, Reason.SEND_BUDGET_EXHAUSTED})
# What one facade call saw of its port calls (the method of the challenge it loaded).
_seen: ContextVar[dict[str, str] | None] = ContextVar("mfakit_otel_seen", default=None)


def _otel() -> tuple[Any, Any]:
    try:
        from opentelemetry import metrics, trace
    except ImportError as exc:
        raise ImportError(
            "mfakit's OpenTelemetry instrumentation needs opentelemetry-api: "
            "pip install 'mfakit[otel]'"
        ) from exc
    return metrics, trace


class Instrumentation:
    """The instruments of one instrumented facade; `uninstrument` undoes it."""

    def __init__(self, mfa: Any, meter_provider: Any, tracer_provider: Any) -> None:
        metrics, trace = _otel()
        from . import __version__

        meter = metrics.get_meter("mfakit", __version__, meter_provider=meter_provider)
        self.tracer = trace.get_tracer("mfakit", __version__, tracer_provider=tracer_provider)
        self.sign_in_started = meter.create_counter(
            "mfakit.sign_in.started", description="begin_sign_in calls"
        )
        self.sign_in_result = meter.create_counter(
            "mfakit.sign_in.result", description="what begin_sign_in decided"
        )
        self.verifications = meter.create_counter(
            "mfakit.verifications", description="second-step verifications"
        )
        self.sends = meter.create_counter("mfakit.sends", description="messages to senders")
        self.lockouts = meter.create_counter("mfakit.lockouts", description="locks")
        self.replays = meter.create_counter("mfakit.replays", description="replayed codes")
        self.rate_limits = meter.create_counter(
            "mfakit.rate_limits", description="attempts refused by a back-off"
        )
        self.store_duration = meter.create_histogram(
            "mfakit.store.duration", unit="s", description="store calls"
        )
        self.use_case_duration = meter.create_histogram(
            "mfakit.use_case.duration", unit="s", description="facade calls"
        )
        self._mfa = mfa
        self.store_name = type(mfa._ports["store"]).__name__
        self.ports = {name: _Port(self, name, port) for name, port in mfa._ports.items()}
        from .aio import AsyncMFA

        mfa._run = self._async_run if isinstance(mfa, AsyncMFA) else self._run

    def uninstrument(self) -> None:
        """Back to the uninstrumented facade."""
        self._mfa.__dict__.pop("_run", None)

    # --- the hook ----------------------------------------------------------------------
    def _run(
        self,
        use_case: Callable[..., Any],
        *args: object,
        tenant: object = None,
        context: object = None,
        **kwargs: object,
    ) -> Any:
        from .service.effects import run_sync

        generator = self._mfa._use_case(use_case, args, kwargs, tenant, context)
        name = use_case.__name__
        token = _seen.set({})
        try:
            with self.tracer.start_as_current_span(f"mfakit.{name}", attributes=self._attrs(name)):
                start = time.perf_counter()
                try:
                    result = run_sync(generator, self.ports)
                finally:
                    self._timed(name, start)
                self._observe(name, result)
                return result
        finally:
            _seen.reset(token)

    async def _async_run(
        self,
        use_case: Callable[..., Any],
        *args: object,
        tenant: object = None,
        context: object = None,
        **kwargs: object,
    ) -> Any:
        from .service.effects import run_async

        generator = self._mfa._use_case(use_case, args, kwargs, tenant, context)
        name = use_case.__name__
        token = _seen.set({})
        try:
            with self.tracer.start_as_current_span(f"mfakit.{name}", attributes=self._attrs(name)):
                start = time.perf_counter()
                try:
                    result = await run_async(generator, self.ports)
                finally:
                    self._timed(name, start)
                self._observe(name, result)
                return result
        finally:
            _seen.reset(token)

    def _attrs(self, name: str) -> dict[str, str]:
        return {"mfakit.use_case": name, "mfakit.store": self.store_name}

    def _timed(self, name: str, start: float) -> None:
        self.use_case_duration.record(
            time.perf_counter() - start, {"use_case": name, "store": self.store_name}
        )

    def _observe(self, name: str, result: object) -> None:
        if name == "begin_sign_in" and isinstance(result, SignInStart):
            self.sign_in_started.add(1)
            self.sign_in_result.add(1, {"status": result.status.value})
        elif isinstance(result, _CHECKS) and (name in _DIRECT or name == "verify"):
            seen = _seen.get() or {}
            used = getattr(result, "method", None)
            method = (
                used.value
                if used is not None
                else _DIRECT.get(name) or seen.get("method", "unknown")
            )
            reason = None if result.reason is None else result.reason.value
            outcome = "success" if result.ok else reason or "failure"
            self.verifications.add(1, {"method": method, "outcome": outcome})
            if result.reason is Reason.REPLAYED:
                self.replays.add(1, {"method": method})
            elif result.reason in (Reason.LOCKED_OUT, Reason.TOO_MANY_ATTEMPTS):
                self.lockouts.add(1, {"method": method, "reason": outcome})
            elif result.reason is Reason.RATE_LIMITED:
                self.rate_limits.add(1, {"method": method, "reason": outcome})
        elif isinstance(result, SendResult) and result.reason in _SEND_LIMITS:
            attrs = {"method": result.challenge.method.value, "reason": result.reason.value}
            self.rate_limits.add(1, attrs)

    # --- what the ports saw ----------------------------------------------------------------
    def port_done(
        self, port: str, method: str, args: tuple[Any, ...], result: object, error: object
    ) -> None:
        if port == "store" and method == "load_challenge" and isinstance(result, tuple):
            seen = _seen.get()
            record = result[0] if result else None
            if seen is not None and isinstance(record, ChallengeRecord):
                seen["method"] = record.method.value
        elif port in _SENDERS and method in _SEND_METHODS:
            attrs = {"channel": port, "outcome": "success" if error is None else "failure"}
            if error is not None:
                attrs["error.type"] = type(error).__name__
            self.sends.add(1, attrs)


class _Port:
    """A port whose calls are timed (the store) and seen (senders, audit)."""

    def __init__(self, owner: Instrumentation, name: str, port: Any) -> None:
        self._owner = owner
        self._name = name
        self._port = port
        self._store = type(port).__name__

    def __getattr__(self, method: str) -> Any:
        target = getattr(self._port, method)
        if not callable(target):
            return target
        owner, port, store = self._owner, self._name, self._store

        def finish(span: Any, start: float, args: tuple[Any, ...], result: Any, error: Any) -> None:
            if port == "store":
                owner.store_duration.record(
                    time.perf_counter() - start, {"store": store, "operation": method}
                )
            owner.port_done(port, method, args, result, error)
            if error is not None:
                span.set_attribute("error.type", type(error).__name__)
            span.end()

        async def awaited(
            span: Any, start: float, args: tuple[Any, ...], pending: Awaitable[Any]
        ) -> Any:
            try:
                result = await pending
            except Exception as exc:
                finish(span, start, args, None, exc)
                raise
            finish(span, start, args, result, None)
            return result

        def call(*args: Any, **kwargs: Any) -> Any:
            span = owner.tracer.start_span(f"mfakit.{port}.{method}")
            start = time.perf_counter()
            try:
                result = target(*args, **kwargs)
            except Exception as exc:
                finish(span, start, args, None, exc)
                raise
            if inspect.isawaitable(result):
                return awaited(span, start, args, result)
            finish(span, start, args, result, None)
            return result

        return call


def instrument(
    mfa: object, *, meter_provider: object = None, tracer_provider: object = None
) -> Instrumentation:
    """Instrument one [`MFA`][mfakit.MFA] or [`AsyncMFA`][mfakit.AsyncMFA] (see the
    module docs); the providers default to OpenTelemetry's global ones."""
    from .facade import Facade

    if not isinstance(mfa, Facade):
        raise ConfigurationError("instrument() takes an MFA or an AsyncMFA")
    if "_run" in vars(mfa):
        raise ConfigurationError("this MFA is instrumented already")
    return Instrumentation(mfa, meter_provider, tracer_provider)
