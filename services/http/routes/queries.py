"""Queries for advisors and analysts. They read only read models, and say what they reflect."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from channels.webhook_fields import load_json
from projections.analytics import first_reached, reach_counts
from projections.as_of import Cut
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
    TimeTravelOut,
)
from schemas.events import Channel
from services.http.access import (
    RECORDING,
    AsAdvisor,
    AsPeopleReader,
    AsReader,
    records_with_its_read,
    sees_personal_data,
    shown_to,
)
from services.http.deps import App, CampaignName, Fresh, ProblemError, render, today
from services.http.routes.travelled import (
    family_at,
    moment_at,
    partitions,
    people_at,
    person_360_at,
    references_at,
    search_people_at,
    the_cut,
    travelled_cut,
    travelled_store,
)
from services.http.time_travel import NOT_REACHED, TimeTravel, Travel, parse_position

router = APIRouter()
NOT_FOUND = {404: {"model": Problem}, 410: {"model": Problem, "description": "The person was erased"}}
TRAVELLED = {
    **NOT_FOUND,
    404: {"model": Problem, "description": "No such person (at that point of the log), or no such read model"},
    **NOT_REACHED,
}


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


@router.get("/v1/persons/{person_id}", response_model=Person360Out, tags=["persons"], responses=TRAVELLED)
@records_with_its_read
async def person_360(
    request: Request, crossview: App, caller: AsPeopleReader, person_id: str, freshness: Fresh, travel: TimeTravel
) -> Person360Out | Response:
    """The 360° view of a person: their active functions in priority order (the first is the main
    function), attributes tagged person- or function-level, interactions per function and in all,
    and the other people of the organisations where they hold an active function. With an instant
    as `as_of`, or `at_position`, the view as the log stood then (`time_travel` says which)."""
    if travel.cut is not None or travel.model is not None:
        travelled = await run_in_threadpool(_person_360_travelled, crossview, person_id, travel, freshness)
        return _respond(caller, travelled, crossview)
    day = travel.day
    # No thread, one statement: the document, and the caller's access record kept with the read.
    with crossview.auditor.riding(request.scope.get(RECORDING)) as rider:
        ready, catalogue = await crossview.store.ready_360_async(person_id, day, rider)
    if ready is not None:
        answer = splice(person_id, *ready, day, freshness, moment_of(crossview, catalogue))
    else:
        answer = await run_in_threadpool(_person_360_made, crossview, person_id, day, freshness, catalogue)
    if isinstance(answer, bytes):  # the ready document
        if sees_personal_data(caller):
            return Response(answer, media_type="application/json")
        answer = Person360Out.model_validate_json(answer)
    return _respond(caller, answer, crossview)


def _respond(caller, answer, crossview) -> Response:
    """The answer as the caller may see it, built and checked once: sent as it is, not validated
    again; ``time_travel`` only when the query travelled (a live answer is as it always was)."""
    shown = shown_to(caller, answer, crossview)
    if isinstance(shown, BaseModel):
        exclude = {"time_travel"} if getattr(shown, "time_travel", None) is None else None
        return Response(shown.model_dump_json(exclude=exclude), media_type="application/json")
    return shown


def _person_360(crossview, person_id: str, day: date, freshness: Freshness) -> Person360Out | bytes:
    """Everything the 360° view reads, in one thread: the ready document where the projector keeps
    one for that day (bytes as stored, one primary-key read); else the person, their references and
    their organisations' first people in one round trip; the whole family's views only for someone
    joined with others."""
    ready, catalogue = crossview.store.ready_360(person_id, day)
    if ready is not None:
        return splice(person_id, *ready, day, freshness, moment_of(crossview, catalogue))
    return _person_360_made(crossview, person_id, day, freshness, catalogue)


def _person_360_made(crossview, person_id: str, day: date, freshness: Freshness, catalogue: dict) -> Person360Out:
    """The 360° view made from the read model, for someone without a ready document for ``day``."""
    moment = moment_of(crossview, catalogue)
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


def _person_360_travelled(crossview, person_id: str, travel: Travel, freshness: Freshness) -> Person360Out:
    """The 360° view from a replayed read model, or at a cut: the pure fold of the family's events the
    cut keeps, their organisations as they stood then; the links are the organisations' people on
    the day as the read model knows them now."""
    store, freshness, position = travelled_store(crossview, travel, freshness)
    day = travel.day
    if travel.cut is None:  # a replayed model as it stands
        answer = _person_360(replace(crossview, store=store), person_id, day, freshness)
        answer = Person360Out.model_validate_json(answer) if isinstance(answer, bytes) else answer
        return answer.model_copy(update={"time_travel": travel.used(position)})
    cut = the_cut(travel.cut, position)
    moment = moment_at(store, cut, timedelta(minutes=crossview.settings.journey_stall_minutes))
    answer = person_360_at(store, person_id, cut, day, freshness, moment)
    return answer.model_copy(update={"time_travel": travel.used(dict(cut.position or {}))})


@router.get("/v1/persons/{person_id}/history", response_model=HistoryOut, tags=["persons"], responses=TRAVELLED)
def professional_history(
    crossview: App, caller: AsPeopleReader, person_id: str, freshness: Fresh, travel: TimeTravel
) -> Response:
    """Every function the person held or holds, ended ones included, oldest first (at a cut: those
    recorded then, as they were then)."""
    return _respond(caller, history_answer(crossview, person_id, freshness, travel), crossview)


def history_answer(crossview, person_id: str, freshness: Freshness, travel: Travel) -> HistoryOut:
    """The professional history as everyone may see it (the route and the console)."""
    day, used = travel.day, None
    if travel.cut is None and travel.model is None:
        view = _person(crossview, person_id)
        refs = crossview.store.reference_data(f.organisation_id for f in view.functions.values())
    else:
        store, freshness, position = travelled_store(crossview, travel, freshness)
        if travel.cut is None:
            view, used = _person(replace(crossview, store=store), person_id), travel.used(position)
            refs = store.reference_data(f.organisation_id for f in view.functions.values())
        else:
            cut = the_cut(travel.cut, position)
            survivor, absorbed = family_at(store, person_id, cut)
            view = merge_views(survivor, absorbed) if absorbed else survivor
            refs = references_at(store, [f.organisation_id for f in view.functions.values()], cut)
            used = travel.used(dict(cut.position or {}))
    return HistoryOut(
        person_id=person_id,
        as_of=day,
        functions=[FunctionOut(**f) for f in history(view, refs, day)],
        time_travel=used,
        freshness=freshness,
    )


@router.get("/v1/persons/{person_id}/timeline", response_model=TimelineOut, tags=["persons"], responses=TRAVELLED)
def timeline(
    crossview: App,
    caller: AsPeopleReader,
    person_id: str,
    freshness: Fresh,
    travel: TimeTravel,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[
        str | None, Query(max_length=1000, description="The next_page cursor of the previous page.")
    ] = None,
    channel: Annotated[Channel | None, Query(description="Only this channel's interactions.")] = None,
    function_id: Annotated[
        str | None, Query(description="Only the interactions attributed to this function of the person.")
    ] = None,
) -> Response:
    """Everything that happened to the person, on every channel, newest first, paged; or the part
    of one channel, or of one of their functions. At a cut (an instant as `as_of`, `at_position`):
    the events it keeps, each message with the statuses it had then."""
    answer = timeline_answer(crossview, person_id, freshness, travel, limit, before, channel, function_id)
    return _respond(caller, answer, crossview)


def timeline_answer(
    crossview,
    person_id: str,
    freshness: Freshness,
    travel: Travel,
    limit: int = 50,
    before: str | None = None,
    channel: str | None = None,
    function_id: str | None = None,
) -> TimelineOut:
    """One page of the timeline (the route and the console)."""
    store, cut, used = crossview.store, None, None
    if travel.cut is None and travel.model is None:
        view, absorbed = family_of(crossview, person_id)
    else:
        store, freshness, position = travelled_store(crossview, travel, freshness)
        if travel.cut is None:
            view, absorbed = family_of(replace(crossview, store=store), person_id)
            used = travel.used(position)
        else:
            cut = the_cut(travel.cut, position)
            view, absorbed = family_at(store, person_id, cut)
            used = travel.used(dict(cut.position or {}))
    if function_id is not None and all(function_id not in v.functions for v in (view, *absorbed)):
        raise ProblemError(404, "Function not found", f"person {person_id} has no function {function_id!r}")
    cursor = _decode_cursor(before) if before else None
    everyone = [view.person_id, *(a.person_id for a in absorbed)]
    only = TimelineFilter(channel, function_id)
    pages = (
        store.timeline(pid, limit + 1, cursor, only, cut) if cut else store.timeline(pid, limit + 1, cursor, only)
        for pid in everyone
    )
    entries = one_row_per_message(e for page in pages for e in page)
    page, more = entries[:limit], len(entries) > limit
    return TimelineOut(
        person_id=view.person_id,
        entries=[_entry_out(e) for e in page],
        next_page=_encode_cursor(page[-1]) if more else None,
        time_travel=used,
        freshness=freshness,
    )


@router.get(
    "/v1/search",
    response_model=SearchOut,
    tags=["directory"],
    responses={
        404: {"model": Problem, "description": "No such read model"},
        **NOT_REACHED,
        422: {"model": Problem, "description": "Malformed input, or a query too broad to answer at a cut"},
    },
)
async def search(
    crossview: App,
    caller: AsAdvisor,
    freshness: Fresh,
    travel: TimeTravel,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=200,
            description="Words of a name, organisation, title, email or phone (a phone in any common format).",
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> Response:
    """People whose name, contacts or active functions contain every word of q; ended functions never
    match. With an instant as `as_of`, or `at_position`: the people who matched as the log stood then
    (their names, contacts and functions of then: someone renamed since is found under the old name,
    someone registered since is not), folded one by one, so a query must narrow them to a few
    hundred at most."""
    if travel.cut is not None or travel.model is not None:
        answer = await run_in_threadpool(search_answer, crossview, freshness, travel, q, limit)
    else:  # live: no thread (as the 360° view)
        words = search_words(q, crossview.settings.default_country_code)
        candidates, refs = await crossview.store.search_candidates_async(words, travel.day, limit)
        answer = _search_out(q, words, travel.day, limit, candidates, refs, freshness, None)
    return _respond(caller, answer, crossview)


def search_answer(crossview, freshness: Freshness, travel: Travel, q: str, limit: int = 20) -> SearchOut:
    """The search's answer (the route and the console)."""
    words = search_words(q, crossview.settings.default_country_code)
    day = travel.day
    store, freshness, cut, used = travelled_cut(crossview, travel, freshness)
    if cut is None:
        candidates, refs = store.search_candidates(words, day, limit)
    else:
        candidates, refs = search_people_at(store, words, cut)
    return _search_out(q, words, day, limit, candidates, refs, freshness, used)


def _search_out(q: str, words: str, day: date, limit: int, candidates, refs, freshness, used) -> SearchOut:  # noqa: PLR0913
    """The first ``limit`` candidates every word matches, in the order results are listed."""
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
    return SearchOut(query=q, as_of=day, results=results, time_travel=used, freshness=freshness)


@router.get(
    "/v1/organisations/{organisation_id}/people", response_model=RosterOut, tags=["directory"], responses=TRAVELLED
)
def roster(
    crossview: App,
    caller: AsPeopleReader,
    organisation_id: str,
    freshness: Fresh,
    travel: TimeTravel,
    include_past: Annotated[bool, Query(description="Also people whose function there has ended.")] = False,
) -> Response:
    """The organisation's people by function: current ones, and past ones on request. At a cut (an
    instant as `as_of`, `at_position`): the functions recorded then, as they were then."""
    day, store, used, cut = travel.day, crossview.store, None, None
    if travel.cut is not None or travel.model is not None:
        store, freshness, position = travelled_store(crossview, travel, freshness)
        cut = the_cut(travel.cut, position) if travel.cut is not None else None
        used = travel.used(dict(cut.position or {}) if cut else position)
    if store.organisation(organisation_id) is None:
        raise ProblemError(404, "Organisation not found", f"no organisation {organisation_id!r} in the read model")
    if cut is None:
        refs = store.reference_data([organisation_id])
        people = store.people_of(organisation_id, day, include_past)
    else:  # everyone who ever had a function there, as the cut sees them
        refs = references_at(store, [organisation_id], cut)
        if organisation_id not in refs.organisations:
            raise ProblemError(404, "Organisation not found", "no such organisation at that point of the log")
        people = people_at(store, store.people_of(organisation_id, day, True), cut)
    rows = []
    for view in people:
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
    return _respond(
        caller,
        RosterOut(
            organisation=OrganisationRef(**refs.organisation(organisation_id)),
            as_of=day,
            people=rows,
            time_travel=used,
            freshness=freshness,
        ),
        crossview,
    )


@router.post(
    "/v1/targetings",
    response_model=TargetingOut,
    tags=["directory"],
    responses=NOT_REACHED,
)
def targeting(crossview: App, caller: AsPeopleReader, request: TargetingRequest, freshness: Fresh) -> Response:
    """The population a selection reaches: one row per matching function, or one per person keeping
    their highest-priority matching function (reordering a person's functions changes which). With
    an instant as `as_of`, or `at_position`: the population as the log stood then."""
    asked, until = request.as_of, None  # in UTC already (schemas/as_of.py)
    if isinstance(asked, datetime):  # an instant (a datetime is a date too: asked first)
        until = asked
    day = until.date() if until is not None else asked or today()
    criteria = Criteria(
        title_codes=frozenset(request.title_codes) if request.title_codes is not None else None,
        organisation_ids=frozenset(request.organisation_ids) if request.organisation_ids is not None else None,
        relationships=frozenset(request.relationships) if request.relationships is not None else None,
        active_only=request.active_only,
        channel=request.channel,
    )
    used = None
    if until is None and request.at_position is None:
        views, refs = crossview.store.targeting_candidates(criteria, day)
    else:  # everyone whose functions may have met it then, each as the cut sees them
        position = (
            parse_position(request.at_position, crossview.settings, "body.at_position")
            if request.at_position is not None
            else None
        )
        cut = the_cut(Cut(until, position), partitions(freshness.position))
        candidates, _ = crossview.store.targeting_candidates(
            replace(criteria, relationships=None, active_only=False), day
        )
        views = people_at(crossview.store, candidates, cut)
        refs = references_at(crossview.store, [f.organisation_id for v in views for f in v.functions.values()], cut)
        used = TimeTravelOut(until=until, at_position=render(dict(cut.position or {})), model=None)
    rows = [
        RosterRow(
            person_id=r.pop("person_id"),
            given_name=r.pop("given_name"),
            family_name=r.pop("family_name"),
            function=FunctionOut(**r),
        )
        for r in target((v for v in views if v.merged_into is None), refs, criteria, request.mode, day)
    ]
    answer = TargetingOut(
        mode=request.mode, as_of=day, count=len(rows), rows=rows, time_travel=used, freshness=freshness
    )
    return _respond(caller, answer, crossview)


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


@router.get(
    "/v1/campaigns/{campaign:path}",  # a campaign's name may hold a slash (promo/2026: promo%2F2026)
    response_model=CampaignOut,
    tags=["campaigns"],
    responses={
        **NOT_FOUND,
        404: {"model": Problem, "description": "No such campaign (at that point of the log), or read model"},
        **NOT_REACHED,
    },
)
def campaign(
    crossview: App, caller: AsReader, campaign: CampaignName, freshness: Fresh, travel: TimeTravel
) -> Response:
    """Sent, delivered, opened, clicked, bounced, unsubscribed and complaints, per channel: counts of
    distinct people and rates. With an instant as `as_of`, or `at_position`: counted from the events
    up to then only."""
    store, freshness, cut, used = travelled_cut(crossview, travel, freshness)
    if cut is None:
        counts = store.campaign_counts(campaign)
    else:
        counts = reach_counts(first_reached(store.campaign_events(campaign, cut)), campaign)
    if not counts:
        raise ProblemError(404, "Campaign not found", f"no interaction carries the campaign {campaign!r}")
    answer = CampaignOut(campaign=campaign, channels=indicators(counts), time_travel=used, freshness=freshness)
    return _respond(caller, answer, crossview)
