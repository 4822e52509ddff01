"""Canonical event ingest: what channel adapters and the Python client publish."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from schemas.api import Accepted, Problem
from schemas.envelope import CloudEvent
from schemas.events import INTERACTIONS, InvalidEventData, UnknownEventType, parse_data, stream_of
from services.http.access import AsAdapter
from services.http.deps import App, ProblemError

MAX_INGEST_BATCH = 1000

router = APIRouter(tags=["ingest"])


@router.post(
    "/v1/events",
    status_code=202,
    response_model=Accepted,
    responses={503: {"model": Problem, "description": "Broker unavailable; retry"}},
)
def ingest(
    crossview: App,
    caller: AsAdapter,
    body: Annotated[
        CloudEvent | list[CloudEvent],
        Body(description="One CloudEvent in structured mode, or a JSON array of them (all or nothing)."),
    ],
) -> Accepted:
    """Publish interaction events; answers 202 only once the broker acknowledged every one."""
    events = body if isinstance(body, list) else [body]
    if not events or len(events) > MAX_INGEST_BATCH:
        raise ProblemError(
            422,
            "Invalid batch",
            f"send between 1 and {MAX_INGEST_BATCH} events",
            [{"field": "body", "message": "batch size out of range"}],
        )
    errors = []
    for index, event in enumerate(events):
        where = f"body.{index}" if isinstance(body, list) else "body"
        try:
            parse_data(event)
            if stream_of(event.type) != INTERACTIONS:
                errors.append(
                    {
                        "field": f"{where}.type",
                        "message": f"{event.type} is a domain event; it is written by the relay only",
                    }
                )
        except UnknownEventType as error:
            errors.append({"field": f"{where}.type", "message": str(error)})
        except InvalidEventData as error:
            errors += [
                {"field": f"{where}.data.{field}".rstrip("."), "message": message} for field, message in error.errors
            ]
    if errors:
        raise ProblemError(422, "Invalid event", "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors)
    positions = crossview.ingest.publish(events)
    return Accepted(accepted=len(events), ids=[e.id for e in events], positions=[str(p) for p in positions])
