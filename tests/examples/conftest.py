"""The local HTTP server of the provider tests, for the example app's provider switch."""

from tests.providers.conftest import _http_server, http_server  # noqa: F401 - fixtures
