"""What every route shares: the application dependency, problem+json errors, freshness waits."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse

from channels.kafka import Position
from schemas.api import Freshness, Problem
from services.bootstrap import Application

PROBLEM = "application/problem+json"


class ProblemError(Exception):
    def __init__(self, status: int, title: str, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        self.problem = Problem(status=status, title=title, detail=detail, errors=errors)
        self.headers: dict[str, str] | None = None


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(exclude_none=True), status_code=problem.status, media_type=PROBLEM, headers=headers
    )


def _application(request: Request) -> Application:
    return request.app.state.crossview


App = Annotated[Application, Depends(_application)]


def _wait_for(
    request: Request,
    min_position: Annotated[
        str | None,
        Query(
            description="topic:partition:offset from an ingest or command answer: wait until the view includes it.",
            pattern=r"^[^:]+:\d+:\d+$",
        ),
    ] = None,
    wait_ms: Annotated[int, Query(ge=0, description="How long to wait for min_position.")] = 2000,
) -> Freshness:
    crossview: Application = request.app.state.crossview
    if min_position is None:
        return Freshness(position=render(crossview.store.position()), caught_up=True)
    topic, partition, offset = min_position.rsplit(":", 2)
    deadline = time.monotonic() + min(wait_ms, crossview.settings.max_wait_ms) / 1000
    while True:
        position = crossview.store.position()
        if position.get((topic, int(partition)), 0) > int(offset):
            return Freshness(position=render(position), caught_up=True)
        if time.monotonic() >= deadline:
            return Freshness(position=render(position), caught_up=False)
        time.sleep(0.01)


Fresh = Annotated[Freshness, Depends(_wait_for)]


def _as_of(
    as_of: Annotated[date | None, Query(description="The day functions are judged active on (default: today).")] = None,
) -> date:
    return as_of or today()


def today() -> date:
    return datetime.now(UTC).date()


AsOf = Annotated[date, Depends(_as_of)]


def render(position: dict[tuple[str, int], int]) -> dict[str, int]:
    return {f"{topic}:{partition}": offset for (topic, partition), offset in sorted(position.items())}


def positions_out(positions: list[Position] | None) -> list[str]:
    return [str(p) for p in positions or []]


class SecurityHeaders:
    """ASGI middleware: no answer is kept by a browser or a proxy (they carry personal data), sniffed
    into another content type, framed by another site, or leaks its URL as a referrer."""

    HEADERS = [
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
    ]
    NAMES = {name for name, _ in HEADERS}

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in self.NAMES]
                message = {**message, "headers": kept + self.HEADERS}
            await send(message)

        await self.app(scope, receive, send_with_headers)
