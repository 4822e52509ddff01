"""Amazon SES events delivered through SNS: the SNS envelope (signed with Amazon's certificate),
its subscription handshake, and the SES event inside (Send, Delivery, Bounce, Complaint, Open,
Click, Reject, DeliveryDelay, Subscription).

The signing certificate is fetched from the URL the message names, only if that URL is https on
an ``sns.<region>.amazonaws.com`` host; the signature covers the message's canonical fields.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import ParseResult, urlparse

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from channels.provider import Reached, WebhookRequest, email_reached
from channels.webhook_fields import NotJson, PayloadError, SignatureError, load_json

SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}


def certificate_url_is_amazons(url: Any) -> bool:
    parsed = _https(url)
    return parsed is not None and bool(SNS_HOST.match(parsed.hostname or "")) and parsed.path.endswith(".pem")


def subscribe_url_is_amazons(url: Any) -> bool:
    parsed = _https(url)
    return parsed is not None and bool(SNS_HOST.match(parsed.hostname or ""))


def _https(url: Any) -> ParseResult | None:
    if not isinstance(url, str):
        return None
    try:
        parsed = urlparse(url)
        parsed.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return None
    return parsed if parsed.scheme == "https" else None


def fetch_certificate(url: str) -> bytes:  # pragma: no cover - reaches Amazon; tests inject their own
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - the URL was checked just before
        return answer.read(MAX_CERTIFICATE_BYTES)


MAX_CERTIFICATE_BYTES = 64_000


class CertificateUnavailable(OSError):
    """The certificate could not be fetched or read (remembered for a while: not fetched again meanwhile)."""


class CertificateCache:
    """Amazon's signing certificates by URL. Each is fetched once: requests for the same URL wait
    for that one fetch, requests for any other URL never wait for it (no lock is held across a
    fetch). A certificate is kept ``ttl_s``, a failed fetch remembered ``failure_ttl_s``, so
    forged messages naming unreachable URLs cannot make us fetch again and again."""

    def __init__(
        self,
        fetch: Callable[[str], bytes] = fetch_certificate,
        ttl_s: float = 24 * 3600,
        failure_ttl_s: float = 60,
        max_entries: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._ttl_s, self._failure_ttl_s, self._max_entries = ttl_s, failure_ttl_s, max_entries
        self._clock = clock
        self._entries: dict[str, tuple[float, x509.Certificate | CertificateUnavailable]] = {}
        self._fetching: dict[str, threading.Event] = {}
        self._lock = threading.Lock()  # guards the two dicts only, never held across a fetch

    def get(self, url: str) -> x509.Certificate:
        """The certificate; CertificateUnavailable when it could not be had (now or a moment ago)."""
        while True:
            with self._lock:
                entry = self._entries.get(url)
                if entry is not None and entry[0] > self._clock():
                    return _certificate_or_raise(entry[1])
                fetching = self._fetching.get(url)
                if fetching is None:
                    fetching = self._fetching[url] = threading.Event()
                    break
            fetching.wait(timeout=30)  # someone else fetches this URL: their answer serves us too
        try:
            result = self._fetched(url)
            with self._lock:
                if len(self._entries) >= self._max_entries:
                    now = self._clock()
                    self._entries = {u: e for u, e in self._entries.items() if e[0] > now}
                    while len(self._entries) >= self._max_entries:
                        self._entries.pop(next(iter(self._entries)))
                ttl = self._failure_ttl_s if isinstance(result, CertificateUnavailable) else self._ttl_s
                self._entries[url] = (self._clock() + ttl, result)
        finally:
            with self._lock:
                self._fetching.pop(url, None)
            fetching.set()
        return _certificate_or_raise(result)

    def _fetched(self, url: str) -> x509.Certificate | CertificateUnavailable:
        try:
            return x509.load_pem_x509_certificate(self._fetch(url))
        except Exception as error:  # noqa: BLE001 - a network or a format failure: both mean "no certificate"
            return CertificateUnavailable(f"no certificate from {url}: {type(error).__name__}: {error}")


def _certificate_or_raise(entry: x509.Certificate | CertificateUnavailable) -> x509.Certificate:
    if isinstance(entry, CertificateUnavailable):
        raise entry
    return entry


def parse_envelope(body: bytes) -> dict[str, Any]:
    try:
        envelope = load_json(body)
    except NotJson as error:
        raise PayloadError("body", str(error)) from error
    if not isinstance(envelope, dict):
        raise PayloadError("body", "a JSON object is expected")
    kind = envelope.get("Type")
    if not isinstance(kind, str) or kind not in SIGNED_FIELDS:
        raise PayloadError("Type", f"one of {sorted(SIGNED_FIELDS)} expected")
    for name in ("MessageId", "Timestamp", "TopicArn", "Message", "Signature", "SigningCertURL"):
        if not isinstance(envelope.get(name), str) or not envelope[name]:
            raise PayloadError(name, "missing")
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
        event = load_json(message)
    except NotJson as error:
        raise PayloadError("Message", f"the SES event is not JSON: {error}") from error
    if not isinstance(event, dict) or not isinstance(event.get("mail"), dict):
        raise PayloadError("Message", "an SES event with a mail object is expected")
    kind = event.get("eventType") or event.get("notificationType") or ""
    if not isinstance(kind, str) or not kind:
        raise PayloadError("Message.eventType", "a name is expected")
    kind = kind.lower()
    mail = event["mail"]
    detail = _dict(event.get(kind))
    recipients = _recipients(kind, detail) or [a for a in _list(mail.get("destination")) if isinstance(a, str) and a]
    if not recipients:
        raise PayloadError("Message.mail.destination", "no recipient")
    stamp = detail.get("timestamp") or mail.get("timestamp")
    try:
        at = datetime.fromisoformat(stamp.replace("Z", "+00:00")) if isinstance(stamp, str) else None
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise PayloadError("Message.mail.timestamp", "an ISO 8601 time with its time zone expected")
    campaigns = _list(_dict(mail.get("tags")).get("campaign"))
    campaign = campaigns[0] if campaigns and isinstance(campaigns[0], str) else None
    message_id = mail.get("messageId") if isinstance(mail.get("messageId"), str) and mail["messageId"] else None
    link = detail.get("link") if kind == "click" and isinstance(detail.get("link"), str) else None
    reason = detail.get("bounceSubType") or detail.get("reason")
    bounce_type = None
    if kind == "bounce":
        bounce_type = "bounce" if detail.get("bounceType") == "Permanent" else "blocked"
    return [
        SesEvent(
            event_id=f"{sns_message_id}:{address}",
            message_id=message_id or sns_message_id,
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
            url=link,
            bounce_type=bounce_type,
            reason=reason if isinstance(reason, str) and reason else None,
            campaign=campaign,
        )
        for address in recipients
    ]


def _recipients(kind: str, detail: dict[str, Any]) -> list[str]:
    if kind in ("bounce", "complaint"):
        listed = _list(detail.get("bouncedRecipients" if kind == "bounce" else "complainedRecipients"))
        found = [r.get("emailAddress") for r in listed if isinstance(r, dict)]
    elif kind == "delivery":
        found = _list(detail.get("recipients"))
    else:
        found = []
    return [address for address in found if isinstance(address, str) and address]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass(frozen=True)
class EventWebhook:
    """SES events through an SNS subscription. The secret is the allowed topics (ARNs, comma
    separated); the signature is checked with the certificate of an Amazon SNS host. Envelopes
    other than notifications (the subscription handshake, which the edge answers) report nothing."""

    certificates: CertificateCache = field(default_factory=CertificateCache)

    provider = "ses"
    refusal = "Not an SNS message"
    located_in = "body"

    def verify(self, request: WebhookRequest, secret: str) -> None:
        envelope = parse_envelope(request.body)  # topic and signature are inside the body
        if envelope["TopicArn"] not in {arn.strip() for arn in secret.split(",")}:
            raise SignatureError(
                f"{envelope['TopicArn']} is not in CROSSVIEW_SES_TOPIC_ARNS",
                "body.TopicArn",
                "Unknown topic",
                "not allowed",
            )
        if not signature_is_valid(envelope, self.certificates):
            raise SignatureError("the SNS signature does not verify with an Amazon SNS certificate", "body.Signature")

    def parse(self, request: WebhookRequest) -> list[SesEvent]:
        envelope = parse_envelope(request.body)
        if envelope["Type"] != "Notification":
            return []
        try:
            return parse_ses(envelope["Message"], envelope["MessageId"])
        except PayloadError as error:
            raise PayloadError(error.field, error.message, title="Not an SES event") from error

    def map(self, report: SesEvent) -> Reached:
        return email_reached("ses", report, "body.Message")


WEBHOOKS = (EventWebhook(),)
