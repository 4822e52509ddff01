"""Use cases of the sales pipeline: leads from first interest to a client won or a lead lost, and
the rules that qualify and route them.

A mixin of the write side (services/application/crossview.py): each use case loads, acts and saves.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.application import AggregateNotFoundError

from domain.errors import NotAPrescriberError, NotFoundError
from domain.lead import Lead, LeadRules, PersonLeads
from domain.organisation import Organisation

if TYPE_CHECKING:
    from services.application.crossview import Crossview as _Base
else:
    _Base = object


class LeadDesk(_Base):
    def create_lead(
        self,
        person_id: uuid.UUID,
        product: str,
        source: str,
        created_by: str,
        function_id: str | None = None,
        organisation_id: uuid.UUID | None = None,
        prescriber_id: uuid.UUID | None = None,
        campaign: str | None = None,
        employees: int | None = None,
        budget: int | None = None,
        source_ref: str | None = None,
        lead_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """A new lead of the person (whoever they were joined into). Its organisation is the one
        given, else that of the function given. A referral names its prescriber, which must be one
        of ours (NotAPrescriberError). With ``lead_id`` (derived from a provider's event) creating
        it again is a retry: the lead already there is the answer, and nothing is stored twice."""
        if lead_id is not None:
            try:
                return self.repository.get(lead_id).id
            except AggregateNotFoundError:
                pass
        person = self._as_joined(person_id)
        if function_id is not None:
            function = person.function(function_id)
            organisation_id = organisation_id or uuid.UUID(function.organisation_id)
        if organisation_id is not None:
            self._get(Organisation, organisation_id)
        prescriber_name = None
        if prescriber_id is not None:
            prescriber = self._get(Organisation, prescriber_id)
            if prescriber.relationship != "prescriber":
                raise NotAPrescriberError(
                    f"organisation {prescriber_id} is a {prescriber.relationship}, not a prescriber"
                )
            prescriber_name = prescriber.name
        creation: dict[str, Any] = {
            "person_id": str(person.id),
            "product": product,
            "source": source,
            "created_at": datetime.now(UTC),
            "created_by": created_by,
            "function_id": function_id,
            "organisation_id": str(organisation_id) if organisation_id else None,
            "prescriber_id": str(prescriber_id) if prescriber_id else None,
            "prescriber_name": prescriber_name,
            "campaign": campaign,
            "employees": employees,
            "budget": budget,
            "source_ref": source_ref,
        }
        lead = Lead(**creation) if lead_id is None else Lead._create(Lead.Created, id=lead_id, **creation)
        index = self._person_leads(str(person.id))
        index.note(str(lead.id))
        self.save(lead, index)
        return lead.id

    def leads_of(self, person_ids: list[uuid.UUID]) -> list[uuid.UUID]:
        """The leads created for these people and their indexes (what erasing them removes)."""
        found = []
        for person_id in person_ids:
            index = self._person_leads(str(person_id))
            if index.version:  # stored: the person has leads
                found += [index.id, *(uuid.UUID(lead_id) for lead_id in index.lead_ids)]
        return found

    def _person_leads(self, person_id: str) -> PersonLeads:
        try:
            return self.repository.get(PersonLeads.create_id(person_id))
        except AggregateNotFoundError:
            return PersonLeads._create(PersonLeads.Started, id=PersonLeads.create_id(person_id), person_id=person_id)

    def qualify_lead(
        self, person_id: uuid.UUID, lead_id: uuid.UUID, by: str, size: str | None = None, reason: str | None = None
    ) -> str:
        """Qualify by the rules, or (``size`` given) against them for ``reason``. Returns the size."""
        lead = self._lead(person_id, lead_id)
        if size is None:
            size, rule = self._lead_rules().qualify(lead.employees, lead.budget, lead.product)
            lead.qualify(size, rule, None, datetime.now(UTC), by)
        else:
            lead.qualify(size, None, reason, datetime.now(UTC), by)
        self.save(lead)
        return size

    def route_lead(
        self, person_id: uuid.UUID, lead_id: uuid.UUID, by: str, channel: str | None = None, owner: str | None = None
    ) -> str:
        """Route by the rules (the channel and owner of the lead's size), or to the channel and
        owner given (an assignment); either may be given alone. Returns the owner."""
        lead = self._lead(person_id, lead_id)
        lead.check_open()
        if lead.size is not None:  # a new lead has none: lead.route refuses it by name
            channel, owner = self._lead_rules().route(lead.size, channel, owner)
        lead.route(channel or "", owner or "", datetime.now(UTC), by)
        self.save(lead)
        return owner or ""

    def convert_lead(self, person_id: uuid.UUID, lead_id: uuid.UUID, by: str) -> None:
        """The lead is won; its organisation becomes a client from today, stored with it."""
        lead = self._lead(person_id, lead_id)
        now = datetime.now(UTC)
        lead.convert(now, by)
        changed = []
        if lead.organisation_id is not None:
            organisation = self._get(Organisation, uuid.UUID(lead.organisation_id))
            organisation.change_relationship("client", now.date())
            changed.append(organisation)
        self.save(lead, *changed)

    def lose_lead(self, person_id: uuid.UUID, lead_id: uuid.UUID, reason: str, by: str) -> None:
        lead = self._lead(person_id, lead_id)
        lead.lose(reason, datetime.now(UTC), by)
        self.save(lead)

    def set_lead_rules(self, sizes: dict[str, dict[str, Any]], routes: dict[str, dict[str, str]]) -> None:
        rules = self._lead_rules()
        rules.set_rules(sizes, routes)
        self.save(rules)

    def _lead(self, person_id: uuid.UUID, lead_id: uuid.UUID) -> Lead:
        """The lead, if it is this person's (or of someone joined into them): another person's lead
        is not found through them."""
        lead = self._get(Lead, lead_id)
        family = {str(person_id), str(self._as_joined(person_id).id)}
        if lead.person_id not in family and str(self._as_joined(uuid.UUID(lead.person_id)).id) not in family:
            raise NotFoundError(f"no lead {lead_id} for person {person_id}")
        return lead

    def _lead_rules(self) -> LeadRules:
        return self._singleton(LeadRules)
