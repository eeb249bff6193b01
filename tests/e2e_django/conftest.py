"""End-to-end tests of the example Django project in a real headless Chromium.

The project (``examples/django_project``) runs as a separate process, the way
a developer runs it: ``manage.py migrate``, ``manage.py demo_seed``, then
``manage.py runserver --noreload`` on a free loopback port, on a temporary
SQLite file, with the real clock and cheap argon2 (``MFAKIT_FAST_HASHING``).

The browser is Debian's ``chromium`` driven by Playwright, as in
``tests/e2e`` (whose checks this reuses): without it the tests are skipped
with the reason, except under ``CI=true``, where its absence fails.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.conftest import (  # noqa: F401 (fixtures, registered by importing them)
    MISSING,
    browser,
    browser_context_args,
    browser_type,
    browser_type_launch_args,
    launch_browser,
    playwright,
)

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "examples" / "django_project"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if MISSING is None:
        return
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.skip(reason=f"end-to-end tests skipped: {MISSING}"))


# --- the browser: tests/e2e's fixtures (Playwright only for this package) --------------
# Imported, so that their package scope is this package's; browser_context_args
# opens relative URLs on this package's base_url.


@pytest.fixture(autouse=True)
def _timeouts(context: BrowserContext) -> None:
    context.set_default_timeout(15_000)


# --- the project ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.fixture(scope="package")
def project_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment the project's commands and server run in."""
    data = tmp_path_factory.mktemp("django_project")
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(PROJECT)]),
        "DJANGO_SETTINGS_MODULE": "demo_site.settings",
        "DJANGO_DB": str(data / "db.sqlite3"),
        "MFA_SECRET_KEY": "6f1c0e1f5b2a4d7e9c3b8a0f2e4d6c8b1a3f5e7d9c0b2a4e6f8d0c2b4a6e8f0a",
        "MFAKIT_FAST_HASHING": "1",
    }


@pytest.fixture
def make_user(base_url: str, project_env: dict[str, str]) -> Callable[[str], str]:
    """A new account of the running project (a client: no group), by name;
    its password is the demo password."""

    def make(name: str) -> str:
        code = (
            "from django.contrib.auth.models import User; "
            f"User.objects.create_user({name!r}, {name + '@practice.example'!r}, "
            "'demo-practice-2fa')"
        )
        _manage(project_env, "shell", "-c", code)
        return name

    return make


@pytest.fixture(scope="package")
def base_url(project_env: dict[str, str]) -> Iterator[str]:
    """The example project served by ``runserver`` on a free port."""
    env = project_env
    data = Path(env["DJANGO_DB"]).parent
    _manage(env, "migrate", "--verbosity", "0")
    _manage(env, "demo_seed")
    port = _free_port()
    log = (data / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=PROJECT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "the example project did not start:\n"
                        + (data / "server.log").read_text(errors="replace")
                    ) from None
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()
