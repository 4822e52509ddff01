"""The web: the Segment Spec, through the webhook and through Segment's HTTP Tracking API."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from fastapi import APIRouter

from channels import segment
from channels.webhook_fields import PayloadError
from domain.errors import RetiredRequestKindError, UnknownRequestKindError
from domain.lead import lead_id_for
from schemas.api import Problem
from schemas.envelope import CloudEvent
from services.container import Container
from services.http.deps import ProblemError
from services.http.routes.webhooks.edge import Attributed
from services.http.routes.webhooks.pipeline import Edge, route

log = logging.getLogger(__name__)
router = APIRouter(tags=["webhooks"])
TRACKING_API = "/v1/ingest/segment"  # the `host` to give Segment's libraries: they call {host}/v1/batch


def _kinds_open(crossview: Container, messages: Sequence[segment.SegmentMessage]) -> None:
    """A web form asking for a kind of request the referential does not offer refuses the whole
    request, before anyone is resolved or any other form is acted on."""
    for message in messages:
        if message.type != "track" or message.name != segment.SERVICE_REQUEST_SUBMITTED:
            continue
        kind = segment.service_request_properties(message.properties).kind  # its form checked when parsed
        try:
            crossview.commands.app.check_request_kind(kind)
        except (UnknownRequestKindError, RetiredRequestKindError) as error:
            raise PayloadError(
                f"{message.where}.properties.kind", str(error), title="Invalid service request"
            ) from error


def _open_service_requests(crossview: Container, events: list[tuple[Attributed, CloudEvent]]) -> None:
    """Each "Service Request Submitted" track (its properties checked when parsed) opens a service
    request for its person, once: the request id derives from the event id, itself from the
    message id. The kinds were checked before anyone was resolved (_kinds_open); one retired
    since is a 422 naming it."""
    for item, event in events:
        form = segment.service_request_form(item.data)
        if form is None:
            continue
        try:
            crossview.commands.run(
                lambda app, form=form, event=event: app.open_from_web(
                    uuid.UUID(event.subject),
                    event.data.get("function_id"),
                    event.id,
                    form.kind,
                    form.subject,
                    form.description,
                )
            )
        except (UnknownRequestKindError, RetiredRequestKindError) as error:
            raise ProblemError(
                422, "Invalid service request", str(error), [{"field": "properties.kind", "message": str(error)}]
            ) from error


def _create_leads(crossview: Container, events: list[tuple[Attributed, CloudEvent]]) -> None:
    """Each "Lead Submitted" track, and each identify carrying a ``traits.lead``, creates a lead for
    its person, once: the lead id derives from the event id, itself from the message id, so a retry
    finds the lead it created (from the submission's own id and the person, when the form gives
    one). Every form was checked when parsed: a malformed one was refused (422) before anyone was
    resolved; an identify whose lead trait lacks its product was accepted, and creates no lead."""
    forms = []
    for item, event in events:
        try:
            form = segment.lead_form(item.data)
        except segment.IncompleteForm as error:  # an identify's: accepted and recorded when parsed
            log.warning("Segment message %s creates no lead: %s", item.data.provider_id, error)
            continue
        except PayloadError as error:  # checked when parsed: only a message parsed otherwise gets here
            raise ProblemError(
                422, "Invalid lead", str(error), [{"field": f"body.{error.field}", "message": error.message}]
            ) from error
        if form is not None:
            forms.append((form, event))
    for form, event in forms:
        source = f"segment:{event.subject}:{form.submission_id}" if form.submission_id else f"segment:{event.id}"
        crossview.commands.run(
            lambda app, form=form, event=event, source=source: app.create_lead(
                uuid.UUID(event.subject),
                form.product,
                "campaign" if form.campaign else "web",
                "segment",
                function_id=event.data.get("function_id"),
                campaign=form.campaign,
                employees=form.employees,
                budget=form.budget,
                source_ref=event.id,
                lead_id=lead_id_for(source),
            )
        )


def _follow_ups(crossview: Container, events: list[tuple[Attributed, CloudEvent]]) -> None:
    """What a web form (or an identify's lead trait) asks beside its interaction: a service
    request, a lead."""
    _open_service_requests(crossview, events)
    _create_leads(crossview, events)


def _segment_edge(webhook: segment.MessageWebhook, credentials_in_headers: bool) -> Edge:
    return Edge(
        webhook=lambda settings, state: webhook,
        secret=lambda settings: settings.segment_write_key,
        setting="SEGMENT_WRITE_KEY",
        answer=lambda accepted, ignored: {"success": True},
        credentials_in_headers=credentials_in_headers,
        problem=_as_segment_error,
        check=_kinds_open,
        follow=_follow_ups,
    )


def _as_segment_error(problem: Problem) -> Problem:
    """A problem as Segment's libraries read an error: they log its ``code`` and ``message``
    (analytics-python's APIError), and decide on retrying by the status alone (4xx but 408, 410,
    429 and 460 is final; 5xx and 429 are retried, after Retry-After when given)."""
    code = {401: "unauthorized", 403: "invalid_write_key", 413: "payload_too_large"}.get(problem.status, "invalid")
    return problem.model_copy(update={"code": code, "message": problem.detail or problem.title})


route(
    router,
    "/v1/ingest/segment",
    "segment_messages",
    _segment_edge(segment.MessageWebhook(), credentials_in_headers=True),
    """The Segment Spec as Segment-compatible libraries send it: identify, track, page, screen,
    group and alias, alone or as {"batch": [...]}, authenticated by the source's write key (HTTP
    Basic). identify and alias join the identities they name; group links the person to the
    group's organisation through a function; every message is a web interaction. A track
    "Service Request Submitted" opens a service request, a track "Lead Submitted" or an identify
    whose traits carry `lead` creates a lead (README: the forms' fields).""",
    answers=dict[str, bool],
)
for endpoint in segment.TRACKING_ENDPOINTS:
    # The write key may be in the body alone (writeKey), so it is checked once the body is read.
    route(
        router,
        f"{TRACKING_API}/v1/{endpoint}",
        f"segment_tracking_{endpoint}",
        _segment_edge(segment.TrackingWebhook(None if endpoint == "batch" else endpoint), credentials_in_headers=False),
        f"""Segment's HTTP Tracking API, `/v1/{endpoint}`, as Segment's own libraries call it (give them
        `host` = this server + `{TRACKING_API}`): """
        + (
            """`{"batch": [...]}`, each message carrying its `type`."""
            if endpoint == "batch"
            else f"""one `{endpoint}` message (the endpoint names its type)."""
        )
        + """ The source's write key in HTTP Basic (user name) or as `writeKey` in the body; the body
        may be gzip (`Content-Encoding: gzip`); a message without `messageId` gets one derived from
        its content. Answers `{"success": true}` once the broker acknowledged; errors carry Segment's
        `code` and `message` beside the problem's fields. Same identity, consent and organisation
        handling as /v1/ingest/segment; a message sent through both is one event.""",
        answers=dict[str, bool],
    )
