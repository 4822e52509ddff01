"""Registering many new people at once (an import, a migration, the million of the load benchmark).

The same aggregates and guards as the one-by-one commands (register_person, assign_function,
set_attribute in services/application/crossview.py), with the reads those make per command done
once per batch: titles and the attribute policy are read once, each organisation is checked once
for the whole import. The people of a batch, with their contact points, are saved in one
transaction (``Application.save(*aggregates)``), through the application's event-contract check.

A contact point is claimed without reading it first: the people are new, so no contact point of
theirs can be theirs already, and one held by somebody else makes the event store's version check
refuse the whole batch (IntegrityError): one person per address holds as it does for a command.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from eventsourcing.application import AggregateNotFoundError

from domain.contact_point import ContactPoint, normalise
from domain.organisation import Organisation
from domain.person import Person
from services.application.crossview import CONTACT_ATTRIBUTES, Crossview


@dataclass(frozen=True)
class NewFunction:
    organisation_id: uuid.UUID
    title_code: str
    entered_on: date
    exited_on: date | None = None  # ended (an end_function command after the assignment)
    email: str | None = None  # a function-level email


@dataclass(frozen=True)
class NewPerson:
    """A person to register with an id chosen by the caller, so an interrupted import can tell
    which people it stored already."""

    person_id: uuid.UUID
    given_name: str
    family_name: str
    mobile_phone: str | None = None
    functions: tuple[NewFunction, ...] = ()
    reprioritised: tuple[int, ...] | None = None  # the functions' order, by index, if changed by hand


@dataclass
class BulkRegistration:
    """Registers batches of new people into one application; remembers the organisations it checked."""

    app: Crossview
    _organisations: set[uuid.UUID] = field(default_factory=set)

    def register(self, people: Sequence[NewPerson]) -> int:
        """Store the batch in one transaction; returns how many events it stored."""
        titles, policy = self.app._titles(), self.app._policy()
        for code in {f.title_code for p in people for f in p.functions}:
            titles.check_assignable(code)
        self._check_organisations({f.organisation_id for p in people for f in p.functions})
        aggregates: list = []
        for new in people:
            aggregates += self._person(new, policy)
        events = sum(len(a.pending_events) for a in aggregates)
        self.app.save(*aggregates)
        return events

    def is_stored(self, person_id: uuid.UUID) -> bool:
        try:
            return isinstance(self.app.repository.get(person_id), Person)
        except AggregateNotFoundError:
            return False

    def _check_organisations(self, wanted: set[uuid.UUID]) -> None:
        for organisation_id in wanted - self._organisations:
            self.app._get(Organisation, organisation_id)  # NotFoundError if unknown
            self._organisations.add(organisation_id)

    @staticmethod
    def _person(new: NewPerson, policy) -> list:
        # An id of the caller's: what register_person does, but with Person.Registered given an id.
        person = Person._create(
            Person.Registered,
            id=new.person_id,
            given_name=new.given_name,
            family_name=new.family_name,
            provisional=False,
        )
        claims = []

        def claim(name: str, value: str, function_id: str | None) -> None:
            policy.check_level(name, on_function=function_id is not None)
            kind = CONTACT_ATTRIBUTES[name]
            address = normalise(kind, value)
            person.note_contact_point(kind, address)
            person.set_attribute(name, address, function_id)
            claims.append(ContactPoint(kind, address, str(person.id), function_id))

        if new.mobile_phone:
            claim("mobile_phone", new.mobile_phone, None)
        function_ids = []
        for k, function in enumerate(new.functions):
            function_id = str(uuid.uuid5(new.person_id, f"function:{k}"))
            person.assign_function(function_id, str(function.organisation_id), function.title_code, function.entered_on)
            if function.exited_on is not None:
                person.end_function(function_id, function.exited_on)
            if function.email:
                claim("email", function.email, function_id)
            function_ids.append(function_id)
        if new.reprioritised is not None:
            person.reprioritise_functions([function_ids[k] for k in new.reprioritised])
        return [person, *claims]
