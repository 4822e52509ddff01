"""Analysts' indicators: campaigns listed and followed day by day, the channel mix per organisation
status, interactions per function title. Aggregates only (no one's data): not audited. The console's
analytics page draws the same figures (routes/console_analytics.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from starlette.concurrency import run_in_threadpool

from projections.analytics import campaign_days as days_of
from projections.analytics import campaign_list, first_reached, interaction_mix
from schemas.analytics_api import CampaignDaysOut, CampaignsOut, InteractionMixOut
from schemas.api import Freshness, Problem
from services.http.access import AsAnalyst
from services.http.deps import App, Fresh, ProblemError

router = APIRouter(tags=["analytics"])
CampaignName = Annotated[str, Path(max_length=200, description="The campaign as interactions carry it.")]


@router.get("/v1/campaigns", response_model=CampaignsOut)
async def campaigns(crossview: App, caller: AsAnalyst, freshness: Fresh) -> CampaignsOut:
    """Every campaign an interaction carries: its channels, the people it was sent to, its first
    and last day. `GET /v1/campaigns/{campaign}` gives its indicators, `.../days` day by day."""
    return await run_in_threadpool(list_campaigns, crossview, freshness)


def list_campaigns(crossview, freshness: Freshness) -> CampaignsOut:
    reach = first_reached(crossview.store.campaign_events(None))
    return CampaignsOut(campaigns=campaign_list(reach), freshness=freshness)


@router.get("/v1/campaigns/{campaign}/days", response_model=CampaignDaysOut, responses={404: {"model": Problem}})
async def campaign_days(crossview: App, caller: AsAnalyst, campaign: CampaignName, freshness: Fresh) -> CampaignDaysOut:
    """The campaign per channel and day: the people who first reached each indicator that day
    (`new`), the people so far (`counts`), and rates over them, each with its denominator: opened,
    clicked, unsubscribed and complaints are over delivered, or over sent where the channel reported
    no delivery (`delivery_reported`)."""
    return await run_in_threadpool(days_of_campaign, crossview, campaign, freshness)


def days_of_campaign(crossview, campaign: str, freshness: Freshness) -> CampaignDaysOut:
    channels = days_of(first_reached(crossview.store.campaign_events(campaign)), campaign)
    if not channels:
        raise ProblemError(404, "Campaign not found", f"no interaction carries the campaign {campaign!r}")
    return CampaignDaysOut(campaign=campaign, channels=channels, freshness=freshness)


@router.get("/v1/analytics/interactions", response_model=InteractionMixOut)
async def interactions_mix(crossview: App, caller: AsAnalyst, freshness: Fresh) -> InteractionMixOut:
    """Interactions per channel by the status (client, prospect, prescriber) of the organisation of
    the function each was attributed to (`none`: attributed to no function), and by function title."""
    return await run_in_threadpool(mix_of_interactions, crossview, freshness)


def mix_of_interactions(crossview, freshness: Freshness) -> InteractionMixOut:
    counts = crossview.store.function_interaction_counts()
    references = crossview.store.reference_data({o for _, o, _, _ in counts if o})
    return InteractionMixOut(
        **interaction_mix(counts, references.organisations, references.titles), freshness=freshness
    )
