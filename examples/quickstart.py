"""mfakit quickstart: an authenticator app and backup codes, end to end.

Run it with ``python examples/quickstart.py`` (add ``--fast`` for cheap hashing).

The script plays both sides: the web application (every call on ``mfa``) and
Alice's authenticator app (``mfakit.testing.authenticator_code``). It runs on
the real system clock, as production does, so at one point it waits for the
authenticator's next 30-second code.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import datetime, timezone

import mfakit
from mfakit.adapters import MemoryStore
from mfakit.testing import authenticator_code, fast_hasher

USER_ID = "alice"  # the host application's id for the user


def build_mfa(*, fast: bool) -> mfakit.MFA:
    secret_key = os.environ.get("MFA_SECRET_KEY")
    if secret_key is None:
        secret_key = mfakit.generate_secret_key()
        print("note: MFA_SECRET_KEY is not set, so this run uses a throwaway key.")
        print("      In production set it to a long random secret and keep it stable:")
        print("      authenticator secrets are encrypted with a key derived from it.\n")
    if fast:
        print("note: --fast hashes backup codes with test-only argon2 parameters.\n")
    store = MemoryStore()  # in-process only; swap for a persistent store in production
    return mfakit.MFA(
        store=store,
        secret_key=secret_key,
        issuer="Aesthetix CRM",
        hasher=fast_hasher() if fast else None,  # None: argon2id with its defaults
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="mfakit quickstart")
    parser.add_argument(
        "--fast", action="store_true", help="use mfakit.testing.fast_hasher() (never in production)"
    )
    mfa = build_mfa(fast=parser.parse_args().fast)

    # 1. Alice opens her security settings and re-enters her password. The host
    #    checks the password and tells mfakit who acts and when they proved it.
    alice = mfakit.Actor.user(USER_ID, reauthenticated_at=datetime.now(timezone.utc))

    # 2. Begin the setup and show the QR code, with the key for manual entry.
    setup = mfa.begin_totp_setup(alice, USER_ID, account_name="alice@clinic.example")
    print("Scan this QR code with an authenticator app:")
    print(setup.qr_text())
    print(f"or type this key by hand: {setup.secret_groups}\n")

    # 3. The app now shows a code; Alice types it to confirm the setup. Her
    #    first factor comes with 10 backup codes, returned this once only.
    first_code = authenticator_code(setup.uri, time.time())
    confirmation = mfa.confirm_totp_setup(alice, setup.id, first_code)
    if not confirmation.ok or confirmation.backup_codes is None:
        raise SystemExit(f"setup not confirmed: {confirmation.reason}")
    print("Authenticator confirmed. Save these backup codes now:\n")
    print(confirmation.backup_codes.as_text(mfa.issuer))

    # 4. Sign-in, after the host has checked Alice's password. A code is
    #    accepted once per 30-second step, and the confirmation already used
    #    this step, so the code on the screen is refused as a replay.
    result = mfa.verify_totp(USER_ID, first_code)
    print(f"sign-in with the code used for setup: ok={result.ok}, reason={result.reason}")

    period = mfa.policy.totp_period
    wait = period - time.time() % period + 0.5  # just past the next step boundary
    print(f"waiting {wait:.0f} s for the next code, as an authenticator app would...")
    time.sleep(wait)

    code = authenticator_code(setup.uri, time.time())
    result = mfa.verify_totp(USER_ID, code)
    print(f"sign-in with a fresh code: ok={result.ok}, method={result.method}")
    result = mfa.verify_totp(USER_ID, code)  # e.g. an attacker who saw the code
    print(f"the same code again: ok={result.ok}, reason={result.reason}\n")

    # 5. Phone lost: Alice signs in with a backup code instead. Each works once.
    backup_code = confirmation.backup_codes.codes[0]
    result = mfa.verify_backup_code(USER_ID, backup_code)
    print(f"sign-in with backup code {backup_code}: ok={result.ok}")
    print(f"backup codes left: {result.backup_codes_left}, running low: {result.backup_codes_low}")
    result = mfa.verify_backup_code(USER_ID, backup_code)
    print(f"the same backup code again: ok={result.ok}, reason={result.reason}")
    print(f"backup codes left: {mfa.backup_codes_left(USER_ID)}")


if __name__ == "__main__":
    main()
