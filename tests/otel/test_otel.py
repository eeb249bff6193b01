"""OpenTelemetry instrumentation (mfakit.otel) with the SDK's in-memory reader
and exporter: the counters count what happened, spans wrap use cases and port
calls, and no attribute ever holds a user id, phone, email, code or secret."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mfakit import MFA, Actor, AsyncMFA, ConfigurationError, Policy, RelyingParty
from mfakit.adapters import MemoryAuditLog, MemoryStore, Outbox
from mfakit.adapters.sql import SqlStore
from mfakit.errors import DeliveryError
from mfakit.otel import instrument
from mfakit.testing import FakeClock, authenticator_code, fast_hasher
from tests.helpers import fresh

from ..sql.conftest import unique_prefix

USER = "user-7f3a9c"
PHONE = "+14155550177"
EMAIL = "carol.secret@example.org"
KEY = "ae4b4e830e0768ac3f243aeb2a396ec1e86764d0406b1d391f98ed937f4be969"


class RefusingEmail:
    """An email sender whose provider refuses everything."""

    def send_email(self, to: str, subject: str, text: str) -> None:
        raise DeliveryError("provider down")


class Telemetry:
    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.meters = MeterProvider(metric_readers=[self.reader])
        self.exporter = InMemorySpanExporter()
        self.tracers = TracerProvider()
        self.tracers.add_span_processor(SimpleSpanProcessor(self.exporter))

    def points(self) -> dict[str, list[tuple[dict[str, Any], Any]]]:
        data = self.reader.get_metrics_data()
        found: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        value = getattr(point, "value", None)
                        if value is None:
                            value = point.count
                        found.setdefault(metric.name, []).append(
                            (dict(point.attributes or {}), value)
                        )
        return found

    def total(self, name: str, **attrs: str) -> int:
        return sum(
            v
            for a, v in self.points().get(name, [])
            if all(a.get(k) == x for k, x in attrs.items())
        )


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    t = Telemetry()
    yield t
    t.meters.shutdown()
    t.tracers.shutdown()


def story(mfa: MFA, outbox: Outbox, clock: FakeClock) -> list[str]:
    """Enrol a phone, sign in with wrong codes then the right one, fail to
    send email, and get locked out; returns every code that was sent."""
    me = Actor.user(USER, reauthenticated_at=clock.now())
    sent = mfa.begin_phone_enrolment(me, USER, PHONE)
    codes = [outbox.last_code(PHONE)]
    assert mfa.verify(sent.challenge.id, codes[0]).ok
    clock.advance(seconds=31)
    start = mfa.begin_sign_in(USER)
    assert start.challenge is not None
    codes.append(outbox.last_code(PHONE))
    too_soon = mfa.resend(start.challenge.id)  # within the resend cooldown
    assert not too_soon.ok and too_soon.reason is not None
    assert too_soon.reason.value == "cooldown"
    assert not mfa.verify(start.challenge.id, "000000" if codes[-1] != "000000" else "111111").ok
    signed_in = mfa.verify(start.challenge.id, codes[-1])
    assert signed_in.ok
    # A second factor needs a step-up (S32): the sign-in just proved one.
    stepped_up = Actor.user(USER, reauthenticated_at=clock.now(), step_up=signed_in.step_up)
    with pytest.raises(DeliveryError):
        mfa.begin_email_enrolment(stepped_up, USER, EMAIL)
    for _ in range(6):  # one wrong code an hour, past every back-off, into the lock-out
        clock.advance(seconds=3600)
        start = mfa.begin_sign_in(USER)
        assert start.challenge is not None
        codes.append(outbox.last_code(PHONE))
        mfa.verify(start.challenge.id, "999999" if codes[-1] != "999999" else "888888")
        mfa.verify(start.challenge.id, "999999" if codes[-1] != "999999" else "888888")
    return codes


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh store: in memory, SQLite, or PostgreSQL under a unique table prefix."""
    if request.param == "memory":
        yield MemoryStore()
        return
    if request.param == "sqlite":
        sqlite = SqlStore.from_url("sqlite://")
        yield sqlite
        sqlite.close()
        return
    engine = request.getfixturevalue("pg_engine")
    pg = SqlStore(engine, table_prefix=unique_prefix())
    pg.create_all()
    yield pg
    pg.metadata.drop_all(engine)


def test_counters_spans_and_no_personal_data(telemetry: Telemetry, store: Any) -> None:
    backend = "memory" if isinstance(store, MemoryStore) else "sql"
    outbox, clock = Outbox(), FakeClock()
    mfa = MFA(
        store=store,
        secret_key=KEY,
        issuer="Otel",
        sms=outbox,
        email=RefusingEmail(),
        audit=MemoryAuditLog() if backend == "memory" else store,
        clock=clock,
        policy=Policy(free_failures=2, lockout_after=4, max_attempts=3),
    )
    instrument(mfa, meter_provider=telemetry.meters, tracer_provider=telemetry.tracers)
    codes = story(mfa, outbox, clock)

    t = telemetry
    assert t.total("mfakit.sign_in.started") >= 2
    assert t.total("mfakit.sign_in.result", status="challenge") >= 2
    assert t.total("mfakit.verifications", method="sms", outcome="success") == 2
    assert t.total("mfakit.verifications", method="sms", outcome="invalid_code") >= 2
    assert t.total("mfakit.sends", channel="sms", outcome="success") >= 3
    assert t.total("mfakit.sends", channel="email", outcome="failure") == 1
    assert t.total("mfakit.lockouts", method="sms", reason="locked_out") >= 1
    assert t.total("mfakit.rate_limits", method="sms", reason="rate_limited") >= 1
    assert t.total("mfakit.rate_limits", method="sms", reason="cooldown") == 1
    store_name = type(store).__name__
    assert t.total("mfakit.store.duration", store=store_name) > 0
    assert t.total("mfakit.use_case.duration", use_case="verify", store=store_name) >= 3

    spans = t.exporter.get_finished_spans()
    names = {s.name for s in spans}
    assert {"mfakit.begin_sign_in", "mfakit.verify", "mfakit.sms.send_sms"} <= names
    verify = next(s for s in spans if s.name == "mfakit.verify")
    children = [s for s in spans if s.parent and s.parent.span_id == verify.context.span_id]
    assert any(c.name == "mfakit.store.load_challenge" for c in children)
    assert all(c.name.startswith(("mfakit.store.", "mfakit.audit.")) for c in children)

    # No personal data or secret anywhere: metric attributes, span names, span attributes.
    seen = [repr(a) for points in t.points().values() for a, _ in points]
    seen += [s.name + repr(dict(s.attributes or {})) for s in spans]
    blob = "\n".join(seen)
    for secret in (USER, PHONE, PHONE[-4:], EMAIL, "carol", KEY, *codes):
        assert secret not in blob, secret


def test_an_uninstrumented_mfa_is_untouched(telemetry: Telemetry) -> None:
    mfa = MFA(store=MemoryStore(), secret_key=KEY, issuer="x", sms=Outbox())
    hook = instrument(mfa, meter_provider=telemetry.meters, tracer_provider=telemetry.tracers)
    with pytest.raises(ConfigurationError):
        instrument(mfa)
    hook.uninstrument()
    assert "_run" not in vars(mfa)
    mfa.begin_sign_in(USER)
    assert telemetry.points() == {} and telemetry.exporter.get_finished_spans() == ()
    with pytest.raises(ConfigurationError):
        instrument(object())


def test_async_facade(telemetry: Telemetry) -> None:
    outbox = Outbox()
    mfa = AsyncMFA(store=MemoryStore(), secret_key=KEY, issuer="x", sms=outbox)
    instrument(mfa, meter_provider=telemetry.meters, tracer_provider=telemetry.tracers)

    async def go() -> None:
        me = Actor.user(USER, reauthenticated_at=mfa.clock.now())
        sent = await mfa.begin_phone_enrolment(me, USER, PHONE)
        assert (await mfa.verify(sent.challenge.id, outbox.last_code(PHONE))).ok

    asyncio.run(go())
    assert telemetry.total("mfakit.verifications", method="sms", outcome="success") == 1
    assert telemetry.total("mfakit.sends", channel="sms", outcome="success") == 1
    assert "mfakit.verify" in {s.name for s in telemetry.exporter.get_finished_spans()}


def test_every_kind_of_check_is_counted(telemetry: Telemetry, store: Any) -> None:
    """Authenticator setups, authenticator codes and their replays, backup codes,
    security answers and passwordless passkey sign-ins (and their replays) each
    count as a verification of their method; a user without 2FA is counted
    as a satisfied sign-in. None of their ids, codes, answers or secrets
    reaches an attribute."""
    from mfakit.testing.webauthn import SoftwareAuthenticator

    outbox, clock = Outbox(), FakeClock()
    origin = "https://example.com"
    mfa = MFA(
        store=store,
        secret_key=KEY,
        issuer="Otel",
        sms=outbox,
        audit=MemoryAuditLog() if isinstance(store, MemoryStore) else store,
        clock=clock,
        hasher=fast_hasher(),
        policy=Policy(question_guards_alternatives=True, passkey_passwordless=True),
        relying_party=RelyingParty("example.com", "Example", origins=[origin]),
    )
    instrument(mfa, meter_provider=telemetry.meters, tracer_provider=telemetry.tracers)
    t = telemetry
    sent = mfa.begin_phone_enrolment(fresh(clock, USER, secret=KEY), USER, PHONE)
    first = mfa.verify(sent.challenge.id, outbox.last_code(PHONE))
    assert first.ok and first.backup_codes is not None
    backup = first.backup_codes.codes
    clock.advance(seconds=31)

    setup = mfa.begin_totp_setup(fresh(clock, USER, secret=KEY), USER, account_name=EMAIL)
    code = authenticator_code(setup.secret, clock.now())
    wrong = "000000" if code != "000000" else "111111"
    assert not mfa.confirm_totp_setup(fresh(clock, USER, secret=KEY), setup.id, wrong).ok
    assert mfa.confirm_totp_setup(fresh(clock, USER, secret=KEY), setup.id, code).ok
    assert t.total("mfakit.verifications", method="totp", outcome="invalid_code") == 1
    assert t.total("mfakit.verifications", method="totp", outcome="success") == 1
    replayed = mfa.verify_totp(USER, code)
    assert not replayed.ok and replayed.reason.value == "replayed"  # type: ignore[union-attr]
    assert t.total("mfakit.verifications", method="totp", outcome="replayed") == 1
    assert t.total("mfakit.replays", method="totp") == 1

    assert mfa.verify_backup_code(USER, backup[0]).ok
    assert t.total("mfakit.verifications", method="backup_code", outcome="success") == 1

    answer = "Fluffy the cat"
    question = mfa.security_questions[0]
    mfa.set_security_question(fresh(clock, USER, secret=KEY), USER, question, answer)
    start = mfa.begin_sign_in(USER)
    assert start.challenge is not None
    mfa.try_another_way(start.challenge.id)
    assert not mfa.answer_security_question(start.challenge.id, "Rex the dog").ok
    assert mfa.answer_security_question(start.challenge.id, answer).ok
    assert t.total("mfakit.verifications", method="security_question", outcome="success") == 1
    assert t.total("mfakit.verifications", method="security_question") == 2

    device = SoftwareAuthenticator()
    begun = mfa.begin_passkey_registration(
        fresh(clock, USER, secret=KEY), USER, name="Laptop", passwordless=True
    )
    made = device.create(begun.options_json, origin=origin)
    assert mfa.finish_passkey_registration(fresh(clock, USER, secret=KEY), begun.ceremony_id, made)
    pending = mfa.begin_passkey_sign_in()
    signed = device.get(pending.options_json, origin=origin)
    assert mfa.finish_passkey_sign_in(pending.ceremony_id, signed).ok
    assert not mfa.finish_passkey_sign_in(pending.ceremony_id, signed).ok  # taken once
    assert t.total("mfakit.verifications", method="webauthn", outcome="success") == 1
    assert t.total("mfakit.replays", method="webauthn") == 1

    nobody = "user-without-2fa-41c2"
    assert mfa.begin_sign_in(nobody).status.value == "satisfied"
    assert t.total("mfakit.sign_in.result", status="satisfied") == 1
    assert t.total("mfakit.sign_in.started") == 2

    spans = t.exporter.get_finished_spans()
    seen = [repr(a) for points in t.points().values() for a, _ in points]
    seen += [s.name + repr(dict(s.attributes or {})) for s in spans]
    blob = "\n".join(seen)
    secrets = (USER, nobody, PHONE, PHONE[-4:], EMAIL, KEY, setup.secret, code, answer, *backup)
    for secret in secrets:
        assert secret not in blob, secret


def test_the_operating_page_queries_name_real_instruments(telemetry: Telemetry) -> None:
    """Every metric and label the dashboards and alerts of docs/operating.md
    query is one the instrumentation records (in the Prometheus exporter's
    spelling: dots as underscores, `_total` for counters, the unit and
    `_bucket` for histograms)."""
    import re
    from pathlib import Path

    from opentelemetry.sdk.metrics.export import Histogram, Sum

    mfa = MFA(
        store=MemoryStore(),
        secret_key=KEY,
        issuer="Otel",
        sms=Outbox(),
        email=RefusingEmail(),
        audit=MemoryAuditLog(),
        clock=FakeClock(),
        policy=Policy(free_failures=2, lockout_after=4, max_attempts=3),
    )
    instrument(mfa, meter_provider=telemetry.meters, tracer_provider=telemetry.tracers)
    clock = mfa.clock
    story(mfa, mfa._ports["sms"], clock)  # type: ignore[arg-type]
    setup = mfa.begin_totp_setup(fresh(clock, "u2", secret=KEY), "u2", account_name="u2")
    code = authenticator_code(setup.secret, clock.now())
    assert mfa.confirm_totp_setup(fresh(clock, "u2", secret=KEY), setup.id, code).ok
    assert not mfa.verify_totp("u2", code).ok  # a replay
    exported: dict[str, set[str]] = {}
    data = telemetry.reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                base = metric.name.replace(".", "_")
                labels = {
                    k.replace(".", "_") for p in metric.data.data_points for k in p.attributes or {}
                }
                if isinstance(metric.data, Sum):
                    exported[base + "_total"] = labels
                elif isinstance(metric.data, Histogram):
                    unit = {"s": "_seconds"}.get(metric.unit or "", "")
                    exported[base + unit + "_bucket"] = labels | {"le"}
                    exported[base + unit] = labels
    text = (Path(__file__).resolve().parents[2] / "docs" / "operating.md").read_text()
    page = text[text.index("## Dashboards") : text.index("## Backup and restore")]
    queried = re.findall(r"(mfakit_[a-z_]+)(?:\{([^}]*)\})?", page)
    assert len(queried) >= 10
    for name, selector in queried:
        assert name in exported, name
        for label in re.findall(r"(\w+)=", selector):
            assert label in exported[name], (name, label)
    for grouped in re.findall(r"by \(([^)]*)\) \(rate\((mfakit_[a-z_]+)", page):
        labels, name = grouped
        for label in labels.split(","):
            assert label.strip() in exported[name], (name, label)


class FailingProvider:
    """A code provider (as Twilio Verify is) that sends, then is down."""

    def __init__(self) -> None:
        self.started = 0

    def start(self, to: str, channel: str, *, locale: str | None = None) -> str:
        self.started += 1
        if self.started > 1:
            raise DeliveryError("provider down")
        return f"ref-{self.started}"

    def check(self, ref: str, code: str) -> bool:
        return code == "424242"

    def cancel(self, ref: str) -> None: ...


def test_a_code_providers_sends_are_counted(telemetry: Telemetry) -> None:
    clock = FakeClock()
    provider = FailingProvider()
    mfa = MFA(store=MemoryStore(), secret_key=KEY, issuer="x", voice=provider, clock=clock)
    instrument(mfa, meter_provider=telemetry.meters, tracer_provider=telemetry.tracers)
    me = fresh(clock, USER, secret=KEY)
    sent = mfa.begin_phone_enrolment(me, USER, PHONE, method="voice")
    assert sent.ok and mfa.verify(sent.challenge.id, "424242").ok
    assert telemetry.total("mfakit.sends", channel="voice", outcome="success") == 1
    assert telemetry.total("mfakit.verifications", method="voice", outcome="success") == 1
    clock.advance(seconds=120)
    start = mfa.begin_sign_in(USER)  # the provider fails: the challenge says no code went
    assert start.challenge is not None and provider.started == 2
    assert telemetry.total("mfakit.sends", channel="voice", outcome="failure") == 1
    assert telemetry.total("mfakit.sends", channel="voice", **{"error.type": "DeliveryError"}) == 1
