"""The "Delivery providers" page runs as written: its configuration snippets
build the real adapters (with throwaway credentials from the environment, as
the page reads them), its error-handling code prints what its comments say,
and its own-sender example is a contract test module that pytest runs and
passes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.providers.conftest import require

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "providers.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def blocks() -> list[str]:
    found: list[str] = BLOCK.findall(PAGE.read_text(encoding="utf-8"))
    return found


@pytest.fixture
def provider_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    values = {
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "docs-test-token",
        "TWILIO_MESSAGING_SERVICE_SID": "MG" + "1" * 32,
        "TWILIO_VERIFY_SERVICE_SID": "VA" + "2" * 32,
        "VONAGE_API_KEY": "docs-key",
        "VONAGE_API_SECRET": "docs-secret",
        "AWS_ACCESS_KEY_ID": "AKIDDOCSDOCSDOCSDOCS",
        "AWS_SECRET_ACCESS_KEY": "docs-secret-key",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_configuration_and_error_snippets_run(
    provider_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    for module in ("twilio", "boto3", "vonage"):
        require(module)
    found = blocks()
    assert len(found) >= 7
    namespace: dict[str, object] = {"__name__": "providers_page"}
    for number, block in enumerate(found[:-1]):
        try:
            exec(compile(block, f"providers.md block {number}", "exec"), namespace)  # noqa: S102
        except Exception as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"providers.md block {number} failed: {type(exc).__name__}: {exc}")
    out = capsys.readouterr().out
    assert "This number has blocked our messages (reply START to us to undo it)." in out
    assert "Please try again in a minute." in out
    assert "True" in out  # TwilioVerify is a CodeProvider
    assert "docs-test-token" not in out and "docs-secret" not in out  # reprs hide secrets
    assert "SnsSmsSender()" in out and "VonageSmsSender(" in out


def test_own_sender_example_passes_the_contract_suite(tmp_path: Path) -> None:
    module = tmp_path / "test_own_sender.py"
    module.write_text(blocks()[-1], encoding="utf-8")
    ini = tmp_path / "pytest.ini"
    ini.write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-W",
            "error",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            "-c",
            str(ini),
            str(module),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 passed" in result.stdout
