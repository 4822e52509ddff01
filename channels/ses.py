"""Amazon SES events delivered through SNS: the SNS envelope (signed with Amazon's certificate),
its subscription handshake, and the SES event inside (Send, Delivery, Bounce, Complaint, Open,
Click, Reject, DeliveryDelay, Subscription).

The signing certificate is fetched from the URL the message names, only if that URL is https on
an ``sns.<region>.amazonaws.com`` host; the signature covers the message's canonical fields.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}


class SnsError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def certificate_url_is_amazons(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme == "https" and bool(SNS_HOST.match(parsed.hostname or "")) and parsed.path.endswith(".pem")


def subscribe_url_is_amazons(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme == "https" and bool(SNS_HOST.match(parsed.hostname or ""))


def fetch_certificate(url: str) -> bytes:  # pragma: no cover - reaches Amazon; tests inject their own
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - the URL was checked just before
        return answer.read()


class CertificateCache:
    def __init__(self, fetch: Callable[[str], bytes] = fetch_certificate) -> None:
        self._fetch = fetch
        self._certificates: dict[str, x509.Certificate] = {}
        self._lock = threading.Lock()

    def get(self, url: str) -> x509.Certificate:
        with self._lock:
            if url not in self._certificates:
                self._certificates[url] = x509.load_pem_x509_certificate(self._fetch(url))
            return self._certificates[url]


def parse_envelope(body: bytes) -> dict[str, Any]:
    try:
        envelope = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SnsError("body", f"not JSON: {error}") from error
    if not isinstance(envelope, dict):
        raise SnsError("body", "a JSON object is expected")
    kind = envelope.get("Type")
    if kind not in SIGNED_FIELDS:
        raise SnsError("Type", f"one of {sorted(SIGNED_FIELDS)} expected")
    for name in ("MessageId", "Timestamp", "TopicArn", "Message", "Signature", "SigningCertURL"):
        if not isinstance(envelope.get(name), str) or not envelope[name]:
            raise SnsError(name, "missing")
    return envelope


def signature_is_valid(envelope: dict[str, Any], certificates: CertificateCache) -> bool:
    """The SNS signature, checked with the certificate of an Amazon SNS host (never any other)."""
    url = envelope["SigningCertURL"]
    if not certificate_url_is_amazons(url):
        return False
    canonical = "".join(
        f"{name}\n{envelope[name]}\n" for name in SIGNED_FIELDS[envelope["Type"]] if envelope.get(name) is not None
    )
    algorithm = hashes.SHA256() if str(envelope.get("SignatureVersion", "1")) == "2" else hashes.SHA1()  # noqa: S303
    try:
        key = certificates.get(url).public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            return False
        key.verify(base64.b64decode(envelope["Signature"]), canonical.encode(), padding.PKCS1v15(), algorithm)
        return True
    except (InvalidSignature, ValueError, binascii.Error, OSError):
        return False


@dataclass(frozen=True)
class SesEvent:
    event_id: str
    message_id: str
    status: str  # send, delivery, bounce, complaint, open, click, reject, deliverydelay, subscription
    address: str
    at: datetime
    url: str | None
    bounce_type: str | None
    reason: str | None
    campaign: str | None


def parse_ses(message: str, sns_message_id: str) -> list[SesEvent]:
    """One SES event names one or more recipients: an event for each."""
    try:
        event = json.loads(message)
    except json.JSONDecodeError as error:
        raise SnsError("Message", f"the SES event is not JSON: {error}") from error
    if not isinstance(event, dict) or not isinstance(event.get("mail"), dict):
        raise SnsError("Message", "an SES event with a mail object is expected")
    kind = str(event.get("eventType") or event.get("notificationType") or "").lower()
    if not kind:
        raise SnsError("Message.eventType", "missing")
    mail = event["mail"]
    detail = event.get(kind) if isinstance(event.get(kind), dict) else {}
    recipients = _recipients(kind, detail) or [str(a) for a in mail.get("destination") or []]
    if not recipients:
        raise SnsError("Message.mail.destination", "no recipient")
    try:
        at = datetime.fromisoformat(str(detail.get("timestamp") or mail.get("timestamp")).replace("Z", "+00:00"))
    except ValueError as error:
        raise SnsError("Message.mail.timestamp", "an ISO 8601 time expected") from error
    tags = mail.get("tags") if isinstance(mail.get("tags"), dict) else {}
    campaign = (tags.get("campaign") or [None])[0] if isinstance(tags.get("campaign"), list) else None
    bounce_type = None
    if kind == "bounce":
        bounce_type = "bounce" if detail.get("bounceType") == "Permanent" else "blocked"
    return [
        SesEvent(
            event_id=f"{sns_message_id}:{address}",
            message_id=str(mail.get("messageId") or sns_message_id),
            status={
                "delivery": "delivered",
                "complaint": "complained",
                "open": "opened",
                "click": "clicked",
                "send": "sent",
                "bounce": "bounce",
            }.get(kind, kind),
            address=address,
            at=at,
            url=(detail.get("link") if kind == "click" else None),
            bounce_type=bounce_type,
            reason=str(detail.get("bounceSubType") or detail.get("reason") or "") or None,
            campaign=campaign,
        )
        for address in recipients
    ]


def _recipients(kind: str, detail: dict[str, Any]) -> list[str]:
    if kind == "bounce":
        return [str(r.get("emailAddress")) for r in detail.get("bouncedRecipients") or [] if isinstance(r, dict)]
    if kind == "complaint":
        return [str(r.get("emailAddress")) for r in detail.get("complainedRecipients") or [] if isinstance(r, dict)]
    if kind == "delivery":
        return [str(r) for r in detail.get("recipients") or []]
    return []
