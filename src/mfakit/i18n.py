"""mfakit's own translations: the catalogs shipped in the package.

Each language is a gettext catalog, `mfakit/locale/<lang>/LC_MESSAGES/mfakit.po`
(what translators edit) compiled to the `mfakit.mo` next to it (what is read).
A catalog is loaded on first use and kept; only the standard library's
`gettext` reads it, so Babel is a development tool only (`scripts/catalogs`).
English is the source and needs no catalog.

`Messages` is `mfakit.core.messages.Messages` with these catalogs
plugged in; it is the one `mfakit.Messages` names. `texts` gives one
language's texts without an `mfakit.MFA`.
"""

from __future__ import annotations

import functools
import gettext
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import ClassVar

from .core import messages as core
from .core.messages import Templates, Texts, Translations

__all__ = ["BUILTIN_CATALOGS", "LANGUAGES", "Messages", "load_catalog", "texts"]

DOMAIN = "mfakit"
LANGUAGES = ("de", "es", "fr", "pt_BR")
"""The languages shipped besides English, as gettext names their folders."""


@functools.cache
def load_catalog(language: str) -> gettext.GNUTranslations:
    """The compiled catalog of a shipped `language` (`"pt_BR"`), read once."""
    if language not in LANGUAGES:
        raise KeyError(language)
    path = resources.files("mfakit") / "locale" / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
    with path.open("rb") as fp:
        return gettext.GNUTranslations(fp)


class _BuiltinCatalogs(Mapping[str, Translations]):
    """The shipped catalogs by locale key (`"pt-br"`), each loaded when first asked for."""

    _folders: ClassVar[dict[str, str]] = {
        name.lower().replace("_", "-"): name for name in LANGUAGES
    }

    def __getitem__(self, key: str) -> Translations:
        return load_catalog(self._folders[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._folders)

    def __len__(self) -> int:
        return len(self._folders)

    def __repr__(self) -> str:
        return f"<mfakit catalogs: {', '.join(LANGUAGES)}>"


BUILTIN_CATALOGS: Mapping[str, Translations] = _BuiltinCatalogs()
"""German, Spanish, French and Brazilian Portuguese."""


class Messages(core.Messages):
    """Every text mfakit sends or shows, in English, German (`de`), Spanish
    (`es`), French (`fr`) and Brazilian Portuguese (`pt-BR`).

    `translations` maps locales to texts of your own: a `mfakit.Templates`
    to reword some messages, or a gettext catalog (for example
    `gettext.translation("mfakit", "locale", ["it"])`) to add a language; see
    *Translating mfakit* in the docs. A call's `locale` falls back from
    `"fr-CA"` to `"fr"`, then to `default_locale`, then to English.
    Everything is checked when it is built (`mfakit.ConfigurationError`).
    """

    def __init__(
        self,
        translations: Mapping[str, Templates | Translations] | None = None,
        *,
        default_locale: str = "en",
        catalogs: Mapping[str, Translations] | None = None,
    ) -> None:
        super().__init__(
            translations,
            default_locale=default_locale,
            catalogs=BUILTIN_CATALOGS if catalogs is None else catalogs,
        )


@functools.lru_cache(maxsize=16)
def _messages(default_locale: str) -> Messages:
    return Messages(default_locale=default_locale)


def texts(locale: str | None = None, *, default_locale: str = "en") -> Texts:
    """mfakit's texts in `locale` (falling back to `default_locale`, then English).

    >>> texts("fr").tries_left(2)
    'Il vous reste 2 essais.'
    """
    return _messages(default_locale).texts(locale)
