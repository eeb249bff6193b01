"""Building the ``MFA`` object: storage, senders, policies.

Everything the app needs from mfakit is made here, once, in :func:`build_mfa`:

* storage: :func:`make_store` is the one place that picks it (mfakit's SQL store
  on the app's SQLite file, or the in-memory store when SQLAlchemy is missing);
* senders: :class:`DevSender` hands every SMS, voice call and email both to the
  console and to an :class:`~mfakit.adapters.Outbox`, which the "dev inbox"
  page shows. Environment variables switch any channel to Twilio, Amazon
  SNS/SES, Vonage or SMTP (:mod:`.delivery`; docs/example-app.md);
* policy: the practice's "require two-step verification" setting is a
  :class:`~mfakit.StaticPolicies` entry for the tenant ``"practice"``, switched
  at run time from the "Practice settings" page (:func:`apply_requirement`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import mfakit
from mfakit.adapters import ConsoleSender, MemoryAuditLog, MemoryStore, Outbox
from mfakit.ports.audit import AuditLog
from mfakit.ports.storage import Store

from .delivery import StatusLog, make_senders

__all__ = [
    "REQUIREMENTS",
    "TENANT",
    "DevSender",
    "Services",
    "apply_requirement",
    "build_mfa",
    "make_store",
    "relying_party",
]

TENANT = "practice"
"""The one tenant of this demo. A multi-practice app would pass each practice's id."""

REQUIREMENTS: dict[str, tuple[str, frozenset[str]]] = {
    "off": ("Not required", frozenset()),
    "staff": ("Required for staff", frozenset({"staff"})),
    "staff_and_clients": ("Required for staff and clients", frozenset({"staff", "client"})),
}
"""Seed 002's "Require Two-Factor Authentication" setting: label and roles."""


def make_store(database: str) -> tuple[Store, str]:
    """mfakit's storage, and a description of it for the start-up banner.

    The SQL store keeps 2FA data in the app's SQLite file, so it survives a
    restart. Without SQLAlchemy (``pip install 'mfakit[sql]'``) the app falls
    back to the in-memory store: everything 2FA is forgotten at exit.
    """
    try:
        from mfakit.adapters.sql import SqlStore
    except ImportError:
        return MemoryStore(), "in memory (install mfakit[sql] to keep it in SQLite)"
    return SqlStore.from_url(f"sqlite:///{database}"), f"SQLite ({database})"


class DevSender:
    """SMS, voice and email for development: printed to the console (when
    ``echo``) and kept in an outbox for the dev inbox page. Never in production:
    it shows codes in clear."""

    def __init__(self, outbox: Outbox, *, echo: bool) -> None:
        self.outbox = outbox
        self._console = ConsoleSender() if echo else None

    def send_sms(self, to: str, text: str, *, locale: str | None = None) -> None:
        if self._console is not None:
            self._console.send_sms(to, text, locale=locale)
        self.outbox.send_sms(to, text, locale=locale)

    def send_voice(self, to: str, text: str, *, locale: str | None = None) -> None:
        if self._console is not None:
            self._console.send_voice(to, text, locale=locale)
        self.outbox.send_voice(to, text, locale=locale)

    def send_email(
        self,
        to: str,
        subject: str,
        text: str,
        *,
        html: str | None = None,
        locale: str | None = None,
    ) -> None:
        if self._console is not None:
            self._console.send_email(to, subject, text, html=html, locale=locale)
        self.outbox.send_email(to, subject, text, html=html, locale=locale)


@dataclass(frozen=True, slots=True)
class Services:
    """What the views need, kept in ``app.extensions["webapp"]``."""

    mfa: mfakit.MFA
    store: Store
    policies: mfakit.StaticPolicies
    base_policy: mfakit.Policy
    outbox: Outbox
    audit: AuditLog
    store_description: str
    senders_description: str
    statuses: StatusLog
    """Delivery statuses the providers called back with (:mod:`.hooks`)."""
    passkeys: bool = False
    """Whether passkeys are on (the ``webauthn`` extra is installed)."""

    def close(self) -> None:
        """Release the store's database connections (the SQL store has some)."""
        close = getattr(self.store, "close", None)
        if callable(close):
            close()


def base_policy(config: Mapping[str, Any]) -> mfakit.Policy:
    """The demo's policy before the practice setting applies: seed 000's
    "try another way" guarded by the security question; the rest are
    mfakit's defaults (6-digit codes for 10 minutes, trust for 14 days...)."""
    cooldown = config.get("RESEND_COOLDOWN", timedelta(seconds=30))
    return mfakit.Policy(
        question_guards_alternatives=True,
        resend_cooldown=cooldown,
        passkey_passwordless=True,  # "Sign in with a passkey": no username, no password
    )


def relying_party(config: Mapping[str, Any]) -> mfakit.RelyingParty | None:
    """The site as WebAuthn sees it: ``PASSKEY_RP_ID`` (``localhost`` in
    development: browsers refuse ``127.0.0.1``) and the exact origins of the
    pages (``PASSKEY_ORIGINS``). None, and no passkeys, without the
    ``webauthn`` extra (``pip install 'mfakit[webauthn]'``)."""
    if importlib.util.find_spec("webauthn") is None:
        return None
    origins = config.get("PASSKEY_ORIGINS") or ["http://localhost:8000"]
    return mfakit.RelyingParty(
        str(config.get("PASSKEY_RP_ID") or "localhost"),
        str(config.get("ISSUER", "Demo Practice")),
        origins=[str(o) for o in origins],
    )


def apply_requirement(services: Services, requirement: str) -> None:
    """Switch the practice's policy; it applies from the next sign-in on."""
    _, roles = REQUIREMENTS[requirement]
    services.policies.set(TENANT, services.base_policy.replace(require_for_roles=roles))


def build_mfa(config: Mapping[str, Any], *, mfa_secret_key: str, requirement: str) -> Services:
    """The ``MFA`` for this app (see the module docstring)."""
    store, description = make_store(str(config["DATABASE"]))
    outbox = Outbox()
    senders = make_senders(DevSender(outbox, echo=bool(config.get("ECHO_MESSAGES", True))))
    policy = base_policy(config)
    rp = relying_party(config)
    policies = mfakit.StaticPolicies()
    # The SQL store is an audit log too: the "Activity" page survives restarts.
    audit: AuditLog = store if isinstance(store, AuditLog) else MemoryAuditLog()
    hasher = None
    if config.get("FAST_HASHING"):
        from mfakit.testing import fast_hasher

        hasher = fast_hasher()  # cheap argon2 for the test suite only
    mfa = mfakit.MFA(
        store=store,
        secret_key=mfa_secret_key,
        issuer=str(config.get("ISSUER", "Demo Practice")),
        sms=senders.sms,
        voice=senders.voice,
        email=senders.email,
        policy=policy,
        policies=policies,
        audit=audit,
        hasher=hasher,
        relying_party=rp,
    )
    services = Services(
        mfa=mfa,
        store=store,
        policies=policies,
        base_policy=policy,
        outbox=outbox,
        audit=audit,
        store_description=description,
        senders_description=senders.description,
        statuses=StatusLog(),
        passkeys=rp is not None,
    )
    apply_requirement(services, requirement)
    return services
