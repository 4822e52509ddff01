"""HTTP contracts of the query and ingest API (response bodies and problem details)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from schemas.as_of import as_of_value
from schemas.engagement_api import HeldOfferOut, JourneyNoteIn, JourneyOut, NextOfferOut
from schemas.events import RequestChannel, RequestState
from schemas.leads_api import LeadStage, LeadSummary
from schemas.service_desk import NoteServiceRequestIn, ServiceRequestSummary


class ApiModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Freshness(ApiModel):
    position: dict[str, int] = Field(
        description="Next offset per 'topic:partition' that this answer reflects (every event before it is in)."
    )
    caught_up: bool = Field(
        description="False when min_position was asked for and the view had not reached it within wait_ms."
    )


class TimeTravelOut(ApiModel):
    """What a time-travelled answer reflects: ask again with these and the answer is the same."""

    until: datetime | None = Field(
        description="The instant asked for (as_of): only events whose own time is at or before it count."
    )
    at_position: dict[str, int] = Field(
        description="Next offset per 'topic:partition': only events before it count (the one asked for, "
        "or the read model's position when the answer was made)."
    )
    model: str | None = Field(description="The replayed read model answering, or null for the live one.")


class LastInteractionOut(ApiModel):
    event_id: str
    channel: str
    direction: str
    status: str
    provider: str
    at: datetime


class OrganisationRef(ApiModel):
    organisation_id: str
    name: str | None
    kind: str | None
    relationship: str | None = Field(description="client, prospect or prescriber")


class TitleRef(ApiModel):
    code: str
    label: str | None
    retired: bool


class FunctionOut(ApiModel):
    """A function held by a person at an organisation."""

    function_id: str
    organisation: OrganisationRef
    title: TitleRef
    entered_on: date
    exits_on: date | None
    active: bool = Field(description="Active on the day the answer is for (as_of).")
    priority: int | None = Field(
        description="The active functions numbered 1..n in priority order (1 = the main function); null for "
        "a function not active on the day asked about."
    )
    attributes: dict[str, str | None] = Field(description="Attributes carried by this function.")
    interactions: dict[str, int] = Field(description="Interactions attributed to this function, per channel.")


class AttributeOut(ApiModel):
    name: str
    value: str | None
    level: Literal["person", "function"]
    function_id: str | None


class AttributePolicyOut(ApiModel):
    """Which attributes a person carries once, and which each of their functions carries."""

    levels: dict[str, Literal["person", "function"]] = Field(
        description="The level of every attribute with a decision; any other attribute is person-level."
    )
    freshness: Freshness


class ReachabilityOut(ApiModel):
    """Whether a contact point may be used, and the event that decided it (unsubscribe, STOP, bounce...)."""

    channel: str
    address: str
    reachable: bool
    reason: str
    since: datetime


class LinkedPerson(ApiModel):
    person_id: str
    given_name: str | None
    family_name: str | None
    titles: list[TitleRef]


class OrganisationLinks(ApiModel):
    organisation: OrganisationRef
    people: list[LinkedPerson]


class Person360Out(ApiModel):
    """The 360° view of a person on a day: identity, attributes tagged by level, active functions in
    priority order (main function first), interactions per function and across all of them, and the
    other people of the same organisations."""

    person_id: str
    given_name: str | None
    family_name: str | None
    registered_at: datetime | None
    provisional: bool = Field(description="Created for a contact point nobody had; not identified yet.")
    as_of: date
    main_function: FunctionOut | None
    functions: list[FunctionOut] = Field(description="Active functions, highest priority first.")
    attributes: list[AttributeOut]
    interactions: dict[str, int] = Field(description="Interactions per channel, across all functions.")
    events_applied: int
    last_interaction: LastInteractionOut | None
    last_event_at: datetime | None
    reachability: list[ReachabilityOut] = Field(description="Consent and reachability per contact point.")
    journeys: list[JourneyOut] = Field(
        default_factory=list, description="Processes started on one channel and continued on others, open first."
    )
    offers: list[HeldOfferOut] = Field(default_factory=list, description="Campaign offers held, valid today.")
    next_offer: NextOfferOut | None = Field(None, description="The catalogue's offer to suggest, with its reason.")
    service_requests: list[ServiceRequestSummary] = Field(
        default_factory=list,
        description="Requests and complaints: open ones first (earliest due first), then the latest 20 resolved or "
        "closed (GET /v1/persons/{id}/service-requests lists them all).",
    )
    leads: list[LeadSummary] = Field(
        default_factory=list,
        description="Leads: open ones first (oldest first), then the latest 20 converted or lost "
        "(GET /v1/persons/{id}/leads lists them all).",
    )
    links: list[OrganisationLinks]
    time_travel: TimeTravelOut | None = Field(
        None, description="Present when as_of was an instant, or at_position or model was given."
    )
    freshness: Freshness


class HistoryOut(ApiModel):
    """The professional history: every function, active or ended, oldest first."""

    person_id: str
    as_of: date
    functions: list[FunctionOut]
    time_travel: TimeTravelOut | None = Field(
        None, description="Present when as_of was an instant, or at_position or model was given."
    )
    freshness: Freshness


class SearchResult(ApiModel):
    person_id: str
    given_name: str | None
    family_name: str | None
    main_function: FunctionOut | None
    functions: list[FunctionOut] = Field(description="Active functions only.")


class SearchOut(ApiModel):
    query: str
    as_of: date
    results: list[SearchResult]
    time_travel: TimeTravelOut | None = Field(
        None, description="Present when as_of was an instant, or at_position or model was given."
    )
    freshness: Freshness


class RosterRow(ApiModel):
    person_id: str
    given_name: str | None
    family_name: str | None
    function: FunctionOut


class RosterOut(ApiModel):
    organisation: OrganisationRef
    as_of: date
    people: list[RosterRow]
    time_travel: TimeTravelOut | None = Field(
        None, description="Present when as_of was an instant, or at_position or model was given."
    )
    freshness: Freshness


class TargetingRequest(ApiModel):
    """Criteria over functions; all given criteria must hold (omit one to not filter on it)."""

    title_codes: list[str] | None = None
    organisation_ids: list[str] | None = None
    relationships: list[Literal["client", "prospect", "prescriber"]] | None = None
    active_only: bool = True
    channel: Literal["email", "sms"] | None = Field(
        None,
        description="Keep only rows whose contact point on this channel exists and may be used (no "
        "unsubscribe, STOP, complaint or hard bounce).",
    )
    mode: Literal["per_function", "per_person"] = Field(
        "per_person",
        description="per_function: one row per matching function; per_person: one row per person, with their "
        "highest-priority matching function.",
    )
    as_of: AwareDatetime | date | None = Field(
        None,
        union_mode="left_to_right",
        description="A date: the day functions are judged active on (default: today). Or an instant (RFC 3339 "
        "with its offset): the population as the log stood then, functions judged on its day (UTC).",
    )
    at_position: str | None = Field(
        None,
        min_length=1,
        max_length=16000,
        description="A log position, topic:partition:next_offset per partition, comma-separated: only the "
        "events before it count.",
    )

    @field_validator("as_of", mode="before")
    @classmethod
    def _as_a_query_takes_it(cls, value: Any) -> Any:
        """Read as the query parameter is (schemas/as_of.py): an instant without its offset, or a
        number, is refused here too."""
        if value is None or isinstance(value, date):  # a date: made in code, not read from JSON
            return value
        if not isinstance(value, str):
            raise ValueError("a date (2026-11-30) or an RFC 3339 instant (2026-11-30T14:05:00Z), as a string")
        return as_of_value(value)


class TargetingOut(ApiModel):
    mode: str
    as_of: date
    count: int
    rows: list[RosterRow]
    time_travel: TimeTravelOut | None = Field(
        None, description="Present when as_of was an instant, or at_position was given."
    )
    freshness: Freshness


class RateDenominator(ApiModel):
    indicator: Literal["sent", "delivered"]
    people: int


class ChannelIndicators(ApiModel):
    counts: dict[str, int] = Field(
        description="Distinct people: sent, delivered, opened, clicked, bounced, unsubscribed, complaints."
    )
    rates: dict[str, float | None] = Field(
        description="delivered and bounced over sent; opened, clicked, unsubscribed and complaints over delivered, "
        "or over sent when the channel reported no delivery; null when nobody is in the denominator."
    )
    denominators: dict[str, RateDenominator] = Field(
        default_factory=dict, description="What each rate is over: the indicator and its people."
    )
    delivery_reported: bool = Field(
        False, description="Whether any delivery was reported on this channel (else engagement is over sent)."
    )


class CampaignOut(ApiModel):
    """A campaign's indicators per channel, each counting a person once."""

    campaign: str
    channels: dict[str, ChannelIndicators]
    time_travel: TimeTravelOut | None = Field(
        None, description="Present when as_of was an instant, or at_position or model was given."
    )
    freshness: Freshness


class AuditEntryOut(ApiModel):
    """One access: who (the token's subject or the adapter's name, with their roles), what, when, from where."""

    at: datetime
    actor: str
    roles: list[str]
    via: str = Field(description="token or api-key")
    kind: str = Field(description="read, change, export or erasure")
    operation: str = Field(description="The API operation, e.g. person_360")
    method: str
    path: str
    client: str | None = Field(description="The caller's address as the API saw it")


class AuditOut(ApiModel):
    person_id: str
    entries: list[AuditEntryOut] = Field(description="Newest first")
    freshness: Freshness


class ErasedOut(ApiModel):
    erased: list[str] = Field(description="The people erased: the person and everyone joined with them")
    already: bool = Field(description="True when the person had been erased before (nothing more was done)")
    purged: bool = Field(description="Whether the read models already show the erasure (else within moments)")
    positions: list[str] = Field(description="Where the erasures are stored (event-store:0:N, for min_position)")


# --- commands -------------------------------------------------------------------------------


class PersonIn(ApiModel):
    given_name: str = Field(min_length=1, max_length=200)
    family_name: str = Field(min_length=1, max_length=200)


class FunctionIn(ApiModel):
    organisation_id: uuid.UUID
    title_code: str = Field(min_length=1, max_length=100)
    entered_on: date
    exits_on: date | None = None


class FunctionEndIn(ApiModel):
    exited_on: date


class FunctionOrderIn(ApiModel):
    function_ids: list[str] = Field(
        min_length=1, description="Every function of the person, or only those active today, highest priority first."
    )


class AttributeIn(ApiModel):
    value: str | None = Field(max_length=2000)
    function_id: str | None = Field(None, description="Give it when the policy puts the attribute on functions.")


class JoinIn(ApiModel):
    absorbed_id: uuid.UUID = Field(description="The person who turned out to be this one.")


class OrganisationIn(ApiModel):
    name: str = Field(min_length=1, max_length=300)
    kind: Literal["company", "association", "public_body"]
    relationship: Literal["client", "prospect", "prescriber"]


class RelationshipIn(ApiModel):
    relationship: Literal["client", "prospect", "prescriber"]
    since: date


class TitleIn(ApiModel):
    label: str = Field(min_length=1, max_length=300)


class LevelIn(ApiModel):
    level: Literal["person", "function"]


class CommandOut(ApiModel):
    """A command's events are stored (the answer never waits for the relay); ``positions`` say where."""

    id: str | None = Field(description="The id created by the command, if any.")
    positions: list[str] = Field(
        description="event-store:0:N for each stored event, in order: give the last as min_position to read "
        "your own write once the relay carried it to the log."
    )
    relayed: bool = Field(
        description="Whether the relay had already carried the events to the log when the answer was made; "
        "when false they are stored and will be."
    )


class TimelineEntryOut(ApiModel):
    """One row of the timeline: an event, or a message with its latest status."""

    event_id: str
    event_type: str
    channel: str | None
    occurred_at: datetime
    status: str | None = Field(description="The message's latest status (interactions).")
    statuses: list[str] = Field(description="Every status the message went through, oldest first.")
    data: dict[str, Any]
    position: str = Field(description="topic:partition:offset of the event in the log.")


class TimelineOut(ApiModel):
    """One page of a person's timeline, newest first."""

    person_id: str
    entries: list[TimelineEntryOut]
    next_page: str | None = Field(description="Pass as `before` to get the next (older) page; null on the last.")
    time_travel: TimeTravelOut | None = Field(
        None, description="Present when as_of was an instant, or at_position or model was given."
    )
    freshness: Freshness


class Accepted(ApiModel):
    """Events durably accepted: the broker acknowledged every one."""

    accepted: int
    ids: list[str]
    positions: list[str] = Field(
        description="topic:partition:offset of each event; give one as min_position to read your write."
    )
    time_sources: list[Literal["event", "arrival"]] = Field(
        default_factory=list,
        description="Per event, which time it was stored with: its own `time` (event), or, when it had "
        "none (CloudEvents makes `time` optional), the moment Crossview received it (arrival).",
    )
    times: list[datetime] = Field(default_factory=list, description="The time each event was stored with.")


class NoteAccepted(Accepted):
    """The note is on the log; and the service request it opened, if it asked for one."""

    service_request_id: str | None = Field(None, description="The request opened from the note, if any.")
    service_request_positions: list[str] = Field(
        default_factory=list, description="Where the opening is stored (event-store:0:N), as a command answers."
    )


class Problem(ApiModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(frozen=True, extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None


class Liveness(ApiModel):
    status: Literal["alive"]


class CheckOut(ApiModel):
    ok: bool
    detail: str = Field(description="What answered, or why the check failed (the server log has the full error).")
    seconds: float = Field(description="How long the check took.")


class Readiness(ApiModel):
    status: Literal["ready", "not ready"]
    failed: list[str] = Field(description="The checks that failed, by name; empty when ready.")
    checks: dict[str, CheckOut] = Field(
        description="Each check by name: kafka (the topics answer), database (a new connection answers), "
        "relay (stored events not yet published, within CROSSVIEW_READY_MAX_RELAY_LAG)."
    )


class NoteIn(ApiModel):
    text: str = Field(min_length=1, max_length=10_000, description="What the advisor wants remembered.")
    outcome: str | None = Field(
        None, max_length=100, description="A call's outcome (answered, callback, voicemail...), if the note is one."
    )
    function_id: str | None = Field(None, max_length=200, description="The function the note is about, if one.")
    journey: JourneyNoteIn | None = Field(None, description="The journey the call moved, if one.")
    service_request: NoteServiceRequestIn | None = Field(
        None, description="Open a service request from this note (the note is its description)."
    )


class ConsentIn(ApiModel):
    channel: Literal["sms", "email"]
    address: str = Field(min_length=3, max_length=320, description="One of the person's numbers or emails.")
    reachable: bool = Field(description="false: no more messages on it; true: the customer agrees again.")
    reason: str = Field("asked on the phone", min_length=1, max_length=500, description="What the customer said.")


# --- the service desk's answers (the bodies are in schemas/service_desk.py) -------------------------


class CommentOut(ApiModel):
    author: str
    text: str
    at: datetime


class ServiceRequestOut(ApiModel):
    """One service request with everything said on it."""

    person_id: str
    request_id: str
    kind: str | None
    channel: RequestChannel | None
    subject: str | None
    description: str | None
    function_id: str | None
    opened_by: str | None = Field(description="The advisor who opened it, or the provider it came through.")
    state: RequestState
    assignee: str | None
    opened_at: datetime | None
    due_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    breached: bool
    reopened: int
    comments: list[CommentOut] = Field(description="Oldest first.")
    updated_at: datetime | None
    freshness: Freshness


class ServiceRequestsOut(ApiModel):
    person_id: str
    service_requests: list[ServiceRequestSummary] = Field(description="Open ones first (earliest due first).")
    open: int = Field(description="Requests not resolved nor closed.")
    breached: int = Field(description="Requests not resolved by their due time (open or finished).")
    freshness: Freshness


# --- the sales pipeline's answers (the bodies are in schemas/leads_api.py) ------------------------


class LeadsOut(ApiModel):
    person_id: str
    leads: list[LeadSummary] = Field(description="Open ones first (oldest first), then every closed one, newest first.")
    open: int = Field(description="Leads neither converted nor lost.")
    freshness: Freshness


class StageCounts(ApiModel):
    created: int = Field(description="Leads ever created (every stage).")
    by_stage: dict[LeadStage, int]
    win_rate: float | None = Field(
        description="converted / (converted + lost): over the leads closed either way; None when none is."
    )
    conversion_rate: float | None = Field(
        description="converted / created: over every lead created, open ones included; None when none is."
    )


class PrescriberCounts(StageCounts):
    name: str | None = Field(description="The prescriber organisation's name.")


class PipelineOut(StageCounts):
    """The sales pipeline, from the read models: leads by stage, by owner ("unassigned" before
    routing) and by source, each with its two conversion rates."""

    by_owner: dict[str, StageCounts]
    by_source: dict[str, StageCounts]
    by_prescriber: dict[str, PrescriberCounts] = Field(
        description="Referrals per prescriber organisation credited (by its id), with its name."
    )
    freshness: Freshness
