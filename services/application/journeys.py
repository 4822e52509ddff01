"""Journey facts read off the interactions that carry them: a website's Segment ``track``, a
customer's SMS reply, an advisor's call outcome. Published with the interaction, in the same
batch, with ids derived from its id: a provider's retry of it is a duplicate of both.

The website tracks a journey with three documented event names (properties as listed):

- ``Journey Step Reached``: ``journey_id`` (required), ``journey_type`` (purchase, quote,
  application...), ``step`` (1 for the first; left out: the next one), ``step_count``, ``step_name``.
- ``Journey Completed``: ``journey_id``, ``journey_type``.
- ``Journey Abandoned``: ``journey_id``, ``journey_type``, ``reason``.

Segment's own e-commerce events move a purchase journey named by their ``checkout_id``: ``Checkout
Step Viewed`` (``step``) reaches a step, ``Order Completed`` completes it (without a checkout_id
they are web events only).

A customer answers a journey's SMS with its reference and a word: ``Q-2041 OK`` (OK, YES, OUI,
CONFIRM: the step after the highest one reached) or ``Q-2041 NO`` (NO, NON, CANCEL, ANNULER: the
journey is abandoned). A reference holds a digit, so "Bonjour merci" is just an SMS.
"""

from __future__ import annotations

import re
import uuid

from pydantic import ValidationError

from schemas.envelope import CloudEvent
from schemas.events import Interaction, SmsInteraction, WebInteraction
from schemas.journey_events import JourneyAbandoned, JourneyCompleted, JourneyFact, JourneyStepReached

JOURNEYS = uuid.UUID("b3f1c0a2-4e5d-4c6b-8a7f-9d0e1f2a3b4c")
TRACKED: dict[str, type[JourneyFact]] = {
    "Journey Step Reached": JourneyStepReached,
    "Journey Completed": JourneyCompleted,
    "Journey Abandoned": JourneyAbandoned,
}
ECOMMERCE = {"Checkout Step Viewed": "Journey Step Reached", "Order Completed": "Journey Completed"}
TRACKED_PROPERTIES = ("journey_id", "journey_type", "step", "step_count", "step_name", "reason")
CONFIRM_WORDS = {"OK", "YES", "OUI", "CONFIRM", "CONFIRME", "CONFIRMÉ"}
CANCEL_WORDS = {"NO", "NON", "CANCEL", "ANNULER"}
_REPLY = re.compile(r"\s*(?P<ref>[A-Za-z0-9][A-Za-z0-9_-]{0,199})\s+(?P<word>\w+)\W*\s*$")


class JourneyPropertyError(ValueError):
    """A tracked journey event whose properties break the journey contract; ``field`` names one."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def journey_facts(event: CloudEvent, data: Interaction) -> list[CloudEvent]:
    """The journey facts ``event`` (an interaction, ``data`` its payload) carries: none, or one."""
    fact = journey_fact_of(data)
    return [] if fact is None else [journey_event(event, fact)]


def journey_event(carrier: CloudEvent, fact: JourneyFact) -> CloudEvent:
    """The fact as an event of the carrier's person, time and source; its id derived from the carrier's."""
    return CloudEvent(
        id=str(uuid.uuid5(JOURNEYS, carrier.id)),
        source=carrier.source,
        type=fact.event_type,
        subject=carrier.subject,
        time=carrier.time,
        data=fact.model_dump(mode="json", exclude_none=True),
    )


def journey_fact_of(data: Interaction) -> JourneyFact | None:
    if isinstance(data, WebInteraction) and data.action == "track" and data.name in ECOMMERCE:
        checkout = data.properties.get("checkout_id")
        if not isinstance(checkout, str | int) or isinstance(checkout, bool) or not str(checkout).strip():
            return None
        translated = {"journey_id": str(checkout), "journey_type": "purchase", "step": data.properties.get("step")}
        data = data.model_copy(update={"name": ECOMMERCE[data.name], "properties": translated})
    common = {
        "channel": data.channel,
        "provider": data.provider,
        "provider_id": data.provider_id,
        "function_id": data.function_id,
    }
    if isinstance(data, WebInteraction) and data.action == "track" and data.name in TRACKED:
        model = TRACKED[data.name]
        given = {k: data.properties[k] for k in TRACKED_PROPERTIES if data.properties.get(k) is not None}
        wanted = {k: v for k, v in given.items() if k in model.model_fields}
        try:
            return model(**common, **wanted)
        except ValidationError as error:
            first = error.errors()[0]
            raise JourneyPropertyError(
                "properties." + ".".join(map(str, first["loc"])), f"{data.name}: {first['msg']}"
            ) from error
    if isinstance(data, SmsInteraction) and data.direction == "inbound":
        reply = _REPLY.fullmatch(data.body)
        if reply is None or not any(c.isdigit() for c in reply["ref"]):
            return None
        word = reply["word"].upper()
        if word in CONFIRM_WORDS:
            return JourneyStepReached(**common, journey_id=reply["ref"])
        if word in CANCEL_WORDS:
            return JourneyAbandoned(**common, journey_id=reply["ref"], reason=f"replied {reply['word']} by SMS")
    return None


def recorded_by_advisor(
    carrier: CloudEvent,
    data: Interaction,
    state: str,
    journey_id: str,
    journey_type: str | None = None,
    step: int | None = None,
    step_count: int | None = None,
    step_name: str | None = None,
    reason: str | None = None,
) -> CloudEvent:
    """The journey fact of an advisor's call outcome (``state``: step, completed or abandoned)."""
    common = {
        "journey_id": journey_id,
        "journey_type": journey_type,
        "channel": data.channel,
        "provider": data.provider,
        "provider_id": data.provider_id,
        "function_id": data.function_id,
    }
    if state == "completed":
        fact: JourneyFact = JourneyCompleted(**common)
    elif state == "abandoned":
        fact = JourneyAbandoned(**common, reason=reason)
    else:
        fact = JourneyStepReached(**common, step=step, step_count=step_count, step_name=step_name)
    return journey_event(carrier, fact)
