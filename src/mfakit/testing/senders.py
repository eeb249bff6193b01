"""The sender contract: what every SMS, voice and email sender must do.

A sender proves itself by inheriting a suite and providing two fixtures:
`sender` (the sender under test) and `received` (a function returning
every message the far end has received so far, oldest first, as
`Received`):

```python
import pytest
from mfakit.testing.senders import Received, SmsSenderContract

class TestMySmsSender(SmsSenderContract):
    @pytest.fixture
    def sender(self, my_test_server):
        return MySmsSender(base_url=my_test_server.url, api_key="test-key")

    @pytest.fixture
    def received(self, my_test_server):
        return lambda: [Received(to=m.to, text=m.body) for m in my_test_server.messages]
```

Optional fixtures widen the suite: `broken_sender` (the same sender
pointed at something that fails, e.g. a closed port: the failure tests run
only with it), `secrets` (strings that must never show in `repr`) and
`destination` (the number or address to send to). Async senders inherit
the `Async...Contract` twins, with the same fixtures (`received` stays a
plain function). Classes here are not named `Test*`, so importing this
module collects nothing by itself. Requires pytest (and pytest-asyncio for
the async suites).

What the suite checks: the message reaches the destination once with its
code; `locale` (and `html` for email) are accepted; the result is a
message id or `None`; malformed input raises
[`InvalidInput`][mfakit.errors.InvalidInput] and sends nothing; a failure raises
[`DeliveryError`][mfakit.errors.DeliveryError] whose message holds neither the code
nor the destination and whose `reason` / `retryable` /
`unusable_destination` are set; `repr` shows no secret; concurrent sends
each arrive exactly once.

[`CodeProviderContract`][mfakit.testing.senders.CodeProviderContract] and its async twin
do the same for a [`CodeProvider`][mfakit.ports.delivery.CodeProvider] (Twilio Verify):
a started code checks once, a wrong or cancelled one never, bad input sends
nothing, failures are typed, concurrent starts each send their own code.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from ..errors import DeliveryError, InvalidInput

__all__ = [
    "AsyncCodeProviderContract",
    "AsyncEmailSenderContract",
    "AsyncSmsSenderContract",
    "AsyncVoiceSenderContract",
    "CodeProviderContract",
    "EmailSenderContract",
    "Received",
    "SmsSenderContract",
    "VoiceSenderContract",
]

CODE = "482913"
CONCURRENT = 8


@dataclass(frozen=True)
class Received:
    """One message as the far end received it."""

    to: str
    text: str
    subject: str | None = None
    html: str | None = None


def digits(text: str) -> str:
    """The digits of `text` in order: a spoken code ("4, 8, 2, ...") as one run."""
    return re.sub(r"[^0-9]", "", text)


def _codes(count: int) -> list[str]:
    return [f"{700001 + 1111 * n:06d}" for n in range(count)]


def _check_failure(exc: DeliveryError, destination: str) -> None:
    message = str(exc)
    assert CODE not in message and CODE not in digits(message)
    assert destination not in message
    assert isinstance(exc.reason, str) and exc.reason
    assert isinstance(exc.retryable, bool)
    assert isinstance(exc.unusable_destination, bool)


class _Fixtures:
    @pytest.fixture
    def secrets(self) -> list[str]:
        """Strings that must never appear in the sender's `repr`."""
        return []

    @pytest.fixture
    def broken_sender(self) -> Any:
        pytest.skip("no broken_sender fixture: the failure tests do not apply")


class _PhoneFixtures(_Fixtures):
    @pytest.fixture
    def destination(self) -> str:
        return "+14155550101"


class _SyncPhoneContract(_PhoneFixtures):
    """The SMS and voice suites; `_send(sender, to, code, **kw)` differs."""

    def _send(self, sender: Any, to: Any, code: str, **kwargs: Any) -> Any:
        raise NotImplementedError

    def test_delivers_the_code_once(
        self, sender: Any, received: Callable[[], list[Received]], destination: str
    ) -> None:
        before = len(received())
        self._send(sender, destination, CODE)
        new = received()[before:]
        assert len(new) == 1
        assert new[0].to == destination
        assert CODE in digits(new[0].text)

    def test_accepts_a_locale(
        self, sender: Any, received: Callable[[], list[Received]], destination: str
    ) -> None:
        before = len(received())
        self._send(sender, destination, CODE, locale="fr")
        assert len(received()) == before + 1

    def test_returns_a_message_id_or_none(self, sender: Any, destination: str) -> None:
        result = self._send(sender, destination, CODE)
        assert result is None or (isinstance(result, str) and result)

    def test_malformed_input_is_refused_and_nothing_goes_out(
        self, sender: Any, received: Callable[[], list[Received]], destination: str
    ) -> None:
        before = len(received())
        with pytest.raises(InvalidInput):
            self._send(sender, 14155550101, CODE)
        with pytest.raises(InvalidInput):
            self._send(sender, destination, CODE, locale=42)
        assert len(received()) == before

    def test_a_failure_is_a_delivery_error_without_code_or_destination(
        self, broken_sender: Any, destination: str
    ) -> None:
        with pytest.raises(DeliveryError) as caught:
            self._send(broken_sender, destination, CODE)
        _check_failure(caught.value, destination)

    def test_repr_shows_no_secret(self, sender: Any, secrets: list[str]) -> None:
        shown = repr(sender)
        for secret in secrets:
            assert secret not in shown

    def test_concurrent_sends_each_arrive_once(
        self, sender: Any, received: Callable[[], list[Received]], destination: str
    ) -> None:
        before = len(received())
        codes = _codes(CONCURRENT)
        errors: list[BaseException] = []
        barrier = threading.Barrier(CONCURRENT)

        def send(code: str) -> None:
            barrier.wait()
            try:
                self._send(sender, destination, code)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=send, args=(code,)) for code in codes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        got = sorted(
            code
            for message in received()[before:]
            for code in codes
            if code in digits(message.text)
        )
        assert got == sorted(codes)


class SmsSenderContract(_SyncPhoneContract):
    """The contract of [`SmsSender`][mfakit.ports.delivery.SmsSender]."""

    def _send(self, sender: Any, to: Any, code: str, **kwargs: Any) -> Any:
        return sender.send_sms(to, f"{code} is your verification code.", **kwargs)


class VoiceSenderContract(_SyncPhoneContract):
    """The contract of [`VoiceSender`][mfakit.ports.delivery.VoiceSender]: the text is
    what mfakit renders for voice, the code's digits one by one."""

    def _send(self, sender: Any, to: Any, code: str, **kwargs: Any) -> Any:
        return sender.send_voice(to, f"Your code is: {', '.join(code)}.", **kwargs)


class _AsyncPhoneContract(_PhoneFixtures):
    async def _send(self, sender: Any, to: Any, code: str, **kwargs: Any) -> Any:
        raise NotImplementedError

    @pytest.mark.asyncio
    async def test_delivers_the_code_once(
        self, sender: Any, received: Callable[[], list[Received]], destination: str
    ) -> None:
        before = len(received())
        await self._send(sender, destination, CODE)
        new = received()[before:]
        assert len(new) == 1
        assert new[0].to == destination
        assert CODE in digits(new[0].text)

    @pytest.mark.asyncio
    async def test_accepts_a_locale(
        self, sender: Any, received: Callable[[], list[Received]], destination: str
    ) -> None:
        before = len(received())
        await self._send(sender, destination, CODE, locale="pt-BR")
        assert len(received()) == before + 1

    @pytest.mark.asyncio
    async def test_returns_a_message_id_or_none(self, sender: Any, destination: str) -> None:
        result = await self._send(sender, destination, CODE)
        assert result is None or (isinstance(result, str) and result)

    @pytest.mark.asyncio
    async def test_malformed_input_is_refused_and_nothing_goes_out(
        self, sender: Any, received: Callable[[], list[Received]], destination: str
    ) -> None:
        before = len(received())
        with pytest.raises(InvalidInput):
            await self._send(sender, 14155550101, CODE)
        with pytest.raises(InvalidInput):
            await self._send(sender, destination, CODE, locale=42)
        assert len(received()) == before

    @pytest.mark.asyncio
    async def test_a_failure_is_a_delivery_error_without_code_or_destination(
        self, broken_sender: Any, destination: str
    ) -> None:
        with pytest.raises(DeliveryError) as caught:
            await self._send(broken_sender, destination, CODE)
        _check_failure(caught.value, destination)

    def test_repr_shows_no_secret(self, sender: Any, secrets: list[str]) -> None:
        shown = repr(sender)
        for secret in secrets:
            assert secret not in shown

    @pytest.mark.asyncio
    async def test_concurrent_sends_each_arrive_once(
        self, sender: Any, received: Callable[[], list[Received]], destination: str
    ) -> None:
        before = len(received())
        codes = _codes(CONCURRENT)
        await asyncio.gather(*(self._send(sender, destination, code) for code in codes))
        got = sorted(
            code
            for message in received()[before:]
            for code in codes
            if code in digits(message.text)
        )
        assert got == sorted(codes)


class AsyncSmsSenderContract(_AsyncPhoneContract):
    """The contract of [`AsyncSmsSender`][mfakit.ports.delivery.AsyncSmsSender]."""

    async def _send(self, sender: Any, to: Any, code: str, **kwargs: Any) -> Any:
        return await sender.send_sms(to, f"{code} is your verification code.", **kwargs)


class AsyncVoiceSenderContract(_AsyncPhoneContract):
    """The contract of [`AsyncVoiceSender`][mfakit.ports.delivery.AsyncVoiceSender]."""

    async def _send(self, sender: Any, to: Any, code: str, **kwargs: Any) -> Any:
        return await sender.send_voice(to, f"Your code is: {', '.join(code)}.", **kwargs)


# --- email ------------------------------------------------------------------------

SUBJECT = "Your verification code"


def _email_text(code: str) -> str:
    return f"Your verification code is:\n\n    {code}\n\nIt expires in 10 minutes.\n"


class _EmailFixtures(_Fixtures):
    @pytest.fixture
    def destination(self) -> str:
        return "alice@example.org"


def _check_email(new: list[Received], destination: str, *, html: bool) -> None:
    assert len(new) == 1
    message = new[0]
    assert message.to == destination
    assert message.subject in (None, SUBJECT)
    assert CODE in message.text
    if html and message.html is not None:
        assert CODE in message.html


class EmailSenderContract(_EmailFixtures):
    """The contract of [`EmailSender`][mfakit.ports.delivery.EmailSender]."""

    def test_delivers_the_code_once(
        self, sender: Any, received: Callable[[], list[Received]], destination: str
    ) -> None:
        before = len(received())
        sender.send_email(destination, SUBJECT, _email_text(CODE))
        _check_email(received()[before:], destination, html=False)

    def test_accepts_html_and_a_locale(
        self, sender: Any, received: Callable[[], list[Received]], destination: str
    ) -> None:
        before = len(received())
        html = f"<p>Your verification code is <b>{CODE}</b></p>"
        sender.send_email(destination, SUBJECT, _email_text(CODE), html=html, locale="fr")
        _check_email(received()[before:], destination, html=True)

    def test_returns_a_message_id_or_none(self, sender: Any, destination: str) -> None:
        result = sender.send_email(destination, SUBJECT, _email_text(CODE))
        assert result is None or (isinstance(result, str) and result)

    def test_malformed_input_is_refused_and_nothing_goes_out(
        self, sender: Any, received: Callable[[], list[Received]], destination: str
    ) -> None:
        before = len(received())
        with pytest.raises(InvalidInput):
            sender.send_email(42, SUBJECT, _email_text(CODE))
        with pytest.raises(InvalidInput):
            sender.send_email(destination, "Code\r\nBcc: eve@example.org", _email_text(CODE))
        assert len(received()) == before

    def test_a_failure_is_a_delivery_error_without_code_or_destination(
        self, broken_sender: Any, destination: str
    ) -> None:
        with pytest.raises(DeliveryError) as caught:
            broken_sender.send_email(destination, SUBJECT, _email_text(CODE))
        _check_failure(caught.value, destination)

    def test_repr_shows_no_secret(self, sender: Any, secrets: list[str]) -> None:
        shown = repr(sender)
        for secret in secrets:
            assert secret not in shown

    def test_concurrent_sends_each_arrive_once(
        self, sender: Any, received: Callable[[], list[Received]], destination: str
    ) -> None:
        before = len(received())
        codes = _codes(CONCURRENT)
        errors: list[BaseException] = []
        barrier = threading.Barrier(CONCURRENT)

        def send(code: str) -> None:
            barrier.wait()
            try:
                sender.send_email(destination, SUBJECT, _email_text(code))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=send, args=(code,)) for code in codes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        got = sorted(c for m in received()[before:] for c in codes if c in m.text)
        assert got == sorted(codes)


class AsyncEmailSenderContract(_EmailFixtures):
    """The contract of [`AsyncEmailSender`][mfakit.ports.delivery.AsyncEmailSender]."""

    @pytest.mark.asyncio
    async def test_delivers_the_code_once(
        self, sender: Any, received: Callable[[], list[Received]], destination: str
    ) -> None:
        before = len(received())
        await sender.send_email(destination, SUBJECT, _email_text(CODE))
        _check_email(received()[before:], destination, html=False)

    @pytest.mark.asyncio
    async def test_accepts_html_and_a_locale(
        self, sender: Any, received: Callable[[], list[Received]], destination: str
    ) -> None:
        before = len(received())
        html = f"<p>Your verification code is <b>{CODE}</b></p>"
        await sender.send_email(destination, SUBJECT, _email_text(CODE), html=html, locale="fr")
        _check_email(received()[before:], destination, html=True)

    @pytest.mark.asyncio
    async def test_returns_a_message_id_or_none(self, sender: Any, destination: str) -> None:
        result = await sender.send_email(destination, SUBJECT, _email_text(CODE))
        assert result is None or (isinstance(result, str) and result)

    @pytest.mark.asyncio
    async def test_malformed_input_is_refused_and_nothing_goes_out(
        self, sender: Any, received: Callable[[], list[Received]], destination: str
    ) -> None:
        before = len(received())
        with pytest.raises(InvalidInput):
            await sender.send_email(42, SUBJECT, _email_text(CODE))
        with pytest.raises(InvalidInput):
            await sender.send_email(destination, "Code\r\nBcc: eve@example.org", _email_text(CODE))
        assert len(received()) == before

    @pytest.mark.asyncio
    async def test_a_failure_is_a_delivery_error_without_code_or_destination(
        self, broken_sender: Any, destination: str
    ) -> None:
        with pytest.raises(DeliveryError) as caught:
            await broken_sender.send_email(destination, SUBJECT, _email_text(CODE))
        _check_failure(caught.value, destination)

    def test_repr_shows_no_secret(self, sender: Any, secrets: list[str]) -> None:
        shown = repr(sender)
        for secret in secrets:
            assert secret not in shown

    @pytest.mark.asyncio
    async def test_concurrent_sends_each_arrive_once(
        self, sender: Any, received: Callable[[], list[Received]], destination: str
    ) -> None:
        before = len(received())
        codes = _codes(CONCURRENT)
        await asyncio.gather(
            *(sender.send_email(destination, SUBJECT, _email_text(code)) for code in codes)
        )
        got = sorted(c for m in received()[before:] for c in codes if c in m.text)
        assert got == sorted(codes)


# --- provider-checked codes ---------------------------------------------------------


def _other_code(code: str) -> str:
    """A code of the same length that is not `code`."""
    return code[:-1] + str((int(code[-1]) + 1) % 10)


class _CodeProviderFixtures(_Fixtures):
    @pytest.fixture
    def destination(self) -> str:
        return "+14155550101"

    @pytest.fixture
    def channel(self) -> str:
        """The channel the suite starts codes on (`"sms"`, `"voice"` or `"email"`)."""
        return "sms"

    @pytest.fixture
    def broken_provider(self) -> Any:
        pytest.skip("no broken_provider fixture: the failure tests do not apply")


class CodeProviderContract(_CodeProviderFixtures):
    """The contract of [`CodeProvider`][mfakit.ports.delivery.CodeProvider] (a service
    that makes, sends and checks the codes itself, such as Twilio Verify).

    Fixtures: `provider` (the provider under test) and `issued`, a function
    returning every code the far end has sent so far, as a mapping from the
    reference `start` returned to the code. Optional: `destination` and
    `channel` (what the suite starts codes for), `broken_provider` (pointed
    at something that fails) and `secrets` (never in `repr`).
    """

    def test_start_returns_a_reference_and_the_code_checks_once(
        self,
        provider: Any,
        issued: Callable[[], dict[str, str]],
        destination: str,
        channel: str,
    ) -> None:
        before = len(issued())
        ref = provider.start(destination, channel, locale="fr")
        assert isinstance(ref, str) and ref
        assert len(issued()) == before + 1
        code = issued()[ref]
        assert provider.check(ref, _other_code(code)) is False
        assert provider.check(ref, code) is True
        assert provider.check(ref, code) is False  # used: never twice

    def test_a_cancelled_code_no_longer_checks(
        self,
        provider: Any,
        issued: Callable[[], dict[str, str]],
        destination: str,
        channel: str,
    ) -> None:
        ref = provider.start(destination, channel)
        provider.cancel(ref)
        assert provider.check(ref, issued()[ref]) is False
        provider.cancel(ref)  # a reference the provider no longer knows: no error

    def test_malformed_input_is_refused_and_nothing_goes_out(
        self,
        provider: Any,
        issued: Callable[[], dict[str, str]],
        destination: str,
        channel: str,
    ) -> None:
        before = len(issued())
        with pytest.raises(InvalidInput):
            provider.start(14155550101, channel)
        with pytest.raises(InvalidInput):
            provider.start(destination, "carrier-pigeon")
        with pytest.raises(InvalidInput):
            provider.start(destination, channel, locale=42)
        with pytest.raises(InvalidInput):
            provider.check(None, CODE)
        assert len(issued()) == before

    def test_a_failure_is_a_delivery_error_without_the_destination(
        self, broken_provider: Any, destination: str, channel: str
    ) -> None:
        with pytest.raises(DeliveryError) as caught:
            broken_provider.start(destination, channel)
        _check_failure(caught.value, destination)

    def test_repr_shows_no_secret(self, provider: Any, secrets: list[str]) -> None:
        shown = repr(provider)
        for secret in secrets:
            assert secret not in shown

    def test_concurrent_starts_each_send_their_own_code(
        self,
        provider: Any,
        issued: Callable[[], dict[str, str]],
        destination: str,
        channel: str,
    ) -> None:
        before = len(issued())
        refs: list[str] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(CONCURRENT)

        def start() -> None:
            barrier.wait()
            try:
                refs.append(provider.start(destination, channel))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=start) for _ in range(CONCURRENT)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(set(refs)) == CONCURRENT
        assert len(issued()) == before + CONCURRENT
        assert set(refs) <= set(issued())


class AsyncCodeProviderContract(_CodeProviderFixtures):
    """The contract of [`AsyncCodeProvider`][mfakit.ports.delivery.AsyncCodeProvider];
    the fixtures of [`CodeProviderContract`][mfakit.testing.senders.CodeProviderContract]
    (`issued` stays a plain function)."""

    @pytest.mark.asyncio
    async def test_start_returns_a_reference_and_the_code_checks_once(
        self,
        provider: Any,
        issued: Callable[[], dict[str, str]],
        destination: str,
        channel: str,
    ) -> None:
        before = len(issued())
        ref = await provider.start(destination, channel, locale="pt-BR")
        assert isinstance(ref, str) and ref
        assert len(issued()) == before + 1
        code = issued()[ref]
        assert await provider.check(ref, _other_code(code)) is False
        assert await provider.check(ref, code) is True
        assert await provider.check(ref, code) is False

    @pytest.mark.asyncio
    async def test_a_cancelled_code_no_longer_checks(
        self,
        provider: Any,
        issued: Callable[[], dict[str, str]],
        destination: str,
        channel: str,
    ) -> None:
        ref = await provider.start(destination, channel)
        await provider.cancel(ref)
        assert await provider.check(ref, issued()[ref]) is False
        await provider.cancel(ref)

    @pytest.mark.asyncio
    async def test_malformed_input_is_refused_and_nothing_goes_out(
        self,
        provider: Any,
        issued: Callable[[], dict[str, str]],
        destination: str,
        channel: str,
    ) -> None:
        before = len(issued())
        with pytest.raises(InvalidInput):
            await provider.start(14155550101, channel)
        with pytest.raises(InvalidInput):
            await provider.start(destination, "carrier-pigeon")
        with pytest.raises(InvalidInput):
            await provider.start(destination, channel, locale=42)
        with pytest.raises(InvalidInput):
            await provider.check(None, CODE)
        assert len(issued()) == before

    @pytest.mark.asyncio
    async def test_a_failure_is_a_delivery_error_without_the_destination(
        self, broken_provider: Any, destination: str, channel: str
    ) -> None:
        with pytest.raises(DeliveryError) as caught:
            await broken_provider.start(destination, channel)
        _check_failure(caught.value, destination)

    def test_repr_shows_no_secret(self, provider: Any, secrets: list[str]) -> None:
        shown = repr(provider)
        for secret in secrets:
            assert secret not in shown

    @pytest.mark.asyncio
    async def test_concurrent_starts_each_send_their_own_code(
        self,
        provider: Any,
        issued: Callable[[], dict[str, str]],
        destination: str,
        channel: str,
    ) -> None:
        before = len(issued())
        refs = await asyncio.gather(
            *(provider.start(destination, channel) for _ in range(CONCURRENT))
        )
        assert len(set(refs)) == CONCURRENT
        assert len(issued()) == before + CONCURRENT
        assert set(refs) <= set(issued())
