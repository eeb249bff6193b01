"""End-to-end tests of the example web app in a real headless Chromium.

The app (``examples.webapp``) runs in a thread of this process at
``http://localhost:PORT`` (a free port; RP id ``localhost`` for passkeys), on a
temporary SQLite file, with the real clock: a fake clock cannot reach across the
browser. Cheap argon2 (``mfakit.testing.fast_hasher``)
and a 3-second resend cooldown keep the run short.

The browser is Debian's ``chromium`` package driven by Playwright
(``apt-get install -y chromium``; ``pip install playwright pytest-playwright``;
never ``playwright install``). Without them the tests are skipped with the
reason, except when ``CI=true``: there they must run, so their absence fails.

Codes are read the way a user reads them: the authenticator's from the key on
the setup page (pyotp), the others from the app's "dev inbox" page.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from .helpers import ADMIN_EMAIL, DEMO_PASSWORD, sign_in

if TYPE_CHECKING:
    from flask import Flask
    from playwright.sync_api import Browser, BrowserContext, BrowserType, Page, Playwright

CHROMIUM = os.environ.get("MFAKIT_CHROMIUM", "/usr/bin/chromium")  # Debian's package
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed: pip install playwright pytest-playwright"
    if importlib.util.find_spec("pytest_playwright") is None:
        return "pytest-playwright is not installed: pip install pytest-playwright"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing: apt-get install -y chromium"
    return None


MISSING = _missing()
if MISSING is not None and os.environ.get("CI") == "true":
    raise RuntimeError(f"the end-to-end tests must run in CI, but {MISSING}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if MISSING is None:
        return
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.skip(reason=f"end-to-end tests skipped: {MISSING}"))


# --- the browser ---------------------------------------------------------------------
#
# pytest-playwright keeps one Playwright (and its event loop) for the whole session.
# The sync API's loop then stays registered as "running" in the main thread, and
# every asyncio test that runs later in the same session fails ("Cannot run the
# event loop while another loop is running"). So the fixtures that hold Playwright
# are narrowed to this package: it stops when the last end-to-end test is done.


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium, headless (pytest-playwright's own fixture, extended)."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(scope="package")
def playwright(_pw_api_request_contexts: Any) -> Iterator[Playwright]:
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    if _pw_api_request_contexts:
        _pw_api_request_contexts.instrument(pw)
    yield pw
    pw.stop()


@pytest.fixture(scope="package")
def browser_type(playwright: Playwright, browser_name: str) -> BrowserType:
    return cast("BrowserType", getattr(playwright, browser_name))


@pytest.fixture(scope="package")
def launch_browser(
    browser_type_launch_args: dict[str, Any], browser_type: BrowserType
) -> Callable[..., Browser]:
    def launch(**kwargs: Any) -> Browser:
        return browser_type.launch(**{**browser_type_launch_args, **kwargs})

    return launch


@pytest.fixture(scope="package")
def browser(launch_browser: Callable[..., Browser]) -> Iterator[Browser]:
    browser = launch_browser()
    yield browser
    browser.close()


@pytest.fixture(scope="package")
def browser_context_args(base_url: str) -> dict[str, Any]:
    """Every context opens relative URLs (``page.goto("/login")``) on the app."""
    return {"base_url": base_url}


# --- the app ---------------------------------------------------------------------------


@dataclass
class RunningApp:
    url: str
    app: Flask


@pytest.fixture(scope="package")
def webapp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The example app on a free port of ``localhost``, in a thread."""
    from examples.webapp import create_app
    from werkzeug.serving import make_server

    database = tmp_path_factory.mktemp("webapp") / "e2e.db"
    # Served on http://localhost:PORT with RP id "localhost": browsers refuse
    # WebAuthn on 127.0.0.1. The port is known once the server is bound, and
    # the app needs it for its passkey origin, so the server calls the app late.
    apps: list[Flask] = []
    server = make_server("localhost", 0, lambda env, start: apps[0](env, start), threaded=True)
    url = f"http://localhost:{server.server_port}"
    app = create_app(
        {
            "DATABASE": str(database),
            "MFA_SECRET_KEY": "255bbf16dd90d79989da10930ae41da22a900cdd41ce9f65f27ccc016c012740",
            "SECRET_KEY": "end-to-end tests session key",
            "FAST_HASHING": True,
            "RESEND_COOLDOWN": timedelta(seconds=3),
            "ECHO_MESSAGES": False,
            "PASSKEY_ORIGINS": [url],
        }
    )
    apps.append(app)
    thread = threading.Thread(target=server.serve_forever, name="webapp", daemon=True)
    thread.start()
    try:
        yield RunningApp(url=url, app=app)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        app.extensions["webapp"].close()


@pytest.fixture(scope="package")
def base_url(webapp: RunningApp) -> str:
    return webapp.url


@pytest.fixture(autouse=True)
def _timeouts(context: BrowserContext) -> None:
    context.set_default_timeout(10_000)


@pytest.fixture
def admin_page(new_context: Callable[..., BrowserContext]) -> Page:
    """Another browser where the practice owner (an admin) is signed in."""
    context = new_context()
    context.set_default_timeout(10_000)
    page = context.new_page()
    sign_in(page, ADMIN_EMAIL, DEMO_PASSWORD)
    page.get_by_role("heading", name="Hello, Olivia Owner").wait_for()
    return page
