"""The pages the 0.2 attack review changed run as written: every Python block
of each page, in order, in one namespace (as a reader pastes them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import mfakit

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
PAGES = ["policies.md", "account-changes.md", "audit.md", "concepts.md", "security.md"]


@pytest.mark.parametrize("page", PAGES)
def test_page_runs_as_written(page: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MFA_SECRET_KEY", mfakit.generate_secret_key())
    blocks = BLOCK.findall((DOCS / page).read_text(encoding="utf-8"))
    namespace: dict[str, object] = {"__name__": page}
    for number, block in enumerate(blocks):
        try:
            exec(compile(block, f"{page} block {number}", "exec"), namespace)  # noqa: S102
        except Exception as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"{page} block {number} failed: {type(exc).__name__}: {exc}")
