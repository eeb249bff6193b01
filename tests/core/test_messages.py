"""The texts that carry codes: default templates, translations and their checks."""

from __future__ import annotations

import dataclasses

import pytest

from mfakit.core.messages import Messages, Rendered, Templates, spoken
from mfakit.errors import ConfigurationError, InvalidInput

CODE = "482913"
FR = Templates(
    sms="{code} est votre code {issuer}. Il expire dans {minutes} minutes.",
    voice="Bonjour. Votre code {issuer} est : {spoken_code}.",
    email_subject="Votre code {issuer}",
    email_body="Votre code {issuer} est :\n\n    {code}\n\nIl expire dans {minutes} minutes.\n",
)
PT_BR = Templates(sms="{code}: seu código {issuer} ({minutes} min).")


def render(channel: str, messages: Messages | None = None, locale: str | None = None) -> Rendered:
    return (messages or Messages()).render(
        channel, locale=locale, issuer="Aesthetix CRM", code=CODE, minutes=10
    )


# --- defaults ---------------------------------------------------------------------------


def test_sms_names_issuer_code_and_minutes() -> None:
    rendered = render("sms")
    assert rendered.subject == ""
    assert rendered.text == (
        "482913 is your Aesthetix CRM verification code. It expires in 10 minutes."
    )


def test_email_has_subject_and_body() -> None:
    rendered = render("email")
    assert rendered.subject == "Your Aesthetix CRM verification code"
    assert "Aesthetix CRM" in rendered.text
    assert f"\n    {CODE}\n" in rendered.text
    assert "10 minutes" in rendered.text
    assert CODE not in rendered.subject


def test_voice_reads_the_code_digit_by_digit() -> None:
    rendered = render("voice")
    assert "Aesthetix CRM" in rendered.text
    assert rendered.text.count("4, 8, 2, 9, 1, 3") == 2
    assert CODE not in rendered.text


def test_spoken() -> None:
    assert spoken(CODE) == "4, 8, 2, 9, 1, 3"
    assert spoken("12345678") == "1, 2, 3, 4, 5, 6, 7, 8"


def test_default_templates_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Templates().sms = "{code}"  # type: ignore[misc]


# --- translations -----------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["fr", "FR", "fr-CA", "fr_CA", "fr-ca", "fr-Latn-CA"])
def test_regional_locale_falls_back_to_its_language(locale: str) -> None:
    messages = Messages({"fr": FR})
    assert messages.templates(locale) is FR
    assert render("sms", messages, locale).text.startswith(f"{CODE} est votre code Aesthetix CRM")


def test_exact_region_wins_over_language() -> None:
    messages = Messages({"pt": FR, "pt-BR": PT_BR})
    assert messages.templates("pt-br") is PT_BR
    assert messages.templates("pt_BR") is PT_BR
    assert messages.templates("pt-PT") is FR


@pytest.mark.parametrize("locale", [None, "de", "de-DE", "x", "zz_ZZ"])
def test_unknown_or_missing_locale_uses_the_default(locale: str | None) -> None:
    messages = Messages({"fr": FR})
    assert messages.templates(locale) == Templates()
    assert render("sms", messages, locale).text.startswith(f"{CODE} is your Aesthetix CRM")


def test_custom_default_locale() -> None:
    messages = Messages({"fr": FR}, default_locale="fr")
    assert messages.default_locale == "fr"
    assert messages.templates("de") is FR
    assert messages.templates(None) is FR


def test_default_templates_can_be_replaced() -> None:
    messages = Messages({"en": PT_BR})
    assert messages.templates(None) is PT_BR


def test_default_locale_translation_is_kept_whatever_its_case() -> None:
    assert Messages({"EN": PT_BR}).templates(None) is PT_BR


def test_underscore_translation_key_is_found() -> None:
    assert Messages({"fr_CA": FR}).templates("fr-CA") is FR


# --- configuration checks ---------------------------------------------------------------


@pytest.mark.parametrize("field", ["sms", "voice", "email_subject", "email_body"])
@pytest.mark.parametrize(
    "template",
    [
        pytest.param("{code} {nope}", id="unknown-name"),
        pytest.param("{code} {0}", id="positional"),
        pytest.param("{code} {}", id="auto-positional"),
        pytest.param("{code", id="unclosed"),
        pytest.param("{code} }", id="single-brace"),
        pytest.param("{code:d}", id="bad-format-spec"),
        pytest.param("{code!z}", id="bad-conversion"),
    ],
)
def test_bad_placeholder_is_a_configuration_error(field: str, template: str) -> None:
    with pytest.raises(ConfigurationError, match=field):
        Templates(**{field: template})


@pytest.mark.parametrize("template", ["{code.nope}", "{code} {minutes[0]}"])
def test_bad_field_access_is_a_configuration_error(template: str) -> None:
    with pytest.raises(ConfigurationError):
        Templates(sms=template)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"sms": "Your {issuer} code expires in {minutes} minutes."}, id="sms"),
        pytest.param({"email_body": "Your {issuer} code"}, id="email_body"),
        pytest.param({"voice": "Hello from {issuer}."}, id="voice"),
    ],
)
def test_template_without_code_is_a_configuration_error(overrides: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="must contain"):
        Templates(**overrides)


def test_voice_may_use_code_or_spoken_code() -> None:
    assert Templates(voice="{code}").voice == "{code}"
    assert Templates(voice="{spoken_code}").voice == "{spoken_code}"


def test_subject_need_not_contain_the_code() -> None:
    assert Templates(email_subject="Sign-in code").email_subject == "Sign-in code"


@pytest.mark.parametrize("value", [None, 42, b"{code}", ["{code}"]])
def test_template_must_be_a_str(value: object) -> None:
    with pytest.raises(ConfigurationError, match="must be a str"):
        Templates(sms=value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "translations",
    [
        pytest.param({"fr": "{code}"}, id="str"),
        pytest.param({"fr": {"sms": "{code}"}}, id="dict"),
        pytest.param({"fr": None}, id="none"),
        pytest.param({"fr": Templates}, id="class"),
        pytest.param({1: FR}, id="int-locale"),
        pytest.param({None: FR}, id="none-locale"),
    ],
)
def test_translations_must_map_str_to_templates(translations: dict[object, object]) -> None:
    with pytest.raises(ConfigurationError):
        Messages(translations)  # type: ignore[arg-type]


# --- locale input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "locale",
    [
        pytest.param(42, id="int"),
        pytest.param(b"fr", id="bytes"),
        pytest.param(["fr"], id="list"),
        pytest.param("", id="empty"),
        pytest.param("x" * 36, id="36-chars"),
        pytest.param("fr-" + "a" * 5000, id="5kB"),
        pytest.param("fr CA", id="space"),
        pytest.param("fr\n", id="newline"),
        pytest.param("fr\x00", id="nul"),
        pytest.param("fré", id="non-ascii"),
        pytest.param("ｆｒ", id="fullwidth"),
    ],
)
def test_bad_locale_is_invalid_input(locale: object) -> None:
    messages = Messages({"fr": FR})
    with pytest.raises(InvalidInput) as info:
        messages.templates(locale)  # type: ignore[arg-type]
    assert info.value.field == "locale"
    with pytest.raises(InvalidInput):
        render("sms", messages, locale)  # type: ignore[arg-type]


def test_locale_of_35_characters_is_accepted() -> None:
    assert Messages().templates("en-" + "a" * 32) == Templates()


# --- Rendered ---------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["sms", "voice", "email"])
def test_rendered_repr_hides_the_text(channel: str) -> None:
    rendered = render(channel)
    text = repr(rendered)
    assert CODE not in text
    assert "4, 8, 2" not in text
    assert f"<{len(rendered.text)} chars>" in text
    assert text.startswith("Rendered(subject=")
