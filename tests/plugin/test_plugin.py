"""The pytest plugin's fixtures, as a user's test suite sees them (pytester)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


def test_fixtures_drive_a_real_flow(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        """
        from mfakit import Actor

        def test_phone_enrolment(mfakit_mfa, mfakit_outbox, mfakit_clock, mfakit_audit):
            actor = Actor.user("u1", reauthenticated_at=mfakit_clock.now())
            sent = mfakit_mfa.begin_phone_enrolment(actor, "u1", "+14155550101")
            code = mfakit_outbox.last_code("+14155550101")
            assert mfakit_mfa.verify(sent.challenge.id, code).ok
            assert any(e.action == "factor.added" for e in mfakit_audit.list_events("u1"))

        def test_policy_override_applies(mfakit_mfa, mfakit_policy):
            assert mfakit_mfa.policy is mfakit_policy
        """
    )
    # In-process: keep the outer session's plugins that hold state (Django is configured
    # once the Django tests were collected) out of the inner one.
    result = pytester.runpytest("-W", "error", "-p", "no:playwright", "-p", "no:django")
    result.assert_outcomes(passed=2)


def test_the_entry_point_loads_the_plugin(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile("def test_x(mfakit_mfa):\n    assert mfakit_mfa.issuer == 'Test App'\n")
    result = pytester.runpytest_subprocess("-W", "error")
    result.assert_outcomes(passed=1)
    disabled = pytester.runpytest_subprocess("-p", "no:mfakit")
    assert disabled.ret != 0
    disabled.stdout.fnmatch_lines(["*fixture 'mfakit_mfa' not found*"])
