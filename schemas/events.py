"""Wire contracts of every Crossview event type.

The type name carries the version (``crossview.<entity>.<fact>.v1``): the log is replayed
for years, so a change that old events could not satisfy is a new type, never an edit
(``make schemas-check`` enforces it against the released snapshot).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.envelope import CloudEvent
from schemas.statuses import CanonicalStatus, Meaning, canonical, meaning

INTERACTIONS = "interactions"  # written by channel adapters
DOMAIN = "domain"  # written only by the relay from the event store
AUDIT = "audit"  # written only by the API: who read or changed whose data

Channel = Literal["sms", "email", "web", "call"]
Direction = Literal["inbound", "outbound"]


class EventData(BaseModel):
    """Base of our own event payloads: frozen, and strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    stream: ClassVar[str]


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


# --- leads (relayed from the event store; the subject is the person) -------------------------

LeadSource = Literal["web", "call", "campaign", "referral"]
LeadSize = Literal["small", "medium", "large"]
SalesChannel = Literal["contact_centre", "advisor", "key_account_manager"]


class LeadCreated(EventData):
    """The person (the subject) showed an interest in ``product``: on the web, in a call, replying
    to a campaign, or referred by a prescriber organisation (credited with it). The lead is new."""

    event_type: ClassVar[str] = "crossview.lead.created.v1"
    stream: ClassVar[str] = DOMAIN

    lead_id: str = Field(min_length=1, max_length=200)
    product: str = Field(min_length=1, max_length=100)
    source: LeadSource
    function_id: str | None = Field(default=None, max_length=200)
    organisation_id: str | None = Field(
        default=None, max_length=200, description="The organisation that becomes a client when it converts."
    )
    prescriber_id: str | None = Field(default=None, max_length=200, description="The prescriber credited.")
    prescriber_name: str | None = Field(default=None, max_length=300)
    campaign: str | None = Field(default=None, max_length=200)
    employees: int | None = Field(default=None, ge=0, le=10_000_000, description="The organisation's size.")
    budget: int | None = Field(default=None, ge=0, le=10**12, description="In euros.")
    created_at: datetime
    created_by: str = Field(min_length=1, max_length=200, description="The advisor, or the provider it came through.")
    source_ref: str | None = Field(default=None, max_length=1000, description="The provider's event it came from.")


class LeadQualified(EventData):
    """One of the person's leads is small, medium or large: by the rules (``rule`` says which), or
    by someone overriding them (``reason`` says why)."""

    event_type: ClassVar[str] = "crossview.lead.qualified.v1"
    stream: ClassVar[str] = DOMAIN

    lead_id: str = Field(min_length=1, max_length=200)
    size: LeadSize
    rule: str | None = Field(default=None, max_length=300)
    reason: str | None = Field(default=None, max_length=2000)
    at: datetime
    by: str = Field(min_length=1, max_length=200)


class LeadRouted(EventData):
    """One of the person's leads went to a channel (contact centre, advisor, key-account manager)
    and an owner there."""

    event_type: ClassVar[str] = "crossview.lead.routed.v1"
    stream: ClassVar[str] = DOMAIN

    lead_id: str = Field(min_length=1, max_length=200)
    channel: SalesChannel
    owner: str = Field(min_length=1, max_length=200)
    at: datetime
    by: str = Field(min_length=1, max_length=200)


class LeadConverted(EventData):
    """One of the person's leads was won: the organisation, if the lead has one, is a client now
    (its own relationship change is stored with this event)."""

    event_type: ClassVar[str] = "crossview.lead.converted.v1"
    stream: ClassVar[str] = DOMAIN

    lead_id: str = Field(min_length=1, max_length=200)
    organisation_id: str | None = Field(default=None, max_length=200)
    at: datetime
    by: str = Field(min_length=1, max_length=200)


class LeadLost(EventData):
    """One of the person's leads was lost, for ``reason``."""

    event_type: ClassVar[str] = "crossview.lead.lost.v1"
    stream: ClassVar[str] = DOMAIN

    lead_id: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=2000)
    at: datetime
    by: str = Field(min_length=1, max_length=200)


class LeadSizeRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    employees: int | None = Field(default=None, ge=0, le=10_000_000, description="From this many employees.")
    budget: int | None = Field(default=None, ge=0, le=10**12, description="From this budget (euros).")
    products: list[str] = Field(default=[], max_length=200, description="Products that make a lead this size.")


class LeadRoute(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: SalesChannel
    owner: str = Field(min_length=1, max_length=200, description="The team or person leads go to.")


class LeadRulesSet(EventData):
    """An administrator set how leads are qualified (a lead is large, else medium, from any of its
    size's thresholds or products; else small) and routed (a channel and an owner per size)."""

    event_type: ClassVar[str] = "crossview.lead.rules-set.v1"
    stream: ClassVar[str] = DOMAIN

    medium: LeadSizeRule
    large: LeadSizeRule
    routes: dict[LeadSize, LeadRoute]


LEAD_EVENTS = (LeadCreated, LeadQualified, LeadRouted, LeadConverted, LeadLost)


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
    """Accesses recorded together (a group commit): each API process gathers the records of the
    requests it serves at the same moment into one event, acknowledged by Kafka before any of those
    requests is answered. The subject names the recording process, not a person."""

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
