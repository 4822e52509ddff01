"""Email providers: SendGrid, Mailgun, Amazon SES through SNS."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from channels import mailgun, sendgrid, ses
from channels.inbound_email import InboundEmail
from channels.provider import WebhookRequest
from schemas.envelope import CloudEvent
from services.container import Container
from services.http.deps import ProblemError
from services.http.routes.webhooks.edge import Attributed
from services.http.routes.webhooks.pipeline import Edge, route

router = APIRouter(tags=["webhooks"])


@asynccontextmanager
async def _single_use_tokens(crossview: Container, events: Sequence[Any], key: str | None) -> AsyncIterator[None]:
    """A Mailgun signature's token is used once: a request repeating one is a replay. A request
    not accepted gives its token back, since Mailgun retries with the same one."""
    if not key:
        yield
        return
    token = events[0].token
    if not await run_in_threadpool(crossview.used_tokens.first_use, "mailgun", token):
        raise ProblemError(
            403,
            "Replayed webhook",
            "this signature token was already used",
            [{"field": "body.signature.token", "message": "already used"}],
        )
    try:
        yield
    except Exception:
        await run_in_threadpool(crossview.used_tokens.forget, "mailgun", token)
        raise


def _open_service_requests(crossview: Container, events: list[tuple[Attributed, CloudEvent]]) -> None:
    """An inbound email opens a service request for the person its sender's address led to, once:
    the request id derives from the Message-ID."""
    for item, event in events:
        email = item.asks
        if isinstance(email, InboundEmail):
            crossview.commands.run(
                lambda app, email=email, event=event: app.open_from_email(
                    uuid.UUID(event.subject),
                    event.data.get("function_id"),
                    email.provider,
                    email.message_id,
                    email.recipients,
                    email.subject,
                    email.text,
                )
            )


def _sns_certificates(state: Any) -> ses.CertificateCache:
    if not hasattr(state, "sns_certificates"):
        state.sns_certificates = ses.CertificateCache()
    return state.sns_certificates


def _confirm_subscription(url: str) -> None:  # pragma: no cover - calls Amazon; tests replace it
    import urllib.request

    with urllib.request.urlopen(url, timeout=10):  # noqa: S310 - checked to be an Amazon SNS https URL
        pass


async def _sns_handshake(request: Request, parts: WebhookRequest) -> None:
    """SNS asks, once, to confirm the subscription: by fetching the SubscribeURL it gives."""
    envelope = ses.parse_envelope(parts.body)
    if envelope["Type"] != "SubscriptionConfirmation":
        return
    url = envelope.get("SubscribeURL") or ""
    if not ses.subscribe_url_is_amazons(url):
        raise ProblemError(
            422,
            "Invalid SubscribeURL",
            "not an Amazon SNS https URL",
            [{"field": "body.SubscribeURL", "message": "not Amazon's"}],
        )
    await run_in_threadpool(getattr(request.app.state, "sns_confirm", _confirm_subscription), url)


route(
    router,
    "/v1/ingest/sendgrid",
    "sendgrid_events",
    Edge(
        webhook=lambda settings, state: sendgrid.EventWebhook(settings.webhook_max_age_s),
        secret=lambda settings: settings.sendgrid_verification_key,
        setting="SENDGRID_VERIFICATION_KEY",
    ),
    """SendGrid Event Webhook: a signed JSON array of email events (processed, delivered, open, click,
    bounce, dropped, deferred, spamreport, unsubscribe, group_unsubscribe, ...). All or nothing: one
    malformed event refuses the batch; kinds Crossview does not know yet are kept as they are.""",
)
route(
    router,
    "/v1/ingest/mailgun",
    "mailgun_event",
    Edge(
        webhook=lambda settings, state: mailgun.EventWebhook(settings.webhook_max_age_s),
        secret=lambda settings: settings.mailgun_signing_key,
        setting="MAILGUN_SIGNING_KEY",
        guard=_single_use_tokens,
    ),
    """Mailgun webhooks (accepted, delivered, opened, clicked, unsubscribed, complained, failed),
    signed with HMAC-SHA256; a signature's token is single-use, so a replayed request is refused.""",
)
route(
    router,
    "/v1/ingest/ses",
    "ses_events",
    Edge(
        webhook=lambda settings, state: ses.EventWebhook(_sns_certificates(state)),
        secret=lambda settings: settings.ses_topic_arns,
        setting="SES_TOPIC_ARNS",
        handshake=_sns_handshake,
    ),
    """Amazon SES events through an SNS subscription: the subscription handshake is answered, and
    every notification is checked against Amazon's signing certificate and the allowed topics.""",
)
route(
    router,
    "/v1/ingest/sendgrid/inbound",
    "sendgrid_inbound_parse",
    Edge(
        webhook=lambda settings, state: sendgrid.InboundParseWebhook(settings.webhook_max_age_s),
        secret=lambda settings: settings.sendgrid_parse_verification_key,
        setting="SENDGRID_PARSE_VERIFICATION_KEY",
        follow=_open_service_requests,
    ),
    """SendGrid Inbound Parse: an email a customer sent to one of our addresses, posted as
    `multipart/form-data` (`from`, `to`, `subject`, `text`, `headers`, `envelope`...; "send raw" too),
    signed by the Parse webhook's security policy (ECDSA, the Event Webhook's headers). The email is an
    inbound interaction of the sender's person, and opens a service request for them (a complaint when
    sent to `complaint@...` or `...+complaint@...`: any kind's code names it; else a request),
    attributed to the function whose email it is. A retry opens nothing more.""",
)
route(
    router,
    "/v1/ingest/mailgun/inbound",
    "mailgun_inbound_route",
    Edge(
        webhook=lambda settings, state: mailgun.RouteWebhook(settings.webhook_max_age_s),
        secret=lambda settings: settings.mailgun_signing_key,
        setting="MAILGUN_SIGNING_KEY",
        follow=_open_service_requests,
    ),
    """Mailgun routes (`forward()` to this URL): an email a customer sent to one of our addresses,
    fully parsed (`from`, `sender`, `recipient`, `subject`, `body-plain`, `stripped-text`,
    `Message-Id`, `message-headers`...), form-encoded or `multipart/form-data`, signed inside the form
    as Mailgun's webhooks are (`timestamp`, `token`, `signature`). Handled as the SendGrid route is; a
    retry opens nothing more.""",
)
