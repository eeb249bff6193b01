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
from dataclasses import dataclass

from ..errors import ConfigurationError, InvalidInput

__all__ = ["Messages", "Rendered", "Templates", "check_locale", "spoken"]

_SAMPLE = {"issuer": "X", "code": "123456", "spoken_code": "1, 2, 3", "minutes": 10}


@dataclass(frozen=True, slots=True, kw_only=True)
class Templates:
    """The English defaults; replace any of them, keeping ``{code}``."""

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
        for name in ("sms", "email_body"):
            if "{code}" not in getattr(self, name):
                raise ConfigurationError(f"template {name} must contain {{code}}")
        if "{code}" not in self.voice and "{spoken_code}" not in self.voice:
            raise ConfigurationError("template voice must contain {spoken_code} or {code}")


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
