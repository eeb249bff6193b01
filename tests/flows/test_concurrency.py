"""16 threads submit the same valid code at once: exactly one is accepted."""

from __future__ import annotations

from mfakit import MFA
from mfakit.testing.contract import race

THREADS = 16


def test_same_totp_code_from_many_threads(mfa: MFA, enrol) -> None:
    for user_id in ("alice", "bob", "carol"):
        user = enrol(user_id)
        code = user.code_at()
        wins = race(THREADS, lambda: mfa.verify_totp(user_id, code).ok)  # noqa: B023
        assert wins.count(True) == 1, wins


def test_same_backup_code_from_many_threads(mfa: MFA, enrol) -> None:
    user = enrol()
    code = user.backup_codes[3]
    wins = race(THREADS, lambda: mfa.verify_backup_code("alice", code).ok)
    assert wins.count(True) == 1, wins
    assert mfa.backup_codes_left("alice") == 9
