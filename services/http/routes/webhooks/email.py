"""Email providers: SendGrid, Mailgun, Amazon SES through SNS."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from channels import mailgun, sendgrid, ses
from channels.webhook_fields import PayloadError
from schemas.events import EmailInteraction
from services.application.identity import by_contact
from services.container import Container
from services.http.deps import App, ProblemError
from services.http.routes.webhooks.edge import (
    RESPONSES,
    Reached,
    check_fresh,
    configured_secret,
    forged,
    publish,
    read_body,
    refused,
)

router = APIRouter(tags=["webhooks"])


class EmailReport(Protocol):
    """What every email provider's parser reports of one event."""

    event_id: str
    message_id: str
    status: str
    address: str
    at: datetime
    url: str | None
    campaign: str | None
    reason: str | None
    bounce_type: str | None


def _reached(provider: str, report: EmailReport, field: str, crossview: Container) -> Reached:
    """An email event we sent, reaching the person (and function) its recipient address leads to."""
    return Reached(
        by_contact("email", report.address, crossview.settings.default_country_code),
        field,
        EmailInteraction(
            direction="outbound",
            provider=provider,
            provider_id=report.message_id,
            status=report.status,
            address=report.address,
            url=report.url,
            campaign=report.campaign,
            reason=report.reason,
            bounce_type=report.bounce_type,
        ),
        f"{provider}:{report.event_id}",
        report.at,
    )


@router.post("/v1/ingest/sendgrid", responses=RESPONSES)
async def sendgrid_events(request: Request, crossview: App) -> dict[str, int]:
    """SendGrid Event Webhook: a signed JSON array of email events (processed, delivered, open, click,
    bounce, dropped, deferred, spamreport, unsubscribe, group_unsubscribe, ...). All or nothing: one
    malformed event refuses the batch; kinds Crossview does not know yet are kept as they are."""
    key = configured_secret(crossview, crossview.settings.sendgrid_verification_key, "SENDGRID_VERIFICATION_KEY")
    body = await read_body(request, crossview)
    if key:
        timestamp = request.headers.get("x-twilio-email-event-webhook-timestamp")
        if not sendgrid.signature_is_valid(
            body, request.headers.get("x-twilio-email-event-webhook-signature"), timestamp, key
        ):
            raise forged(
                "header.X-Twilio-Email-Event-Webhook-Signature", "the SendGrid signature does not match this body"
            )
        check_fresh(crossview.settings.webhook_max_age_s, timestamp)
    try:
        events = sendgrid.parse_events(body)
    except PayloadError as error:
        raise refused("Not a SendGrid event batch", "body", error) from error
    reached = [_reached("sendgrid", e, f"body.{i}.email", crossview) for i, e in enumerate(events)]
    return {"accepted": await publish(crossview, reached)}


@router.post("/v1/ingest/mailgun", responses=RESPONSES)
async def mailgun_event(request: Request, crossview: App) -> dict[str, int]:
    """Mailgun webhooks (accepted, delivered, opened, clicked, unsubscribed, complained, failed),
    signed with HMAC-SHA256; a signature's token is single-use, so a replayed request is refused."""
    key = configured_secret(crossview, crossview.settings.mailgun_signing_key, "MAILGUN_SIGNING_KEY")
    body = await read_body(request, crossview)
    try:  # Mailgun signs inside the body: the signature is checked right after this parse
        event = mailgun.parse(body)
    except PayloadError as error:
        raise refused("Not a Mailgun webhook", "body", error) from error
    if key:
        if not mailgun.signature_is_valid(key, event.timestamp, event.token, event.signature):
            raise forged("body.signature", "the Mailgun signature does not match")
        check_fresh(crossview.settings.webhook_max_age_s, event.timestamp)
        if not await run_in_threadpool(crossview.used_tokens.first_use, "mailgun", event.token):
            raise ProblemError(
                403,
                "Replayed webhook",
                "this signature token was already used",
                [{"field": "body.signature.token", "message": "already used"}],
            )
    reached = [_reached("mailgun", event, "body.event-data.recipient", crossview)]
    try:
        return {"accepted": await publish(crossview, reached)}
    except Exception:
        if key:  # not accepted: Mailgun retries with the same token, which must pass then
            await run_in_threadpool(crossview.used_tokens.forget, "mailgun", event.token)
        raise


def _confirm_subscription(url: str) -> None:  # pragma: no cover - calls Amazon; tests replace it
    import urllib.request

    with urllib.request.urlopen(url, timeout=10):  # noqa: S310 - checked to be an Amazon SNS https URL
        pass


@router.post("/v1/ingest/ses", responses=RESPONSES)
async def ses_events(request: Request, crossview: App) -> dict[str, int]:
    """Amazon SES events through an SNS subscription: the subscription handshake is answered, and
    every notification is checked against Amazon's signing certificate and the allowed topics."""
    topics = configured_secret(crossview, crossview.settings.ses_topic_arns, "SES_TOPIC_ARNS")
    body = await read_body(request, crossview)
    try:  # SNS signs inside the body: topic and signature are checked right after this parse
        envelope = ses.parse_envelope(body)
    except PayloadError as error:
        raise refused("Not an SNS message", "body", error) from error
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
            raise forged("body.Signature", "the SNS signature does not verify with an Amazon SNS certificate")
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
    except PayloadError as error:
        raise refused("Not an SES event", "body", error) from error
    reached = [_reached("ses", e, "body.Message", crossview) for e in events]
    return {"accepted": await publish(crossview, reached)}
