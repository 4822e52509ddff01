"""The HTTP API: the FastAPI app, its error handling, and its routers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from http import HTTPStatus

from eventsourcing.persistence import InterfaceError as EventStoreInterfaceError
from eventsourcing.persistence import OperationalError as EventStoreOperationalError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from channels.kafka import BrokerUnavailable
from domain.contact_point import InvalidContactPointError
from domain.errors import DomainError, NotFoundError
from projections.ports import StoreUnavailable
from schemas.api import Problem
from services.application.commands import ConcurrentUpdateError
from services.container import Container
from services.http.access import PUBLIC, Door, check_every_route_declares_access, document_roles
from services.http.deps import PROBLEM, App, ProblemError, SecurityHeaders, problem_response, render
from services.http.limits import BodyLimits
from services.http.metrics import HttpMetrics, TimingMiddleware
from services.http.routes import (
    advisor,
    analytics,
    audit,
    commands,
    console,
    console_analytics,
    docs,
    ingest,
    leads,
    offers,
    operations,
    privacy,
    queries,
    service_requests,
    stream,
    webhooks,
)

log = logging.getLogger(__name__)

_UNPARSED_BODY = "There was an error parsing the body"
_BUG = "Crossview failed to answer; the failure is in its log. Nothing was accepted unless the log says so."


def _invalid(title: str, failures) -> JSONResponse:
    errors = [{"field": ".".join(str(part) for part in e["loc"]), "message": e["msg"]} for e in failures]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem_response(Problem(status=422, title=title, errors=errors, detail=detail))


def _unavailable(title: str, detail: str, retry_after_s: int) -> JSONResponse:
    """503: nothing was done, and the client may try again after ``retry_after_s``."""
    return problem_response(
        Problem(status=503, title=title, detail=detail), headers={"Retry-After": str(retry_after_s)}
    )


def create_app(build: Callable[[], Container]) -> FastAPI:
    """The FastAPI app; ``build`` makes the Container at start-up (never at import)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.crossview = build()
        if app.state.crossview.settings.insecure_skip_signatures:
            log.warning(
                "CROSSVIEW_INSECURE_SKIP_SIGNATURES is set: webhooks are accepted UNSIGNED. "
                "Anyone who can reach this server can publish events. Local trials only."
            )
        try:
            yield
        finally:
            app.state.crossview.close()

    app = FastAPI(
        title="Crossview",
        version="0.1.0",
        summary="One live view of every person, across every channel and every function they hold.",
        lifespan=lifespan,
        docs_url=None,  # served with vendored files: services/http/routes/docs.py
        redoc_url=None,
        responses={422: {"model": Problem, "content": {PROBLEM: {}}, "description": "Malformed input"}},
        # Operation ids are the routes' own names (person_360, register_person...): what generated
        # clients name their functions, stable as long as the route keeps its name.
        generate_unique_id_function=lambda route: route.name,
        # Crossview's own /metrics serve operators; FastAPI's OpenTelemetry hooks asked the
        # environment for a tracer provider on every request (4 % of a 360° answer's time).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.http_metrics = HttpMetrics()
    app.add_middleware(TimingMiddleware, metrics=app.state.http_metrics)

    @app.exception_handler(ProblemError)
    async def _on_problem(request: Request, error: ProblemError) -> JSONResponse:
        return problem_response(error.problem, headers=error.headers)

    @app.exception_handler(NotFoundError)
    async def _on_not_found(request: Request, error: NotFoundError) -> JSONResponse:
        return problem_response(Problem(status=404, title=type(error).__name__, detail=str(error)))

    @app.exception_handler(InvalidContactPointError)
    async def _on_bad_contact(request: Request, error: InvalidContactPointError) -> JSONResponse:
        return problem_response(
            Problem(
                status=422,
                title="Invalid contact point",
                detail=str(error),
                errors=[{"field": "body.value", "message": str(error)}],
            )
        )

    @app.exception_handler(DomainError)
    async def _on_rule(request: Request, error: DomainError) -> JSONResponse:
        return problem_response(Problem(status=409, title=type(error).__name__, detail=str(error)))

    @app.exception_handler(StarletteHTTPException)  # FastAPI's and the router's (404, 405) alike
    async def _on_http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400 and error.detail == _UNPARSED_BODY:  # FastAPI's, for a body json cannot decode
            message = "not a JSON document: UTF-8 text, integers of at most 4,300 digits"
            return problem_response(
                Problem(
                    status=422, title="Malformed input", detail=message, errors=[{"field": "body", "message": message}]
                )
            )
        phrase = HTTPStatus(error.status_code).phrase
        detail = {404: f"no route {request.url.path}", 405: f"{request.method} is not allowed on {request.url.path}"}
        return problem_response(
            Problem(status=error.status_code, title=phrase, detail=detail.get(error.status_code, str(error.detail))),
            headers=error.headers,
        )

    @app.exception_handler(Exception)  # what no other handler took: a bug, answered as a problem all the same
    async def _on_bug(request: Request, error: Exception) -> JSONResponse:
        answer = problem_response(Problem(status=500, title="Internal error", detail=_BUG))
        answer.headers.update({name.decode(): value.decode() for name, value in SecurityHeaders.HEADERS})
        return answer

    @app.exception_handler(RequestValidationError)
    async def _on_invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return _invalid("Invalid request", error.errors())

    @app.exception_handler(ValidationError)
    async def _on_outside_contract(request: Request, error: ValidationError) -> JSONResponse:
        # A provider payload whose values the event contract cannot hold (a 300-character id, say).
        return _invalid("Outside the event contract", error.errors())

    @app.exception_handler(ConcurrentUpdateError)
    async def _on_contention(request: Request, error: ConcurrentUpdateError) -> JSONResponse:
        return _unavailable("Concurrent update", f"{error}; retry.", retry_after_s=1)

    @app.exception_handler(BrokerUnavailable)
    async def _on_broker(request: Request, error: BrokerUnavailable) -> JSONResponse:
        return _unavailable(
            "Event log unavailable", "The broker did not acknowledge; nothing was accepted. Retry later.", 5
        )

    @app.exception_handler(StoreUnavailable)
    @app.exception_handler(EventStoreOperationalError)
    @app.exception_handler(EventStoreInterfaceError)
    async def _on_database(request: Request, error: Exception) -> JSONResponse:
        # A command that failed here stored nothing (the event store saves a command's events in
        # one transaction) or everything; either way the client may retry (commands load first).
        log.warning("database unavailable: %s: %s", type(error).__name__, error)
        return _unavailable("Database unavailable", "PostgreSQL did not answer; retry later.", retry_after_s=2)

    @app.get("/v1/health", tags=["operations"], dependencies=[PUBLIC])
    def health(crossview: App) -> dict[str, object]:
        """Liveness, the storage mode, and the log position the read model reflects."""
        return {"status": "ok", "mode": crossview.mode, "position": render(crossview.store.position())}

    for router in (
        analytics.router,  # first: /v1/campaigns/{campaign:path}/days before queries' /v1/campaigns/{campaign:path}
        queries.router,
        stream.router,
        advisor.router,
        audit.router,
        privacy.router,
        commands.router,
        offers.router,
        service_requests.router,
        leads.router,
        ingest.router,
        webhooks.router,
        operations.router,
    ):
        app.include_router(router)
    docs.serve_docs(app)
    console.serve_console(app)
    app.include_router(console_analytics.router)
    check_every_route_declares_access(app)
    # The last added runs first: protective headers on every answer, then the door (credentials
    # before anything reads a body), then the body's limits.
    app.add_middleware(BodyLimits)
    app.add_middleware(Door, api=app)
    app.add_middleware(SecurityHeaders)

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(**_openapi_fields(app))
            # /v1/events reads its body itself (three CloudEvents modes): its event is named here.
            schema.setdefault("components", {}).setdefault("schemas", {})["CloudEvent"] = ingest.cloud_event_schema()
            app.openapi_schema = document_roles(app, schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _openapi_fields(app: FastAPI) -> dict:
    return {
        "title": app.title,
        "version": app.version,
        "summary": app.summary,
        "description": app.description,
        "routes": app.routes,
    }
