"""Contact points (a phone number, an email address, a web id, a customer number, a call-centre
contact not tied to a customer yet) and the one person each belongs to.

Each contact point is an aggregate whose id is derived from its normalised address, so the event
store's version check enforces "one person per contact point" even under concurrent webhooks.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Literal

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError

CONTACT_POINTS = uuid.UUID("4a3f0d6e-2b8c-4c1e-9f0a-6d5e7c8b9a01")
Kind = Literal["phone", "email", "web", "customer", "contact"]


class InvalidContactPointError(DomainError):
    pass


def normalise(kind: Kind, raw: str, default_country_code: str = "33") -> str:
    """The canonical form: E.164 for phones, case-folded for emails, trimmed for the others (web ids,
    customer numbers, call-centre contact ids), which are the provider's own exact strings."""
    text = raw.strip()
    if len(text) > 320:
        raise InvalidContactPointError(f"a {kind} address longer than 320 characters")
    if kind == "phone":
        digits = re.sub(r"[\s.\-()/]", "", text)
        if digits.startswith("00"):
            digits = "+" + digits[2:]
        elif digits.startswith("0"):
            digits = f"+{default_country_code}{digits[1:]}"
        if not re.fullmatch(r"\+[1-9]\d{6,14}", digits):
            raise InvalidContactPointError(f"{raw!r} is not a phone number (E.164 expected, e.g. +33612345678)")
        return digits
    if kind == "email":
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text):
            raise InvalidContactPointError(f"{raw!r} is not an email address")
        return text.casefold()
    if not text:
        raise InvalidContactPointError(f"a {kind} id cannot be empty")
    return text


class ContactPoint(Aggregate):
    """Leads to one person and, when a function carries it (an email per function, say), to that function."""

    @staticmethod
    def create_id(kind: str, address: str, person_id: str, function_id: str | None = None) -> uuid.UUID:
        return contact_point_id(kind, address)

    @event("Claimed")
    def __init__(self, kind: str, address: str, person_id: str, function_id: str | None = None) -> None:
        self.kind = kind
        self.address = address
        self.person_id = person_id
        self.function_id = function_id

    def carry(self, function_id: str | None) -> None:
        """Set which of the person's functions carries it (None: the person)."""
        if function_id != self.function_id:
            self._carried(function_id)

    def reassign(self, person_id: str) -> None:
        """After a join: the contact point leads to the surviving person (carried by them, not a function)."""
        if person_id != self.person_id:
            self._reassigned(person_id)

    @event("Reassigned")
    def _reassigned(self, person_id: str) -> None:
        self.person_id = person_id
        self.function_id = None

    @event("CarrierChanged")
    def _carried(self, function_id: str | None) -> None:
        self.function_id = function_id


@dataclass(frozen=True)
class Resolved:
    """Where an interaction through a contact point belongs."""

    person_id: uuid.UUID
    function_id: str | None


def contact_point_id(kind: str, address: str) -> uuid.UUID:
    return uuid.uuid5(CONTACT_POINTS, f"{kind}:{address}")
