"""SMS and voice providers: Twilio (messages, calls) and Vonage (messages)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from channels import twilio, vonage
from services.container import Container
from services.http.deps import ProblemError
from services.http.routes.webhooks.pipeline import Edge, route

router = APIRouter(tags=["webhooks"])
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'  # Twilio: nothing to answer the sender


def _signed_url(request: Request, crossview: Container) -> str:
    """The URL Twilio signed: the configured public base URL, never the request's Host header (the
    caller's to choose, so a forger could make the signed URL whatever suits them)."""
    base = crossview.settings.public_base_url
    if not base:
        raise ProblemError(
            403,
            "Provider not configured",
            "set CROSSVIEW_PUBLIC_BASE_URL to the URL Twilio calls (e.g. https://crm.example.org): "
            "Twilio signs it, and it is never taken from the request",
        )
    query = f"?{request.url.query}" if request.url.query else ""
    return base.rstrip("/") + request.url.path + query


def _empty_twiml(accepted: int, ignored: int) -> Response:
    return Response(EMPTY_TWIML, media_type="text/xml")


def _twilio(webhook: twilio.SmsWebhook | twilio.VoiceWebhook) -> Edge:
    return Edge(
        webhook=lambda settings, state: webhook,
        secret=lambda settings: settings.twilio_auth_token,
        setting="TWILIO_AUTH_TOKEN",
        answer=_empty_twiml,
        signed_url=_signed_url,
    )


route(
    router,
    "/v1/ingest/twilio/sms",
    "twilio_sms",
    _twilio(twilio.SmsWebhook()),
    """Twilio Programmable Messaging: inbound messages and the status callbacks of messages we sent
    (form-encoded, signed). Answers an empty TwiML document.""",
    answers=Response,
)
route(
    router,
    "/v1/ingest/twilio/voice",
    "twilio_voice",
    _twilio(twilio.VoiceWebhook()),
    """Twilio Voice status callbacks (form-encoded, signed): a call queued, ringing, in progress,
    then completed (with its duration), busy, unanswered, failed or canceled.""",
    answers=Response,
)
route(
    router,
    "/v1/ingest/vonage/sms",
    "vonage_sms",
    Edge(
        webhook=lambda settings, state: vonage.SmsWebhook(settings.vonage_signature_method, settings.webhook_max_age_s),
        secret=lambda settings: settings.vonage_signature_secret,
        setting="VONAGE_SIGNATURE_SECRET",
        answer=lambda accepted, ignored: {"ok": True},
    ),
    """Vonage SMS API: inbound messages and delivery receipts, as GET query, POST form or POST JSON,
    signed with the ``sig`` parameter (md5hash or HMAC, per CROSSVIEW_VONAGE_SIGNATURE_METHOD).""",
    answers=dict[str, bool],
    methods=(("POST", "vonage_sms_by_body"), ("GET", "vonage_sms_by_query")),
)
