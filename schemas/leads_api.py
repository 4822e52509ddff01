"""HTTP contracts of the sales pipeline: leads, their qualification and routing rules, and the
pipeline's figures."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.lead_events import LeadRoute, LeadSize, LeadSizeRule, LeadSource, SalesChannel

LeadStage = Literal["new", "qualified", "routed", "converted", "lost"]
Product = Field(min_length=1, max_length=100, description="The offer or product the lead is interested in.")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LeadSummary(_Model):
    """One of the person's leads as the 360° view lists it: open ones first (the oldest first), then
    the latest 20 converted or lost."""

    lead_id: str
    stage: LeadStage
    product: str | None
    source: LeadSource | None = Field(description="Where it came from: web, call, campaign or referral.")
    size: LeadSize | None = Field(description="Its qualification, once qualified.")
    rule: str | None = Field(description="The rule that gave its size; None when someone overrode the rules.")
    reason: str | None = Field(description="Why the rules were overridden, if they were.")
    channel: SalesChannel | None = Field(description="Where it was routed.")
    owner: str | None = Field(description="Whose it is, once routed.")
    function_id: str | None = Field(description="The function it concerns, if one.")
    organisation_id: str | None = Field(description="The organisation that becomes a client when it converts.")
    prescriber_id: str | None = Field(description="The prescriber organisation credited with a referral.")
    prescriber_name: str | None
    campaign: str | None = Field(description="The campaign a reply came from.")
    created_at: datetime | None
    updated_at: datetime | None
    closed_at: datetime | None = Field(description="When it was converted or lost.")
    lost_reason: str | None


class LeadIn(_Model):
    """A person's interest in an offer. ``referral`` names the prescriber it is credited to;
    ``campaign`` the campaign a reply came from."""

    product: str = Product
    source: LeadSource = "call"
    function_id: str | None = Field(None, min_length=1, max_length=200, description="One of the person's functions.")
    organisation_id: uuid.UUID | None = Field(
        None, description="The organisation interested (default: the function's)."
    )
    prescriber_id: uuid.UUID | None = Field(None, description="The prescriber organisation (required for a referral).")
    campaign: str | None = Field(None, min_length=1, max_length=200, description="Required for a campaign reply.")
    employees: int | None = Field(None, ge=0, le=10_000_000, description="The organisation's size, for qualification.")
    budget: int | None = Field(None, ge=0, le=10**12, description="The budget in euros, for qualification.")


class QualifyIn(_Model):
    """Without ``size``: qualified by the rules. With it: the rules overridden, ``reason`` required."""

    size: LeadSize | None = None
    reason: str | None = Field(None, min_length=1, max_length=2000)


class RouteIn(_Model):
    """Without a body's fields: routed by the rules (the channel and owner of the lead's size). A
    channel alone takes that channel's owner in the rules; an owner alone keeps the rules' channel."""

    channel: SalesChannel | None = None
    owner: str | None = Field(None, min_length=1, max_length=200)


class LoseIn(_Model):
    reason: str = Field(min_length=1, max_length=2000, description="Why the lead was lost.")


class LeadRulesIn(_Model):
    """How leads are qualified — large if any large threshold or product is met, else medium if any
    medium one is, else small — and routed: a channel and an owner for each size."""

    medium: LeadSizeRule
    large: LeadSizeRule
    routes: dict[LeadSize, LeadRoute]


class LeadRulesOut(LeadRulesIn):
    pass
