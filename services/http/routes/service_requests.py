"""The service desk: requests and complaints of a person, and the referential of their kinds.

Changes go through the aggregates (named rules: 409) and answer once stored, like every command;
reads come from the person's read model, with ``breached`` judged at the moment of the answer.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool

from channels.webhook_fields import load_json
from projections.person_document import now
from projections.person_model import merge_views
from projections.request_queue import NEVER_DUE, NOT_CLOSED, STATES, QueueKey, QueueQuery, QueueRow
from projections.service_requests import breached, listed
from schemas.api import CommandOut, CommentOut, Problem, ServiceRequestOut, ServiceRequestsOut
from schemas.request_queue_api import QueuedRequest, RequestQueueOut
from schemas.service_desk import (
    AssigneeIn,
    CommentIn,
    RequestKindIn,
    RequestKindOut,
    RequestKindsOut,
    RequestStateIn,
    ServiceRequestIn,
    ServiceRequestSummary,
)
from services.http.access import AsAdmin, AsAdvisor, AsPeopleReader, AsReader, shown_to
from services.http.deps import App, Fresh, ProblemError
from services.http.routes.commands import ERRORS, run_command
from services.http.routes.queries import NOT_FOUND, family_of

router = APIRouter(tags=["service requests"])
KindCode = Annotated[str, Path(min_length=1, max_length=100, description="The kind's code.")]
REQUESTS = "/v1/persons/{person_id}/service-requests"


@router.post(REQUESTS, status_code=201, response_model=CommandOut, responses=ERRORS)
def open_service_request(crossview: App, caller: AsAdvisor, person_id: uuid.UUID, body: ServiceRequestIn) -> CommandOut:
    """Open a request or a complaint for the person (and, where it applies, one of their functions),
    due by its kind's service level. The answer's id is the request id."""
    return run_command(
        crossview,
        lambda app: app.open_service_request(
            person_id,
            body.kind,
            body.channel,
            body.subject,
            caller.subject,
            function_id=body.function_id,
            description=body.description,
        ),
    )


@router.post(f"{REQUESTS}/{{request_id}}/state", response_model=CommandOut, responses=ERRORS)
def change_request_state(
    crossview: App, caller: AsAdvisor, person_id: uuid.UUID, request_id: uuid.UUID, body: RequestStateIn
) -> CommandOut:
    """Move the request on: open -> in_progress -> waiting_for_customer -> resolved -> closed (and
    back to in_progress from waiting); `open` again from resolved or closed reopens it. A move the
    rules refuse is a 409 `RequestTransitionError` saying where it may go."""
    return run_command(
        crossview, lambda app: app.change_request_state(person_id, request_id, body.state, caller.subject, body.reason)
    )


@router.put(f"{REQUESTS}/{{request_id}}/assignee", response_model=CommandOut, responses=ERRORS)
def assign_request(
    crossview: App, caller: AsAdvisor, person_id: uuid.UUID, request_id: uuid.UUID, body: AssigneeIn
) -> CommandOut:
    """Put the request in someone's hands (not a closed one: 409 `RequestClosedError`)."""
    return run_command(crossview, lambda app: app.assign_request(person_id, request_id, body.assignee, caller.subject))


@router.post(f"{REQUESTS}/{{request_id}}/comments", status_code=201, response_model=CommandOut, responses=ERRORS)
def comment_request(
    crossview: App, caller: AsAdvisor, person_id: uuid.UUID, request_id: uuid.UUID, body: CommentIn
) -> CommandOut:
    """Add a comment, signed by the caller (not on a closed request: 409 `RequestClosedError`)."""
    return run_command(crossview, lambda app: app.comment_request(person_id, request_id, caller.subject, body.text))


def _requests(crossview, person_id: str) -> tuple[str, dict[str, Any]]:
    view, absorbed = family_of(crossview, person_id)
    merged = merge_views(view, absorbed) if absorbed else view
    return merged.person_id, dict(merged.service_requests)


@router.get(REQUESTS, response_model=ServiceRequestsOut, responses=NOT_FOUND)
async def service_requests(
    crossview: App, caller: AsPeopleReader, person_id: str, freshness: Fresh
) -> ServiceRequestsOut | Any:
    """Every request of the person (and of everyone joined with them): open ones first, the
    earliest due first, then resolved and closed ones, the latest first."""
    owner, requests = await run_in_threadpool(_requests, crossview, person_id)
    at = now()
    rows = listed(requests.values(), at)
    answer = ServiceRequestsOut(
        person_id=owner,
        service_requests=[ServiceRequestSummary(**{k: r[k] for k in ServiceRequestSummary.model_fields}) for r in rows],
        open=sum(1 for r in rows if r["state"] not in ("resolved", "closed")),
        breached=sum(1 for r in rows if r["breached"]),
        freshness=freshness,
    )
    return shown_to(caller, answer, crossview)


@router.get(f"{REQUESTS}/{{request_id}}", response_model=ServiceRequestOut, responses=NOT_FOUND)
async def service_request(
    crossview: App, caller: AsPeopleReader, person_id: str, request_id: str, freshness: Fresh
) -> ServiceRequestOut | Any:
    """One request with its comments, oldest first."""
    owner, requests = await run_in_threadpool(_requests, crossview, person_id)
    request = requests.get(request_id)
    if request is None:
        raise ProblemError(404, "Service request not found", f"person {person_id} has no service request {request_id}")
    answer = ServiceRequestOut(
        **{k: v for k, v in request.items() if k in ServiceRequestOut.model_fields and k != "comments"},
        person_id=owner,
        comments=[CommentOut(**c) for c in request["comments"]],
        breached=breached(request, now()),
        freshness=freshness,
    )
    return shown_to(caller, answer, crossview)


@router.get("/v1/service-request-kinds", response_model=RequestKindsOut, tags=["administration"])
def request_kinds(crossview: App, caller: AsReader) -> RequestKindsOut:
    """The kinds of service request (request, complaint, question...) and their service levels."""
    kinds = crossview.store.request_kinds()
    return RequestKindsOut(kinds=[RequestKindOut(code=code, **kind) for code, kind in sorted(kinds.items())])


@router.put("/v1/service-request-kinds/{code}", response_model=CommandOut, responses=ERRORS, tags=["administration"])
def define_request_kind(crossview: App, caller: AsAdmin, code: KindCode, body: RequestKindIn) -> CommandOut:
    """Add a kind of service request, or relabel it, or change its service level (applies to
    requests opened from then on: an open request keeps its due time)."""
    return run_command(crossview, lambda app: app.define_request_kind(code, body.label, body.service_level_hours))


@router.post(
    "/v1/service-request-kinds/{code}/retire", response_model=CommandOut, responses=ERRORS, tags=["administration"]
)
def retire_request_kind(crossview: App, caller: AsAdmin, code: KindCode) -> CommandOut:
    """Stop opening requests of a kind; those that have it keep it."""
    return run_command(crossview, lambda app: app.retire_request_kind(code))


# --- the queue across people: what a customer-service lead works from ----------------------------


@router.get(
    "/v1/service-requests",
    response_model=RequestQueueOut,
    responses={422: {"model": Problem, "description": "A filter or the cursor is not one this operation reads"}},
)
def service_request_queue(  # noqa: PLR0913 - one argument a filter, as the operation has them
    crossview: App,
    caller: AsPeopleReader,
    freshness: Fresh,
    state: Annotated[
        list[str] | None,
        Query(description="Only these states: repeat it, or a comma list. Default: every state but closed."),
    ] = None,
    assignee: Annotated[str | None, Query(min_length=1, max_length=200, description="Only this one's.")] = None,
    unassigned: Annotated[
        bool | None, Query(description="true: only those in nobody's hands; false: only assigned ones.")
    ] = None,
    kind: Annotated[str | None, Query(min_length=1, max_length=100, description="Only this kind's code.")] = None,
    breached: Annotated[bool | None, Query(description="true: only breached ones; false: only the others.")] = None,
    due_before: Annotated[
        datetime | None, Query(description="Only those due before this instant (with its zone: 2026-12-01T18:00:00Z).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    after: Annotated[str | None, Query(max_length=1000, description="The next_page of the previous page.")] = None,
) -> RequestQueueOut | Any:
    """The service requests of everyone, breached ones first, then the earliest due: the queue a
    customer-service lead works from, each row naming the person to open. Paged: pass `next_page`
    as `after`; the pages keep the first one's instant for what is breached. Read from the queue
    the projector keeps beside the person views."""
    if due_before is not None and due_before.tzinfo is None:
        raise _invalid("query.due_before", "an instant with its zone (2026-12-01T18:00:00Z) is expected")
    at, key = _decode_queue_cursor(after) if after else (now(), None)
    query = QueueQuery(at, _states(state), assignee, kind, breached, due_before, key, limit + 1, unassigned)
    rows = crossview.store.service_request_queue(query)
    page = rows[:limit]
    answer = RequestQueueOut(
        service_requests=[_queued(row, at) for row in page],
        as_of=at,
        next_page=_encode_queue_cursor(at, page[-1].key(at)) if len(rows) > limit else None,
        freshness=freshness,
    )
    return shown_to(caller, answer, crossview)


def _states(asked: list[str] | None) -> tuple[str, ...]:
    if not asked:
        return NOT_CLOSED
    states = tuple(dict.fromkeys(s.strip() for value in asked for s in value.split(",") if s.strip()))
    unknown = [s for s in states if s not in STATES]
    if unknown or not states or len(states) > len(STATES):
        raise _invalid("query.state", f"states among {', '.join(STATES)} expected; got {', '.join(unknown) or 'none'}")
    return states


def _queued(row: QueueRow, at: datetime) -> QueuedRequest:
    return QueuedRequest(
        person_id=row.person_id,
        request_id=row.request_id,
        kind=row.kind,
        channel=row.channel,
        subject=row.subject,
        function_id=row.function_id,
        state=row.state,
        assignee=row.assignee,
        opened_at=row.opened_at,
        due_at=row.due_at,
        breached=row.breached(at),
    )


def _encode_queue_cursor(at: datetime, key: QueueKey) -> str:
    due = None if key.due_at == NEVER_DUE else key.due_at.isoformat()
    text = json.dumps([at.isoformat(), key.on_time, due, key.request_id]).encode()
    return base64.urlsafe_b64encode(text).decode()


def _decode_queue_cursor(cursor: str) -> tuple[datetime, QueueKey]:
    try:
        at, on_time, due, request_id = load_json(base64.urlsafe_b64decode(cursor.encode()))
        moment = datetime.fromisoformat(at)
        due_at = datetime.fromisoformat(due) if due is not None else NEVER_DUE
        if moment.tzinfo is None or due_at.tzinfo is None or not isinstance(on_time, bool):
            raise ValueError("instants with their zone are expected")
        if not isinstance(request_id, str):
            raise ValueError("a request id is expected")
        return moment, QueueKey(on_time, due_at, request_id)
    except (ValueError, TypeError) as error:
        raise _invalid("query.after", f"a next_page value from a previous answer is expected ({error})") from error


def _invalid(field: str, message: str) -> ProblemError:
    return ProblemError(422, "Invalid query", message, [{"field": field, "message": message}])
