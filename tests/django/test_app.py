"""The app around the store: MFAKIT settings and get_mfa, the email sender over
Django's mail (locmem), the management commands, and a whole flow end to end
on DjangoStore as both store and audit log."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable
from io import StringIO
from typing import Any

import django
import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError

import mfakit
from mfakit import MFA, Actor, ConfigurationError, DeliveryError, Reason, StepUpChallenge
from mfakit.integrations.django import DjangoEmailSender, DjangoStore, get_mfa
from mfakit.integrations.django.conf import build
from mfakit.testing import FakeClock, authenticator_code, fast_hasher
from mfakit.testing.senders import EmailSenderContract, Received

from .doubles import COUNTING_BACKEND, CountingBackend
from .settings import MFAKIT_KEY, MFAKIT_ONLY

pytestmark = pytest.mark.django_db(
    transaction=True, databases="__all__", available_apps=MFAKIT_ONLY
)

EMAIL_SENDER = "mfakit.integrations.django.mail.DjangoEmailSender"
HAS_MAILERS = django.VERSION >= (6, 1)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


@pytest.fixture
def mfakit_setting(settings: Any) -> Callable[..., None]:
    """Change MFAKIT for one test (pytest-django restores it afterwards)."""

    def change(**config: Any) -> None:
        settings.MFAKIT = {"ISSUER": "Django Test", "SECRET_KEYS": [MFAKIT_KEY], **config}

    return change


# --- settings and get_mfa ------------------------------------------------------------


def test_get_mfa_is_built_once_and_shared_by_threads() -> None:
    seen: list[MFA] = []
    barrier = threading.Barrier(8)

    def get() -> None:
        barrier.wait()
        seen.append(get_mfa())

    threads = [threading.Thread(target=get) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 8 and all(m is seen[0] for m in seen)
    assert get_mfa() is seen[0]
    assert get_mfa().issuer == "Django Test"


def test_changing_the_setting_rebuilds_it(mfakit_setting: Callable[..., None]) -> None:
    before = get_mfa()
    mfakit_setting(ISSUER="Other Issuer", POLICY={"max_attempts": 3, "trust_days": 7})
    after = get_mfa()
    assert after is not before
    assert after.issuer == "Other Issuer"
    assert (after.policy.max_attempts, after.policy.trust_days) == (3, 7)


def test_the_store_is_the_audit_log_by_default() -> None:
    store = get_mfa()._ports["store"]
    assert isinstance(store, DjangoStore)
    assert get_mfa()._ports["audit"] is store


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"SECRET_KEYS": ["django-test-secret-key-not-for-mfakit"]}, "must not reuse SECRET_KEY"),
        ({"SECRET_KEYS": [MFAKIT_KEY, "old-django-secret-key-fallback-0123456789"]}, "reuse"),
        ({"SECRET_KEYS": []}, "SECRET_KEYS"),
        ({"SECRET_KEYS": [42]}, "str or bytes"),
        ({"ISSUER": "a:b"}, "issuer"),
        ({"TYPO": 1}, "unknown MFAKIT settings: TYPO"),
        ({"POLICY": {"max_attempts": 0}}, "not a valid policy"),
        ({"POLICY": {"no_such_field": 1}}, "not a valid policy"),
        ({"POLICY": "mfakit.Reason"}, r"POLICY.*could not be called \(TypeError\)"),
        ({"POLICY": "builtins.dict"}, "must give an mfakit.Policy"),
        ({"EMAIL": "no.such.module.Sender"}, "cannot import"),
        ({"EMAIL": "mfakit.Policy"}, "send_email"),
        ({"SMS": 42}, "dotted path"),
        ({"DATABASE": "nope"}, "DATABASES"),
    ],
)
def test_bad_settings_are_refused(
    settings: Any, mfakit_setting: Callable[..., None], config: dict[str, Any], message: str
) -> None:
    settings.SECRET_KEY_FALLBACKS = ["old-django-secret-key-fallback-0123456789"]
    mfakit_setting(**config)
    with pytest.raises(ConfigurationError, match=message):
        get_mfa()


def test_a_sender_refusing_its_settings_says_why(
    settings: Any, mfakit_setting: Callable[..., None]
) -> None:
    settings.DEFAULT_FROM_EMAIL = "webmaster@localhost"  # a fresh project's default
    mfakit_setting(EMAIL=EMAIL_SENDER)
    with pytest.raises(
        ConfigurationError,
        match=r"MFAKIT\['EMAIL'\]: .*DjangoEmailSender: from_email must be an email address",
    ):
        get_mfa()


def test_a_missing_setting_is_explained(settings: Any) -> None:
    del settings.MFAKIT
    with pytest.raises(ConfigurationError, match="add the MFAKIT setting"):
        get_mfa()
    with pytest.raises(ConfigurationError, match="must be a dict"):
        build(["not", "a", "dict"])


def test_policy_and_senders_by_dotted_path(mfakit_setting: Callable[..., None]) -> None:
    mfakit_setting(POLICY="mfakit.Policy", EMAIL=EMAIL_SENDER, AUDIT="log")
    mfa = get_mfa()
    assert mfa.policy == mfakit.Policy()
    assert isinstance(mfa._ports["email"], DjangoEmailSender)
    assert not isinstance(mfa._ports["audit"], DjangoStore)


# --- the email sender --------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TestDjangoEmailSender(EmailSenderContract):
    """The sender contract over Django's locmem backend (the test outbox)."""

    @pytest.fixture
    def sender(self) -> DjangoEmailSender:
        return DjangoEmailSender()

    @pytest.fixture
    def received(self) -> Callable[[], list[Received]]:
        def read() -> list[Received]:
            out = []
            for m in mail.outbox:
                html = [
                    body for body, kind in getattr(m, "alternatives", []) if kind == "text/html"
                ]
                out.append(
                    Received(
                        to=m.to[0],
                        text=str(m.body),
                        subject=str(m.subject),
                        html=html[0] if html else None,
                    )
                )
            return out

        return read

    @pytest.fixture
    def broken_sender(self) -> DjangoEmailSender:
        """Django's SMTP backend pointed at a closed port (with a password to hide)."""
        return DjangoEmailSender(
            backend="django.core.mail.backends.smtp.EmailBackend",
            backend_options={
                "host": "127.0.0.1",
                "port": _closed_port(),
                "password": "smtp-password-123",
                "timeout": 5,
            },
        )

    @pytest.fixture
    def secrets(self) -> list[str]:
        return ["smtp-password-123"]

    def test_repr_hides_the_backend_password(self, broken_sender: DjangoEmailSender) -> None:
        assert "smtp-password-123" not in repr(broken_sender)

    def test_headers_and_from_address(self, sender: DjangoEmailSender) -> None:
        message_id = sender.send_email(
            "bob@example.org", "Code", "Your code is 123456", locale="de"
        )
        sent = mail.outbox[-1]
        assert sent.from_email == "security@example.org"
        assert sent.extra_headers["Message-ID"] == message_id
        assert sent.extra_headers["Auto-Submitted"] == "auto-generated"
        assert sent.extra_headers["Content-Language"] == "de"

    def test_a_bad_from_address_is_a_configuration_error(self) -> None:
        with pytest.raises(ConfigurationError):
            DjangoEmailSender(from_email="not an address")

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"backend": ""},
            {"backend": 42},
            {"backend": "tests.django.doubles.NoSuchBackend"},
            {"backend": "no_such_module.EmailBackend"},
            {"backend_options": ["host"]},
            {"mailer": ""},
            {"mailer": 7},
        ],
    )
    def test_bad_options_are_configuration_errors(self, kwargs: dict[str, Any]) -> None:
        with pytest.raises(ConfigurationError):
            DjangoEmailSender(**kwargs)

    def test_a_backend_of_its_own_is_built_with_its_options(self) -> None:
        CountingBackend.sent.clear()
        sender = DjangoEmailSender(backend=COUNTING_BACKEND, backend_options={"label": "ops"})
        sender.send_email("bob@example.org", "Code", "Your code is 123456")
        assert CountingBackend.sent == [("ops", ["bob@example.org"])]
        assert mail.outbox == []  # not through the default mailer

    def test_a_backend_that_sends_nothing_is_a_delivery_error(self) -> None:
        sender = DjangoEmailSender(backend=COUNTING_BACKEND, backend_options={"label": "drop"})
        with pytest.raises(DeliveryError, match="sent nothing"):
            sender.send_email("bob@example.org", "Code", "Your code is 123456")

    def test_a_mailer_alias_sends_through_that_mailer_from_django_6_1(self) -> None:
        if not HAS_MAILERS:
            with pytest.raises(ConfigurationError, match=r"needs Django 6\.1"):
                DjangoEmailSender(mailer="alerts")
            return
        sender = DjangoEmailSender(mailer="alerts")
        assert "alerts" in repr(sender)
        sender.send_email("bob@example.org", "Code", "Your code is 123456")
        DjangoEmailSender().send_email("carol@example.org", "Code", "Your code is 123456")
        # Django's tests make every mailer locmem; locmem notes which one sent.
        assert [(m.to, getattr(m, "sent_using", None)) for m in mail.outbox] == [
            (["bob@example.org"], "alerts"),
            (["carol@example.org"], "default"),
        ]
        with pytest.raises(ConfigurationError, match="no mailer 'nope' in MAILERS"):
            DjangoEmailSender(mailer="nope")
        with pytest.raises(ConfigurationError, match="not both"):
            DjangoEmailSender(mailer="alerts", backend=COUNTING_BACKEND)

    def test_options_without_a_backend(self) -> None:
        if HAS_MAILERS:
            # The default mailer's options live in MAILERS from 6.1 on.
            with pytest.raises(ConfigurationError, match="backend_options need backend"):
                DjangoEmailSender(backend_options={"timeout": 5})
            return
        # Before 6.1 they are options for EMAIL_BACKEND (locmem ignores them).
        DjangoEmailSender(backend_options={"fail_silently": False}).send_email(
            "bob@example.org", "Code", "Your code is 123456"
        )
        assert len(mail.outbox) == 1


# --- end to end ----------------------------------------------------------------------


def test_a_whole_flow_on_djangostore_as_store_and_audit_log() -> None:
    store = DjangoStore()
    clock = FakeClock()
    mfa = MFA(
        store=store,
        audit=store,
        secret_key=MFAKIT_KEY,
        issuer="Django Test",
        clock=clock,
        hasher=fast_hasher(),
        email=DjangoEmailSender(),
    )
    actor = Actor.user("alice", reauthenticated_at=clock.now())
    setup = mfa.begin_totp_setup(actor, "alice", account_name="alice@example.org")
    confirmed = mfa.confirm_totp_setup(actor, setup.id, authenticator_code(setup.uri, clock.now()))
    backup_codes = confirmed.backup_codes
    assert confirmed.ok and backup_codes is not None and len(backup_codes) == 10
    # An email address, its code delivered through Django's mail; a second
    # factor needs a step-up (S32): the authenticator's next code proves it.
    clock.advance(seconds=30)
    step = mfa.begin_step_up(actor, "alice")
    assert isinstance(step, StepUpChallenge)
    proof = mfa.verify(step.challenge.id, authenticator_code(setup.uri, clock.now()))
    actor = Actor.user("alice", reauthenticated_at=clock.now(), step_up=proof.step_up)
    sent = mfa.begin_email_enrolment(actor, "alice", "alice@example.org")
    assert sent.challenge is not None
    code = re.search(r"\b(\d{6})\b", str(mail.outbox[-1].body))
    assert code is not None and mail.outbox[-1].to == ["alice@example.org"]
    assert mfa.verify(sent.challenge.id, code.group(1)).ok
    clock.advance(seconds=31)
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None
    code_now = authenticator_code(setup.uri, clock.now())
    assert mfa.verify(start.challenge.id, wrong(code_now)).reason is Reason.INVALID_CODE
    assert mfa.verify(start.challenge.id, code_now).ok
    replay = mfa.begin_sign_in("alice")
    assert replay.challenge is not None
    assert mfa.verify(replay.challenge.id, code_now).reason is Reason.REPLAYED
    assert mfa.verify_backup_code("alice", backup_codes.codes[0]).ok
    assert mfa.backup_codes_left("alice") == 9
    actions = [e.action for e in mfa.list_events("alice", limit=100)]
    assert "factor.added" in actions and "second_step.passed" in actions
    assert actions.count("second_step.failed") >= 1
    page = mfa.list_events("alice", limit=2)
    older = mfa.list_events("alice", limit=100, before=page[-1].id)
    assert [e.id for e in page + older] == [e.id for e in mfa.list_events("alice", limit=100)]
    # No code, secret or backup code reached the audit rows.
    from mfakit.integrations.django.models import AuditEvent

    stored = " ".join(str(row) for row in AuditEvent.objects.values_list())
    for secret in (code_now, code.group(1), backup_codes.codes[0], MFAKIT_KEY):
        assert secret not in stored


# --- management commands ----------------------------------------------------------


@pytest.fixture
def enrolled_alice() -> str:
    """alice with an authenticator, through get_mfa() (system clock); the URI."""
    mfa = get_mfa()
    actor = Actor.user("alice", reauthenticated_at=mfa.clock.now())
    setup = mfa.begin_totp_setup(actor, "alice", account_name="alice@example.org")
    code = authenticator_code(setup.uri, mfa.clock.now())
    assert mfa.confirm_totp_setup(actor, setup.id, code).ok
    return setup.uri


def _run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_status_shows_factors_codes_devices_and_events(enrolled_alice: str) -> None:
    out = _run("mfakit_status", "alice")
    assert "User: alice" in out
    assert "Two-factor authentication: on" in out
    assert "Backup codes left: 10" in out
    assert "Trusted devices: 0 active, 0 listed" in out
    assert "factor.added" in out
    assert "otpauth" not in out and enrolled_alice not in out
    off = _run("mfakit_status", "nobody")
    assert "Two-factor authentication: off" in off and "Factors: 0" in off


def test_unlock_lifts_the_back_off(enrolled_alice: str) -> None:
    mfa = get_mfa()
    code = authenticator_code(enrolled_alice, mfa.clock.now())
    for _ in range(mfa.policy.free_failures):
        assert mfa.verify_totp("alice", wrong(code)).reason is Reason.INVALID_CODE
    assert mfa.verify_totp("alice", wrong(code)).reason is Reason.RATE_LIMITED
    out = _run("mfakit_unlock", "alice", "--by", "ops-admin")
    assert "Unlocked the second step of alice." in out
    assert mfa.verify_totp("alice", wrong(code)).reason is Reason.INVALID_CODE
    unlocked = [e for e in mfa.list_events("alice") if e.action == "account.unlocked"]
    assert [e.actor_id for e in unlocked] == ["ops-admin"]


def test_commands_refuse_bad_input() -> None:
    with pytest.raises(CommandError):
        call_command("mfakit_unlock", "bad\nid", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("mfakit_status", "", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("mfakit_purge", "--older-than-days", "0", stdout=StringIO())


def test_purge_deletes_what_expired() -> None:
    from datetime import timedelta

    from mfakit.testing.contract import challenge_record

    store = DjangoStore()
    old = get_mfa().clock.now() - timedelta(days=3)
    store.insert_challenge(challenge_record("old", at=old))
    store.insert_challenge(challenge_record("new", at=get_mfa().clock.now()))
    assert "Purged 1 rows." in _run("mfakit_purge")
    assert store.get_challenge("old") is None and store.get_challenge("new") is not None
    assert "Purged 0 rows." in _run("mfakit_purge", "--batch", "10")
