"""The example app's passkey endpoints without a browser (the browser runs them in
tests/e2e/test_passkeys.py): CSRF on the JSON begin, refusals that sign no one in,
and the page script kept in step with the docs page's copyable helpers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.providers.conftest import require

require("flask")
require("webauthn")

from examples.webapp import create_app  # noqa: E402 - after the skip check

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    application = create_app(
        {
            "DATABASE": str(tmp_path / "app.db"),
            "MFA_SECRET_KEY": "5c1a3e0f9b7d2c4e6a8b0d1f3e5c7a9b2d4f6e8a0c1b3d5f7e9a2c4b6d8f0e1a",
            "SECRET_KEY": "passkey endpoint tests session key",
            "FAST_HASHING": True,
            "ECHO_MESSAGES": False,
            "PASSKEY_ORIGINS": ["http://localhost:5001"],
        }
    )
    yield application
    application.extensions["webapp"].close()


def _token(client: Any) -> str:
    page = client.get("/login").get_data(as_text=True)
    found = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_the_json_begin_needs_the_csrf_header(app: Any) -> None:
    client = app.test_client()
    token = _token(client)
    refused = client.post("/login/passkey/begin", json={"conditional": True})
    assert refused.status_code == 400
    wrong = client.post("/login/passkey/begin", json={}, headers={"X-CSRF-Token": token + "x"})
    assert wrong.status_code == 400
    begun = client.post(
        "/login/passkey/begin", json={"conditional": True}, headers={"X-CSRF-Token": token}
    )
    assert begun.status_code == 200
    body = begun.get_json()
    assert body["options"]["rpId"] == "localhost"
    assert body["options"]["allowCredentials"] == []  # no username: discoverable passkeys
    assert body["ceremonyId"]


@pytest.mark.parametrize("credential", ["", "{}", "not json", '{"id": "AAAA", "response": 1}'])
def test_a_bad_answer_signs_no_one_in(app: Any, credential: str) -> None:
    client = app.test_client()
    token = _token(client)
    begun = client.post("/login/passkey/begin", json={}, headers={"X-CSRF-Token": token})
    answer = client.post(
        "/login/passkey",
        data={"csrf_token": token, "ceremony_id": begun.get_json()["ceremonyId"],
              "credential": credential},
    )  # fmt: skip
    assert answer.status_code == 302
    where = answer.headers["Location"]
    assert "/login?" in where and "passkey=failed" in where
    with client.session_transaction() as session:
        assert "uid" not in session


def test_adding_a_passkey_needs_a_signed_in_user(app: Any) -> None:
    client = app.test_client()
    token = _token(client)
    headers = {"X-CSRF-Token": token}
    reply = client.post("/profile/passkeys/begin", json={"name": "x"}, headers=headers)
    assert reply.get_json() == {"redirect": "/login"}


def test_the_page_script_uses_the_docs_helpers() -> None:
    """static/passkeys.js starts from docs/passkeys.md's helpers, unchanged."""
    docs = (ROOT / "docs" / "passkeys.md").read_text(encoding="utf-8")
    block = re.search(r"```js\n(.*?)```", docs, re.S)
    assert block is not None
    script = (ROOT / "examples" / "webapp" / "static" / "passkeys.js").read_text(encoding="utf-8")
    helpers = block.group(1).split("async function postJSON")[0].split("\n", 1)[1]
    assert helpers.strip() and helpers in script
