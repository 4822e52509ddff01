"""The offer catalogue an administrator keeps, and a person's one answer to each offer.

The catalogue is one aggregate with a fixed id (its changes are serialised by the event store's
version check). A person's answer to an offer is an aggregate whose id derives from the person and
the offer, so "one answer per person and offer" holds even when two advisors click at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

from eventsourcing.domain import Aggregate, event

from domain.errors import OfferAlreadyAnsweredError, OfferNotValidError, OfferWindowError, UnknownOfferError

OFFERS = uuid.UUID("5d0b8e3a-7c21-4f6e-b9a4-2e8f1c6d3a70")


@dataclass(frozen=True)
class Offer:
    code: str
    label: str
    campaign: str | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    suggested: bool = False
    reason: str | None = None
    relationships: tuple[str, ...] = ()
    title_codes: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    journey_types: tuple[str, ...] = ()
    withdrawn: bool = field(default=False, compare=False)

    def is_valid_on(self, day: date) -> bool:
        return (
            not self.withdrawn
            and (self.valid_from is None or self.valid_from <= day)
            and (self.valid_until is None or day <= self.valid_until)
        )


class OfferCatalogue(Aggregate):
    """Offers by code: what campaigns carry and what advisors may suggest, with who it suits."""

    @staticmethod
    def create_id() -> uuid.UUID:
        return uuid.uuid5(OFFERS, "catalogue")

    @event("Started")
    def __init__(self) -> None:
        self.offers: dict[str, dict] = {}
        self.withdrawn: set[str] = set()

    def define_offer(self, offer: Offer) -> None:
        self.check_window(offer.valid_from, offer.valid_until)
        terms = _terms(offer)
        if self.offers.get(offer.code) != terms or offer.code in self.withdrawn:
            self._defined(**terms)

    def withdraw_offer(self, code: str) -> None:
        self.check_known(code)
        if code not in self.withdrawn:
            self._withdrawn(code)

    def offer(self, code: str) -> Offer:
        self.check_known(code)
        terms = self.offers[code]
        return Offer(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in terms.items()}, withdrawn=code in self.withdrawn
        )

    def check_known(self, code: str) -> None:
        if code not in self.offers:
            raise UnknownOfferError(f"no offer {code!r} in the catalogue")

    def check_valid(self, code: str, day: date) -> None:
        if not self.offer(code).is_valid_on(day):
            raise OfferNotValidError(f"offer {code!r} is withdrawn or not valid on {day}")

    @staticmethod
    def check_window(valid_from: date | None, valid_until: date | None) -> None:
        if valid_from is not None and valid_until is not None and valid_until < valid_from:
            raise OfferWindowError(f"valid_until {valid_until} is before valid_from {valid_from}")

    @event("OfferDefined")
    def _defined(
        self,
        code: str,
        label: str,
        campaign: str | None,
        valid_from: date | None,
        valid_until: date | None,
        suggested: bool,
        reason: str | None,
        relationships: list[str],
        title_codes: list[str],
        products: list[str],
        journey_types: list[str],
    ) -> None:
        self.offers[code] = {
            "code": code,
            "label": label,
            "campaign": campaign,
            "valid_from": valid_from,
            "valid_until": valid_until,
            "suggested": suggested,
            "reason": reason,
            "relationships": list(relationships),
            "title_codes": list(title_codes),
            "products": list(products),
            "journey_types": list(journey_types),
        }
        self.withdrawn.discard(code)

    @event("OfferWithdrawn")
    def _withdrawn(self, code: str) -> None:
        self.withdrawn.add(code)


def _terms(offer: Offer) -> dict:
    # Lists, not tuples: what the event store keeps as JSON comes back as lists.
    return {
        "code": offer.code,
        "label": offer.label,
        "campaign": offer.campaign,
        "valid_from": offer.valid_from,
        "valid_until": offer.valid_until,
        "suggested": offer.suggested,
        "reason": offer.reason,
        "relationships": list(offer.relationships),
        "title_codes": list(offer.title_codes),
        "products": list(offer.products),
        "journey_types": list(offer.journey_types),
    }


def offer_answer_id(person_id: uuid.UUID, code: str) -> uuid.UUID:
    return uuid.uuid5(OFFERS, f"answer:{person_id}:{code}")


class OfferAnswer(Aggregate):
    """A person's answer to one offer: accepted or declined, once."""

    @staticmethod
    def create_id(person_id: str, code: str, answer: str, channel: str) -> uuid.UUID:
        return offer_answer_id(uuid.UUID(person_id), code)

    @event("Answered")
    def __init__(self, person_id: str, code: str, answer: str, channel: str) -> None:
        self.person_id = person_id
        self.code = code
        self.answer = answer
        self.channel = channel

    def check_unanswered(self) -> None:
        """Called on an answer found in the store: a second one is refused."""
        raise OfferAlreadyAnsweredError(f"offer {self.code!r} was already {self.answer} by this person")
