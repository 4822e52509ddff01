"""The live stream of a person's changes: Server-Sent Events, resumable by Last-Event-ID.

Each change is one timeline entry (one event: an interaction's status report, a function
reordered...) sent once the projector committed it, with its log position. The event id is the
stream's place on every partition (projections/changes.py), so a client that reconnects with
Last-Event-ID gets exactly what it has not had: nothing lost, nothing twice. The stream waits on
the projector's announcements (NOTIFY on PostgreSQL, in process on the embedded default) without
holding a thread, and reads what is new from the store; a slow client slows only itself.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from projections.changes import Marks, parse_marks, render_marks
from projections.timeline import TimelineEntry
from services.container import Container
from services.http.access import AsAdvisor
from services.http.deps import App, ProblemError
from services.http.routes.queries import NOT_FOUND, family_of

router = APIRouter()
BATCH = 200  # entries read at a time when catching up
KEEP_ALIVE_S = 15.0  # a comment this often: proxies keep the connection, a vanished client is noticed
MARKS_MAX = 4000  # characters of a place (every partition of a few topics fits many times over)
EVENT_STREAM = "text/event-stream"


@router.get(
    "/v1/persons/{person_id}/stream",
    tags=["persons"],
    response_class=StreamingResponse,
    responses={
        **NOT_FOUND,
        200: {
            "content": {EVENT_STREAM: {"schema": {"type": "string"}}},
            "description": "Server-Sent Events: `ready` once, then a `change` per event projected for the "
            "person (JSON: position, event_id, event_type, channel, occurred_at, status, data); each id is "
            "the place to resume from.",
        },
    },
)
async def person_stream(
    request: Request,
    crossview: App,
    caller: AsAdvisor,
    person_id: str,
    after: Annotated[
        str | None,
        Query(
            max_length=MARKS_MAX,
            description="Start after these positions (topic:partition:offset, comma-separated: an event id of "
            "this stream, or the positions a read answered with); default: from now.",
        ),
    ] = None,
    last_event_id: Annotated[
        str | None, Header(max_length=MARKS_MAX, description="Sent by a reconnecting EventSource: resume there.")
    ] = None,
) -> StreamingResponse:
    """The person's changes as they are projected (their whole family: people joined into them too)."""
    place = last_event_id or after
    try:
        marks = parse_marks(place) if place else None
    except ValueError as error:
        field = "header.last-event-id" if last_event_id else "query.after"
        raise ProblemError(
            422, "Invalid stream position", str(error), [{"field": field, "message": str(error)}]
        ) from error
    view, absorbed = await run_in_threadpool(family_of, crossview, person_id)
    people = [view.person_id, *(a.person_id for a in absorbed)]
    if marks is None:
        marks = dict(await run_in_threadpool(crossview.store.position))
    return StreamingResponse(
        _changes(request, crossview, people, marks),
        media_type=EVENT_STREAM,
        headers={"X-Accel-Buffering": "no"},  # a proxy must pass each event on at once
    )


async def _changes(request: Request, crossview: Container, people: list[str], marks: Marks) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    woken = asyncio.Event()
    # Subscribed before the first read: a change committed in between wakes the loop again.
    unsubscribe = crossview.announcements.subscribe(people, lambda: loop.call_soon_threadsafe(woken.set))
    try:
        yield f"retry: 2000\nid: {render_marks(marks)}\nevent: ready\ndata: {{}}\n\n"
        while True:
            woken.clear()
            entries = await run_in_threadpool(crossview.store.timeline_after, people, marks, BATCH)
            for entry in entries:
                marks[(entry.topic, entry.partition)] = entry.offset + 1
                yield f"id: {render_marks(marks)}\nevent: change\ndata: {json.dumps(_change(entry))}\n\n"
            if len(entries) == BATCH:
                continue  # more to catch up on
            try:
                await asyncio.wait_for(woken.wait(), KEEP_ALIVE_S)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                yield ": keep-alive\n\n"
    finally:
        unsubscribe()


def _change(entry: TimelineEntry) -> dict[str, Any]:
    return {
        "person_id": entry.person_id,
        "position": f"{entry.topic}:{entry.partition}:{entry.offset}",
        "event_id": entry.event_id,
        "event_type": entry.event_type,
        "channel": entry.channel,
        "occurred_at": entry.occurred_at.isoformat(),
        "status": entry.status,
        "message_key": entry.message_key,
        "data": entry.data,
    }
