"""The local servers of the provider tests (HTTP, HTTPS, moto), for the example
app's provider switch and delivery-status hooks."""

from tests.providers.conftest import (  # noqa: F401 - fixtures
    _http_server,
    _https_server,
    _no_twilio_region,
    aws_env,
    http_server,
    https_server,
    moto,
    moto_server,
    tls,
)
