"""API bodies of journeys and offers: what the 360° view shows of them, what the website gets for
its visitor, and the commands of the offer catalogue and of a person's answers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.journey_events import JourneyChannel, Relationship


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class JourneyOut(_Body):
    """A process the person started on one channel and continues on others, where they are in it."""

    journey_id: str
    journey_type: str | None = Field(description="purchase, quote, application...")
    state: Literal["open", "completed", "abandoned"]
    step: int | None = Field(description="The step they are at (the last one, once finished).")
    step_count: int | None
    step_name: str | None
    summary: str = Field(description='As an advisor says it: "step 2 of 3 — Payment".')
    last_channel: JourneyChannel = Field(description="Where the last step came from.")
    channels: list[JourneyChannel] = Field(description="Every channel the journey went through.")
    started_at: datetime
    last_step_at: datetime
    idle_seconds: int = Field(description="Time since the last step, when the view was answered.")
    stalled: bool = Field(description="Open with no step for CROSSVIEW_JOURNEY_STALL_MINUTES or more.")
    reason: str | None = Field(description="Why it was abandoned, when it was.")
    function_id: str | None = Field(description="The function the last step was attributed to, if one.")


class HeldOfferOut(_Body):
    """An offer the person received through a campaign (an SMS promotion), valid today and not used."""

    code: str = Field(description="The offer's code, as the customer types it.")
    label: str
    campaign: str | None
    valid_until: date | None
    received_on: str = Field(description="The channel the campaign's message reached them on.")
    received_at: datetime


class NextOfferOut(_Body):
    """The catalogue's offer to suggest now, and why it suits the person."""

    code: str
    label: str
    reason: str = Field(description="The administrator's reason and the rules the person meets.")
    rules_met: list[str]
    valid_until: date | None


class VisitorOffersOut(_Body):
    """The offers valid for the website's visitor: nothing else about them."""

    offers: list[HeldOfferOut]
    next_offer: NextOfferOut | None


class OfferIn(_Body):
    """An offer of the catalogue. Each eligibility list is a rule met by any of its values; an empty
    list sets no rule. ``campaign`` links it to the campaign whose messages carry it."""

    label: str = Field(min_length=1, max_length=300)
    campaign: str | None = Field(None, min_length=1, max_length=200)
    valid_from: date | None = None
    valid_until: date | None = None
    suggested: bool = Field(False, description="Whether advisors and the website may suggest it as a next offer.")
    reason: str | None = Field(None, min_length=1, max_length=500, description="Why it is suggested.")
    relationships: list[Relationship] = Field(default_factory=list, max_length=3)
    title_codes: list[str] = Field(default_factory=list, max_length=100)
    products: list[str] = Field(default_factory=list, max_length=100)
    journey_types: list[str] = Field(default_factory=list, max_length=20)


class OfferAnswerIn(_Body):
    channel: JourneyChannel = Field("call", description="Where the person answered (call: on the phone).")


class JourneyNoteIn(_Body):
    """The journey a call moved, as the advisor records it with the call's outcome."""

    journey_id: str = Field(min_length=1, max_length=200)
    journey_type: str | None = Field(None, min_length=1, max_length=50)
    state: Literal["step", "completed", "abandoned"] = Field(
        "step", description="step: they reached ``step`` (or the next one); completed; abandoned."
    )
    step: int | None = Field(None, ge=1, le=1000)
    step_count: int | None = Field(None, ge=1, le=1000)
    step_name: str | None = Field(None, min_length=1, max_length=200)
    reason: str | None = Field(None, max_length=1000, description="Why it was abandoned.")


class EngagementOut(_Body):
    """The journeys and offers of a 360° view, as its members (person_document splices them)."""

    journeys: list[JourneyOut]
    offers: list[HeldOfferOut]
    next_offer: NextOfferOut | None
