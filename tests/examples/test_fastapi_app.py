"""The FastAPI example on AsyncMFA, through httpx's ASGI transport."""

from __future__ import annotations

from datetime import timedelta

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

from examples.fastapi_app.app import create_app  # noqa: E402

import mfakit  # noqa: E402
from mfakit.adapters.memory_async import AsyncMemoryStore  # noqa: E402
from mfakit.testing import FakeClock, authenticator_code, fast_hasher  # noqa: E402
from tests.conftest import SECRET  # noqa: E402

PASSWORD = "correct horse battery staple"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(clock: FakeClock):  # type: ignore[no-untyped-def]
    amfa = mfakit.AsyncMFA(
        store=AsyncMemoryStore(),
        secret_key=SECRET,
        issuer="Example",
        clock=clock,
        hasher=fast_hasher(),
        policy=mfakit.Policy(require_for_roles={"staff"}),
    )
    api = create_app(amfa)
    api.state.add_account("alice", PASSWORD, "staff")
    return api


@pytest.mark.asyncio
async def test_enrol_then_sign_in_with_a_code_and_trust_the_device(app, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        first = await client.post("/login", json={"username": "alice", "password": PASSWORD})
        assert first.json() == {"status": "enrollment_required"}
        setup = (await client.post("/totp/setup", json={"password": PASSWORD})).json()
        assert setup["uri"].startswith("otpauth://totp/Example:alice?")
        assert setup["qr_svg"].lstrip().startswith("<svg")
        confirm = await client.post(
            "/totp/confirm",
            json={
                "setup_id": setup["setup_id"],
                "code": authenticator_code(setup["uri"], clock.now()),
            },
        )
        assert confirm.json()["status"] == "confirmed"
        assert len(confirm.json()["backup_codes"]) == 10

        clock.advance(timedelta(seconds=60))
        start = (
            await client.post("/login", json={"username": "alice", "password": PASSWORD})
        ).json()
        assert start["status"] == "challenge" and start["method"] == "totp"
        wrong = await client.post(
            "/login/verify", json={"challenge_id": start["challenge_id"], "code": "000000"}
        )
        assert wrong.json()["reason"] in ("invalid_code", "replayed")
        code = authenticator_code(setup["uri"], clock.now())
        ok = await client.post(
            "/login/verify",
            json={"challenge_id": start["challenge_id"], "code": code, "trust_device": True},
        )
        assert ok.json() == {"status": "signed_in"}
        assert "mfa_trust" in ok.cookies
        # The code just passed is a step-up (S32): a second authenticator may
        # be added now, and not once the grant is older than step_up_seconds.
        second = await client.post("/totp/setup", json={"password": PASSWORD})
        assert second.status_code == 200, second.text
        clock.advance(timedelta(minutes=6))
        late = await client.post("/totp/setup", json={"password": PASSWORD})
        assert (late.status_code, late.json()["detail"]) == (403, "sign in again with a code first")

        again = await client.post("/login", json={"username": "alice", "password": PASSWORD})
        assert again.json() == {"status": "signed_in", "trusted_device": True}

    # A fresh client (no trust cookie) is asked for a code again.
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as other:
        fresh = (
            await other.post("/login", json={"username": "alice", "password": PASSWORD})
        ).json()
        assert fresh["status"] == "challenge"


@pytest.mark.asyncio
async def test_wrong_password_and_malformed_codes(app) -> None:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        assert (
            await client.post("/login", json={"username": "alice", "password": "nope"})
        ).status_code == 401
        assert (await client.post("/totp/setup", json={"password": PASSWORD})).status_code == 401
        assert (
            await client.post("/login/verify", json={"challenge_id": "x", "code": "1"})
        ).status_code == 404
