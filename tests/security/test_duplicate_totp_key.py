"""Finding 5.4 of the 0.1.0 attack review: the same TOTP key imported twice.

Each authenticator records its own last accepted step (S4), so two
authenticators with one key accepted the same code twice: a replay. Importing
a key the user already has (confirmed, or in a live pending setup) is refused.
"""

from __future__ import annotations

import base64

import pytest

from mfakit import MFA, ConflictingState
from mfakit.testing import FakeClock, authenticator_code
from tests.helpers import fresh

KEY = base64.b32encode(bytes(range(1, 21))).decode()  # 160 bits
OTHER = base64.b32encode(bytes(range(40, 60))).decode()


def test_a_code_is_accepted_once_even_if_the_key_is_imported_twice(
    mfa: MFA, clock: FakeClock
) -> None:
    first = mfa.begin_totp_setup(fresh(clock), "alice", account_name="alice", secret=KEY)
    assert mfa.confirm_totp_setup(
        fresh(clock), first.id, authenticator_code(first.uri, clock.now())
    ).ok
    clock.advance(seconds=90)
    try:
        second = mfa.begin_totp_setup(
            fresh(clock), "alice", account_name="alice", secret=KEY.lower(), label="Again"
        )
    except ConflictingState:
        second = None
    else:
        mfa.confirm_totp_setup(fresh(clock), second.id, authenticator_code(second.uri, clock.now()))
        clock.advance(seconds=90)
    code = authenticator_code(first.uri, clock.now())
    assert mfa.verify_totp("alice", code).ok
    assert not mfa.verify_totp("alice", code).ok, "one code was accepted twice"
    assert second is None


def test_a_pending_setup_with_the_key_counts_too(mfa: MFA, clock: FakeClock) -> None:
    mfa.begin_totp_setup(fresh(clock), "alice", account_name="alice", secret=KEY)
    with pytest.raises(ConflictingState):
        mfa.begin_totp_setup(fresh(clock), "alice", account_name="alice", secret=KEY)
    # Another key, or the same key for another user, is fine.
    mfa.begin_totp_setup(fresh(clock), "alice", account_name="alice", secret=OTHER)
    mfa.begin_totp_setup(fresh(clock, "bob"), "bob", account_name="bob", secret=KEY)


def test_an_expired_pending_setup_does_not_block(mfa: MFA, clock: FakeClock) -> None:
    mfa.begin_totp_setup(fresh(clock), "alice", account_name="alice", secret=KEY)
    clock.advance(seconds=int(mfa.policy.setup_ttl.total_seconds()) + 1)
    setup = mfa.begin_totp_setup(fresh(clock), "alice", account_name="alice", secret=KEY)
    assert mfa.confirm_totp_setup(
        fresh(clock), setup.id, authenticator_code(setup.uri, clock.now())
    ).ok
