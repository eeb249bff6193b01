"""The texts a person reads, in their language (P2).

Every text starts as English in `mfakit.core.texts` and is translated
through a gettext-like object (`Translations`; the standard library's
`gettext.GNUTranslations` is one). `Texts` renders one language: the
messages that carry a code (SMS, voice script, email), the security notices, a
sentence for every `mfakit.Reason`, and counts with their plural forms.
`Messages` picks the language of each call: `"fr-CA"` falls back to
`"fr"`, then to the default locale, then to English.

Hosts may still replace texts with `Templates` (`str.format` strings
with `{issuer}`, `{code}`, `{spoken_code}` and `{minutes}`); a field they
leave at its default comes from the catalog of the same language.

This module loads no file (the core does no I/O): mfakit's own catalogs are read
by `mfakit.i18n`, whose `mfakit.Messages` is this class with them
plugged in through `catalogs=`. Everything is checked when it is built, so a
broken translation fails at start-up, never when a code is sent.
"""

from __future__ import annotations

import functools
import math
import re
import string
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from ..errors import ConfigurationError, InvalidInput
from . import texts as src
from .results import (
    AnswerResult,
    ContactChangeStart,
    ExpectedCode,
    Reason,
    SendResult,
    TotpConfirmation,
    VerifyResult,
)

__all__ = [
    "DEFAULT_NOTICES",
    "SOURCE",
    "Messages",
    "Rendered",
    "Templates",
    "Texts",
    "Translations",
    "check_locale",
    "english",
    "is_one_line",
    "language_tag",
    "render_notice",
    "spoken",
]


class Translations(Protocol):
    """What `Texts` needs from a catalog: the two gettext calls.

    `gettext.GNUTranslations` (a compiled `.mo` file) and
    `gettext.NullTranslations` fit; so does any object with these methods.
    """

    def gettext(self, message: str, /) -> str: ...

    def ngettext(self, msgid1: str, msgid2: str, n: int, /) -> str: ...


class _Source:
    """The English source itself: every message as written, English plurals."""

    def gettext(self, message: str, /) -> str:
        return message

    def ngettext(self, msgid1: str, msgid2: str, n: int, /) -> str:
        return msgid1 if n == 1 else msgid2

    def __repr__(self) -> str:
        return "<English source>"


SOURCE: Translations = _Source()
"""The untranslated English texts."""

DEFAULT_NOTICES: Mapping[str, tuple[str, str]] = src.NOTICES
"""Security notices (S21): `kind -> (subject, text)` with `{issuer}`,
`{when}` and `{detail}` placeholders, in English."""

# Every character str.splitlines() breaks on: a mail header must have none (S14).
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_CODE_FIELDS = frozenset({"issuer", "code", "spoken_code", "minutes"})
_NOTICE_FIELDS = frozenset({"issuer", "when", "detail"})
_COUNT_FIELDS = frozenset({"n"})
_SAMPLE_CODE = "123456"
_SAMPLE: dict[str, object] = {
    "issuer": "X",
    "code": _SAMPLE_CODE,
    "spoken_code": "1, 2, 3, 4, 5, 6",
    "minutes": 10,
    "when": "2026-01-01 12:00 UTC",
    "detail": "d",
    "n": 3,
}
# Counts that reach every plural form of the five shipped languages (CLDR:
# one, many for millions, other) and of most others.
_SAMPLE_COUNTS = (0, 1, 2, 3, 5, 11, 21, 101, 1_000_000)


def is_one_line(text: str) -> bool:
    """Whether `text` holds no line or paragraph separator of any kind (an
    issuer or email subject with one breaks every email, or worse, a header)."""
    return not _LINE_BREAKS.intersection(text)


def _check_template(template: object, allowed: frozenset[str], what: str) -> str:
    """`template` is a str whose fields are plain names from `allowed`."""
    if not isinstance(template, str):
        raise ConfigurationError(f"{what} must be a str")
    try:
        for _, name, spec, _ in string.Formatter().parse(template):
            if name is not None and name not in allowed:
                raise ValueError(name)
            if spec and "{" in spec:
                raise ValueError(spec)
        template.format(**_SAMPLE)
    except Exception as exc:  # any str.format failure is a broken template
        raise ConfigurationError(f"{what} has a bad placeholder ({type(exc).__name__})") from None
    return template


@dataclass(frozen=True, slots=True, kw_only=True)
class Templates:
    """Texts of your own for one language, as `str.format` strings; keep `{code}`.

    A field left at its default (the English source) comes from the catalog of
    the language it is given for, so `Templates(sms=...)` for `"fr"` changes
    the French SMS only. `notices` maps each security notice kind to its
    `(subject, text)`; a partial mapping is completed with the defaults.
    """

    sms: str = src.SMS[1]
    voice: str = src.VOICE
    email_subject: str = src.EMAIL_SUBJECT
    email_body: str = src.EMAIL_BODY[1]
    notices: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("sms", "voice", "email_subject", "email_body"):
            _check_template(getattr(self, name), _CODE_FIELDS, f"template {name}")
        if not is_one_line(self.email_subject):
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
            if not is_one_line(pair[0]):
                raise ConfigurationError(f"notice {kind} subject must be one line")
            for part in pair:
                _check_template(part, _NOTICE_FIELDS, f"notice {kind}")
            merged[kind] = pair
        object.__setattr__(self, "notices", merged)


_DEFAULT_CODE_TEXTS = {
    "sms": src.SMS[1],
    "voice": src.VOICE,
    "email_subject": src.EMAIL_SUBJECT,
    "email_body": src.EMAIL_BODY[1],
}


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str

    def __repr__(self) -> str:  # the text holds a code
        return f"Rendered(subject={self.subject!r}, text=<{len(self.text)} chars>)"


def _key(locale: str) -> str:
    return locale.lower().replace("_", "-")


def check_locale(locale: object) -> str | None:
    """A language tag like `en` or `fr-CA`, or None."""
    if locale is None:
        return None
    if not isinstance(locale, str) or not 0 < len(locale) <= 35:
        raise InvalidInput("locale", "must be a short language tag like 'en' or 'fr-CA'")
    if not all(c.isascii() and (c.isalnum() or c in "-_") for c in locale):
        raise InvalidInput("locale", "must be a short language tag like 'en' or 'fr-CA'")
    return locale


_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8}){0,3}")


def language_tag(locale: str | None) -> str | None:
    """`locale` as the BCP 47 tag a sender or provider takes (`pt_BR` is
    `pt-BR`), or None when it is no such tag: the text was rendered in the
    fallback language then, and the sender uses its default."""
    if locale is None:
        return None
    tag = locale.replace("_", "-")  # a plain str, whatever str subclass came in
    return tag if _TAG.fullmatch(tag) else None


def spoken(code: str) -> str:
    """`"482913"` → `"4, 8, 2, 9, 1, 3"`: digit by digit with pauses.

    Inside a sentence in the user's language, a text-to-speech voice set to that
    language reads each digit singly, in that language."""
    return ", ".join(code)


def _is_translations(value: object) -> bool:
    return callable(getattr(value, "gettext", None)) and callable(getattr(value, "ngettext", None))


# The service describes what a notice is about in fixed phrases ("phone +1•••42",
# "authenticator app “Work”", "email (now a•••@example.org)"). Reading the kind
# back lets each language word the whole sentence its own way (gender, case)
# instead of splicing an English noun into it. tests/i18n pins these phrases.
_TOTP_PREFIX, _TOTP_SUFFIX = "authenticator app “", "”"
_PASSKEY_PREFIX = "passkey “"


def _detail_parts(kind: str, detail: str) -> tuple[str | None, str]:
    if kind in ("factor_added", "factor_removed", "destination_removed"):
        if detail.startswith(_TOTP_PREFIX) and detail.endswith(_TOTP_SUFFIX):
            return "totp", detail[len(_TOTP_PREFIX) : -len(_TOTP_SUFFIX)]
        if (
            kind != "destination_removed"
            and detail.startswith(_PASSKEY_PREFIX)
            and detail.endswith(_TOTP_SUFFIX)
        ):
            return "passkey", detail[len(_PASSKEY_PREFIX) : -len(_TOTP_SUFFIX)]
        for what in ("phone", "email"):
            if detail.startswith(what + " "):
                return what, detail[len(what) + 1 :]
    elif kind == "contact_changed":
        for what in ("phone", "email"):
            prefix = f"{what} (now "
            if detail.startswith(prefix) and detail.endswith(")"):
                return what, detail[len(prefix) : -1]
    return None, detail


def _count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(name, "must be a whole number, 0 or more")
    return value


class Texts:
    """Every text mfakit sends or shows, in one language.

    Get one from `Messages.texts` (`mfa.messages.texts("de")`) or
    `mfakit.texts`. `Texts()` is the English source; `Texts(t)` renders
    through a gettext-like `t` (for example
    `gettext.translation("mfakit", localedir, ["it"])`). Building one checks
    every translation: a bad placeholder, a lost `{code}` or an email subject
    with a line break raises `ConfigurationError` then.

    >>> Texts().tries_left(1)
    '1 try left.'
    """

    __slots__ = ("_t", "_templates", "locale")

    locale: str
    """The language these texts are in (lower case, `-` separated)."""

    def __init__(
        self,
        translations: Translations | None = None,
        *,
        locale: str = "en",
        templates: Templates | None = None,
    ) -> None:
        if translations is None:
            translations = SOURCE
        if not _is_translations(translations):
            raise ConfigurationError("translations must have gettext() and ngettext() methods")
        if templates is not None and not isinstance(templates, Templates):
            raise ConfigurationError("templates must be an mfakit.Templates")
        self.locale = _key(Messages._tag(locale, "locale"))
        self._t = translations
        self._templates = templates
        self._check()

    def __repr__(self) -> str:
        return f"Texts(locale={self.locale!r})"

    # --- checks ---------------------------------------------------------------------------

    def _gettext(self, message: str, allowed: frozenset[str]) -> str:
        text = self._t.gettext(message)
        return _check_template(text, allowed, f"the {self.locale} text for {message!r}")

    def _ngettext(self, pair: tuple[str, str], n: int, allowed: frozenset[str]) -> str:
        text = self._t.ngettext(pair[0], pair[1], n)
        return _check_template(text, allowed, f"the {self.locale} text for {pair[1]!r}")

    def _check(self) -> None:
        """Render every text once with sample values (see the class docstring)."""
        subjects = [self._gettext(src.EMAIL_SUBJECT, _CODE_FIELDS)]
        code_texts = [(self._gettext(src.VOICE, _CODE_FIELDS), True)]
        for n in _SAMPLE_COUNTS:
            code_texts.append((self._ngettext(src.SMS, n, _CODE_FIELDS), False))
            code_texts.append((self._ngettext(src.EMAIL_BODY, n, _CODE_FIELDS), False))
            for plural in (*src.NOTICE_PLURALS.values(), src.TRIES_LEFT, src.BACKUP_CODES_LEFT):
                self._ngettext(plural, n, _NOTICE_FIELDS | _COUNT_FIELDS)
            for plural in (src.RETRY_SECONDS, src.RETRY_MINUTES, src.RETRY_HOURS):
                self._ngettext(plural, n, _COUNT_FIELDS)
            for plural in src.MALFORMED_DIGITS.values():
                self._ngettext(plural, n, _COUNT_FIELDS)
        for text, voice in code_texts:
            rendered = text.format(**_SAMPLE)
            if _SAMPLE_CODE not in rendered and not (voice and "{spoken_code}" in text):
                raise ConfigurationError(f"the {self.locale} text {text!r} lost the code")
        for subject, text in DEFAULT_NOTICES.values():
            subjects.append(self._gettext(subject, _NOTICE_FIELDS))
            self._gettext(text, _NOTICE_FIELDS)
        for text in src.NOTICE_VARIANTS.values():
            self._gettext(text, _NOTICE_FIELDS)
        for text in (
            *src.REASONS.values(),
            *src.MALFORMED.values(),
            src.FALLBACK_REASON,
            src.BACKUP_SHEET_HINT,
        ):
            self._gettext(text, frozenset())
        self._gettext(src.BACKUP_SHEET_TITLE, frozenset())
        self._gettext(src.BACKUP_SHEET_TITLE_ISSUER, frozenset({"issuer"}))
        for subject in subjects:
            if not is_one_line(subject.format(**_SAMPLE)):
                raise ConfigurationError(f"the {self.locale} subject {subject!r} must be one line")

    # --- messages that carry a code ------------------------------------------------------

    def _custom(self, name: str) -> str | None:
        """The host's template for `name`, if they changed it."""
        if self._templates is None:
            return None
        value: str = getattr(self._templates, name)
        return None if value == _DEFAULT_CODE_TEXTS[name] else value

    def code_message(self, channel: str, *, issuer: str, code: str, minutes: int) -> Rendered:
        """The subject (email only) and text carrying `code` for `channel`
        (`"sms"`, `"voice"` or `"email"`), valid for `minutes`."""
        if channel not in ("sms", "voice", "email"):
            raise InvalidInput("channel", "must be 'sms', 'voice' or 'email'")
        minutes = _count(minutes, "minutes")
        values = {"issuer": issuer, "code": code, "spoken_code": spoken(code), "minutes": minutes}
        t = self._t
        if channel == "email":
            subject = self._custom("email_subject") or t.gettext(src.EMAIL_SUBJECT)
            body = self._custom("email_body") or t.ngettext(*src.EMAIL_BODY, minutes)
            return Rendered(subject.format(**values), body.format(**values))
        if channel == "sms":
            text = self._custom("sms") or t.ngettext(*src.SMS, minutes)
        else:
            text = self._custom("voice") or t.gettext(src.VOICE)
        return Rendered("", text.format(**values))

    # --- security notices -----------------------------------------------------------------

    def notice(self, kind: str, *, issuer: str, when: str, detail: str = "") -> Rendered:
        """The subject and text of the security notice `kind` (a key of
        `DEFAULT_NOTICES`). For `backup_codes_low` `detail` is the number
        of codes left."""
        if kind not in DEFAULT_NOTICES:
            raise InvalidInput("kind", "must be a notice kind")
        values = {"issuer": issuer, "when": when, "detail": detail}
        if self._templates is not None:
            pair = self._templates.notices[kind]
            if pair is not DEFAULT_NOTICES[kind]:  # the host's own
                return Rendered(pair[0].format(**values), pair[1].format(**values))
        subject, text = DEFAULT_NOTICES[kind]
        plural = src.NOTICE_PLURALS.get(kind)
        what, shown = _detail_parts(kind, detail)
        if plural is not None and detail.isascii() and detail.isdigit():
            body = self._t.ngettext(*plural, int(detail))
        elif what is not None:
            body = self._t.gettext(src.NOTICE_VARIANTS[(kind, what)])
            values["detail"] = shown
        else:
            body = self._t.gettext(text)
        return Rendered(self._t.gettext(subject).format(**values), body.format(**values))

    # --- what a host shows ----------------------------------------------------------------

    def reason(
        self,
        reason: Reason | None,
        *,
        retry_after: timedelta | None = None,
        attempts_left: int | None = None,
        expected: ExpectedCode | None = None,
    ) -> str:
        """A short sentence for a refusal, then when to retry and the tries left
        when given: `"That code is not correct. Check it and try again. 2 tries
        left."`. `None` gives a general "That did not work.". For
        `MALFORMED_CODE`, `expected` (the result's) names what the field
        takes: `"Enter the code from the email: 6 digits."`."""
        if reason is not None and not isinstance(reason, Reason):
            raise InvalidInput("reason", "must be an mfakit.Reason or None")
        if expected is not None and not isinstance(expected, ExpectedCode):
            raise InvalidInput("expected", "must be an mfakit.ExpectedCode or None")
        if reason is Reason.MALFORMED_CODE and expected is not None:
            parts = [self._malformed(expected)]
        else:
            key = src.FALLBACK_REASON if reason is None else src.REASONS[reason.value]
            parts = [self._t.gettext(key)]
        if retry_after is not None:
            parts.append(self.retry_in(retry_after))
        if attempts_left is not None and _count(attempts_left, "attempts_left") > 0:
            parts.append(self.tries_left(attempts_left))
        return " ".join(parts)

    def _malformed(self, expected: ExpectedCode) -> str:
        """What the field takes, in this language (`Reason.MALFORMED_CODE`)."""
        method = expected.method
        if method is None:
            return self._t.gettext(src.MALFORMED["answer"])
        plural = src.MALFORMED_DIGITS.get(method.value)
        if plural is not None and len(expected.lengths) == 1:
            n = _count(expected.lengths[0], "expected.lengths")
            return self._t.ngettext(*plural, n).format(n=n)
        text = src.MALFORMED.get(method.value)
        return self._t.gettext(src.REASONS["malformed_code"] if text is None else text)

    def explain(
        self,
        result: VerifyResult | SendResult | AnswerResult | TotpConfirmation | ContactChangeStart,
    ) -> str:
        """`reason` for a refused result, with its `retry_after` and, after
        a wrong code or answer, its `attempts_left`; for a malformed code,
        what the field takes."""
        reason = getattr(result, "reason", None)
        retry_after = getattr(result, "retry_after", None)
        attempts_left = getattr(result, "attempts_left", None)
        expected = getattr(result, "expected", None)
        wrong = reason in (Reason.INVALID_CODE, Reason.INVALID_ANSWER)
        return self.reason(
            reason,
            retry_after=retry_after,
            attempts_left=attempts_left if wrong else None,
            expected=expected,
        )

    def tries_left(self, n: int) -> str:
        """`"1 try left."`, `"3 tries left."`"""
        n = _count(n, "n")
        return self._t.ngettext(*src.TRIES_LEFT, n).format(n=n)

    def backup_codes_left(self, n: int) -> str:
        """`"1 backup code left."`, `"4 backup codes left."`"""
        n = _count(n, "n")
        return self._t.ngettext(*src.BACKUP_CODES_LEFT, n).format(n=n)

    def retry_in(self, delay: timedelta) -> str:
        """`"Try again in 23 seconds."`, in whole minutes from 2 minutes, in
        hours from 2 hours (rounded up)."""
        if not isinstance(delay, timedelta):
            raise InvalidInput("retry_after", "must be a timedelta")
        seconds = max(math.ceil(delay.total_seconds()), 1)
        if seconds < 120:
            plural, n = src.RETRY_SECONDS, seconds
        elif seconds < 2 * 3600:
            plural, n = src.RETRY_MINUTES, math.ceil(seconds / 60)
        else:
            plural, n = src.RETRY_HOURS, math.ceil(seconds / 3600)
        return self._t.ngettext(*plural, n).format(n=n)

    def backup_codes_sheet(self, codes: Iterable[str], issuer: str = "") -> str:
        """A plain-text sheet of backup codes to download or print."""
        if issuer:
            head = self._t.gettext(src.BACKUP_SHEET_TITLE_ISSUER).format(issuer=issuer)
        else:
            head = self._t.gettext(src.BACKUP_SHEET_TITLE)
        lines = [head, self._t.gettext(src.BACKUP_SHEET_HINT), ""]
        lines += [f"  {c}" for c in codes]
        return "\n".join(lines) + "\n"


@functools.cache
def english() -> Texts:
    """The English source texts (built once, on first use)."""
    return Texts()


class Messages:
    """The texts of every language, chosen per call.

    `translations` maps locales to your own texts: a `Templates`, or a
    gettext-like catalog (`Translations`) to add a language. `catalogs`
    are the languages built in (`mfakit.Messages` plugs in mfakit's own).
    A locale falls back from `"fr-CA"` to `"fr"`, then to `default_locale`,
    then to English; your translations win over the built-in catalogs.
    """

    def __init__(
        self,
        translations: Mapping[str, Templates | Translations] | None = None,
        *,
        default_locale: str = "en",
        catalogs: Mapping[str, Translations] | None = None,
    ) -> None:
        if translations is not None and not isinstance(translations, Mapping):
            raise ConfigurationError("translations must map locales to Templates or catalogs")
        if catalogs is not None and not isinstance(catalogs, Mapping):
            raise ConfigurationError("catalogs must map locales to gettext translations")
        table: dict[str, Templates | Translations] = {}
        for locale, entry in (translations or {}).items():
            if not isinstance(locale, str) or not (
                isinstance(entry, Templates) or _is_translations(entry)
            ):
                raise ConfigurationError(
                    "translations map locale strings to Templates or gettext translations"
                )
            table[_key(self._tag(locale, "a translation's locale"))] = entry
        self.default_locale = _key(self._tag(default_locale, "default_locale"))
        self._table = table
        self._catalogs: Mapping[str, Translations] = catalogs if catalogs is not None else {}
        self._cache: dict[str, Texts] = {}
        # Your catalogs are checked now: a broken one fails at start-up.
        for key, entry in table.items():
            if not isinstance(entry, Templates):
                self._cache[key] = Texts(entry, locale=key)

    @staticmethod
    def _tag(locale: object, what: str) -> str:
        try:
            tag = check_locale(locale)
        except InvalidInput:
            tag = None
        if tag is None:
            raise ConfigurationError(f"{what} must be a language tag like 'en' or 'fr-CA'")
        return tag

    def _chain(self, locale: str | None) -> Iterator[str]:
        seen: set[str] = set()
        keys = [self.default_locale, "en"]
        if locale:
            keys[:0] = [_key(locale)]
        for key in keys:
            for candidate in (key, key.split("-")[0]):
                if candidate not in seen:
                    seen.add(candidate)
                    yield candidate

    @property
    def locales(self) -> tuple[str, ...]:
        """Every locale with texts of its own, English included."""
        return tuple(sorted({"en", *self._table, *(_key(k) for k in self._catalogs)}))

    def texts(self, locale: str | None = None) -> Texts:
        """The texts for `locale` (`None`: the default locale)."""
        locale = check_locale(locale)
        for key in self._chain(locale):
            found = self._cache.get(key)
            if found is not None:
                return found
            entry = self._table.get(key)
            catalog = self._catalogs.get(key)
            if entry is None and catalog is None:
                continue
            if isinstance(entry, Templates):
                found = Texts(catalog, locale=key, templates=entry)
            else:
                found = Texts(catalog, locale=key)
            self._cache[key] = found
            return found
        return english()

    def templates(self, locale: str | None) -> Templates:
        """The `Templates` you gave for `locale` (with the same fallback),
        else the English defaults. Rendering goes through `texts`."""
        locale = check_locale(locale)
        for key in self._chain(locale):
            entry = self._table.get(key)
            if isinstance(entry, Templates):
                return entry
        return Templates()

    def render(
        self, channel: str, *, locale: str | None, issuer: str, code: str, minutes: int
    ) -> Rendered:
        """The subject (email only) and text for `channel` ("sms", "voice", "email")."""
        return self.texts(locale).code_message(channel, issuer=issuer, code=code, minutes=minutes)

    def notice(
        self, kind: str, *, locale: str | None, issuer: str, when: str, detail: str = ""
    ) -> Rendered:
        """The subject and text of a security notice in `locale`."""
        return self.texts(locale).notice(kind, issuer=issuer, when=when, detail=detail)


def render_notice(
    messages: Messages, kind: str, *, locale: str | None, issuer: str, when: str, detail: str
) -> Rendered:
    """The subject and text of a security notice, in `locale` (the user's)."""
    return messages.notice(kind, locale=locale, issuer=issuer, when=when, detail=detail)
