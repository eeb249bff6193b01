"""The passkeys page's Python runs as written, in order (its JavaScript runs in
Chromium in test_browser.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def test_passkeys_page_runs_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = BLOCK.findall((DOCS / "passkeys.md").read_text(encoding="utf-8"))
    assert len(blocks) == 4
    namespace: dict[str, object] = {"__name__": "passkeys_page"}
    for number, block in enumerate(blocks):
        try:
            exec(compile(block, f"passkeys.md block {number}", "exec"), namespace)  # noqa: S102
        except Exception as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"passkeys.md block {number} failed: {type(exc).__name__}: {exc}")
    # The page's comments say what is printed.
    assert capsys.readouterr().out.splitlines() == [
        "('https://example.com', 'https://app.example.com')",
        "True Laptop 10",
        "challenge webauthn",
        "True",
        "alice",
        "True yes",
        "True alice 2",
        "False wrong_origin",
    ]
