"""Stored domain events as wire events: the one mapping from the event store to the event contract.

The application checks every event against it before storing (services/application/crossview.py), so no
command can store an event the relay could not publish; the relay uses it to publish.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from eventsourcing.domain import DomainEvent

from domain.contact_point import ContactPoint
from domain.erasure import Erasure, Purged
from domain.lead import Lead, LeadRules, PersonLeads
from domain.offers import OfferAnswer, OfferCatalogue
from domain.organisation import Organisation
from domain.person import Person
from domain.referential import AttributePolicy, TitleReferential
from domain.service_request import PersonRequests, RequestKinds, ServiceRequest
from schemas.envelope import CloudEvent
from schemas.events import (
    AttributeLevelSet,
    AttributeSet,
    ContactPointAdded,
    ContactPointRemoved,
    EventData,
    FunctionAssigned,
    FunctionEnded,
    FunctionsReprioritised,
    LeadConverted,
    LeadCreated,
    LeadLost,
    LeadQualified,
    LeadRouted,
    LeadRulesSet,
    OrganisationRegistered,
    OrganisationRelationshipChanged,
    PersonErased,
    PersonJoined,
    PersonMerged,
    PersonRegistered,
    PersonRenamed,
    PersonRestored,
    PersonSeparated,
    ServiceRequestAssigned,
    ServiceRequestCommented,
    ServiceRequestKindDefined,
    ServiceRequestKindRetired,
    ServiceRequestOpened,
    ServiceRequestStateChanged,
    TitleDefined,
    TitleRetired,
)
from schemas.journey_events import OfferAccepted, OfferDeclined, OfferDefined, OfferWithdrawn

SOURCE = "crossview/relay"


def wire_data(event: DomainEvent) -> EventData | None:
    """The wire event for a stored domain event; None for bookkeeping events nobody reads."""
    match event:
        case Person.Registered():
            return PersonRegistered(
                given_name=event.given_name,
                family_name=event.family_name,
                provisional=getattr(event, "provisional", False),
            )
        case Person.Renamed():
            return PersonRenamed(given_name=event.given_name, family_name=event.family_name)
        case Person.ContactPointAdded():
            return ContactPointAdded(kind=event.kind, address=event.address)
        case Person.Joined():
            return PersonJoined(absorbed_id=event.absorbed_id)
        case Person.MergedInto():
            return PersonMerged(survivor_id=event.survivor_id)
        case Person.Separated():
            return PersonSeparated(absorbed_id=event.absorbed_id)
        case Person.Restored():
            return PersonRestored(former_survivor_id=event.former_survivor_id)
        case Person.ContactPointRemoved():
            return ContactPointRemoved(kind=event.kind, address=event.address)
        case Person.FunctionAssigned():
            return FunctionAssigned(
                function_id=event.function_id,
                organisation_id=event.organisation_id,
                title_code=event.title_code,
                entered_on=event.entered_on,
                exits_on=event.exits_on,
            )
        case Person.FunctionEnded():
            return FunctionEnded(function_id=event.function_id, exited_on=event.exited_on)
        case Person.FunctionsReprioritised():
            return FunctionsReprioritised(function_ids=event.function_ids)
        case Person.AttributeSet():
            return AttributeSet(name=event.name, value=event.value, function_id=event.function_id)
        case Organisation.Registered():
            return OrganisationRegistered(name=event.name, kind=event.kind, relationship=event.relationship)
        case Organisation.RelationshipChanged():
            return OrganisationRelationshipChanged(relationship=event.relationship, since=event.since)
        case TitleReferential.TitleDefined():
            return TitleDefined(code=event.code, label=event.label)
        case TitleReferential.TitleRetired():
            return TitleRetired(code=event.code)
        case Erasure.Erased():
            return PersonErased(erased_on=event.erased_on)
        case AttributePolicy.LevelSet():
            return AttributeLevelSet(attribute=event.attribute, level=event.level)
        case Lead.Created() | Lead.Qualified() | Lead.Routed() | Lead.Converted() | Lead.Lost():
            return lead_data(event)
        case LeadRules.RulesSet():
            return LeadRulesSet(medium=event.sizes["medium"], large=event.sizes["large"], routes=event.routes)
        case OfferCatalogue.OfferDefined():
            return OfferDefined(
                code=event.code,
                label=event.label,
                campaign=event.campaign,
                valid_from=event.valid_from,
                valid_until=event.valid_until,
                suggested=event.suggested,
                reason=event.reason,
                relationships=event.relationships,
                title_codes=event.title_codes,
                products=event.products,
                journey_types=event.journey_types,
            )
        case OfferCatalogue.OfferWithdrawn():
            return OfferWithdrawn(code=event.code)
        case OfferAnswer.Answered():
            answered = OfferAccepted if event.answer == "accepted" else OfferDeclined
            return answered(code=event.code, channel=event.channel)
        case (
            ServiceRequest.Opened()
            | ServiceRequest.StateChanged()
            | ServiceRequest.Assigned()
            | ServiceRequest.Commented()
        ):
            return service_request_data(event)
        case RequestKinds.KindDefined():
            return ServiceRequestKindDefined(
                code=event.code, label=event.label, service_level_hours=event.service_level_hours
            )
        case RequestKinds.KindRetired():
            return ServiceRequestKindRetired(code=event.code)
        case (
            OfferCatalogue.Started()
            | LeadRules.Started()
            | PersonLeads.Started()
            | PersonLeads.Noted()
            | TitleReferential.Started()
            | AttributePolicy.Started()
            | RequestKinds.Started()
            | PersonRequests.Started()
            | PersonRequests.RequestAdded()
            | ContactPoint.Claimed()
            | ContactPoint.CarrierChanged()
            | ContactPoint.Reassigned()
            | Purged()
        ):
            return None  # bookkeeping of the write side: the index lives in the event store
    raise TypeError(f"no wire event for {type(event).__qualname__}: add one to services/application/wire.py")


def lead_data(event: DomainEvent) -> EventData:
    """A lead's event: the lead is named in the data, the person is the subject."""
    lead_id = str(event.originator_id)
    match event:
        case Lead.Created():
            return LeadCreated(
                lead_id=lead_id,
                product=event.product,
                source=event.source,
                function_id=event.function_id,
                organisation_id=event.organisation_id,
                prescriber_id=event.prescriber_id,
                prescriber_name=event.prescriber_name,
                campaign=event.campaign,
                employees=event.employees,
                budget=event.budget,
                created_at=event.created_at,
                created_by=event.created_by,
                source_ref=event.source_ref,
            )
        case Lead.Qualified():
            return LeadQualified(
                lead_id=lead_id, size=event.size, rule=event.rule, reason=event.reason, at=event.at, by=event.by
            )
        case Lead.Routed():
            return LeadRouted(lead_id=lead_id, channel=event.channel, owner=event.owner, at=event.at, by=event.by)
        case Lead.Converted():
            return LeadConverted(lead_id=lead_id, organisation_id=event.organisation_id, at=event.at, by=event.by)
        case Lead.Lost():
            return LeadLost(lead_id=lead_id, reason=event.reason, at=event.at, by=event.by)
    raise TypeError(f"not a lead event: {type(event).__qualname__}")


def service_request_data(event: DomainEvent) -> EventData:
    """A service request's event: the request is named in the data, the person is the subject."""
    request_id = str(event.originator_id)
    match event:
        case ServiceRequest.Opened():
            return ServiceRequestOpened(
                request_id=request_id,
                kind=event.kind,
                channel=event.channel,
                subject=event.subject,
                description=event.description,
                function_id=event.function_id,
                opened_at=event.opened_at,
                due_at=event.due_at,
                opened_by=event.opened_by,
                source_ref=event.source_ref,
            )
        case ServiceRequest.StateChanged():
            return ServiceRequestStateChanged(
                request_id=request_id,
                state=event.state,
                previous_state=event.previous,
                at=event.at,
                by=event.by,
                reason=event.reason,
            )
        case ServiceRequest.Assigned():
            return ServiceRequestAssigned(request_id=request_id, assignee=event.assignee, by=event.by)
        case ServiceRequest.Commented():
            return ServiceRequestCommented(request_id=request_id, author=event.author, text=event.text)
    raise TypeError(f"not a service request event: {type(event).__qualname__}")


# Events about a person stored by an aggregate of their own (a service request, an answer to an
# offer, a lead): the person's id is the subject, so they share the person's partition of the log
# (and its order) and their data key.
_ABOUT_A_PERSON = (Erasure.Erased, ServiceRequest.Opened, ServiceRequest.StateChanged, ServiceRequest.Assigned,
                   ServiceRequest.Commented, OfferAnswer.Answered, Lead.Created, Lead.Qualified, Lead.Routed,
                   Lead.Converted, Lead.Lost)  # fmt: skip


def to_cloud_event(event: DomainEvent, data: EventData) -> CloudEvent:
    originator: uuid.UUID = event.originator_id
    # An erasure is about the person, whose own aggregate is gone from the store: their id is the subject.
    subject = event.person_id if isinstance(event, _ABOUT_A_PERSON) else str(originator)
    return CloudEvent(
        id=f"{originator}:{event.originator_version}",  # the same stored event always gets the same id
        source=SOURCE,
        type=data.event_type,
        subject=subject,
        time=event.timestamp,
        data=data.model_dump(mode="json"),
    )


def check_contract(events: Iterable[DomainEvent]) -> list[DomainEvent]:
    """Raise pydantic's ValidationError (or TypeError for an unmapped class) when one of ``events``
    could not be published as a wire event: called before anything is stored. Returns those that
    go on the wire (the others are bookkeeping)."""
    published = []
    for event in events:
        data = wire_data(event)
        if data is not None:
            to_cloud_event(event, data)
            published.append(event)
    return published
