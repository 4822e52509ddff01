"""Twilio: request signatures and the SMS webhooks (inbound messages and status callbacks).

Twilio posts form-encoded parameters and signs ``URL + every parameter name and value, sorted by
name`` with HMAC-SHA1 under the account's auth token (header ``X-Twilio-Signature``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from channels.provider import PhoneNumber, Reached, WebhookRequest
from channels.webhook_fields import PayloadError, SignatureError, form_fields, same_secret
from schemas.events import CallInteraction, SmsInteraction

INBOUND_STATUSES = {"received", "receiving"}
MAX_DURATION_DIGITS = 9  # a call of up to 31 years: a longer number is no duration, and would not convert


def signature(url: str, params: Sequence[tuple[str, str]], auth_token: str) -> str:
    """What Twilio sends in X-Twilio-Signature for this request."""
    # Twilio sorts by name, then value, and signs a repeated (name, value) pair once.
    signed = url + "".join(name + value for name, value in sorted(set(params)))
    digest = hmac.new(auth_token.encode(), signed.encode("utf-8", "surrogatepass"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signature_is_valid(url: str, params: Sequence[tuple[str, str]], auth_token: str, received: str | None) -> bool:
    return same_secret(signature(url, params, auth_token), received)


@dataclass(frozen=True)
class SmsReport:
    """One Twilio SMS webhook: an inbound message, or a status of one we sent."""

    message_sid: str
    status: str
    direction: str  # inbound or outbound
    from_number: str
    to_number: str
    body: str
    error_code: str | None

    @property
    def customer_number(self) -> str:
        """The person's number: the sender of an inbound message, the recipient of an outbound one."""
        return self.from_number if self.direction == "inbound" else self.to_number


def parse_sms(params: Sequence[tuple[str, str]]) -> SmsReport:
    form = dict(params)
    sid = form.get("MessageSid") or form.get("SmsSid")
    if not sid:
        raise PayloadError("MessageSid", "missing")
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    if not status:
        raise PayloadError("MessageStatus", "missing (neither MessageStatus nor SmsStatus)")
    inbound = status in INBOUND_STATUSES
    # A status callback of a message we sent names its recipient, the customer; it may leave out
    # From (a messaging service's sender pool): well formed, and attributable all the same.
    for field in ("From", "To") if inbound else ("To",):
        if not form.get(field):
            raise PayloadError(field, "missing")
    return SmsReport(
        message_sid=sid,
        status=status,
        direction="inbound" if inbound else "outbound",
        from_number=form.get("From") or form.get("MessagingServiceSid") or "unknown",
        to_number=form["To"],
        body=form.get("Body", ""),
        error_code=form.get("ErrorCode") or None,
    )


@dataclass(frozen=True)
class CallReport:
    """One Twilio Voice status callback: a call started, rang, was answered, ended."""

    call_sid: str
    status: str  # queued, initiated, ringing, in-progress, completed, busy, failed, no-answer, canceled
    direction: str  # inbound or outbound
    from_number: str
    to_number: str
    duration_seconds: int | None
    at: datetime | None

    @property
    def customer_number(self) -> str:
        return self.from_number if self.direction == "inbound" else self.to_number

    @property
    def outcome(self) -> str | None:
        """How the call ended, once it has."""
        return {
            "completed": "answered",
            "busy": "busy",
            "no-answer": "no answer",
            "failed": "failed",
            "canceled": "canceled",
        }.get(self.status)


def parse_call(params: Sequence[tuple[str, str]]) -> CallReport:
    form = dict(params)
    # A withheld caller id comes as an empty or "anonymous" From: the call is still well formed.
    for field in ("CallSid", "CallStatus", "To"):
        if not form.get(field):
            raise PayloadError(field, "missing")
    duration = form.get("CallDuration") or form.get("Duration")
    if duration is not None and not (
        duration.isascii() and duration.isdigit() and len(duration) <= MAX_DURATION_DIGITS
    ):
        raise PayloadError(
            "CallDuration", f"a whole number of seconds expected (digits 0-9, {MAX_DURATION_DIGITS} at most)"
        )
    try:
        at = parsedate_to_datetime(form["Timestamp"]) if form.get("Timestamp") else None
    except (TypeError, ValueError) as error:
        raise PayloadError("Timestamp", "an RFC 2822 date expected") from error
    return CallReport(
        call_sid=form["CallSid"],
        status=form["CallStatus"].lower(),
        direction="inbound" if form.get("Direction", "inbound") == "inbound" else "outbound",
        from_number=form.get("From") or "unknown",
        to_number=form["To"],
        duration_seconds=int(duration) if duration is not None else None,
        at=at,
    )


class _Signed:
    """Both Twilio webhooks: form-encoded, signed over the URL Twilio called and every field."""

    provider = "twilio"
    located_in = "form"

    def verify(self, request: WebhookRequest, secret: str) -> None:
        if not signature_is_valid(request.url, form_fields(request.body), secret, request.header("x-twilio-signature")):
            raise SignatureError("X-Twilio-Signature does not match this request", "header.X-Twilio-Signature")


class SmsWebhook(_Signed):
    """Inbound messages and the status callbacks of messages we sent."""

    refusal = "Not a Twilio SMS webhook"

    def parse(self, request: WebhookRequest) -> list[SmsReport]:
        return [parse_sms(form_fields(request.body))]

    def map(self, report: SmsReport) -> Reached:
        data = SmsInteraction(
            direction=report.direction,
            provider="twilio",
            provider_id=report.message_sid,
            status=report.status,
            from_number=report.from_number,
            to_number=report.to_number,
            body=report.body,
        )
        key = f"twilio:sms:{report.message_sid}:{report.status}"
        return Reached(data, _customer(report, report.message_sid), _field(report), key, datetime.now(UTC))


class VoiceWebhook(_Signed):
    """Voice status callbacks: a call queued, ringing, in progress, then ended."""

    refusal = "Not a Twilio Voice callback"

    def parse(self, request: WebhookRequest) -> list[CallReport]:
        return [parse_call(form_fields(request.body))]

    def map(self, report: CallReport) -> Reached:
        data = CallInteraction(
            direction=report.direction,
            provider="twilio",
            provider_id=report.call_sid,
            status=report.status,
            from_number=report.from_number,
            to_number=report.to_number,
            duration_seconds=report.duration_seconds,
            outcome=report.outcome,
        )
        key = f"twilio:call:{report.call_sid}:{report.status}"
        return Reached(data, _customer(report, report.call_sid), _field(report), key, report.at or datetime.now(UTC))


def _customer(report: SmsReport | CallReport, provider_id: str) -> PhoneNumber:
    return PhoneNumber(report.customer_number, provider_id)


def _field(report: SmsReport | CallReport) -> str:
    return "form.From" if report.direction == "inbound" else "form.To"


WEBHOOKS = (SmsWebhook(), VoiceWebhook())
