"""The record that a person was erased at their request (GDPR article 17).

The person's own aggregates leave the event store and their data key is destroyed; this record
stays, so the erasure reaches the log (and every read model) and a second request finds it done.
"""

from __future__ import annotations

import uuid
from datetime import date

from eventsourcing.domain import Aggregate, DomainEvent, event

ERASURES = uuid.UUID("2f6e1c0a-7b3d-4e59-8a21-5c4d3b2a1f09")


class Erasure(Aggregate):
    @staticmethod
    def create_id(person_id: str, erased_on: date | None = None) -> uuid.UUID:
        return erasure_id(person_id)

    @event("Erased")
    def __init__(self, person_id: str, erased_on: date) -> None:
        self.person_id = person_id
        self.erased_on = erased_on


class Purged(DomainEvent):
    """What an in-memory event store keeps in the place of an erased person's event: its slot in the
    notification log, and nothing else (a database store deletes the row)."""


def erasure_id(person_id: str) -> uuid.UUID:
    return uuid.uuid5(ERASURES, person_id)
