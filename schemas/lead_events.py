"""Wire contracts of the sales pipeline: a lead's life (relayed from the event store, the subject
the person whose lead it is) and the rules that qualify and route leads. Registered with every other
type in schemas/events.py."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.event_base import DOMAIN, EventData

LeadSource = Literal["web", "call", "campaign", "referral"]
LeadSize = Literal["small", "medium", "large"]
SalesChannel = Literal["contact_centre", "advisor", "key_account_manager"]


class LeadCreated(EventData):
    """The person (the subject) showed an interest in ``product``: on the web, in a call, replying
    to a campaign, or referred by a prescriber organisation (credited with it). The lead is new."""

    event_type: ClassVar[str] = "crossview.lead.created.v1"
    stream: ClassVar[str] = DOMAIN

    lead_id: str = Field(min_length=1, max_length=200)
    product: str = Field(min_length=1, max_length=100)
    source: LeadSource
    function_id: str | None = Field(default=None, max_length=200)
    organisation_id: str | None = Field(
        default=None, max_length=200, description="The organisation that becomes a client when it converts."
    )
    prescriber_id: str | None = Field(default=None, max_length=200, description="The prescriber credited.")
    prescriber_name: str | None = Field(default=None, max_length=300)
    campaign: str | None = Field(default=None, max_length=200)
    employees: int | None = Field(default=None, ge=0, le=10_000_000, description="The organisation's size.")
    budget: int | None = Field(default=None, ge=0, le=10**12, description="In euros.")
    created_at: datetime
    created_by: str = Field(min_length=1, max_length=200, description="The advisor, or the provider it came through.")
    source_ref: str | None = Field(default=None, max_length=1000, description="The provider's event it came from.")


class LeadQualified(EventData):
    """One of the person's leads is small, medium or large: by the rules (``rule`` says which), or
    by someone overriding them (``reason`` says why)."""

    event_type: ClassVar[str] = "crossview.lead.qualified.v1"
    stream: ClassVar[str] = DOMAIN

    lead_id: str = Field(min_length=1, max_length=200)
    size: LeadSize
    rule: str | None = Field(default=None, max_length=300)
    reason: str | None = Field(default=None, max_length=2000)
    at: datetime
    by: str = Field(min_length=1, max_length=200)


class LeadRouted(EventData):
    """One of the person's leads went to a channel (contact centre, advisor, key-account manager)
    and an owner there."""

    event_type: ClassVar[str] = "crossview.lead.routed.v1"
    stream: ClassVar[str] = DOMAIN

    lead_id: str = Field(min_length=1, max_length=200)
    channel: SalesChannel
    owner: str = Field(min_length=1, max_length=200)
    at: datetime
    by: str = Field(min_length=1, max_length=200)


class LeadConverted(EventData):
    """One of the person's leads was won: the organisation, if the lead has one, is a client now
    (its own relationship change is stored with this event)."""

    event_type: ClassVar[str] = "crossview.lead.converted.v1"
    stream: ClassVar[str] = DOMAIN

    lead_id: str = Field(min_length=1, max_length=200)
    organisation_id: str | None = Field(default=None, max_length=200)
    at: datetime
    by: str = Field(min_length=1, max_length=200)


class LeadLost(EventData):
    """One of the person's leads was lost, for ``reason``."""

    event_type: ClassVar[str] = "crossview.lead.lost.v1"
    stream: ClassVar[str] = DOMAIN

    lead_id: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=2000)
    at: datetime
    by: str = Field(min_length=1, max_length=200)


class LeadSizeRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    employees: int | None = Field(default=None, ge=0, le=10_000_000, description="From this many employees.")
    budget: int | None = Field(default=None, ge=0, le=10**12, description="From this budget (euros).")
    products: list[str] = Field(default=[], max_length=200, description="Products that make a lead this size.")


class LeadRoute(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: SalesChannel
    owner: str = Field(min_length=1, max_length=200, description="The team or person leads go to.")


class LeadRulesSet(EventData):
    """An administrator set how leads are qualified (a lead is large, else medium, from any of its
    size's thresholds or products; else small) and routed (a channel and an owner per size)."""

    event_type: ClassVar[str] = "crossview.lead.rules-set.v1"
    stream: ClassVar[str] = DOMAIN

    medium: LeadSizeRule
    large: LeadSizeRule
    routes: dict[LeadSize, LeadRoute]


LEAD_EVENTS = (LeadCreated, LeadQualified, LeadRouted, LeadConverted, LeadLost)
