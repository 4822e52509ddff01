"""Call-centre platforms: Asterisk ARI events, Amazon Connect contact events and contact records."""

from __future__ import annotations

from fastapi import APIRouter

from channels import asterisk, connect
from services.http.routes.webhooks.pipeline import Edge, route

router = APIRouter(tags=["webhooks"])

route(
    router,
    "/v1/ingest/asterisk",
    "asterisk_events",
    Edge(
        webhook=lambda settings, state: asterisk.EventWebhook(),
        secret=lambda settings: settings.asterisk_secret,
        setting="ASTERISK_SECRET",
        credentials_in_headers=True,
    ),
    """Asterisk ARI events forwarded from the ARI websocket (one event or an array): StasisStart,
    ChannelStateChange, ChannelDestroyed (duration and cause), and advisor notes as a
    ChannelUserevent named CrossviewNote with {"note": ...}. Other ARI events are ignored.""",
)
route(
    router,
    "/v1/ingest/connect",
    "connect_contacts",
    Edge(
        webhook=lambda settings, state: connect.ContactWebhook(),
        secret=lambda settings: settings.connect_api_key,
        setting="CONNECT_API_KEY",
        answer=lambda accepted, ignored: {"accepted": accepted, "ignored": ignored},
        credentials_in_headers=True,
    ),
    """Amazon Connect: contact events as an EventBridge API destination posts them (INITIATED,
    QUEUED, CONNECTED_TO_SYSTEM, CONNECTED_TO_AGENT, DISCONNECTED with duration and outcome,
    COMPLETED, ...) and contact records (CTRs) forwarded from their Kinesis stream, one object or an
    array. Authorised by the EventBridge connection's X-Api-Key header or HTTP Basic password.
    Voice contacts are calls, chats web interactions, email contacts emails; tasks (advisors' work
    items) are counted as ignored.""",
)
