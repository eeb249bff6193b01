"""mfakit: complete two-factor authentication for any Python web application.

The public API is re-exported here; everything else is reachable from its
module. Importing mfakit does no work: no storage engine, network client or
environment variable is touched until you build an [`MFA`][mfakit.MFA].
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the names, for type checkers and docs; loaded on first use
    from .aio import AsyncMFA as AsyncMFA
    from .core.actor import Actor as Actor
    from .core.actor import ActorKind as ActorKind
    from .core.audit import Action as Action
    from .core.audit import Outcome as Outcome
    from .core.audit import RequestContext as RequestContext
    from .core.challenge import Purpose as Purpose
    from .core.challenge import State as State
    from .core.contacts import ContactKind as ContactKind
    from .core.contacts import normalize_email as normalize_email
    from .core.contacts import normalize_phone as normalize_phone
    from .core.keys import Keyring as Keyring
    from .core.messages import Templates as Templates
    from .core.messages import Texts as Texts
    from .core.methods import Method as Method
    from .core.policy import Policy as Policy
    from .core.records import AuditRecord as AuditRecord
    from .core.records import KeyUse as KeyUse
    from .core.results import AnswerResult as AnswerResult
    from .core.results import AuthenticatorInfo as AuthenticatorInfo
    from .core.results import BackupCodes as BackupCodes
    from .core.results import Challenge as Challenge
    from .core.results import ChallengeRequired as ChallengeRequired
    from .core.results import Contact as Contact
    from .core.results import ContactChangeStart as ContactChangeStart
    from .core.results import Contacts as Contacts
    from .core.results import DeviceInfo as DeviceInfo
    from .core.results import EnrollmentRequired as EnrollmentRequired
    from .core.results import ExpectedCode as ExpectedCode
    from .core.results import FactorInfo as FactorInfo
    from .core.results import KeyRotation as KeyRotation
    from .core.results import KeyUsage as KeyUsage
    from .core.results import PasskeyInfo as PasskeyInfo
    from .core.results import PasskeyOptions as PasskeyOptions
    from .core.results import PasskeyRegistration as PasskeyRegistration
    from .core.results import PasskeySignIn as PasskeySignIn
    from .core.results import Reason as Reason
    from .core.results import Satisfied as Satisfied
    from .core.results import SendResult as SendResult
    from .core.results import SignInStart as SignInStart
    from .core.results import SignInStatus as SignInStatus
    from .core.results import StepUpChallenge as StepUpChallenge
    from .core.results import StepUpNotNeeded as StepUpNotNeeded
    from .core.results import StepUpStart as StepUpStart
    from .core.results import StepUpStatus as StepUpStatus
    from .core.results import TotpConfirmation as TotpConfirmation
    from .core.results import TotpSetup as TotpSetup
    from .core.results import VerifyResult as VerifyResult
    from .core.webauthn import RelyingParty as RelyingParty
    from .errors import CallbackRejected as CallbackRejected
    from .errors import ConfigurationError as ConfigurationError
    from .errors import ConflictingState as ConflictingState
    from .errors import DeliveryError as DeliveryError
    from .errors import DeliveryUncertain as DeliveryUncertain
    from .errors import DestinationOptedOut as DestinationOptedOut
    from .errors import InvalidDestination as InvalidDestination
    from .errors import InvalidInput as InvalidInput
    from .errors import MfaError as MfaError
    from .errors import NotFound as NotFound
    from .errors import NotPermitted as NotPermitted
    from .errors import ProviderAuthError as ProviderAuthError
    from .errors import ProviderError as ProviderError
    from .errors import ProviderRateLimited as ProviderRateLimited
    from .errors import ReauthenticationRequired as ReauthenticationRequired
    from .errors import StepUpRequired as StepUpRequired
    from .errors import StorageError as StorageError
    from .hashers import Argon2Hasher as Argon2Hasher
    from .hashers import Hasher as Hasher
    from .hashers import Pbkdf2Hasher as Pbkdf2Hasher
    from .i18n import Messages as Messages
    from .i18n import texts as texts
    from .keygen import generate_secret_key as generate_secret_key
    from .mfa import MFA as MFA
    from .ports.clock import Clock as Clock
    from .ports.clock import SystemClock as SystemClock
    from .ports.policies import PolicyResolver as PolicyResolver
    from .ports.policies import StaticPolicies as StaticPolicies
    from .ports.policies import UserPolicyResolver as UserPolicyResolver

# Where each public name lives: `import mfakit` loads none of them (issue 13: it
# took 80-180 ms); `from mfakit import MFA` loads what MFA needs.
_EXPORTS: dict[str, str] = {
    "AsyncMFA": ".aio",
    "Actor": ".core.actor",
    "ActorKind": ".core.actor",
    "Action": ".core.audit",
    "Outcome": ".core.audit",
    "RequestContext": ".core.audit",
    "Purpose": ".core.challenge",
    "State": ".core.challenge",
    "ContactKind": ".core.contacts",
    "normalize_email": ".core.contacts",
    "normalize_phone": ".core.contacts",
    "Keyring": ".core.keys",
    "Templates": ".core.messages",
    "Texts": ".core.messages",
    "Method": ".core.methods",
    "Policy": ".core.policy",
    "AuditRecord": ".core.records",
    "KeyUse": ".core.records",
    "AnswerResult": ".core.results",
    "AuthenticatorInfo": ".core.results",
    "BackupCodes": ".core.results",
    "Challenge": ".core.results",
    "ChallengeRequired": ".core.results",
    "Contact": ".core.results",
    "ContactChangeStart": ".core.results",
    "Contacts": ".core.results",
    "DeviceInfo": ".core.results",
    "EnrollmentRequired": ".core.results",
    "ExpectedCode": ".core.results",
    "FactorInfo": ".core.results",
    "KeyRotation": ".core.results",
    "KeyUsage": ".core.results",
    "PasskeyInfo": ".core.results",
    "PasskeyOptions": ".core.results",
    "PasskeyRegistration": ".core.results",
    "PasskeySignIn": ".core.results",
    "Reason": ".core.results",
    "Satisfied": ".core.results",
    "SendResult": ".core.results",
    "SignInStart": ".core.results",
    "SignInStatus": ".core.results",
    "StepUpChallenge": ".core.results",
    "StepUpNotNeeded": ".core.results",
    "StepUpStart": ".core.results",
    "StepUpStatus": ".core.results",
    "TotpConfirmation": ".core.results",
    "TotpSetup": ".core.results",
    "VerifyResult": ".core.results",
    "RelyingParty": ".core.webauthn",
    "CallbackRejected": ".errors",
    "ConfigurationError": ".errors",
    "ConflictingState": ".errors",
    "DeliveryError": ".errors",
    "DeliveryUncertain": ".errors",
    "DestinationOptedOut": ".errors",
    "InvalidDestination": ".errors",
    "InvalidInput": ".errors",
    "MfaError": ".errors",
    "NotFound": ".errors",
    "NotPermitted": ".errors",
    "ProviderAuthError": ".errors",
    "ProviderError": ".errors",
    "ProviderRateLimited": ".errors",
    "ReauthenticationRequired": ".errors",
    "StepUpRequired": ".errors",
    "StorageError": ".errors",
    "Argon2Hasher": ".hashers",
    "Hasher": ".hashers",
    "Pbkdf2Hasher": ".hashers",
    "Messages": ".i18n",
    "texts": ".i18n",
    "generate_secret_key": ".keygen",
    "MFA": ".mfa",
    "Clock": ".ports.clock",
    "SystemClock": ".ports.clock",
    "PolicyResolver": ".ports.policies",
    "StaticPolicies": ".ports.policies",
    "UserPolicyResolver": ".ports.policies",
}


__version__ = "0.1.0"

__all__ = [
    "MFA",
    "Action",
    "Actor",
    "ActorKind",
    "AnswerResult",
    "Argon2Hasher",
    "AsyncMFA",
    "AuditRecord",
    "AuthenticatorInfo",
    "BackupCodes",
    "CallbackRejected",
    "Challenge",
    "ChallengeRequired",
    "Clock",
    "ConfigurationError",
    "ConflictingState",
    "Contact",
    "ContactChangeStart",
    "ContactKind",
    "Contacts",
    "DeliveryError",
    "DeliveryUncertain",
    "DestinationOptedOut",
    "DeviceInfo",
    "EnrollmentRequired",
    "ExpectedCode",
    "FactorInfo",
    "Hasher",
    "InvalidDestination",
    "InvalidInput",
    "KeyRotation",
    "KeyUsage",
    "KeyUse",
    "Keyring",
    "Messages",
    "Method",
    "MfaError",
    "NotFound",
    "NotPermitted",
    "Outcome",
    "PasskeyInfo",
    "PasskeyOptions",
    "PasskeyRegistration",
    "PasskeySignIn",
    "Pbkdf2Hasher",
    "Policy",
    "PolicyResolver",
    "ProviderAuthError",
    "ProviderError",
    "ProviderRateLimited",
    "Purpose",
    "Reason",
    "ReauthenticationRequired",
    "RelyingParty",
    "RequestContext",
    "Satisfied",
    "SendResult",
    "SignInStart",
    "SignInStatus",
    "State",
    "StaticPolicies",
    "StepUpChallenge",
    "StepUpNotNeeded",
    "StepUpRequired",
    "StepUpStart",
    "StepUpStatus",
    "StorageError",
    "SystemClock",
    "Templates",
    "Texts",
    "TotpConfirmation",
    "TotpSetup",
    "UserPolicyResolver",
    "VerifyResult",
    "generate_secret_key",
    "normalize_email",
    "normalize_phone",
    "texts",
]


def __getattr__(name: str) -> object:
    """A public name, imported from its module on first use (then cached in
    this module's namespace); a submodule (`mfakit.errors`) as well."""
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module, __name__), name)
        globals()[name] = value
        return value
    if not name.startswith("_"):
        try:
            return importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
