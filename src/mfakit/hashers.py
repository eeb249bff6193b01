"""Slow salted hashes for backup codes and security answers (S26, S27, S29).

[`Argon2Hasher`][mfakit.hashers.Argon2Hasher] (argon2id, the default) and
[`Pbkdf2Hasher`][mfakit.hashers.Pbkdf2Hasher] (PBKDF2-HMAC-SHA256, for FIPS deployments) share the
[`Hasher`][mfakit.hashers.Hasher] protocol; pass either to `MFA(hasher=...)`. Both encode their
parameters in the hash, so changing parameters later still verifies old hashes and `needs_rehash`
tells when to upgrade one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Protocol, runtime_checkable

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .errors import InvalidInput

__all__ = ["Argon2Hasher", "Hasher", "Pbkdf2Hasher"]


@runtime_checkable
class Hasher(Protocol):
    """Hashes short secrets slowly, with a per-hash random salt."""

    def hash(self, secret: str) -> str:
        """A self-describing hash string of `secret`."""
        ...

    def verify(self, hashed: str, secret: str) -> bool:
        """Whether `secret` matches `hashed`; never raises on a mismatch."""
        ...

    def needs_rehash(self, hashed: str) -> bool:
        """Whether `hashed` was made with other parameters than the current ones."""
        ...

    @property
    def dummy_hash(self) -> str:
        """A hash to verify against when there is no record, so a miss costs
        the same time as a wrong guess (S24)."""
        ...


class Argon2Hasher:
    """argon2id via argon2-cffi. Defaults are RFC 9106's low-memory profile
    (t=3, m=64 MiB, p=4), about 0.1 s on a 2-core server."""

    def __init__(
        self, *, time_cost: int = 3, memory_cost: int = 65536, parallelism: int = 4
    ) -> None:
        for name, value, low in (
            ("time_cost", time_cost, 1),
            ("memory_cost", memory_cost, 8 * parallelism),
            ("parallelism", parallelism, 1),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise InvalidInput(name, f"must be an int of at least {low}")
        self._ph = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        self._dummy: str | None = None

    def __repr__(self) -> str:
        p = self._ph
        return (
            f"Argon2Hasher(time_cost={p.time_cost}, memory_cost={p.memory_cost},"
            f" parallelism={p.parallelism})"
        )

    def hash(self, secret: str) -> str:
        return self._ph.hash(secret)

    def verify(self, hashed: str, secret: str) -> bool:
        try:
            return self._ph.verify(hashed, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError, UnicodeError):
            return False

    def needs_rehash(self, hashed: str) -> bool:
        try:
            return self._ph.check_needs_rehash(hashed)
        except (InvalidHashError, UnicodeError):
            return True

    @property
    def dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = self._ph.hash(secrets.token_hex(16))
        return self._dummy


class Pbkdf2Hasher:
    """PBKDF2-HMAC-SHA256 for deployments that must use FIPS-approved primitives.

    The format is `$pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>`. The
    default of 600,000 iterations follows OWASP's 2023 guidance.
    """

    PREFIX = "$pbkdf2-sha256$"
    MAX_ITERATIONS = 100_000_000

    def __init__(self, *, iterations: int = 600_000) -> None:
        if (
            not isinstance(iterations, int)
            or isinstance(iterations, bool)
            or not 10_000 <= iterations <= self.MAX_ITERATIONS
        ):
            raise InvalidInput("iterations", "must be an int from 10000 to 100000000")
        self.iterations = iterations
        self._dummy: str | None = None

    def __repr__(self) -> str:
        return f"Pbkdf2Hasher(iterations={self.iterations})"

    def _derive(self, secret: str, salt: bytes, iterations: int) -> bytes:
        return hashlib.pbkdf2_hmac("sha256", secret.encode("utf-8"), salt, iterations)

    def hash(self, secret: str) -> str:
        salt = secrets.token_bytes(16)
        digest = self._derive(secret, salt, self.iterations)
        enc = base64.b64encode
        return f"{self.PREFIX}{self.iterations}${enc(salt).decode()}${enc(digest).decode()}"

    def _parse(self, hashed: str) -> tuple[int, bytes, bytes] | None:
        if not hashed.startswith(self.PREFIX):
            return None
        parts = hashed[len(self.PREFIX) :].split("$")
        if len(parts) != 3 or not (parts[0].isascii() and parts[0].isdigit()):
            return None
        iterations = int(parts[0])
        if not 1 <= iterations <= self.MAX_ITERATIONS:
            return None
        try:
            salt = base64.b64decode(parts[1], validate=True)
            digest = base64.b64decode(parts[2], validate=True)
        except ValueError:
            return None
        return iterations, salt, digest

    def verify(self, hashed: str, secret: str) -> bool:
        parsed = self._parse(hashed)
        if parsed is None:
            return False
        iterations, salt, expected = parsed
        return hmac.compare_digest(self._derive(secret, salt, iterations), expected)

    def needs_rehash(self, hashed: str) -> bool:
        parsed = self._parse(hashed)
        return parsed is None or parsed[0] != self.iterations

    @property
    def dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = self.hash(secrets.token_hex(16))
        return self._dummy
