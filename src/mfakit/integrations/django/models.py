"""mfakit's state as Django models (app label `mfakit`, tables `mfakit_*`).

The same rows as the SQL store's tables (`mfakit.adapters.sql.schema`),
shaped for the ORM: Django (before 5.2) has no composite primary keys, so the
per-user tables have a surrogate `BigAutoField` key and a unique constraint
on the natural key (`(user_id, factor_id)`, `(user_id, lookup)`, ...). The
unique constraints are what make duplicate inserts fail and upserts possible.
Users are referenced by their id as text (`str(user.pk)`), not a foreign
key, as everywhere in mfakit: the host's user model is not mfakit's business.

Only `DjangoStore` writes these
tables; read them for reports and the admin, but change them through
`get_mfa` so every rule holds.
"""

from __future__ import annotations

from django.db import models

__all__ = [
    "AuditEvent",
    "BackupCode",
    "Challenge",
    "Contact",
    "Counter",
    "Notice",
    "SecurityQuestion",
    "TotpFactor",
    "TrustedDevice",
    "UserState",
    "WebAuthnCeremony",
    "WebAuthnCredential",
    "WebAuthnUser",
]

# Column sizes as in the SQL store's schema (ids are at most 128 characters).
_ID = 128
_USER = 255
_KEY = 512
_VALUE = 320
_ENUM = 32
_LOCALE = 35


class TotpFactor(models.Model):
    """An authenticator app; `secret_blob` is AES-GCM ciphertext."""

    user_id = models.CharField(max_length=_USER)
    factor_id = models.CharField(max_length=_ID)
    label = models.CharField(max_length=255)
    secret_key_id = models.CharField(max_length=_ID)
    secret_blob = models.BinaryField()
    algorithm = models.CharField(max_length=16)
    digits = models.IntegerField()
    period = models.IntegerField()
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True)
    confirmed_at = models.DateTimeField(null=True)
    last_step = models.BigIntegerField(null=True)
    last_used_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "mfakit_totp_factors"
        verbose_name = "authenticator app"
        constraints = [
            models.UniqueConstraint(fields=["user_id", "factor_id"], name="mfakit_totp_user_id")
        ]


class BackupCode(models.Model):
    """A backup code as an argon2 hash, found by `(user_id, lookup)`."""

    user_id = models.CharField(max_length=_USER)
    lookup = models.CharField(max_length=_ENUM)
    hash = models.TextField()
    created_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "mfakit_backup_codes"
        constraints = [
            models.UniqueConstraint(fields=["user_id", "lookup"], name="mfakit_backup_user_lookup")
        ]


class Counter(models.Model):
    """A limit counter, updated by compare-and-set on `version`."""

    key = models.CharField(max_length=_KEY, primary_key=True)
    count = models.IntegerField()
    window_start = models.DateTimeField()
    updated_at = models.DateTimeField()
    version = models.BigIntegerField()

    class Meta:
        db_table = "mfakit_counters"


class Challenge(models.Model):
    """A second-factor challenge, updated by compare-and-set on `version`."""

    id = models.CharField(max_length=_ID, primary_key=True)
    user_id = models.CharField(max_length=_USER)
    purpose = models.CharField(max_length=_ENUM)
    state = models.CharField(max_length=_ENUM)
    methods = models.CharField(max_length=255)
    method = models.CharField(max_length=_ENUM)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    attempts = models.IntegerField()
    alternatives_locked = models.BooleanField()
    code_hash = models.BinaryField(null=True)
    code_key_id = models.CharField(max_length=_ID, null=True)
    code_sent_at = models.DateTimeField(null=True)
    destination = models.CharField(max_length=_VALUE, null=True)
    code_length = models.IntegerField()
    sends = models.IntegerField()
    target_kind = models.CharField(max_length=_ENUM, null=True)
    target_value = models.CharField(max_length=_VALUE, null=True)
    actor_id = models.CharField(max_length=_USER, null=True)
    tenant = models.CharField(max_length=_USER, null=True)
    message_id = models.CharField(max_length=_ID, null=True)
    delivery = models.CharField(max_length=_ENUM, null=True)
    delivery_error = models.CharField(max_length=64, null=True)
    version = models.BigIntegerField()

    class Meta:
        db_table = "mfakit_challenges"
        indexes = [models.Index(fields=["message_id"], name="mfakit_challenge_message")]


class Contact(models.Model):
    """A user's phone number or email address (one of each kind)."""

    user_id = models.CharField(max_length=_USER)
    kind = models.CharField(max_length=_ENUM)
    value = models.CharField(max_length=_VALUE)
    created_at = models.DateTimeField()
    verified_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "mfakit_contacts"
        constraints = [
            models.UniqueConstraint(fields=["user_id", "kind"], name="mfakit_contact_user_kind")
        ]


class SecurityQuestion(models.Model):
    """A user's security question and the argon2 hash of the answer."""

    user_id = models.CharField(max_length=_USER, primary_key=True)
    question = models.CharField(max_length=255)
    answer_hash = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        db_table = "mfakit_security_questions"


class TrustedDevice(models.Model):
    """A device the user chose to trust; revoked ones are kept for the list."""

    user_id = models.CharField(max_length=_USER)
    device_id = models.CharField(max_length=_ID)
    label = models.CharField(max_length=255)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    security_version = models.BigIntegerField()
    last_used_at = models.DateTimeField(null=True)
    revoked_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "mfakit_trusted_devices"
        constraints = [
            models.UniqueConstraint(fields=["user_id", "device_id"], name="mfakit_device_user_id")
        ]


class UserState(models.Model):
    """A user's security version (stales trusted devices) and preferences."""

    user_id = models.CharField(max_length=_USER, primary_key=True)
    security_version = models.BigIntegerField(default=0)
    preferred_method = models.CharField(max_length=_ENUM, null=True)
    updated_at = models.DateTimeField(null=True)
    locale = models.CharField(max_length=_LOCALE, null=True)

    class Meta:
        db_table = "mfakit_user_state"


class AuditEvent(models.Model):
    """One security event of the audit trail (never a secret); `seq` orders
    a user's events and pages them."""

    seq = models.BigAutoField(primary_key=True)
    event_id = models.CharField(max_length=_ID, unique=True)
    at = models.DateTimeField()
    action = models.CharField(max_length=64)
    subject_id = models.CharField(max_length=_USER)
    actor_id = models.CharField(max_length=_USER, null=True)
    method = models.CharField(max_length=_ENUM, null=True)
    outcome = models.CharField(max_length=_ENUM)
    reason = models.CharField(max_length=64, null=True)
    ip = models.CharField(max_length=64, null=True)
    user_agent = models.CharField(max_length=512, null=True)
    tenant = models.CharField(max_length=_ID, null=True)
    details = models.TextField(default="{}")

    class Meta:
        db_table = "mfakit_audit_events"
        indexes = [models.Index(fields=["subject_id", "seq"], name="mfakit_audit_subject")]


class Notice(models.Model):
    """A security notice not yet delivered (S21): queued with the change it
    tells of, deleted once delivered. Never a code or secret; the destination
    is personal data, purged with retention."""

    notice_id = models.CharField(max_length=_ID, primary_key=True)
    user_id = models.CharField(max_length=_USER)
    kind = models.CharField(max_length=64)
    channel = models.CharField(max_length=_ENUM)
    destination = models.CharField(max_length=_VALUE)
    detail = models.CharField(max_length=512)
    locale = models.CharField(max_length=_ENUM, null=True)
    created_at = models.DateTimeField()
    attempts = models.IntegerField()
    next_attempt_at = models.DateTimeField()

    class Meta:
        db_table = "mfakit_notice_outbox"
        indexes = [models.Index(fields=["next_attempt_at"], name="mfakit_notice_due")]


class WebAuthnCredential(models.Model):
    """A passkey or security key: its public key, counter and name. The
    credential id is unique across all users, the name per user."""

    user_id = models.CharField(max_length=_USER)
    factor_id = models.CharField(max_length=_ID)
    credential_id = models.BinaryField(unique=True)
    public_key = models.BinaryField()
    user_handle = models.BinaryField()
    name = models.CharField(max_length=255)
    sign_count = models.BigIntegerField()
    transports = models.CharField(max_length=255)
    aaguid = models.CharField(max_length=36)
    attestation_format = models.CharField(max_length=_ENUM)
    backup_eligible = models.BooleanField()
    backed_up = models.BooleanField()
    discoverable = models.CharField(max_length=_ENUM)
    usage = models.CharField(max_length=255)
    user_verified = models.BooleanField()
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True)
    cloned = models.BooleanField()
    version = models.BigIntegerField()

    class Meta:
        db_table = "mfakit_webauthn_credentials"
        verbose_name = "passkey"
        constraints = [
            models.UniqueConstraint(
                fields=["user_id", "factor_id"], name="mfakit_webauthn_user_factor"
            ),
            models.UniqueConstraint(fields=["user_id", "name"], name="mfakit_webauthn_user_name"),
        ]


class WebAuthnUser(models.Model):
    """A user's random WebAuthn user handle (never the host's user id)."""

    user_id = models.CharField(max_length=_USER, primary_key=True)
    user_handle = models.BinaryField(unique=True)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "mfakit_webauthn_users"


class WebAuthnCeremony(models.Model):
    """A pending WebAuthn ceremony, taken once (`used_at` set atomically)."""

    id = models.CharField(max_length=_ID, primary_key=True)
    kind = models.CharField(max_length=_ENUM)
    user_id = models.CharField(max_length=_USER, null=True)
    challenge = models.BinaryField()
    rp_id = models.CharField(max_length=255)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    user_verification = models.CharField(max_length=_ENUM)
    allowed_credential_ids = models.TextField()
    user_handle = models.BinaryField(null=True)
    name = models.CharField(max_length=255, null=True)
    usage = models.CharField(max_length=255)
    conditional = models.BooleanField()
    challenge_id = models.CharField(max_length=_ID, null=True)
    actor_id = models.CharField(max_length=_USER, null=True)
    tenant = models.CharField(max_length=_USER, null=True)
    used_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "mfakit_webauthn_ceremonies"
