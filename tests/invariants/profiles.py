"""Hypothesis settings for the whole-library invariant tests.

Two profiles are registered: ``invariants`` (the default, sized for every
``pytest`` run) and ``nightly`` (many more and longer examples). Pick one with
the environment variable ``MFAKIT_HYPOTHESIS_PROFILE``::

    MFAKIT_HYPOTHESIS_PROFILE=nightly .venv/bin/python -m pytest tests/invariants

The profiles are applied to these tests only (``settings.load_profile`` is
never called), so the rest of the suite keeps Hypothesis' defaults.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

__all__ = ["ENV", "PROFILE", "fuzz_settings", "machine_settings"]

ENV = "MFAKIT_HYPOTHESIS_PROFILE"

_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}

settings.register_profile(
    "invariants", max_examples=40, stateful_step_count=30, print_blob=True, **_COMMON
)
settings.register_profile(
    "nightly", max_examples=1000, stateful_step_count=80, print_blob=True, **_COMMON
)

PROFILE = os.environ.get(ENV, "").strip() or "invariants"
if PROFILE not in ("invariants", "nightly"):
    raise RuntimeError(f"{ENV} must be 'invariants' or 'nightly', not {PROFILE!r}")


def machine_settings() -> settings:
    """Settings for the stateful machines."""
    return settings.get_profile(PROFILE)


def fuzz_settings(default_examples: int) -> settings:
    """Settings for one fuzz test: ``default_examples`` normally, 20x nightly."""
    examples = default_examples * (20 if PROFILE == "nightly" else 1)
    return settings(settings.get_profile(PROFILE), max_examples=examples)
