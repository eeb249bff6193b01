"""``Policy``: documented defaults, bounds, presets, immutability (L7)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mfakit.core.methods import RESTRICTED_METHODS, Method
from mfakit.core.policy import Policy
from mfakit.errors import InvalidInput

# Numbers from PRODUCT.md and SECURITY.md, written out here rather than read
# from the code.
DOCUMENTED_DEFAULTS: dict[str, Any] = {
    "totp_algorithm": "SHA1",  # F1
    "totp_digits": 6,  # F1
    "totp_period": 30,  # F1, S3
    "totp_window": 1,  # F1, S3
    "backup_code_count": 10,  # F5
    "code_length": 6,  # F2, S7
    "max_attempts": 5,  # S12
    "code_ttl": timedelta(minutes=10),  # F2, S8
    "resend_cooldown": timedelta(seconds=30),  # F2, S15
    "send_quota": 5,  # F2, S15
    "send_window": timedelta(minutes=10),  # F2, S15
    "contact_changes_per_day": 5,  # L4, S16
    "trust_days": 14,  # L2, S30
    "audit_retention_days": None,  # the audit trail is kept unless the host says otherwise
    "reauth_max_age": timedelta(minutes=5),  # L3, S20
    "backoff_ceiling": timedelta(hours=1),  # S13
    "answer_case_sensitive": True,  # F6
    "require_for_roles": frozenset(),  # 2FA optional by default
    "allowed_methods": frozenset(Method),
}


@pytest.mark.parametrize(("field", "expected"), sorted(DOCUMENTED_DEFAULTS.items()))
def test_documented_defaults(field: str, expected: object) -> None:
    assert getattr(Policy(), field) == expected
    assert getattr(Policy.default(), field) == expected


def test_default_lockout_is_within_the_s13_maximum() -> None:
    policy = Policy()
    assert 1 <= policy.lockout_after <= 100
    assert 1 <= policy.free_failures <= policy.lockout_after
    assert policy.backoff_base <= policy.backoff_ceiling


BAD_VALUES = [
    ("totp_algorithm", "MD5"),
    ("totp_algorithm", "sha-1"),
    ("totp_algorithm", ""),
    ("totp_digits", 7),
    ("totp_digits", 5),
    ("totp_digits", 10),
    ("totp_digits", True),
    ("totp_digits", "6"),
    ("totp_period", 121),
    ("totp_period", 14),
    ("totp_period", 0),
    ("totp_period", True),
    ("totp_period", 30.0),
    ("totp_window", 2),
    ("totp_window", -1),
    ("totp_window", True),
    ("max_authenticators", 0),
    ("max_authenticators", 21),
    ("setup_ttl", timedelta(hours=1, seconds=1)),
    ("setup_ttl", timedelta(0)),
    ("setup_ttl", 600),
    ("backup_code_count", 0),
    ("backup_code_count", 21),
    ("backup_code_count", True),
    ("backup_codes_low_at", -1),
    ("backup_codes_low_at", 11),
    ("code_length", 5),
    ("code_length", 11),
    ("code_length", True),
    ("code_length", 6.0),
    ("code_ttl", timedelta(minutes=61)),
    ("code_ttl", timedelta(0)),
    ("code_ttl", timedelta(seconds=-1)),
    ("code_ttl", 600),
    ("max_attempts", 0),
    ("max_attempts", 11),
    ("max_attempts", True),
    ("resend_cooldown", timedelta(minutes=10, seconds=1)),
    ("resend_cooldown", timedelta(0)),
    ("send_quota", 0),
    ("send_quota", 101),
    ("send_window", timedelta(days=1, seconds=1)),
    ("send_window", timedelta(0)),
    ("free_failures", 0),
    ("free_failures", 51),  # above the default lockout_after
    ("backoff_base", timedelta(0)),
    ("backoff_base", timedelta(hours=1, seconds=1)),
    ("backoff_ceiling", timedelta(hours=1, seconds=1)),
    ("backoff_ceiling", timedelta(seconds=29)),  # below the default backoff_base
    ("lockout_after", 0),
    ("lockout_after", 101),
    ("lockout_after", True),
    ("reauth_max_age", timedelta(minutes=21)),
    ("reauth_max_age", timedelta(minutes=20, microseconds=1)),
    ("reauth_max_age", timedelta(0)),
    ("reauth_max_age", 300),
    ("trust_days", 0),
    ("trust_days", 366),
    ("trust_days", True),
    ("trust_days", 14.0),
    ("trust_days", "14"),
    ("audit_retention_days", 0),
    ("audit_retention_days", 36_501),
    ("audit_retention_days", True),
    ("audit_retention_days", 30.0),
    ("audit_retention_days", "30"),
    ("contact_changes_per_day", 0),
    ("contact_changes_per_day", 101),
    ("allow_restricted_only", 1),
    ("allow_restricted_only", None),
    ("question_guards_alternatives", "yes"),
    ("answer_case_sensitive", 0),
    ("answer_trim", "false"),
    ("require_for_roles", "staff"),
    ("require_for_roles", {""}),
    ("require_for_roles", {1}),
    ("require_for_roles", {"x" * 65}),
    ("require_for_roles", 5),
    ("allowed_methods", frozenset()),
    ("allowed_methods", {"fax"}),
    ("allowed_methods", "totp"),
    ("allowed_methods", None),
]


@pytest.mark.parametrize(("field", "value"), BAD_VALUES, ids=[f"{f}={v!r}" for f, v in BAD_VALUES])
def test_bounds_are_refused_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(InvalidInput) as info:
        Policy(**{field: value})
    assert info.value.field == field
    assert str(info.value).startswith(field)


@pytest.mark.parametrize("value", [6.0, 8.0])
def test_float_totp_digits_refused(value: float) -> None:
    with pytest.raises(InvalidInput):
        Policy(totp_digits=value)  # type: ignore[arg-type]


def test_unhashable_totp_algorithm_refused() -> None:
    with pytest.raises(InvalidInput):
        Policy(totp_algorithm=["SHA1"])  # type: ignore[arg-type]


GOOD_EDGES = [
    ("totp_algorithm", "SHA256"),
    ("totp_algorithm", "SHA512"),
    ("totp_digits", 8),
    ("totp_period", 120),
    ("totp_period", 15),
    ("totp_window", 0),
    ("trust_days", 1),
    ("trust_days", 365),
    ("audit_retention_days", 1),
    ("audit_retention_days", 36_500),
    ("audit_retention_days", None),
    ("lockout_after", 100),
    ("reauth_max_age", timedelta(minutes=20)),
    ("code_length", 10),
    ("code_length", 8),
    ("max_attempts", 10),
    ("backup_code_count", 20),
    ("code_ttl", timedelta(hours=1)),
    ("backoff_ceiling", timedelta(seconds=30)),
    ("require_for_roles", ["staff", "client"]),
    ("allowed_methods", ["totp", "backup_code"]),
]


@pytest.mark.parametrize(("field", "value"), GOOD_EDGES, ids=[f"{f}={v!r}" for f, v in GOOD_EDGES])
def test_bounds_themselves_are_accepted(field: str, value: object) -> None:
    Policy(**{field: value})


def test_collections_are_frozen_and_methods_coerced() -> None:
    policy = Policy(require_for_roles=["staff", "staff"], allowed_methods=["totp", "sms"])
    assert policy.require_for_roles == frozenset({"staff"})
    assert isinstance(policy.require_for_roles, frozenset)
    assert policy.allowed_methods == frozenset({Method.TOTP, Method.SMS})
    assert isinstance(policy.allowed_methods, frozenset)


def test_nist_preset_excludes_sms_voice_and_email() -> None:
    nist = Policy.nist()
    assert not {Method.SMS, Method.VOICE, Method.EMAIL} & nist.allowed_methods
    assert not RESTRICTED_METHODS & nist.allowed_methods
    assert Method.TOTP in nist.allowed_methods
    assert Method.BACKUP_CODE in nist.allowed_methods
    assert nist.allow_restricted_only is False
    assert nist.lockout_after <= 100
    assert nist.reauth_max_age <= timedelta(minutes=20)
    assert Policy.nist(require_for_roles=["staff"]).require_for_roles == frozenset({"staff"})


def test_restricted_methods_are_sms_and_voice() -> None:
    # NIST SP 800-63B 5.2.10 calls the PSTN channels restricted (S25).
    assert frozenset({Method.SMS, Method.VOICE}) == RESTRICTED_METHODS


def test_policy_is_frozen() -> None:
    policy = Policy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.trust_days = 30  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.allowed_methods = frozenset({Method.SMS})  # type: ignore[misc]
    assert policy.trust_days == 14
    assert hash(policy) == hash(Policy())
    assert policy == Policy()


def test_replace_returns_a_validated_copy() -> None:
    policy = Policy()
    longer = policy.replace(trust_days=30)
    assert longer.trust_days == 30
    assert policy.trust_days == 14
    with pytest.raises(InvalidInput) as info:
        policy.replace(trust_days=366)
    assert info.value.field == "trust_days"
    with pytest.raises(InvalidInput):
        dataclasses.replace(policy, totp_period=121)
    with pytest.raises(TypeError):
        policy.replace(no_such_field=1)


def test_cross_field_checks_follow_replace() -> None:
    # free_failures may not exceed lockout_after, whichever is changed.
    policy = Policy(lockout_after=10, free_failures=10)
    with pytest.raises(InvalidInput) as info:
        policy.replace(lockout_after=9)
    assert info.value.field == "free_failures"
    with pytest.raises(InvalidInput) as info:
        Policy(backup_code_count=3, backup_codes_low_at=4)
    assert info.value.field == "backup_codes_low_at"


def test_requires_2fa() -> None:
    policy = Policy(require_for_roles={"staff"})
    assert policy.requires_2fa("staff")
    assert not policy.requires_2fa("client")
    assert not policy.requires_2fa(None)
    assert not Policy().requires_2fa("staff")


@given(
    period=st.integers(-10, 200),
    digits=st.integers(0, 12),
    trust=st.integers(-5, 400),
    lockout=st.integers(-5, 150),
)
def test_any_policy_that_builds_is_within_bounds(
    period: int, digits: int, trust: int, lockout: int
) -> None:
    try:
        policy = Policy(
            totp_period=period,
            totp_digits=digits,
            trust_days=trust,
            lockout_after=lockout,
            free_failures=1,
        )
    except InvalidInput:
        assert not (15 <= period <= 120 and digits in (6, 8) and 1 <= trust <= 365) or not (
            1 <= lockout <= 100
        )
    else:
        assert 15 <= policy.totp_period <= 120
        assert policy.totp_digits in (6, 8)
        assert 1 <= policy.trust_days <= 365
        assert 1 <= policy.lockout_after <= 100
