"""The web: the Segment Spec."""

from __future__ import annotations

from fastapi import APIRouter, Request

from channels import segment
from channels.webhook_fields import PayloadError
from schemas.events import WebInteraction
from services.application.identity import by_web_identities
from services.http.deps import App, ProblemError
from services.http.routes.webhooks.edge import RESPONSES, Reached, configured_secret, publish, read_body, refused

router = APIRouter(tags=["webhooks"])


@router.post("/v1/ingest/segment", responses=RESPONSES)
async def segment_messages(request: Request, crossview: App) -> dict[str, bool]:
    """The Segment Spec as Segment-compatible libraries send it: identify, track, page, screen,
    group and alias, alone or as {"batch": [...]}, authenticated by the source's write key (HTTP
    Basic). identify and alias join the identities they name; group links the person to the
    group's organisation through a function; every message is a web interaction."""
    key = configured_secret(crossview, crossview.settings.segment_write_key, "SEGMENT_WRITE_KEY")
    if key and not segment.write_key_is_valid(request.headers.get("authorization"), key):
        raise ProblemError(
            403,
            "Invalid write key",
            "HTTP Basic with the source's write key is required",
            [{"field": "header.Authorization", "message": "missing or wrong write key"}],
        )
    body = await read_body(request, crossview)
    try:
        messages = segment.parse(body)
    except PayloadError as error:
        raise refused("Not a Segment message", "", error) from error
    reached = [
        Reached(
            by_web_identities.of(m),
            "traits.email",
            WebInteraction(
                direction="inbound",
                provider="segment",
                provider_id=m.message_id,
                status="received",
                action=m.type,
                name=m.name,
                url=m.url,
                properties=m.properties,
            ),
            f"segment:{m.message_id}",
            m.at,
        )
        for m in messages
    ]
    await publish(crossview, reached)
    return {"success": True}
