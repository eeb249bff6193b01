"""Delivery-status callbacks from the providers (``/hooks/...``).

* ``POST /hooks/twilio-status``: Twilio's status callback for messages and
  calls (set ``TWILIO_STATUS_CALLBACK`` to this URL's public address), checked
  with ``X-Twilio-Signature`` and ``TWILIO_AUTH_TOKEN``.
* ``GET`` or ``POST /hooks/vonage-receipts``: Vonage's delivery receipts (set
  ``VONAGE_STATUS_CALLBACK`` to this URL's public address), checked with the
  signature secret of signed webhooks (``VONAGE_SIGNATURE_SECRET``,
  ``VONAGE_SIGNATURE_METHOD``).
* ``POST /hooks/ses-events``: Amazon SES events through an SNS topic
  (``MFAKIT_SES_EVENTS_TOPIC_ARN``), checked against SNS's signature.

A route whose provider is not configured answers 404; a callback that does not
verify, 403. Each status is recorded on the challenge whose code it is about
(``mfa.record_delivery_status``: the challenge view shows it, the audit log
has it) and kept in :class:`~.delivery.StatusLog` for the dev inbox. These routes
are authenticated by the provider's signature, so the CSRF check (for the
app's own forms) does not apply to them.
"""

from __future__ import annotations

import os

from flask import Blueprint, abort, current_app, request
from flask.typing import ResponseReturnValue

from mfakit.delivery_status import (
    DeliveryStatus,
    SnsVerifier,
    ses_status,
    twilio_status,
    vonage_status,
)
from mfakit.errors import CallbackRejected, InvalidInput

from .security import services

__all__ = ["bp"]

bp = Blueprint("hooks", __name__, url_prefix="/hooks")


@bp.post("/twilio-status")
def twilio() -> ResponseReturnValue:
    token = os.environ.get("TWILIO_AUTH_TOKEN", "")
    if not token:
        abort(404)
    try:
        status = twilio_status(
            request.url,
            request.form.to_dict(),
            request.headers.get("X-Twilio-Signature"),
            auth_token=token,
        )
    except CallbackRejected:
        abort(403)
    except InvalidInput:
        abort(400)
    _record(status)
    return "", 204


@bp.route("/vonage-receipts", methods=["GET", "POST"])
def vonage() -> ResponseReturnValue:
    secret = os.environ.get("VONAGE_SIGNATURE_SECRET", "")
    if not secret:
        abort(404)
    # Vonage sends receipts as a query string (GET) or as a form or JSON (POST).
    fields = request.get_json(silent=True) if request.is_json else None
    params = fields if isinstance(fields, dict) else request.values.to_dict()
    try:
        status = vonage_status(
            {str(k): str(v) for k, v in params.items()},
            api_key=os.environ.get("VONAGE_API_KEY", ""),
            signature_secret=secret,
            signature_method=os.environ.get("VONAGE_SIGNATURE_METHOD", "sha256"),
        )
    except CallbackRejected:
        abort(403)
    except InvalidInput:
        abort(400)
    _record(status)
    return "", 204


def _record(status: DeliveryStatus) -> None:
    """On the challenge and in the audit log, and in the dev inbox's list."""
    found = services().mfa.record_delivery_status(status)
    services().statuses.record_delivery_status(status, challenge_found=found)


def _sns_verifier() -> SnsVerifier | None:
    topic = os.environ.get("MFAKIT_SES_EVENTS_TOPIC_ARN", "").strip()
    if not topic:
        return None
    verifier = current_app.extensions.get("webapp.sns")
    if not isinstance(verifier, SnsVerifier):
        verifier = SnsVerifier([topic])  # keeps the fetched signing certificates
        current_app.extensions["webapp.sns"] = verifier
    return verifier


@bp.post("/ses-events")
def ses_events() -> ResponseReturnValue:
    verifier = _sns_verifier()
    if verifier is None:
        abort(404)
    try:
        message = verifier.verify(request.get_data(cache=False))
        if message.type == "SubscriptionConfirmation":
            verifier.confirm_subscription(message)
            return "", 204
        if message.type == "Notification":
            _record(ses_status(message))
    except CallbackRejected:
        abort(403)
    except InvalidInput:
        abort(400)
    return "", 204
