"""Use cases of the offer catalogue and of a person's answers to offers: load, act, save."""

from __future__ import annotations

import contextlib
import uuid
from datetime import date
from typing import Literal

from eventsourcing.application import AggregateNotFoundError

from domain.errors import NotFoundError
from domain.offers import Offer, OfferAnswer, OfferCatalogue, offer_answer_id
from domain.person import Person
from services.application.crossview import Crossview

Answer = Literal["accepted", "declined"]


def catalogue(app: Crossview) -> OfferCatalogue:
    try:
        return app.repository.get(OfferCatalogue.create_id())
    except AggregateNotFoundError:
        return OfferCatalogue()


def define_offer(app: Crossview, offer: Offer) -> str:
    offers = catalogue(app)
    offers.define_offer(offer)
    app.save(offers)
    return offer.code


def withdraw_offer(app: Crossview, code: str) -> None:
    offers = catalogue(app)
    offers.withdraw_offer(code)
    app.save(offers)


def answer_offer(app: Crossview, person_id: uuid.UUID, code: str, answer: Answer, channel: str, day: date) -> str:
    """The person accepts or declines an offer valid on ``day``; once (OfferAlreadyAnsweredError)."""
    try:
        person = app.repository.get(person_id)
    except AggregateNotFoundError:
        person = None
    if not isinstance(person, Person):
        raise NotFoundError(f"no person {person_id}")
    offers = catalogue(app)
    offers.check_valid(code, day)
    with contextlib.suppress(AggregateNotFoundError):
        app.repository.get(offer_answer_id(person_id, code)).check_unanswered()
    # Answered meanwhile by another request: the save fails on the version check, the command is
    # run again (services/application/commands.py) and finds that answer.
    answered = OfferAnswer(str(person_id), code, answer, channel)
    app.save(answered)
    return str(answered.id)
