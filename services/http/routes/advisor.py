"""The advisor's own records: a note or a call's outcome, and a consent change the customer asked for.
Each is an event on the log (services/application/advisor.py), answered once the broker has it."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from domain.contact_point import InvalidContactPointError, normalise
from domain.service_request import request_id_for
from schemas.api import Accepted, ConsentIn, NoteAccepted, NoteIn
from schemas.events import parse_data
from services.application import advisor
from services.application.journeys import recorded_by_advisor
from services.http.access import AsAdvisor
from services.http.deps import App, ProblemError, positions_out
from services.http.routes.queries import NOT_FOUND, family_of

router = APIRouter(tags=["persons"])
KINDS = {"sms": "phone", "email": "email"}


@router.post("/v1/persons/{person_id}/notes", status_code=202, response_model=NoteAccepted, responses=NOT_FOUND)
async def record_note(crossview: App, caller: AsAdvisor, person_id: str, body: NoteIn) -> NoteAccepted:
    """A note on the person, or a call's outcome, in their timeline (channel call, status note).
    With ``journey``, the step the call moved a journey to (or its completion, or abandonment).
    With ``service_request`` (kind, subject), the note also opens a service request, the note
    being its description: the answer's ``service_request_id`` names it."""
    view, absorbed = await run_in_threadpool(family_of, crossview, person_id)
    if body.function_id is not None and all(body.function_id not in v.functions for v in (view, *absorbed)):
        raise ProblemError(
            422,
            "Unknown function",
            "function_id is not one of this person's functions",
            [{"field": "body.function_id", "message": "not one of this person's functions"}],
        )
    event = advisor.note(view.person_id, caller.subject, body.text, body.outcome, body.function_id)
    opened, stored = None, []
    if body.service_request is not None:  # stored first: a note that fails to publish is sent again
        asked = body.service_request
        opened, stored = await run_in_threadpool(
            crossview.commands.run,
            lambda app: app.open_service_request(
                uuid.UUID(view.person_id),
                asked.kind,
                asked.channel,
                asked.subject,
                caller.subject,
                function_id=body.function_id,
                description=body.text,
                request_id=request_id_for(f"note:{event.id}"),
            ),
        )
    facts = [] if body.journey is None else [recorded_by_advisor(event, parse_data(event), **body.journey.model_dump())]
    accepted = await _publish(crossview, event, *facts)
    return NoteAccepted(
        **accepted.model_dump(),
        service_request_id=None if opened is None else str(opened),
        service_request_positions=positions_out(stored),
    )


@router.put("/v1/persons/{person_id}/consent", status_code=202, response_model=Accepted, responses=NOT_FOUND)
async def change_consent(crossview: App, caller: AsAdvisor, person_id: str, body: ConsentIn) -> Accepted:
    """What the customer asked for on one of their numbers or emails: no more messages
    (``reachable: false``), or again (``true``). Reachability and targeting follow at once."""
    view, absorbed = await run_in_threadpool(family_of, crossview, person_id)
    kind = KINDS[body.channel]
    try:
        address = normalise(kind, body.address, crossview.settings.default_country_code)
    except InvalidContactPointError as error:
        raise ProblemError(
            422, "Invalid contact point", str(error), [{"field": "body.address", "message": str(error)}]
        ) from error
    if all(f"{kind}:{address}" not in v.contact_points for v in (view, *absorbed)):
        raise ProblemError(
            422,
            "Not this person's contact point",
            f"{body.address} is not one of this person's {'numbers' if kind == 'phone' else 'emails'}: "
            "set it on them first",
            [{"field": "body.address", "message": "not one of this person's contact points"}],
        )
    event = advisor.consent(view.person_id, caller.subject, body.channel, address, body.reachable, body.reason)
    return await _publish(crossview, event)


async def _publish(crossview, *events) -> Accepted:
    positions = await run_in_threadpool(crossview.ingest.publish, list(events))
    return Accepted(accepted=len(events), ids=[e.id for e in events], positions=[str(p) for p in positions])
