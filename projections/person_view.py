"""The person view and timeline read model: pure folds, no I/O.

Interactions fold commutatively (counters add up, the latest interaction is the maximum by time
then id, the registration is the earliest); domain events (functions, attributes) come from one
partition of one topic, in the order they were stored. So the view is the same whatever the
batching and whatever the interleaving of the interactions and domain topics.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, NamedTuple

from domain.person import Function, insert_chronologically
from projections.facts import Fact
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
)
_PERSON_SCOPED_MODELS = models_of(*PERSON_SCOPED)
_INTERACTION_MODELS = models_of(Interaction)


# The projector builds these for every event: named tuples are immutable like frozen dataclasses,
# and four times cheaper to build.
class LastInteraction(NamedTuple):
    event_id: str
    channel: str
    direction: str
    status: str
    provider: str
    at: datetime


_NOTHING: Mapping[str, Any] = MappingProxyType({})


class PersonView(NamedTuple):
    person_id: str
    given_name: str | None = None
    family_name: str | None = None
    registered_at: datetime | None = None
    provisional: bool = False  # created for an unknown contact point, not yet identified
    interactions: Mapping[str, int] = _NOTHING
    events_applied: int = 0
    last_interaction: LastInteraction | None = None
    last_event_at: datetime | None = None
    attributes: Mapping[str, str | None] = _NOTHING  # carried by the person
    functions: Mapping[str, Function] = _NOTHING
    priority: tuple[str, ...] = ()  # function ids, highest priority first
    function_attributes: Mapping[str, Mapping[str, str | None]] = _NOTHING
    function_interactions: Mapping[str, Mapping[str, int]] = _NOTHING
    # "channel:address" -> {channel, address, reachable, reason, since, event_id}: the latest consent
    # or reachability change of each contact point (unsubscribe, STOP, complaint, hard bounce...).
    reachability: Mapping[str, Mapping[str, Any]] = _NOTHING
    contact_points: tuple[str, ...] = ()  # "kind:address" leading to this person
    absorbed: tuple[str, ...] = ()  # people joined into this one
    merged_into: str | None = None  # set when this person was joined into another
    erased_on: date | None = None  # erased at their request: only counts remain

    def reachable(self, channel: str, address: str) -> bool:
        """Whether the person may be sent something on this contact point (unknown: yes)."""
        return bool(self.reachability.get(f"{channel}:{address}", {}).get("reachable", True))

    def active_functions(self, day: date) -> list[Function]:
        """Active functions in priority order: the first is the main function."""
        return [self.functions[f] for f in self.priority if self.functions[f].is_active_on(day)]


class TimelineEntry(NamedTuple):
    person_id: str
    event_id: str
    event_type: str
    channel: str | None
    occurred_at: datetime
    raw_data: bytes  # the event's data, JSON, as it was published
    topic: str
    partition: int
    offset: int
    message_key: str | None = None  # channel:provider:provider_id: one message's status events share it
    status: str | None = None
    statuses: tuple[str, ...] = ()  # filled by timeline queries: the message's statuses, oldest first

    @property
    def data(self) -> dict[str, Any]:
        return json.loads(self.raw_data)


def concerns_person(fact: Fact) -> bool:
    return type(fact.data) in _PERSON_SCOPED_MODELS


def changes_profile(fact: Fact) -> bool:
    """Whether the fact can change what search and rosters index (name, functions, attributes)."""
    return type(fact.data) not in _INTERACTION_MODELS


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
    latest = view.last_interaction
    registration = (view.registered_at, view.given_name or "", view.family_name or "", view.provisional)
    last_event_at = view.last_event_at
    reachability = dict(view.reachability)
    profile = None  # copied on the first domain event only: interactions leave it untouched
    erased_on = view.erased_on
    for fact in facts:
        at, data = fact.time, fact.data
        if last_event_at is None or at > last_event_at:
            last_event_at = at
        if type(data) in _INTERACTION_MODELS:
            counts[data.channel] = counts.get(data.channel, 0) + 1
            if latest is None or (at, fact.event_id) > (latest.at, latest.event_id):
                latest = LastInteraction(fact.event_id, data.channel, data.direction, data.status, data.provider, at)
            change = reachability_change(data)
            if change is not None:
                key = f"{data.channel}:{contact_address(data)}"
                known = reachability.get(key)
                if known is None or (at.isoformat(), fact.event_id) > (known["since"], known["event_id"]):
                    reachability[key] = {
                        "channel": data.channel,
                        "address": contact_address(data),
                        "reachable": change[0],
                        "reason": change[1],
                        "since": at.isoformat(),
                        "event_id": fact.event_id,
                    }
            if data.function_id is not None:
                profile = profile or _Profile.of(view)
                per_function = profile.function_interactions.setdefault(data.function_id, {})
                per_function[data.channel] = per_function.get(data.channel, 0) + 1
        elif isinstance(data, PersonRegistered):
            candidate = (at, data.given_name or "", data.family_name or "", data.provisional)
            if registration[0] is None or candidate < registration:
                registration = candidate
        elif isinstance(data, PersonRenamed):  # after the registration: the same aggregate, in order
            registration = (registration[0] or at, data.given_name, data.family_name, False)
        elif type(data) is PersonErased:
            erased_on = data.erased_on
        else:
            profile = profile or _Profile.of(view)
            profile.apply(data)
    profile = profile or _Profile.of(view, copy=False)
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
    )


STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "ARRET", "ARRÊT"}
START_WORDS = {"START", "UNSTOP", "YES"}


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
    if isinstance(data, SmsInteraction) and data.direction == "inbound":
        word = data.body.strip().split(" ")[0].upper() if data.body.strip() else ""
        if word in STOP_WORDS:
            return False, f"opted out by SMS ({word})"
        if word in START_WORDS:
            return True, f"opted in again by SMS ({word})"
    return None


@dataclass
class _Profile:
    """The mutable working copy of a person's functions and attributes during one fold."""

    attributes: dict[str, str | None]
    functions: dict[str, Function]
    priority: list[str]
    function_attributes: dict[str, dict[str, str | None]]
    function_interactions: dict[str, dict[str, int]]
    absorbed: list[str]
    merged_into: str | None
    contact_points: list[str]

    @classmethod
    def of(cls, view: PersonView, copy: bool = True) -> _Profile:
        if not copy:
            return cls(
                view.attributes,
                view.functions,
                view.priority,
                view.function_attributes,  # type: ignore[arg-type]
                view.function_interactions,
                view.absorbed,
                view.merged_into,
                view.contact_points,
            )
        return cls(
            dict(view.attributes),
            dict(view.functions),
            list(view.priority),
            {f: dict(a) for f, a in view.function_attributes.items()},
            {f: dict(c) for f, c in view.function_interactions.items()},
            list(view.absorbed),
            view.merged_into,
            list(view.contact_points),
        )

    def apply(self, data: Any) -> None:
        if isinstance(data, FunctionAssigned):
            if data.function_id not in self.functions:
                entered = {f: self.functions[f].entered_on for f in self.priority}
                self.priority = insert_chronologically(self.priority, entered, data.function_id, data.entered_on)
            self.functions[data.function_id] = Function(
                data.function_id, data.organisation_id, data.title_code, data.entered_on, data.exits_on
            )
        elif isinstance(data, FunctionEnded) and data.function_id in self.functions:
            function = self.functions[data.function_id]
            self.functions[data.function_id] = Function(
                function.function_id,
                function.organisation_id,
                function.title_code,
                function.entered_on,
                data.exited_on,
            )
        elif isinstance(data, FunctionsReprioritised):
            self.priority = [f for f in data.function_ids if f in self.functions]
        elif isinstance(data, ContactPointAdded):
            if f"{data.kind}:{data.address}" not in self.contact_points:
                self.contact_points.append(f"{data.kind}:{data.address}")
        elif isinstance(data, PersonJoined):
            if data.absorbed_id not in self.absorbed:
                self.absorbed.append(data.absorbed_id)
        elif isinstance(data, PersonMerged):
            self.merged_into = data.survivor_id
        elif isinstance(data, ContactPointRemoved):
            if f"{data.kind}:{data.address}" in self.contact_points:
                self.contact_points.remove(f"{data.kind}:{data.address}")
        elif isinstance(data, PersonSeparated):
            if data.absorbed_id in self.absorbed:
                self.absorbed.remove(data.absorbed_id)
        elif isinstance(data, PersonRestored):
            self.merged_into = None
        elif isinstance(data, AttributeSet):
            target = (
                self.attributes
                if data.function_id is None
                else self.function_attributes.setdefault(data.function_id, {})
            )
            target[data.name] = data.value


def timeline_entry(fact: Fact) -> TimelineEntry:
    """The fact as a row of its subject's timeline (a person's, or an organisation's)."""
    data = fact.data
    if type(data) not in _INTERACTION_MODELS:
        return TimelineEntry(
            fact.subject,
            fact.event_id,
            fact.event_type,
            None,
            fact.time,
            fact.raw_data,
            fact.topic,
            fact.partition,
            fact.offset,
        )
    return TimelineEntry(
        fact.subject,
        fact.event_id,
        fact.event_type,
        data.channel,
        fact.time,
        fact.raw_data,
        fact.topic,
        fact.partition,
        fact.offset,
        f"{data.channel}:{data.provider}:{data.provider_id}",
        data.status,
    )


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


# --- storage form (JSON) --------------------------------------------------------------------


def view_to_json(view: PersonView) -> dict[str, Any]:
    # Written out by hand: the stored document names every field (a named tuple is an array in JSON).
    last = view.last_interaction
    return {
        "person_id": view.person_id,
        "given_name": view.given_name,
        "family_name": view.family_name,
        "registered_at": _iso(view.registered_at),
        "provisional": view.provisional,
        "interactions": dict(view.interactions),
        "events_applied": view.events_applied,
        "last_interaction": None
        if last is None
        else {
            "event_id": last.event_id,
            "channel": last.channel,
            "direction": last.direction,
            "status": last.status,
            "provider": last.provider,
            "at": last.at.isoformat(),
        },
        "last_event_at": _iso(view.last_event_at),
        "attributes": dict(view.attributes),
        "functions": {
            f.function_id: {
                "organisation_id": f.organisation_id,
                "title_code": f.title_code,
                "entered_on": f.entered_on.isoformat(),
                "exits_on": _iso(f.exits_on),
            }
            for f in view.functions.values()
        },
        "priority": list(view.priority),
        "function_attributes": {f: dict(a) for f, a in view.function_attributes.items()},
        "function_interactions": {f: dict(c) for f, c in view.function_interactions.items()},
        "reachability": {k: dict(v) for k, v in view.reachability.items()},
        "contact_points": list(view.contact_points),
        "absorbed": list(view.absorbed),
        "merged_into": view.merged_into,
        **({"erased_on": view.erased_on.isoformat()} if view.erased_on else {}),
    }


def _iso(moment: date | None) -> str | None:
    return moment.isoformat() if moment else None


def view_from_json(raw: Mapping[str, Any]) -> PersonView:
    last = raw.get("last_interaction")
    return PersonView(
        person_id=raw["person_id"],
        given_name=raw.get("given_name"),
        family_name=raw.get("family_name"),
        registered_at=_datetime(raw.get("registered_at")),
        provisional=raw.get("provisional", False),
        interactions=raw.get("interactions", {}),
        events_applied=raw.get("events_applied", 0),
        last_interaction=None if not last else LastInteraction(**{**last, "at": datetime.fromisoformat(last["at"])}),
        last_event_at=_datetime(raw.get("last_event_at")),
        attributes=raw.get("attributes", {}),
        functions={
            function_id: Function(
                function_id,
                f["organisation_id"],
                f["title_code"],
                date.fromisoformat(f["entered_on"]),
                date.fromisoformat(f["exits_on"]) if f.get("exits_on") else None,
            )
            for function_id, f in raw.get("functions", {}).items()
        },
        priority=tuple(raw.get("priority", ())),
        function_attributes=raw.get("function_attributes", {}),
        function_interactions=raw.get("function_interactions", {}),
        reachability=raw.get("reachability", {}),
        contact_points=tuple(raw.get("contact_points", ())),
        absorbed=tuple(raw.get("absorbed", ())),
        merged_into=raw.get("merged_into"),
        erased_on=date.fromisoformat(raw["erased_on"]) if raw.get("erased_on") else None,
    )


def merge_views(survivor: PersonView, absorbed: Iterable[PersonView]) -> PersonView:
    """The survivor's view with the history of everyone joined into them: counts add up, the latest
    interaction and reachability win, the survivor's identity, attributes and priorities come first."""
    views = [survivor, *absorbed]
    interactions: dict[str, int] = {}
    per_function: dict[str, dict[str, int]] = {}
    reachability: dict[str, Mapping[str, Any]] = {}
    for view in views:
        for channel, count in view.interactions.items():
            interactions[channel] = interactions.get(channel, 0) + count
        for function_id, counts in view.function_interactions.items():
            target = per_function.setdefault(function_id, {})
            for channel, count in counts.items():
                target[channel] = target.get(channel, 0) + count
        for key, state in view.reachability.items():
            if key not in reachability or (state["since"], state["event_id"]) > (
                reachability[key]["since"],
                reachability[key]["event_id"],
            ):
                reachability[key] = state
    lasts = [v.last_interaction for v in views if v.last_interaction]
    moments = [v.last_event_at for v in views if v.last_event_at]
    registered = [v.registered_at for v in views if v.registered_at]
    named = next((v for v in views if v.given_name or v.family_name), survivor)
    return survivor._replace(
        given_name=named.given_name,
        family_name=named.family_name,
        registered_at=min(registered) if registered else None,
        provisional=all(v.provisional for v in views),
        interactions=interactions,
        events_applied=sum(v.events_applied for v in views),
        last_interaction=max(lasts, key=lambda last: (last.at, last.event_id)) if lasts else None,
        last_event_at=max(moments) if moments else None,
        attributes={k: v for view in reversed(views) for k, v in view.attributes.items()},
        functions={f: fn for view in reversed(views) for f, fn in view.functions.items()},
        priority=tuple(dict.fromkeys(f for view in views for f in view.priority)),
        function_attributes={f: a for view in reversed(views) for f, a in view.function_attributes.items()},
        function_interactions=per_function,
        reachability=reachability,
        contact_points=tuple(dict.fromkeys(c for view in views for c in view.contact_points)),
    )


def _datetime(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
