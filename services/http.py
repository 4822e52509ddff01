"""What every route shares: the application dependency, problem+json errors, freshness waits."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from channels.kafka import Position
from schemas.api import Freshness, Problem
from services.bootstrap import Application

PROBLEM = "application/problem+json"


class ProblemError(Exception):
    def __init__(self, status: int, title: str, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        self.problem = Problem(status=status, title=title, detail=detail, errors=errors)


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(exclude_none=True), status_code=problem.status, media_type=PROBLEM, headers=headers
    )


def _application(request: Request) -> Application:
    return request.app.state.crossview


App = Annotated[Application, Depends(_application)]


async def _wait_for(
    request: Request,
    min_position: Annotated[
        str | None,
        Query(
            description="topic:partition:offset from an ingest or command answer: wait until the view includes it.",
            pattern=r"^[^:]+:\d+:\d+$",
            max_length=300,
        ),
    ] = None,
    wait_ms: Annotated[
        int, Query(ge=0, description="How long to wait for min_position (at most CROSSVIEW_MAX_WAIT_MS).")
    ] = 2000,
) -> Freshness:
    """The position the answer reflects. A wait sleeps on the event loop, never in the thread pool
    the routes run in, so waiting clients cannot starve the others; each look at the position
    borrows a thread for that look only, and the looks grow sparser (10 ms up to 200 ms)."""
    crossview: Application = request.app.state.crossview
    if min_position is None:
        return Freshness(position=render(await run_in_threadpool(crossview.store.position)), caught_up=True)
    topic, partition, offset = min_position.rsplit(":", 2)
    deadline = time.monotonic() + min(wait_ms, crossview.settings.max_wait_ms) / 1000
    pause = 0.01
    while True:
        position = await run_in_threadpool(crossview.store.position)
        if position.get((topic, int(partition)), 0) > int(offset):
            return Freshness(position=render(position), caught_up=True)
        left = deadline - time.monotonic()
        if left <= 0:
            return Freshness(position=render(position), caught_up=False)
        await asyncio.sleep(min(pause, left))
        pause = min(pause * 2, 0.2)


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
