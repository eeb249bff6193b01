"""Wiring shared by the sync and async facades: validate the configuration
once and build the `Context` and port map."""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from .adapters.audit import LoggingAuditSink
from .core.keys import Keyring, SecretKey
from .core.messages import Messages, is_one_line
from .core.methods import Method
from .core.otpauth import MAX_NAME_LENGTH
from .core.policy import Policy
from .core.validation import check_text
from .core.webauthn import RelyingParty
from .errors import ConfigurationError, InvalidInput
from .hashers import Argon2Hasher, Hasher
from .i18n import Messages as BuiltinMessages
from .ports.clock import Clock, SystemClock
from .ports.storage import Store
from .service.context import Context

__all__ = ["build_context", "check_ports", "choose_audit"]

_STORE_METHODS = tuple(n for n in vars(Store) if not n.startswith("_"))
_SENDERS = (
    ("sms", "send_sms", Method.SMS),
    ("voice", "send_voice", Method.VOICE),
    ("email", "send_email", Method.EMAIL),
)
_OPTIONS = {"sms": ("locale",), "voice": ("locale",), "email": ("locale", "html")}
_PROVIDER_METHODS = ("start", "check", "cancel")


def is_code_provider(port: object) -> bool:
    """Whether `port` is a [`CodeProvider`][mfakit.ports.delivery.CodeProvider]
    (`start`/`check`/`cancel`) rather than a sender."""
    return all(callable(getattr(port, name, None)) for name in _PROVIDER_METHODS)


def accepted_options(method: object, names: Iterable[str]) -> frozenset[str]:
    """Which of the keyword arguments `names` the callable `method` takes:
    by name, or all of them through `**kwargs`. Inspected once, at wiring,
    so a sender written as `send_sms(to, text)` keeps working."""
    try:
        parameters = inspect.signature(method).parameters.values()  # type: ignore[arg-type]
    except (TypeError, ValueError):  # no signature to read: pass nothing optional
        return frozenset()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return frozenset(names)
    keyword = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    given = {p.name for p in parameters if p.kind in keyword}
    return frozenset(n for n in names if n in given)


def build_context(
    *,
    secret_key: Keyring | SecretKey | Iterable[SecretKey],
    issuer: str,
    policy: Policy | None,
    clock: Clock | None,
    hasher: Hasher | None,
    senders: Mapping[str, object],
    messages: Messages | None,
    audit: object,
    policies: object,
    notify: bool,
    store: object = None,
    relying_party: object = None,
) -> Context:
    """Validate the configuration shared by the sync and async facades."""
    if ":" in str(issuer):
        raise ConfigurationError("issuer must not contain ':'")
    try:
        issuer = check_text("issuer", issuer, max_length=MAX_NAME_LENGTH)
    except InvalidInput as exc:
        raise ConfigurationError(str(exc)) from None
    if not is_one_line(issuer):  # it goes into every email subject
        raise ConfigurationError("issuer must be one line (no line or paragraph separator)")
    if policy is not None and not isinstance(policy, Policy):
        raise ConfigurationError("policy must be an mfakit.Policy")
    if clock is not None and not isinstance(clock, Clock):
        raise ConfigurationError("clock must have a now() method")
    if hasher is not None and not isinstance(hasher, Hasher):
        raise ConfigurationError("hasher must implement mfakit.hashers.Hasher")
    channels = set()
    providers = set()
    options: dict[Method, frozenset[str]] = {}
    for port, method_name, method in _SENDERS:
        sender = senders.get(port)
        if sender is None:
            continue
        send = getattr(sender, method_name, None)
        if callable(send):
            options[method] = accepted_options(send, _OPTIONS[port])
        elif is_code_provider(sender):
            providers.add(method)
        else:
            raise ConfigurationError(
                f"the {port} sender must have a {method_name}() method "
                "(or be a code provider with start(), check() and cancel())"
            )
        channels.add(method)
    if messages is not None and not isinstance(messages, Messages):
        raise ConfigurationError("messages must be an mfakit.Messages")
    if audit is not None and not callable(getattr(audit, "record", None)):
        raise ConfigurationError("audit must have a record() method")
    if policies is not None and not callable(getattr(policies, "policy_for", None)):
        raise ConfigurationError("policies must have a policy_for() method")
    if not isinstance(notify, bool):
        raise ConfigurationError("notify must be a bool")
    if relying_party is not None and not isinstance(relying_party, RelyingParty):
        raise ConfigurationError(
            "relying_party must be an mfakit.RelyingParty(rp_id, rp_name, origins=[...])"
        )
    sink = audit if audit is not None else default_audit_sink()
    return Context(
        audit_enabled=getattr(sink, "enabled", None),
        audit_wants=getattr(sink, "wants", None),
        audit_in_store=audit is not None and audit is store,
        has_resolver=policies is not None,
        tenant_from_user=callable(getattr(policies, "for_user", None)),
        audit_log=callable(getattr(audit, "list_events", None)),
        notify=notify,
        message_lookup=callable(getattr(store, "challenge_for_message", None)),
        channels=frozenset(channels),
        code_providers=frozenset(providers),
        sender_options=options,
        messages=messages if messages is not None else BuiltinMessages(),
        policy=policy if policy is not None else Policy(),
        keyring=Keyring.coerce(secret_key),
        hasher=hasher if hasher is not None else Argon2Hasher(),
        clock=clock if clock is not None else SystemClock(),
        issuer=issuer,
        relying_party=relying_party,
    )


def choose_audit(store: object, audit: object) -> object:
    """The audit port: `audit=` when given; else the store when it is an audit
    log itself (`record` and `list_events`, as `SqlStore` is), so events are
    kept with the data they describe; else `None` (the logging sink)."""
    if audit is not None:
        return audit
    if callable(getattr(store, "record", None)) and callable(getattr(store, "list_events", None)):
        return store
    return None


def default_audit_sink() -> LoggingAuditSink:
    """The `mfakit.audit` logger; loggers are shared, so one per call is fine."""
    return LoggingAuditSink()


def check_ports(
    *, store: object, senders: Mapping[str, object], audit: object, policies: object
) -> dict[str, Any]:
    """The port map the drivers perform effects on."""
    missing = [m for m in _STORE_METHODS if not callable(getattr(store, m, None))]
    if missing:
        raise ConfigurationError(f"store lacks storage methods: {', '.join(missing)}")
    return {
        "store": store,
        **senders,
        "audit": audit if audit is not None else default_audit_sink(),
        "policies": policies,
    }
