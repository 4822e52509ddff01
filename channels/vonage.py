"""Vonage SMS API webhooks: inbound messages and delivery receipts (form or JSON, GET or POST),
signed with a ``sig`` parameter over the other parameters, sorted by name: their md5 hash followed
by the account's signature secret ("md5hash", the dashboard's default method), or their HMAC
keyed by the secret ("md5", "sha1", "sha256", "sha512"), as the account's settings choose."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from channels.provider import PhoneNumber, Reached, WebhookRequest
from channels.webhook_fields import (
    NotJson,
    PayloadError,
    SignatureError,
    check_fresh,
    form_fields,
    load_json,
    same_secret,
)
from schemas.events import SmsInteraction

METHODS = ("md5hash", "md5", "sha1", "sha256", "sha512")


def signature(params: Mapping[str, str], secret: str, method: str = "md5hash") -> str:
    # "&name=value" for every parameter but sig, sorted by name, with & and = in values as _.
    signed = "".join(
        f"&{k}={str(v).replace('&', '_').replace('=', '_')}" for k, v in sorted(params.items()) if k != "sig"
    )
    if method == "md5hash":
        return hashlib.md5((signed + secret).encode("utf-8", "surrogatepass")).hexdigest()  # noqa: S324 - Vonage's scheme, not our choice
    if method not in METHODS:
        raise ValueError(f"unknown Vonage signature method {method!r}: one of {METHODS}")
    return hmac.new(secret.encode(), signed.encode("utf-8", "surrogatepass"), method).hexdigest()


def signature_is_valid(params: Mapping[str, str], secret: str, method: str = "md5hash") -> bool:
    received = params.get("sig")
    return isinstance(received, str) and same_secret(signature(params, secret, method), received.lower())


@dataclass(frozen=True)
class VonageSms:
    message_id: str
    status: str  # received (inbound), or the receipt's delivered, expired, failed, rejected, accepted...
    direction: str
    from_number: str
    to_number: str
    body: str
    at: datetime | None


def parse(params: Mapping[str, str]) -> VonageSms:
    """An inbound message has text; a delivery receipt has a status. msisdn is always the customer."""
    for field in ("msisdn", "to", "messageId"):
        if not params.get(field):
            raise PayloadError(field, "missing")
    inbound = "status" not in params
    if not inbound and not params.get("status"):
        raise PayloadError("status", "empty")
    customer = "+" + str(params["msisdn"]).lstrip("+")
    ours = str(params["to"])
    at = _moment(params.get("message-timestamp"))
    return VonageSms(
        message_id=str(params["messageId"]),
        status="received" if inbound else str(params["status"]).lower(),
        direction="inbound" if inbound else "outbound",
        from_number=customer if inbound else ours,
        to_number=ours if inbound else customer,
        body=str(params.get("text", "")),
        at=at,
    )


def _moment(stamp: str | None) -> datetime | None:
    """Vonage's documented "YYYY-MM-DD HH:MM:SS" (UTC), or the ISO 8601 its newer APIs and some
    receipts send ("2026-11-20T10:00:00Z", "2026-11-20T10:00:00.000+00:00")."""
    if not stamp:
        return None
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError as error:
        raise PayloadError("message-timestamp", "YYYY-MM-DD HH:MM:SS or ISO 8601 expected") from error
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def parameters(request: WebhookRequest) -> dict[str, str]:
    """Vonage's parameters wherever they come (the signature covers them all): the query of a GET,
    and the form or JSON object of a POST."""
    params = dict(request.query)
    if request.body and (request.header("content-type") or "").startswith("application/json"):
        try:
            document = load_json(request.body)
        except NotJson as error:
            raise PayloadError("body", str(error), title="Invalid JSON", detail=str(error)) from error
        if not isinstance(document, dict):
            raise PayloadError("body", "object", title="Invalid JSON", detail="an object is expected")
        params.update({k: str(v) for k, v in document.items() if v is not None})
    elif request.body:
        params.update(dict(form_fields(request.body)))
    return params


@dataclass(frozen=True)
class SmsWebhook:
    """Inbound messages and delivery receipts, signed with ``sig`` by the account's method."""

    method: str = "md5hash"
    max_age_s: int = 0  # a signed timestamp older than this is a replay (0: not checked)

    provider = "vonage"
    refusal = "Not a Vonage SMS webhook"
    located_in = ""

    def verify(self, request: WebhookRequest, secret: str) -> None:
        params = parameters(request)
        if not signature_is_valid(params, secret, self.method):
            raise SignatureError("the sig parameter does not match", "sig")
        check_fresh(self.max_age_s, params.get("timestamp"), datetime.now(UTC))

    def parse(self, request: WebhookRequest) -> list[VonageSms]:
        return [parse(parameters(request))]

    def map(self, report: VonageSms) -> Reached:
        customer = report.from_number if report.direction == "inbound" else report.to_number
        data = SmsInteraction(
            direction=report.direction,
            provider="vonage",
            provider_id=report.message_id,
            status=report.status,
            from_number=report.from_number,
            to_number=report.to_number,
            body=report.body,
        )
        key = f"vonage:sms:{report.message_id}:{report.status}"
        return Reached(data, PhoneNumber(customer, report.message_id), "msisdn", key, report.at or datetime.now(UTC))


WEBHOOKS = (SmsWebhook(),)
