"""A key rotation run while eight threads verify authenticator codes, on any store.

Shared by the memory, SQLite and PostgreSQL tests. The users enrol under an
old key; the application then gets a keyring with a new primary key (the old
one kept after it) and rotates while its users keep signing in: eight threads
verify every user's codes for the three steps the window accepts, half of them
through an application server whose primary is still the old key (a rolling
deploy: it already knows the new key, as the runbook has it), and
two rotations run at once (two operators, or a retried job).

The interleaving is forced, not hoped for: the verifiers submit their first
codes, then wait until the rotation has re-sealed a batch; the rotations wait,
after their first batch, until the verifiers are under way again. So codes are
verified while records are being re-sealed, on the same rows.

What must hold: every code that would have been accepted is accepted (none
refused because its record was being re-sealed), every accepted step is kept
(no re-seal wrote an older row back), and afterwards every record is sealed
under the new key, opens with the new key alone to the very secret the user's
app holds, and the old key is reported unused.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from mfakit import MFA, Keyring, KeyRotation, generate_secret_key
from mfakit.adapters import MemoryAuditLog
from mfakit.core.keys import Sealed
from mfakit.ports.storage import Store
from mfakit.service.factors import TOTP_PURPOSE, totp_aad
from mfakit.testing import FakeClock, authenticator_code, fast_hasher
from tests.helpers import fresh

VERIFIERS = 8
ROTATIONS = 2
STEPS = (-1, 0, 1)
"""The steps around now the default window (±1) accepts, oldest first."""
WAIT = 60.0


@dataclass
class Outcome:
    reports: list[KeyRotation]
    verified: list[tuple[str, int, bool]]
    old_id: str
    new_id: str


def run(store: Store, *, users: int = 48, batch: int = 4) -> Outcome:
    clock = FakeClock()
    old, new = generate_secret_key(), generate_secret_key()

    def app(*keys: str) -> MFA:
        return MFA(
            store=store,
            secret_key=list(keys),
            issuer="Rotation",
            clock=clock,
            hasher=fast_hasher(),
            audit=MemoryAuditLog(),
        )

    # A server of the rolling deploy that knows the new key but still seals
    # with the old one, and one that seals with the new key (and rotates).
    before, after = app(old, new), app(new, old)
    secrets: dict[str, tuple[str, str]] = {}  # user -> (factor id, base32 secret)
    for n in range(users):
        user = f"user{n:03d}"
        actor = fresh(clock, user, secret=old)
        setup = before.begin_totp_setup(actor, user, account_name=f"{user}@example.org")
        confirmed = before.confirm_totp_setup(
            actor, setup.id, authenticator_code(setup.secret, clock.now())
        )
        assert confirmed.ok and confirmed.authenticator is not None
        secrets[user] = (confirmed.authenticator.id, setup.secret)
    clock.advance(seconds=120)  # the steps around now are all unused
    now = clock.now()

    verified: list[tuple[str, int, bool]] = []
    reports: list[KeyRotation] = []
    lock = threading.Lock()
    first_codes_in = threading.Barrier(VERIFIERS)
    rotation_started = threading.Event()
    verifying_again = threading.Event()
    errors: list[BaseException] = []

    def verifier(index: int) -> None:
        server = before if index % 2 else after
        mine = [u for i, u in enumerate(sorted(secrets)) if i % VERIFIERS == index]
        for offset in STEPS:
            if offset == 0:  # between the first codes and the others
                first_codes_in.wait(WAIT)
                assert rotation_started.wait(WAIT), "the rotation never started"
                verifying_again.set()
            for user in mine:
                code = authenticator_code(secrets[user][1], now + timedelta(seconds=30 * offset))
                ok = server.verify_totp(user, code).ok
                with lock:
                    verified.append((user, offset, ok))

    def rotator() -> None:
        def progress(report: KeyRotation) -> None:
            rotation_started.set()
            assert verifying_again.wait(WAIT), "the verifiers never went on"

        result = after.rotate_keys(batch=batch, progress=progress)
        rotation_started.set()  # (a rotation with a single batch calls no progress)
        with lock:
            reports.append(result)

    def guarded(target: Any, *args: Any) -> Any:
        def body() -> None:
            try:
                target(*args)
            except BaseException as exc:  # reported by the caller, never swallowed
                errors.append(exc)
                rotation_started.set()
                verifying_again.set()
                first_codes_in.abort()

        return body

    threads = [threading.Thread(target=guarded(verifier, i)) for i in range(VERIFIERS)]
    threads += [threading.Thread(target=guarded(rotator)) for _ in range(ROTATIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]

    check(store, secrets, Keyring(new), now, after)
    outcome = Outcome(reports, verified, Keyring(old).primary_id, Keyring(new).primary_id)
    assert after.unused_keys() == (outcome.old_id,)
    return outcome


def check(
    store: Store, secrets: dict[str, tuple[str, str]], keyring: Keyring, now: Any, mfa: MFA
) -> None:
    """Every record under the new key, holding the user's secret, its last step kept."""
    import base64

    newest_step = int(now.timestamp()) // 30 + STEPS[-1]
    for user, (factor_id, secret) in secrets.items():
        rec = store.get_totp(user, factor_id)
        assert rec is not None, user
        assert rec.secret_key_id == keyring.primary_id, user
        plain = keyring.open(
            TOTP_PURPOSE, Sealed(rec.secret_key_id, rec.secret_blob), aad=totp_aad(user, rec.id)
        )
        assert plain == base64.b32decode(secret + "=" * (-len(secret) % 8)), user
        assert rec.last_step == newest_step, user
    usage = mfa.key_usage()
    assert usage.unknown == ()
    assert usage.of(keyring.primary_id) is not None
    assert usage.of(keyring.primary_id).authenticators == len(secrets)  # type: ignore[union-attr]


def assert_sound(outcome: Outcome, users: int) -> None:
    """No code refused, and the rotations re-sealed each record exactly once."""
    refused = [(u, o) for u, o, ok in outcome.verified if not ok]
    assert refused == [], refused
    assert len(outcome.verified) == users * len(STEPS)
    assert len(outcome.reports) == ROTATIONS and all(r.done for r in outcome.reports)
    assert sum(r.resealed for r in outcome.reports) == users
    assert all(r.unreadable == 0 and r.key_id == outcome.new_id for r in outcome.reports)


def pending_setup_survives(store: Store) -> None:
    """An authenticator setup begun under the old key and not confirmed yet is
    re-sealed too (its secret is a sealed value like any other): after the
    rotation the old key is unused, and the setup is confirmed on a server whose
    keyring holds the new key alone, with the code of the secret the user scanned."""
    clock = FakeClock()
    old, new = generate_secret_key(), generate_secret_key()

    def app(*keys: str) -> MFA:
        return MFA(
            store=store,
            secret_key=list(keys),
            issuer="Rotation",
            clock=clock,
            hasher=fast_hasher(),
            audit=MemoryAuditLog(),
        )

    actor = fresh(clock, "pat", secret=old)
    setup = app(old).begin_totp_setup(actor, "pat", account_name="pat@example.org")
    (pending,) = store.list_totp("pat")
    assert pending.confirmed_at is None and pending.secret_key_id == Keyring(old).primary_id
    rotating = app(new, old)
    result = rotating.rotate_keys()
    assert (result.resealed, result.unreadable, result.done) == (1, 0, True)
    assert rotating.unused_keys() == (Keyring(old).primary_id,)
    (resealed,) = store.list_totp("pat")
    assert resealed.secret_key_id == Keyring(new).primary_id and resealed.confirmed_at is None
    assert resealed.secret_blob != pending.secret_blob
    only_new = app(new)
    code = authenticator_code(setup.secret, clock.now())
    confirmed = only_new.confirm_totp_setup(fresh(clock, "pat", secret=new), setup.id, code)
    assert confirmed.ok, confirmed.reason
