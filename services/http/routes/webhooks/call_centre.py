"""Call-centre platforms: Asterisk ARI events, Amazon Connect contact events and contact records."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request

from channels import asterisk, connect
from channels.webhook_fields import PayloadError
from schemas.events import CallInteraction, EmailInteraction, Interaction, WebInteraction
from services.application.identity import by_connect_contact, by_phone
from services.http.deps import App
from services.http.routes.webhooks.edge import (
    RESPONSES,
    Reached,
    configured_secret,
    forged,
    publish,
    read_body,
    refused,
)

router = APIRouter(tags=["webhooks"])
log = logging.getLogger(__name__)


@router.post("/v1/ingest/asterisk", responses=RESPONSES)
async def asterisk_events(request: Request, crossview: App) -> dict[str, int]:
    """Asterisk ARI events forwarded from the ARI websocket (one event or an array): StasisStart,
    ChannelStateChange, ChannelDestroyed (duration and cause), and advisor notes as a
    ChannelUserevent named CrossviewNote with {"note": ...}. Other ARI events are ignored."""
    secret = configured_secret(crossview, crossview.settings.asterisk_secret, "ASTERISK_SECRET")
    if secret and not asterisk.credentials_are_valid(request.headers.get("authorization"), secret):
        raise forged("header.Authorization", "HTTP Basic with the configured password is required")
    body = await read_body(request, crossview)
    try:
        events = asterisk.parse(body)
    except PayloadError as error:
        raise refused("Not an ARI event", "body", error) from error
    country = crossview.settings.default_country_code
    reached = []
    for e in events:
        contact, attributed = by_phone(e.caller, "asterisk", e.channel_id, country)
        data = CallInteraction(
            direction="inbound",
            provider="asterisk",
            provider_id=e.call_id,
            status=e.status,
            from_number=e.caller,
            to_number=e.called,
            duration_seconds=e.duration_seconds,
            outcome=e.outcome,
            notes=e.notes,
        )
        reached.append(Reached(contact, "body.channel.caller.number", data, f"asterisk:{e.key}", e.at, attributed))
    return {"accepted": await publish(crossview, reached, request)}


@router.post("/v1/ingest/connect", responses=RESPONSES)
async def connect_contacts(request: Request, crossview: App) -> dict[str, int]:
    """Amazon Connect: contact events as an EventBridge API destination posts them (INITIATED,
    QUEUED, CONNECTED_TO_SYSTEM, CONNECTED_TO_AGENT, DISCONNECTED with duration and outcome,
    COMPLETED, ...) and contact records (CTRs) forwarded from their Kinesis stream, one object or an
    array. Authorised by the EventBridge connection's X-Api-Key header or HTTP Basic password.
    Voice contacts are calls, chats web interactions, email contacts emails; tasks (advisors' work
    items) are counted as ignored."""
    secret = configured_secret(crossview, crossview.settings.connect_api_key, "CONNECT_API_KEY")
    if secret and not connect.credentials_are_valid(
        request.headers.get("x-api-key"), request.headers.get("authorization"), secret
    ):
        raise forged("header.X-Api-Key", "the EventBridge connection's API key (or Basic password) is required")
    body = await read_body(request, crossview)
    try:
        reports = connect.parse(body)
    except PayloadError as error:
        raise refused("Not an Amazon Connect contact event or record", "body", error) from error
    country = crossview.settings.default_country_code
    reached = [
        Reached(
            by_connect_contact(report.customer, report.initial_contact_id, country),
            "body.CustomerEndpoint.Address",
            data,
            f"connect:{report.key}",
            report.at,
        )
        for report in reports
        if (data := _interaction(report)) is not None
    ]
    if len(reached) < len(reports):
        log.info("Amazon Connect: %d task (or address-less email) report(s) ignored", len(reports) - len(reached))
    return {"accepted": await publish(crossview, reached), "ignored": len(reports) - len(reached)}


def _interaction(report: connect.ContactReport) -> Interaction | None:
    """A voice contact is a call, a chat a web interaction, an email contact an email; a task is an
    advisor's work item, not an exchange with the customer: None."""
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
