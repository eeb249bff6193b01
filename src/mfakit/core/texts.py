"""The English source of every text a person reads, marked for translation.

This module holds strings only. They are gettext message ids: Babel extracts
them (`scripts/catalogs extract`) into `src/mfakit/locale/mfakit.pot`, and
the catalogs under `src/mfakit/locale/<lang>/LC_MESSAGES` translate them.
`mfakit.core.messages` renders them through a gettext-like object it is
handed; loading a catalog from a file is I/O, so it happens in
`mfakit.i18n`, never here.

Singular texts are marked with `N_`; a text with plural forms is a
`(singular, plural)` pair marked with `Np_` and rendered with
`ngettext`. Every text is a `str.format` template.
"""

from __future__ import annotations

__all__ = [
    "BACKUP_CODES_LEFT",
    "BACKUP_SHEET_HINT",
    "BACKUP_SHEET_TITLE",
    "BACKUP_SHEET_TITLE_ISSUER",
    "EMAIL_BODY",
    "EMAIL_SUBJECT",
    "FALLBACK_REASON",
    "MALFORMED",
    "MALFORMED_DIGITS",
    "NOTICES",
    "NOTICE_PLURALS",
    "NOTICE_VARIANTS",
    "N_",
    "REASONS",
    "RETRY_HOURS",
    "RETRY_MINUTES",
    "RETRY_SECONDS",
    "SMS",
    "TRIES_LEFT",
    "VOICE",
    "Np_",
]


def N_(message: str) -> str:
    """Mark `message` for extraction; translated when rendered."""
    return message


def Np_(singular: str, plural: str) -> tuple[str, str]:
    """Mark a text with plural forms for extraction (`ngettext` renders it)."""
    return singular, plural


# --- texts that carry a code: {issuer}, {code}, {spoken_code}, {minutes} -----------------

SMS = Np_(
    "{code} is your {issuer} verification code. It expires in {minutes} minute.",
    "{code} is your {issuer} verification code. It expires in {minutes} minutes.",
)
VOICE = N_(
    "Hello. Your {issuer} verification code is: {spoken_code}. "
    "Once again, your code is: {spoken_code}."
)
EMAIL_SUBJECT = N_("Your {issuer} verification code")
EMAIL_BODY = Np_(
    "Your {issuer} verification code is:\n\n    {code}\n\n"
    "It expires in {minutes} minute. If you did not ask for it, someone may be "
    "trying to sign in to your account: change your password.\n",
    "Your {issuer} verification code is:\n\n    {code}\n\n"
    "It expires in {minutes} minutes. If you did not ask for it, someone may be "
    "trying to sign in to your account: change your password.\n",
)

# --- security notices (S21): {issuer}, {when}, {detail} ----------------------------------

NOTICES: dict[str, tuple[str, str]] = {
    "device_trusted": (
        N_("New trusted device for {issuer}"),
        N_(
            "A device ({detail}) was trusted for two-step verification on your {issuer} "
            "account on {when}. If this was not you, revoke it and change your password."
        ),
    ),
    "factor_added": (
        N_("Two-step verification method added on {issuer}"),
        N_(
            "A verification method ({detail}) was added to your {issuer} account on {when}. "
            "If this was not you, contact support at once."
        ),
    ),
    "factor_removed": (
        N_("Two-step verification method removed on {issuer}"),
        N_(
            "A verification method ({detail}) was removed from your {issuer} account on "
            "{when}. If this was not you, contact support at once."
        ),
    ),
    "backup_codes_regenerated": (
        N_("New backup codes for {issuer}"),
        N_(
            "New backup codes were generated for your {issuer} account on {when}; "
            "the old ones no longer work."
        ),
    ),
    "backup_codes_low": (
        N_("Few backup codes left on {issuer}"),
        N_(
            "Only {detail} backup codes are left on your {issuer} account. "
            "Generate a new set from your security settings."
        ),
    ),
    "second_step_failed": (
        N_("Failed sign-in attempt on {issuer}"),
        N_(
            "Someone entered your {issuer} password correctly but failed the second step "
            "on {when}. If this was not you, change your password."
        ),
    ),
    "contact_changed": (
        N_("Your {issuer} contact details changed"),
        N_(
            "The {detail} on your {issuer} account was changed on {when}. "
            "If this was not you, contact support at once."
        ),
    ),
    "password_changed": (
        N_("Your {issuer} password changed"),
        N_(
            "The password of your {issuer} account was changed on {when}. "
            "If this was not you, contact support at once."
        ),
    ),
    "destination_removed": (
        N_("Removed from your {issuer} account"),
        N_(
            "A phone number or email address ({detail}) was removed from your {issuer} "
            "account on {when} and will no longer receive its verification codes. If this "
            "was not you, contact support at once."
        ),
    ),
    "lockout_recovered": (
        N_("Someone tried many codes on your {issuer} account"),
        N_(
            "Someone entered your {issuer} password correctly and then tried many wrong "
            "verification codes, so the other methods were blocked; a backup code was used "
            "on {when}. If this was not you, change your password at once."
        ),
    ),
    "lockout_recovered_passkey": (
        N_("Someone tried many codes on your {issuer} account"),
        N_(
            "Someone entered your {issuer} password correctly and then tried many wrong "
            "verification codes, so the other methods were blocked; your passkey “{detail}” "
            "was used on {when}. If this was not you, change your password at once."
        ),
    ),
    "passkey_cloned": (
        N_("A passkey of your {issuer} account may have been copied"),
        N_(
            "The passkey or security key “{detail}” of your {issuer} account was used on "
            "{when} with a signature counter that went backwards: it may have been copied. "
            "If you did not copy it, remove it and contact support."
        ),
    ),
    "two_factor_disabled": (
        N_("Two-step verification turned off on {issuer}"),
        N_(
            "Two-step verification was turned off for your {issuer} account on {when}. "
            "If this was not you, contact support at once."
        ),
    ),
}
"""`kind -> (subject, text)`: the generic text of each notice."""

NOTICE_PLURALS: dict[str, tuple[str, str]] = {
    "backup_codes_low": Np_(
        "Only {detail} backup code is left on your {issuer} account. "
        "Generate a new set from your security settings.",
        "Only {detail} backup codes are left on your {issuer} account. "
        "Generate a new set from your security settings.",
    ),
}
"""Notice texts whose `{detail}` is a number: rendered with `ngettext`."""

NOTICE_VARIANTS: dict[tuple[str, str], str] = {
    ("factor_added", "phone"): N_(
        "A phone number ({detail}) was added as a verification method to your {issuer} "
        "account on {when}. If this was not you, contact support at once."
    ),
    ("factor_added", "email"): N_(
        "An email address ({detail}) was added as a verification method to your {issuer} "
        "account on {when}. If this was not you, contact support at once."
    ),
    ("factor_added", "totp"): N_(
        "An authenticator app named “{detail}” was added as a verification method to your "
        "{issuer} account on {when}. If this was not you, contact support at once."
    ),
    ("factor_added", "passkey"): N_(
        "A passkey or security key named “{detail}” was added as a verification method to "
        "your {issuer} account on {when}. If this was not you, contact support at once."
    ),
    ("factor_removed", "passkey"): N_(
        "A passkey or security key named “{detail}” was removed from the verification "
        "methods of your {issuer} account on {when}. If this was not you, contact support "
        "at once."
    ),
    ("factor_removed", "phone"): N_(
        "A phone number ({detail}) was removed from the verification methods of your "
        "{issuer} account on {when}. If this was not you, contact support at once."
    ),
    ("factor_removed", "email"): N_(
        "An email address ({detail}) was removed from the verification methods of your "
        "{issuer} account on {when}. If this was not you, contact support at once."
    ),
    ("factor_removed", "totp"): N_(
        "An authenticator app named “{detail}” was removed from the verification methods "
        "of your {issuer} account on {when}. If this was not you, contact support at once."
    ),
    ("destination_removed", "phone"): N_(
        "This phone number ({detail}) was removed from your {issuer} account on {when} "
        "and will no longer receive its verification codes. If this was not you, "
        "contact support at once."
    ),
    ("destination_removed", "email"): N_(
        "This email address ({detail}) was removed from your {issuer} account on {when} "
        "and will no longer receive its verification codes. If this was not you, "
        "contact support at once."
    ),
    ("contact_changed", "phone"): N_(
        "The phone number on your {issuer} account was changed to {detail} on {when}. "
        "If this was not you, contact support at once."
    ),
    ("contact_changed", "email"): N_(
        "The email address on your {issuer} account was changed to {detail} on {when}. "
        "If this was not you, contact support at once."
    ),
}
"""`(kind, what) -> text`: a notice about a phone, an email address or an
authenticator app says which, so a translation can inflect its own words."""

# --- refusals a host shows: one sentence per Reason --------------------------------------

REASONS: dict[str, str] = {
    "invalid_code": N_("That code is not correct. Check it and try again."),
    "malformed_code": N_("That does not look like a code. Check it and try again."),
    "replayed": N_("That code was already used. Wait for a new one and try again."),
    "rate_limited": N_("Too many failed attempts. Please wait a moment."),
    "locked_out": N_("Two-step verification is locked for this account. Please contact support."),
    "too_many_attempts": N_("Too many attempts. Please start again."),
    "expired": N_("This code has expired. Please ask for a new one."),
    "no_code_sent": N_("No code has been sent yet. Send one, or choose another way to verify."),
    "cooldown": N_("A code was sent a moment ago. Please wait before asking for another."),
    "send_limit": N_(
        "Too many codes were sent to this number or address. Please wait before asking for another."
    ),
    "invalid_answer": N_("That answer is not correct. Check it and try again."),
    "daily_limit": N_(
        "You have reached today's limit for changing your phone number or email address."
    ),
    "send_budget_exhausted": N_(
        "Too many codes were sent to new phone numbers or email addresses. Please wait "
        "before asking for another."
    ),
    "opted_out": N_(
        "This number has blocked our messages, so no code was sent. Choose another way to verify."
    ),
    "no_eligible_method": N_(
        "This change needs a verified way to confirm it. Set up an authenticator app "
        "or verify your email address first."
    ),
    "wrong_origin": N_(
        "This request did not come from this website. Please try again from the sign-in page."
    ),
    "wrong_rp_id": N_(
        "This passkey belongs to another website. Please try again from the sign-in page."
    ),
    "wrong_type": N_("Your browser sent an unexpected answer. Please try again."),
    "wrong_challenge": N_(
        "This passkey request has expired or is no longer valid. Please try again."
    ),
    "user_not_present": N_(
        "Please touch your security key or confirm on your device when asked, then try again."
    ),
    "user_verification_missing": N_(
        "Your device did not check your PIN, fingerprint or face. "
        "Please try again and confirm when asked."
    ),
    "unknown_credential": N_(
        "This passkey is not registered for this account. "
        "Try another one, or another way to verify."
    ),
    "cloned_credential": N_(
        "This security key cannot be trusted. Please use another way to verify and contact support."
    ),
    "duplicate_credential": N_("This passkey is already registered."),
    "bad_signature": N_("Your passkey could not be verified. Please try again."),
    "malformed_credential": N_(
        "Your browser sent an answer that could not be read. Please try again."
    ),
}
"""`Reason.value -> sentence`. `malformed_code` is the sentence when what
the field takes is not known; `MALFORMED` and `MALFORMED_DIGITS` say it."""

MALFORMED: dict[str, str] = {
    "totp": N_("Enter the code your authenticator app shows: 6 or 8 digits."),
    "backup_code": N_(
        "Enter one of your backup codes: 12 letters and digits, like 7K2M-Q9XH-4TRD."
    ),
    "answer": N_("Please type your answer to the security question."),
}
"""`Reason.MALFORMED_CODE` for a field whose shape is fixed: the code of any
of the user's authenticator apps, a backup code, the security question's answer."""

MALFORMED_DIGITS: dict[str, tuple[str, str]] = {
    "totp": Np_(
        "Enter the code your authenticator app shows: {n} digit.",
        "Enter the code your authenticator app shows: {n} digits.",
    ),
    "sms": Np_(
        "Enter the code from the text message: {n} digit.",
        "Enter the code from the text message: {n} digits.",
    ),
    "voice": Np_(
        "Enter the code read out in the phone call: {n} digit.",
        "Enter the code read out in the phone call: {n} digits.",
    ),
    "email": Np_(
        "Enter the code from the email: {n} digit.",
        "Enter the code from the email: {n} digits.",
    ),
}
"""`Reason.MALFORMED_CODE` for a code of `{n}` digits: one that was sent,
or the first code of an authenticator app being set up."""

FALLBACK_REASON = N_("That did not work. Please try again.")

TRIES_LEFT = Np_("{n} try left.", "{n} tries left.")
BACKUP_CODES_LEFT = Np_("{n} backup code left.", "{n} backup codes left.")
RETRY_SECONDS = Np_("Try again in {n} second.", "Try again in {n} seconds.")
RETRY_MINUTES = Np_("Try again in {n} minute.", "Try again in {n} minutes.")
RETRY_HOURS = Np_("Try again in {n} hour.", "Try again in {n} hours.")

# --- the backup-code sheet ---------------------------------------------------------------

BACKUP_SHEET_TITLE_ISSUER = N_("{issuer} backup codes")
BACKUP_SHEET_TITLE = N_("Backup codes")
BACKUP_SHEET_HINT = N_("Each code works once. Keep them somewhere safe.")
