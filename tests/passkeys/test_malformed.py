"""Malformed input of any shape is a refusal value, never an exception, never stored.

Hypothesis throws arbitrary JSON, credentials with fields swapped for random
values, and real responses with bytes changed at random at both verifiers.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mfakit import Policy, Reason
from mfakit.passkeys import assertion_credential_id, verify_authentication, verify_registration
from mfakit.testing.webauthn import SoftwareAuthenticator

from .conftest import ORIGIN

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
b64_text = st.binary(max_size=80).map(lambda b: base64.urlsafe_b64encode(b).decode().rstrip("="))
field_values = json_values | b64_text | st.text(alphabet="ABCxyz09-_=+/ ", max_size=30)

REGISTRATION_FIELDS = ["id", "rawId", "type", "response", "clientExtensionResults"]
REGISTRATION_RESPONSE = ["clientDataJSON", "attestationObject", "transports"]
ASSERTION_FIELDS = ["id", "rawId", "type", "response"]
ASSERTION_RESPONSE = ["clientDataJSON", "authenticatorData", "signature", "userHandle"]


@pytest.fixture
def registration(begin_registration: Callable[..., Any]) -> tuple[Any, dict[str, Any]]:
    pending = begin_registration(passwordless=True)
    return pending, SoftwareAuthenticator().create(pending.options_json, origin=ORIGIN)


@pytest.fixture
def assertion(
    register: Callable[..., Any], begin_authentication: Callable[..., Any]
) -> tuple[Any, Any, dict[str, Any]]:
    device = SoftwareAuthenticator()
    record = register(device, passwordless=True)
    pending = begin_authentication([record])
    return pending, record, device.get(pending.options_json, origin=ORIGIN)


def _register(rp: Any, pending: Any, value: object, now: datetime) -> Any:
    outcome = verify_registration(rp, pending.ceremony, value, factor_id="f-1", now=now)
    assert outcome.ok is (outcome.reason is None) and outcome.ok is (outcome.credential is not None)
    return outcome


def _authenticate(
    rp: Any, policy: Policy, pending: Any, value: object, record: Any, now: datetime
) -> Any:
    outcome = verify_authentication(rp, policy, pending.ceremony, value, credential=record, now=now)
    assert outcome.ok is (outcome.reason is None) and outcome.ok is (outcome.credential is not None)
    return outcome


@SETTINGS
@given(value=json_values | st.binary(max_size=64) | st.text(max_size=64))
def test_any_json_value_is_a_refusal(
    rp: Any, policy: Policy, now: datetime, registration: Any, assertion: Any, value: Any
) -> None:
    pending, _ = registration
    assert _register(rp, pending, value, now).reason is Reason.MALFORMED_CREDENTIAL
    for text in (value, json.dumps(value) if not isinstance(value, bytes) else value):
        auth_pending, record, _ = assertion
        assert not _authenticate(rp, policy, auth_pending, text, record, now).ok
        assert assertion_credential_id(text) is None


@SETTINGS
@given(data=st.data())
def test_a_registration_with_fields_swapped_is_refused(
    rp: Any, now: datetime, registration: Any, data: st.DataObject
) -> None:
    pending, response = registration
    forged = copy.deepcopy(response)
    for _ in range(data.draw(st.integers(1, 3))):
        if data.draw(st.booleans()):
            forged[data.draw(st.sampled_from(REGISTRATION_FIELDS))] = data.draw(field_values)
        elif isinstance(forged.get("response"), dict):
            forged["response"][data.draw(st.sampled_from(REGISTRATION_RESPONSE))] = data.draw(
                field_values
            )
    outcome = _register(rp, pending, forged, now)
    # Only the transports list and the extension results are not signed: a change to
    # anything else is refused (unknown transports are skipped, as the spec asks).
    if outcome.ok:
        changed = {k for k in response if forged.get(k) != response[k]}
        assert changed <= {"clientExtensionResults", "response"}
        if "response" in changed:
            assert {
                k
                for k in response["response"]
                if forged["response"].get(k) != response["response"][k]
            } <= {"transports"}


@SETTINGS
@given(data=st.data())
def test_an_assertion_with_fields_swapped_is_refused(
    rp: Any, policy: Policy, now: datetime, assertion: Any, data: st.DataObject
) -> None:
    pending, record, response = assertion
    forged = copy.deepcopy(response)
    for _ in range(data.draw(st.integers(1, 3))):
        if data.draw(st.booleans()):
            forged[data.draw(st.sampled_from(ASSERTION_FIELDS))] = data.draw(field_values)
        elif isinstance(forged.get("response"), dict):
            forged["response"][data.draw(st.sampled_from(ASSERTION_RESPONSE))] = data.draw(
                field_values
            )
    outcome = _authenticate(rp, policy, pending, forged, record, now)
    if outcome.ok:  # only a missing or equal user handle is not signed
        assert forged["id"] == response["id"] and forged["type"] == "public-key"
        fields = forged["response"]
        for key in ("clientDataJSON", "authenticatorData", "signature"):
            assert fields[key] == response["response"][key]


def _mutate(data: st.DataObject, raw: bytes) -> bytes:
    mutated = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        at = data.draw(st.integers(0, max(len(mutated) - 1, 0)))
        if kind == "flip" and mutated:
            mutated[at] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "cut":
            del mutated[at : at + data.draw(st.integers(1, 8))]
        else:
            mutated[at:at] = data.draw(st.binary(min_size=1, max_size=8))
    return bytes(mutated)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _raw(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@SETTINGS
@given(data=st.data(), field=st.sampled_from(["clientDataJSON", "attestationObject"]))
def test_a_registration_with_bytes_changed_never_raises(
    rp: Any, now: datetime, registration: Any, data: st.DataObject, field: str
) -> None:
    pending, response = registration
    forged = copy.deepcopy(response)
    original = _raw(response["response"][field])
    mutated = _mutate(data, original)
    forged["response"][field] = _b64(mutated)
    outcome = _register(rp, pending, forged, now)
    if outcome.ok and mutated != original and field == "clientDataJSON":
        # Unsigned under "none" attestation, the client data may change only where it
        # means nothing (an unknown key): what it says must be what was expected.
        said, meant = json.loads(mutated), json.loads(original)
        for key in ("type", "challenge", "origin"):
            assert said[key] == meant[key]
        assert said.get("crossOrigin", False) is False


@SETTINGS
@given(
    data=st.data(),
    field=st.sampled_from(["clientDataJSON", "authenticatorData", "signature", "userHandle"]),
)
def test_an_assertion_with_bytes_changed_is_refused(
    rp: Any, policy: Policy, now: datetime, assertion: Any, data: st.DataObject, field: str
) -> None:
    pending, record, response = assertion
    original = _raw(response["response"][field])
    mutated = _mutate(data, original)
    forged = copy.deepcopy(response)
    forged["response"][field] = _b64(mutated)
    outcome = _authenticate(rp, policy, pending, forged, record, now)
    if mutated != original:
        assert not outcome.ok


def test_oversized_json_is_refused_unread(
    rp: Any, policy: Policy, now: datetime, registration: Any, assertion: Any
) -> None:
    pending, response = registration
    padded = dict(response, padding="x" * 70_000)
    assert _register(rp, pending, json.dumps(padded), now).reason is Reason.MALFORMED_CREDENTIAL
    assert _register(rp, pending, json.dumps(padded).encode(), now).reason is (
        Reason.MALFORMED_CREDENTIAL
    )
    assert _register(rp, pending, json.dumps(response), now).ok  # the same, unpadded
    auth_pending, record, auth_response = assertion
    deep = "[" * 100_000 + "]" * 100_000
    assert not _authenticate(rp, policy, auth_pending, deep[:60_000], record, now).ok
    assert _authenticate(rp, policy, auth_pending, json.dumps(auth_response), record, now).ok
