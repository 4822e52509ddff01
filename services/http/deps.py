"""What every route shares: the application dependency, problem+json errors, freshness waits."""

from __future__ import annotations

import asyncio
import time
from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from channels.kafka import Position
from projections.person_document import today
from projections.ports import ProjectionStore
from schemas.api import Freshness, Problem
from services.application.relay import EVENT_STORE, Marks
from services.container import Container

PROBLEM = "application/problem+json"


class ProblemError(Exception):
    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.problem = Problem(status=status, title=title, detail=detail, errors=errors)
        self.headers = headers


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(exclude_none=True), status_code=problem.status, media_type=PROBLEM, headers=headers
    )


async def _application(request: Request) -> Container:  # async: a plain def would borrow a thread
    return request.app.state.crossview


App = Annotated[Container, Depends(_application)]


async def _wait_for(
    request: Request,
    min_position: Annotated[
        str | None,
        Query(
            description="A position from an ingest or command answer (topic:partition:offset, or "
            "event-store:0:N for a command's stored event): wait until the view includes it.",
            pattern=r"^[^:]+:\d+:\d+$",
            max_length=300,
        ),
    ] = None,
    wait_ms: Annotated[
        int, Query(ge=0, description="How long to wait for min_position (at most CROSSVIEW_MAX_WAIT_MS).")
    ] = 2000,
) -> Freshness:
    """The position the answer reflects. A wait sleeps on the event loop, never in the thread pool
    the routes run in, so waiting clients cannot starve the others; the waiting queries share one
    look at the position at a time (a thread borrowed for that look only), and each looks less
    often as it waits (10 ms up to 200 ms): however many wait, the read model is asked a few
    dozen times a second at most."""
    crossview: Container = request.app.state.crossview
    shared = getattr(request.app.state, "positions", None)
    if shared is None or shared.store is not crossview.store:  # one per application (a restart makes another)
        shared = request.app.state.positions = SharedPosition(crossview.store)
    if min_position is None:  # the shared look (at most fresh_s old) is a true lower bound of what is read next
        return Freshness(position=render(await shared.get()), caught_up=True)
    topic, partition, offset = min_position.rsplit(":", 2)
    deadline = time.monotonic() + min(wait_ms, crossview.settings.max_wait_ms) / 1000
    if topic == EVENT_STORE:  # a command's stored event: first where the relay put it on the log
        marks = await _landed(crossview, int(offset), deadline)
        if marks is None:
            return Freshness(position=render(await shared.get()), caught_up=False)
    else:
        marks = {(topic, int(partition)): int(offset)}
    pause = 0.01
    while True:
        position = await shared.get()
        if all(position.get(where, 0) > mark for where, mark in marks.items()):
            return Freshness(position=render(position), caught_up=True)
        left = deadline - time.monotonic()
        if left <= 0:
            return Freshness(position=render(position), caught_up=False)
        await asyncio.sleep(min(pause, left))
        pause = min(pause * 2, 0.2)


async def _landed(crossview: Container, notification_id: int, deadline: float) -> Marks | None:
    """The log marks past which the read model holds a stored event, once the relay (in whichever
    process) carried it; None if it did not before ``deadline``."""
    pause = 0.01
    while (marks := await run_in_threadpool(crossview.commands.landed, notification_id)) is None:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        await asyncio.sleep(min(pause, left))
        pause = min(pause * 2, 0.2)
    return marks


Fresh = Annotated[Freshness, Depends(_wait_for)]


class SharedPosition:
    """The read model's position, read at most once per ``fresh_s`` for every waiting query of
    the process. A position a few milliseconds old is still true: every event before it is in."""

    def __init__(self, store: ProjectionStore, fresh_s: float = 0.02) -> None:
        self.store, self._fresh_s = store, fresh_s
        self._value: dict[tuple[str, int], int] = {}
        self._at = float("-inf")
        self._reading: asyncio.Future | None = None

    async def get(self) -> dict[tuple[str, int], int]:
        if time.monotonic() - self._at < self._fresh_s:
            return self._value
        reading = self._reading
        if reading is not None and reading.get_loop() is asyncio.get_running_loop():
            return await asyncio.shield(reading)  # someone is reading it: their read serves us too
        reading = self._reading = asyncio.ensure_future(run_in_threadpool(self.store.position))
        try:  # shielded: a client that leaves cancels its own wait, not the read the others await
            self._value = await asyncio.shield(reading)
            self._at = time.monotonic()
        finally:
            if self._reading is reading:
                self._reading = None
        return self._value


async def _as_of(
    as_of: Annotated[date | None, Query(description="The day functions are judged active on (default: today).")] = None,
) -> date:
    return as_of or today()


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


# A path parameter that may hold a slash (promo/2026, sent as promo%2F2026): its routes say {campaign:path}.
CampaignName = Annotated[str, Path(min_length=1, max_length=200, description="The campaign as interactions carry it.")]
