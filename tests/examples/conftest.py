"""The local HTTP server of the provider tests, for the example app's provider switch."""

from tests.providers.conftest import (  # noqa: F401 - fixtures
    _http_server,
    _no_twilio_region,
    http_server,
)
