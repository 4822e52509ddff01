"""The person view's pure fold, the consent vocabulary it reads, and a message's lifecycle: no I/O.

Interactions fold commutatively (counters add up, the latest interaction is the maximum by time
then id, the registration is the earliest); domain events (functions, attributes) come from one
partition of one topic, in the order they were stored. So the view is the same whatever the
batching and whatever the interleaving of the interactions and domain topics.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from projections.engagement_state import fold_answer, fold_campaign, fold_journey, journey_key
from projections.facts import Fact
from projections.leads import LEAD_MODELS, apply_lead, without_words
from projections.person_model import LastInteraction, PersonView, message_digest
from projections.person_profile import Profile
from projections.service_requests import REQUEST_EVENTS, REQUEST_MODELS, apply_request
from projections.timeline import TimelineEntry
from schemas.events import (
    AttributeSet,
    CallInteraction,
    ContactPointAdded,
    ContactPointRemoved,
    EmailInteraction,
    FunctionAssigned,
    FunctionEnded,
    FunctionsReprioritised,
    Interaction,
    LeadConverted,
    LeadCreated,
    LeadLost,
    LeadQualified,
    LeadRouted,
    PersonErased,
    PersonJoined,
    PersonMerged,
    PersonRegistered,
    PersonRenamed,
    PersonRestored,
    PersonSeparated,
    SmsInteraction,
    models_of,
)
from schemas.journey_events import JourneyFact, OfferAnswered
from schemas.statuses import canonical, meaning

PERSON_SCOPED = (
    PersonErased,
    ContactPointAdded,
    ContactPointRemoved,
    PersonJoined,
    PersonMerged,
    PersonSeparated,
    PersonRestored,
    PersonRegistered,
    PersonRenamed,
    FunctionAssigned,
    FunctionEnded,
    FunctionsReprioritised,
    AttributeSet,
    Interaction,
    JourneyFact,
    OfferAnswered,
    *REQUEST_EVENTS,
    LeadCreated,
    LeadQualified,
    LeadRouted,
    LeadConverted,
    LeadLost,
)
_PERSON_SCOPED_MODELS = models_of(*PERSON_SCOPED)
_INTERACTION_MODELS = models_of(Interaction)
_ENGAGEMENT_MODELS = models_of(JourneyFact, OfferAnswered)
_NOT_PROFILE_MODELS = _INTERACTION_MODELS | _ENGAGEMENT_MODELS | REQUEST_MODELS | LEAD_MODELS
RECEIVED = {"delivered", "opened", "clicked"}  # campaign indicators that say a message reached its person


def concerns_person(fact: Fact) -> bool:
    return type(fact.data) in _PERSON_SCOPED_MODELS


def changes_profile(fact: Fact) -> bool:
    """Whether the fact can change what search and rosters index (name, functions, attributes)."""
    return type(fact.data) not in _NOT_PROFILE_MODELS


def apply(view: PersonView | None, fact: Fact) -> PersonView:
    """The view after one more (new, person-scoped) event."""
    return _fold_person(view or PersonView(person_id=fact.subject), [fact])


def fold(facts: Iterable[Fact], views: Mapping[str, PersonView] | None = None) -> dict[str, PersonView]:
    """Every person's view after ``facts`` (assumed new and distinct), starting from ``views``."""
    by_person: dict[str, list[Fact]] = {}
    for fact in facts:
        if concerns_person(fact):
            by_person.setdefault(fact.subject, []).append(fact)
    result = dict(views or {})
    for person_id, person_facts in by_person.items():
        result[person_id] = _fold_person(result.get(person_id) or PersonView(person_id=person_id), person_facts)
    return result


def _fold_person(view: PersonView, facts: list[Fact]) -> PersonView:
    # Accumulates in locals and builds the new view once: the projector's hot loop.
    counts = dict(view.interactions)
    messages: dict[str, set[str]] = {}  # the channels' digests, copied when a channel first sees an event
    latest = view.last_interaction
    registration = (view.registered_at, view.given_name or "", view.family_name or "", view.provisional)
    last_event_at = view.last_event_at
    reachability = dict(view.reachability)
    profile = None  # copied on the first domain event only: interactions leave it untouched
    erased_on = view.erased_on
    journeys, campaigns, answers = None, None, None  # copied when the first of their facts comes
    requests = None  # copied on the first request event only
    leads = None  # copied on the first lead event only
    for fact in facts:
        at, data = fact.time, fact.data
        if last_event_at is None or at > last_event_at:
            last_event_at = at
        if type(data) in _INTERACTION_MODELS:
            # One message, call or visit is one interaction, however many status reports it has:
            # counted on its first event seen, as the timeline shows it as one row.
            seen = messages.get(data.channel)
            if seen is None:
                seen = messages[data.channel] = set(view.messages.get(data.channel, ()))
            digest = message_digest(f"{data.channel}:{data.provider}:{data.provider_id}")
            new_message = digest not in seen
            if new_message:
                seen.add(digest)
                counts[data.channel] = counts.get(data.channel, 0) + 1
            if latest is None or (at, fact.event_id) > (latest.at, latest.event_id):
                latest = LastInteraction(fact.event_id, data.channel, data.direction, data.status, data.provider, at)
            change = reachability_change(data)
            if change is not None:
                key = f"{data.channel}:{contact_address(data)}"
                known = reachability.get(key)
                # As instants, not as text: two events may carry their times with different offsets.
                if known is None or (at, fact.event_id) > (datetime.fromisoformat(known["since"]), known["event_id"]):
                    reachability[key] = {
                        "channel": data.channel,
                        "address": contact_address(data),
                        "reachable": change[0],
                        "reason": change[1],
                        "since": at.isoformat(),
                        "event_id": fact.event_id,
                    }
            if data.campaign and data.meaning.indicator in RECEIVED:  # its offers are theirs once it reached them
                campaigns = dict(view.campaigns_received) if campaigns is None else campaigns
                campaigns[data.campaign] = fold_campaign(campaigns.get(data.campaign), data, at, fact.event_id)
            if data.function_id is not None and new_message:
                profile = profile or Profile.of(view)
                per_function = profile.function_interactions.setdefault(data.function_id, {})
                per_function[data.channel] = per_function.get(data.channel, 0) + 1
        elif isinstance(data, JourneyFact):
            journeys = dict(view.journeys) if journeys is None else journeys
            key = journey_key(data.journey_id)
            journeys[key] = fold_journey(journeys.get(key), data, at, fact.event_id)
        elif isinstance(data, OfferAnswered):
            answers = dict(view.offer_answers) if answers is None else answers
            answers[data.code] = fold_answer(answers.get(data.code), data, at, fact.event_id)
        elif isinstance(data, PersonRegistered):
            candidate = (at, data.given_name or "", data.family_name or "", data.provisional)
            if registration[0] is None or candidate < registration:
                registration = candidate
        elif isinstance(data, PersonRenamed):  # after the registration: the same aggregate, in order
            registration = (registration[0] or at, data.given_name, data.family_name, False)
        elif type(data) is PersonErased:
            erased_on = data.erased_on
        elif type(data) in REQUEST_MODELS:
            requests = dict(view.service_requests) if requests is None else requests
            apply_request(requests, fact)
        elif type(data) in LEAD_MODELS:
            leads = dict(view.leads) if leads is None else leads
            apply_lead(leads, fact)
        else:
            profile = profile or Profile.of(view)
            profile.apply(data)
    profile = profile or Profile.of(view, copy=False)
    all_messages = {**view.messages, **{channel: frozenset(digests) for channel, digests in messages.items()}}
    if erased_on is not None:  # whatever came before or after: nothing but counts and ids remain
        return PersonView(
            person_id=view.person_id,
            registered_at=registration[0],
            interactions=counts,
            events_applied=view.events_applied + len(facts),
            last_event_at=last_event_at,
            absorbed=tuple(profile.absorbed),
            merged_into=profile.merged_into,
            erased_on=erased_on,
            messages=all_messages,
            # the pipeline still counts their leads: stages, owners and sources, none of their words
            leads=without_words(view.leads if leads is None else leads),
        )
    return PersonView(
        person_id=view.person_id,
        given_name=registration[1] or None,
        family_name=registration[2] or None,
        registered_at=registration[0],
        provisional=registration[3],
        interactions=counts,
        events_applied=view.events_applied + len(facts),
        last_interaction=latest,
        last_event_at=last_event_at,
        attributes=profile.attributes,
        functions=profile.functions,
        priority=tuple(profile.priority),
        function_attributes=profile.function_attributes,
        function_interactions=profile.function_interactions,
        reachability=reachability,
        contact_points=tuple(profile.contact_points),
        absorbed=tuple(profile.absorbed),
        merged_into=profile.merged_into,
        messages=all_messages,
        journeys=view.journeys if journeys is None else journeys,
        campaigns_received=view.campaigns_received if campaigns is None else campaigns,
        offer_answers=view.offer_answers if answers is None else answers,
        service_requests=view.service_requests if requests is None else requests,
        leads=view.leads if leads is None else leads,
    )


STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "ARRET", "ARRÊT"}
START_WORDS = {"START", "UNSTOP", "YES"}
CONSENT_STATUSES = {"unsubscribed", "resubscribed"}


def contact_address(data: Interaction) -> str:
    """The person's side of the interaction: the address or number that reached them or that they used."""
    if isinstance(data, EmailInteraction):
        return data.address.casefold()
    if isinstance(data, SmsInteraction | CallInteraction):
        return data.from_number if data.direction == "inbound" else data.to_number
    return data.provider_id


def reachability_change(data: Interaction) -> tuple[bool, str] | None:
    """(reachable, reason) when the interaction changes what the person may be sent, else None."""
    if isinstance(data, EmailInteraction):
        # The one status table says (schemas/statuses.py): unsubscribes, complaints, hard bounces.
        status = data.meaning
        if status.reachable is not None and status.reason is not None:
            hard_bounce = data.lifecycle == "bounced" and data.reason
            return status.reachable, f"{status.reason}: {data.reason}" if hard_bounce else status.reason
    if isinstance(data, SmsInteraction) and data.lifecycle in CONSENT_STATUSES:
        # A consent change recorded as such (an advisor heard it on the phone): the record says why.
        status = data.meaning
        return bool(status.reachable), data.body or status.reason or data.lifecycle
    if isinstance(data, SmsInteraction) and data.direction == "inbound":
        word = data.body.strip().split(" ")[0].upper() if data.body.strip() else ""
        if word in STOP_WORDS:
            return False, f"opted out by SMS ({word})"
        if word in START_WORDS:
            return True, f"opted in again by SMS ({word})"
    return None


def status_stage(message_key: str | None, status: str) -> int:
    """Where a provider's status sits in its message's lifecycle (the one status table's stage);
    the provider is read from the message key (channel:provider:provider_id)."""
    provider = message_key.split(":", 2)[1] if message_key and message_key.count(":") >= 2 else ""
    return meaning(canonical(provider, status)).stage


def one_row_per_message(entries: Iterable[TimelineEntry]) -> list[TimelineEntry]:
    """The timeline as an advisor reads it: a message that went queued -> sent -> delivered is one
    row, the latest, carrying the whole progression; newest first."""
    groups: dict[str, list[TimelineEntry]] = {}
    for entry in entries:
        groups.setdefault(entry.message_key or entry.event_id, []).append(entry)
    rows = []
    for group in groups.values():
        # A provider may report statuses out of order (a late "sent" after "delivered"): within one
        # message the lifecycle decides which status is latest, time only breaks ties.
        group.sort(key=lambda e: (status_stage(e.message_key, e.status or ""), e.occurred_at, e.event_id))
        latest = group[-1]
        # An entry a store already grouped brings its own progression.
        progression = tuple(st for e in group for st in (e.statuses or ((e.status,) if e.status else ())))
        progression = tuple(sorted(progression, key=lambda st: status_stage(latest.message_key, st)))
        rows.append(latest._replace(statuses=progression))
    return sorted(rows, key=lambda e: (e.occurred_at, e.event_id), reverse=True)
