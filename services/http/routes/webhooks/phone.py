"""SMS and voice providers: Twilio (messages, calls) and Vonage (messages)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response

from channels import twilio, vonage
from channels.webhook_fields import NotJson, PayloadError, load_json
from schemas.events import CallInteraction, Interaction, SmsInteraction
from services.application.identity import by_phone
from services.container import Container
from services.http.deps import App, ProblemError
from services.http.routes.webhooks.edge import (
    RESPONSES,
    Reached,
    check_fresh,
    configured_secret,
    forged,
    form_fields,
    publish,
    read_body,
    refused,
)

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


async def _twilio_form(request: Request, crossview: Container) -> list[tuple[str, str]]:
    token = configured_secret(crossview, crossview.settings.twilio_auth_token, "TWILIO_AUTH_TOKEN")
    url = _signed_url(request, crossview) if token else ""
    form = form_fields(await read_body(request, crossview))  # the signature covers the form's fields
    if token and not twilio.signature_is_valid(url, form, token, request.headers.get("x-twilio-signature")):
        raise forged("header.X-Twilio-Signature", "X-Twilio-Signature does not match this request")
    return form


async def _twilio_answer(
    request: Request,
    crossview: Container,
    report: twilio.SmsReport | twilio.CallReport,
    data: Interaction,
    key: str,
    at: datetime,
) -> Response:
    """Publish what Twilio reported for the customer's number, and answer with empty TwiML."""
    field = "form.From" if report.direction == "inbound" else "form.To"
    contact, attributed = by_phone(
        report.customer_number, "twilio", data.provider_id, crossview.settings.default_country_code
    )
    await publish(crossview, [Reached(contact, field, data, key, at, attributed)], request)
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.post("/v1/ingest/twilio/sms", responses=RESPONSES, response_class=Response)
async def twilio_sms(request: Request, crossview: App) -> Response:
    """Twilio Programmable Messaging: inbound messages and the status callbacks of messages we sent
    (form-encoded, signed). Answers an empty TwiML document."""
    form = await _twilio_form(request, crossview)
    try:
        report = twilio.parse_sms(form)
    except PayloadError as error:
        raise refused("Not a Twilio SMS webhook", "form", error) from error
    data = SmsInteraction(
        direction=report.direction,
        provider="twilio",
        provider_id=report.message_sid,
        status=report.status,
        from_number=report.from_number,
        to_number=report.to_number,
        body=report.body,
    )
    return await _twilio_answer(
        request, crossview, report, data, f"twilio:sms:{report.message_sid}:{report.status}", datetime.now(UTC)
    )


@router.post("/v1/ingest/twilio/voice", responses=RESPONSES, response_class=Response)
async def twilio_voice(request: Request, crossview: App) -> Response:
    """Twilio Voice status callbacks (form-encoded, signed): a call queued, ringing, in progress,
    then completed (with its duration), busy, unanswered, failed or canceled."""
    form = await _twilio_form(request, crossview)
    try:
        report = twilio.parse_call(form)
    except PayloadError as error:
        raise refused("Not a Twilio Voice callback", "form", error) from error
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
    return await _twilio_answer(
        request,
        crossview,
        report,
        data,
        f"twilio:call:{report.call_sid}:{report.status}",
        report.at or datetime.now(UTC),
    )


@router.get("/v1/ingest/vonage/sms", responses=RESPONSES, operation_id="vonage_sms_by_query")
@router.post("/v1/ingest/vonage/sms", responses=RESPONSES, operation_id="vonage_sms_by_body")
async def vonage_sms(request: Request, crossview: App) -> dict[str, bool]:
    """Vonage SMS API: inbound messages and delivery receipts, as GET query, POST form or POST JSON,
    signed with the ``sig`` parameter (md5hash or HMAC, per CROSSVIEW_VONAGE_SIGNATURE_METHOD)."""
    secret = configured_secret(crossview, crossview.settings.vonage_signature_secret, "VONAGE_SIGNATURE_SECRET")
    body = await read_body(request, crossview)
    params: dict[str, str] = dict(request.query_params)
    if body and request.headers.get("content-type", "").startswith("application/json"):
        try:  # the signature covers the parameters, wherever they come
            document = load_json(body)
        except NotJson as error:
            raise ProblemError(422, "Invalid JSON", str(error), [{"field": "body", "message": str(error)}]) from error
        if not isinstance(document, dict):
            raise ProblemError(422, "Invalid JSON", "an object is expected", [{"field": "body", "message": "object"}])
        params.update({k: str(v) for k, v in document.items() if v is not None})
    elif body:
        params.update(dict(form_fields(body)))
    if secret:
        if not vonage.signature_is_valid(params, secret, crossview.settings.vonage_signature_method):
            raise forged("sig", "the sig parameter does not match")
        check_fresh(crossview.settings.webhook_max_age_s, params.get("timestamp"))
    try:
        report = vonage.parse(params)
    except PayloadError as error:
        raise refused("Not a Vonage SMS webhook", "", error) from error
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
    contact, attributed = by_phone(customer, "vonage", report.message_id, crossview.settings.default_country_code)
    key, at = f"vonage:sms:{report.message_id}:{report.status}", report.at or datetime.now(UTC)
    await publish(crossview, [Reached(contact, "msisdn", data, key, at, attributed)], request)
    return {"ok": True}
