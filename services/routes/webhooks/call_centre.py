"""Call-centre platforms: Asterisk ARI events."""

from __future__ import annotations

from fastapi import APIRouter, Request

from channels import asterisk
from schemas.events import CallInteraction
from services.http import App
from services.routes.webhooks.edge import (
    RESPONSES,
    Reached,
    by_contact,
    configured_secret,
    forged,
    publish,
    read_body,
    refused,
)

router = APIRouter(tags=["webhooks"])


@router.post("/v1/ingest/asterisk", responses=RESPONSES)
async def asterisk_events(request: Request, crossview: App) -> dict[str, int]:
    """Asterisk ARI events forwarded from the ARI websocket (one event or an array): StasisStart,
    ChannelStateChange, ChannelDestroyed (duration and cause), and advisor notes as a
    ChannelUserevent named CrossviewNote with {"note": ...}. Other ARI events are ignored."""
    body = await read_body(request, crossview)
    secret = configured_secret(crossview, crossview.settings.asterisk_secret, "ASTERISK_SECRET")
    if secret and not asterisk.credentials_are_valid(request.headers.get("authorization"), secret):
        raise forged("header.Authorization", "HTTP Basic with the configured password is required")
    try:
        events = asterisk.parse(body)
    except asterisk.AsteriskPayloadError as error:
        raise refused("Not an ARI event", "body", error) from error
    country = crossview.settings.default_country_code
    reached = [
        Reached(
            by_contact("phone", e.caller, country),
            "body.channel.caller.number",
            CallInteraction(
                direction="inbound",
                provider="asterisk",
                provider_id=e.call_id,
                status=e.status,
                from_number=e.caller,
                to_number=e.called,
                duration_seconds=e.duration_seconds,
                outcome=e.outcome,
                notes=e.notes,
            ),
            f"asterisk:{e.key}",
            e.at,
        )
        for e in events
    ]
    return {"accepted": await publish(crossview, reached)}
