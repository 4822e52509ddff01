"""Amazon Connect: contact events as EventBridge delivers them (an API destination posts each event
unchanged) and contact records (CTRs) as a Kinesis forwarder posts them, one object or an array.

Amazon's own samples spell the same field ``contactId`` and ``ContactId``: fields are read whatever
the case of their first letter. A contact event names the customer only when the flow set a
customer id (or a customer endpoint); a contact record names the customer's endpoint. A report
says which contact it belongs to, so the route can tie a contact's early, anonymous events to the
customer once a later one names them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from channels.provider import CallCentreContact, Reached, WebhookRequest
from channels.webhook_fields import NotJson, PayloadError, SignatureError, basic_password_is, load_json, same_secret
from schemas.events import CallInteraction, EmailInteraction, Interaction, WebInteraction

CONTACT_EVENT = "Amazon Connect Contact Event"
# What each contact event says of the call, as the statuses the timeline orders.
STATUSES = {
    "INITIATED": "initiated",
    "QUEUED": "queued",
    "CONNECTED_TO_SYSTEM": "in-progress",
    "CONNECTED_TO_AGENT": "answered",
    "DISCONNECTED": "completed",
    "COMPLETED": "wrapped-up",  # after contact work, when the advisor closed the contact
}
OUTBOUND_METHODS = {"OUTBOUND", "EXTERNAL_OUTBOUND", "CALLBACK", "API"}
ENDPOINT_KINDS = {"TELEPHONE_NUMBER": "phone", "EMAIL_ADDRESS": "email"}


@dataclass(frozen=True)
class ContactReport:
    key: str  # unique per delivery: EventBridge's event id, or the record's contact id and last update
    contact_id: str
    initial_contact_id: str  # shared by every leg of a transferred call
    channel: str  # VOICE, CHAT, TASK, EMAIL
    status: str
    direction: Literal["inbound", "outbound"]
    customer: tuple[tuple[str, str], ...]  # (kind, address): the endpoint first, then the customer id
    system_address: str | None  # the number the customer dialled, or the caller id we dialled from
    at: datetime
    duration_seconds: int | None = None
    outcome: str | None = None
    notes: str | None = None

    def customer_address(self, kind: str) -> str | None:
        """The customer's phone number or email address, when the report names it."""
        return next((address for k, address in self.customer if k == kind), None)


def credentials_are_valid(api_key: str | None, authorization: str | None, secret: str) -> bool:
    """An EventBridge connection authorises with an API key header or HTTP Basic (the password)."""
    if api_key is not None:
        return same_secret(secret, api_key)
    return basic_password_is(authorization, secret)


def parse(body: bytes) -> list[ContactReport]:
    try:
        payload = load_json(body)
    except NotJson as error:
        raise PayloadError("body", str(error)) from error
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise PayloadError("body", "an empty array")
    several = isinstance(payload, list)
    return [_report(str(i) if several else "", item) for i, item in enumerate(items)]


def _report(where: str, raw: Any) -> ContactReport:
    def field(name: str) -> str:
        return f"{where}.{name}" if where else name

    if not isinstance(raw, dict):
        raise PayloadError(where or "body", "an object is expected")
    if "detail-type" in raw:
        if raw["detail-type"] != CONTACT_EVENT:
            raise PayloadError(field("detail-type"), f"{CONTACT_EVENT!r} expected")
        if not isinstance(raw.get("detail"), dict):
            raise PayloadError(field("detail"), "an object is expected")
        return _contact_event(field, lambda name: field(f"detail.{name}"), raw, raw["detail"])
    if _get(raw, "ContactId") is not None:
        return _contact_record(field, raw)
    raise PayloadError(field("detail-type"), "an EventBridge contact event or a contact record is expected")


def _contact_event(field, in_detail, envelope: dict[str, Any], detail: dict[str, Any]) -> ContactReport:
    if not envelope.get("id"):
        raise PayloadError(field("id"), "missing")
    contact_id, event_type = _text(in_detail, detail, "ContactId"), _text(in_detail, detail, "EventType", 40)
    started = _time(in_detail, detail, "ConnectedToSystemTimestamp") or _time(in_detail, detail, "InitiationTimestamp")
    ended = _time(in_detail, detail, "DisconnectTimestamp")
    at = ended or _time(field, envelope, "time") or started
    if at is None:
        raise PayloadError(field("time"), "missing")
    agent, queue = _get(detail, "AgentInfo"), _get(detail, "QueueInfo")
    outcome = None
    if event_type == "DISCONNECTED":
        reason = _get(detail, "DisconnectReason") or _get(detail, "AnsweringMachineDetectionStatus")
        outcome = str(reason)[:100] if reason else ("abandoned in queue" if queue and not agent else None)
    return ContactReport(
        key=f"event:{envelope['id']}",
        contact_id=contact_id,
        initial_contact_id=_text(in_detail, detail, "InitialContactId")
        if _get(detail, "InitialContactId")
        else contact_id,
        channel=str(_get(detail, "Channel") or "VOICE").upper(),
        status=STATUSES.get(event_type, event_type.lower().replace("_", "-")),
        direction=_direction(detail),
        customer=_customer(in_detail, detail),
        system_address=_system_address(detail),
        at=at,
        duration_seconds=_seconds(started, ended),
        outcome=outcome,
        notes=_notes(detail),
    )


def _contact_record(field, record: dict[str, Any]) -> ContactReport:
    contact_id = _text(field, record, "ContactId")
    started = _time(field, record, "ConnectedToSystemTimestamp") or _time(field, record, "InitiationTimestamp")
    ended = _time(field, record, "DisconnectTimestamp")
    updated = _time(field, record, "LastUpdateTimestamp")
    at = ended or updated or started
    if at is None:
        raise PayloadError(field("DisconnectTimestamp"), "missing")
    reason = _get(record, "DisconnectReason")
    return ContactReport(
        # A record is delivered again when it changes: a new LastUpdateTimestamp is new data.
        key=f"record:{contact_id}:{(updated or at).isoformat()}",
        contact_id=contact_id,
        initial_contact_id=_text(field, record, "InitialContactId") if _get(record, "InitialContactId") else contact_id,
        channel=str(_get(record, "Channel") or "VOICE").upper(),
        status="completed",
        direction=_direction(record),
        customer=_customer(field, record),
        system_address=_system_address(record),
        at=at,
        duration_seconds=_seconds(started, ended),
        outcome=str(reason).lower()[:100] if reason else None,
        notes=_notes(record),
    )


def _get(obj: dict[str, Any], name: str) -> Any:
    """A field whatever the case of its first letter: Amazon's samples write both."""
    if name in obj:
        return obj[name]
    return obj.get(name[0].lower() + name[1:])


def _text(field, obj: dict[str, Any], name: str, max_length: int = 200) -> str:
    value = _get(obj, name)
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(field(name), "missing")
    if len(value.strip()) > max_length:
        raise PayloadError(field(name), f"longer than {max_length} characters")
    return value.strip()


def _time(field, obj: dict[str, Any], name: str) -> datetime | None:
    value = _get(obj, name)
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as error:
        raise PayloadError(field(name), "an ISO 8601 time expected") from error
    if moment.tzinfo is None:
        raise PayloadError(field(name), "a time zone is expected")
    return moment


def _seconds(started: datetime | None, ended: datetime | None) -> int | None:
    return max(0, round((ended - started).total_seconds())) if started and ended else None


def _direction(contact: dict[str, Any]) -> Literal["inbound", "outbound"]:
    method = str(_get(contact, "InitiationMethod") or "").upper()
    if method == "API" and str(_get(contact, "Channel") or "VOICE").upper() != "VOICE":
        return "inbound"  # a chat or task started through the API is the customer's
    return "outbound" if method in OUTBOUND_METHODS else "inbound"


def _customer(field, contact: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    found: list[tuple[str, str]] = []
    endpoint = _get(contact, "CustomerEndpoint")
    if isinstance(endpoint, dict):
        kind, address = ENDPOINT_KINDS.get(str(_get(endpoint, "Type"))), _get(endpoint, "Address")
        if kind and isinstance(address, str) and address.strip():
            found.append((kind, address.strip()))
    customer_id = _get(contact, "CustomerId")
    if customer_id not in (None, ""):
        if not isinstance(customer_id, str | int) or len(str(customer_id).strip()) > 200:
            raise PayloadError(field("CustomerId"), "a string of at most 200 characters is expected")
        found.append(("customer", str(customer_id).strip()))
    return tuple(found)


def _system_address(contact: dict[str, Any]) -> str | None:
    endpoint = _get(contact, "SystemEndpoint")
    if isinstance(endpoint, dict) and _get(endpoint, "Address"):
        return str(_get(endpoint, "Address"))
    tags = _get(contact, "Tags")
    return (
        str(tags["aws:connect:systemEndpoint"])
        if isinstance(tags, dict) and tags.get("aws:connect:systemEndpoint")
        else None
    )


def _notes(contact: dict[str, Any]) -> str | None:
    """The advisor's note: the contact's description, or a contact attribute named ``notes``."""
    attributes = _get(contact, "Attributes")
    note = _get(contact, "Description") or (attributes.get("notes") if isinstance(attributes, dict) else None)
    return str(note)[:10_000] if note else None


class ContactWebhook:
    """Contact events and contact records, authorised by the EventBridge connection's API key (or
    HTTP Basic password). Voice contacts are calls, chats web interactions, email contacts emails;
    a task is an advisor's work item, no exchange with the customer: ignored."""

    provider = "connect"
    refusal = "Not an Amazon Connect contact event or record"
    located_in = "body"

    def verify(self, request: WebhookRequest, secret: str) -> None:
        if not credentials_are_valid(request.header("x-api-key"), request.header("authorization"), secret):
            raise SignatureError(
                "the EventBridge connection's API key (or Basic password) is required", "header.X-Api-Key"
            )

    def parse(self, request: WebhookRequest) -> list[ContactReport]:
        return parse(request.body)

    def map(self, report: ContactReport) -> Reached | None:
        data = interaction(report)
        if data is None:
            return None
        customer = CallCentreContact(report.customer, report.initial_contact_id)
        return Reached(data, customer, "body.CustomerEndpoint.Address", f"connect:{report.key}", report.at)


def interaction(report: ContactReport) -> Interaction | None:
    """A voice contact is a call, a chat a web interaction, an email contact an email; a task, or
    an email contact naming no address, None."""
    common = {
        "direction": report.direction,
        "provider": "connect",
        "provider_id": report.contact_id,
        "status": report.status,
    }
    if report.channel == "CHAT":
        details = {"outcome": report.outcome, "notes": report.notes}
        return WebInteraction(**common, action="chat", properties={k: v for k, v in details.items() if v})
    if report.channel == "EMAIL":
        address = report.customer_address("email")
        return EmailInteraction(**common, address=address) if address else None
    if report.channel == "TASK":
        return None
    customer, system = report.customer_address("phone") or "unknown", report.system_address or "unknown"
    inbound = report.direction == "inbound"
    return CallInteraction(
        **common,
        from_number=(customer if inbound else system)[:40],
        to_number=(system if inbound else customer)[:40],
        duration_seconds=report.duration_seconds,
        outcome=report.outcome,
        notes=report.notes,
    )


WEBHOOKS = (ContactWebhook(),)
