"""FastAPI + AsyncMFA: password sign-in, the second step, and authenticator setup.

The smallest complete async integration: nothing here blocks the event loop
(argon2 runs in a worker thread inside mfakit). Users and sessions live in
memory to keep the example short; mfakit's state lives in its store.

Run: ``uvicorn examples.fastapi_app.app:app`` (with ``MFA_SECRET_KEY`` set).
(No ``from __future__ import annotations`` here: FastAPI reads the annotations
of the route functions, which refer to local dependencies.)
"""

import os
import secrets
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Cookie, Depends, FastAPI, HTTPException, Request, Response
from pydantic import BaseModel
from typing_extensions import assert_never

import mfakit
from mfakit import passwords
from mfakit.adapters import MemoryStore

TRUST_COOKIE = "mfa_trust"
SESSION_COOKIE = "session"


@dataclass
class Account:
    user_id: str
    password_hash: str
    role: str = "client"


@dataclass
class State:
    """What the app itself keeps: accounts, sessions, half-signed-in logins."""

    accounts: dict[str, Account] = field(default_factory=dict)
    sessions: dict[str, str] = field(default_factory=dict)  # token -> user id
    pending: dict[str, str] = field(default_factory=dict)  # challenge id -> user id
    step_ups: dict[str, str] = field(default_factory=dict)  # session token -> step-up grant


class Credentials(BaseModel):
    username: str
    password: str


class CodeIn(BaseModel):
    challenge_id: str
    code: str
    trust_device: bool = False


class PasswordIn(BaseModel):
    password: str


class ConfirmIn(BaseModel):
    setup_id: str
    code: str


def create_app(mfa: mfakit.AsyncMFA | None = None) -> FastAPI:
    """The app; tests pass their own AsyncMFA (fake clock, cheap hasher)."""
    amfa = mfa or mfakit.AsyncMFA(
        store=MemoryStore(),
        secret_key=os.environ.get("MFA_SECRET_KEY") or mfakit.generate_secret_key(),
        issuer="mfakit FastAPI example",
    )
    state = State()
    api = FastAPI(title="mfakit FastAPI example")
    api.state.accounts = state.accounts

    def context(request: Request) -> mfakit.RequestContext:
        return mfakit.RequestContext(
            ip=request.client.host if request.client else None,
            user_agent=(request.headers.get("user-agent") or "")[:512] or None,
        )

    def current_user(session: Annotated[str | None, Cookie()] = None) -> str:
        user_id = state.sessions.get(session or "")
        if user_id is None:
            raise HTTPException(401, "sign in first")
        return user_id

    def start_session(response: Response, user_id: str, step_up: str | None = None) -> None:
        token = secrets.token_urlsafe(32)
        state.sessions[token] = user_id
        if step_up is not None:
            # A factor was just proven: the grant lets this session change the
            # user's factors for Policy.step_up_seconds (S32).
            state.step_ups[token] = step_up
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax")

    @api.post("/login")
    async def login(
        body: Credentials,
        request: Request,
        response: Response,
        mfa_trust: Annotated[str | None, Cookie()] = None,
    ) -> dict[str, Any]:
        account = state.accounts.get(body.username)
        if account is None or not passwords.verify_password(account.password_hash, body.password):
            raise HTTPException(401, "wrong username or password")
        start = await amfa.begin_sign_in(
            account.user_id, role=account.role, trust_token=mfa_trust, context=context(request)
        )
        match start:
            case mfakit.Satisfied(trusted_device=trusted):
                start_session(response, account.user_id)
                return {"status": "signed_in", "trusted_device": trusted}
            case mfakit.EnrollmentRequired():
                start_session(response, account.user_id)
                return {"status": "enrollment_required"}
            case mfakit.ChallengeRequired(challenge=challenge):
                state.pending[challenge.id] = account.user_id
                return {
                    "status": "challenge",
                    "challenge_id": challenge.id,
                    "methods": [m.value for m in challenge.methods],
                    "method": challenge.method.value,
                }
            case other:
                assert_never(other)

    @api.post("/login/verify")
    async def verify(body: CodeIn, request: Request, response: Response) -> dict[str, Any]:
        user_id = state.pending.get(body.challenge_id)
        if user_id is None:
            raise HTTPException(404, "no such sign-in")
        try:
            result = await amfa.verify(
                body.challenge_id,
                body.code,
                trust_device=body.trust_device,
                context=context(request),
            )
        except mfakit.InvalidInput as exc:
            raise HTTPException(422, exc.problem) from None
        if not result.ok:
            retry = result.retry_after.total_seconds() if result.retry_after else None
            return {"status": "refused", "reason": str(result.reason), "retry_after": retry}
        del state.pending[body.challenge_id]
        start_session(response, user_id, result.step_up)
        if result.trust_token:
            response.set_cookie(
                TRUST_COOKIE,
                result.trust_token,
                max_age=result.trust_max_age,
                httponly=True,
                samesite="lax",
            )
        return {"status": "signed_in"}

    @api.post("/totp/setup")
    async def totp_setup(
        body: PasswordIn,
        request: Request,
        user_id: Annotated[str, Depends(current_user)],
        session: Annotated[str | None, Cookie()] = None,
    ) -> dict[str, Any]:
        account = next(a for a in state.accounts.values() if a.user_id == user_id)
        if not passwords.verify_password(account.password_hash, body.password):
            raise HTTPException(403, "wrong password")
        actor = mfakit.Actor.user(
            user_id,
            reauthenticated_at=amfa.clock.now(),
            step_up=state.step_ups.get(session or ""),
        )
        try:
            setup = await amfa.begin_totp_setup(
                actor, user_id, account_name=user_id, context=context(request)
            )
        except mfakit.StepUpRequired:
            # A second authenticator needs a factor proven in the last minutes
            # (S32): here, a sign-in with a code.
            raise HTTPException(403, "sign in again with a code first") from None
        return {
            "setup_id": setup.id,
            "uri": setup.uri,
            "secret": setup.secret,
            "qr_svg": setup.qr_svg(),
        }

    @api.post("/totp/confirm")
    async def totp_confirm(
        body: ConfirmIn, request: Request, user_id: Annotated[str, Depends(current_user)]
    ) -> dict[str, Any]:
        actor = mfakit.Actor.user(user_id)
        try:
            result = await amfa.confirm_totp_setup(
                actor, body.setup_id, body.code, context=context(request)
            )
        except mfakit.NotFound:
            raise HTTPException(404, "no such setup (it may have expired)") from None
        if not result.ok:
            return {
                "status": "refused",
                "reason": str(result.reason),
                "attempts_left": result.attempts_left,
            }
        codes = list(result.backup_codes) if result.backup_codes else []
        return {"status": "confirmed", "backup_codes": codes}

    def add_account(username: str, password: str, role: str = "client") -> None:
        state.accounts[username] = Account(username, passwords.hash_password(password), role)

    api.state.add_account = add_account
    return api


app = create_app()
