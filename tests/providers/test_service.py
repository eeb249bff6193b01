"""The providers wired into MFA: what the challenge use cases do with them.

Every vendor call goes through the vendor's real client library (``twilio``)
to a local pytest-httpserver that plays Twilio: the Messages and Calls APIs,
and a stateful Verify service that makes a code per verification, approves
it once, and forgets it afterwards, as Twilio does.

* The locale reaches the voice call's ``<Say language=...>``.
* An opted-out recipient (21610) is ``Reason.OPTED_OUT``, translated, audited
  without the number, with the send quota given back.
* Delivery statuses, signed as Twilio signs them, are recorded on the
  challenge and in the audit log (memory and SQL stores).
* Twilio Verify as the SMS channel: it sends and checks the codes, while
  mfakit keeps the attempt limit, the expiry, the replay rule, the audit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

import mfakit
from mfakit import MFA, AsyncMFA, Reason
from mfakit.adapters import MemoryAuditLog, MemoryStore
from mfakit.adapters.sql import SqlStore
from mfakit.core.challenge import State
from mfakit.delivery_status import DeliveryStatus, twilio_status
from mfakit.errors import ConflictingState, DeliveryError
from mfakit.testing import FakeClock, fast_hasher
from mfakit.testing.senders import AsyncCodeProviderContract, CodeProviderContract
from tests.conftest import SECRET
from tests.helpers import fresh

from .conftest import ACCOUNT_SID, AUTH_TOKEN, VERIFY_SERVICE, closed_port, require

require("twilio")
require("aiohttp")
require("pytest_httpserver")

from werkzeug import Request, Response  # noqa: E402 - after the skip checks

from mfakit.adapters.twilio import (  # noqa: E402
    AsyncTwilioSmsSender,
    AsyncTwilioVerify,
    TwilioSmsSender,
    TwilioVerify,
    TwilioVoiceSender,
)

FROM = "+14155550100"
PHONE = "+14155550123"
MESSAGES = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
CALLS = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
VERIFY = re.compile(rf"/v2/Services/{VERIFY_SERVICE}/.*")
HOOK = "https://app.example/hooks/twilio-status"
_sids = itertools.count(1)


def json_response(body: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def twilio_error(status: int, code: int, message: str) -> Response:
    return json_response(
        {"code": code, "message": message, "more_info": "", "status": status}, status
    )


@dataclass
class FakeTwilio:
    """Twilio's Messages, Calls and Verify APIs, as far as these tests need."""

    opted_out: set[str] = field(default_factory=set)
    throttled: int = 0
    """How many of the next message requests get HTTP 429 (Twilio 20429)."""
    messages: list[dict[str, str]] = field(default_factory=list)
    calls: list[dict[str, str]] = field(default_factory=list)
    verifications: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def message(self, request: Request) -> Response:
        form = request.form.to_dict()
        if form["To"] in self.opted_out:
            return twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
        with self.lock:
            if self.throttled:
                self.throttled -= 1
                return twilio_error(429, 20429, "Too Many Requests")
        sid = f"SM{next(_sids):032x}"
        with self.lock:
            self.messages.append({**form, "sid": sid})
        return json_response({"sid": sid, "to": form["To"], "status": "queued"}, 201)

    def call(self, request: Request) -> Response:
        form = request.form.to_dict()
        sid = f"CA{next(_sids):032x}"
        with self.lock:
            self.calls.append({**form, "sid": sid})
        return json_response({"sid": sid, "to": form["To"], "status": "queued"}, 201)

    def verify(self, request: Request) -> Response:
        form = request.form.to_dict()
        tail = request.path.rsplit("/", 1)[1]
        with self.lock:
            if tail == "Verifications":
                return self._start(form)
            if tail == "VerificationCheck":
                return self._check(form)
            return self._update(tail, form)

    def _start(self, form: dict[str, str]) -> Response:
        if form["To"] in self.opted_out:
            return twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
        sid = f"VE{next(_sids):032x}"
        code = f"{secrets.randbelow(10**6):06d}"
        self.verifications[sid] = {**form, "code": code, "status": "pending", "checks": 0}
        return json_response(
            {"sid": sid, "to": form["To"], "channel": form["Channel"], "status": "pending"}, 201
        )

    def _check(self, form: dict[str, str]) -> Response:
        self.checks.append(form)
        found = self.verifications.get(form["VerificationSid"])
        if found is None or found["status"] != "pending":
            return twilio_error(404, 20404, "The requested resource was not found")
        found["checks"] += 1
        if form["Code"] == found["code"]:
            found["status"] = "approved"
        return json_response({"sid": form["VerificationSid"], "status": found["status"]}, 200)

    def _update(self, sid: str, form: dict[str, str]) -> Response:
        found = self.verifications.get(sid)
        if found is None or found["status"] != "pending":
            return twilio_error(404, 20404, "The requested resource was not found")
        found["status"] = form["Status"]
        return json_response({"sid": sid, "status": found["status"]}, 200)

    def code_for(self, to: str) -> tuple[str, str]:
        """The newest verification to ``to``: its sid and code."""
        with self.lock:
            sid, found = [(s, v) for s, v in self.verifications.items() if v["To"] == to][-1]
        return sid, str(found["code"])


@pytest.fixture
def twilio(http_server: Any) -> FakeTwilio:
    fake = FakeTwilio()
    http_server.expect_request(MESSAGES, method="POST").respond_with_handler(fake.message)
    http_server.expect_request(CALLS, method="POST").respond_with_handler(fake.call)
    http_server.expect_request(VERIFY, method="POST").respond_with_handler(fake.verify)
    return fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryStore()
        return
    sql = SqlStore.from_url(f"sqlite:///{tmp_path / 'mfa.db'}")
    yield sql
    sql.close()


def make_mfa(store: Any, clock: FakeClock, audit: MemoryAuditLog, **senders: Any) -> MFA:
    return MFA(
        store=store,
        secret_key=SECRET,
        issuer="Clinic",
        clock=clock,
        hasher=fast_hasher(),
        audit=audit,
        **senders,
    )


def sms_sender(server: Any, **options: Any) -> TwilioSmsSender:
    return TwilioSmsSender(
        ACCOUNT_SID, AUTH_TOKEN, from_=FROM, base_url=server.url_for("/"), retry_delay=0, **options
    )


def verify_provider(server: Any) -> TwilioVerify:
    return TwilioVerify(
        ACCOUNT_SID,
        AUTH_TOKEN,
        service_sid=VERIFY_SERVICE,
        base_url=server.url_for("/"),
        retry_delay=0,
    )


def code_in(text: str) -> str:
    match = re.search(r"[0-9]{6}", text)
    assert match is not None
    return match.group(0)


def enrol_by_sms(mfa: MFA, twilio: FakeTwilio, clock: FakeClock) -> None:
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    assert sent.ok
    assert mfa.verify(sent.challenge.id, code_in(twilio.messages[-1]["Body"])).ok
    clock.advance(seconds=31)


def signed(params: dict[str, str]) -> str:
    """X-Twilio-Signature as Twilio computes it (HMAC-SHA1, base64)."""
    payload = HOOK + "".join(k + params[k] for k in sorted(params))
    digest = hmac.new(AUTH_TOKEN.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def callback(sid: str, status: str, error: str | None = None) -> DeliveryStatus:
    """A message status callback as Twilio posts it, checked by twilio_status."""
    params = {
        "AccountSid": ACCOUNT_SID,
        "MessageSid": sid,
        "MessageStatus": status,
        "To": PHONE,
        "From": FROM,
        "ApiVersion": "2010-04-01",
    }
    if error is not None:
        params["ErrorCode"] = error
    return twilio_status(HOOK, params, signed(params), auth_token=AUTH_TOKEN)


def no_phone_in(events: list[mfakit.AuditRecord]) -> None:
    for e in events:
        assert PHONE not in repr(e) and PHONE not in json.dumps(e.details)


# --- the locale reaches the provider -----------------------------------------------------


def test_the_call_speaks_the_users_language(
    http_server: Any, twilio: FakeTwilio, store: Any, clock: FakeClock
) -> None:
    audit = MemoryAuditLog()
    voice = TwilioVoiceSender(
        ACCOUNT_SID, AUTH_TOKEN, from_=FROM, base_url=http_server.url_for("/")
    )
    mfa = make_mfa(store, clock, audit, voice=voice)
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE, method="voice", locale="fr")
    assert sent.ok
    (call,) = twilio.calls
    assert call["To"] == PHONE
    twiml = call["Twiml"]
    assert twiml.count('<Say language="fr-FR">') == 2
    assert "code de vérification" in twiml
    digits = re.search(r"([0-9], ){5}[0-9]", twiml)
    assert digits is not None
    code = digits.group(0).replace(", ", "")
    assert mfa.verify(sent.challenge.id, code).ok


# --- an opted-out recipient ---------------------------------------------------------------


def test_an_opted_out_number_is_a_reason_not_an_error(
    http_server: Any, twilio: FakeTwilio, store: Any, clock: FakeClock
) -> None:
    audit = MemoryAuditLog()
    mfa = make_mfa(store, clock, audit, sms=sms_sender(http_server))
    twilio.opted_out.add(PHONE)

    for _ in range(store_quota := mfa.policy.send_quota + 1):
        sent = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE, locale="fr")
        # Every try reaches Twilio: an opted-out refusal takes no quota.
        assert not sent.ok and sent.reason is Reason.OPTED_OUT
        assert sent.challenge.code_sent_at is None and sent.challenge.attempts_left == 5
    assert twilio.messages == []
    assert len(http_server.log) == store_quota
    assert mfa.messages.texts("fr").explain(sent) == (
        "Ce numéro a bloqué nos messages : aucun code n'a été envoyé. "
        "Choisissez une autre méthode de vérification."
    )
    assert mfa.messages.texts("en").explain(sent) == (
        "This number has blocked our messages, so no code was sent. Choose another way to verify."
    )
    events = [e for e in audit.events if e.action == "code.not_sent"]
    assert len(events) == store_quota
    assert events[0].outcome == "refused" and events[0].reason == "opted_out"
    assert dict(events[0].details)["provider"] == "twilio"
    assert dict(events[0].details)["provider_code"] == "21610"
    assert dict(events[0].details)["destination"] != PHONE
    no_phone_in(list(audit.events))

    twilio.opted_out.clear()  # the user texted START
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    assert sent.ok and len(twilio.messages) == 1


def test_an_opted_out_sign_in_reports_the_reason_in_the_start(
    http_server: Any, twilio: FakeTwilio, store: Any, clock: FakeClock
) -> None:
    audit = MemoryAuditLog()
    mfa = make_mfa(store, clock, audit, sms=sms_sender(http_server))
    enrol_by_sms(mfa, twilio, clock)
    twilio.opted_out.add(PHONE)
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None and start.delivery is not None
    assert start.delivery.reason is Reason.OPTED_OUT and not start.delivery_failed
    assert mfa.verify(start.challenge.id, "123456").reason is Reason.NO_CODE_SENT


def test_provider_failures_give_the_send_quota_back(
    http_server: Any, twilio: FakeTwilio, store: Any, clock: FakeClock
) -> None:
    """Twilio throttles twice in a row (the one retry included) on more sends
    than the quota allows: each raises ProviderRateLimited, and none of them
    uses up the user's sends."""
    audit = MemoryAuditLog()
    mfa = make_mfa(store, clock, audit, sms=sms_sender(http_server))
    quota = mfa.policy.send_quota
    for _ in range(quota + 1):
        twilio.throttled = 2
        with pytest.raises(mfakit.ProviderRateLimited) as caught:
            mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
        assert caught.value.retryable
        view = mfa.get_challenge(caught.value.challenge_id or "")
        assert view.code_sent_at is None
    assert twilio.messages == [] and len(http_server.log) == 2 * (quota + 1)
    for _ in range(quota):  # the whole quota is still there
        assert mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE).ok
    assert len(twilio.messages) == quota
    over = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    assert not over.ok and over.reason is Reason.SEND_LIMIT


# --- delivery statuses --------------------------------------------------------------------


def test_delivery_statuses_are_recorded_on_the_challenge_and_audited(
    http_server: Any, twilio: FakeTwilio, store: Any, clock: FakeClock
) -> None:
    audit = MemoryAuditLog()
    mfa = make_mfa(store, clock, audit, sms=sms_sender(http_server, status_callback=HOOK))
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    (message,) = twilio.messages
    assert message["StatusCallback"] == HOOK
    sid = message["sid"]
    assert mfa.get_challenge(sent.challenge.id).delivery is None

    assert mfa.record_delivery_status(callback(sid, "sent"))
    assert mfa.get_challenge(sent.challenge.id).delivery == "sent"
    assert mfa.record_delivery_status(callback(sid, "delivered"))
    # Callbacks arrive out of order: a late "sent" does not undo "delivered".
    assert mfa.record_delivery_status(callback(sid, "sent"))
    view = mfa.get_challenge(sent.challenge.id)
    assert view.delivery == "delivered" and view.delivery_error is None

    events = [e for e in audit.events if e.action == "code.delivery"]
    assert [dict(e.details)["state"] for e in events] == ["sent", "delivered"]
    assert dict(events[-1].details)["provider"] == "twilio"
    assert events[-1].outcome == "success" and events[-1].method == "sms"
    no_phone_in(list(audit.events))

    # The code still works, and the user can still verify it.
    assert mfa.verify(sent.challenge.id, code_in(message["Body"])).ok


def test_a_failed_delivery_carries_the_error_and_a_resend_moves_on(
    http_server: Any, twilio: FakeTwilio, store: Any, clock: FakeClock
) -> None:
    audit = MemoryAuditLog()
    mfa = make_mfa(store, clock, audit, sms=sms_sender(http_server))
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    first = twilio.messages[0]["sid"]
    assert mfa.record_delivery_status(callback(first, "undelivered", "30006"))
    view = mfa.get_challenge(sent.challenge.id)
    assert view.delivery == "failed" and view.delivery_error == "30006"
    (event,) = [e for e in audit.events if e.action == "code.delivery"]
    assert event.outcome == "failure" and dict(event.details)["error_code"] == "30006"

    clock.advance(seconds=31)
    again = mfa.resend(sent.challenge.id)
    assert again.ok and again.challenge.delivery is None  # the new code: nothing heard yet
    second = twilio.messages[1]["sid"]
    # A late status of the replaced message changes nothing.
    assert not mfa.record_delivery_status(callback(first, "delivered"))
    assert mfa.record_delivery_status(callback(second, "delivered"))
    assert mfa.get_challenge(sent.challenge.id).delivery == "delivered"
    # An unknown message id matches no challenge.
    assert not mfa.record_delivery_status(callback("SM" + "f" * 32, "delivered"))


def test_a_status_that_is_no_delivery_status_is_refused(store: Any, clock: FakeClock) -> None:
    mfa = make_mfa(store, clock, MemoryAuditLog())
    for bad in (None, "delivered", {"message_id": "SM" + "0" * 32}):
        with pytest.raises(mfakit.InvalidInput):
            mfa.record_delivery_status(bad)  # type: ignore[arg-type]
    with pytest.raises(mfakit.InvalidInput):
        mfa.record_delivery_status(
            DeliveryStatus(
                provider="twilio",
                channel="sms",
                message_id="SM" + "0" * 32,
                state="lost",  # type: ignore[arg-type]
                provider_status="lost",
            )
        )


# --- Twilio Verify as the SMS channel --------------------------------------------------------


class _VerifyContractFixtures:
    """Twilio Verify through the real twilio library against FakeTwilio, which
    makes the codes as Verify does; `issued` reads them back."""

    @pytest.fixture
    def issued(self, twilio: FakeTwilio) -> Any:
        def codes() -> dict[str, str]:
            with twilio.lock:
                return {sid: str(v["code"]) for sid, v in twilio.verifications.items()}

        return codes

    @pytest.fixture
    def secrets(self) -> list[str]:
        return [AUTH_TOKEN]


class TestTwilioVerifyContract(_VerifyContractFixtures, CodeProviderContract):
    @pytest.fixture
    def provider(self, http_server: Any, twilio: FakeTwilio) -> TwilioVerify:
        return verify_provider(http_server)

    @pytest.fixture
    def broken_provider(self) -> TwilioVerify:
        return TwilioVerify(
            ACCOUNT_SID,
            AUTH_TOKEN,
            service_sid=VERIFY_SERVICE,
            base_url=f"http://127.0.0.1:{closed_port()}",
            retry_delay=0,
        )


class TestTwilioVerifyEmailContract(TestTwilioVerifyContract):
    @pytest.fixture
    def channel(self) -> str:
        return "email"

    @pytest.fixture
    def destination(self) -> str:
        return "alice@example.org"


class TestAsyncTwilioVerifyContract(_VerifyContractFixtures, AsyncCodeProviderContract):
    @pytest.fixture
    def provider(self, http_server: Any, twilio: FakeTwilio) -> AsyncTwilioVerify:
        return AsyncTwilioVerify(
            ACCOUNT_SID,
            AUTH_TOKEN,
            service_sid=VERIFY_SERVICE,
            base_url=http_server.url_for("/"),
            retry_delay=0,
        )

    @pytest.fixture
    def broken_provider(self) -> AsyncTwilioVerify:
        return AsyncTwilioVerify(
            ACCOUNT_SID,
            AUTH_TOKEN,
            service_sid=VERIFY_SERVICE,
            base_url=f"http://127.0.0.1:{closed_port()}",
            retry_delay=0,
        )


def test_verify_sends_and_checks_while_mfakit_keeps_the_challenge(
    http_server: Any, twilio: FakeTwilio, store: Any, clock: FakeClock
) -> None:
    audit = MemoryAuditLog()
    mfa = make_mfa(store, clock, audit, sms=verify_provider(http_server))

    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE, locale="pt_BR")
    assert sent.ok
    ref, code = twilio.code_for(PHONE)
    start = twilio.verifications[ref]
    assert (start["To"], start["Channel"], start["Locale"]) == (PHONE, "sms", "pt-BR")
    assert twilio.messages == []  # mfakit made no code and sent no message of its own
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    result = mfa.verify(sent.challenge.id, wrong)
    assert result.reason is Reason.INVALID_CODE and result.attempts_left == 4
    assert mfa.verify(sent.challenge.id, code).ok
    assert [c["Code"] for c in twilio.checks] == [wrong, code]
    assert all(c["VerificationSid"] == ref for c in twilio.checks)
    (contact,) = store.get_contacts("alice")
    assert contact.value == PHONE and contact.verified

    # The code is spent: the challenge is over, and Twilio is not asked again.
    with pytest.raises(ConflictingState):
        mfa.verify(sent.challenge.id, code)
    assert len(twilio.checks) == 2
    actions = [e.action for e in audit.events]
    assert actions.count("code.sent") == 1 and "second_step.failed" in actions
    no_phone_in(list(audit.events))
    assert code not in repr(list(audit.events))

    # Signing in: a second verification, checked the same way.
    clock.advance(seconds=31)
    start_sign_in = mfa.begin_sign_in("alice")
    assert start_sign_in.challenge is not None and start_sign_in.delivery is not None
    assert start_sign_in.delivery.ok
    new_ref, new_code = twilio.code_for(PHONE)
    assert new_ref != ref
    assert mfa.verify(start_sign_in.challenge.id, new_code).ok


def test_verify_keeps_the_attempt_limit(
    http_server: Any, twilio: FakeTwilio, store: Any, clock: FakeClock
) -> None:
    mfa = make_mfa(store, clock, MemoryAuditLog(), sms=verify_provider(http_server))
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    _, code = twilio.code_for(PHONE)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for left in (4, 3, 2, 1):
        assert mfa.verify(sent.challenge.id, wrong).attempts_left == left
    assert mfa.verify(sent.challenge.id, wrong).reason is Reason.TOO_MANY_ATTEMPTS
    checked = len(twilio.checks)
    assert checked == 5
    # Locked: even the right code is refused, without asking Twilio.
    assert mfa.verify(sent.challenge.id, code).reason is Reason.TOO_MANY_ATTEMPTS
    assert len(twilio.checks) == checked
    assert mfa.get_challenge(sent.challenge.id).state is State.LOCKED


def test_verify_keeps_the_expiry(
    http_server: Any, twilio: FakeTwilio, store: Any, clock: FakeClock
) -> None:
    mfa = make_mfa(store, clock, MemoryAuditLog(), sms=verify_provider(http_server))
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    _, code = twilio.code_for(PHONE)
    clock.advance(mfa.policy.code_ttl + timedelta(seconds=1))
    assert mfa.verify(sent.challenge.id, code).reason is Reason.EXPIRED
    assert twilio.checks == []  # mfakit's expiry decides, not Twilio's


def test_verify_that_cannot_answer_counts_no_attempt(
    http_server: Any, twilio: FakeTwilio, store: Any, clock: FakeClock
) -> None:
    mfa = make_mfa(store, clock, MemoryAuditLog(), sms=verify_provider(http_server))
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    _, code = twilio.code_for(PHONE)
    http_server.stop()  # Twilio unreachable while checking
    try:
        with pytest.raises(DeliveryError):
            mfa.verify(sent.challenge.id, code)
    finally:
        http_server.start()
    assert mfa.get_challenge(sent.challenge.id).attempts_left == 5
    assert mfa.verify(sent.challenge.id, code).ok


def test_cancelling_the_challenge_cancels_the_verification(
    http_server: Any, twilio: FakeTwilio, store: Any, clock: FakeClock
) -> None:
    mfa = make_mfa(store, clock, MemoryAuditLog(), sms=verify_provider(http_server))
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    ref, code = twilio.code_for(PHONE)
    assert mfa.cancel(sent.challenge.id).state is State.CANCELLED
    assert twilio.verifications[ref]["status"] == "canceled"
    with pytest.raises(ConflictingState):
        mfa.verify(sent.challenge.id, code)
    assert twilio.checks == []
    # Cancelling again changes nothing and asks Twilio nothing.
    requests = len(http_server.log)
    mfa.cancel(sent.challenge.id)
    assert len(http_server.log) == requests


def test_a_cancel_twilio_cannot_hear_still_ends_the_challenge(
    http_server: Any, twilio: FakeTwilio, store: Any, clock: FakeClock
) -> None:
    mfa = make_mfa(store, clock, MemoryAuditLog(), sms=verify_provider(http_server))
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    http_server.stop()
    try:
        assert mfa.cancel(sent.challenge.id).state is State.CANCELLED
    finally:
        http_server.start()
    assert mfa.get_challenge(sent.challenge.id).state is State.CANCELLED


def test_verify_opted_out_is_a_reason(
    http_server: Any, twilio: FakeTwilio, store: Any, clock: FakeClock
) -> None:
    audit = MemoryAuditLog()
    mfa = make_mfa(store, clock, audit, sms=verify_provider(http_server))
    twilio.opted_out.add(PHONE)
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    assert sent.reason is Reason.OPTED_OUT and twilio.verifications == {}
    assert [e.action for e in audit.events] == ["code.not_sent"]


def test_no_notices_go_through_a_code_provider(
    http_server: Any, twilio: FakeTwilio, store: Any, clock: FakeClock
) -> None:
    """Verify only sends its own codes: security notices need a sender."""
    mfa = make_mfa(store, clock, MemoryAuditLog(), sms=verify_provider(http_server))
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    assert mfa.verify(sent.challenge.id, twilio.code_for(PHONE)[1]).ok
    # The factor-added notice had no channel to go out on; nothing reached Twilio.
    assert twilio.messages == [] and len(twilio.verifications) == 1


def test_a_right_code_is_accepted_once_under_concurrency(
    http_server: Any, twilio: FakeTwilio, clock: FakeClock
) -> None:
    store = MemoryStore()
    mfa = make_mfa(store, clock, MemoryAuditLog(), sms=verify_provider(http_server))
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    _, code = twilio.code_for(PHONE)
    barrier = threading.Barrier(8)
    outcomes: list[object] = []

    def attempt() -> None:
        barrier.wait()
        try:
            outcomes.append(mfa.verify(sent.challenge.id, code).ok)
        except ConflictingState:
            outcomes.append("ended")

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count(True) == 1, outcomes
    assert len(store.get_contacts("alice")) == 1


@pytest.mark.asyncio
async def test_async_verify_through_async_mfa(http_server: Any, twilio: FakeTwilio) -> None:
    clock = FakeClock()
    provider = AsyncTwilioVerify(
        ACCOUNT_SID, AUTH_TOKEN, service_sid=VERIFY_SERVICE, base_url=http_server.url_for("/")
    )
    amfa = AsyncMFA(
        store=MemoryStore(),
        secret_key=SECRET,
        issuer="Clinic",
        clock=clock,
        hasher=fast_hasher(),
        sms=provider,
    )
    sent = await amfa.begin_phone_enrolment(fresh(clock), "alice", PHONE, locale="de")
    assert sent.ok
    ref, code = twilio.code_for(PHONE)
    assert twilio.verifications[ref]["Locale"] == "de"
    assert (
        await amfa.verify(sent.challenge.id, "000000" if code != "000000" else "111111")
    ).ok is False
    assert (await amfa.verify(sent.challenge.id, code)).ok


def test_a_dead_provider_leaves_the_challenge_as_it_was(store: Any, clock: FakeClock) -> None:
    provider = TwilioVerify(
        ACCOUNT_SID,
        AUTH_TOKEN,
        service_sid=VERIFY_SERVICE,
        base_url=f"http://127.0.0.1:{closed_port()}",
        retry_delay=0,
    )
    mfa = make_mfa(store, clock, MemoryAuditLog(), sms=provider)
    with pytest.raises(DeliveryError) as failed:
        mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    view = mfa.get_challenge(failed.value.challenge_id or "")
    assert view.code_sent_at is None and view.attempts_left == 5


@pytest.mark.asyncio
async def test_async_mfa_sends_through_twilio_and_records_statuses(
    http_server: Any, twilio: FakeTwilio
) -> None:
    """The async facade on the async sender: the opted-out reason, the message
    sid kept on the challenge, and statuses recorded on it and audited."""
    clock, audit = FakeClock(), MemoryAuditLog()
    amfa = AsyncMFA(
        store=MemoryStore(),
        secret_key=SECRET,
        issuer="Clinic",
        clock=clock,
        hasher=fast_hasher(),
        audit=audit,
        sms=AsyncTwilioSmsSender(
            ACCOUNT_SID,
            AUTH_TOKEN,
            from_=FROM,
            base_url=http_server.url_for("/"),
            status_callback=HOOK,
            retry_delay=0,
        ),
    )
    twilio.opted_out.add(PHONE)
    refused = await amfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    assert not refused.ok and refused.reason is Reason.OPTED_OUT
    twilio.opted_out.clear()

    sent = await amfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    assert sent.ok
    (message,) = twilio.messages
    assert message["StatusCallback"] == HOOK
    assert await amfa.record_delivery_status(callback(message["sid"], "undelivered", "30006"))
    view = await amfa.get_challenge(sent.challenge.id)
    assert (view.delivery, view.delivery_error) == ("failed", "30006")
    assert not await amfa.record_delivery_status(callback("SM" + "0" * 32, "delivered"))
    (event,) = [e for e in audit.events if e.action == "code.delivery"]
    assert dict(event.details)["state"] == "failed" and event.method == "sms"
    no_phone_in(list(audit.events))
