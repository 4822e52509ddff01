"""Analysts' indicators: campaigns listed and followed day by day, the channel mix per organisation
status, interactions per function title. Aggregates only (no one's data): not audited. The console's
analytics page draws the same figures (routes/console_analytics.py).

Each travels as the 360° view does (services/http/time_travel.py): with an instant as ``as_of``, or
``at_position``, the figures are counted from the events the cut keeps, and the answer carries
``time_travel``; a date alone changes nothing here (no function is judged on a day)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from projections.analytics import campaign_days as days_of
from projections.analytics import campaign_list, first_reached, interaction_mix, last_active
from schemas.analytics_api import CampaignDaysOut, CampaignsOut, InteractionMixOut
from schemas.api import Freshness, Problem
from services.http.access import AsAnalyst
from services.http.deps import App, CampaignName, Fresh, ProblemError
from services.http.routes.travelled import references_at, travelled_cut
from services.http.time_travel import NOT_REACHED, TimeTravel, Travel

router = APIRouter(tags=["analytics"])
TRAVELLED = {
    404: {"model": Problem, "description": "No such read model"},
    **NOT_REACHED,
}


def answer(figures: BaseModel) -> Response:
    """The figures as sent: ``time_travel`` only when the query travelled (a live answer is as it was)."""
    exclude = {"time_travel"} if getattr(figures, "time_travel", None) is None else None
    return Response(figures.model_dump_json(exclude=exclude), media_type="application/json")


@router.get("/v1/campaigns", response_model=CampaignsOut, responses=TRAVELLED)
async def campaigns(crossview: App, caller: AsAnalyst, freshness: Fresh, travel: TimeTravel) -> Response:
    """Every campaign an interaction carries: its channels, the people it was sent to, its first
    and last day. `GET /v1/campaigns/{campaign}` gives its indicators, `.../days` day by day. With an
    instant as `as_of`, or `at_position`: the campaigns as the log stood then."""
    return answer(await run_in_threadpool(list_campaigns, crossview, freshness, travel))


def list_campaigns(crossview, freshness: Freshness, travel: Travel | None = None) -> CampaignsOut:
    store, freshness, cut, used = travelled_cut(crossview, travel, freshness)
    events = store.campaign_events(None, cut)
    return CampaignsOut(
        campaigns=campaign_list(first_reached(events), last_active(events)), time_travel=used, freshness=freshness
    )


@router.get(
    "/v1/campaigns/{campaign:path}/days",  # matched before /v1/campaigns/{campaign:path} (app.py)
    response_model=CampaignDaysOut,
    responses={**TRAVELLED, 404: {"model": Problem, "description": "No such campaign (then), or read model"}},
)
async def campaign_days(
    crossview: App, caller: AsAnalyst, campaign: CampaignName, freshness: Fresh, travel: TimeTravel
) -> Response:
    """The campaign per channel and day: the people who first reached each indicator that day
    (`new`), the people so far (`counts`), and rates over them, each with its denominator: opened,
    clicked, unsubscribed and complaints are over delivered, or over sent where the channel reported
    no delivery (`delivery_reported`). With an instant as `as_of`, or `at_position`: counted from
    the events up to then only."""
    return answer(await run_in_threadpool(days_of_campaign, crossview, campaign, freshness, travel))


def days_of_campaign(crossview, campaign: str, freshness: Freshness, travel: Travel | None = None) -> CampaignDaysOut:
    store, freshness, cut, used = travelled_cut(crossview, travel, freshness)
    events = store.campaign_events(campaign, cut)
    channels = days_of(first_reached(events), campaign, last_active(events))
    if not channels:
        raise ProblemError(404, "Campaign not found", f"no interaction carries the campaign {campaign!r}")
    return CampaignDaysOut(campaign=campaign, channels=channels, time_travel=used, freshness=freshness)


@router.get("/v1/analytics/interactions", response_model=InteractionMixOut, responses=TRAVELLED)
async def interactions_mix(crossview: App, caller: AsAnalyst, freshness: Fresh, travel: TimeTravel) -> Response:
    """Interactions per channel by the status (client, prospect, prescriber) of the organisation of
    the function each was attributed to (`none`: attributed to no function), and by function title.
    With an instant as `as_of`, or `at_position`: the interactions, functions and statuses of then."""
    return answer(await run_in_threadpool(mix_of_interactions, crossview, freshness, travel))


def mix_of_interactions(crossview, freshness: Freshness, travel: Travel | None = None) -> InteractionMixOut:
    store, freshness, cut, used = travelled_cut(crossview, travel, freshness)
    counts = store.function_interaction_counts(cut)
    organisations = sorted({o for _, o, _, _ in counts if o})
    # at a cut, the organisations' statuses as they stood then (titles' labels are today's)
    references = references_at(store, organisations, cut) if cut else store.reference_data(organisations)
    return InteractionMixOut(
        **interaction_mix(counts, references.organisations, references.titles), time_travel=used, freshness=freshness
    )
