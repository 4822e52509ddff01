"""The web: the Segment Spec."""

from __future__ import annotations

from fastapi import APIRouter

from channels import segment
from services.http.routes.webhooks.pipeline import Edge, route

router = APIRouter(tags=["webhooks"])

route(
    router,
    "/v1/ingest/segment",
    "segment_messages",
    Edge(
        webhook=lambda settings, state: segment.MessageWebhook(),
        secret=lambda settings: settings.segment_write_key,
        setting="SEGMENT_WRITE_KEY",
        answer=lambda accepted, ignored: {"success": True},
        credentials_in_headers=True,
    ),
    """The Segment Spec as Segment-compatible libraries send it: identify, track, page, screen,
    group and alias, alone or as {"batch": [...]}, authenticated by the source's write key (HTTP
    Basic). identify and alias join the identities they name; group links the person to the
    group's organisation through a function; every message is a web interaction.""",
    answers=dict[str, bool],
)
