"""Forging helpers: change one field of a browser's JSON the way an attacker could."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def with_response(credential: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A deep copy with ``response`` fields replaced."""
    forged = copy.deepcopy(credential)
    forged["response"].update(fields)
    return forged


def flip(credential: dict[str, Any], field: str, index: int = -1) -> dict[str, Any]:
    """A copy whose ``response[field]`` has one bit flipped at byte ``index``."""
    raw = bytearray(unb64(credential["response"][field]))
    raw[index] ^= 0x01
    return with_response(credential, **{field: b64(bytes(raw))})


def client_data(credential: dict[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(unb64(credential["response"]["clientDataJSON"]))
    return parsed
