"""An organisation (company, association, public body) and its relationship with us over time."""

from __future__ import annotations

from datetime import date
from typing import Literal

from eventsourcing.domain import Aggregate, event

Kind = Literal["company", "association", "public_body"]
Relationship = Literal["client", "prospect", "prescriber"]


class Organisation(Aggregate):
    @event("Registered")
    def __init__(self, name: str, kind: Kind, relationship: Relationship) -> None:
        self.name = name
        self.kind = kind
        self.relationship = relationship

    def change_relationship(self, relationship: Relationship, since: date) -> None:
        if relationship != self.relationship:
            self._relationship_changed(relationship, since)

    @event("RelationshipChanged")
    def _relationship_changed(self, relationship: Relationship, since: date) -> None:
        self.relationship = relationship
