"""A `BreachedPasswords` over the Pwned Passwords
range API (https://haveibeenpwned.com/API/v3#PwnedPasswords), standard library
only.

k-anonymity: the password's SHA-1 is computed here; only its first five hex
digits are sent (`GET <url><PREFIX>`); the service answers every known
suffix with that prefix (`SUFFIX:COUNT` lines) and the comparison happens
here. With `Add-Padding: true` the answer is padded with fake suffixes of
count 0, so its size does not tell the prefix either; those are ignored.

SHA-1 is the protocol's, not a choice: it is never used to store anything.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from ..core.validation import check_encodable
from ..errors import ConfigurationError, InvalidInput
from ..ports.breached import BreachCheckUnavailable

__all__ = ["DEFAULT_URL", "PwnedPasswords"]

DEFAULT_URL = "https://api.pwnedpasswords.com/range/"
MAX_RESPONSE_BYTES = 2_000_000  # a padded range is ~30-40 KB; a runaway body stops here


class PwnedPasswords:
    """`PwnedPasswords()` asks api.pwnedpasswords.com with a 3 s timeout.

    `min_count` ignores passwords seen fewer times (1: any breach). `url`
    points at another server that speaks the same protocol (a mirror, or a
    test server); it must end with `/` and be http(s).
    """

    def __init__(
        self,
        *,
        url: str = DEFAULT_URL,
        timeout: float = 3.0,
        min_count: int = 1,
        user_agent: str = "mfakit-breach-check",
    ) -> None:
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise ConfigurationError("url must be an http(s) URL")
        if not url.endswith("/"):
            raise ConfigurationError("url must end with '/' (the prefix is appended)")
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not (0 < timeout <= 60)
        ):
            raise ConfigurationError("timeout must be a number of seconds from 0 to 60")
        if type(min_count) is not int or min_count < 1:
            raise ConfigurationError("min_count must be an int of at least 1")
        self._url = url
        self._timeout = float(timeout)
        self._min_count = min_count
        self._user_agent = user_agent

    def __repr__(self) -> str:
        return f"PwnedPasswords(url={self._url!r}, timeout={self._timeout})"

    def is_breached(self, password: str) -> bool:
        if not isinstance(password, str) or not password:
            raise InvalidInput("password", "must be a non-empty str")
        check_encodable("password", password)
        digest = hashlib.sha1(password.encode("utf-8"), usedforsecurity=False).hexdigest()
        prefix, suffix = digest[:5].upper(), digest[5:].upper()
        count = 0
        for line in self._range(prefix).splitlines():
            candidate, _, seen = line.partition(":")
            if hmac.compare_digest(candidate.strip().upper().encode(), suffix.encode()):
                try:
                    count = int(seen.strip())
                except ValueError:
                    raise BreachCheckUnavailable("malformed Pwned Passwords response") from None
        return count >= self._min_count

    def _range(self, prefix: str) -> str:
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked in __init__)
            self._url + prefix,
            headers={"Add-Padding": "true", "User-Agent": self._user_agent},
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                body: bytes = response.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            exc.close()  # it holds the response: release its socket now
            raise BreachCheckUnavailable(
                f"the Pwned Passwords range request was answered HTTP {exc.code}"
            ) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            raise BreachCheckUnavailable(
                f"the Pwned Passwords range request failed ({type(exc).__name__})"
            ) from exc
        if len(body) > MAX_RESPONSE_BYTES:
            raise BreachCheckUnavailable("the Pwned Passwords response is too large")
        try:
            return body.decode("ascii")
        except UnicodeDecodeError:
            raise BreachCheckUnavailable("malformed Pwned Passwords response") from None
