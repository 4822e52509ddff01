"""Offers: the catalogue an administrator keeps, a person's answer to an offer (an event), and the
offers the website may show its visitor, asked with the visitor's own identifiers."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from domain.contact_point import InvalidContactPointError, normalise
from domain.offers import Offer
from projections.engagement import engagement, engagement_inputs
from projections.person_document import document_organisations
from projections.person_model import merge_views
from schemas.api import CommandOut, Problem
from schemas.engagement_api import OfferAnswerIn, OfferIn, VisitorOffersOut
from services.application import offers
from services.http.access import WEBSITE, AsAdmin, AsAdvisor, AsReader, AsWebsite
from services.http.deps import App, ProblemError, today
from services.http.routes.commands import ERRORS, run_command
from services.http.routes.queries import NOT_FOUND, family_of, moment_of

router = APIRouter(tags=["offers"])
OfferCode = Annotated[str, Path(min_length=1, max_length=100, description="The offer's code (SPRING20).")]


@router.put("/v1/offer-catalogue/{code}", response_model=CommandOut, responses=ERRORS)
def define_offer(crossview: App, caller: AsAdmin, code: OfferCode, body: OfferIn) -> CommandOut:
    """Put an offer in the catalogue, or change its terms: the campaign whose messages carry it, its
    validity, and whom it is suggested to as a next offer (organisation relationships, function
    titles, products held, an open journey's type), with the reason advisors read."""
    offer = Offer(
        code=code,
        label=body.label,
        campaign=body.campaign,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
        suggested=body.suggested,
        reason=body.reason,
        relationships=tuple(body.relationships),
        title_codes=tuple(body.title_codes),
        products=tuple(body.products),
        journey_types=tuple(body.journey_types),
    )
    return run_command(crossview, lambda app: offers.define_offer(app, offer))


@router.post("/v1/offer-catalogue/{code}/withdraw", response_model=CommandOut, responses=ERRORS)
def withdraw_offer(crossview: App, caller: AsAdmin, code: OfferCode) -> CommandOut:
    """Withdraw an offer: no longer held by anyone, suggested nor accepted."""
    return run_command(crossview, lambda app: offers.withdraw_offer(app, code))


@router.get("/v1/offer-catalogue", tags=["administration"])
def offer_catalogue(crossview: App, caller: AsReader) -> dict[str, Any]:
    """Every offer of the catalogue by code, withdrawn ones marked."""
    return {"offers": crossview.store.offer_catalogue()}


def _answer(
    crossview, person_id: uuid.UUID, code: str, answer: offers.Answer, body: OfferAnswerIn | None
) -> CommandOut:
    view, _ = family_of(crossview, str(person_id))  # 404, 410; a joined person answers as their survivor
    channel = body.channel if body else "call"
    survivor = uuid.UUID(view.person_id)
    return run_command(crossview, lambda app: offers.answer_offer(app, survivor, code, answer, channel, today()))


@router.post("/v1/persons/{person_id}/offers/{code}/accept", response_model=CommandOut, responses=ERRORS)
def accept_offer(
    crossview: App, caller: AsAdvisor, person_id: uuid.UUID, code: OfferCode, body: OfferAnswerIn | None = None
) -> CommandOut:
    """The person accepts an offer valid today (suggested, or one they hold): an event, once."""
    return _answer(crossview, person_id, code, "accepted", body)


@router.post("/v1/persons/{person_id}/offers/{code}/decline", response_model=CommandOut, responses=ERRORS)
def decline_offer(
    crossview: App, caller: AsAdvisor, person_id: uuid.UUID, code: OfferCode, body: OfferAnswerIn | None = None
) -> CommandOut:
    """The person declines an offer valid today: an event, once; it is not suggested again."""
    return _answer(crossview, person_id, code, "declined", body)


@router.get(
    "/v1/visitor-offers",
    response_model=VisitorOffersOut,
    responses={422: {"model": Problem, "description": "No identifier, or an invalid one"}, **NOT_FOUND},
)
async def visitor_offers(
    crossview: App,
    caller: AsWebsite,
    request: Request,
    user_id: Annotated[str | None, Query(min_length=1, max_length=300, description="The site's own user id.")] = None,
    anonymous_id: Annotated[
        str | None, Query(min_length=1, max_length=300, description="The browser's anonymous id (Segment's).")
    ] = None,
    email: Annotated[
        str | None, Query(min_length=3, max_length=320, description="An email the site verified as the visitor's.")
    ] = None,
) -> VisitorOffersOut:
    """The offers the website may show its visitor: those of the campaigns that reached them on any
    channel, valid today, and the next offer suggested for them. Asked by the site's backend with
    the visitor's identifiers (as its Segment calls carry them); the answer holds offers only, never
    a name or an id. Identifiers that lead to different people, or to nobody, get no offer."""
    identifiers = _identifiers(crossview, user_id, anonymous_id, email)
    answer, person_id = await run_in_threadpool(_visitor_offers, crossview, identifiers)
    if person_id is not None:  # whose offers they are goes on that person's trail, before the answer leaves
        await WEBSITE.record(crossview.auditor, caller, request.scope, visitor_offers, {"person_id": person_id})
    return answer


def _identifiers(crossview, user_id: str | None, anonymous_id: str | None, email: str | None) -> list[tuple]:
    if user_id is None and anonymous_id is None and email is None:
        raise ProblemError(
            422,
            "No identifier",
            "give user_id, anonymous_id or email",
            [{"field": "query.user_id", "message": "give user_id, anonymous_id or email"}],
        )
    found: list[tuple] = []
    if user_id is not None:
        found.append(("web", f"user:{user_id.strip()}"))
    if anonymous_id is not None:
        found.append(("web", f"anon:{anonymous_id.strip()}"))
    if email is not None:
        try:
            found.append(("email", normalise("email", email, crossview.settings.default_country_code)))
        except InvalidContactPointError as error:
            raise ProblemError(
                422, "Invalid email", str(error), [{"field": "query.email", "message": str(error)}]
            ) from error
    return found


def _visitor_offers(crossview, identifiers: list[tuple]) -> tuple[VisitorOffersOut, str | None]:
    """The visitor's offers, and whose they are (None: nobody's, nothing of anyone shown)."""
    nothing = VisitorOffersOut(offers=[], next_offer=None), None
    people = set()
    for kind, address in identifiers:
        resolved = crossview.commands.app.find_contact_point(kind, address)
        if resolved is not None:
            people.add(str(resolved.person_id))
    survivors = set()
    for person_id in people:
        try:
            survivors.add(family_of(crossview, person_id)[0].person_id)
        except ProblemError:  # not projected yet, or erased: nothing to show
            return nothing
    if len(survivors) != 1:  # nobody, or identifiers of different people: show nobody's offers
        return nothing
    person_id = survivors.pop()
    view, absorbed = family_of(crossview, person_id)
    view = merge_views(view, absorbed) if absorbed else view
    day: date = today()
    refs = crossview.store.reference_data(document_organisations(view, day))
    moment = moment_of(crossview)
    shown = engagement(engagement_inputs(view, refs, day), moment.catalogue, moment.now, moment.stall_after)
    return VisitorOffersOut(offers=shown["offers"], next_offer=shown["next_offer"]), person_id
