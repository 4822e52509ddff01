"""Queries for advisors and analysts. They read only read models, and say what they reflect."""

from __future__ import annotations

import base64
import json
from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from channels.webhook_fields import load_json
from projections.campaigns import indicators
from projections.directory import (
    Criteria,
    References,
    function_out,
    history,
    matches,
    search_words,
    target,
)
from projections.person_document import LINKS_SHOWN, Moment, document_organisations, has_document, splice
from projections.person_document import person_360 as build_360
from projections.person_model import PersonView, merge_views
from projections.person_view import one_row_per_message
from projections.ports import TimelineFilter
from projections.timeline import TimelineEntry
from schemas.api import (
    AttributePolicyOut,
    CampaignOut,
    Freshness,
    FunctionOut,
    HistoryOut,
    OrganisationRef,
    Person360Out,
    Problem,
    RosterOut,
    RosterRow,
    SearchOut,
    SearchResult,
    TargetingOut,
    TargetingRequest,
    TimelineEntryOut,
    TimelineOut,
)
from schemas.events import Channel
from services.http.access import AsAdvisor, AsPeopleReader, AsReader, sees_personal_data, shown_to
from services.http.deps import App, AsOf, Fresh, ProblemError, today

router = APIRouter()
NOT_FOUND = {404: {"model": Problem}, 410: {"model": Problem, "description": "The person was erased"}}


def family_of(crossview, person_id: str) -> tuple[PersonView, list[PersonView]]:
    """The person as one: followed to the survivor if they were joined into someone, and everyone
    joined into them (at any depth)."""
    view = crossview.store.person(person_id)
    if view is None:
        raise ProblemError(404, "Person not found", f"no person {person_id!r} in the read model")
    for _ in range(20):
        if view.merged_into is None:
            break
        view = crossview.store.person(view.merged_into) or view
    if view.erased_on is not None:
        raise ProblemError(410, "Person erased", f"this person was erased at their request on {view.erased_on}")
    absorbed, pending = [], list(view.absorbed)
    while pending:
        found = list(crossview.store.persons(pending).values())
        absorbed += found
        pending = [a for v in found for a in v.absorbed]
    return view, absorbed


def _person(crossview, person_id: str) -> PersonView:
    """The person's view with the history of everyone joined into them."""
    view, absorbed = family_of(crossview, person_id)
    return merge_views(view, absorbed) if absorbed else view


def _functions(view: PersonView, refs: References, day: date, active_only: bool = True) -> list[FunctionOut]:
    chosen = view.active_functions(day) if active_only else [view.functions[f] for f in view.priority]
    return [FunctionOut(**function_out(view, f, refs, day)) for f in chosen]


@router.get("/v1/persons/{person_id}", response_model=Person360Out, tags=["persons"], responses=NOT_FOUND)
async def person_360(
    crossview: App, caller: AsPeopleReader, person_id: str, freshness: Fresh, day: AsOf
) -> Person360Out | Response:
    """The 360° view of a person: their active functions in priority order (the first is the main
    function), attributes tagged person- or function-level, interactions per function and in all,
    and the other people of the organisations where they hold an active function."""
    answer = await run_in_threadpool(_person_360, crossview, person_id, day, freshness)
    if isinstance(answer, bytes):  # the ready document
        if sees_personal_data(caller):
            return Response(answer, media_type="application/json")
        answer = Person360Out.model_validate_json(answer)
    shown = shown_to(caller, answer, crossview)
    if isinstance(shown, Person360Out):  # built and checked once: answered as it is, not validated again
        return Response(shown.model_dump_json(), media_type="application/json")
    return shown


def _person_360(crossview, person_id: str, day: date, freshness: Freshness) -> Person360Out | bytes:
    """Everything the 360° view reads, in one thread: the ready document where the projector keeps
    one for that day (bytes as stored, one primary-key read); else the person, their references and
    their organisations' first people in one round trip; the whole family's views only for someone
    joined with others."""
    ready, catalogue = crossview.store.ready_360(person_id, day)
    moment = moment_of(crossview, catalogue)
    if ready is not None:
        return splice(person_id, *ready, day, freshness, moment)
    context = crossview.store.person_context(person_id, day, LINKS_SHOWN)
    view, refs, colleagues = context.view, context.references, context.colleagues
    if view is None or not has_document(view):
        view = _person(crossview, person_id)  # 404, 410, or the family's history merged
        organisations = document_organisations(view, day)
        refs = crossview.store.reference_data(organisations)
        colleagues = crossview.store.colleagues(organisations, day, person_id, LINKS_SHOWN)
    return build_360(view, refs, colleagues, day, freshness, moment)


def moment_of(crossview, catalogue: dict | None = None) -> Moment:
    """What a 360° view's journeys and offers depend on now: the catalogue, the time, the stall setting."""
    return Moment(
        catalogue=crossview.store.offer_catalogue() if catalogue is None else catalogue,
        stall_after=timedelta(minutes=crossview.settings.journey_stall_minutes),
    )


@router.get("/v1/persons/{person_id}/history", response_model=HistoryOut, tags=["persons"], responses=NOT_FOUND)
def professional_history(
    crossview: App, caller: AsPeopleReader, person_id: str, freshness: Fresh, day: AsOf
) -> HistoryOut:
    """Every function the person held or holds, ended ones included, oldest first."""
    view = _person(crossview, person_id)
    refs = crossview.store.reference_data(f.organisation_id for f in view.functions.values())
    return shown_to(
        caller,
        HistoryOut(
            person_id=person_id,
            as_of=day,
            functions=[FunctionOut(**f) for f in history(view, refs, day)],
            freshness=freshness,
        ),
        crossview,
    )


@router.get("/v1/persons/{person_id}/timeline", response_model=TimelineOut, tags=["persons"], responses=NOT_FOUND)
def timeline(
    crossview: App,
    caller: AsPeopleReader,
    person_id: str,
    freshness: Fresh,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[
        str | None, Query(max_length=1000, description="The next_page cursor of the previous page.")
    ] = None,
    channel: Annotated[Channel | None, Query(description="Only this channel's interactions.")] = None,
    function_id: Annotated[
        str | None, Query(description="Only the interactions attributed to this function of the person.")
    ] = None,
) -> TimelineOut:
    """Everything that happened to the person, on every channel, newest first, paged; or the part
    of one channel, or of one of their functions."""
    view, absorbed = family_of(crossview, person_id)
    if function_id is not None and all(function_id not in v.functions for v in (view, *absorbed)):
        raise ProblemError(404, "Function not found", f"person {person_id} has no function {function_id!r}")
    cursor = _decode_cursor(before) if before else None
    everyone = [view.person_id, *(a.person_id for a in absorbed)]
    only = TimelineFilter(channel, function_id)
    entries = one_row_per_message(e for pid in everyone for e in crossview.store.timeline(pid, limit + 1, cursor, only))
    page, more = entries[:limit], len(entries) > limit
    return shown_to(
        caller,
        TimelineOut(
            person_id=view.person_id,
            entries=[_entry_out(e) for e in page],
            next_page=_encode_cursor(page[-1]) if more else None,
            freshness=freshness,
        ),
        crossview,
    )


@router.get("/v1/search", response_model=SearchOut, tags=["directory"])
def search(
    crossview: App,
    caller: AsAdvisor,
    freshness: Fresh,
    day: AsOf,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=200,
            description="Words of a name, organisation, title, email or phone (a phone in any common format).",
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> SearchOut:
    """People whose name, contacts or active functions contain every word of q; ended functions never match."""
    words = search_words(q, crossview.settings.default_country_code)
    candidates, refs = crossview.store.search_candidates(words, day, limit)
    found = sorted(
        (v for v in candidates if v.merged_into is None and matches(v, refs, words, day)),
        key=lambda v: (v.family_name or "", v.given_name or "", v.person_id),
    )[:limit]
    results = []
    for view in found:
        functions = _functions(view, refs, day)
        results.append(
            SearchResult(
                person_id=view.person_id,
                given_name=view.given_name,
                family_name=view.family_name,
                main_function=functions[0] if functions else None,
                functions=functions,
            )
        )
    return SearchOut(query=q, as_of=day, results=results, freshness=freshness)


@router.get(
    "/v1/organisations/{organisation_id}/people", response_model=RosterOut, tags=["directory"], responses=NOT_FOUND
)
def roster(
    crossview: App,
    caller: AsPeopleReader,
    organisation_id: str,
    freshness: Fresh,
    day: AsOf,
    include_past: Annotated[bool, Query(description="Also people whose function there has ended.")] = False,
) -> RosterOut:
    """The organisation's people by function: current ones, and past ones on request."""
    if crossview.store.organisation(organisation_id) is None:
        raise ProblemError(404, "Organisation not found", f"no organisation {organisation_id!r} in the read model")
    refs = crossview.store.reference_data([organisation_id])
    rows = []
    for view in crossview.store.people_of(organisation_id, day, include_past):
        for function in view.functions.values():
            if function.organisation_id == organisation_id and (include_past or function.is_active_on(day)):
                rows.append(
                    RosterRow(
                        person_id=view.person_id,
                        given_name=view.given_name,
                        family_name=view.family_name,
                        function=FunctionOut(**function_out(view, function, refs, day)),
                    )
                )
    rows.sort(key=lambda r: (not r.function.active, r.function.title.code, r.family_name or "", r.given_name or ""))
    return shown_to(
        caller,
        RosterOut(
            organisation=OrganisationRef(**refs.organisation(organisation_id)),
            as_of=day,
            people=rows,
            freshness=freshness,
        ),
        crossview,
    )


@router.post("/v1/targetings", response_model=TargetingOut, tags=["directory"])
def targeting(crossview: App, caller: AsPeopleReader, request: TargetingRequest, freshness: Fresh) -> TargetingOut:
    """The population a selection reaches: one row per matching function, or one per person keeping
    their highest-priority matching function (reordering a person's functions changes which)."""
    day = request.as_of or today()
    criteria = Criteria(
        title_codes=frozenset(request.title_codes) if request.title_codes is not None else None,
        organisation_ids=frozenset(request.organisation_ids) if request.organisation_ids is not None else None,
        relationships=frozenset(request.relationships) if request.relationships is not None else None,
        active_only=request.active_only,
        channel=request.channel,
    )
    views, refs = crossview.store.targeting_candidates(criteria, day)
    rows = [
        RosterRow(
            person_id=r.pop("person_id"),
            given_name=r.pop("given_name"),
            family_name=r.pop("family_name"),
            function=FunctionOut(**r),
        )
        for r in target((v for v in views if v.merged_into is None), refs, criteria, request.mode, day)
    ]
    return shown_to(
        caller, TargetingOut(mode=request.mode, as_of=day, count=len(rows), rows=rows, freshness=freshness), crossview
    )


def _entry_out(entry: TimelineEntry) -> TimelineEntryOut:
    return TimelineEntryOut(
        status=entry.status,
        statuses=list(entry.statuses),
        event_id=entry.event_id,
        event_type=entry.event_type,
        channel=entry.channel,
        occurred_at=entry.occurred_at,
        data=entry.data,
        position=f"{entry.topic}:{entry.partition}:{entry.offset}",
    )


def _encode_cursor(entry: TimelineEntry) -> str:
    return base64.urlsafe_b64encode(json.dumps([entry.occurred_at.isoformat(), entry.event_id]).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, event_id = load_json(base64.urlsafe_b64decode(cursor.encode()))
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None or not isinstance(event_id, str):
            raise ValueError("a time with its zone and an event id are expected")
        return moment, event_id
    except (ValueError, TypeError) as error:
        raise ProblemError(
            422,
            "Invalid cursor",
            "before must be a next_page value from a previous answer",
            [{"field": "query.before", "message": str(error)}],
        ) from error


@router.get("/v1/organisations/{organisation_id}", tags=["directory"], responses=NOT_FOUND)
def organisation(crossview: App, caller: AsReader, organisation_id: str) -> dict:
    """The organisation, its relationship with us, and how that relationship changed over time."""
    found = crossview.store.organisation(organisation_id)
    if found is None:
        raise ProblemError(404, "Organisation not found", f"no organisation {organisation_id!r} in the read model")
    return found


@router.get("/v1/titles", tags=["administration"])
def titles(crossview: App, caller: AsReader) -> dict:
    """The referential of function titles: code, label, and whether it is retired."""
    return {"titles": dict(crossview.store.reference_data(()).titles)}


@router.get("/v1/attribute-policy", response_model=AttributePolicyOut, tags=["administration"])
def attribute_policy(crossview: App, caller: AsReader, freshness: Fresh) -> AttributePolicyOut:
    """The level (person or function) of every attribute with a decision; others are person-level.
    Read from the projected policy: give min_position from the PUT's answer to read your change."""
    return AttributePolicyOut(levels=crossview.store.attribute_policy(), freshness=freshness)


@router.get("/v1/campaigns/{campaign}", response_model=CampaignOut, tags=["campaigns"], responses=NOT_FOUND)
def campaign(crossview: App, caller: AsReader, campaign: str, freshness: Fresh) -> CampaignOut:
    """Sent, delivered, opened, clicked, bounced, unsubscribed and complaints, per channel: counts of
    distinct people and rates."""
    counts = crossview.store.campaign_counts(campaign)
    if not counts:
        raise ProblemError(404, "Campaign not found", f"no interaction carries the campaign {campaign!r}")
    return CampaignOut(campaign=campaign, channels=indicators(counts), freshness=freshness)
