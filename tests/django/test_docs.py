"""docs/django.md runs as written.

Here, in this process: its settings block builds an MFA, the views, admin and
signals blocks define what they say, and the usage blocks run against the
test database, printing what the page says. ``test_startproject.py``
follows the page's numbered steps on a fresh ``django-admin startproject``.

Every ``python`` and ``bash`` block of the page but the management commands'
is marked ``<!-- django-step: KIND -->``, so a block cannot be added without
a test running it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from mfakit import Actor, AsyncMFA, AuditRecord, generate_secret_key
from mfakit.integrations.django import get_mfa
from mfakit.integrations.django.store import DjangoStore
from mfakit.testing import authenticator_code

from .settings import MFAKIT_KEY, MFAKIT_ONLY

PAGE = Path(__file__).resolve().parents[2] / "docs" / "django.md"
STEP = re.compile(r"<!-- django-step: (\w+) -->\n```(\w+)\n(.*?)```", re.S)
FENCE = re.compile(r"^```(\w+)", re.M)

pytestmark = pytest.mark.django_db(transaction=True, available_apps=MFAKIT_ONLY)


def steps(kind: str | None = None) -> list[tuple[str, str, str]]:
    """The page's marked blocks, in order: (kind, language, code)."""
    found = STEP.findall(PAGE.read_text(encoding="utf-8"))
    return [s for s in found if kind is None or s[0] == kind]


def test_every_block_of_the_page_is_run_by_a_test() -> None:
    text = PAGE.read_text(encoding="utf-8")
    fences = FENCE.findall(text)
    # The management commands' block is shown, not run here (test_app.py runs them).
    assert len(fences) == len(steps()) + 1
    assert {kind for kind, _, _ in steps()} == {
        "install",
        "settings",
        "urls",
        "shell",
        "views",
        "admin",
        "signals",
        "usage",
        "async",
    }


def run(code: str, name: str, namespace: dict[str, Any]) -> None:
    try:
        exec(compile(code, f"django.md {name}", "exec"), namespace)  # noqa: S102
    except Exception as exc:  # pragma: no cover - the message is the point
        pytest.fail(f"django.md {name} block failed: {type(exc).__name__}: {exc}")


def test_the_django_page_runs_as_written(
    settings: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MFA_SECRET_KEY", generate_secret_key())
    ((_, _, settings_block),) = steps("settings")
    # What `django-admin startproject` wrote above the page's lines.
    project: dict[str, Any] = {"__name__": "settings", "INSTALLED_APPS": [], "MIDDLEWARE": []}
    run(settings_block, "settings", project)
    assert project["INSTALLED_APPS"] == ["mfakit.integrations.django"]
    assert project["MIDDLEWARE"] == ["mfakit.integrations.django.middleware.MfaMiddleware"]
    assert project["USE_TZ"] is True and project["LOGIN_URL"] == "mfakit:login"
    settings.MFAKIT = project["MFAKIT"]  # the page's setting, as the project's
    assert get_mfa().issuer == "Aesthetix CRM"
    assert get_mfa().policy.trust_days == 14

    namespace: dict[str, Any] = {"__name__": "django_page"}
    for number, (_, _, block) in enumerate(steps("usage"), start=1):
        run(block, f"usage {number}", namespace)
    out = capsys.readouterr().out.splitlines()
    assert out == ["True", "False second_step.failed", "42"]


@pytest.mark.django_db  # all the apps: the decorators ask for the user model
def test_the_views_block_guards_its_views(rf: Any) -> None:
    from django.contrib.auth.models import AnonymousUser

    ((_, _, block),) = steps("views")
    namespace: dict[str, Any] = {"__name__": "views"}
    run(block, "views", namespace)
    for name in ("patients", "export_records"):
        request = rf.get(f"/{name}/")
        request.user = AnonymousUser()
        request.session = {}
        response = namespace[name](request)
        assert response.status_code == 302
        assert response["Location"] == f"/account/2fa/login/?next=/{name}/"


def test_the_admin_and_signals_blocks() -> None:
    from mfakit.integrations.django.signals import security_event

    ((_, _, admin_block),) = steps("admin")
    namespace: dict[str, Any] = {"__name__": "urls"}
    run(admin_block, "admin", namespace)
    assert str(namespace["admin_login"].pattern) == "admin/login/"

    ((_, _, block),) = steps("signals")
    namespace = {"__name__": "receivers"}
    run(block, "signals", namespace)
    try:
        event = AuditRecord(
            id="e1", at=get_mfa().clock.now(), action="account.locked", subject_id="42"
        )
        security_event.send(sender=None, event=event, action=event.action)
        security_event.send(sender=None, event=event, action="code.sent")
        assert namespace["alerts"] == ["42"]
    finally:
        assert security_event.disconnect(namespace["on_security_event"])


def test_the_async_block_verifies_a_code_from_an_async_view() -> None:
    """The page's async view, run on an event loop (asgiref's, as under ASGI):
    a backup code passes once, and its replay is refused."""
    from asgiref.sync import async_to_sync
    from django.test import AsyncRequestFactory

    ((_, _, block),) = steps("async")
    namespace: dict[str, Any] = {"__name__": "async_views"}
    run(block, "async", namespace)
    mfa = get_mfa()
    actor = Actor.user("42", reauthenticated_at=mfa.clock.now())
    setup = mfa.begin_totp_setup(actor, "42", account_name="alice")
    done = mfa.confirm_totp_setup(
        actor, setup.id, authenticator_code(setup.secret, mfa.clock.now())
    )
    assert done.backup_codes is not None
    code = next(iter(done.backup_codes))

    def check(code: str) -> bytes:
        start = mfa.begin_sign_in("42")
        assert start.challenge is not None
        request = AsyncRequestFactory().post(
            "/check/", {"challenge": start.challenge.id, "code": code}
        )
        response = async_to_sync(namespace["check_code"])(request)
        assert response.status_code == 200
        return bytes(response.content)

    assert check(code) == b'{"ok": true}'
    assert check(code) == b'{"ok": false}'


def test_async_mfa_over_the_django_store_is_refused_on_the_event_loop() -> None:
    """Why the page wraps the sync MFA: AsyncMFA would call the ORM on the loop."""
    from asgiref.sync import async_to_sync
    from django.core.exceptions import SynchronousOnlyOperation

    amfa = AsyncMFA(store=DjangoStore(), secret_key=MFAKIT_KEY, issuer="Django Test")
    with pytest.raises(SynchronousOnlyOperation):
        async_to_sync(amfa.list_factors)("42")
