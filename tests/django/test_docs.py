"""docs/django.md runs as written: its settings block builds an MFA, and the
usage blocks run against the test database, printing what the page says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from mfakit import generate_secret_key
from mfakit.integrations.django import get_mfa

from .settings import MFAKIT_ONLY

PAGE = Path(__file__).resolve().parents[2] / "docs" / "django.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)

pytestmark = pytest.mark.django_db(transaction=True, available_apps=MFAKIT_ONLY)


def test_the_django_page_runs_as_written(
    settings: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = BLOCK.findall(PAGE.read_text(encoding="utf-8"))
    assert len(blocks) == 4
    monkeypatch.setenv("MFA_SECRET_KEY", generate_secret_key())
    namespace: dict[str, Any] = {"__name__": "django_page"}
    exec(compile(blocks[0], "django.md settings", "exec"), namespace)  # noqa: S102
    assert "mfakit.integrations.django" in namespace["INSTALLED_APPS"]
    assert namespace["USE_TZ"] is True
    settings.MFAKIT = namespace["MFAKIT"]  # the page's setting, as the project's
    for number, block in enumerate(blocks[1:], start=1):
        try:
            exec(compile(block, f"django.md block {number}", "exec"), namespace)  # noqa: S102
        except Exception as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"django.md block {number} failed: {type(exc).__name__}: {exc}")
    assert get_mfa().issuer == "Aesthetix CRM"
    assert get_mfa().policy.trust_days == 14
    out = capsys.readouterr().out.splitlines()
    assert out == ["True", "False second_step.failed", "42"]
