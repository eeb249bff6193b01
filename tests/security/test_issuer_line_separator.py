"""Finding 5.11 of the 0.1.0 attack review: a line separator in ``issuer``.

The issuer goes into every email subject. ``"\\u2028"``, ``"\\x85"`` and the other
separators Python treats as line breaks passed the construction checks (which
refused only ASCII control characters), and then every email failed at send
time with a bare ``ValueError`` from the email package. The issuer and the
template subjects are now refused at construction with ``ConfigurationError``.
"""

from __future__ import annotations

import pytest

import mfakit
from mfakit import MFA, ConfigurationError, Templates
from mfakit.adapters import MemoryStore

SEPARATORS = ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\n", "\r"]


@pytest.mark.parametrize("sep", SEPARATORS, ids=[f"U+{ord(s):04X}" for s in SEPARATORS])
def test_the_issuer_is_refused_at_construction(sep: str) -> None:
    issuer = f"Aesthetix{sep}CRM"
    with pytest.raises(ConfigurationError):
        MFA(store=MemoryStore(), secret_key=mfakit.generate_secret_key(), issuer=issuer)


@pytest.mark.parametrize("sep", SEPARATORS, ids=[f"U+{ord(s):04X}" for s in SEPARATORS])
def test_template_subjects_are_refused_at_construction(sep: str) -> None:
    with pytest.raises(ConfigurationError):
        Templates(email_subject=f"Your code{sep}from {{issuer}}")
    with pytest.raises(ConfigurationError):
        Templates(notices={"factor_added": (f"New factor{sep}", "A factor was added.")})
