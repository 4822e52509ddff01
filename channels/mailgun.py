"""Mailgun webhooks: one JSON event per request, signed with HMAC-SHA256 of timestamp + token under
the webhook signing key. A token is single-use: a request that repeats one is a replay."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from channels import inbound_email
from channels.provider import Reached, WebhookRequest, email_reached
from channels.webhook_fields import (
    NotJson,
    PayloadError,
    SignatureError,
    check_fresh,
    is_epoch_seconds,
    load_json,
    same_secret,
)

STATUS_OF_EVENT = {"failed": "bounce"}  # a permanent failure is a hard bounce; temporary ones stay "failed"


def signature_is_valid(signing_key: str, timestamp: str, token: str, signature: str) -> bool:
    signed = (timestamp + token).encode("utf-8", "surrogatepass")
    return same_secret(hmac.new(signing_key.encode(), signed, hashlib.sha256).hexdigest(), signature)


@dataclass(frozen=True)
class MailgunEvent:
    timestamp: str
    token: str
    signature: str
    event_id: str
    message_id: str
    status: str
    address: str
    at: datetime
    url: str | None
    reason: str | None
    bounce_type: str | None
    campaign: str | None


def parse(body: bytes) -> MailgunEvent:
    try:
        payload = load_json(body)
    except NotJson as error:
        raise PayloadError("body", str(error)) from error
    signed = _object(_object(payload, "body").get("signature"), "signature")
    data = _object(payload.get("event-data"), "event-data")
    for name in ("timestamp", "token", "signature"):
        if not isinstance(signed.get(name), str | int) or isinstance(signed[name], bool) or signed[name] == "":
            raise PayloadError(f"signature.{name}", "missing, or not text")
    for name in ("event", "id", "recipient"):
        if not isinstance(data.get(name), str) or not data[name]:
            raise PayloadError(f"event-data.{name}", "missing, or not text")
    if not is_epoch_seconds(data.get("timestamp")):
        raise PayloadError("event-data.timestamp", "seconds since the epoch expected")
    event = data["event"]
    permanent = event == "failed" and data.get("severity") == "permanent"
    message_id = _object_or_empty(_object_or_empty(data.get("message")).get("headers")).get("message-id")
    reason = _object_or_empty(data.get("delivery-status")).get("description") or data.get("reason")
    return MailgunEvent(
        timestamp=str(signed["timestamp"]),
        token=str(signed["token"]),
        signature=str(signed["signature"]),
        event_id=data["id"],
        message_id=message_id if isinstance(message_id, str) and message_id else data["id"],
        status=STATUS_OF_EVENT[event] if permanent else event,
        address=data["recipient"],
        at=datetime.fromtimestamp(data["timestamp"], UTC),
        url=data.get("url") if isinstance(data.get("url"), str) else None,
        reason=reason if isinstance(reason, str) and reason else None,
        bounce_type="bounce" if permanent else None,
        campaign=_campaign(data),
    )


def _campaign(data: dict) -> str | None:
    """The first campaign's name, else the first tag."""
    campaigns, tags = data.get("campaigns"), data.get("tags")
    first = campaigns[0] if isinstance(campaigns, list) and campaigns else None
    if isinstance(first, dict) and isinstance(first.get("name"), str) and first["name"]:
        return first["name"]
    tag = tags[0] if isinstance(tags, list) and tags else None
    return tag if isinstance(tag, str) and tag else None


def _object_or_empty(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _object(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise PayloadError(where, "a JSON object is expected")
    return value


@dataclass(frozen=True)
class EventWebhook:
    """One event per request, signed inside the body. Its token is single-use: the edge keeps the
    tokens it saw (a port with a database behind it), so that a replayed request is refused."""

    max_age_s: int = 0  # a signed timestamp older than this is a replay (0: not checked)

    provider = "mailgun"
    refusal = "Not a Mailgun webhook"
    located_in = "body"

    def verify(self, request: WebhookRequest, secret: str) -> None:
        event = parse(request.body)  # the signature is inside the body
        if not signature_is_valid(secret, event.timestamp, event.token, event.signature):
            raise SignatureError("the Mailgun signature does not match", "body.signature")
        check_fresh(self.max_age_s, event.timestamp, datetime.now(UTC))

    def parse(self, request: WebhookRequest) -> list[MailgunEvent]:
        return [parse(request.body)]

    def map(self, report: MailgunEvent) -> Reached:
        return email_reached("mailgun", report, "body.event-data.recipient")


@dataclass(frozen=True)
class RouteWebhook:
    """A route's forward() to us: an email a customer sent to one of our addresses, fully parsed,
    form-encoded or multipart (channels/inbound_email.py), signed inside the form as the webhooks
    are. It opens a service request. Its tokens need not be single-use: the request's id derives
    from the Message-Id, so a replay opens nothing more (and its interaction is a duplicate)."""

    max_age_s: int = 0

    provider = "mailgun"
    refusal = "Not a Mailgun route post"
    located_in = "form"

    def verify(self, request: WebhookRequest, secret: str) -> None:
        fields = inbound_email.form(request.header("content-type"), request.body)
        timestamp, token, signature = (fields.get(name) or "" for name in ("timestamp", "token", "signature"))
        if not signature_is_valid(secret, timestamp, token, signature):
            raise SignatureError("the Mailgun signature does not match this timestamp and token", "form.signature")
        check_fresh(self.max_age_s, timestamp, datetime.now(UTC))

    def parse(self, request: WebhookRequest) -> list[inbound_email.InboundEmail]:
        return [inbound_email.parse_mailgun(inbound_email.form(request.header("content-type"), request.body))]

    def map(self, report: inbound_email.InboundEmail) -> Reached:
        return inbound_email.reached(report)


WEBHOOKS = (EventWebhook(), RouteWebhook())
