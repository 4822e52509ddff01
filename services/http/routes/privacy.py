"""A person's rights over their data (GDPR articles 15, 17 and 20): everything held about them, and
their erasure. For administrators; both are on the person's audit trail."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from projections.directory import history
from projections.person_codec import view_to_json
from schemas.api import ErasedOut, Problem
from services.application.auth import Caller, Role
from services.container import Container
from services.http.access import Allow
from services.http.deps import App, positions_out, render, today
from services.http.routes.queries import family_of

router = APIRouter(tags=["privacy"])
AsAdminExporting = Annotated[Caller, Depends(Allow(Role.ADMIN, audited=True, kind="export"))]
AsAdminErasing = Annotated[Caller, Depends(Allow(Role.ADMIN, audited=True, kind="erasure"))]
PAGE = 1000


@router.get(
    "/v1/persons/{person_id}/export",
    responses={404: {"model": Problem}, 410: {"model": Problem, "description": "The person was erased"}},
)
def export_person(crossview: App, caller: AsAdminExporting, person_id: str) -> JSONResponse:
    """Everything Crossview holds about the person, as one JSON document to hand them (access and
    portability): their view with everyone joined into them, their professional history, every
    timeline entry with its data, and who read or changed their data."""
    view, absorbed = family_of(crossview, person_id)
    everyone = [view, *absorbed]
    refs = crossview.store.reference_data(f.organisation_id for v in everyone for f in v.functions.values())
    timeline: list[dict[str, Any]] = []
    for member in everyone:
        cursor = None
        while page := crossview.store.timeline(member.person_id, PAGE, cursor):
            timeline += [
                {
                    "person_id": e.person_id,
                    "event_id": e.event_id,
                    "type": e.event_type,
                    "channel": e.channel,
                    "occurred_at": e.occurred_at.isoformat(),
                    "data": e.data,
                }
                for e in page
            ]
            if len(page) < PAGE:
                break
            cursor = (page[-1].occurred_at, page[-1].event_id)
    document = {
        "person_id": view.person_id,
        "exported_at": datetime.now(UTC).isoformat(),
        "position": render(crossview.store.position()),
        "people": [view_to_json(v) for v in everyone],
        "history": [h for v in everyone for h in history(v, refs, today())],
        "timeline": sorted(timeline, key=lambda e: (e["occurred_at"], e["event_id"])),
        "audit": [
            e._asdict() | {"at": e.at.isoformat()}
            for e in crossview.store.audit_of([v.person_id for v in everyone], 10_000 * len(everyone))
        ],
    }
    return JSONResponse(
        jsonable_encoder(document),
        headers={"Content-Disposition": f'attachment; filename="crossview-person-{view.person_id}.json"'},
    )


@router.delete(
    "/v1/persons/{person_id}",
    response_model=ErasedOut,
    responses={404: {"model": Problem}, 503: {"model": Problem, "description": "Broker unavailable; retry"}},
)
async def erase_person(crossview: App, caller: AsAdminErasing, person_id: uuid.UUID) -> ErasedOut:
    """Erase the person at their request (right to erasure): with everyone joined with them, as one
    human. Their data keys are destroyed (every personal field of their events on the log becomes
    unreadable), their own records leave the event store, and the read models keep only counts.
    Answers once done; `purged` says whether the read models already reflect it (they will)."""
    erased = await run_in_threadpool(crossview.eraser.erase, person_id)
    purged = await _purged(crossview, erased.person_ids)
    return ErasedOut(
        erased=erased.person_ids, already=erased.already, purged=purged, positions=positions_out(erased.positions)
    )


async def _purged(crossview: Container, person_ids: list[str]) -> bool:
    """Whether the read models show every one of them erased, waiting a bounded time for the projector."""
    deadline = time.monotonic() + crossview.settings.max_wait_ms / 1000
    while True:
        views = await run_in_threadpool(crossview.store.persons, person_ids)
        if all(v is not None and v.erased_on is not None for v in views.values()) and len(views) == len(person_ids):
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.05)
