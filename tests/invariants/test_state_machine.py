"""A stateful, property-based model of the whole library (issue 9).

A Hypothesis ``RuleBasedStateMachine`` drives :class:`mfakit.MFA` through
random sequences of every public operation for a small population (users
``u0``..``u2`` and one admin) on the memory store, the outbox (SMS, voice,
email), a :class:`~mfakit.adapters.MemoryAuditLog` and a
:class:`~mfakit.testing.FakeClock`, and keeps its own model of what should be
true: which factors are enrolled and verified, which codes were sent, used and
still valid, which TOTP steps were accepted, which trust tokens were issued,
revoked or went stale, and every counter behind the abuse limits.

Every call's outcome (a result or a typed refusal) is compared with the
model's prediction, and after every step these invariants are checked:

a. a code is never delivered to a destination that was not verified for that
   user when the call started, except the possession proof of the
   destination being enrolled (an ``ENROL_CONTACT`` challenge's own target);
b. no code, backup code or TOTP step is accepted twice, a TOTP step never at
   or below the last accepted one, and nothing after its challenge expired or
   locked;
c. every accepted sign-in had a valid second factor, or a valid, unrevoked,
   unexpired, non-stale trust token of that user (or the user has no 2FA);
d. limits hold: wrong codes per challenge, sends per destination per window
   (recomputed from the outbox), contact changes per user per day
   (recomputed from the audit trail);
e. every state change has its audit record, and no audit record, error
   message or result ``repr`` holds secret material (codes, backup codes,
   TOTP secrets and URIs, answers, trust tokens, full phone numbers or
   addresses).

The same machine runs on the SQL adapter on SQLite (``TestSqliteInvariants``).

Size: the default profile runs 40 examples of up to 30 steps per store. For
a nightly run with many more and longer examples set
``MFAKIT_HYPOTHESIS_PROFILE=nightly`` (see ``tests/invariants/profiles.py``)::

    MFAKIT_HYPOTHESIS_PROFILE=nightly .venv/bin/python -m pytest tests/invariants
"""

from __future__ import annotations

import dataclasses
import importlib.util
from collections import Counter as Multiset
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from mfakit import (
    MFA,
    Action,
    Actor,
    ActorKind,
    ConflictingState,
    ContactKind,
    ExpectedCode,
    InvalidInput,
    Method,
    MfaError,
    NotFound,
    NotPermitted,
    Policy,
    Purpose,
    Reason,
    ReauthenticationRequired,
    SignInStatus,
    State,
)
from mfakit.adapters import MemoryAuditLog, MemoryStore, Outbox
from mfakit.testing import FakeClock, authenticator_code, fast_hasher
from tests.helpers import grant
from tests.invariants.profiles import machine_settings

SECRET_KEY = "9f87c90ac2a45d563dcd8b6f2e46cd78bff1bed6f7f5e78d5c7033d920c00f85"
USERS = ("u0", "u1", "u2")
ADMIN = "admin"
PHONES = ("+14155550101", "+14155550102", "+12015550123")
EMAILS = ("u0@example.org", "u1@example.org", "team@example.org")
ANSWERS = ("Springfield", "Shelbyville")
LABELS = (None, "Laptop", "Work phone")
ROLES = (None, "staff")
ACTORS = (
    *("self", "self", "self", "admin", "admin"),
    *("self_stale", "self_none", "admin_stale", "impersonator", "other"),
)
SEED = st.lists(
    st.tuples(
        st.sampled_from(USERS),
        st.sampled_from([Method.TOTP, Method.SMS, Method.VOICE, Method.EMAIL]),
        st.integers(0, len(PHONES) - 1),
    ),
    max_size=6,
)

OOB = {
    Method.SMS: ContactKind.PHONE,
    Method.VOICE: ContactKind.PHONE,
    Method.EMAIL: ContactKind.EMAIL,
}
KIND_METHODS = {
    ContactKind.PHONE: (Method.SMS, Method.VOICE),
    ContactKind.EMAIL: (Method.EMAIL,),
}
CHANNEL_KIND = {"sms": ContactKind.PHONE, "voice": ContactKind.PHONE, "email": ContactKind.EMAIL}
METHOD_ORDER = (Method.TOTP, Method.SMS, Method.VOICE, Method.EMAIL, Method.BACKUP_CODE)
OPEN = (State.AWAITING_CODE, State.AWAITING_ANSWER)
MAX_LIFETIME = timedelta(hours=1)
DAY = timedelta(days=1)

POLICIES = {
    # The shipped defaults.
    "default": Policy(),
    # Small limits so that a 30-step run reaches them; 8-digit SHA256 codes;
    # the security question guards "try another way"; a role that needs 2FA.
    "tight": Policy(
        require_for_roles=frozenset({"staff"}),
        totp_algorithm="SHA256",
        totp_digits=8,
        code_length=8,
        max_attempts=3,
        send_quota=3,
        resend_cooldown=timedelta(seconds=60),
        code_ttl=timedelta(minutes=5),
        free_failures=3,
        lockout_after=7,
        contact_changes_per_day=2,
        trust_days=2,
        question_guards_alternatives=True,
        max_authenticators=2,
    ),
}


# --- the model ------------------------------------------------------------------------


@dataclass
class TotpM:
    id: str
    user: str
    uri: str
    secret: str
    created_at: datetime
    order: int
    label: str
    expires_at: datetime | None
    digits: int
    period: int
    confirmed: bool = False
    last_step: int | None = None
    failures: int = 0
    active_since: datetime | None = None

    def code(self, step: int) -> str:
        return authenticator_code(self.uri, step * self.period)


@dataclass
class ContactM:
    value: str
    verified: bool
    active_since: datetime | None = None


@dataclass
class DeviceM:
    id: str
    user: str
    token: str
    issued_at: datetime
    version: int
    revoked: bool = False


@dataclass
class FixedWindow:
    """``core.limits.window_hit`` as the docs describe it: a fixed window that
    starts at its first event."""

    start: datetime | None = None
    count: int = 0

    def full(self, now: datetime, limit: int, window: timedelta) -> timedelta | None:
        if self.start is None or now >= self.start + window:
            return None
        return self.start + window - now if self.count >= limit else None

    def hit(self, now: datetime, window: timedelta) -> None:
        if self.start is None or now >= self.start + window:
            self.start, self.count = now, 0
        self.count += 1


@dataclass
class FailuresM:
    """Consecutive failures of an account (S13, S14)."""

    count: int = 0
    updated_at: datetime | None = None

    backup: bool = False
    """Backup codes count apart, with their own thresholds (S34)."""

    def refusal(self, now: datetime, policy: Policy) -> Reason | None:
        free, lockout = (
            (policy.backup_code_free_failures, policy.backup_code_lockout_after)
            if self.backup
            else (policy.free_failures, policy.lockout_after)
        )
        if self.count == 0:
            return None
        if self.count >= lockout:
            return Reason.LOCKED_OUT
        over = self.count - free
        delay = (
            timedelta(0)
            if over < 0
            else min(policy.backoff_base * 2 ** min(over, 32), policy.backoff_ceiling)
        )
        if not delay:  # within the free allowance nothing waits, whatever the clocks
            return None
        assert self.updated_at is not None
        return Reason.RATE_LIMITED if self.updated_at + delay - now > timedelta(0) else None

    def reserve(self, now: datetime) -> None:
        self.count += 1
        self.updated_at = now

    def reset(self, now: datetime) -> None:
        self.count = 0
        self.updated_at = now


@dataclass
class ChallengeM:
    id: str
    user: str
    purpose: Purpose
    methods: tuple[Method, ...]
    method: Method
    created_at: datetime
    expires_at: datetime
    alternatives_locked: bool = False
    state: State = State.AWAITING_CODE
    """The state as stored: expiry is persisted only by calls that refresh."""
    attempts: int = 0
    code: str | None = None
    code_msg: int | None = None
    codes: list[str] = field(default_factory=list)
    sent_at: datetime | None = None
    destination: str | None = None
    code_length: int = 0
    target: tuple[ContactKind, str] | None = None
    wrong_results: int = 0


@dataclass
class UserM:
    totps: dict[str, TotpM] = field(default_factory=dict)
    contacts: dict[ContactKind, ContactM] = field(default_factory=dict)
    backup_unused: dict[str, str] = field(default_factory=dict)
    """canonical -> displayed"""
    backup_spent: dict[str, str] = field(default_factory=dict)
    """used or replaced codes: canonical -> displayed"""
    question: str | None = None
    answer: str | None = None
    version: int = 0
    preferred: Method | None = None
    failures: FailuresM = field(default_factory=FailuresM)
    backup_failures: FailuresM = field(default_factory=lambda: FailuresM(backup=True))
    unverified_sends: FixedWindow = field(default_factory=FixedWindow)
    """Codes sent to destinations being enrolled, per day (S33)."""
    changes: FixedWindow = field(default_factory=FixedWindow)

    def confirmed(self) -> list[TotpM]:
        return sorted(
            (t for t in self.totps.values() if t.confirmed), key=lambda t: (t.created_at, t.order)
        )

    def verified(self, kind: ContactKind) -> ContactM | None:
        c = self.contacts.get(kind)
        return c if c is not None and c.verified else None

    def counter(self, method: Method) -> FailuresM:
        return self.backup_failures if method is Method.BACKUP_CODE else self.failures

    def succeeded(self, method: Method, now: datetime) -> None:
        """A success clears its counter; a backup code clears both (S34)."""
        if method is Method.BACKUP_CODE:
            self.backup_failures.reset(now)
            if self.failures.count:
                self.failures.reset(now)
        else:
            self.failures.reset(now)

    def begun_before_first_factor(self, at: datetime) -> bool:
        """An enrolment begun at ``at`` with no factor (no step-up) cannot bind
        one once the user has a factor (S32)."""
        active = [t.active_since for t in self.confirmed()]
        active += [c.active_since for c in self.contacts.values() if c.verified]
        assert None not in active
        return bool(active) and all(a is not None and a > at for a in active)

    def has_second_factor(self) -> bool:
        return bool(self.confirmed()) or any(c.verified for c in self.contacts.values())

    def enrolled(self) -> bool:
        """2FA is on: a factor, or backup codes kept while a changed phone or
        email awaits its possession proof."""
        return self.has_second_factor() or bool(self.backup_unused)


@dataclass
class Op:
    """One public call: what the invariants need to judge its side effects."""

    name: str
    user: str
    pre_verified: frozenset[tuple[ContactKind, str]]
    out_start: int
    audit_start: int
    enrol_targets: set[tuple[ContactKind, str]] = field(default_factory=set)
    expect_actions: list[Action] = field(default_factory=list)


def mask(kind: ContactKind, value: str) -> str:
    if kind is ContactKind.PHONE:
        return f"{value[:2]}•••••{value[-2:]}"
    local, _, domain = value.rpartition("@")
    return f"{local[:1]}•••@{domain}"


CROCKFORD_INPUT = "0123456789ABCDEFGHJKMNPQRSTVWXYZOIL"


def canonical(display: str) -> str:
    return display.upper().replace("-", "").replace(" ", "")


def record_texts(record: object) -> list[str]:
    return [repr(record), *(str(v) for v in dataclasses.astuple(record))]  # type: ignore[call-overload]


def bump(code: str) -> str:
    """Another code of the same length."""
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


def outcome(result: object) -> str:
    """A short label of a result, for ``--hypothesis-show-statistics``."""
    for name in ("status", "reason"):
        value = getattr(result, name, None)
        if value is not None:
            return f"{value}{' (trusted)' if getattr(result, 'trusted_device', False) else ''}"
    ok = getattr(result, "ok", None)
    return "returned" if ok is None else ("ok" if ok else "refused")


class Expected(Exception):
    """The model's prediction that a call is refused with ``kind``."""

    def __init__(self, kind: type[MfaError], why: str) -> None:
        super().__init__(f"{kind.__name__}: {why}")
        self.kind = kind
        self.why = why


# --- the machine ------------------------------------------------------------------------


class MfaMachine(RuleBasedStateMachine):
    """Drives MFA and checks it against the model above."""

    def make_store(self) -> Any:
        return MemoryStore()

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.outbox = Outbox()
        self.log = MemoryAuditLog()
        self.store = self.make_store()
        self.policy = Policy()
        self.mfa: MFA | None = None
        self.users = {u: UserM() for u in USERS}
        self.challenges: dict[str, ChallengeM] = {}
        self.challenge_ids: list[str] = []
        self.setups: list[TotpM] = []
        """Every authenticator ever set up (pending, confirmed or removed)."""
        self.devices: dict[str, DeviceM] = {}
        self.device_ids: list[str] = []
        self.sends: dict[str, FixedWindow] = {}
        self.accepted: set[tuple[object, ...]] = set()
        self.secrets: set[str] = set(PHONES) | {p[1:] for p in PHONES} | set(EMAILS)
        self.msg_times: list[datetime] = []
        self.msg_keys: list[tuple[str, str]] = []
        """(user, quota key) of each message (S33)."""
        self.verify_method = Method.TOTP
        self.audit_seen = 0
        self.op_counter = 0

    def teardown(self) -> None:
        close = getattr(self.store, "close", None)
        if callable(close):
            close()

    # --- helpers ------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        return self.clock.now()

    @property
    def api(self) -> MFA:
        assert self.mfa is not None
        return self.mfa

    def now_step(self, period: int) -> int:
        return int(self.now.timestamp() // period)

    def other_user(self, user: str) -> str:
        return USERS[(USERS.index(user) + 1) % len(USERS)]

    def actor(self, kind: str, user: str) -> Actor:
        """An actor of ``kind``; each carries a step-up grant for itself and
        ``user`` issued now (S32 is tested in tests/security)."""
        fresh = self.now
        stale = self.now - self.policy.reauth_max_age - timedelta(seconds=1)
        clock = FakeClock(self.now)
        mine = grant(clock, user, secret=SECRET_KEY)
        admins = grant(clock, user, ADMIN, secret=SECRET_KEY)
        if kind == "self":
            return Actor.user(user, reauthenticated_at=fresh, step_up=mine)
        if kind == "self_stale":
            return Actor.user(user, reauthenticated_at=stale, step_up=mine)
        if kind == "self_none":
            return Actor.user(user, step_up=mine)
        if kind == "admin":
            return Actor.admin(ADMIN, reauthenticated_at=fresh, step_up=admins)
        if kind == "admin_stale":
            return Actor.admin(ADMIN, reauthenticated_at=stale, step_up=admins)
        if kind == "impersonator":
            return Actor.impersonating(ADMIN, user, reauthenticated_at=fresh, step_up=admins)
        assert kind == "other"
        other = self.other_user(user)
        return Actor.user(
            other, reauthenticated_at=fresh, step_up=grant(clock, other, secret=SECRET_KEY)
        )

    def fresh(self, actor: Actor) -> bool:
        at = actor.reauthenticated_at
        return at is not None and self.now - at <= self.policy.reauth_max_age

    @staticmethod
    def may_act_for(actor: Actor, user: str) -> None:
        if actor.kind is ActorKind.SELF and actor.id != user:
            raise Expected(NotPermitted, "a user acting on another's account")
        if actor.kind is ActorKind.IMPERSONATOR and actor.impersonated != user:
            raise Expected(NotPermitted, "impersonating someone else")

    @staticmethod
    def require_self(actor: Actor, user: str) -> None:
        if not (actor.kind is ActorKind.SELF and actor.id == user):
            raise Expected(NotPermitted, "only the user personally")

    def require_fresh(self, actor: Actor) -> None:
        if not self.fresh(actor):
            raise Expected(ReauthenticationRequired, "no fresh re-authentication")

    @staticmethod
    def no_impersonator(actor: Actor) -> None:
        if actor.kind is ActorKind.IMPERSONATOR:
            raise Expected(NotPermitted, "an impersonating admin")

    def methods(self, user: str) -> tuple[Method, ...]:
        """The usable methods (all senders configured, every method allowed)."""
        m = self.users[user]
        usable: set[Method] = set()
        if m.confirmed():
            usable.add(Method.TOTP)
        if m.verified(ContactKind.PHONE):
            usable |= {Method.SMS, Method.VOICE}
        if m.verified(ContactKind.EMAIL):
            usable.add(Method.EMAIL)
        if usable and m.backup_unused:
            usable.add(Method.BACKUP_CODE)
        return tuple(x for x in METHOD_ORDER if x in usable)

    def eligible(self, user: str) -> tuple[Method, ...]:
        """Channels that may approve a contact change (S19)."""
        return tuple(x for x in self.methods(user) if x is not Method.BACKUP_CODE)

    def verified_set(self, user: str) -> frozenset[tuple[ContactKind, str]]:
        m = self.users.get(user)
        if m is None:  # the admin has no factors here
            return frozenset()
        return frozenset((k, c.value) for k, c in m.contacts.items() if c.verified)

    def security_changed(self, op: Op, user: str) -> None:
        """Version bump and every live device revoked (S30)."""
        self.users[user].version += 1
        live = [d for d in self.devices.values() if d.user == user and not d.revoked]
        for d in live:
            d.revoked = True
        if live:
            op.expect_actions.append(Action.DEVICES_REVOKED)

    def drop_orphans(self, user: str) -> None:
        m = self.users[user]
        if not m.has_second_factor():
            m.backup_spent.update(m.backup_unused)
            m.backup_unused.clear()

    def issue_backup(self, user: str, codes: Any) -> None:
        m = self.users[user]
        assert codes is not None and len(codes) == self.policy.backup_code_count
        m.backup_spent.update(m.backup_unused)
        m.backup_unused = {canonical(c): c for c in codes}
        for c in codes:
            self.secrets |= {c, canonical(c)}

    def token_valid(self, device: DeviceM | None, user: str) -> bool:
        if device is None or device.user != user or device.revoked:
            return False
        if device.version != self.users[user].version:
            return False
        return self.now < device.issued_at + timedelta(days=self.policy.trust_days)

    def refresh(self, ch: ChallengeM) -> None:
        """Persist expiry, as every call that loads a challenge (but cancel) does."""
        if ch.state in OPEN and self.now >= ch.expires_at:
            ch.state = State.EXPIRED

    def send_window(self, dest: str) -> FixedWindow:
        return self.sends.setdefault(dest, FixedWindow())

    def totp_match(self, user: str, code: str) -> tuple[tuple[str, int] | None, bool]:
        """Which (factor, step) ``code`` is accepted for, else whether it is a replay."""
        replay = False
        w = self.policy.totp_window
        for t in self.users[user].confirmed():
            if t.digits != len(code):
                continue
            now_step = self.now_step(t.period)
            accepted, seen = None, False
            for step in range(now_step - w, now_step + w + 1):
                if t.code(step) == code:
                    if t.last_step is None or step > t.last_step:
                        accepted = step
                    else:
                        seen = True
            if accepted is not None:
                return (t.id, accepted), False
            replay = replay or seen
        return None, replay

    def accept(self, key: tuple[object, ...]) -> None:
        """Invariant (b): each code, backup code and TOTP step is accepted once."""
        assert key not in self.accepted, f"accepted twice: {key}"
        self.accepted.add(key)

    # --- running a call -------------------------------------------------------------

    @contextmanager
    def op(self, name: str, user: str) -> Iterator[Op]:
        current = Op(
            name=name,
            user=user,
            pre_verified=self.verified_set(user),
            out_start=len(self.outbox.messages),
            audit_start=len(self.log.events),
        )
        self.op_counter += 1
        yield current
        self.finish(current)

    def call(
        self, op: Op, expected: Expected | None, fn: Callable[..., Any], *a: Any, **kw: Any
    ) -> Any:
        """Call ``fn``; a refusal must be the one the model predicted, and vice versa."""
        try:
            result = fn(*a, **kw)
        except MfaError as exc:
            self.check_secret_free(f"{op.name} error", [str(exc), repr(exc), *map(str, exc.args)])
            assert expected is not None, f"{op.name}: unexpected {type(exc).__name__}: {exc}"
            assert type(exc) is expected.kind, (
                f"{op.name}: expected {expected.kind.__name__} ({expected.why}), "
                f"got {type(exc).__name__}: {exc}"
            )
            event(f"{op.name}: {type(exc).__name__}")
            return None
        assert expected is None, (
            f"{op.name}: expected {expected.kind.__name__} ({expected.why}), got {result!r}"
        )
        self.check_secret_free(f"{op.name} result", [repr(result)])
        event(f"{op.name}: {outcome(result)}")
        return result

    def sent_code(self, op: Op) -> tuple[str, int]:
        """The one code message this call sent, and its index in the outbox."""
        found = [
            (m.code, op.out_start + i)
            for i, m in enumerate(self.outbox.messages[op.out_start :])
            if m.code is not None
        ]
        assert len(found) == 1, f"{op.name}: expected one code message, got {len(found)}"
        code, index = found[0]
        assert code is not None
        return code, index

    def finish(self, op: Op) -> None:
        messages = self.outbox.messages
        new = messages[op.out_start :]
        self.msg_times.extend([self.now] * len(new))
        for m in new:
            enrolling = m.code is not None and (CHANNEL_KIND[m.channel], m.to) in op.enrol_targets
            self.msg_keys.append(
                (op.user, f"unverified:{m.to}" if enrolling else f"{op.user}:{m.to}")
            )
        events = self.log.events[op.audit_start :]
        codes = [m for m in new if m.code is not None]
        for m in codes:
            assert m.code is not None
            self.secrets.add(m.code)
            kind = CHANNEL_KIND[m.channel]
            # Invariant (a): codes go to destinations verified before the call,
            # or to the destination being enrolled (its possession proof), and
            # only while that enrolment can still succeed.
            enrolling = (kind, m.to) in op.enrol_targets and not any(
                k is kind for k, _ in op.pre_verified
            )
            allowed = (kind, m.to) in op.pre_verified or enrolling
            assert allowed, (
                f"{op.name}: a code went to {mask(kind, m.to)}, unverified for {op.user}"
            )
        sent_records = [e for e in events if e.action == Action.CODE_SENT.value]
        assert len(sent_records) == len(codes), f"{op.name}: code messages vs code.sent records"
        # Invariant (e): a record for each change, about this user, without secrets.
        for e in events:
            assert e.subject_id == op.user, f"{op.name}: a record about {e.subject_id}"
        got = Multiset(e.action for e in events)
        want = Multiset(a.value for a in op.expect_actions)
        missing = want - got
        assert not missing, f"{op.name}: missing audit records {dict(missing)}; got {dict(got)}"
        for e in events:
            self.check_secret_free(f"{op.name} audit record", record_texts(e))
        for m in new:
            if m.code is None:  # a notice: no secret either
                self.check_secret_free(f"{op.name} notice", [m.subject, m.text])

    def check_secret_free(self, what: str, texts: list[str]) -> None:
        for secret in self.secrets:
            for text in texts:
                assert secret not in text, f"{what} leaks a secret: {text!r}"

    # --- set-up ---------------------------------------------------------------------------

    @initialize(name=st.sampled_from(sorted(POLICIES)), seed=SEED)
    def build(self, name: str, seed: list[tuple[str, Method, int]]) -> None:
        """Build the MFA and enrol a few factors, so that runs start deep."""
        self.policy = POLICIES[name]
        self.mfa = MFA(
            store=self.store,
            secret_key=SECRET_KEY,
            issuer="Invariant Co",
            sms=self.outbox,
            voice=self.outbox,
            email=self.outbox,
            audit=self.log,
            clock=self.clock,
            hasher=fast_hasher(),
            policy=self.policy,
        )
        for user, method, i in seed:
            if method is Method.TOTP:
                self.enrol_totp_fully(user)
            else:
                self.enrol_contact_fully(user, PHONES[i], EMAILS[i], method)
            self.clock.advance(seconds=31)

    # --- time -------------------------------------------------------------------------------

    @rule(
        delta=st.one_of(
            st.integers(1, 90).map(lambda s: timedelta(seconds=s)),
            st.integers(25, 35).map(lambda s: timedelta(seconds=s)),
            st.integers(1, 59).map(lambda m: timedelta(minutes=m)),
            st.integers(1, 30).map(lambda h: timedelta(hours=h)),
            st.integers(1, 20).map(lambda d: timedelta(days=d)),
        )
    )
    def advance_time(self, delta: timedelta) -> None:
        self.clock.advance(delta)

    # --- authenticator apps -------------------------------------------------------------

    def do_begin_totp(self, user: str, actor: Actor) -> TotpM | None:
        m = self.users[user]
        expected = None
        try:
            self.require_self(actor, user)
            self.require_fresh(actor)
            # A new setup replaces the user's pending one; then the confirmed count.
            for t in [t for t in m.totps.values() if not t.confirmed]:
                del m.totps[t.id]
            if len(m.totps) >= self.policy.max_authenticators:
                raise Expected(ConflictingState, "too many authenticators")
        except Expected as e:
            expected = e
        with self.op("begin_totp_setup", user) as op:
            setup = self.call(
                op,
                expected,
                self.api.begin_totp_setup,
                actor,
                user,
                account_name=f"{user}@example.org",
            )
        if setup is None:
            return None
        assert (setup.algorithm, setup.digits) == (
            self.policy.totp_algorithm,
            self.policy.totp_digits,
        )
        t = TotpM(
            id=setup.id,
            user=user,
            uri=setup.uri,
            secret=setup.secret,
            created_at=self.now,
            order=len(self.setups),
            label="Authenticator app",
            expires_at=setup.expires_at,
            digits=setup.digits,
            period=setup.period,
        )
        assert setup.expires_at == self.now + self.policy.setup_ttl
        self.secrets |= {setup.secret, setup.uri}
        m.totps[t.id] = t
        self.setups.append(t)
        return t

    def do_confirm_totp(self, t: TotpM, actor: Actor, code: str) -> bool:
        user = actor.id
        expected = None
        outcome: tuple[str, Any] = ("none", None)
        rec = self.users[user].totps.get(t.id) if user in self.users else None
        try:
            if actor.kind is not ActorKind.SELF:
                raise Expected(NotPermitted, "only the user confirms")
            assert rec is None or rec.expires_at is not None or rec.confirmed
            if rec is None or rec.confirmed or (rec.expires_at and self.now >= rec.expires_at):
                raise Expected(NotFound, "no such pending setup")
            if self.users[user].begun_before_first_factor(rec.created_at):
                outcome = ("dropped", None)
                raise Expected(NotFound, "begun before the first factor: dropped")
            w = self.policy.totp_window
            now_step = self.now_step(rec.period)
            matched = None
            for step in range(now_step - w, now_step + w + 1):
                if rec.code(step) == code:
                    matched = step
            outcome = ("ok", matched) if matched is not None else ("wrong", None)
        except Expected as e:
            expected = e
        first = not self.users[user].has_second_factor() if user in self.users else False
        with self.op("confirm_totp_setup", user) as op:
            if outcome[0] == "ok":
                op.expect_actions.append(Action.FACTOR_ADDED)
                if first:
                    op.expect_actions.append(Action.BACKUP_CODES_ISSUED)
            res = self.call(op, expected, self.api.confirm_totp_setup, actor, t.id, code)
            if res is None:
                if outcome[0] == "dropped":
                    del self.users[user].totps[t.id]
                return False
            assert rec is not None
            if outcome[0] == "ok":
                assert res.ok, f"a right setup code was refused: {res}"
                step = outcome[1]
                self.accept(("totp", rec.id, step))
                rec.confirmed, rec.last_step, rec.expires_at = True, step, None
                rec.active_since = self.now
                assert (res.backup_codes is not None) == first
                if first:
                    self.issue_backup(user, res.backup_codes)
                self.security_changed(op, user)
                return True
            assert not res.ok, "a wrong setup code was accepted"
            rec.failures += 1
            assert rec.failures <= self.policy.max_attempts
            left = self.policy.max_attempts - rec.failures
            if left == 0:
                assert (res.reason, res.attempts_left) == (Reason.TOO_MANY_ATTEMPTS, 0)
                del self.users[user].totps[rec.id]
            else:
                assert (res.reason, res.attempts_left) == (Reason.INVALID_CODE, left)
        return False

    @rule(user=st.sampled_from(USERS), who=st.sampled_from(ACTORS))
    def begin_totp_setup(self, user: str, who: str) -> None:
        self.do_begin_totp(user, self.actor(who, user))

    @precondition(lambda self: self.setups)
    @rule(
        pick=st.integers(0, 1000),
        who=st.sampled_from(["owner", "owner", "other", "admin"]),
        offset=st.sampled_from([-1, 0, 0, 1, 3]),
        corrupt=st.booleans(),
    )
    def confirm_totp_setup(self, pick: int, who: str, offset: int, corrupt: bool) -> None:
        t = self.setups[pick % len(self.setups)]
        actor = {
            "owner": Actor.user(t.user),
            "other": Actor.user(self.other_user(t.user)),
            "admin": Actor.admin(ADMIN, reauthenticated_at=self.now),
        }[who]
        code = t.code(self.now_step(t.period) + offset)
        self.do_confirm_totp(t, actor, bump(code) if corrupt else code)

    @rule(user=st.sampled_from(USERS))
    def enrol_totp_fully(self, user: str) -> None:
        """Begin and confirm with the current code (a fast path to deeper states)."""
        t = self.do_begin_totp(user, self.actor("self", user))
        if t is not None:
            self.do_confirm_totp(t, Actor.user(user), t.code(self.now_step(t.period)))

    def totp_code_for(self, pick: int, offset: int, user: str | None) -> str:
        """A code of one of ``user``'s authenticators (or anyone's) at now + offset steps."""
        pool = [t for t in self.setups if user is None or t.user == user] or self.setups
        if not pool:
            return "0" * self.policy.totp_digits
        t = pool[pick % len(pool)]
        return t.code(self.now_step(t.period) + offset)

    @rule(
        user=st.sampled_from(USERS),
        pick=st.integers(0, 1000),
        offset=st.sampled_from([-2, -1, 0, 0, 1, 2]),
        own=st.booleans(),
    )
    def verify_totp(self, user: str, pick: int, offset: int, own: bool) -> None:
        code = self.totp_code_for(pick, offset, user if own else None)
        m = self.users[user]
        refusal = m.failures.refusal(self.now, self.policy)
        match, replay = (None, False) if refusal else self.totp_match(user, code)
        with self.op("verify_totp", user) as op:
            op.expect_actions.append(self.attempt_record(refusal, match is not None, replay))
            res = self.call(op, None, self.api.verify_totp, user, code)
        if refusal is not None:
            assert (res.ok, res.reason) == (False, refusal), res
            return
        if match is None:
            if not replay:  # a replay is no guess: recorded (S5), not counted (S13)
                m.failures.reserve(self.now)
            assert not res.ok, f"verify_totp accepted a code the model refuses: {res}"
            assert res.reason == (Reason.REPLAYED if replay else Reason.INVALID_CODE), res
            return
        assert res.ok and res.factor_id == match[0], f"a valid TOTP code was refused: {res}"
        self.apply_totp(user, match)
        m.failures.reset(self.now)

    @staticmethod
    def attempt_record(refusal: Reason | None, ok: bool, replay: bool) -> Action:
        """The audit record of one verification attempt (S5, S13)."""
        if refusal is Reason.LOCKED_OUT:
            return Action.ACCOUNT_LOCKED
        if refusal is Reason.RATE_LIMITED:
            return Action.ACCOUNT_BACKOFF
        if ok:
            return Action.SECOND_STEP_PASSED
        return Action.CODE_REPLAYED if replay else Action.SECOND_STEP_FAILED

    def apply_totp(self, user: str, match: tuple[str, int]) -> None:
        t = self.users[user].totps[match[0]]
        assert t.last_step is None or match[1] > t.last_step, "S4: a step not newer accepted"
        self.accept(("totp", t.id, match[1]))
        t.last_step = match[1]

    @precondition(lambda self: self.setups)
    @rule(
        who=st.sampled_from(ACTORS),
        pick=st.integers(0, 1000),
        label=st.sampled_from(["Phone", "Tablet"]),
    )
    def rename_authenticator(self, who: str, pick: int, label: str) -> None:
        t = self.setups[pick % len(self.setups)]
        user = t.user
        actor = self.actor(who, user)
        expected = None
        rec = self.users[user].totps.get(t.id)
        try:
            self.may_act_for(actor, user)
            if rec is None or not rec.confirmed:
                raise Expected(NotFound, "no confirmed authenticator")
        except Expected as e:
            expected = e
        with self.op("rename_authenticator", user) as op:
            if expected is None:
                op.expect_actions.append(Action.FACTOR_RENAMED)
            res = self.call(op, expected, self.api.rename_authenticator, actor, user, t.id, label)
        if res is not None:
            assert rec is not None
            rec.label = label
            assert res.label == label

    @precondition(lambda self: self.setups)
    @rule(
        who=st.sampled_from(ACTORS),
        pick=st.integers(0, 1000),
        role=st.sampled_from(ROLES),
    )
    def remove_authenticator(self, who: str, pick: int, role: str | None) -> None:
        t = self.setups[pick % len(self.setups)]
        user = t.user
        m = self.users[user]
        actor = self.actor(who, user)
        expected = None
        rec = m.totps.get(t.id)
        try:
            self.no_impersonator(actor)
            self.may_act_for(actor, user)
            self.require_fresh(actor)
            if rec is None:
                raise Expected(NotFound, "no such authenticator")
            if rec.confirmed and self.policy.requires_2fa(role):
                others = [
                    x for x in self.methods(user) if x not in (Method.BACKUP_CODE, Method.TOTP)
                ]
                if not others and not any(o.id != rec.id for o in m.confirmed()):
                    raise Expected(NotPermitted, "the last factor of a required role")
        except Expected as e:
            expected = e
        with self.op("remove_authenticator", user) as op:
            if expected is None:
                assert rec is not None
                op.expect_actions.append(Action.FACTOR_REMOVED)
                del m.totps[rec.id]
                self.drop_orphans(user)
                self.security_changed(op, user)
            self.call(op, expected, self.api.remove_authenticator, actor, user, t.id, role=role)

    # --- backup codes -------------------------------------------------------------------

    def backup_choice(self, user: str, kind: str, pick: int) -> str:
        m = self.users[user]
        if kind == "unused" and m.backup_unused:
            codes = sorted(m.backup_unused.values())
            return codes[pick % len(codes)]
        if kind == "lower" and m.backup_unused:
            codes = sorted(m.backup_unused.values())
            return codes[pick % len(codes)].lower().replace("-", " ")
        if kind == "spent" and m.backup_spent:
            codes = sorted(m.backup_spent.values())
            return codes[pick % len(codes)]
        if kind == "foreign":
            pool = sorted(
                c for u in USERS if u != user for c in self.users[u].backup_unused.values()
            )
            if pool:
                return pool[pick % len(pool)]
        # A well-formed code nobody holds (the lookup of a real one, a wrong tail).
        base = sorted(m.backup_unused.values())
        head = canonical(base[pick % len(base)])[:2] if base else "ZZ"
        return f"{head}00-0000-0000"

    @rule(
        user=st.sampled_from(USERS),
        kind=st.sampled_from(["unused", "unused", "lower", "spent", "foreign", "wrong"]),
        pick=st.integers(0, 1000),
    )
    def verify_backup_code(self, user: str, kind: str, pick: int) -> None:
        code = self.backup_choice(user, kind, pick)
        m = self.users[user]
        refusal = m.backup_failures.refusal(self.now, self.policy)
        good = refusal is None and canonical(code) in m.backup_unused
        with self.op("verify_backup_code", user) as op:
            op.expect_actions.append(self.attempt_record(refusal, good, False))
            if good:
                op.expect_actions.append(Action.BACKUP_CODE_USED)
            res = self.call(op, None, self.api.verify_backup_code, user, code)
        if refusal is not None:
            assert (res.ok, res.reason) == (False, refusal), res
            return
        m.backup_failures.reserve(self.now)
        if not good:
            assert (res.ok, res.reason) == (False, Reason.INVALID_CODE), res
            return
        assert res.ok, f"an unused backup code was refused: {res}"
        self.use_backup(user, canonical(code))
        m.succeeded(Method.BACKUP_CODE, self.now)
        assert res.backup_codes_left == len(m.backup_unused)
        assert res.backup_codes_low == (len(m.backup_unused) <= self.policy.backup_codes_low_at)

    def use_backup(self, user: str, code: str) -> None:
        m = self.users[user]
        self.accept(("backup", user, code))
        m.backup_spent[code] = m.backup_unused.pop(code)

    @rule(user=st.sampled_from(USERS), who=st.sampled_from(ACTORS))
    def regenerate_backup_codes(self, user: str, who: str) -> None:
        actor = self.actor(who, user)
        expected = None
        try:
            self.require_self(actor, user)
            self.require_fresh(actor)
            if not self.users[user].has_second_factor():
                raise Expected(ConflictingState, "no second factor")
        except Expected as e:
            expected = e
        with self.op("regenerate_backup_codes", user) as op:
            if expected is None:
                op.expect_actions.append(Action.BACKUP_CODES_ISSUED)
            codes = self.call(op, expected, self.api.regenerate_backup_codes, actor, user)
        if codes is not None:
            self.issue_backup(user, list(codes))

    # --- unlock ---------------------------------------------------------------------------

    @rule(user=st.sampled_from(USERS), who=st.sampled_from(ACTORS))
    def unlock_second_step(self, user: str, who: str) -> None:
        actor = self.actor(who, user)
        expected = None
        try:
            if actor.kind is not ActorKind.ADMIN:
                raise Expected(NotPermitted, "only an admin unlocks")
            self.require_fresh(actor)
        except Expected as e:
            expected = e
        with self.op("unlock_second_step", user) as op:
            if expected is None:
                op.expect_actions.append(Action.ACCOUNT_UNLOCKED)
            self.call(op, expected, self.api.unlock_second_step, actor, user)
        if expected is None:
            self.users[user].failures.reset(self.now)
            self.users[user].backup_failures.reset(self.now)

    # --- security question ------------------------------------------------------------------

    @rule(
        user=st.sampled_from(USERS),
        who=st.sampled_from(["self", "self", "self_stale", "admin", "impersonator"]),
        q=st.integers(0, 2),
        answer=st.sampled_from(ANSWERS),
    )
    def set_security_question(self, user: str, who: str, q: int, answer: str) -> None:
        actor = self.actor(who, user)
        question = self.policy.security_questions[q]
        expected = None
        try:
            self.require_self(actor, user)
            self.require_fresh(actor)
        except Expected as e:
            expected = e
        with self.op("set_security_question", user) as op:
            if expected is None:
                op.expect_actions.append(Action.QUESTION_SET)
            self.secrets.add(answer)
            self.call(op, expected, self.api.set_security_question, actor, user, question, answer)
        if expected is None:
            self.users[user].question, self.users[user].answer = question, answer

    # --- enrolling phones and emails ----------------------------------------------------

    def model_send(self, ch: ChallengeM, method: Method, *, cooldown: bool) -> tuple[str, Any]:
        """What ``_send`` will do: ``("cooldown"|"limit", wait)`` or ``("sent", dest)``;
        raises Expected for a destination that is no longer verified."""
        if cooldown and ch.sent_at is not None:
            wait = ch.sent_at + self.policy.resend_cooldown - self.now
            if wait > timedelta(0):
                return "cooldown", wait
        kind = OOB[method]
        if ch.purpose is Purpose.ENROL_CONTACT:
            assert ch.target is not None
            if ch.target[0] is not kind:
                raise Expected(ConflictingState, "this enrolment proves another destination")
            if self.users[ch.user].verified(kind) is not None:
                raise Expected(ConflictingState, "this enrolment can no longer succeed")
            dest = ch.target[1]
        else:
            contact = self.users[ch.user].verified(kind)
            if contact is None:
                raise Expected(ConflictingState, f"no verified {kind} any more")
            dest = contact.value
        wait = self.send_window(self.quota_key(ch, dest)).full(
            self.now, self.policy.send_quota, self.policy.send_window
        )
        if wait is not None:
            return "limit", wait
        if ch.purpose is Purpose.ENROL_CONTACT:
            budget = self.users[ch.user].unverified_sends.full(
                self.now, self.policy.unverified_sends_per_user, DAY
            )
            if budget is not None:
                return "budget", budget
        return "sent", dest

    @staticmethod
    def quota_key(ch: ChallengeM, dest: str) -> str:
        """Codes to a verified destination count per user and destination; to
        a destination being enrolled, apart (S33)."""
        if ch.purpose is Purpose.ENROL_CONTACT:
            return f"unverified:{dest}"
        return f"{ch.user}:{dest}"

    def apply_send(
        self, op: Op, ch: ChallengeM, method: Method, plan: tuple[str, Any], res: Any
    ) -> None:
        """Check a SendResult against the plan and update the model."""
        kind, value = plan
        if kind == "cooldown":
            assert (res.ok, res.reason, res.retry_after) == (False, Reason.COOLDOWN, value), res
            return
        if kind == "already":  # a send that is no resend, within the cooldown
            assert (res.ok, res.already_sent, res.reason, res.retry_after) == (
                True,
                True,
                None,
                value,
            ), res
            return
        if kind == "limit":
            assert (res.ok, res.reason, res.retry_after) == (False, Reason.SEND_LIMIT, value), res
            return
        if kind == "budget":
            assert (res.ok, res.reason, res.retry_after) == (
                False,
                Reason.SEND_BUDGET_EXHAUSTED,
                value,
            ), res
            op.expect_actions.append(Action.SEND_BUDGET_EXHAUSTED)
            return
        assert res.ok, f"{op.name}: a send the model allows was refused: {res}"
        code, index = self.sent_code(op)
        msg = self.outbox.messages[index]
        assert (msg.channel, msg.to) == (method.value, value), (
            msg.channel,
            mask(OOB[method], msg.to),
        )
        assert len(code) == self.policy.code_length
        self.send_window(self.quota_key(ch, value)).hit(self.now, self.policy.send_window)
        if ch.purpose is Purpose.ENROL_CONTACT:
            self.users[ch.user].unverified_sends.hit(self.now, DAY)
        ch.method, ch.code, ch.code_msg, ch.sent_at = method, code, index, self.now
        ch.codes.append(code)
        ch.destination, ch.code_length = value, len(code)
        ch.expires_at = min(self.now + self.policy.code_ttl, ch.created_at + MAX_LIFETIME)
        assert res.challenge.method is method
        assert res.challenge.destination == mask(OOB[method], value)

    def do_begin_enrolment(
        self, user: str, actor: Actor, kind: ContactKind, value: str, method: Method
    ) -> ChallengeM | None:
        m = self.users[user]
        expected = None
        try:
            self.require_self(actor, user)
            self.require_fresh(actor)
            if m.verified(kind) is not None:
                raise Expected(ConflictingState, f"a verified {kind} exists")
        except Expected as e:
            expected = e
        with self.op(f"begin_{kind}_enrolment", user) as op:
            op.enrol_targets.add((kind, value))
            if kind is ContactKind.PHONE:
                fn: Callable[..., Any] = self.api.begin_phone_enrolment
                args: tuple[Any, ...] = (actor, user, value)
                kwargs: dict[str, Any] = {"method": method}
            else:
                fn, args, kwargs = self.api.begin_email_enrolment, (actor, user, value), {}
            ch = None
            plan: tuple[str, Any] = ("none", None)
            if expected is None:
                ch = ChallengeM(
                    id="?",
                    user=user,
                    purpose=Purpose.ENROL_CONTACT,
                    methods=(method,),
                    method=method,
                    created_at=self.now,
                    expires_at=self.now + self.policy.code_ttl,
                    target=(kind, value),
                )
                plan = self.model_send(ch, method, cooldown=False)
                if plan[0] == "sent":
                    op.expect_actions.append(Action.CODE_SENT)
            res = self.call(op, expected, fn, *args, **kwargs)
            if res is None:
                return None
            assert ch is not None
            ch.id = res.challenge.id
            assert res.challenge.purpose is Purpose.ENROL_CONTACT
            self.add_challenge(ch)
            self.apply_send(op, ch, method, plan, res)
        return ch

    def pick_challenge(self, pick: int, latest: bool) -> ChallengeM:
        ids = self.challenge_ids
        return self.challenges[ids[-1] if latest else ids[pick % len(ids)]]

    def add_challenge(self, ch: ChallengeM) -> None:
        assert ch.id not in self.challenges
        self.challenges[ch.id] = ch
        self.challenge_ids.append(ch.id)

    @rule(
        user=st.sampled_from(USERS),
        who=st.sampled_from(ACTORS),
        phone=st.sampled_from(PHONES),
        method=st.sampled_from([Method.SMS, Method.VOICE]),
    )
    def begin_phone_enrolment(self, user: str, who: str, phone: str, method: Method) -> None:
        self.do_begin_enrolment(user, self.actor(who, user), ContactKind.PHONE, phone, method)

    @rule(user=st.sampled_from(USERS), who=st.sampled_from(ACTORS), email=st.sampled_from(EMAILS))
    def begin_email_enrolment(self, user: str, who: str, email: str) -> None:
        self.do_begin_enrolment(user, self.actor(who, user), ContactKind.EMAIL, email, Method.EMAIL)

    @rule(
        user=st.sampled_from(USERS),
        phone=st.sampled_from(PHONES),
        email=st.sampled_from(EMAILS),
        which=st.sampled_from([Method.SMS, Method.VOICE, Method.EMAIL]),
    )
    def enrol_contact_fully(self, user: str, phone: str, email: str, which: Method) -> None:
        """Begin an enrolment and verify it with the code from the outbox."""
        kind = OOB[which]
        value = phone if kind is ContactKind.PHONE else email
        actor = self.actor("self", user)
        ch = self.do_begin_enrolment(user, actor, kind, value, which)
        if ch is not None and ch.code is not None:
            self.do_verify(ch, ch.code, trust_device=False, label=None)

    # --- sign-in -------------------------------------------------------------------------

    def token_choice(self, user: str, kind: str, pick: int) -> tuple[str | None, DeviceM | None]:
        own = [self.devices[d] for d in self.device_ids if self.devices[d].user == user]
        foreign = [self.devices[d] for d in self.device_ids if self.devices[d].user != user]
        if kind == "own" and own:
            d = own[pick % len(own)]
            return d.token, d
        if kind == "latest" and own:
            return own[-1].token, own[-1]
        if kind == "foreign" and foreign:
            d = foreign[pick % len(foreign)]
            return d.token, d
        if kind == "tampered" and own:
            d = own[pick % len(own)]
            last = d.token[-1]
            return d.token[:-1] + ("A" if last != "A" else "B"), None
        if kind == "empty":
            return "", None
        if kind == "garbage":
            return "not-a-token", None
        return None, None

    @rule(
        user=st.sampled_from(USERS),
        role=st.sampled_from(ROLES),
        token=st.sampled_from(
            ["none", "own", "latest", "latest", "foreign", "tampered", "empty", "garbage"]
        ),
        pick=st.integers(0, 1000),
    )
    def begin_sign_in(self, user: str, role: str | None, token: str, pick: int) -> None:
        self.do_begin_sign_in(user, role, *self.token_choice(user, token, pick))

    def do_begin_sign_in(
        self, user: str, role: str | None, token: str | None, device: DeviceM | None
    ) -> ChallengeM | None:
        m = self.users[user]
        trusted = bool(token) and self.token_valid(device, user)
        methods = self.methods(user)
        with self.op("begin_sign_in", user) as op:
            ch = None
            plan: tuple[str, Any] = ("none", None)
            if trusted:
                op.expect_actions.append(Action.SIGN_IN_TRUSTED)
            elif token:
                op.expect_actions.append(Action.TRUST_REJECTED)
            if not trusted and methods:
                preferred = m.preferred if m.preferred in methods else methods[0]
                guarded = (
                    self.policy.question_guards_alternatives
                    and m.question is not None
                    and len(methods) > 1
                )
                ch = ChallengeM(
                    id="?",
                    user=user,
                    purpose=Purpose.SIGN_IN,
                    methods=methods,
                    method=preferred,
                    created_at=self.now,
                    expires_at=self.now + self.policy.code_ttl,
                    alternatives_locked=guarded,
                )
                if preferred in OOB:
                    plan = self.model_send(ch, preferred, cooldown=False)
                    if plan[0] == "sent":
                        op.expect_actions.append(Action.CODE_SENT)
            res = self.call(op, None, self.api.begin_sign_in, user, role=role, trust_token=token)
            # Invariant (c): a satisfied sign-in had a valid token, or no 2FA at all.
            if res.satisfied:
                if res.trusted_device:
                    assert trusted, "begin_sign_in trusted a token the model says is invalid"
                else:
                    assert not m.enrolled(), "satisfied without a second factor"
            if trusted:
                assert res.satisfied and res.trusted_device, f"a valid token was refused: {res}"
                return None
            if ch is None:
                if self.policy.requires_2fa(role) or m.enrolled():
                    assert res.status is SignInStatus.ENROLLMENT_REQUIRED, res
                else:
                    assert res.status is SignInStatus.SATISFIED and not res.trusted_device, res
                return None
            assert res.status is SignInStatus.CHALLENGE and res.challenge is not None, res
            got = res.challenge
            assert (got.methods, got.method, got.alternatives_locked) == (
                ch.methods,
                ch.method,
                ch.alternatives_locked,
            ), (got, ch)
            ch.id = got.id
            self.add_challenge(ch)
            if ch.method in OOB:
                assert res.delivery is not None
                self.apply_send(op, ch, ch.method, plan, res.delivery)
            else:
                assert res.delivery is None
        return ch

    # --- verifying a challenge ------------------------------------------------------------

    def code_for(self, ch: ChallengeM, kind: str, pick: int) -> str:
        if kind == "current" and ch.code is not None:
            return ch.code
        if kind == "previous" and len(ch.codes) >= 2:
            return ch.codes[-2]
        if kind == "other":
            others = [c for c in self.challenges.values() if c.id != ch.id and c.codes]
            if others:
                return others[pick % len(others)].codes[-1]
        if kind == "totp":
            return self.totp_code_for(pick, pick % 3 - 1, ch.user)
        if kind == "totp_replay":
            return self.totp_code_for(pick, 0, ch.user)
        if kind.startswith("backup_"):
            return self.backup_choice(ch.user, kind.removeprefix("backup_"), pick)
        if ch.method is Method.TOTP:
            return bump(self.totp_code_for(pick, 0, ch.user))
        if ch.code is not None:
            return bump(ch.code)
        return "1" * (ch.code_length or self.policy.code_length)

    def expect_verify(self, ch: ChallengeM, code: str) -> tuple[str, Any]:
        """The model's verdict: ("expired"|"locked"|"no_code"|"refused", reason) before
        any check, or ("ok", what) / ("wrong", replay) after the attempt is counted."""
        if ch.state in (State.SUCCEEDED, State.CANCELLED):
            raise Expected(ConflictingState, f"the challenge is {ch.state}")
        self.refresh(ch)
        if ch.state is State.EXPIRED:
            return "expired", None
        if ch.state is State.LOCKED:
            return "locked", None
        # A typo (what cannot be a code of the method) is MALFORMED_CODE: no
        # attempt, nothing recorded (issue 14).
        compact = "".join(c for c in code if not (c.isspace() or c == "-"))
        backup_open = Method.BACKUP_CODE in ch.methods and (
            not ch.alternatives_locked or ch.method is Method.BACKUP_CODE
        )
        backup_shape = len(compact) == 12 and set(compact.upper()) <= set(CROCKFORD_INPUT)
        lengths: tuple[int, ...]
        if ch.method is Method.BACKUP_CODE or (backup_open and backup_shape):
            method, lengths, shaped = Method.BACKUP_CODE, (12,), backup_shape
        elif ch.method is Method.TOTP:
            method, lengths = Method.TOTP, (6, 8)
        else:
            method, lengths = ch.method, (ch.code_length or 6,)
            if ch.code is None:
                return "no_code", None
        if method is not Method.BACKUP_CODE:
            shaped = compact.isascii() and compact.isdigit() and len(compact) in lengths
        if not shaped:
            return "malformed", (method, lengths)
        self.verify_method = method
        refusal = self.users[ch.user].counter(method).refusal(self.now, self.policy)
        if refusal is not None:
            return "refused", refusal
        if method is Method.TOTP:
            match, replay = self.totp_match(ch.user, compact)
            return ("ok", (method, match)) if match else ("wrong", replay)
        if method is Method.BACKUP_CODE:
            good = canonical(code) in self.users[ch.user].backup_unused
            return ("ok", (method, canonical(code))) if good else ("wrong", False)
        assert ch.sent_at is not None
        fresh = self.now < ch.sent_at + self.policy.code_ttl
        good = compact == ch.code and fresh
        if good and ch.purpose is not Purpose.ENROL_CONTACT:
            contact = self.users[ch.user].verified(OOB[method])
            good = contact is not None and contact.value == ch.destination
        return ("ok", (method, ch.code_msg)) if good else ("wrong", False)

    def do_verify(
        self, ch: ChallengeM, code: str, *, trust_device: bool, label: str | None
    ) -> None:
        user = ch.user
        m = self.users[user]
        expected = None
        verdict: tuple[str, Any] = ("none", None)
        was_open = ch.state in OPEN and self.now < ch.expires_at
        try:
            verdict = self.expect_verify(ch, code)
            if verdict[0] == "ok" and ch.purpose is Purpose.ENROL_CONTACT:
                assert ch.target is not None
                # Refused before anything commits: no attempt is counted.
                if m.verified(ch.target[0]) is not None:
                    raise Expected(ConflictingState, "the user verified one meanwhile")
                if m.begun_before_first_factor(ch.created_at):
                    raise Expected(ConflictingState, "begun before the first factor")
        except Expected as e:
            expected = e
        with self.op("verify", user) as op:
            if expected is None and verdict[0] == "ok":
                op.expect_actions.append(Action.SECOND_STEP_PASSED)
                self.expect_success_records(op, ch, verdict[1][0], trust_device)
            if verdict[0] == "wrong" and ch.attempts + 1 >= self.policy.max_attempts:
                op.expect_actions.append(Action.CHALLENGE_LOCKED)
            res = self.call(
                op,
                expected,
                self.api.verify,
                ch.id,
                code,
                trust_device=trust_device,
                device_label=label,
            )
            if res is None:
                return
            kind, detail = verdict
            if res.ok:
                # Invariants (b) and (c): only a live challenge and a valid factor.
                assert was_open, "a code was accepted on an expired or locked challenge"
                assert kind == "ok", f"verify accepted what the model refuses ({kind}): {res}"
            if kind == "expired":
                assert (res.ok, res.reason) == (False, Reason.EXPIRED), res
            elif kind == "locked":
                assert (res.ok, res.reason) == (False, Reason.TOO_MANY_ATTEMPTS), res
            elif kind == "no_code":
                assert (res.ok, res.reason) == (False, Reason.NO_CODE_SENT), res
            elif kind == "malformed":
                left = self.policy.max_attempts - ch.attempts
                assert (res.ok, res.reason, res.attempts_left) == (
                    False,
                    Reason.MALFORMED_CODE,
                    left,
                ), res
                assert res.expected == ExpectedCode(method=detail[0], lengths=detail[1]), res
            elif kind == "refused":
                assert (res.ok, res.reason) == (False, detail), res
                op.expect_actions.append(self.attempt_record(detail, False, False))
            elif kind == "wrong":
                # S5: a replay is recorded as such, a wrong code as a failure.
                op.expect_actions.append(self.attempt_record(None, False, bool(detail)))
                if not detail:  # a replay counts on the challenge, not the account
                    m.counter(self.verify_method).reserve(self.now)
                ch.attempts += 1
                ch.wrong_results += 1
                if ch.attempts >= self.policy.max_attempts:
                    ch.state = State.LOCKED
                    assert (res.ok, res.reason, res.attempts_left) == (
                        False,
                        Reason.TOO_MANY_ATTEMPTS,
                        0,
                    ), res
                else:
                    reason = Reason.REPLAYED if detail else Reason.INVALID_CODE
                    left = self.policy.max_attempts - ch.attempts
                    assert (res.ok, res.reason, res.attempts_left) == (False, reason, left), res
            else:
                assert kind == "ok"
                assert res.ok, f"verify refused a valid code: {res}"
                self.apply_success(op, ch, detail, res, trust_device)

    def no_op_change(self, ch: ChallengeM) -> bool:
        """A contact change to the value the user already has changes nothing."""
        assert ch.target is not None
        current = self.users[ch.user].contacts.get(ch.target[0])
        return current is not None and current.value == ch.target[1]

    def expect_success_records(
        self, op: Op, ch: ChallengeM, method: Method, trust_device: bool
    ) -> None:
        m = self.users[ch.user]
        if method is Method.BACKUP_CODE:
            op.expect_actions.append(Action.BACKUP_CODE_USED)
        if ch.purpose is Purpose.ENROL_CONTACT:
            op.expect_actions.append(Action.FACTOR_ADDED)
            if not m.has_second_factor():
                op.expect_actions.append(Action.BACKUP_CODES_ISSUED)
        elif ch.purpose is Purpose.CONTACT_CHANGE and not self.no_op_change(ch):
            op.expect_actions.append(Action.CONTACT_CHANGED)
        elif trust_device:
            op.expect_actions.append(Action.DEVICE_TRUSTED)

    def apply_success(
        self, op: Op, ch: ChallengeM, detail: tuple[Method, Any], res: Any, trust_device: bool
    ) -> None:
        user = ch.user
        m = self.users[user]
        method, what = detail
        assert res.method is method and res.user_id == user and res.purpose is ch.purpose, res
        if method is Method.TOTP:
            self.apply_totp(user, what)
        elif method is Method.BACKUP_CODE:
            self.use_backup(user, what)
            assert res.backup_codes_left == len(m.backup_unused)
        else:
            self.accept(("oob", what))
        ch.state = State.SUCCEEDED
        m.succeeded(method, self.now)
        if ch.purpose is Purpose.ENROL_CONTACT:
            assert ch.target is not None
            first = not m.has_second_factor()
            assert (res.backup_codes is not None) == first, res
            m.contacts[ch.target[0]] = ContactM(ch.target[1], verified=True, active_since=self.now)
            if first:
                self.issue_backup(user, list(res.backup_codes))
            self.security_changed(op, user)
        elif ch.purpose is Purpose.CONTACT_CHANGE and not self.no_op_change(ch):
            assert ch.target is not None
            # A change keeps 2FA on: the backup codes stay until the new value is proven.
            m.contacts[ch.target[0]] = ContactM(ch.target[1], verified=False)
            if self.policy.revoke_devices_on_contact_change:
                self.security_changed(op, user)
        if trust_device and ch.purpose is Purpose.SIGN_IN:
            assert res.trust_token and res.device_id, res
            assert res.trust_max_age == self.policy.trust_days * 86400
            self.secrets |= {res.trust_token, res.trust_token.rpartition(".")[2]}
            d = DeviceM(res.device_id, user, res.trust_token, self.now, m.version)
            self.devices[d.id] = d
            self.device_ids.append(d.id)
        else:
            assert res.trust_token is None, res

    @precondition(lambda self: self.challenges)
    @rule(
        pick=st.integers(0, 1000),
        kind=st.sampled_from(
            [
                "current",
                "current",
                "current",
                "previous",
                "other",
                "totp",
                "totp",
                "totp_replay",
                "backup_unused",
                "backup_spent",
                "backup_foreign",
                "wrong",
            ]
        ),
        trust_device=st.booleans(),
        label=st.sampled_from(LABELS),
        latest=st.booleans(),
    )
    def verify(
        self, pick: int, kind: str, trust_device: bool, label: str | None, latest: bool
    ) -> None:
        ch = self.pick_challenge(pick, latest)
        self.do_verify(ch, self.code_for(ch, kind, pick), trust_device=trust_device, label=label)

    @rule(
        user=st.sampled_from(USERS),
        trust_device=st.booleans(),
        method=st.sampled_from([None, Method.SMS, Method.VOICE, Method.EMAIL, Method.BACKUP_CODE]),
        pick=st.integers(0, 1000),
    )
    def sign_in_fully(
        self, user: str, trust_device: bool, method: Method | None, pick: int
    ) -> None:
        """Begin a sign-in, maybe switch method, and verify with a right code."""
        ch = self.do_begin_sign_in(user, None, None, None)
        if ch is None:
            return
        if method is not None and method in ch.methods and not ch.alternatives_locked:
            self.do_switch(ch, method, via_send=False)
        if ch.method is Method.TOTP:
            code = self.code_for(ch, "totp", pick)
        elif ch.method is Method.BACKUP_CODE:
            code = self.code_for(ch, "backup_unused", pick)
        elif ch.code is not None:
            code = ch.code
        else:
            return
        self.do_verify(ch, code, trust_device=trust_device, label=LABELS[pick % len(LABELS)])

    @precondition(lambda self: self.challenges)
    @rule(pick=st.integers(0, 1000), latest=st.booleans(), times=st.integers(1, 6))
    def guess_wrong_codes(self, pick: int, latest: bool, times: int) -> None:
        """Several wrong codes in a row: challenge locks and account back-off."""
        ch = self.pick_challenge(pick, latest)
        for i in range(times):
            self.do_verify(ch, self.code_for(ch, "wrong", pick + i), trust_device=False, label=None)

    @rule(
        user=st.sampled_from(USERS),
        right=st.booleans(),
        then=st.sampled_from([Method.SMS, Method.EMAIL, Method.BACKUP_CODE, Method.VOICE]),
        pick=st.integers(0, 1000),
    )
    def sign_in_through_the_question(self, user: str, right: bool, then: Method, pick: int) -> None:
        """Set the question, sign in, try another way, answer, switch, verify."""
        m = self.users[user]
        if m.answer is None:
            actor = self.actor("self", user)
            with self.op("set_security_question", user) as op:
                op.expect_actions.append(Action.QUESTION_SET)
                question = self.policy.security_questions[pick % 3]
                self.call(
                    op, None, self.api.set_security_question, actor, user, question, ANSWERS[0]
                )
            m.question, m.answer = question, ANSWERS[0]
        ch = self.do_begin_sign_in(user, None, None, None)
        if ch is None:
            return
        self.do_try_another_way(ch)
        self.do_answer(ch, right)
        if then in ch.methods:
            self.do_switch(ch, then, via_send=pick % 2 == 0)
        kind = {Method.TOTP: "totp", Method.BACKUP_CODE: "backup_unused"}.get(ch.method, "current")
        self.do_verify(ch, self.code_for(ch, kind, pick), trust_device=False, label=None)

    @rule(
        user=st.sampled_from(USERS), pick=st.integers(0, 1000), later=st.sampled_from([0, 1, 3, 15])
    )
    def sign_in_with_a_trusted_device(self, user: str, pick: int, later: int) -> None:
        """Sign in trusting the device, then come back with its token."""
        before = len(self.device_ids)
        self.sign_in_fully(user, True, None, pick)
        if len(self.device_ids) == before:
            return
        device = self.devices[self.device_ids[-1]]
        self.clock.advance(days=later)
        self.do_begin_sign_in(user, None, device.token, device)

    # --- sending, switching, the question, cancelling ---------------------------------------

    def do_switch(self, ch: ChallengeM, target: Method, *, via_send: bool) -> None:
        if via_send and target is ch.method:
            self.do_resend(ch, resend=False)  # send(cid, the current method)
            return
        expected = None
        plan: tuple[str, Any] = ("none", None)
        name = "send" if via_send else "switch_method"
        try:
            if ch.state in (State.SUCCEEDED, State.CANCELLED):
                raise Expected(ConflictingState, f"the challenge is {ch.state}")
            self.refresh(ch)
            if ch.state in (State.EXPIRED, State.LOCKED):
                plan = ("ended", ch.state)
            elif target not in ch.methods:
                raise Expected(InvalidInput, "not one of the challenge's methods")
            elif ch.alternatives_locked and target is not ch.method:
                raise Expected(ConflictingState, "alternatives are locked")
            elif ch.state is State.AWAITING_ANSWER:
                raise Expected(ConflictingState, "no switch while the question is asked")
            elif target in OOB:
                plan = self.model_send(ch, target, cooldown=target is ch.method)
                if plan[0] == "cooldown":  # only a resend is refused: this is on its way
                    plan = ("already", plan[1])
            else:
                plan = ("switched", target)
        except Expected as e:
            expected = e
        with self.op(name, ch.user) as op:
            if ch.target is not None and ch.purpose is Purpose.ENROL_CONTACT:
                op.enrol_targets.add(ch.target)
            if plan[0] == "sent":
                op.expect_actions.append(Action.CODE_SENT)
            if via_send:
                res = self.call(op, expected, self.api.send, ch.id, target)
            else:
                res = self.call(op, expected, self.api.switch_method, ch.id, target)
            if res is None:
                return
            if plan[0] == "ended":
                reason = Reason.EXPIRED if plan[1] is State.EXPIRED else Reason.TOO_MANY_ATTEMPTS
                assert (res.ok, res.reason) == (False, reason), res
            elif plan[0] == "switched":
                assert res.ok and res.challenge.method is target, res
                ch.method, ch.code, ch.code_msg, ch.destination = target, None, None, None
            else:
                self.apply_send(op, ch, target, plan, res)

    def do_resend(self, ch: ChallengeM, *, resend: bool = True) -> None:
        """``resend(cid)``, or with ``resend=False`` ``send(cid, the current method)``."""
        expected = None
        plan: tuple[str, Any] = ("none", None)
        try:
            if ch.state in (State.SUCCEEDED, State.CANCELLED):
                raise Expected(ConflictingState, f"the challenge is {ch.state}")
            self.refresh(ch)
            if ch.state in (State.EXPIRED, State.LOCKED):
                plan = ("ended", ch.state)
            elif ch.method not in OOB:
                raise Expected(ConflictingState, f"nothing to send for {ch.method}")
            else:
                plan = self.model_send(ch, ch.method, cooldown=True)
                if plan[0] == "cooldown" and not resend:
                    plan = ("already", plan[1])
        except Expected as e:
            expected = e
        with self.op("resend" if resend else "send", ch.user) as op:
            if ch.target is not None and ch.purpose is Purpose.ENROL_CONTACT:
                op.enrol_targets.add(ch.target)
            if plan[0] == "sent":
                op.expect_actions.append(Action.CODE_SENT)
            if resend:
                res = self.call(op, expected, self.api.resend, ch.id)
            else:
                res = self.call(op, expected, self.api.send, ch.id, ch.method)
            if res is None:
                return
            if plan[0] == "ended":
                reason = Reason.EXPIRED if plan[1] is State.EXPIRED else Reason.TOO_MANY_ATTEMPTS
                assert (res.ok, res.reason) == (False, reason), res
            else:
                self.apply_send(op, ch, ch.method, plan, res)

    @precondition(lambda self: self.challenges)
    @rule(pick=st.integers(0, 1000), latest=st.booleans())
    def resend(self, pick: int, latest: bool) -> None:
        self.do_resend(self.pick_challenge(pick, latest))

    @precondition(lambda self: self.challenges)
    @rule(
        pick=st.integers(0, 1000),
        latest=st.booleans(),
        method=st.sampled_from(list(Method)),
        via_send=st.booleans(),
    )
    def switch_method(self, pick: int, latest: bool, method: Method, via_send: bool) -> None:
        ch = self.pick_challenge(pick, latest)
        self.do_switch(ch, method, via_send=via_send)

    @precondition(lambda self: self.challenges)
    @rule(pick=st.integers(0, 1000), latest=st.booleans())
    def try_another_way(self, pick: int, latest: bool) -> None:
        self.do_try_another_way(self.pick_challenge(pick, latest))

    def do_try_another_way(self, ch: ChallengeM) -> None:
        expected = None
        try:
            if ch.state in (State.SUCCEEDED, State.CANCELLED):
                raise Expected(ConflictingState, f"the challenge is {ch.state}")
            self.refresh(ch)
        except Expected as e:
            expected = e
        with self.op("try_another_way", ch.user) as op:
            view = self.call(op, expected, self.api.try_another_way, ch.id)
        if view is None:
            return
        if ch.alternatives_locked and ch.state is State.AWAITING_CODE:
            ch.state = State.AWAITING_ANSWER
        assert view.state is ch.state, (view.state, ch.state)
        if ch.state is State.AWAITING_ANSWER:
            assert view.question == self.users[ch.user].question

    @precondition(lambda self: self.challenges)
    @rule(pick=st.integers(0, 1000), latest=st.booleans(), right=st.booleans())
    def answer_security_question(self, pick: int, latest: bool, right: bool) -> None:
        self.do_answer(self.pick_challenge(pick, latest), right)

    def do_answer(self, ch: ChallengeM, right: bool) -> None:
        m = self.users[ch.user]
        answer = m.answer if right and m.answer else "Ogdenville"
        self.secrets.add(answer)
        expected = None
        plan: tuple[str, Any] = ("none", None)
        try:
            if ch.state in (State.SUCCEEDED, State.CANCELLED):
                raise Expected(ConflictingState, f"the challenge is {ch.state}")
            self.refresh(ch)
            if ch.state in (State.EXPIRED, State.LOCKED):
                plan = ("ended", ch.state)
            elif ch.state is not State.AWAITING_ANSWER:
                raise Expected(ConflictingState, "no question asked")
            else:
                refusal = m.failures.refusal(self.now, self.policy)
                if refusal is not None:
                    plan = ("refused", refusal)
                else:
                    plan = ("right", None) if answer == m.answer else ("wrong", None)
        except Expected as e:
            expected = e
        with self.op("answer_security_question", ch.user) as op:
            if plan[0] == "wrong":
                op.expect_actions.append(Action.QUESTION_FAILED)
                if ch.attempts + 1 >= self.policy.max_attempts:
                    op.expect_actions.append(Action.CHALLENGE_LOCKED)
            res = self.call(op, expected, self.api.answer_security_question, ch.id, answer)
        if res is None:
            return
        kind = plan[0]
        if kind == "ended":
            reason = Reason.EXPIRED if plan[1] is State.EXPIRED else Reason.TOO_MANY_ATTEMPTS
            assert (res.ok, res.reason) == (False, reason), res
        elif kind == "refused":
            assert (res.ok, res.reason) == (False, plan[1]), res
        elif kind == "right":
            assert res.ok, res
            # The right answer gives back its reserved attempt, nothing more (S27):
            # the count is unchanged, but the reservation moved its time.
            m.failures.reserve(self.now)
            m.failures.count -= 1
            ch.state, ch.alternatives_locked = State.AWAITING_CODE, False
            assert (
                res.challenge.state is State.AWAITING_CODE and not res.challenge.alternatives_locked
            )
        else:
            m.failures.reserve(self.now)
            ch.attempts += 1
            ch.wrong_results += 1
            if ch.attempts >= self.policy.max_attempts:
                ch.state = State.LOCKED
                assert (res.ok, res.reason) == (False, Reason.TOO_MANY_ATTEMPTS), res
            else:
                assert (res.ok, res.reason) == (False, Reason.INVALID_ANSWER), res

    @precondition(lambda self: self.challenges)
    @rule(pick=st.integers(0, 1000), latest=st.booleans())
    def cancel(self, pick: int, latest: bool) -> None:
        ch = self.pick_challenge(pick, latest)
        with self.op("cancel", ch.user) as op:
            view = self.call(op, None, self.api.cancel, ch.id)
        if ch.state in OPEN:  # cancel does not look at the clock
            ch.state = State.CANCELLED
        assert view.state is ch.state, (view.state, ch.state)

    @precondition(lambda self: self.challenges)
    @rule(pick=st.integers(0, 1000))
    def get_challenge(self, pick: int) -> None:
        ch = self.challenges[self.challenge_ids[pick % len(self.challenge_ids)]]
        self.refresh(ch)
        with self.op("get_challenge", ch.user) as op:
            view = self.call(op, None, self.api.get_challenge, ch.id)
        assert (view.state, view.method, view.methods) == (ch.state, ch.method, ch.methods)
        assert view.attempts_left == max(self.policy.max_attempts - ch.attempts, 0)
        assert view.alternatives_locked == ch.alternatives_locked
        assert view.purpose is ch.purpose and view.user_id == ch.user
        if ch.method in OOB and ch.destination is not None:
            assert view.destination == mask(OOB[ch.method], ch.destination)

    # --- trusted devices ---------------------------------------------------------------------

    @precondition(lambda self: self.devices)
    @rule(who=st.sampled_from(ACTORS), pick=st.integers(0, 1000), foreign=st.booleans())
    def revoke_device(self, who: str, pick: int, foreign: bool) -> None:
        d = self.devices[self.device_ids[pick % len(self.device_ids)]]
        user = self.other_user(d.user) if foreign else d.user
        actor = self.actor(who, user)
        expected = None
        try:
            self.no_impersonator(actor)
            self.may_act_for(actor, user)
            if d.user != user or d.revoked:
                raise Expected(NotFound, "no live device of this user")
        except Expected as e:
            expected = e
        with self.op("revoke_device", user) as op:
            if expected is None:
                op.expect_actions.append(Action.DEVICE_REVOKED)
            self.call(op, expected, self.api.revoke_device, actor, user, d.id)
        if expected is None:
            d.revoked = True

    @rule(user=st.sampled_from(USERS), who=st.sampled_from(ACTORS))
    def revoke_all_devices(self, user: str, who: str) -> None:
        actor = self.actor(who, user)
        expected = None
        try:
            self.no_impersonator(actor)
            self.may_act_for(actor, user)
        except Expected as e:
            expected = e
        live = [d for d in self.devices.values() if d.user == user and not d.revoked]
        with self.op("revoke_all_devices", user) as op:
            if expected is None:
                op.expect_actions.append(Action.DEVICES_REVOKED)
            count = self.call(op, expected, self.api.revoke_all_devices, actor, user)
        if expected is None:
            assert count == len(live)
            for d in live:
                d.revoked = True

    # --- contact changes ------------------------------------------------------------------

    @rule(
        user=st.sampled_from(USERS),
        who=st.sampled_from(["self", "self", "admin", "admin", "impersonator", "other"]),
        phone=st.sampled_from((None, *PHONES)),
        email=st.sampled_from(EMAILS),
        times=st.integers(1, 4),
    )
    def begin_contact_change(
        self, user: str, who: str, phone: str | None, email: str, times: int
    ) -> None:
        for _ in range(times):
            self.do_begin_contact_change(user, self.actor(who, user), phone, email)
            phone = PHONES[(PHONES.index(phone) + 1) % len(PHONES)] if phone else None
            email = EMAILS[(EMAILS.index(email) + 1) % len(EMAILS)]

    def do_begin_contact_change(
        self, user: str, actor: Actor, phone: str | None, email: str
    ) -> ChallengeM | None:
        m = self.users[user]
        kind, value = (ContactKind.PHONE, phone) if phone else (ContactKind.EMAIL, email)
        assert value is not None
        expected = None
        plan: tuple[str, Any] = ("none", None)
        try:
            self.may_act_for(actor, user)
            # A change to the current value is started like any other (it
            # must not confirm a guess of a masked number) and is a no-op.
            methods = self.eligible(user)
            if not methods:
                plan = ("no_method", None)
            else:
                wait = m.changes.full(self.now, self.policy.contact_changes_per_day, DAY)
                plan = ("limit", wait) if wait is not None else ("started", methods)
        except Expected as e:
            expected = e
        with self.op("begin_contact_change", user) as op:
            if plan[0] == "started":
                op.expect_actions.append(Action.CONTACT_CHANGE_STARTED)
            elif plan[0] in ("no_method", "limit"):
                op.expect_actions.append(Action.CONTACT_CHANGE_REFUSED)
            kw = {"phone": value} if kind is ContactKind.PHONE else {"email": value}
            res = self.call(op, expected, self.api.begin_contact_change, actor, user, **kw)
        if res is None:
            return None
        if plan[0] == "no_method":
            assert (res.ok, res.reason) == (False, Reason.NO_ELIGIBLE_METHOD), res
            return None
        if plan[0] == "limit":
            assert (res.ok, res.reason, res.retry_after) == (False, Reason.DAILY_LIMIT, plan[1])
            return None
        assert res.ok and res.challenge is not None, res
        methods = plan[1]
        assert res.challenge.methods == methods, (res.challenge.methods, methods)
        # S19: never the new destination.
        assert res.challenge.destination is None
        m.changes.hit(self.now, DAY)
        ch = ChallengeM(
            id=res.challenge.id,
            user=user,
            purpose=Purpose.CONTACT_CHANGE,
            methods=methods,
            method=methods[0],
            created_at=self.now,
            expires_at=self.now + self.policy.code_ttl,
            target=(kind, value),
        )
        self.add_challenge(ch)
        return ch

    @rule(
        user=st.sampled_from(USERS),
        admin=st.booleans(),
        phone=st.sampled_from((None, *PHONES)),
        email=st.sampled_from(EMAILS),
        method=st.sampled_from([Method.TOTP, Method.SMS, Method.VOICE, Method.EMAIL]),
        pick=st.integers(0, 1000),
    )
    def change_contact_fully(
        self, user: str, admin: bool, phone: str | None, email: str, method: Method, pick: int
    ) -> None:
        """Begin a change (as the user or an admin), send on a channel, verify."""
        actor = self.actor("admin" if admin else "self", user)
        ch = self.do_begin_contact_change(user, actor, phone, email)
        if ch is None:
            return
        if method in ch.methods and method in OOB:
            self.do_switch(ch, method, via_send=True)
        if ch.method is Method.TOTP:
            code = self.code_for(ch, "totp", pick)
        elif ch.code is not None:
            code = ch.code
        else:
            return
        self.do_verify(ch, code, trust_device=False, label=None)

    # --- managing 2FA -------------------------------------------------------------------------

    @rule(
        user=st.sampled_from(USERS),
        who=st.sampled_from(ACTORS),
        method=st.sampled_from([None, *Method]),
    )
    def set_preferred_method(self, user: str, who: str, method: Method | None) -> None:
        actor = self.actor(who, user)
        expected = None
        try:
            self.may_act_for(actor, user)
            if method is Method.BACKUP_CODE:
                raise Expected(InvalidInput, "backup codes are no preference")
            if method is not None and method not in self.methods(user):
                raise Expected(ConflictingState, "not set up")
        except Expected as e:
            expected = e
        with self.op("set_preferred_method", user) as op:
            if expected is None:
                op.expect_actions.append(Action.PREFERRED_METHOD_SET)
            self.call(op, expected, self.api.set_preferred_method, actor, user, method)
        if expected is None:
            self.users[user].preferred = method

    @rule(
        user=st.sampled_from(USERS),
        who=st.sampled_from(ACTORS),
        kind=st.sampled_from(list(ContactKind)),
        role=st.sampled_from(ROLES),
    )
    def remove_contact(self, user: str, who: str, kind: ContactKind, role: str | None) -> None:
        m = self.users[user]
        actor = self.actor(who, user)
        expected = None
        contact = m.contacts.get(kind)
        try:
            self.no_impersonator(actor)
            self.may_act_for(actor, user)
            self.require_fresh(actor)
            if contact is None:
                raise Expected(NotFound, f"no {kind}")
            if contact.verified and self.policy.requires_2fa(role):
                others = [
                    x
                    for x in self.methods(user)
                    if x is not Method.BACKUP_CODE and OOB.get(x) is not kind
                ]
                if not others:
                    raise Expected(NotPermitted, "the last factor of a required role")
        except Expected as e:
            expected = e
        with self.op("remove_contact", user) as op:
            if expected is None:
                op.expect_actions.append(Action.FACTOR_REMOVED)
                del m.contacts[kind]
                self.drop_orphans(user)
                self.security_changed(op, user)
            self.call(op, expected, self.api.remove_contact, actor, user, kind, role=role)

    @rule(user=st.sampled_from(USERS), who=st.sampled_from(ACTORS), role=st.sampled_from(ROLES))
    def disable_two_factor(self, user: str, who: str, role: str | None) -> None:
        m = self.users[user]
        actor = self.actor(who, user)
        expected = None
        try:
            self.no_impersonator(actor)
            self.may_act_for(actor, user)
            self.require_fresh(actor)
            if self.policy.requires_2fa(role):
                raise Expected(NotPermitted, "required for the role")
            if not m.enrolled():
                raise Expected(ConflictingState, "2FA is off")
        except Expected as e:
            expected = e
        with self.op("disable_two_factor", user) as op:
            if expected is None:
                op.expect_actions.append(Action.TWO_FACTOR_DISABLED)
                m.totps.clear()
                m.backup_spent.update(m.backup_unused)
                m.backup_unused.clear()
                for c in m.contacts.values():
                    c.verified = False
                m.preferred = None
                self.security_changed(op, user)
            self.call(op, expected, self.api.disable_two_factor, actor, user, role=role)

    @rule(user=st.sampled_from(USERS), who=st.sampled_from(ACTORS))
    def password_changed(self, user: str, who: str) -> None:
        actor = self.actor(who, user)
        expected = None
        try:
            self.may_act_for(actor, user)
        except Expected as e:
            expected = e
        with self.op("password_changed", user) as op:
            if expected is None:
                op.expect_actions.append(Action.PASSWORD_CHANGED)
                self.security_changed(op, user)
            self.call(op, expected, self.api.password_changed, actor, user)

    # --- read-only calls ------------------------------------------------------------------

    @rule(user=st.sampled_from(USERS))
    def list_events(self, user: str) -> None:
        events = self.api.list_events(user, limit=500)
        assert all(e.subject_id == user for e in events)
        mine = [e for e in self.log.events if e.subject_id == user]
        assert [e.id for e in events] == [e.id for e in reversed(mine)][:500]

    # --- invariants -----------------------------------------------------------------------

    @invariant()
    def store_agrees_with_the_model(self) -> None:
        if self.mfa is None:
            return
        for user, m in self.users.items():
            factors = self.api.list_factors(user)
            totps = {(f.id, f.label, f.preferred) for f in factors if f.kind == "totp"}
            want_totps = {(t.id, t.label, m.preferred is Method.TOTP) for t in m.confirmed()}
            assert totps == want_totps, (user, totps, want_totps)
            apps = {(a.id, a.label) for a in self.api.list_authenticators(user)}
            assert apps == {(t.id, t.label) for t in m.confirmed()}, (user, apps)
            contacts = {
                (f.kind, f.verified, f.destination, f.preferred)
                for f in factors
                if f.kind != "totp"
            }
            want = {
                (k.value, c.verified, mask(k, c.value), m.preferred in KIND_METHODS[k])
                for k, c in m.contacts.items()
            }
            assert contacts == want, (user, contacts, want)
            assert self.api.backup_codes_left(user) == len(m.backup_unused), (user, "backup")
            assert self.api.get_security_question(user) == m.question, (user, "question")
            lifetime = timedelta(days=self.policy.trust_days)
            devices = {(d.id, d.active) for d in self.api.list_devices(user)}
            want_devices = {
                (
                    d.id,
                    not d.revoked and d.version == m.version and self.now < d.issued_at + lifetime,
                )
                for d in self.devices.values()
                if d.user == user
            }
            assert devices == want_devices, (user, devices, want_devices)

    @invariant()
    def limits_hold(self) -> None:
        """Invariant (d), recomputed from what was actually sent and recorded."""
        messages = self.outbox.messages
        assert len(messages) == len(self.msg_times), "a message sent outside a public call"
        windows: dict[str, FixedWindow] = {}
        budgets: dict[str, FixedWindow] = {}
        for m, at, (user, key) in zip(messages, self.msg_times, self.msg_keys, strict=True):
            if m.code is None:
                continue
            w = windows.setdefault(key, FixedWindow())
            w.hit(at, self.policy.send_window)
            assert w.count <= self.policy.send_quota, f"too many codes to {m.channel} in a window"
            if key.startswith("unverified:"):
                b = budgets.setdefault(user, FixedWindow())
                b.hit(at, DAY)
                assert b.count <= self.policy.unverified_sends_per_user, "over the send budget"
        changes: dict[str, FixedWindow] = {}
        for e in self.log.events:
            if e.action == Action.CONTACT_CHANGE_STARTED.value:
                w = changes.setdefault(e.subject_id, FixedWindow())
                w.hit(e.at, DAY)
                assert w.count <= self.policy.contact_changes_per_day, "too many changes a day"
        for ch in self.challenges.values():
            assert ch.wrong_results <= self.policy.max_attempts, "too many wrong codes"
        for t in self.setups:
            assert t.failures <= self.policy.max_attempts, "too many wrong setup codes"

    @invariant()
    def audit_is_secret_free(self) -> None:
        """Invariant (e) over the whole trail (secrets learned later included)."""
        events = self.log.events
        for e in events[self.audit_seen :]:
            self.check_secret_free("audit record", record_texts(e))
        self.audit_seen = len(events)


MfaMachine.TestCase.settings = machine_settings()
TestMemoryInvariants = MfaMachine.TestCase


# --- the same machine on the SQL adapter (SQLite) -------------------------------------------

SQL_MISSING = importlib.util.find_spec("mfakit.adapters.sql") is None


class SqliteMachine(MfaMachine):
    """The same rules and invariants, on ``SqlStore`` over an in-memory SQLite."""

    def make_store(self) -> Any:
        from mfakit.adapters.sql import SqlStore

        return SqlStore.from_url("sqlite://")


SqliteMachine.TestCase.settings = machine_settings()


@pytest.mark.skipif(
    SQL_MISSING, reason="mfakit.adapters.sql is missing: no SQL adapter to run the machine on"
)
class TestSqliteInvariants(SqliteMachine.TestCase):  # type: ignore[misc,valid-type]
    @pytest.fixture(autouse=True)
    def _needs_sqlalchemy(self) -> None:
        pytest.importorskip("sqlalchemy")
