"""Provider webhooks: the payloads go in exactly as the providers send them.

Each request is size-checked before it is read, its signature verified on the raw body, parsed by
the provider's pure parser (channels/), its contact points resolved to people, and published; the
answer is 2xx only once the broker acknowledged (503 otherwise, and the provider retries). A
provider with no secret configured is refused, unless CROSSVIEW_INSECURE_SKIP_SIGNATURES is set.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from channels import asterisk, mailgun, segment, sendgrid, ses, twilio, vonage
from domain.contact_point import InvalidContactPointError, Resolved
from schemas.api import Problem
from schemas.envelope import CloudEvent
from schemas.events import CallInteraction, EmailInteraction, Interaction, SmsInteraction, WebInteraction
from services.application import Crossview
from services.bootstrap import Application
from services.http import App, ProblemError

router = APIRouter(tags=["webhooks"])
WEBHOOKS = uuid.UUID("9d8e6f14-3c2b-4a57-8e0d-1f6b2c3a4d5e")
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
RESPONSES = {
    403: {"model": Problem, "description": "Missing or wrong signature (nothing was published)"},
    413: {"model": Problem, "description": "Body larger than CROSSVIEW_MAX_WEBHOOK_BYTES"},
    422: {"model": Problem, "description": "Not a payload of this provider (the problem names the field)"},
    503: {"model": Problem, "description": "Broker unavailable; the provider retries"},
}


# --- what every provider shares ---------------------------------------------------------------


@dataclass(frozen=True)
class Reached:
    """One interaction a provider reported, before we know whose it is."""

    resolve: Callable[[Crossview], Resolved]  # the use case that finds (or makes) the person
    field: str  # the request field holding the contact point, named when it is invalid
    data: Interaction  # without function: the contact point decides that
    key: str  # the provider's own unique key: a retry gives the same event id
    at: datetime


@dataclass(frozen=True)
class by_contact:  # noqa: N801 - reads as the function it replaces: by_contact("email", address, "33")
    """Resolve through one contact point. Equal for the same address, so a batch resolves it once."""

    kind: str
    address: str
    country_code: str

    def __call__(self, app: Crossview) -> Resolved:
        return app.resolve_contact_point(self.kind, self.address, self.country_code)


def _publish(crossview: Application, reached: list[Reached]) -> int:
    """Resolve every contact point (each once per batch), then publish the whole batch: all
    acknowledged, or an error."""
    events, resolutions = [], {}
    for item in reached:
        try:
            if item.resolve not in resolutions:
                resolutions[item.resolve], _ = crossview.commands.run(item.resolve)
            resolved = resolutions[item.resolve]
        except InvalidContactPointError as error:
            raise ProblemError(
                422, "Invalid contact point", str(error), [{"field": item.field, "message": str(error)}]
            ) from error
        data = item.data.model_copy(update={"function_id": resolved.function_id})
        events.append(
            CloudEvent(
                id=str(uuid.uuid5(WEBHOOKS, item.key)),
                source=item.data.provider,
                type=data.event_type,
                subject=str(resolved.person_id),
                time=item.at,
                data=data.model_dump(mode="json", exclude_none=True),
            )
        )
    crossview.ingest.publish(events)
    return len(events)


async def _publish_async(crossview: Application, reached: list[Reached]) -> int:
    return await run_in_threadpool(_publish, crossview, reached)


async def _body(request: Request, crossview: Application) -> bytes:
    limit = crossview.settings.max_webhook_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ProblemError(413, "Payload too large", f"the body is larger than {limit} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ProblemError(413, "Payload too large", f"the body is larger than {limit} bytes")
    return body


def _form(body: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError as error:
        raise ProblemError(
            422, "Invalid form", "the body is not UTF-8 form data", [{"field": "body", "message": str(error)}]
        ) from error


def _secret(crossview: Application, value: str | None, setting: str) -> str | None:
    """The provider's secret; None when the operator allows unsigned trials; 403 when it is missing."""
    if crossview.settings.insecure_skip_signatures:
        return None
    if not value:
        raise ProblemError(
            403,
            "Provider not configured",
            f"set CROSSVIEW_{setting} to accept these webhooks (unsigned webhooks are refused)",
        )
    return value


def _forged(field: str, detail: str) -> ProblemError:
    return ProblemError(403, "Invalid signature", detail, [{"field": field, "message": "missing or wrong"}])


def _refused(title: str, prefix: str, error: ValueError) -> ProblemError:
    field = getattr(error, "field", "")
    where = prefix if field in ("", "body") else f"{prefix}.{field}" if prefix else field
    return ProblemError(422, title, str(error), [{"field": where, "message": str(error)}])


def _check_fresh(max_age_s: int, timestamp: str | None) -> None:
    """A signed request replayed long after it was sent is refused: the signature covers its timestamp."""
    if not max_age_s:
        return
    try:
        age = abs(datetime.now(UTC).timestamp() - int(timestamp or ""))
    except ValueError as error:
        raise ProblemError(403, "Invalid timestamp", "the signed timestamp is not a number") from error
    if age > max_age_s:
        raise ProblemError(403, "Stale webhook", f"signed {int(age)} s ago, more than {max_age_s} s: a replay?")


# --- Twilio ----------------------------------------------------------------------------------


def _signed_url(request: Request, crossview: Application) -> str:
    base = crossview.settings.public_base_url
    if not base:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return base.rstrip("/") + request.url.path + query


async def _twilio_form(request: Request, crossview: Application) -> list[tuple[str, str]]:
    form = _form(await _body(request, crossview))
    token = _secret(crossview, crossview.settings.twilio_auth_token, "TWILIO_AUTH_TOKEN")
    if token and not twilio.signature_is_valid(
        _signed_url(request, crossview), form, token, request.headers.get("x-twilio-signature")
    ):
        raise _forged("header.X-Twilio-Signature", "X-Twilio-Signature does not match this request")
    return form


async def _twilio_answer(
    crossview: Application, report: twilio.SmsReport | twilio.CallReport, data: Interaction, key: str, at: datetime
) -> Response:
    """Publish what Twilio reported for the customer's number, and answer with empty TwiML."""
    field = "form.From" if report.direction == "inbound" else "form.To"
    contact = by_contact("phone", report.customer_number, crossview.settings.default_country_code)
    await _publish_async(crossview, [Reached(contact, field, data, key, at)])
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.post("/v1/ingest/twilio/sms", responses=RESPONSES, response_class=Response)
async def twilio_sms(request: Request, crossview: App) -> Response:
    """Twilio Programmable Messaging: inbound messages and the status callbacks of messages we sent
    (form-encoded, signed). Answers an empty TwiML document."""
    form = await _twilio_form(request, crossview)
    try:
        report = twilio.parse_sms(form)
    except twilio.TwilioPayloadError as error:
        raise _refused("Not a Twilio SMS webhook", "form", error) from error
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
        crossview, report, data, f"twilio:sms:{report.message_sid}:{report.status}", datetime.now(UTC)
    )


@router.post("/v1/ingest/twilio/voice", responses=RESPONSES, response_class=Response)
async def twilio_voice(request: Request, crossview: App) -> Response:
    """Twilio Voice status callbacks (form-encoded, signed): a call queued, ringing, in progress,
    then completed (with its duration), busy, unanswered, failed or canceled."""
    form = await _twilio_form(request, crossview)
    try:
        report = twilio.parse_call(form)
    except twilio.TwilioPayloadError as error:
        raise _refused("Not a Twilio Voice callback", "form", error) from error
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
        crossview, report, data, f"twilio:call:{report.call_sid}:{report.status}", report.at or datetime.now(UTC)
    )


@router.post("/v1/ingest/asterisk", responses=RESPONSES)
async def asterisk_events(request: Request, crossview: App) -> dict[str, int]:
    """Asterisk ARI events forwarded from the ARI websocket (one event or an array): StasisStart,
    ChannelStateChange, ChannelDestroyed (duration and cause), and advisor notes as a
    ChannelUserevent named CrossviewNote with {"note": ...}. Other ARI events are ignored."""
    body = await _body(request, crossview)
    secret = _secret(crossview, crossview.settings.asterisk_secret, "ASTERISK_SECRET")
    if secret and not asterisk.credentials_are_valid(request.headers.get("authorization"), secret):
        raise _forged("header.Authorization", "HTTP Basic with the configured password is required")
    try:
        events = asterisk.parse(body)
    except asterisk.AsteriskPayloadError as error:
        raise _refused("Not an ARI event", "body", error) from error
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
    return {"accepted": await _publish_async(crossview, reached)}


# --- Vonage ----------------------------------------------------------------------------------


@router.get("/v1/ingest/vonage/sms", responses=RESPONSES, operation_id="vonage_sms_by_query")
@router.post("/v1/ingest/vonage/sms", responses=RESPONSES, operation_id="vonage_sms_by_body")
async def vonage_sms(request: Request, crossview: App) -> dict[str, bool]:
    """Vonage SMS API: inbound messages and delivery receipts, as GET query, POST form or POST JSON,
    signed with the ``sig`` parameter (md5hash)."""
    body = await _body(request, crossview)
    params: dict[str, str] = dict(request.query_params)
    if body and request.headers.get("content-type", "").startswith("application/json"):
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ProblemError(422, "Invalid JSON", str(error), [{"field": "body", "message": str(error)}]) from error
        if not isinstance(document, dict):
            raise ProblemError(422, "Invalid JSON", "an object is expected", [{"field": "body", "message": "object"}])
        params.update({k: str(v) for k, v in document.items() if v is not None})
    elif body:
        params.update(dict(_form(body)))
    secret = _secret(crossview, crossview.settings.vonage_signature_secret, "VONAGE_SIGNATURE_SECRET")
    if secret:
        if not vonage.signature_is_valid(params, secret):
            raise _forged("sig", "the sig parameter does not match")
        _check_fresh(crossview.settings.webhook_max_age_s, params.get("timestamp"))
    try:
        report = vonage.parse(params)
    except vonage.VonagePayloadError as error:
        raise _refused("Not a Vonage SMS webhook", "", error) from error
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
    await _publish_async(
        crossview,
        [
            Reached(
                by_contact("phone", customer, crossview.settings.default_country_code),
                "msisdn",
                data,
                f"vonage:sms:{report.message_id}:{report.status}",
                report.at or datetime.now(UTC),
            )
        ],
    )
    return {"ok": True}


# --- email: SendGrid, Mailgun, SES -----------------------------------------------------------


def _email(
    provider: str,
    message_id: str,
    status: str,
    address: str,
    *,
    url: str | None = None,
    campaign: str | None = None,
    reason: str | None = None,
    bounce_type: str | None = None,
) -> EmailInteraction:
    return EmailInteraction(
        direction="outbound",
        provider=provider,
        provider_id=message_id,
        status=status,
        address=address,
        url=url,
        campaign=campaign,
        reason=reason,
        bounce_type=bounce_type,
    )


@router.post("/v1/ingest/sendgrid", responses=RESPONSES)
async def sendgrid_events(request: Request, crossview: App) -> dict[str, int]:
    """SendGrid Event Webhook: a signed JSON array of email events (processed, delivered, open, click,
    bounce, dropped, deferred, spamreport, unsubscribe, group_unsubscribe, ...). All or nothing: one
    malformed event refuses the batch; kinds Crossview does not know yet are kept as they are."""
    body = await _body(request, crossview)
    key = _secret(crossview, crossview.settings.sendgrid_verification_key, "SENDGRID_VERIFICATION_KEY")
    if key:
        timestamp = request.headers.get("x-twilio-email-event-webhook-timestamp")
        if not sendgrid.signature_is_valid(
            body, request.headers.get("x-twilio-email-event-webhook-signature"), timestamp, key
        ):
            raise _forged(
                "header.X-Twilio-Email-Event-Webhook-Signature", "the SendGrid signature does not match this body"
            )
        _check_fresh(crossview.settings.webhook_max_age_s, timestamp)
    try:
        events = sendgrid.parse_events(body)
    except sendgrid.SendGridPayloadError as error:
        raise _refused("Not a SendGrid event batch", "body", error) from error
    country = crossview.settings.default_country_code
    reached = [
        Reached(
            by_contact("email", e.address, country),
            f"body.{i}.email",
            _email(
                "sendgrid",
                e.message_id,
                e.kind,
                e.address,
                url=e.url,
                campaign=e.campaign,
                reason=e.reason,
                bounce_type=e.bounce_type,
            ),
            f"sendgrid:{e.event_id}",
            e.at,
        )
        for i, e in enumerate(events)
    ]
    return {"accepted": await _publish_async(crossview, reached)}


@router.post("/v1/ingest/mailgun", responses=RESPONSES)
async def mailgun_event(request: Request, crossview: App) -> dict[str, int]:
    """Mailgun webhooks (accepted, delivered, opened, clicked, unsubscribed, complained, failed),
    signed with HMAC-SHA256; a signature's token is single-use, so a replayed request is refused."""
    body = await _body(request, crossview)
    try:
        event = mailgun.parse(body)
    except mailgun.MailgunPayloadError as error:
        raise _refused("Not a Mailgun webhook", "body", error) from error
    key = _secret(crossview, crossview.settings.mailgun_signing_key, "MAILGUN_SIGNING_KEY")
    if key:
        if not mailgun.signature_is_valid(key, event.timestamp, event.token, event.signature):
            raise _forged("body.signature", "the Mailgun signature does not match")
        _check_fresh(crossview.settings.webhook_max_age_s, event.timestamp)
        if not hasattr(request.app.state, "mailgun_tokens"):  # one memory of used tokens per running app
            request.app.state.mailgun_tokens = mailgun.UsedTokens(crossview.settings.webhook_max_age_s)
        if not request.app.state.mailgun_tokens.first_use(event.token):
            raise ProblemError(
                403,
                "Replayed webhook",
                "this signature token was already used",
                [{"field": "body.signature.token", "message": "already used"}],
            )
    data = _email(
        "mailgun",
        event.message_id,
        event.status,
        event.address,
        url=event.url,
        campaign=event.campaign,
        reason=event.reason,
        bounce_type=event.bounce_type,
    )
    reached = [
        Reached(
            by_contact("email", event.address, crossview.settings.default_country_code),
            "body.event-data.recipient",
            data,
            f"mailgun:{event.event_id}",
            event.at,
        )
    ]
    return {"accepted": await _publish_async(crossview, reached)}


def _confirm_subscription(url: str) -> None:  # pragma: no cover - calls Amazon; tests replace it
    import urllib.request

    with urllib.request.urlopen(url, timeout=10):  # noqa: S310 - checked to be an Amazon SNS https URL
        pass


@router.post("/v1/ingest/ses", responses=RESPONSES)
async def ses_events(request: Request, crossview: App) -> dict[str, int]:
    """Amazon SES events through an SNS subscription: the subscription handshake is answered, and
    every notification is checked against Amazon's signing certificate and the allowed topics."""
    body = await _body(request, crossview)
    try:
        envelope = ses.parse_envelope(body)
    except ses.SnsError as error:
        raise _refused("Not an SNS message", "body", error) from error
    topics = _secret(crossview, crossview.settings.ses_topic_arns, "SES_TOPIC_ARNS")
    if topics:
        if envelope["TopicArn"] not in {arn.strip() for arn in topics.split(",")}:
            raise ProblemError(
                403,
                "Unknown topic",
                f"{envelope['TopicArn']} is not in CROSSVIEW_SES_TOPIC_ARNS",
                [{"field": "body.TopicArn", "message": "not allowed"}],
            )
        state = request.app.state
        if not hasattr(state, "sns_certificates"):
            state.sns_certificates = ses.CertificateCache()
        if not await run_in_threadpool(ses.signature_is_valid, envelope, state.sns_certificates):
            raise _forged("body.Signature", "the SNS signature does not verify with an Amazon SNS certificate")
    if envelope["Type"] == "SubscriptionConfirmation":
        url = envelope.get("SubscribeURL") or ""
        if not ses.subscribe_url_is_amazons(url):
            raise ProblemError(
                422,
                "Invalid SubscribeURL",
                "not an Amazon SNS https URL",
                [{"field": "body.SubscribeURL", "message": "not Amazon's"}],
            )
        await run_in_threadpool(getattr(request.app.state, "sns_confirm", _confirm_subscription), url)
    if envelope["Type"] != "Notification":
        return {"accepted": 0}
    try:
        events = ses.parse_ses(envelope["Message"], envelope["MessageId"])
    except ses.SnsError as error:
        raise _refused("Not an SES event", "body", error) from error
    country = crossview.settings.default_country_code
    reached = [
        Reached(
            by_contact("email", e.address, country),
            "body.Message",
            _email(
                "ses",
                e.message_id,
                e.status,
                e.address,
                url=e.url,
                campaign=e.campaign,
                reason=e.reason,
                bounce_type=e.bounce_type,
            ),
            f"ses:{e.event_id}",
            e.at,
        )
        for e in events
    ]
    return {"accepted": await _publish_async(crossview, reached)}


# --- web: Segment ----------------------------------------------------------------------------


def _identify(message: segment.SegmentMessage) -> Callable[[Crossview], Resolved]:
    """identify and alias join the identities they name (and the email of an identify)."""

    def use_case(app: Crossview) -> Resolved:
        points = [("web", web_id) for web_id in message.identities]
        if message.type == "alias" and message.previous_id:
            known_user = app.find_contact_point("web", f"user:{message.previous_id}")
            points.append(("web", f"{'user' if known_user else 'anon'}:{message.previous_id}"))
        if message.email:
            points.append(("email", message.email))
        return app.identify(points)

    return use_case


@router.post("/v1/ingest/segment", responses=RESPONSES)
async def segment_messages(request: Request, crossview: App) -> dict[str, bool]:
    """The Segment Spec as Segment-compatible libraries send it: identify, track, page, screen,
    group and alias, alone or as {"batch": [...]}, authenticated by the source's write key (HTTP
    Basic). identify and alias join the identities they name; every message is a web interaction."""
    body = await _body(request, crossview)
    key = _secret(crossview, crossview.settings.segment_write_key, "SEGMENT_WRITE_KEY")
    if key and not segment.write_key_is_valid(request.headers.get("authorization"), key):
        raise ProblemError(
            403,
            "Invalid write key",
            "HTTP Basic with the source's write key is required",
            [{"field": "header.Authorization", "message": "missing or wrong write key"}],
        )
    try:
        messages = segment.parse(body)
    except segment.SegmentPayloadError as error:
        raise _refused("Not a Segment message", "", error) from error
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
    await _publish_async(crossview, reached)
    return {"success": True}
