"""The web: the Segment Spec."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request

from channels import segment
from channels.webhook_fields import PayloadError
from domain.contact_point import Resolved
from schemas.events import WebInteraction
from services.application import Crossview
from services.http import App, ProblemError
from services.routes.webhooks.edge import (
    RESPONSES,
    Reached,
    configured_secret,
    publish,
    read_body,
    refused,
)

router = APIRouter(tags=["webhooks"])


def _identify(message: segment.SegmentMessage) -> Callable[[Crossview], Resolved]:
    """identify and alias join the identities they name (and the email of an identify), and an
    identify names a person nobody named yet from its traits; group
    makes the person a member of the group's organisation, and the call an interaction of that
    function."""

    def use_case(app: Crossview) -> Resolved:
        points = [("web", web_id) for web_id in message.identities]
        if message.type == "alias" and message.previous_id:
            known_user = app.find_contact_point("web", f"user:{message.previous_id}")
            points.append(("web", f"{'user' if known_user else 'anon'}:{message.previous_id}"))
        if message.email:
            points.append(("email", message.email))
        person = app.identify(points, keep_identified_apart=True)
        if message.names:
            app.name_if_unnamed(person.person_id, *message.names)
        if message.group_id is None:
            return person
        name = str(message.properties.get("name") or message.group_id)[:200]
        function_id = app.join_organisation(
            person.person_id, f"segment-group:{message.group_id}", name, message.at.date()
        )
        return Resolved(person.person_id, function_id)

    return use_case


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
            _identify(m),
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
