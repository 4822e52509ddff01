"""SendGrid Event Webhook: a JSON array of email events, signed with ECDSA (P-256, SHA-256).

SendGrid signs ``timestamp header + raw body`` with its private key; the verification key (the
public key, base64 DER) is shown in SendGrid's settings. Headers:
``X-Twilio-Email-Event-Webhook-Signature`` and ``X-Twilio-Email-Event-Webhook-Timestamp``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from channels import inbound_email
from channels.provider import Reached, WebhookRequest, email_reached
from channels.webhook_fields import NotJson, PayloadError, SignatureError, check_fresh, is_epoch_seconds, load_json

REQUIRED = ("email", "event", "sg_event_id", "timestamp")


def signature_is_valid(body: bytes, signature: str | None, timestamp: str | None, public_key_b64: str) -> bool:
    if not signature or not timestamp:
        return False
    try:
        key = load_der_public_key(base64.b64decode(public_key_b64))
        if not isinstance(key, ec.EllipticCurvePublicKey):
            return False
        key.verify(base64.b64decode(signature), timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return True
    except (InvalidSignature, ValueError, binascii.Error):
        return False


@dataclass(frozen=True)
class EmailEvent:
    event_id: str
    message_id: str
    status: str  # the event: processed, delivered, open, click, bounce, dropped, spamreport, unsubscribe, ... as sent
    address: str
    at: datetime
    url: str | None
    campaign: str | None
    reason: str | None
    bounce_type: str | None  # "bounce" (hard) or "blocked" (soft), on bounce events
    index: int = 0  # its place in the batch


def parse_events(body: bytes) -> list[EmailEvent]:
    """Every event of the batch, or PayloadError naming the first bad field (all or nothing)."""
    try:
        payload = load_json(body)
    except NotJson as error:
        raise PayloadError("body", str(error)) from error
    if not isinstance(payload, list) or not payload:
        raise PayloadError("body", "a non-empty JSON array of events is expected")
    return [_event(index, raw) for index, raw in enumerate(payload)]


def _event(index: int, raw: Any) -> EmailEvent:
    if not isinstance(raw, dict):
        raise PayloadError(f"{index}", "an event must be a JSON object")
    for field in REQUIRED:
        if raw.get(field) in (None, ""):
            raise PayloadError(f"{index}.{field}", "missing")
    if not is_epoch_seconds(raw["timestamp"]):
        raise PayloadError(f"{index}.timestamp", "seconds since the epoch expected")
    category = raw.get("category")
    if isinstance(category, list):
        category = category[0] if category else None
    return EmailEvent(
        event_id=str(raw["sg_event_id"]),
        message_id=str(raw.get("sg_message_id") or raw["sg_event_id"]).split(".")[0],
        status=str(raw["event"]),
        address=str(raw["email"]),
        at=datetime.fromtimestamp(raw["timestamp"], UTC),
        url=raw.get("url") if isinstance(raw.get("url"), str) else None,
        campaign=str(raw.get("campaign") or category) if (raw.get("campaign") or category) else None,
        reason=str(raw["reason"]) if raw.get("reason") else None,
        bounce_type=str(raw["type"]) if raw.get("type") else None,
        index=index,
    )


@dataclass(frozen=True)
class EventWebhook:
    """The Event Webhook: a signed batch of email events, all or nothing."""

    max_age_s: int = 0  # a signed timestamp older than this is a replay (0: not checked)

    provider = "sendgrid"
    refusal = "Not a SendGrid event batch"
    located_in = "body"

    def verify(self, request: WebhookRequest, secret: str) -> None:
        timestamp = request.header("x-twilio-email-event-webhook-timestamp")
        signature = request.header("x-twilio-email-event-webhook-signature")
        if not signature_is_valid(request.body, signature, timestamp, secret):
            raise SignatureError(
                "the SendGrid signature does not match this body", "header.X-Twilio-Email-Event-Webhook-Signature"
            )
        check_fresh(self.max_age_s, timestamp, datetime.now(UTC))

    def parse(self, request: WebhookRequest) -> list[EmailEvent]:
        return parse_events(request.body)

    def map(self, report: EmailEvent) -> Reached:
        return email_reached("sendgrid", report, f"body.{report.index}.email")


@dataclass(frozen=True)
class InboundParseWebhook:
    """Inbound Parse: an email a customer sent to one of our addresses, posted as multipart/form-data
    (channels/inbound_email.py), signed by the Parse webhook's security policy as the Event Webhook
    is signed (the same headers, over the raw body). It opens a service request."""

    max_age_s: int = 0

    provider = "sendgrid"
    refusal = "Not a SendGrid Inbound Parse post"
    located_in = "form"

    def verify(self, request: WebhookRequest, secret: str) -> None:
        EventWebhook.verify(self, request, secret)  # type: ignore[arg-type] - the same headers and rule

    def parse(self, request: WebhookRequest) -> list[inbound_email.InboundEmail]:
        return [inbound_email.parse_sendgrid(inbound_email.form(request.header("content-type"), request.body))]

    def map(self, report: inbound_email.InboundEmail) -> Reached:
        return inbound_email.reached(report)


WEBHOOKS = (EventWebhook(), InboundParseWebhook())
