"""Wire contracts of journeys (facts a channel carries about a process a person started on one
channel and continues on others) and of offers (the catalogue, a person's answer). Registered with
every other type in schemas/events.py."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

from pydantic import Field

from schemas.event_base import DOMAIN, INTERACTIONS, EventData

JourneyChannel = Literal["sms", "email", "web", "call", "api"]
JOURNEY_ID = Field(
    min_length=1, max_length=200, description="The process's own id, as the website, the SMS or the advisor name it."
)


class JourneyFact(EventData):
    """What every journey fact says: which journey of the person (the subject), from which channel,
    and the interaction that carried it (its provider's id: a retry of it is the same fact)."""

    stream: ClassVar[str] = INTERACTIONS

    journey_id: str = JOURNEY_ID
    journey_type: str | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description="purchase, quote, application... (None: as named before).",
    )
    channel: JourneyChannel
    provider: str = Field(min_length=1, max_length=100)
    provider_id: str = Field(min_length=1, max_length=200, description="The carrying interaction's provider id.")
    function_id: str | None = Field(default=None, max_length=200)


class JourneyStepReached(JourneyFact):
    """The person reached a step of a journey (started it, at step 1). ``step`` None: the step after
    the highest one reached so far (an SMS reply confirming the step the customer was at)."""

    event_type: ClassVar[str] = "crossview.journey.step-reached.v1"

    step: int | None = Field(default=None, ge=1, le=1000)
    step_count: int | None = Field(default=None, ge=1, le=1000, description="How many steps the journey has.")
    step_name: str | None = Field(default=None, min_length=1, max_length=200)


class JourneyCompleted(JourneyFact):
    """The person finished the journey (paid, signed, submitted)."""

    event_type: ClassVar[str] = "crossview.journey.completed.v1"


class JourneyAbandoned(JourneyFact):
    """The person gave the journey up (they said so, or the advisor recorded it)."""

    event_type: ClassVar[str] = "crossview.journey.abandoned.v1"

    reason: str | None = Field(default=None, max_length=1000)


Relationship = Literal["client", "prospect", "prescriber"]


class OfferDefined(EventData):
    """An administrator put an offer in the catalogue, or changed it (the subject is the catalogue).
    ``campaign``: the campaign whose messages carry it (a person who received one holds the offer);
    the eligibility lists say who it is suggested to as a next offer (empty: no condition)."""

    event_type: ClassVar[str] = "crossview.offer.defined.v1"
    stream: ClassVar[str] = DOMAIN

    code: str = Field(min_length=1, max_length=100, description="The offer's code, as customers type it (SPRING20).")
    label: str = Field(min_length=1, max_length=300)
    campaign: str | None = Field(default=None, max_length=200)
    valid_from: date | None = None
    valid_until: date | None = None
    suggested: bool = Field(default=False, description="Whether it may be suggested as a next offer.")
    reason: str | None = Field(
        default=None, max_length=500, description="Why it is suggested, as the advisor reads it."
    )
    relationships: list[Relationship] = Field(default_factory=list, max_length=3)
    title_codes: list[str] = Field(default_factory=list, max_length=100)
    products: list[str] = Field(default_factory=list, max_length=100, description="Products held, any of them.")
    journey_types: list[str] = Field(default_factory=list, max_length=20, description="An open journey of a type.")


class OfferWithdrawn(EventData):
    """The offer is no longer valid nor suggested (the subject is the catalogue)."""

    event_type: ClassVar[str] = "crossview.offer.withdrawn.v1"
    stream: ClassVar[str] = DOMAIN

    code: str = Field(min_length=1, max_length=100)


class OfferAnswered(EventData):
    """What the person (the subject) said to an offer suggested or received."""

    stream: ClassVar[str] = DOMAIN

    code: str = Field(min_length=1, max_length=100)
    channel: JourneyChannel


class OfferAccepted(OfferAnswered):
    event_type: ClassVar[str] = "crossview.offer.accepted.v1"


class OfferDeclined(OfferAnswered):
    event_type: ClassVar[str] = "crossview.offer.declined.v1"
