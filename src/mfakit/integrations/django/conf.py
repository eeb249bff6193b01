"""The `MFAKIT` Django setting, and the one [`MFA`][mfakit.MFA] built from it.

```python
MFAKIT = {
    "ISSUER": "Aesthetix CRM",                        # required
    "SECRET_KEYS": [env("MFA_SECRET_KEY")],           # required, newest first
    "POLICY": {"max_attempts": 5},                    # Policy kwargs, or a dotted path
    "EMAIL": "mfakit.integrations.django.mail.DjangoEmailSender",
    "SMS": "myproject.senders.sms",                   # dotted paths
}
```

Keys:

* `ISSUER` (required): the name users see in their authenticator app.
* `SECRET_KEYS` (required): mfakit's own secrets (a string or a list,
  newest first; at least 32 bytes each). Never `SECRET_KEY`: a project's
  `SECRET_KEY` (and its `SECRET_KEY_FALLBACKS`) is refused, so rotating
  one never breaks the other and a leak of one is not a leak of both.
* `POLICY`: keyword arguments of [`Policy`][mfakit.Policy], or the dotted
  path of a `Policy` (or of a callable returning one).
* `POLICIES`: dotted path of a policy resolver (per-tenant policies).
* `SMS`, `VOICE`, `EMAIL`: dotted paths of senders; a class or other
  callable is called without arguments to make the sender.
* `DATABASE`: the database alias of the store (default `"default"`).
* `STORE`: dotted path of another store (default: a
  `DjangoStore`).
* `AUDIT`: `"store"` (default: the store keeps the audit trail, listed by
  `mfa.list_events`), `"log"` (the `mfakit.audit` logger) or a dotted path;
  either way every event is also sent as the `security_event` signal.
* `NOTIFY`: send security notices (default True).
* `CLOCK`, `HASHER`: dotted paths of a clock (an object with `now()`)
  and of a hasher, made as senders are; for tests (`mfakit.testing`'s
  `FakeClock` and `fast_hasher`). Leave them out in production.
* `ROLE`: dotted path of a function `role(user) -> str | None` giving a
  Django user's role for `Policy.require_for_roles` (default: the user's
  Django groups; see `mfakit.integrations.django.web.role_of`).

`get_mfa` builds the `MFA` on first use, once per process (a lock
guards the build), and returns the same object afterwards; a change of the
`MFAKIT` setting in a test (`override_settings`, pytest-django's
`settings`) forgets it, through Django's `setting_changed` signal.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from ...core.policy import Policy
from ...errors import ConfigurationError, MfaError
from ...mfa import MFA

__all__ = ["connect_signals", "get_mfa", "reset"]

SETTING = "MFAKIT"
_KEYS = frozenset(
    {
        "ISSUER",
        "SECRET_KEYS",
        "POLICY",
        "POLICIES",
        "SMS",
        "VOICE",
        "EMAIL",
        "DATABASE",
        "STORE",
        "AUDIT",
        "NOTIFY",
        "ROLE",
        "TEAM_PERMISSION",
        "CLOCK",
        "HASHER",
    }
)

_lock = threading.Lock()
_mfa: MFA | None = None


def _import(key: str, path: object) -> Any:
    if not isinstance(path, str):
        raise ConfigurationError(f"MFAKIT[{key!r}] must be a dotted path")
    try:
        return import_string(path)
    except ImportError as exc:
        raise ConfigurationError(f"MFAKIT[{key!r}]: cannot import {path!r}") from exc


def _made(key: str, path: object, wanted: str) -> Any:
    """The object at dotted `path`; a class, or a function without the
    `wanted` attribute, is called (without arguments) to make it."""
    found = _import(key, path)
    if isinstance(found, type) or not hasattr(found, wanted):
        if not callable(found):
            raise ConfigurationError(f"MFAKIT[{key!r}] must name an object with {wanted}")
        try:
            found = found()
        except ConfigurationError as exc:  # mfakit's own words: no secret in them
            raise ConfigurationError(f"MFAKIT[{key!r}]: {path}: {exc}") from exc
        except Exception as exc:  # a host's factory: say which setting, chain the cause
            raise ConfigurationError(
                f"MFAKIT[{key!r}]: {path} could not be called ({type(exc).__name__})"
            ) from exc
    return found


def _sender(config: Mapping[str, Any], key: str, method: str) -> Any:
    path = config.get(key)
    if path is None:
        return None
    sender = _made(key, path, method)
    if not callable(getattr(sender, method, None)):
        raise ConfigurationError(f"MFAKIT[{key!r}] must be a sender with a {method}() method")
    return sender


def _secret_keys(config: Mapping[str, Any]) -> list[str | bytes]:
    keys = config.get("SECRET_KEYS")
    if isinstance(keys, (str, bytes)):
        keys = [keys]
    if not isinstance(keys, (list, tuple)) or not keys:
        raise ConfigurationError(
            "MFAKIT['SECRET_KEYS'] must be mfakit's own secret (or a list, newest first)"
        )
    django_keys = {getattr(settings, "SECRET_KEY", None)}
    django_keys.update(getattr(settings, "SECRET_KEY_FALLBACKS", ()) or ())
    for key in keys:
        if not isinstance(key, (str, bytes)):
            raise ConfigurationError("MFAKIT['SECRET_KEYS'] must hold str or bytes secrets")
        text = key.decode(errors="replace") if isinstance(key, bytes) else key
        if text in django_keys:
            raise ConfigurationError(
                "MFAKIT['SECRET_KEYS'] must not reuse SECRET_KEY: give mfakit its own secret"
            )
    return list(keys)


def _policy(config: Mapping[str, Any]) -> Policy | None:
    policy = config.get("POLICY")
    if policy is None:
        return None
    if isinstance(policy, Mapping):
        try:
            return Policy(**policy)
        except (MfaError, TypeError) as exc:
            raise ConfigurationError(f"MFAKIT['POLICY'] is not a valid policy: {exc}") from exc
    found = _made("POLICY", policy, "max_attempts")
    if not isinstance(found, Policy):
        raise ConfigurationError("MFAKIT['POLICY'] must give an mfakit.Policy")
    return found


def build(config: object) -> MFA:
    """An [`MFA`][mfakit.MFA] for the `MFAKIT` setting `config`."""
    if not isinstance(config, Mapping):
        raise ConfigurationError("the MFAKIT setting must be a dict")
    unknown = sorted(set(config) - _KEYS)
    if unknown:
        raise ConfigurationError(f"unknown MFAKIT settings: {', '.join(unknown)}")
    from .store import DjangoStore

    store: Any
    if config.get("STORE") is not None:
        store = _made("STORE", config["STORE"], "apply")
    else:
        store = DjangoStore(config.get("DATABASE", "default"))
    audit_setting = config.get("AUDIT", "store")
    audit: Any
    if audit_setting == "store":
        audit = store
    elif audit_setting == "log":
        from ...adapters.audit import LoggingAuditSink

        audit = LoggingAuditSink()  # given, or mfakit would default to the store
    else:
        audit = _made("AUDIT", audit_setting, "record")
    if audit is not store:
        # The store sends the security_event signal for what it records;
        # another sink gets a wrapper that sends it (signals.py).
        from .signals import SignallingAuditSink

        audit = SignallingAuditSink(audit, using=config.get("DATABASE", "default"))
    policies = None
    if config.get("POLICIES") is not None:
        policies = _made("POLICIES", config["POLICIES"], "policy_for")
    notify = config.get("NOTIFY", True)
    clock = None if config.get("CLOCK") is None else _made("CLOCK", config["CLOCK"], "now")
    hasher = None
    if config.get("HASHER") is not None:
        hasher = _made("HASHER", config["HASHER"], "verify")
    return MFA(
        store=store,
        secret_key=_secret_keys(config),
        issuer=config.get("ISSUER"),  # type: ignore[arg-type]  # checked by MFA
        sms=_sender(config, "SMS", "send_sms"),
        voice=_sender(config, "VOICE", "send_voice"),
        email=_sender(config, "EMAIL", "send_email"),
        policy=_policy(config),
        policies=policies,
        audit=audit,
        notify=notify,
        clock=clock,
        hasher=hasher,
    )


def get_mfa() -> MFA:
    """The project's [`MFA`][mfakit.MFA], built from `settings.MFAKIT` on
    first use and shared afterwards (thread-safe)."""
    global _mfa
    mfa = _mfa
    if mfa is not None:
        return mfa
    with _lock:
        if _mfa is None:
            config = getattr(settings, SETTING, None)
            if config is None:
                raise ConfigurationError("add the MFAKIT setting (see mfakit's Django docs)")
            _mfa = build(config)
        return _mfa


def reset() -> None:
    """Forget the built `MFA`; the next `get_mfa` builds it again."""
    global _mfa
    with _lock:
        _mfa = None


def _on_setting_changed(*, setting: str, **kwargs: object) -> None:
    if setting in (SETTING, "SECRET_KEY", "SECRET_KEY_FALLBACKS", "DATABASES", "USE_TZ"):
        reset()


def connect_signals() -> None:
    """Forget the built `MFA` when a test changes the settings it reads."""
    setting_changed.connect(_on_setting_changed, dispatch_uid="mfakit.integrations.django.conf")
