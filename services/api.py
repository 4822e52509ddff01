"""The HTTP API: canonical event ingest and the live person view, with problem+json errors."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from channels.kafka import BrokerUnavailable
from projections.person_view import PersonView, TimelineEntry, view_to_json
from schemas.api import Accepted, Freshness, PersonViewOut, Problem, TimelineEntryOut, TimelineOut
from schemas.envelope import CloudEvent
from schemas.events import INTERACTIONS, InvalidEventData, UnknownEventType, parse_data, stream_of
from services.bootstrap import Application

PROBLEM = "application/problem+json"
MAX_INGEST_BATCH = 1000


class ProblemError(Exception):
    def __init__(self, status: int, title: str, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        self.problem = Problem(status=status, title=title, detail=detail, errors=errors)


def _problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(exclude_none=True), status_code=problem.status, media_type=PROBLEM, headers=headers
    )


def _application(request: Request) -> Application:
    return request.app.state.crossview


App = Annotated[Application, Depends(_application)]


def create_app(build: Callable[[], Application]) -> FastAPI:
    """The FastAPI app; ``build`` makes the Application at start-up (never at import)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.crossview = build()
        try:
            yield
        finally:
            app.state.crossview.close()

    app = FastAPI(
        title="Crossview",
        version="0.1.0",
        summary="One live view of every person, across every channel and every function they hold.",
        lifespan=lifespan,
        responses={422: {"model": Problem, "content": {PROBLEM: {}}, "description": "Malformed input"}},
    )

    @app.exception_handler(ProblemError)
    async def _on_problem(request: Request, error: ProblemError) -> JSONResponse:
        return _problem_response(error.problem)

    @app.exception_handler(HTTPException)
    async def _on_http(request: Request, error: HTTPException) -> JSONResponse:
        return _problem_response(Problem(status=error.status_code, title=str(error.detail), detail=str(error.detail)))

    @app.exception_handler(RequestValidationError)
    async def _on_invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [{"field": ".".join(str(part) for part in e["loc"]), "message": e["msg"]} for e in error.errors()]
        return _problem_response(
            Problem(
                status=422,
                title="Invalid request",
                errors=errors,
                detail="; ".join(f"{e['field']}: {e['message']}" for e in errors),
            )
        )

    @app.exception_handler(BrokerUnavailable)
    async def _on_broker(request: Request, error: BrokerUnavailable) -> JSONResponse:
        return _problem_response(
            Problem(
                status=503,
                title="Event log unavailable",
                detail="The broker did not acknowledge; nothing was accepted. Retry later.",
            ),
            headers={"Retry-After": "5"},
        )

    @app.get("/v1/health", tags=["operations"])
    def health(crossview: App) -> dict[str, Any]:
        """Liveness, the storage mode, and the log position the read model reflects."""
        return {"status": "ok", "mode": crossview.mode, "position": _position(crossview)}

    @app.post(
        "/v1/events",
        status_code=202,
        response_model=Accepted,
        tags=["ingest"],
        responses={503: {"model": Problem, "description": "Broker unavailable; retry"}},
    )
    def ingest(
        crossview: App,
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
                    {"field": f"{where}.data.{field}".rstrip("."), "message": message}
                    for field, message in error.errors
                ]
        if errors:
            raise ProblemError(422, "Invalid event", "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors)
        positions = crossview.ingest.publish(events)
        return Accepted(accepted=len(events), ids=[e.id for e in events], positions=[str(p) for p in positions])

    @app.get(
        "/v1/persons/{person_id}", response_model=PersonViewOut, tags=["persons"], responses={404: {"model": Problem}}
    )
    def person(crossview: App, person_id: str, freshness: Annotated[Freshness, Depends(_wait_for)]) -> PersonViewOut:
        """The live view of one person, with the log position it reflects."""
        view = crossview.store.person(person_id)
        if view is None:
            raise ProblemError(404, "Person not found", f"no person {person_id!r} in the read model")
        return _person_out(view, freshness)

    @app.get(
        "/v1/persons/{person_id}/timeline",
        response_model=TimelineOut,
        tags=["persons"],
        responses={404: {"model": Problem}},
    )
    def timeline(
        crossview: App,
        person_id: str,
        freshness: Annotated[Freshness, Depends(_wait_for)],
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        before: Annotated[str | None, Query(description="The next_page cursor of the previous page.")] = None,
    ) -> TimelineOut:
        """Everything that happened to the person, newest first, paged."""
        if crossview.store.person(person_id) is None:
            raise ProblemError(404, "Person not found", f"no person {person_id!r} in the read model")
        entries = crossview.store.timeline(person_id, limit + 1, _decode_cursor(before) if before else None)
        page, more = entries[:limit], len(entries) > limit
        return TimelineOut(
            person_id=person_id,
            entries=[_entry_out(e) for e in page],
            next_page=_encode_cursor(page[-1]) if more else None,
            freshness=freshness,
        )

    return app


def _wait_for(
    request: Request,
    min_position: Annotated[
        str | None,
        Query(
            description="topic:partition:offset from an ingest answer: wait until the view includes it.",
            pattern=r"^[^:]+:\d+:\d+$",
        ),
    ] = None,
    wait_ms: Annotated[int, Query(ge=0, description="How long to wait for min_position.")] = 2000,
) -> Freshness:
    crossview: Application = request.app.state.crossview
    if min_position is None:
        return Freshness(position=_position(crossview), caught_up=True)
    topic, partition, offset = min_position.rsplit(":", 2)
    deadline = time.monotonic() + min(wait_ms, crossview.settings.max_wait_ms) / 1000
    while True:
        position = crossview.store.position()
        if position.get((topic, int(partition)), 0) > int(offset):
            return Freshness(position=_render(position), caught_up=True)
        if time.monotonic() >= deadline:
            return Freshness(position=_render(position), caught_up=False)
        time.sleep(0.01)


def _position(crossview: Application) -> dict[str, int]:
    return _render(crossview.store.position())


def _render(position: dict[tuple[str, int], int]) -> dict[str, int]:
    return {f"{topic}:{partition}": offset for (topic, partition), offset in sorted(position.items())}


def _person_out(view: PersonView, freshness: Freshness) -> PersonViewOut:
    return PersonViewOut(**view_to_json(view), freshness=freshness)


def _entry_out(entry: TimelineEntry) -> TimelineEntryOut:
    return TimelineEntryOut(
        event_id=entry.event_id,
        event_type=entry.event_type,
        channel=entry.channel,
        occurred_at=entry.occurred_at,
        data=dict(entry.data),
        position=f"{entry.topic}:{entry.partition}:{entry.offset}",
    )


def _encode_cursor(entry: TimelineEntry) -> str:
    return base64.urlsafe_b64encode(json.dumps([entry.occurred_at.isoformat(), entry.event_id]).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, event_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(at), str(event_id)
    except (ValueError, TypeError) as error:
        raise ProblemError(
            422,
            "Invalid cursor",
            "before must be a next_page value from a previous answer",
            [{"field": "query.before", "message": str(error)}],
        ) from error
