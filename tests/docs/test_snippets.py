"""The documentation's code runs: the quickstart page's snippets, in order, for real.

They use the system clock, as the page does, so this test waits once for the next
authenticator step (at most 30 s), exactly like the reader who follows the page.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def test_quickstart_page_runs_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = BLOCK.findall((DOCS / "quickstart.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 5
    namespace: dict[str, object] = {"__name__": "quickstart_page"}
    for number, block in enumerate(blocks):
        try:
            exec(compile(block, f"quickstart.md block {number}", "exec"), namespace)  # noqa: S102
        except Exception as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"quickstart.md block {number} failed: {type(exc).__name__}: {exc}")
    out = capsys.readouterr().out
    assert "False replayed" in out  # the page's own comments say what is printed
    assert "True totp" in out
    assert "True 9 False" in out


def test_step_up_page_runs_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = BLOCK.findall((DOCS / "step-up.md").read_text(encoding="utf-8"))
    assert len(blocks) == 3
    namespace: dict[str, object] = {"__name__": "step_up_page"}
    for number, block in enumerate(blocks):
        try:
            exec(compile(block, f"step-up.md block {number}", "exec"), namespace)  # noqa: S102
        except Exception as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"step-up.md block {number} failed: {type(exc).__name__}: {exc}")
    out = capsys.readouterr().out.splitlines()
    # The page's own comments say what is printed.
    assert out == ["0:05:00", "True", "reauthenticate ['totp', 'backup_code']"]


def test_quickstart_page_starts_from_pip_install() -> None:
    """A pip user has no checkout: the page installs mfakit before its first snippet
    and needs nothing from the repository to run."""
    text = (DOCS / "quickstart.md").read_text(encoding="utf-8")
    install = text.find('pip install "mfakit[testing]"\n')
    assert install != -1, "the quickstart does not say how to install mfakit"
    assert install < text.find("```python"), "the install step comes after the first snippet"
    for block in BLOCK.findall(text):
        assert "examples" not in block, "a snippet reaches into the repository's examples/"


def test_docs_and_readme_link_the_fastapi_example() -> None:
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    assert "examples/fastapi_app" in readme
    assert "examples/fastapi_app" in (DOCS / "quickstart.md").read_text(encoding="utf-8")
    example_page = (DOCS / "example-app.md").read_text(encoding="utf-8")
    assert "## The FastAPI example" in example_page
    assert "examples/fastapi_app/app.py" in example_page
    assert (DOCS.parent / "examples" / "fastapi_app" / "app.py").is_file()


def test_async_page_keeps_the_session_key_apart_from_mfakits() -> None:
    """One secret, one purpose: the session cookie is not signed with MFA_SECRET_KEY."""
    text = (DOCS / "async.md").read_text(encoding="utf-8")
    for line in text.splitlines():
        if "SessionMiddleware" in line and "secret_key" in line:
            assert "MFA_SECRET_KEY" not in line, line
    assert 'os.environ["SESSION_SECRET_KEY"]' in text
