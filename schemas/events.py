"""Wire contracts of every Crossview event type.

The type name carries the version (``crossview.<entity>.<fact>.v1``): the log is replayed
for years, so a change that old events could not satisfy is a new type, never an edit
(``make schemas-check`` enforces it against the released snapshot).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationError

from schemas.envelope import CloudEvent
from schemas.event_base import AUDIT, DOMAIN, INTERACTIONS, Channel, Direction, EventData
from schemas.journey_events import (
    JourneyAbandoned,
    JourneyCompleted,
    JourneyStepReached,
    OfferAccepted,
    OfferDeclined,
    OfferDefined,
    OfferWithdrawn,
)
from schemas.lead_events import (
    LeadConverted,
    LeadCreated,
    LeadLost,
    LeadQualified,
    LeadRouted,
    LeadRulesSet,
)
from schemas.statuses import CanonicalStatus, Meaning, canonical, meaning

# --- domain events (relayed from the event store) -------------------------------------------


class PersonRegistered(EventData):
    """A person was identified for the first time; the subject is their id. A provisional person
    was created for a contact point nobody had: no name yet."""

    event_type: ClassVar[str] = "crossview.person.registered.v1"
    stream: ClassVar[str] = DOMAIN

    given_name: str | None = Field(default=None, min_length=1, max_length=200)
    family_name: str | None = Field(default=None, min_length=1, max_length=200)
    provisional: bool = False


class PersonRenamed(EventData):
    """The person (the subject) is now called so: a correction, or a provisional person named."""

    event_type: ClassVar[str] = "crossview.person.renamed.v1"
    stream: ClassVar[str] = DOMAIN

    given_name: str = Field(min_length=1, max_length=200)
    family_name: str = Field(min_length=1, max_length=200)


class ContactPointAdded(EventData):
    """A phone number, email address, web id, customer number or call-centre contact now leads to the
    person (the subject)."""

    event_type: ClassVar[str] = "crossview.person.contact-point-added.v1"
    stream: ClassVar[str] = DOMAIN

    kind: Literal["phone", "email", "web", "customer", "contact"]
    address: str = Field(min_length=1, max_length=320)


class PersonJoined(EventData):
    """Another person turned out to be this one (the subject, the survivor): their histories are one."""

    event_type: ClassVar[str] = "crossview.person.joined.v1"
    stream: ClassVar[str] = DOMAIN

    absorbed_id: str = Field(min_length=1, max_length=200)


class PersonMerged(EventData):
    """This person (the subject) was joined into another: read the survivor's view."""

    event_type: ClassVar[str] = "crossview.person.merged.v1"
    stream: ClassVar[str] = DOMAIN

    survivor_id: str = Field(min_length=1, max_length=200)


class PersonErased(EventData):
    """The person (the subject) was erased at their request (GDPR article 17): their data key is
    destroyed, so their earlier events' personal fields read as erased; views keep only counts."""

    event_type: ClassVar[str] = "crossview.person.erased.v1"
    stream: ClassVar[str] = DOMAIN

    erased_on: date


class PersonSeparated(EventData):
    """A join undone: the absorbed person is their own again (the subject is the former survivor)."""

    event_type: ClassVar[str] = "crossview.person.separated.v1"
    stream: ClassVar[str] = DOMAIN

    absorbed_id: str = Field(min_length=1, max_length=200)


class PersonRestored(EventData):
    """This person (the subject), once joined into another, is their own again."""

    event_type: ClassVar[str] = "crossview.person.restored.v1"
    stream: ClassVar[str] = DOMAIN

    former_survivor_id: str = Field(min_length=1, max_length=200)


class ContactPointRemoved(EventData):
    """A contact point no longer leads to the person (the subject): a join was undone."""

    event_type: ClassVar[str] = "crossview.person.contact-point-removed.v1"
    stream: ClassVar[str] = DOMAIN

    kind: Literal["phone", "email", "web", "customer", "contact"]
    address: str = Field(min_length=1, max_length=320)


class OrganisationRegistered(EventData):
    """An organisation joined the referential; the subject is its id."""

    event_type: ClassVar[str] = "crossview.organisation.registered.v1"
    stream: ClassVar[str] = DOMAIN

    name: str = Field(min_length=1, max_length=300)
    kind: Literal["company", "association", "public_body"]
    relationship: Literal["client", "prospect", "prescriber"]


class OrganisationRelationshipChanged(EventData):
    """The organisation (subject) became a client, a prospect or a prescriber of ours."""

    event_type: ClassVar[str] = "crossview.organisation.relationship-changed.v1"
    stream: ClassVar[str] = DOMAIN

    relationship: Literal["client", "prospect", "prescriber"]
    since: date


class TitleDefined(EventData):
    """A function title was added to the referential (or relabelled, or brought back)."""

    event_type: ClassVar[str] = "crossview.title.defined.v1"
    stream: ClassVar[str] = DOMAIN

    code: str = Field(min_length=1, max_length=100)
    label: str = Field(min_length=1, max_length=300)


class TitleRetired(EventData):
    """A function title can no longer be given; functions that have it keep it."""

    event_type: ClassVar[str] = "crossview.title.retired.v1"
    stream: ClassVar[str] = DOMAIN

    code: str = Field(min_length=1, max_length=100)


class AttributeLevelSet(EventData):
    """An administrator decided whether an attribute is carried by the person or by each function."""

    event_type: ClassVar[str] = "crossview.attribute.level-set.v1"
    stream: ClassVar[str] = DOMAIN

    attribute: str = Field(min_length=1, max_length=100)
    level: Literal["person", "function"]


class FunctionAssigned(EventData):
    """The person (subject) took a function at an organisation."""

    event_type: ClassVar[str] = "crossview.function.assigned.v1"
    stream: ClassVar[str] = DOMAIN

    function_id: str = Field(min_length=1, max_length=200)
    organisation_id: str = Field(min_length=1, max_length=200)
    title_code: str = Field(min_length=1, max_length=100)
    entered_on: date
    exits_on: date | None = None


class FunctionEnded(EventData):
    """One of the person's functions ended; it stays in their professional history."""

    event_type: ClassVar[str] = "crossview.function.ended.v1"
    stream: ClassVar[str] = DOMAIN

    function_id: str = Field(min_length=1, max_length=200)
    exited_on: date


class FunctionsReprioritised(EventData):
    """The person's functions were put in a new priority order, first = main function."""

    event_type: ClassVar[str] = "crossview.function.reprioritised.v1"
    stream: ClassVar[str] = DOMAIN

    function_ids: list[str] = Field(min_length=1)


class AttributeSet(EventData):
    """An attribute was set on the person, or on one of their functions when ``function_id`` is given."""

    event_type: ClassVar[str] = "crossview.attribute.set.v1"
    stream: ClassVar[str] = DOMAIN

    name: str = Field(min_length=1, max_length=100)
    value: str | None = Field(max_length=2000)
    function_id: str | None = None


# --- interactions (facts published by channel adapters) -------------------------------------


class Interaction(EventData):
    """What every channel interaction says: who, which way, through which provider."""

    stream: ClassVar[str] = INTERACTIONS
    channel: ClassVar[Channel]

    direction: Direction
    provider: str = Field(min_length=1, max_length=100)
    provider_id: str = Field(min_length=1, max_length=200, description="The provider's own id of the message or call.")
    status: str = Field(min_length=1, max_length=50, description="The provider's own status, as it reported it.")
    canonical_status: CanonicalStatus | None = Field(
        default=None,
        description="The status in Crossview's one vocabulary (schemas/statuses.py); absent from "
        "events written before it existed, whose provider status is then mapped when read.",
    )
    function_id: str | None = None
    campaign: str | None = Field(default=None, max_length=200)

    @property
    def lifecycle(self) -> str:
        """The canonical status: the one carried, else the provider's status mapped (older events)."""
        if self.canonical_status is not None:
            return self.canonical_status
        return canonical(self.provider, self.status, getattr(self, "bounce_type", None))

    @property
    def meaning(self) -> Meaning:
        """What the status means for the timeline, consent and campaign indicators."""
        return meaning(self.lifecycle)


class SmsInteraction(Interaction):
    event_type: ClassVar[str] = "crossview.interaction.sms.v1"
    channel: ClassVar[Channel] = "sms"

    from_number: str = Field(min_length=1, max_length=40)
    to_number: str = Field(min_length=1, max_length=40)
    body: str = Field(default="", max_length=10_000)


class EmailInteraction(Interaction):
    event_type: ClassVar[str] = "crossview.interaction.email.v1"
    channel: ClassVar[Channel] = "email"

    address: str = Field(min_length=3, max_length=320)
    subject_line: str | None = Field(default=None, max_length=1000)
    url: str | None = Field(default=None, max_length=2000, description="The link clicked, for click events.")
    reason: str | None = Field(default=None, max_length=2000, description="Why it bounced or was dropped.")
    bounce_type: str | None = Field(default=None, max_length=50, description="bounce (hard) or blocked (soft).")


class WebInteraction(Interaction):
    event_type: ClassVar[str] = "crossview.interaction.web.v1"
    channel: ClassVar[Channel] = "web"

    action: Literal["page", "track", "identify", "group", "alias", "screen", "chat"]
    name: str | None = Field(default=None, max_length=500)
    url: str | None = Field(default=None, max_length=2000)
    properties: dict[str, Any] = Field(default_factory=dict)


class CallInteraction(Interaction):
    event_type: ClassVar[str] = "crossview.interaction.call.v1"
    channel: ClassVar[Channel] = "call"

    from_number: str = Field(min_length=1, max_length=40)
    to_number: str = Field(min_length=1, max_length=40)
    duration_seconds: int | None = Field(default=None, ge=0)
    outcome: str | None = Field(default=None, max_length=100)
    notes: str | None = Field(default=None, max_length=10_000)


# --- service requests and complaints (relayed from the event store; the subject is the person) --

RequestChannel = Literal["email", "web", "sms", "call", "advisor"]
RequestState = Literal["open", "in_progress", "waiting_for_customer", "resolved", "closed"]


class ServiceRequestKindDefined(EventData):
    """A kind of service request (request, complaint, question...) was added to the referential, or
    relabelled, or given another service level (the hours allowed to resolve one), or brought back."""

    event_type: ClassVar[str] = "crossview.service-request.kind-defined.v1"
    stream: ClassVar[str] = DOMAIN

    code: str = Field(min_length=1, max_length=100)
    label: str = Field(min_length=1, max_length=300)
    service_level_hours: int = Field(ge=1, le=24 * 366)


class ServiceRequestKindRetired(EventData):
    """A kind of service request can no longer be given to new requests; those that have it keep it."""

    event_type: ClassVar[str] = "crossview.service-request.kind-retired.v1"
    stream: ClassVar[str] = DOMAIN

    code: str = Field(min_length=1, max_length=100)


class ServiceRequestOpened(EventData):
    """The person (the subject) asked for something or complained, through ``channel``; it must be
    resolved by ``due_at`` (the opening time plus the kind's service level)."""

    event_type: ClassVar[str] = "crossview.service-request.opened.v1"
    stream: ClassVar[str] = DOMAIN

    request_id: str = Field(min_length=1, max_length=200)
    kind: str = Field(min_length=1, max_length=100)
    channel: RequestChannel
    subject: str = Field(min_length=1, max_length=1000)
    description: str | None = Field(default=None, max_length=10_000)
    function_id: str | None = Field(default=None, max_length=200)
    opened_at: datetime
    due_at: datetime
    opened_by: str = Field(min_length=1, max_length=200, description="The advisor, or the provider it came through.")
    source_ref: str | None = Field(
        default=None, max_length=1000, description="The provider's own id of the message it came from."
    )


class ServiceRequestStateChanged(EventData):
    """One of the person's (the subject's) requests changed state: open -> in progress -> waiting
    for the customer -> resolved -> closed; back to open from resolved or closed is a reopening."""

    event_type: ClassVar[str] = "crossview.service-request.state-changed.v1"
    stream: ClassVar[str] = DOMAIN

    request_id: str = Field(min_length=1, max_length=200)
    state: RequestState
    previous_state: RequestState
    at: datetime
    by: str = Field(min_length=1, max_length=200)
    reason: str | None = Field(default=None, max_length=2000)


class ServiceRequestAssigned(EventData):
    """One of the person's (the subject's) requests is now in the hands of ``assignee``."""

    event_type: ClassVar[str] = "crossview.service-request.assigned.v1"
    stream: ClassVar[str] = DOMAIN

    request_id: str = Field(min_length=1, max_length=200)
    assignee: str = Field(min_length=1, max_length=200)
    by: str = Field(min_length=1, max_length=200)


class ServiceRequestCommented(EventData):
    """Someone wrote a comment on one of the person's (the subject's) requests."""

    event_type: ClassVar[str] = "crossview.service-request.commented.v1"
    stream: ClassVar[str] = DOMAIN

    request_id: str = Field(min_length=1, max_length=200)
    author: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=10_000)


# --- audit (written by the API before it answers) --------------------------------------------


class AccessRecorded(EventData):
    """Someone read or changed data: a person's when the subject is a person id (``concerns`` says),
    else an organisation, the referentials, or the directory as a whole (search, targeting). Recorded
    before the answer, so nothing is disclosed or changed without a trace."""

    event_type: ClassVar[str] = "crossview.audit.access-recorded.v1"
    stream: ClassVar[str] = AUDIT

    actor: str = Field(min_length=1, max_length=200, description="The token's subject, or the adapter's name.")
    roles: list[str] = Field(max_length=10)
    via: Literal["token", "api-key"]
    kind: Literal["read", "change", "export", "erasure"]
    operation: str = Field(min_length=1, max_length=100, description="The API operation, e.g. person_360.")
    method: str = Field(min_length=1, max_length=10)
    path: str = Field(min_length=1, max_length=2000)
    client: str | None = Field(default=None, max_length=100, description="The caller's address as the API saw it.")
    concerns: Literal["person", "organisation", "referential", "directory"]


class RecordedAccess(AccessRecorded):
    """One access within ``AccessesRecorded``: an ``AccessRecorded`` with its own id, subject and time."""

    id: str = Field(min_length=1, max_length=200, description="Unique: the audit trail's key for this access.")
    subject: str = Field(min_length=1, max_length=200, description="The person (or else) the access concerns.")
    at: datetime


class AccessesRecorded(EventData):
    """Accesses recorded together: the records an API process kept (each durable before its request
    was answered), relayed to the audit topic in groups. The subject names the process that published
    them (a relay; the API itself in the embedded default), not a person."""

    event_type: ClassVar[str] = "crossview.audit.accesses-recorded.v1"
    stream: ClassVar[str] = AUDIT

    accesses: list[RecordedAccess] = Field(min_length=1, max_length=1000)


EVENT_TYPES: dict[str, type[EventData]] = {
    model.event_type: model
    for model in (
        PersonRegistered,
        PersonJoined,
        PersonMerged,
        PersonErased,
        PersonRenamed,
        PersonSeparated,
        PersonRestored,
        ContactPointRemoved,
        ContactPointAdded,
        OrganisationRegistered,
        OrganisationRelationshipChanged,
        TitleDefined,
        TitleRetired,
        AttributeLevelSet,
        FunctionAssigned,
        FunctionEnded,
        FunctionsReprioritised,
        AttributeSet,
        SmsInteraction,
        EmailInteraction,
        WebInteraction,
        CallInteraction,
        AccessRecorded,
        AccessesRecorded,
        JourneyStepReached,
        JourneyCompleted,
        JourneyAbandoned,
        OfferDefined,
        OfferWithdrawn,
        OfferAccepted,
        OfferDeclined,
        ServiceRequestKindDefined,
        ServiceRequestKindRetired,
        ServiceRequestOpened,
        ServiceRequestStateChanged,
        ServiceRequestAssigned,
        ServiceRequestCommented,
        LeadCreated,
        LeadQualified,
        LeadRouted,
        LeadConverted,
        LeadLost,
        LeadRulesSet,
    )
}


def models_of(*bases: type[EventData]) -> frozenset[type[EventData]]:
    """Every event model that is one of ``bases``: ``type(data) in models_of(...)`` is the hot
    paths' isinstance (pydantic's own check costs about a microsecond against a tuple of models)."""
    return frozenset(model for model in EVENT_TYPES.values() if issubclass(model, bases))


class UnknownEventType(ValueError):
    """The event's type is not one this version of Crossview knows."""


class InvalidEventData(ValueError):
    """The event's data does not satisfy the schema of its type; ``errors`` name each field."""

    def __init__(self, message: str, errors: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.errors = errors


def parse_data(event: CloudEvent) -> EventData:
    """The typed payload of ``event``; UnknownEventType or InvalidEventData otherwise."""
    return _validated(event.type, lambda model: model.model_validate(event.data))


def parse_data_json(event_type: str, raw: bytes) -> EventData:
    """The typed payload from the JSON bytes of a Kafka record (parsed and checked in one pass)."""
    return _validated(event_type, lambda model: model.model_validate_json(raw))


def _validated(event_type: str, validate) -> EventData:
    model = EVENT_TYPES.get(event_type)
    if model is None:
        raise UnknownEventType(f"unknown event type {event_type!r}")
    try:
        return validate(model)
    except ValidationError as error:
        errors = [(".".join(map(str, e["loc"])), e["msg"]) for e in error.errors()]
        summary = "; ".join(f"{field or 'data'}: {message}" for field, message in errors)
        raise InvalidEventData(f"{event_type}: {summary}", errors) from error


def stream_of(event_type: str) -> str:
    """Which topic family an event type belongs to (interactions, domain or audit)."""
    model = EVENT_TYPES.get(event_type)
    if model is None:
        raise UnknownEventType(f"unknown event type {event_type!r}")
    return model.stream
