"""The analysts' indicators as the API answers them (projections/analytics.py computes them)."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from schemas.api import ApiModel, ChannelIndicators, Freshness, TimeTravelOut


class CampaignSummary(ApiModel):
    campaign: str
    channels: list[str]
    people_sent: int = Field(description="Distinct people any message of the campaign was sent to.")
    first_day: date
    last_day: date


class CampaignsOut(ApiModel):
    """Every campaign an interaction carries."""

    campaigns: list[CampaignSummary]
    time_travel: TimeTravelOut | None = Field(
        None, description="Present when as_of was an instant, or at_position or model was given."
    )
    freshness: Freshness


class CampaignDay(ChannelIndicators):
    """One day of a campaign on one channel: ``new`` are the people who first reached each indicator
    that day; ``counts`` (and the rates over them) are the people so far, that day included."""

    day: date
    new: dict[str, int]


class CampaignDaysOut(ApiModel):
    """A campaign per channel and day, from its first day to its last (quiet days included)."""

    campaign: str
    channels: dict[str, list[CampaignDay]]
    time_travel: TimeTravelOut | None = Field(
        None, description="Present when as_of was an instant, or at_position or model was given."
    )
    freshness: Freshness


class StatusMix(ApiModel):
    status: str = Field(description="client, prospect, prescriber, or none (attributed to no function).")
    channels: dict[str, int]
    total: int


class TitleMix(ApiModel):
    title_code: str
    label: str
    channels: dict[str, int]
    total: int


class InteractionMixOut(ApiModel):
    """Interactions (a message, a call, a visit: one however many status reports) per channel, by the
    status of the organisation of the function each was attributed to, and by that function's title.
    Statuses and labels are today's (at a cut, statuses as they stood then); interactions attributed to no
    function count under status none."""

    by_organisation_status: list[StatusMix]
    by_function_title: list[TitleMix]
    time_travel: TimeTravelOut | None = Field(
        None, description="Present when as_of was an instant, or at_position or model was given."
    )
    freshness: Freshness
