"""Operations endpoints for orchestrators and Prometheus: liveness, readiness, metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from schemas.api import CheckOut, Liveness, Problem, Readiness
from services.adapters.probes import Probes
from services.http.access import PUBLIC
from services.http.deps import App, ProblemError
from services.http.metrics import CONTENT_TYPE, HttpMetrics

router = APIRouter(tags=["operations"])


def _http_metrics(request: Request) -> HttpMetrics:
    return request.app.state.http_metrics


def _probes(crossview: App) -> Probes:
    if crossview.probes is None:
        raise ProblemError(503, "No probes", "this application was built without operations probes")
    return crossview.probes


Metrics = Annotated[HttpMetrics, Depends(_http_metrics)]
ProbesOf = Annotated[Probes, Depends(_probes)]


@router.get("/livez", response_model=Liveness, dependencies=[PUBLIC])
async def livez() -> Liveness:
    """The process is alive and serves HTTP. No I/O: it answers even when Kafka and PostgreSQL are down
    (restart the process only when this fails)."""
    return Liveness(status="alive")


@router.get(
    "/readyz",
    response_model=Readiness,
    dependencies=[PUBLIC],
    responses={503: {"model": Readiness, "description": "Not ready: `failed` names the checks that failed"}},
)
def readyz(probes: ProbesOf) -> JSONResponse:
    """Whether this process can serve: Kafka answers for the namespace's topics, PostgreSQL takes a new
    connection, and the relay is not too far behind the event store. The checks run side by side,
    each within CROSSVIEW_PROBE_TIMEOUT_S, so the answer comes in bounded time even when a
    dependency hangs. 200 when every check passed, 503 otherwise."""
    checks = probes.readiness()
    failed = sorted(name for name, check in checks.items() if not check.ok)
    body = Readiness(
        status="not ready" if failed else "ready",
        failed=failed,
        checks={
            name: CheckOut(ok=check.ok, detail=check.detail, seconds=round(check.seconds, 4))
            for name, check in sorted(checks.items())
        },
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=503 if failed else 200)


@router.get(
    "/metrics",
    response_class=Response,
    dependencies=[PUBLIC],  # no personal data: route templates, counts and lags; expose it to monitoring only
    responses={
        200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"},
        503: {"model": Problem, "description": "No probes configured"},
    },
)
def metrics(probes: ProbesOf, http_metrics: Metrics) -> Response:
    """Prometheus metrics: `crossview_http_requests_total` and `crossview_http_request_duration_seconds`
    by route template, method and status; `crossview_projector_lag` per topic and partition;
    `crossview_dead_letters`; `crossview_relay_lag`; `crossview_up` per dependency. Values that need
    Kafka or PostgreSQL are read at scrape time within CROSSVIEW_PROBE_TIMEOUT_S; a dependency that
    does not answer shows as `crossview_up{dependency=...} 0` and its numbers are left out."""
    return Response(http_metrics.exposition(probes.snapshot()), media_type=CONTENT_TYPE)
