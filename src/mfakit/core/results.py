"""Values the use cases return.

Expected refusals are values here, with a :class:`Reason` and, where waiting
helps, ``retry_after``. Anything holding a secret (a setup's key, fresh backup
codes) hides it from ``repr``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from . import otpauth
from .methods import Method

__all__ = [
    "AuthenticatorInfo",
    "BackupCodes",
    "Reason",
    "TotpConfirmation",
    "TotpSetup",
    "VerifyResult",
]


class Reason(str, enum.Enum):
    """Why a code was refused."""

    INVALID_CODE = "invalid_code"
    """Wrong code, or no such factor for the user (the same answer on purpose, S24)."""
    REPLAYED = "replayed"
    """The code was right but already used; wait for the next one (S4)."""
    RATE_LIMITED = "rate_limited"
    """Too many recent failures on the account; see ``retry_after`` (S13)."""
    LOCKED_OUT = "locked_out"
    """Too many consecutive failures: the second step is locked until an
    admin unlocks it or the user recovers (S13)."""
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    """Too many wrong codes for this setup or challenge; start again (S12)."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyResult:
    """The outcome of checking a code.

    ``ok`` is the only field a caller must read. On success ``method`` and
    ``factor_id`` say what was used; ``backup_codes_left`` is set when a backup
    code was used, and ``backup_codes_low`` asks the app to warn the user.
    """

    ok: bool
    reason: Reason | None = None
    method: Method | None = None
    factor_id: str | None = None
    retry_after: timedelta | None = None
    backup_codes_left: int | None = None
    backup_codes_low: bool = False

    def __bool__(self) -> bool:
        return self.ok


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticatorInfo:
    """An authenticator app as listed to its user (no secret)."""

    id: str
    label: str
    algorithm: str
    digits: int
    period: int
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TotpSetup:
    """A pending authenticator setup: show the QR code (or the key for manual
    entry), then confirm it with a first code before ``expires_at``.

    ``secret`` and ``uri`` carry the key and are hidden from ``repr``.
    ``warnings`` lists settings some authenticator apps ignore.
    """

    id: str
    user_id: str
    secret: str = field(repr=False)
    uri: str = field(repr=False)
    expires_at: datetime
    warnings: tuple[str, ...] = ()

    @property
    def secret_groups(self) -> str:
        """The key in groups of four, easier to type by hand."""
        return " ".join(self.secret[i : i + 4] for i in range(0, len(self.secret), 4))

    def qr_svg(self, *, scale: int = 4) -> str:
        """The QR code of :attr:`uri` as SVG text."""
        return otpauth.qr_svg(self.uri, scale=scale)

    def qr_png(self, *, scale: int = 6) -> bytes:
        """The QR code of :attr:`uri` as PNG bytes."""
        return otpauth.qr_png(self.uri, scale=scale)

    def qr_data_uri(self, *, scale: int = 6) -> str:
        """The QR code as a ``data:image/png`` URI for ``<img src=...>``."""
        return otpauth.qr_data_uri(self.uri, scale=scale)

    def qr_text(self) -> str:
        """The QR code drawn for a terminal."""
        return otpauth.qr_text(self.uri)


@dataclass(frozen=True, slots=True)
class BackupCodes:
    """Freshly issued backup codes: show them once, then forget them.

    Iterating yields the codes formatted for display (``7K2M-Q9XH-4TRD``).
    The repr shows only how many there are.
    """

    codes: tuple[str, ...] = field(repr=False)

    def __iter__(self) -> Iterator[str]:
        return iter(self.codes)

    def __len__(self) -> int:
        return len(self.codes)

    def __repr__(self) -> str:
        return f"BackupCodes(<{len(self.codes)} codes hidden>)"

    def as_text(self, issuer: str = "") -> str:
        """A plain-text sheet to download or print."""
        head = f"{issuer} backup codes".strip()
        lines = [head, "Each code works once. Keep them somewhere safe.", ""]
        lines += [f"  {c}" for c in self.codes]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True, kw_only=True)
class TotpConfirmation:
    """The outcome of confirming an authenticator setup.

    On success ``authenticator`` describes it and ``backup_codes`` holds the
    user's first backup codes when this was their first factor (show them once).
    """

    ok: bool
    reason: Reason | None = None
    attempts_left: int | None = None
    authenticator: AuthenticatorInfo | None = None
    backup_codes: BackupCodes | None = None

    def __bool__(self) -> bool:
        return self.ok
