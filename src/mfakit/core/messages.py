"""The texts that carry codes: replaceable, translatable templates (P2).

Templates are ``str.format`` strings with these fields:

* ``{issuer}``: the application's name;
* ``{code}``: the code; ``{spoken_code}``: its digits one by one, for voice;
* ``{minutes}``: how long the code is valid.

:class:`Messages` maps locales to :class:`Templates`. A call's ``locale``
(``"fr-CA"``) falls back to its language (``"fr"``) and then to the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import ConfigurationError, InvalidInput

__all__ = [
    "DEFAULT_NOTICES",
    "Messages",
    "Rendered",
    "Templates",
    "check_locale",
    "render_notice",
    "spoken",
]

_SAMPLE = {"issuer": "X", "code": "123456", "spoken_code": "1, 2, 3", "minutes": 10}


DEFAULT_NOTICES: Mapping[str, tuple[str, str]] = {
    "device_trusted": (
        "New trusted device for {issuer}",
        "A device ({detail}) was trusted for two-step verification on your {issuer} "
        "account on {when}. If this was not you, revoke it and change your password.",
    ),
    "factor_added": (
        "Two-step verification method added on {issuer}",
        "A verification method ({detail}) was added to your {issuer} account on {when}. "
        "If this was not you, contact support at once.",
    ),
    "factor_removed": (
        "Two-step verification method removed on {issuer}",
        "A verification method ({detail}) was removed from your {issuer} account on {when}. "
        "If this was not you, contact support at once.",
    ),
    "backup_codes_regenerated": (
        "New backup codes for {issuer}",
        "New backup codes were generated for your {issuer} account on {when}; "
        "the old ones no longer work.",
    ),
    "backup_codes_low": (
        "Few backup codes left on {issuer}",
        "Only {detail} backup codes are left on your {issuer} account. "
        "Generate a new set from your security settings.",
    ),
    "second_step_failed": (
        "Failed sign-in attempt on {issuer}",
        "Someone entered your {issuer} password correctly but failed the second step "
        "on {when}. If this was not you, change your password.",
    ),
    "contact_changed": (
        "Your {issuer} contact details changed",
        "The {detail} on your {issuer} account was changed on {when}. "
        "If this was not you, contact support at once.",
    ),
    "password_changed": (
        "Your {issuer} password changed",
        "The password of your {issuer} account was changed on {when}. "
        "If this was not you, contact support at once.",
    ),
    "destination_removed": (
        "Removed from your {issuer} account",
        "This {detail} was removed from your {issuer} account on {when} and will no longer "
        "receive its sign-in codes. If this was not you, contact support at once.",
    ),
    "lockout_recovered": (
        "Someone tried many codes on your {issuer} account",
        "Someone entered your {issuer} password correctly and then tried many wrong "
        "verification codes, so the other methods were blocked; a backup code was used to "
        "sign in on {when}. If this was not you, change your password at once.",
    ),
    "two_factor_disabled": (
        "Two-step verification turned off on {issuer}",
        "Two-step verification was turned off for your {issuer} account on {when}. "
        "If this was not you, contact support at once.",
    ),
}
"""Security notices (S21): ``kind -> (subject, text)`` with ``{issuer}``,
``{when}`` and ``{detail}`` placeholders."""

_NOTICE_SAMPLE = {"issuer": "X", "when": "2026-01-01 12:00 UTC", "detail": "d"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Templates:
    """The English defaults; replace any of them, keeping ``{code}``.

    ``notices`` maps each security notice kind to its ``(subject, text)``; a
    partial mapping is completed with the defaults.
    """

    sms: str = "{code} is your {issuer} verification code. It expires in {minutes} minutes."
    voice: str = (
        "Hello. Your {issuer} verification code is: {spoken_code}. "
        "Once again, your code is: {spoken_code}."
    )
    email_subject: str = "Your {issuer} verification code"
    email_body: str = (
        "Your {issuer} verification code is:\n\n    {code}\n\n"
        "It expires in {minutes} minutes. If you did not ask for it, someone may be "
        "trying to sign in to your account: change your password.\n"
    )
    notices: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("sms", "voice", "email_subject", "email_body"):
            template = getattr(self, name)
            if not isinstance(template, str):
                raise ConfigurationError(f"template {name} must be a str")
            try:
                template.format(**_SAMPLE)
            except Exception as exc:  # any str.format failure is a broken template
                raise ConfigurationError(
                    f"template {name} has a bad placeholder ({type(exc).__name__})"
                ) from None
        if "\r" in self.email_subject or "\n" in self.email_subject:
            raise ConfigurationError("template email_subject must be one line")
        for name in ("sms", "email_body"):
            if "{code}" not in getattr(self, name):
                raise ConfigurationError(f"template {name} must contain {{code}}")
        if "{code}" not in self.voice and "{spoken_code}" not in self.voice:
            raise ConfigurationError("template voice must contain {spoken_code} or {code}")
        if not isinstance(self.notices, Mapping):
            raise ConfigurationError("notices must map notice kinds to (subject, text)")
        merged = dict(DEFAULT_NOTICES)
        for kind, pair in self.notices.items():
            if kind not in DEFAULT_NOTICES:
                raise ConfigurationError(f"unknown notice kind {kind!r}")
            if not (
                isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
            ):
                raise ConfigurationError(f"notice {kind} must be a (subject, text) pair")
            if "\r" in pair[0] or "\n" in pair[0]:
                raise ConfigurationError(f"notice {kind} subject must be one line")
            for part in pair:
                try:
                    part.format(**_NOTICE_SAMPLE)
                except Exception as exc:
                    raise ConfigurationError(
                        f"notice {kind} has a bad placeholder ({type(exc).__name__})"
                    ) from None
            merged[kind] = pair
        object.__setattr__(self, "notices", merged)


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str

    def __repr__(self) -> str:  # the text holds a code
        return f"Rendered(subject={self.subject!r}, text=<{len(self.text)} chars>)"


def _key(locale: str) -> str:
    return locale.lower().replace("_", "-")


def check_locale(locale: object) -> str | None:
    """A language tag like ``en`` or ``fr-CA``, or None."""
    if locale is None:
        return None
    if not isinstance(locale, str) or not 0 < len(locale) <= 35:
        raise InvalidInput("locale", "must be a short language tag like 'en' or 'fr-CA'")
    if not all(c.isascii() and (c.isalnum() or c in "-_") for c in locale):
        raise InvalidInput("locale", "must be a short language tag like 'en' or 'fr-CA'")
    return locale


def spoken(code: str) -> str:
    """``"482913"`` → ``"4, 8, 2, 9, 1, 3"``: digit by digit with pauses."""
    return ", ".join(code)


class Messages:
    """Templates by locale, with a default."""

    def __init__(
        self,
        translations: Mapping[str, Templates] | None = None,
        *,
        default_locale: str = "en",
    ) -> None:
        table: dict[str, Templates] = {}
        for locale, templates in (translations or {}).items():
            if not isinstance(locale, str) or not isinstance(templates, Templates):
                raise ConfigurationError("translations map locale strings to Templates")
            table[_key(locale)] = templates
        if not isinstance(default_locale, str) or not default_locale:
            raise ConfigurationError("default_locale must be a language tag")
        self.default_locale = _key(default_locale)
        table.setdefault(self.default_locale, Templates())
        self._table = table

    def templates(self, locale: str | None) -> Templates:
        locale = check_locale(locale)
        if locale:
            key = _key(locale)
            found = self._table.get(key) or self._table.get(key.split("-")[0])
            if found is not None:
                return found
        return self._table[self.default_locale]

    def render(
        self, channel: str, *, locale: str | None, issuer: str, code: str, minutes: int
    ) -> Rendered:
        """The subject (email only) and text for ``channel`` ("sms", "voice", "email")."""
        t = self.templates(locale)
        values = {"issuer": issuer, "code": code, "spoken_code": spoken(code), "minutes": minutes}
        if channel == "email":
            return Rendered(t.email_subject.format(**values), t.email_body.format(**values))
        template = t.sms if channel == "sms" else t.voice
        return Rendered("", template.format(**values))


def render_notice(
    messages: Messages, kind: str, *, locale: str | None, issuer: str, when: str, detail: str
) -> Rendered:
    """The subject and text of a security notice."""
    subject, text = messages.templates(locale).notices[kind]
    values = {"issuer": issuer, "when": when, "detail": detail}
    return Rendered(subject.format(**values), text.format(**values))
