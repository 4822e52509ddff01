"""Mailgun webhooks: one JSON event per request, signed with HMAC-SHA256 of timestamp + token under
the webhook signing key. A token is single-use: a request that repeats one is a replay."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from channels.webhook_fields import is_epoch_seconds

STATUS_OF_EVENT = {"failed": "bounce"}  # a permanent failure is a hard bounce; temporary ones stay "failed"


class MailgunPayloadError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def signature_is_valid(signing_key: str, timestamp: str, token: str, signature: str) -> bool:
    expected = hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


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
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MailgunPayloadError("body", f"not JSON: {error}") from error
    signed = _object(payload, "body").get("signature")
    signed = _object(signed, "signature")
    data = _object(payload.get("event-data"), "event-data")
    for name in ("timestamp", "token", "signature"):
        if not signed.get(name):
            raise MailgunPayloadError(f"signature.{name}", "missing")
    for name in ("event", "id", "recipient", "timestamp"):
        if data.get(name) in (None, ""):
            raise MailgunPayloadError(f"event-data.{name}", "missing")
    if not is_epoch_seconds(data["timestamp"]):
        raise MailgunPayloadError("event-data.timestamp", "seconds since the epoch expected")
    event = str(data["event"])
    permanent = event == "failed" and data.get("severity") == "permanent"
    headers = (data.get("message") or {}).get("headers") if isinstance(data.get("message"), dict) else None
    campaigns = data.get("campaigns") if isinstance(data.get("campaigns"), list) else []
    tags = data.get("tags") if isinstance(data.get("tags"), list) else []
    reason = (
        (data.get("delivery-status") or {}).get("description")
        if isinstance(data.get("delivery-status"), dict)
        else None
    )
    return MailgunEvent(
        timestamp=str(signed["timestamp"]),
        token=str(signed["token"]),
        signature=str(signed["signature"]),
        event_id=str(data["id"]),
        message_id=str((headers or {}).get("message-id") or data["id"]),
        status=STATUS_OF_EVENT[event] if permanent else event,
        address=str(data["recipient"]),
        at=datetime.fromtimestamp(data["timestamp"], UTC),
        url=data.get("url") if isinstance(data.get("url"), str) else None,
        reason=str(reason or data.get("reason") or "") or None,
        bounce_type="bounce" if permanent else None,
        campaign=str(
            (campaigns[0] or {}).get("name")
            if campaigns and isinstance(campaigns[0], dict)
            else (tags[0] if tags else "")
        )
        or None,
    )


def _object(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise MailgunPayloadError(where, "a JSON object is expected")
    return value
