"""Canonical event ingest: what channel adapters, the Python client and CloudEvents SDKs publish."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from channels.cloudevents_http import BATCH, STRUCTURED, NotCloudEvents, Received, received
from schemas.api import Accepted, Problem
from schemas.envelope import CloudEvent
from schemas.events import INTERACTIONS, InvalidEventData, UnknownEventType, parse_data, stream_of
from services.container import Container
from services.http.access import AsAdapter
from services.http.deps import App, ProblemError

MAX_INGEST_BATCH = 1000
EVENT_SCHEMA = "#/components/schemas/CloudEvent"
ONE_OR_MANY = {"anyOf": [{"$ref": EVENT_SCHEMA}, {"type": "array", "items": {"$ref": EVENT_SCHEMA}}]}
BINARY_HEADERS = [
    {
        "name": f"ce-{name}",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": f"Binary mode: the event's `{name}` (the body is then the event's data).",
    }
    for name in ("specversion", "id", "source", "type", "subject", "time")
]

router = APIRouter(tags=["ingest"])


def cloud_event_schema() -> dict[str, Any]:
    """The structured event as HTTP takes it: the envelope of the log, with ``time`` optional
    (stamped on arrival when absent) and extension attributes allowed (accepted, not kept)."""
    schema = CloudEvent.model_json_schema()
    schema["required"] = [name for name in schema["required"] if name != "time"]
    schema["additionalProperties"] = True
    schema["properties"]["time"]["description"] += " Optional: without it, the time of arrival."
    return schema


@router.post(
    "/v1/events",
    status_code=202,
    response_model=Accepted,
    responses={503: {"model": Problem, "description": "Broker unavailable; retry"}},
    openapi_extra={
        "parameters": BINARY_HEADERS,
        "requestBody": {
            "required": True,
            "description": "One CloudEvent in structured mode, or a JSON array of them (all or nothing). "
            f"Also read, for CloudEvents SDKs: `{STRUCTURED}` (one event), `{BATCH}` (an array), and "
            "binary mode (the event's data as the body, its attributes in `ce-*` headers). Only "
            "`application/json` is listed here: client generators turn several body types into code "
            "that cannot tell them apart.",
            "content": {"application/json": {"schema": ONE_OR_MANY}},
        },
    },
)
async def publish_events(request: Request, crossview: App, caller: AsAdapter) -> Accepted:
    """Publish interaction events, sent as CloudEvents in any HTTP content mode (structured,
    binary, batched); answers 202 only once the broker acknowledged every one. A batch is
    published whole or refused whole."""
    arrived = datetime.now(UTC)
    try:
        events = received(dict(request.headers), await request.body(), arrived)
    except NotCloudEvents as error:
        raise ProblemError(
            422, "Not CloudEvents", error.message, [{"field": error.field, "message": error.message}]
        ) from error
    if not events or len(events) > MAX_INGEST_BATCH:
        raise ProblemError(
            422,
            "Invalid batch",
            f"send between 1 and {MAX_INGEST_BATCH} events",
            [{"field": "body", "message": "batch size out of range"}],
        )
    errors = [error for item in events for error in _errors(item)]
    if errors:
        raise ProblemError(422, "Invalid event", "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors)
    accepted = [item.event for item in events if item.event is not None]
    return await run_in_threadpool(_publish, crossview, accepted, [item.time_source for item in events])


def _errors(item: Received) -> list[dict[str, str]]:
    """What is wrong with one event: its envelope, or its type and data."""
    if item.event is None:
        return [{"field": field, "message": message} for field, message in item.errors]
    event, where = item.event, item.attributes_at
    type_field = f"{where}type" if where.endswith("-") else f"{where}.type"
    try:
        parse_data(event)
    except UnknownEventType as error:
        return [{"field": type_field, "message": str(error)}]
    except InvalidEventData as error:
        return [{"field": f"{item.data_at}.{field}".rstrip("."), "message": message} for field, message in error.errors]
    if stream_of(event.type) != INTERACTIONS:
        return [{"field": type_field, "message": f"{event.type} is a domain event; it is written by the relay only"}]
    return []


def _publish(crossview: Container, events: list[CloudEvent], sources: list[Any]) -> Accepted:
    positions = crossview.ingest.publish(events)
    return Accepted(
        accepted=len(events),
        ids=[e.id for e in events],
        positions=[str(p) for p in positions],
        time_sources=sources,
        times=[e.time for e in events],
    )
