"""An organisation (company, association, public body) and its relationship with us over time."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from eventsourcing.domain import Aggregate, event

Kind = Literal["company", "association", "public_body"]
Relationship = Literal["client", "prospect", "prescriber"]
EXTERNAL_KEYS = uuid.UUID("6c1d2e8f-0a4b-4e7c-b5d3-2f9e8a7c6b10")


def organisation_id_for(external_key: str) -> uuid.UUID:
    """The id of the organisation another system knows by this key ("segment-group:<groupId>")."""
    return uuid.uuid5(EXTERNAL_KEYS, external_key)


class Organisation(Aggregate):
    @staticmethod
    def create_id(external_key: str | None = None) -> uuid.UUID:
        # Derived from another system's key, the id lets the event store keep one organisation per key.
        return organisation_id_for(external_key) if external_key else uuid.uuid4()

    @event("Registered")
    def __init__(self, name: str, kind: Kind, relationship: Relationship, external_key: str | None = None) -> None:
        self.name = name
        self.kind = kind
        self.relationship = relationship
        self.external_key = external_key

    def change_relationship(self, relationship: Relationship, since: date) -> None:
        if relationship != self.relationship:
            self._relationship_changed(relationship, since)

    @event("RelationshipChanged")
    def _relationship_changed(self, relationship: Relationship, since: date) -> None:
        self.relationship = relationship
