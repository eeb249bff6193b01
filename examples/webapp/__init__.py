"""mfakit's example web application: a small Flask app that is also the
reference integration. Run it with ``python -m examples.webapp`` (or
``scripts/demo``); see ``docs/example-app.md`` for where each flow lives."""

from .app import DEFAULTS, create_app

__all__ = ["DEFAULTS", "create_app"]
