"""One read and one unit of work per verification (issue 13), on the memory
store: clock skew between servers, concurrent right and wrong codes, and
the per-challenge attempt limit under concurrency."""

from __future__ import annotations

from datetime import timedelta

import mfakit
from mfakit import MFA, Reason, State
from mfakit.adapters import MemoryStore, Outbox
from mfakit.testing import FakeClock, authenticator_code, fast_hasher
from mfakit.testing.contract import race

from ..conftest import SECRET

THREADS = 8


def _server(store: MemoryStore, clock: FakeClock) -> MFA:
    outbox = Outbox()
    return MFA(
        store=store,
        secret_key=SECRET,
        issuer="Skew",
        clock=clock,
        hasher=fast_hasher(),
        sms=outbox,
        email=outbox,
    )


def test_a_failure_recorded_by_a_server_ahead_does_not_refuse_a_right_code(
    mfa: MFA, store: MemoryStore, clock: FakeClock, enrol
) -> None:
    """Server B's clock runs 5 ms ahead of A's: B records a wrong code, then A
    verifies a right one. Within the free allowance A must accept it."""
    user = enrol()
    clock.advance(seconds=60)
    ahead = FakeClock(clock.now() + timedelta(milliseconds=5))
    server_b = _server(store, ahead)
    assert not server_b.verify_totp("alice", "000000").ok
    result = mfa.verify_totp("alice", user.code_at())
    assert result.ok, result


def test_right_codes_are_never_refused_among_concurrent_wrong_ones(
    mfa: MFA, clock: FakeClock, enrol
) -> None:
    """Each step, eight requests at once: six submit the right code, two a wrong
    one. One right code is accepted, the others are replays, and no right code
    is ever refused as rate limited (the failures stay within the allowance)."""
    user = enrol()
    for _ in range(6):
        clock.advance(seconds=30)
        code = user.code_at()
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        submitted = [wrong, wrong] + [code] * (THREADS - 2)
        seen = race(THREADS, lambda s=submitted: mfa.verify_totp("alice", s.pop()))
        assert [r.ok for r in seen].count(True) == 1, seen
        reasons = {r.reason for r in seen if not r.ok}
        assert reasons <= {Reason.REPLAYED, Reason.INVALID_CODE}, seen


def test_concurrent_guesses_on_a_challenge_never_exceed_its_attempts(
    store: MemoryStore, clock: FakeClock
) -> None:
    """A right code among many concurrent wrong ones is accepted only if fewer
    than ``max_attempts`` wrong ones were counted before it: every committed
    outcome was decided on the attempts it saw."""
    server = _server(store, clock)
    actor = mfakit.Actor.user("alice", reauthenticated_at=clock.now())
    setup = server.begin_totp_setup(actor, "alice", account_name="a@example.org")
    assert server.confirm_totp_setup(actor, setup.id, authenticator_code(setup.uri, clock.now()))
    for _ in range(10):
        clock.advance(seconds=30)
        start = server.begin_sign_in("alice")
        assert start.challenge is not None
        code = authenticator_code(setup.uri, clock.now())
        codes = [f"{(int(code) + n) % 1_000_000:06d}" for n in range(1, 16)] + [code]

        def guess(codes: list[str] = codes, cid: str = start.challenge.id) -> bool:
            try:
                return server.verify(cid, codes.pop()).ok
            except mfakit.ConflictingState:  # the challenge already succeeded
                return False

        wins = race(16, guess)
        final = server.get_challenge(start.challenge.id)
        if wins.count(True):
            assert final.state is State.SUCCEEDED
            assert final.attempts_left >= 1  # at most max_attempts - 1 wrong before it
        else:
            assert final.state is State.LOCKED
        server.unlock_second_step(
            mfakit.Actor.admin("root", reauthenticated_at=clock.now()), "alice"
        )
