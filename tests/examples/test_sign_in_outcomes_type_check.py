"""``begin_sign_in``'s outcome narrows (issue 14): a host written with ``match``
(or a ``status`` test, or ``isinstance``) type-checks under ``mypy --strict``
with no ignore, and reading ``start.challenge.id`` without narrowing is what
mypy refuses. The host below is the README's snippet, made a module; it also
runs against a real MFA on the memory store."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from mypy import api as mypy_api

import mfakit
from mfakit import MFA
from mfakit.adapters import MemoryStore, Outbox
from mfakit.testing import FakeClock
from tests.conftest import SECRET
from tests.helpers import enrol_email

HOST = textwrap.dedent(
    '''
    from __future__ import annotations

    from typing_extensions import assert_never

    import mfakit


    def next_page(mfa: mfakit.MFA, user_id: str, role: str | None = None) -> str:
        """The README's snippet: where the browser goes after the password check."""
        match mfa.begin_sign_in(user_id, role=role):
            case mfakit.Satisfied(trusted_device=trusted):
                return "/?trusted" if trusted else "/"
            case mfakit.EnrollmentRequired():
                return "/settings/two-factor"
            case mfakit.ChallengeRequired(challenge=challenge):
                return f"/login/code?method={challenge.method.value}"  # never None
            case other:
                assert_never(other)


    def by_status(start: mfakit.SignInStart) -> str:
        if start.status is mfakit.SignInStatus.CHALLENGE:
            return start.challenge.id
        return str(start.status)


    async def in_an_async_host(amfa: mfakit.AsyncMFA, user_id: str) -> str:
        start = await amfa.begin_sign_in(user_id)
        if isinstance(start, mfakit.ChallengeRequired):
            return start.challenge.method.value
        return "/" if start.satisfied else "/settings/two-factor"
    '''
)
UNNARROWED = textwrap.dedent(
    """
    import mfakit


    def first_page(mfa: mfakit.MFA, user_id: str) -> str:
        return mfa.begin_sign_in(user_id).challenge.id
    """
)


def mypy_strict(tmp_path: Path, name: str, source: str) -> tuple[str, int]:
    """``mypy --strict`` on ``source`` against the mfakit under test."""
    package_root = Path(mfakit.__file__).resolve().parents[1]
    (tmp_path / "mypy.ini").write_text(f"[mypy]\nstrict = True\nmypy_path = {package_root}\n")
    (tmp_path / f"{name}.py").write_text(source)
    out, err, status = mypy_api.run(
        [
            "--config-file",
            str(tmp_path / "mypy.ini"),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--python-version",
            f"{sys.version_info.major}.{sys.version_info.minor}",
            str(tmp_path / f"{name}.py"),
        ]
    )
    return out + err, status


def test_a_host_narrowing_the_outcome_type_checks_strictly(tmp_path: Path) -> None:
    assert "ignore" not in HOST
    output, status = mypy_strict(tmp_path, "host", HOST)
    assert status == 0, output
    assert "Success" in output


def test_reading_the_challenge_without_narrowing_is_refused(tmp_path: Path) -> None:
    # The check is not vacuous: without narrowing, the challenge may be None.
    output, status = mypy_strict(tmp_path, "unnarrowed", UNNARROWED)
    assert status == 1
    assert 'Item "None" of "Challenge | None" has no attribute "id"' in output


def test_the_fastapi_example_type_checks_strictly(tmp_path: Path) -> None:
    # The FastAPI host of examples/ (which narrows begin_sign_in with match).
    pytest.importorskip("fastapi", reason="the FastAPI example needs fastapi installed")
    source = (Path(__file__).resolve().parents[2] / "examples/fastapi_app/app.py").read_text()
    assert "type: ignore" not in source
    output, status = mypy_strict(tmp_path, "fastapi_host", source)
    assert status == 0, output


@pytest.fixture
def host(tmp_path: Path) -> ModuleType:
    """The host module, imported from a file as a reader's project would."""
    path = tmp_path / "host_app.py"
    path.write_text(HOST)
    spec = importlib.util.spec_from_file_location("host_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_host_runs(
    host: ModuleType, mfa: MFA, store: MemoryStore, outbox: Outbox, clock: FakeClock
) -> None:
    next_page: Callable[..., str] = host.next_page
    assert next_page(mfa, "alice") == "/"
    staff_only = MFA(
        store=store,
        secret_key=SECRET,
        issuer="Aesthetix CRM",
        clock=clock,
        email=outbox,
        policy=mfakit.Policy(require_for_roles={"staff"}),
    )
    assert next_page(staff_only, "bob", role="staff") == "/settings/two-factor"
    enrol_email(mfa, outbox, clock)
    assert next_page(mfa, "alice") == "/login/code?method=email"
    start = mfa.begin_sign_in("alice")
    assert isinstance(start, mfakit.ChallengeRequired)
    assert host.by_status(start) == start.challenge.id
    assert host.by_status(mfa.begin_sign_in("carol")) == "satisfied"
