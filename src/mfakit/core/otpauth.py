"""`otpauth://` provisioning URIs and their QR codes.

The URI follows the Key Uri Format every authenticator app reads:

```text
otpauth://totp/ISSUER:ACCOUNT?secret=BASE32NOPAD&issuer=ISSUER&algorithm=SHA1&digits=6&period=30
```

Issuer and account are percent-encoded, may not contain `':'` and the
`issuer` parameter repeats the label prefix. QR codes are drawn by segno
(imported only when a QR code is asked for).
"""

from __future__ import annotations

import io
from urllib.parse import quote

from ..errors import InvalidInput
from .validation import check_text

__all__ = ["compatibility_warnings", "otpauth_uri", "qr_data_uri", "qr_png", "qr_svg", "qr_text"]

MAX_NAME_LENGTH = 128


def _name(field: str, value: object) -> str:
    text = check_text(field, value, max_length=MAX_NAME_LENGTH)
    if ":" in text:
        raise InvalidInput(field, "must not contain ':' (it separates issuer and account)")
    return text


def otpauth_uri(
    *,
    secret: str,
    issuer: str,
    account: str,
    algorithm: str = "SHA1",
    digits: int = 6,
    period: int = 30,
) -> str:
    """Build the provisioning URI. `secret` is base32 without padding."""
    iss = quote(_name("issuer", issuer), safe="")
    acc = quote(_name("account_name", account), safe="")
    return (
        f"otpauth://totp/{iss}:{acc}?secret={secret}&issuer={iss}"
        f"&algorithm={algorithm}&digits={digits}&period={period}"
    )


def compatibility_warnings(algorithm: str, digits: int, period: int) -> tuple[str, ...]:
    """Say which non-default parameters some authenticator apps ignore."""
    notes = []
    if algorithm != "SHA1":
        notes.append(f"algorithm {algorithm}: some apps ignore it and compute SHA1 codes")
    if digits != 6:
        notes.append(f"{digits} digits: some apps ignore it and show 6")
    if period != 30:
        notes.append(f"period {period} s: some apps ignore it and use 30 s")
    return tuple(notes)


def _qr(uri: str):  # type: ignore[no-untyped-def]  # segno ships no type hints
    import segno

    return segno.make(uri, error="m", micro=False)


def qr_svg(uri: str, *, scale: int = 4) -> str:
    """The QR code as an inline SVG document (text)."""
    out = io.BytesIO()
    _qr(uri).save(out, kind="svg", scale=scale, xmldecl=False, svgns=True, nl=False)
    return out.getvalue().decode("utf-8")


def qr_png(uri: str, *, scale: int = 6) -> bytes:
    """The QR code as PNG bytes."""
    out = io.BytesIO()
    _qr(uri).save(out, kind="png", scale=scale)
    return out.getvalue()


def qr_data_uri(uri: str, *, scale: int = 6) -> str:
    """The QR code as a `data:image/png;base64,...` URI for an `<img src>`."""
    return str(_qr(uri).png_data_uri(scale=scale))


def qr_text(uri: str) -> str:
    """The QR code drawn with Unicode half blocks, for a terminal."""
    out = io.StringIO()
    _qr(uri).terminal(out=out, compact=True, border=2)
    return out.getvalue()
