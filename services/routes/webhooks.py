"""Provider webhooks: the payloads go in exactly as the providers send them.

Each request is size-checked before it is read, its signature verified on the raw body, parsed
by the provider's pure parser, its contact point resolved to a person, and published; the answer
is 2xx only once the broker acknowledged (503 otherwise, and the provider retries).
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from channels import mailgun, segment, sendgrid, ses, vonage
from channels.twilio import TwilioPayloadError, parse_call, parse_sms, signature_is_valid
from domain.contact_point import InvalidContactPointError, Resolved
from schemas.api import Problem
from schemas.envelope import CloudEvent
from schemas.events import CallInteraction, EmailInteraction, SmsInteraction, WebInteraction
from services.bootstrap import Application
from services.http import App, ProblemError

log = logging.getLogger(__name__)
router = APIRouter(tags=["webhooks"])
WEBHOOKS = uuid.UUID("9d8e6f14-3c2b-4a57-8e0d-1f6b2c3a4d5e")
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
RESPONSES = {
    403: {"model": Problem, "description": "Missing or wrong signature (nothing was published)"},
    413: {"model": Problem, "description": "Body larger than CROSSVIEW_MAX_WEBHOOK_BYTES"},
    422: {"model": Problem, "description": "Not a payload of this provider (the problem names the field)"},
    503: {"model": Problem, "description": "Broker unavailable; the provider retries"},
}


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


def _signed_url(request: Request, crossview: Application) -> str:
    base = crossview.settings.public_base_url
    if not base:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return base.rstrip("/") + request.url.path + query


def _check_twilio(request: Request, crossview: Application, form: list[tuple[str, str]]) -> None:
    settings = crossview.settings
    if settings.insecure_skip_signatures:
        return
    if not settings.twilio_auth_token:
        raise ProblemError(
            403,
            "Twilio webhooks are not configured",
            "set CROSSVIEW_TWILIO_AUTH_TOKEN to accept them (unsigned webhooks are refused)",
        )
    if not signature_is_valid(
        _signed_url(request, crossview), form, settings.twilio_auth_token, request.headers.get("x-twilio-signature")
    ):
        raise ProblemError(
            403,
            "Invalid signature",
            "X-Twilio-Signature does not match this request",
            [{"field": "header.X-Twilio-Signature", "message": "missing or wrong"}],
        )


@router.post("/v1/ingest/twilio/sms", responses=RESPONSES, response_class=Response)
async def twilio_sms(request: Request, crossview: App) -> Response:
    """Twilio Programmable Messaging: inbound messages and the status callbacks of messages we sent
    (form-encoded, signed). Answers an empty TwiML document."""
    form = _form(await _body(request, crossview))
    _check_twilio(request, crossview, form)
    try:
        report = parse_sms(form)
    except TwilioPayloadError as error:
        raise ProblemError(
            422, "Not a Twilio SMS webhook", str(error), [{"field": f"form.{error.field}", "message": str(error)}]
        ) from error

    def publish() -> None:
        settings = crossview.settings
        try:
            resolved, _ = crossview.commands.run(
                lambda app: app.resolve_contact_point("phone", report.customer_number, settings.default_country_code)
            )
        except InvalidContactPointError as error:
            field = "From" if report.direction == "inbound" else "To"
            raise ProblemError(
                422, "Invalid phone number", str(error), [{"field": f"form.{field}", "message": str(error)}]
            ) from error
        data = SmsInteraction(
            direction=report.direction,
            provider="twilio",
            provider_id=report.message_sid,
            status=report.status,
            from_number=report.from_number,
            to_number=report.to_number,
            body=report.body,
            function_id=resolved.function_id,
        )
        crossview.ingest.publish(
            [
                CloudEvent(
                    # A provider's retry of the same message and status is the same event.
                    id=str(uuid.uuid5(WEBHOOKS, f"twilio:sms:{report.message_sid}:{report.status}")),
                    source="twilio",
                    type=data.event_type,
                    subject=str(resolved.person_id),
                    time=datetime.now(UTC),
                    data=data.model_dump(mode="json", exclude_none=True),
                )
            ]
        )

    await run_in_threadpool(publish)
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.post("/v1/ingest/sendgrid", responses=RESPONSES)
async def sendgrid_events(request: Request, crossview: App) -> dict[str, int]:
    """SendGrid Event Webhook: a signed JSON array of email events (processed, delivered, open, click,
    bounce, dropped, deferred, spamreport, unsubscribe, group_unsubscribe, ...). All or nothing: one
    malformed event refuses the batch; kinds Crossview does not know yet are kept as they are."""
    body = await _body(request, crossview)
    settings = crossview.settings
    if not settings.insecure_skip_signatures:
        if not settings.sendgrid_verification_key:
            raise ProblemError(
                403,
                "SendGrid webhooks are not configured",
                "set CROSSVIEW_SENDGRID_VERIFICATION_KEY to accept them (unsigned webhooks are refused)",
            )
        timestamp = request.headers.get("x-twilio-email-event-webhook-timestamp")
        if not sendgrid.signature_is_valid(
            body,
            request.headers.get("x-twilio-email-event-webhook-signature"),
            timestamp,
            settings.sendgrid_verification_key,
        ):
            raise ProblemError(
                403,
                "Invalid signature",
                "the SendGrid signature does not match this body",
                [{"field": "header.X-Twilio-Email-Event-Webhook-Signature", "message": "missing or wrong"}],
            )
        _check_fresh(settings.webhook_max_age_s, timestamp)
    try:
        events = sendgrid.parse_events(body)
    except sendgrid.SendGridPayloadError as error:
        raise ProblemError(
            422,
            "Not a SendGrid event batch",
            str(error),
            [{"field": f"body.{error.field}".rstrip("."), "message": str(error)}],
        ) from error

    def publish() -> int:
        people: dict[str, Resolved] = {}
        cloud_events = []
        for index, e in enumerate(events):
            if e.address not in people:
                try:
                    people[e.address], _ = crossview.commands.run(
                        lambda app, a=e.address: app.resolve_contact_point("email", a)
                    )
                except InvalidContactPointError as error:
                    raise ProblemError(
                        422,
                        "Invalid email address",
                        str(error),
                        [{"field": f"body.{index}.email", "message": str(error)}],
                    ) from error
            data = EmailInteraction(
                direction="outbound",
                provider="sendgrid",
                provider_id=e.message_id,
                status=e.kind,
                address=e.address,
                url=e.url,
                campaign=e.campaign,
                reason=e.reason,
                bounce_type=e.bounce_type,
                function_id=people[e.address].function_id,
            )
            cloud_events.append(
                CloudEvent(
                    id=str(uuid.uuid5(WEBHOOKS, f"sendgrid:{e.event_id}")),
                    source="sendgrid",
                    type=data.event_type,
                    subject=str(people[e.address].person_id),
                    time=e.at,
                    data=data.model_dump(mode="json", exclude_none=True),
                )
            )
        crossview.ingest.publish(cloud_events)
        return len(cloud_events)

    return {"accepted": await run_in_threadpool(publish)}


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


@router.post("/v1/ingest/segment", responses=RESPONSES)
async def segment_messages(request: Request, crossview: App) -> dict[str, bool]:
    """The Segment Spec as Segment-compatible libraries send it: identify, track, page, screen,
    group and alias, alone or as {"batch": [...]}, authenticated by the source's write key (HTTP
    Basic). identify and alias join the identities they name; every message is a web interaction."""
    body = await _body(request, crossview)
    settings = crossview.settings
    if not settings.insecure_skip_signatures:
        if not settings.segment_write_key:
            raise ProblemError(
                403,
                "Segment ingest is not configured",
                "set CROSSVIEW_SEGMENT_WRITE_KEY to accept it (unauthenticated messages are refused)",
            )
        if not segment.write_key_is_valid(request.headers.get("authorization"), settings.segment_write_key):
            raise ProblemError(
                403,
                "Invalid write key",
                "HTTP Basic with the source's write key is required",
                [{"field": "header.Authorization", "message": "missing or wrong write key"}],
            )
    try:
        messages = segment.parse(body)
    except segment.SegmentPayloadError as error:
        raise ProblemError(
            422,
            "Not a Segment message",
            str(error),
            [{"field": f"body.{error.field}".replace("body.body", "body"), "message": str(error)}],
        ) from error

    def person_of(message: segment.SegmentMessage) -> uuid.UUID:
        def use_case(app) -> uuid.UUID:
            points = [("web", web_id) for web_id in message.identities]
            if message.type == "alias" and message.previous_id:
                previous = (
                    app.find_contact_point("web", f"user:{message.previous_id}")
                    and ("web", f"user:{message.previous_id}")
                ) or ("web", f"anon:{message.previous_id}")
                points.append(previous)
            if message.email:
                points.append(("email", message.email))
            return app.identify(points).person_id

        try:
            person, _ = crossview.commands.run(use_case)
        except InvalidContactPointError as error:
            raise ProblemError(
                422, "Invalid identity", str(error), [{"field": "traits.email", "message": str(error)}]
            ) from error
        return person

    def publish() -> None:
        events = []
        for message in messages:
            data = WebInteraction(
                direction="inbound",
                provider="segment",
                provider_id=message.message_id,
                status="received",
                action=message.type,
                name=message.name,
                url=message.url,
                properties=message.properties,
            )
            events.append(
                CloudEvent(
                    id=str(uuid.uuid5(WEBHOOKS, f"segment:{message.message_id}")),
                    source="segment",
                    type=data.event_type,
                    subject=str(person_of(message)),
                    time=message.at,
                    data=data.model_dump(mode="json", exclude_none=True),
                )
            )
        crossview.ingest.publish(events)

    await run_in_threadpool(publish)
    return {"success": True}


@router.post("/v1/ingest/mailgun", responses=RESPONSES)
async def mailgun_event(request: Request, crossview: App) -> dict[str, int]:
    """Mailgun webhooks (accepted, delivered, opened, clicked, unsubscribed, complained, failed),
    signed with HMAC-SHA256; a signature's token is single-use, so a replayed request is refused."""
    body = await _body(request, crossview)
    settings = crossview.settings
    try:
        event = mailgun.parse(body)
    except mailgun.MailgunPayloadError as error:
        raise ProblemError(
            422,
            "Not a Mailgun webhook",
            str(error),
            [{"field": f"body.{error.field}".replace("body.body", "body"), "message": str(error)}],
        ) from error
    if not settings.insecure_skip_signatures:
        if not settings.mailgun_signing_key:
            raise ProblemError(
                403,
                "Mailgun webhooks are not configured",
                "set CROSSVIEW_MAILGUN_SIGNING_KEY to accept them (unsigned webhooks are refused)",
            )
        if not mailgun.signature_is_valid(settings.mailgun_signing_key, event.timestamp, event.token, event.signature):
            raise ProblemError(
                403,
                "Invalid signature",
                "the Mailgun signature does not match",
                [{"field": "body.signature", "message": "wrong"}],
            )
        _check_fresh(settings.webhook_max_age_s, event.timestamp)
        if not hasattr(request.app.state, "mailgun_tokens"):  # one memory of used tokens per running app
            request.app.state.mailgun_tokens = mailgun.UsedTokens(settings.webhook_max_age_s)
        if not request.app.state.mailgun_tokens.first_use(event.token):
            raise ProblemError(
                403,
                "Replayed webhook",
                "this signature token was already used",
                [{"field": "body.signature.token", "message": "already used"}],
            )

    def publish() -> int:
        try:
            resolved, _ = crossview.commands.run(lambda app: app.resolve_contact_point("email", event.address))
        except InvalidContactPointError as error:
            raise ProblemError(
                422,
                "Invalid email address",
                str(error),
                [{"field": "body.event-data.recipient", "message": str(error)}],
            ) from error
        data = EmailInteraction(
            direction="outbound",
            provider="mailgun",
            provider_id=event.message_id,
            status=event.status,
            address=event.address,
            url=event.url,
            campaign=event.campaign,
            reason=event.reason,
            bounce_type=event.bounce_type,
            function_id=resolved.function_id,
        )
        crossview.ingest.publish(
            [
                CloudEvent(
                    id=str(uuid.uuid5(WEBHOOKS, f"mailgun:{event.event_id}")),
                    source="mailgun",
                    type=data.event_type,
                    subject=str(resolved.person_id),
                    time=event.at,
                    data=data.model_dump(mode="json", exclude_none=True),
                )
            ]
        )
        return 1

    return {"accepted": await run_in_threadpool(publish)}


@router.post("/v1/ingest/twilio/voice", responses=RESPONSES, response_class=Response)
async def twilio_voice(request: Request, crossview: App) -> Response:
    """Twilio Voice status callbacks (form-encoded, signed): a call queued, ringing, in progress,
    then completed (with its duration), busy, unanswered, failed or canceled."""
    form = _form(await _body(request, crossview))
    _check_twilio(request, crossview, form)
    try:
        report = parse_call(form)
    except TwilioPayloadError as error:
        raise ProblemError(
            422, "Not a Twilio Voice callback", str(error), [{"field": f"form.{error.field}", "message": str(error)}]
        ) from error

    def publish() -> None:
        try:
            resolved, _ = crossview.commands.run(
                lambda app: app.resolve_contact_point(
                    "phone", report.customer_number, crossview.settings.default_country_code
                )
            )
        except InvalidContactPointError as error:
            raise ProblemError(
                422, "Invalid phone number", str(error), [{"field": "form.From", "message": str(error)}]
            ) from error
        data = CallInteraction(
            direction=report.direction,
            provider="twilio",
            provider_id=report.call_sid,
            status=report.status,
            from_number=report.from_number,
            to_number=report.to_number,
            duration_seconds=report.duration_seconds,
            outcome=report.outcome,
            function_id=resolved.function_id,
        )
        crossview.ingest.publish(
            [
                CloudEvent(
                    id=str(uuid.uuid5(WEBHOOKS, f"twilio:call:{report.call_sid}:{report.status}")),
                    source="twilio",
                    type=data.event_type,
                    subject=str(resolved.person_id),
                    time=report.at or datetime.now(UTC),
                    data=data.model_dump(mode="json", exclude_none=True),
                )
            ]
        )

    await run_in_threadpool(publish)
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.api_route("/v1/ingest/vonage/sms", methods=["GET", "POST"], responses=RESPONSES)
async def vonage_sms(request: Request, crossview: App) -> dict[str, bool]:
    """Vonage SMS API: inbound messages and delivery receipts, as GET query, POST form or POST JSON,
    signed with the ``sig`` parameter (md5hash)."""
    body = await _body(request, crossview)
    params: dict[str, str] = dict(request.query_params)
    if body:
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                document = json.loads(body)
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                raise ProblemError(
                    422, "Invalid JSON", str(error), [{"field": "body", "message": str(error)}]
                ) from error
            if not isinstance(document, dict):
                raise ProblemError(
                    422, "Invalid JSON", "an object is expected", [{"field": "body", "message": "object"}]
                )
            params.update({k: str(v) for k, v in document.items() if v is not None})
        else:
            params.update(dict(_form(body)))
    settings = crossview.settings
    if not settings.insecure_skip_signatures:
        if not settings.vonage_signature_secret:
            raise ProblemError(
                403,
                "Vonage webhooks are not configured",
                "set CROSSVIEW_VONAGE_SIGNATURE_SECRET to accept them (unsigned webhooks are refused)",
            )
        if not vonage.signature_is_valid(params, settings.vonage_signature_secret):
            raise ProblemError(
                403,
                "Invalid signature",
                "the sig parameter does not match",
                [{"field": "sig", "message": "missing or wrong"}],
            )
        _check_fresh(settings.webhook_max_age_s, params.get("timestamp"))
    try:
        report = vonage.parse(params)
    except vonage.VonagePayloadError as error:
        raise ProblemError(
            422, "Not a Vonage SMS webhook", str(error), [{"field": error.field, "message": str(error)}]
        ) from error

    def publish() -> None:
        customer = report.from_number if report.direction == "inbound" else report.to_number
        try:
            resolved, _ = crossview.commands.run(
                lambda app: app.resolve_contact_point("phone", customer, settings.default_country_code)
            )
        except InvalidContactPointError as error:
            raise ProblemError(
                422, "Invalid phone number", str(error), [{"field": "msisdn", "message": str(error)}]
            ) from error
        data = SmsInteraction(
            direction=report.direction,
            provider="vonage",
            provider_id=report.message_id,
            status=report.status,
            from_number=report.from_number,
            to_number=report.to_number,
            body=report.body,
            function_id=resolved.function_id,
        )
        crossview.ingest.publish(
            [
                CloudEvent(
                    id=str(uuid.uuid5(WEBHOOKS, f"vonage:sms:{report.message_id}:{report.status}")),
                    source="vonage",
                    type=data.event_type,
                    subject=str(resolved.person_id),
                    time=report.at or datetime.now(UTC),
                    data=data.model_dump(mode="json", exclude_none=True),
                )
            ]
        )

    await run_in_threadpool(publish)
    return {"ok": True}


def _confirm_subscription(url: str) -> None:  # pragma: no cover - calls Amazon; tests replace it
    import urllib.request

    with urllib.request.urlopen(url, timeout=10):  # noqa: S310 - checked to be an Amazon SNS https URL
        pass


@router.post("/v1/ingest/ses", responses=RESPONSES)
async def ses_events(request: Request, crossview: App) -> dict[str, int]:
    """Amazon SES events through an SNS subscription: the subscription handshake is answered, and
    every notification is checked against Amazon's signing certificate and the allowed topics."""
    body = await _body(request, crossview)
    settings = crossview.settings
    try:
        envelope = ses.parse_envelope(body)
    except ses.SnsError as error:
        raise ProblemError(
            422, "Not an SNS message", str(error), [{"field": f"body.{error.field}", "message": str(error)}]
        ) from error
    if not settings.insecure_skip_signatures:
        allowed = {arn.strip() for arn in (settings.ses_topic_arns or "").split(",") if arn.strip()}
        if not allowed:
            raise ProblemError(
                403,
                "SES events are not configured",
                "set CROSSVIEW_SES_TOPIC_ARNS to the SNS topics to accept (others are refused)",
            )
        if envelope["TopicArn"] not in allowed:
            raise ProblemError(
                403,
                "Unknown topic",
                f"{envelope['TopicArn']} is not in CROSSVIEW_SES_TOPIC_ARNS",
                [{"field": "body.TopicArn", "message": "not allowed"}],
            )
        state = request.app.state
        if not hasattr(state, "sns_certificates"):
            state.sns_certificates = ses.CertificateCache()
        checked = await run_in_threadpool(ses.signature_is_valid, envelope, state.sns_certificates)
        if not checked:
            raise ProblemError(
                403,
                "Invalid signature",
                "the SNS signature does not verify with an Amazon SNS certificate",
                [{"field": "body.Signature", "message": "wrong, or certificate not from Amazon"}],
            )
    if envelope["Type"] != "Notification":
        url = envelope.get("SubscribeURL") or ""
        if envelope["Type"] == "SubscriptionConfirmation":
            if not ses.subscribe_url_is_amazons(url):
                raise ProblemError(
                    422,
                    "Invalid SubscribeURL",
                    "not an Amazon SNS https URL",
                    [{"field": "body.SubscribeURL", "message": "not Amazon's"}],
                )
            confirm = getattr(request.app.state, "sns_confirm", _confirm_subscription)
            await run_in_threadpool(confirm, url)
        return {"accepted": 0}
    try:
        events = ses.parse_ses(envelope["Message"], envelope["MessageId"])
    except ses.SnsError as error:
        raise ProblemError(
            422, "Not an SES event", str(error), [{"field": f"body.{error.field}", "message": str(error)}]
        ) from error

    def publish() -> int:
        cloud_events = []
        for event in events:
            try:
                resolved, _ = crossview.commands.run(lambda app, a=event.address: app.resolve_contact_point("email", a))
            except InvalidContactPointError as error:
                raise ProblemError(
                    422, "Invalid email address", str(error), [{"field": "body.Message", "message": str(error)}]
                ) from error
            data = EmailInteraction(
                direction="outbound",
                provider="ses",
                provider_id=event.message_id,
                status=event.status,
                address=event.address,
                url=event.url,
                campaign=event.campaign,
                reason=event.reason,
                bounce_type=event.bounce_type,
                function_id=resolved.function_id,
            )
            cloud_events.append(
                CloudEvent(
                    id=str(uuid.uuid5(WEBHOOKS, f"ses:{event.event_id}")),
                    source="ses",
                    type=data.event_type,
                    subject=str(resolved.person_id),
                    time=event.at,
                    data=data.model_dump(mode="json", exclude_none=True),
                )
            )
        crossview.ingest.publish(cloud_events)
        return len(cloud_events)

    return {"accepted": await run_in_threadpool(publish)}
