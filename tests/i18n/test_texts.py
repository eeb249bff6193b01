"""Every text in every shipped language: code messages, voice digits, notices,
a sentence for every Reason, plural forms, the locale fallback, and the checks
that refuse a broken translation when it is built."""

from __future__ import annotations

import gettext
from datetime import timedelta

import pytest

import mfakit
from mfakit import ConfigurationError, InvalidInput, Messages, Reason, Templates, Texts
from mfakit.core import messages as core
from mfakit.core import texts as source
from mfakit.core.messages import DEFAULT_NOTICES
from mfakit.core.results import BackupCodes, VerifyResult
from mfakit.i18n import BUILTIN_CATALOGS, LANGUAGES, load_catalog

LOCALES = ("en", "de", "es", "fr", "pt-BR")
TRANSLATED = LOCALES[1:]
ISSUER = "Aesthetix CRM"
CODE = "482913"
SPOKEN = "4, 8, 2, 9, 1, 3"
WHEN = "2026-01-01 12:00 UTC"

# A word each language's code messages must use: the terminology of its catalog.
TERM = {
    "en": "verification code",
    "de": "Bestätigungscode",
    "es": "código de verificación",
    "fr": "code de vérification",
    "pt-BR": "código de verificação",
}
# Spanish and Portuguese need UCS-2 for an SMS (ó, ç, ã are not GSM-7, so 70
# characters a segment): their SMS says "código" alone to fit in one.
SMS_TERM = {**TERM, "es": "es su código de", "pt-BR": "é seu código de"}
GSM_7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)


def english() -> Texts:
    return mfakit.texts("en")


# --- code messages -------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("channel", ["sms", "voice", "email"])
def test_every_language_renders_every_code_message(locale: str, channel: str) -> None:
    rendered = mfakit.texts(locale).code_message(channel, issuer=ISSUER, code=CODE, minutes=10)
    assert ISSUER in rendered.text
    term = SMS_TERM[locale] if channel == "sms" else TERM[locale]
    assert term in rendered.text or term in rendered.subject
    if channel == "voice":
        assert CODE not in rendered.text
        assert rendered.text.count(SPOKEN) == 2
    else:
        assert CODE in rendered.text
        assert "10" in rendered.text
    if channel == "email":
        assert rendered.subject and CODE not in rendered.subject
        assert f"\n    {CODE}\n" in rendered.text
    else:
        assert rendered.subject == ""
    if locale != "en":
        assert rendered != english().code_message(channel, issuer=ISSUER, code=CODE, minutes=10)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("code", ["482913", "0048291307"])
def test_voice_reads_the_digits_one_by_one_in_the_language(locale: str, code: str) -> None:
    text = mfakit.texts(locale).code_message("voice", issuer=ISSUER, code=code, minutes=5).text
    digits = ", ".join(code)
    assert text.count(digits) == 2
    assert code not in text
    assert TERM[locale] in text
    # Nothing but the separated digits: the sentence around them is the language's own.
    assert text.replace(digits, "").strip(" .:") != ""


@pytest.mark.parametrize("locale", LOCALES)
def test_an_sms_fits_in_one_segment(locale: str) -> None:
    """With a 13-character issuer and the longest code: 160 GSM-7 characters, or 70
    when the language needs UCS-2."""
    text = mfakit.texts(locale).code_message("sms", issuer=ISSUER, code="0" * 10, minutes=10).text
    limit = 160 if GSM_7.issuperset(text) else 70
    assert len(text) <= limit, (len(text), limit)


@pytest.mark.parametrize(
    ("locale", "one", "ten"),
    [
        ("en", "It expires in 1 minute.", "It expires in 10 minutes."),
        ("de", "Er ist 1 Minute gültig.", "Er ist 10 Minuten gültig."),
        ("es", "Caduca en 1 minuto.", "Caduca en 10 minutos."),
        ("fr", "Il expire dans 1 minute.", "Il expire dans 10 minutes."),
        ("pt-BR", "Ele expira em 1 minuto.", "Ele expira em 10 minutos."),
    ],
)
def test_minutes_take_the_plural_form_of_the_language(locale: str, one: str, ten: str) -> None:
    texts = mfakit.texts(locale)
    for channel in ("sms", "email"):
        assert one in texts.code_message(channel, issuer=ISSUER, code=CODE, minutes=1).text
        assert ten in texts.code_message(channel, issuer=ISSUER, code=CODE, minutes=10).text


def test_english_defaults_are_unchanged() -> None:
    sms = english().code_message("sms", issuer=ISSUER, code=CODE, minutes=10)
    assert sms.text == f"{CODE} is your {ISSUER} verification code. It expires in 10 minutes."
    assert Templates().sms == source.SMS[1]


# --- plural forms ------------------------------------------------------------------------------

PLURALS = {
    # locale: {n: (tries_left(n), backup_codes_left(n))}
    "en": {
        0: ("0 tries left.", "0 backup codes left."),
        1: ("1 try left.", "1 backup code left."),
        3: ("3 tries left.", "3 backup codes left."),
    },
    "de": {
        0: ("Noch 0 Versuche.", "Noch 0 Backup-Codes."),
        1: ("Noch 1 Versuch.", "Noch 1 Backup-Code."),
        3: ("Noch 3 Versuche.", "Noch 3 Backup-Codes."),
    },
    "es": {
        0: ("Le quedan 0 intentos.", "Le quedan 0 códigos de respaldo."),
        1: ("Le queda 1 intento.", "Le queda 1 código de respaldo."),
        3: ("Le quedan 3 intentos.", "Le quedan 3 códigos de respaldo."),
    },
    # French and Portuguese put 0 in the singular (CLDR).
    "fr": {
        0: ("Il vous reste 0 essai.", "Il vous reste 0 code de secours."),
        1: ("Il vous reste 1 essai.", "Il vous reste 1 code de secours."),
        3: ("Il vous reste 3 essais.", "Il vous reste 3 codes de secours."),
    },
    "pt-BR": {
        0: ("Resta 0 tentativa.", "Resta 0 código de backup."),
        1: ("Resta 1 tentativa.", "Resta 1 código de backup."),
        3: ("Restam 3 tentativas.", "Restam 3 códigos de backup."),
    },
}


@pytest.mark.parametrize("locale", LOCALES)
def test_counts_take_each_languages_plural_forms(locale: str) -> None:
    texts = mfakit.texts(locale)
    for n, (tries, codes) in PLURALS[locale].items():
        assert texts.tries_left(n) == tries
        assert texts.backup_codes_left(n) == codes


@pytest.mark.parametrize("locale", TRANSLATED)
def test_a_million_uses_the_many_form_where_the_language_has_one(locale: str) -> None:
    # es, fr and pt have a CLDR "many" form for millions; the catalogs fill it.
    text = mfakit.texts(locale).tries_left(1_000_000)
    assert "1000000" in text
    assert text != mfakit.texts(locale).tries_left(1).replace("1", "1000000")


@pytest.mark.parametrize(
    ("delay", "english_text"),
    [
        (timedelta(seconds=1), "Try again in 1 second."),
        (timedelta(seconds=0.2), "Try again in 1 second."),
        (timedelta(seconds=23), "Try again in 23 seconds."),
        (timedelta(seconds=119), "Try again in 119 seconds."),
        (timedelta(seconds=121), "Try again in 3 minutes."),
        (timedelta(hours=1, seconds=1), "Try again in 61 minutes."),
        (timedelta(hours=2), "Try again in 2 hours."),
        (timedelta(hours=23, minutes=1), "Try again in 24 hours."),
    ],
)
def test_retry_in(delay: timedelta, english_text: str) -> None:
    assert english().retry_in(delay) == english_text


@pytest.mark.parametrize(
    ("locale", "one_minute", "hours"),
    [
        ("de", "Versuchen Sie es in 1 Minute erneut.", "Versuchen Sie es in 3 Stunden erneut."),
        ("es", "Inténtelo de nuevo en 1 minuto.", "Inténtelo de nuevo en 3 horas."),
        ("fr", "Réessayez dans 1 minute.", "Réessayez dans 3 heures."),
        ("pt-BR", "Tente novamente em 1 minuto.", "Tente novamente em 3 horas."),
    ],
)
def test_retry_in_each_language(locale: str, one_minute: str, hours: str) -> None:
    texts = mfakit.texts(locale)
    assert texts.retry_in(timedelta(hours=3)) == hours
    # retry_in counts in seconds below 2 minutes: the catalog still has "1 minute"
    # for languages whose plural rules reach the singular again (21, 101...).
    catalog = load_catalog(locale.replace("-", "_"))
    assert catalog.ngettext(*source.RETRY_MINUTES, 1).format(n=1) == one_minute


@pytest.mark.parametrize("value", [-1, 1.5, "3", None, True])
def test_counts_must_be_whole_numbers(value: object) -> None:
    with pytest.raises(InvalidInput):
        english().tries_left(value)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        english().backup_codes_left(value)  # type: ignore[arg-type]


# --- reasons -------------------------------------------------------------------------------


def test_every_reason_has_a_text() -> None:
    """Fails when a Reason is added without its sentence in core/texts.py."""
    missing = [r for r in Reason if r.value not in source.REASONS]
    assert missing == []


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("reason", list(Reason), ids=str)
def test_every_reason_reads_in_every_language(locale: str, reason: Reason) -> None:
    texts = mfakit.texts(locale)
    text = reason.message(texts)
    assert text == texts.reason(reason)
    assert text.endswith(".") and "{" not in text and "_" not in text
    assert len(text) < 160  # short
    if locale != "en":
        assert text != reason.message()


def test_reason_sentences_differ_from_each_other() -> None:
    for locale in LOCALES:
        sentences = [mfakit.texts(locale).reason(r) for r in Reason]
        assert len(set(sentences)) == len(sentences), locale


def test_reason_message_defaults_to_english() -> None:
    assert Reason.EXPIRED.message() == "This code has expired. Please ask for a new one."
    assert english().reason(None) == "That did not work. Please try again."


def test_reason_adds_the_wait_and_the_tries_left() -> None:
    text = Reason.INVALID_CODE.message(
        mfakit.texts("de"), retry_after=timedelta(seconds=30), attempts_left=1
    )
    assert text == (
        "Dieser Code ist nicht korrekt. Bitte prüfen Sie ihn und versuchen Sie es erneut. "
        "Versuchen Sie es in 30 Sekunden erneut. Noch 1 Versuch."
    )
    assert "tries" not in Reason.INVALID_CODE.message(attempts_left=0)


def test_explain_reads_a_result() -> None:
    wrong = VerifyResult(ok=False, reason=Reason.INVALID_CODE, attempts_left=2)
    assert english().explain(wrong) == (
        "That code is not correct. Check it and try again. 2 tries left."
    )
    limited = VerifyResult(
        ok=False, reason=Reason.RATE_LIMITED, retry_after=timedelta(minutes=5), attempts_left=3
    )
    assert mfakit.texts("fr").explain(limited) == (
        "Trop de tentatives ont échoué. Veuillez patienter un instant. Réessayez dans 5 minutes."
    )


@pytest.mark.parametrize("texts", ["fr", 42, object()])
def test_reason_message_wants_texts(texts: object) -> None:
    with pytest.raises(InvalidInput):
        Reason.EXPIRED.message(texts)  # type: ignore[arg-type]


@pytest.mark.parametrize("reason", ["expired", 3, object()])
def test_texts_reason_wants_a_reason(reason: object) -> None:
    with pytest.raises(InvalidInput):
        english().reason(reason)  # type: ignore[arg-type]


# --- notices -----------------------------------------------------------------------------------

DETAILS = {
    "device_trusted": "Firefox on Linux",
    "factor_added": "phone +1•••••01",
    "factor_removed": "authenticator app “Pixel”",
    "backup_codes_regenerated": "",
    "backup_codes_low": "2",
    "second_step_failed": "",
    "contact_changed": "email (now b•••@example.org)",
    "password_changed": "",
    "two_factor_disabled": "",
    "destination_removed": "phone +1•••••01",
    "lockout_recovered": "",
    "lockout_recovered_passkey": "Laptop",
    "passkey_cloned": "Laptop",
}


def test_details_cover_every_notice() -> None:
    assert set(DETAILS) == set(DEFAULT_NOTICES)


@pytest.mark.parametrize("locale", TRANSLATED)
@pytest.mark.parametrize("kind", sorted(DEFAULT_NOTICES))
def test_every_notice_in_every_language(locale: str, kind: str) -> None:
    notice = Messages().notice(kind, locale=locale, issuer=ISSUER, when=WHEN, detail=DETAILS[kind])
    english_notice = english().notice(kind, issuer=ISSUER, when=WHEN, detail=DETAILS[kind])
    assert notice.subject != english_notice.subject
    assert notice.text != english_notice.text
    assert ISSUER in notice.subject and ISSUER in notice.text
    assert len(notice.subject.splitlines()) == 1
    if kind not in ("backup_codes_regenerated", "backup_codes_low"):
        assert WHEN in notice.text
    # The English phrase the service wrote is reworded, its value kept.
    for english_word in ("phone +", "authenticator app", "(now", "email ("):
        assert english_word not in notice.text


@pytest.mark.parametrize(
    ("detail", "value", "noun"),
    [
        ("phone +1•••••01", "+1•••••01", "Telefonnummer"),
        ("email a•••@example.org", "a•••@example.org", "E-Mail-Adresse"),
        ("authenticator app “Pixel”", "„Pixel“", "Authenticator-App"),
        ("passkey “Laptop”", "„Laptop“", "Passkey"),
    ],
)
def test_a_factor_notice_names_its_kind_in_the_language(detail: str, value: str, noun: str) -> None:
    for kind in ("factor_added", "factor_removed"):
        text = mfakit.texts("de").notice(kind, issuer=ISSUER, when=WHEN, detail=detail).text
        assert value in text and noun in text


def test_a_detail_of_another_shape_keeps_the_general_text() -> None:
    text = english().notice("factor_added", issuer=ISSUER, when=WHEN, detail="security key").text
    assert text.startswith("A verification method (security key) was added")


@pytest.mark.parametrize(
    ("locale", "one", "two"),
    [
        ("en", "Only 1 backup code is left", "Only 2 backup codes are left"),
        ("de", "nur noch 1 Backup-Code übrig", "nur noch 2 Backup-Codes übrig"),
        ("es", "Solo queda 1 código de respaldo", "Solo quedan 2 códigos de respaldo"),
        ("fr", "Il vous reste 1 code de secours", "Il vous reste 2 codes de secours"),
        ("pt-BR", "Resta 1 código de backup", "Restam 2 códigos de backup"),
    ],
)
def test_backup_codes_low_notice_plural(locale: str, one: str, two: str) -> None:
    texts = mfakit.texts(locale)
    assert one in texts.notice("backup_codes_low", issuer=ISSUER, when=WHEN, detail="1").text
    assert two in texts.notice("backup_codes_low", issuer=ISSUER, when=WHEN, detail="2").text


def test_render_notice_takes_the_users_locale() -> None:
    messages = Messages()
    for locale, subject in [
        ("de", f"Ihr Passwort für {ISSUER} wurde geändert"),
        ("fr-CA", f"Votre mot de passe {ISSUER} a changé"),
        (None, f"Your {ISSUER} password changed"),
    ]:
        rendered = core.render_notice(
            messages, "password_changed", locale=locale, issuer=ISSUER, when=WHEN, detail=""
        )
        assert rendered.subject == subject


def test_unknown_notice_kind() -> None:
    with pytest.raises(InvalidInput):
        english().notice("nope", issuer=ISSUER, when=WHEN)


# --- the backup-code sheet -----------------------------------------------------------------


def test_backup_code_sheet_in_a_language() -> None:
    codes = BackupCodes(("7K2M-Q9XH-4TRD", "ABCD-EFGH-JKLM"))
    assert codes.as_text("Acme").startswith("Acme backup codes\nEach code works once.")
    sheet = codes.as_text("Acme", texts=mfakit.texts("es"))
    assert sheet.startswith("Códigos de respaldo de Acme\nCada código funciona una sola vez.")
    assert sheet.endswith("  7K2M-Q9XH-4TRD\n  ABCD-EFGH-JKLM\n")
    assert mfakit.texts("fr").backup_codes_sheet([]).startswith("Codes de secours\n")


# --- locale fallback ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "chosen"),
    [
        ("fr", "fr"),
        ("fr-CA", "fr"),
        ("FR_ca", "fr"),
        ("fr-Latn-CA", "fr"),
        ("de-AT", "de"),
        ("es-419", "es"),
        ("pt-BR", "pt-br"),
        ("pt_br", "pt-br"),
        ("pt-PT", "en"),  # a region never borrows another region's texts
        ("pt", "en"),
        ("it", "en"),
        (None, "en"),
    ],
)
def test_fallback_chain(locale: str | None, chosen: str) -> None:
    assert Messages().texts(locale).locale == chosen


@pytest.mark.parametrize(
    ("default", "chosen"), [("de", "de"), ("fr-CA", "fr"), ("pt_BR", "pt-br"), ("it", "en")]
)
def test_the_host_chooses_the_default_locale(default: str, chosen: str) -> None:
    messages = Messages(default_locale=default)
    assert messages.texts("it").locale == chosen
    assert messages.texts(None).locale == chosen
    assert messages.texts("es").locale == "es"
    assert mfakit.texts("it", default_locale=default).locale == chosen


def test_locales_lists_every_language() -> None:
    assert Messages().locales == ("de", "en", "es", "fr", "pt-br")
    assert core.Messages().locales == ("en",)


def test_the_core_messages_load_nothing() -> None:
    # Without catalogs the core class knows English only; the public one has five.
    assert core.Messages().texts("de").locale == "en"
    assert mfakit.Messages is not core.Messages
    assert isinstance(Messages(), core.Messages)


@pytest.mark.parametrize("locale", ["fr CA", "", 42, "x" * 36])
def test_bad_locale_is_invalid_input(locale: object) -> None:
    with pytest.raises(InvalidInput):
        Messages().texts(locale)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        mfakit.texts(locale)  # type: ignore[arg-type]


# --- the host's own texts (back-compat) and languages ------------------------------------------


def test_host_templates_win_and_the_rest_comes_from_the_same_language() -> None:
    french = Templates(sms="Code {issuer} : {code}")
    messages = Messages({"fr": french})
    assert messages.templates("fr-CA") is french
    texts = messages.texts("fr-CA")
    assert texts.code_message("sms", issuer="A", code=CODE, minutes=3).text == f"Code A : {CODE}"
    voice = texts.code_message("voice", issuer="A", code=CODE, minutes=3).text
    assert voice.startswith("Bonjour. Votre code de vérification A est")
    assert texts.reason(Reason.EXPIRED) == "Ce code a expiré. Demandez-en un nouveau."


def test_host_notice_templates_win_for_their_kinds_only() -> None:
    templates = Templates(notices={"password_changed": ("Mot de passe changé", "Le {when}.")})
    texts = Messages({"fr": templates}).texts("fr")
    changed = texts.notice("password_changed", issuer=ISSUER, when=WHEN)
    assert (changed.subject, changed.text) == ("Mot de passe changé", f"Le {WHEN}.")
    other = texts.notice("two_factor_disabled", issuer=ISSUER, when=WHEN)
    assert other.subject == f"Vérification en deux étapes désactivée sur {ISSUER}"


class Catalog:
    """A host's own catalog object: any object with gettext() and ngettext()."""

    def __init__(self, table: dict[str, str | tuple[str, str]]) -> None:
        self.table = table

    def gettext(self, message: str) -> str:
        found = self.table.get(message, message)
        assert isinstance(found, str)
        return found

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        found = self.table.get(singular)
        if isinstance(found, tuple):
            return found[0] if n == 1 else found[1]
        return singular if n == 1 else plural


ITALIAN = Catalog(
    {
        source.SMS[0]: (
            "{code} è il tuo codice di verifica {issuer}. Scade tra {minutes} minuto.",
            "{code} è il tuo codice di verifica {issuer}. Scade tra {minutes} minuti.",
        ),
        source.REASONS["expired"]: "Questo codice è scaduto. Richiedine uno nuovo.",
    }
)


def test_a_host_adds_a_language_with_a_catalog_object() -> None:
    messages = Messages({"it": ITALIAN})
    texts = messages.texts("it-CH")
    assert texts.locale == "it"
    sms = texts.code_message("sms", issuer="A", code=CODE, minutes=1).text
    assert sms == f"{CODE} è il tuo codice di verifica A. Scade tra 1 minuto."
    assert Reason.EXPIRED.message(texts) == "Questo codice è scaduto. Richiedine uno nuovo."
    # What the catalog leaves out reads in English.
    assert texts.reason(Reason.COOLDOWN) == english().reason(Reason.COOLDOWN)
    assert "it" in messages.locales


def test_a_host_catalog_replaces_a_shipped_language() -> None:
    texts = Messages({"fr": ITALIAN}).texts("fr")
    assert "codice di verifica" in texts.code_message("sms", issuer="A", code=CODE, minutes=2).text


def test_stdlib_null_translations_are_english() -> None:
    texts = Texts(gettext.NullTranslations(), locale="en")
    assert texts.tries_left(1) == "1 try left."


# --- broken texts are refused when they are built ----------------------------------------------

LINE_SEPARATORS = ["\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("separator", LINE_SEPARATORS, ids=repr)
def test_a_subject_with_a_line_separator_is_refused_at_construction(separator: str) -> None:
    subject = Catalog({source.EMAIL_SUBJECT: f"Code{separator}Bcc: x@example.org"})
    with pytest.raises(ConfigurationError, match="one line"):
        Messages({"it": subject})
    notice = Catalog({DEFAULT_NOTICES["password_changed"][0]: f"A{separator}B"})
    with pytest.raises(ConfigurationError, match="one line"):
        Messages({"it": notice})
    with pytest.raises(ConfigurationError, match="one line"):
        Templates(email_subject=f"Your code{separator}")
    with pytest.raises(ConfigurationError, match="one line"):
        Templates(notices={"password_changed": (f"A{separator}B", "t")})


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param("{code} {nope}", id="unknown-name"),
        pytest.param("{code} {0}", id="positional"),
        pytest.param("{code.__class__}", id="attribute"),
        pytest.param("{code[0]}", id="index"),
        pytest.param("{code", id="unclosed"),
        pytest.param("{code:{minutes}}", id="nested-spec"),
    ],
)
def test_a_translation_with_a_bad_placeholder_is_refused(broken: str) -> None:
    with pytest.raises(ConfigurationError, match="placeholder"):
        Messages({"it": Catalog({source.SMS[0]: (broken, broken)})})


def test_a_translation_that_loses_the_code_is_refused() -> None:
    lost = "Your code expires in {minutes} minutes."
    with pytest.raises(ConfigurationError, match="lost the code"):
        Messages({"it": Catalog({source.SMS[0]: (lost, lost)})})
    with pytest.raises(ConfigurationError, match="lost the code"):
        Messages({"it": Catalog({source.VOICE: "Hello from {issuer}."})})


def test_a_bad_plural_form_is_refused_even_if_only_for_one_count() -> None:
    with pytest.raises(ConfigurationError):
        Messages({"it": Catalog({source.TRIES_LEFT[0]: ("{n} try", "{count} tries")})})


@pytest.mark.parametrize(
    "translations",
    [
        pytest.param(["fr"], id="list"),
        pytest.param({"fr": "text"}, id="str"),
        pytest.param({"fr": object()}, id="object"),
        pytest.param({"fr CA": Templates()}, id="bad-locale"),
        pytest.param({"": Templates()}, id="empty-locale"),
    ],
)
def test_bad_translations_are_a_configuration_error(translations: object) -> None:
    with pytest.raises(ConfigurationError):
        Messages(translations)  # type: ignore[arg-type]


@pytest.mark.parametrize("default", ["", "fr CA", None, 3])
def test_bad_default_locale(default: object) -> None:
    with pytest.raises(ConfigurationError):
        Messages(default_locale=default)  # type: ignore[arg-type]


@pytest.mark.parametrize("locale", [None, "", "fr CA", 3])
def test_texts_want_a_locale_tag(locale: object) -> None:
    with pytest.raises(ConfigurationError):
        Texts(locale=locale)  # type: ignore[arg-type]


def test_texts_want_a_catalog() -> None:
    with pytest.raises(ConfigurationError):
        Texts(object())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        Texts(templates="x")  # type: ignore[arg-type]


def test_mfa_wants_messages() -> None:
    with pytest.raises(ConfigurationError):
        mfakit.MFA(
            store=mfakit.adapters.MemoryStore(),
            secret_key=mfakit.generate_secret_key(),
            issuer="A",
            messages={"fr": Templates()},  # type: ignore[arg-type]
        )


# --- the shipped catalogs ----------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated_in_the_shipped_catalog(language: str) -> None:
    catalog = load_catalog(language)
    singles = [
        source.VOICE,
        source.EMAIL_SUBJECT,
        *(text for pair in DEFAULT_NOTICES.values() for text in pair),
        *source.NOTICE_VARIANTS.values(),
        *source.REASONS.values(),
        source.FALLBACK_REASON,
        source.BACKUP_SHEET_HINT,
        source.BACKUP_SHEET_TITLE,
        source.BACKUP_SHEET_TITLE_ISSUER,
    ]
    for message in singles:
        assert catalog.gettext(message) != message, message
    plurals = [
        source.SMS,
        source.EMAIL_BODY,
        *source.NOTICE_PLURALS.values(),
        source.TRIES_LEFT,
        source.BACKUP_CODES_LEFT,
        source.RETRY_SECONDS,
        source.RETRY_MINUTES,
        source.RETRY_HOURS,
    ]
    for singular, plural in plurals:
        for n in (1, 2, 1_000_000):
            assert catalog.ngettext(singular, plural, n) not in (singular, plural), singular


def test_catalogs_are_loaded_once_and_lazily() -> None:
    assert load_catalog("fr") is load_catalog("fr")
    assert BUILTIN_CATALOGS["pt-br"] is load_catalog("pt_BR")
    assert "it" not in BUILTIN_CATALOGS
    with pytest.raises(KeyError):
        load_catalog("it")


# --- the docstrings' examples --------------------------------------------------------------


@pytest.mark.parametrize("module", ["mfakit.i18n", "mfakit.core.messages", "mfakit.core.results"])
def test_docstring_examples_run(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0
    assert result.attempted >= 1
