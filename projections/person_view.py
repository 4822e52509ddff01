"""The person view and timeline read model: pure folds, no I/O.

``apply`` is commutative over distinct events (counters add up, the latest interaction is the
maximum by time then id, the registration is the earliest), so the view is the same whatever the
batching and whatever the interleaving of the interactions and domain topics.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from projections.facts import Fact
from schemas.events import (
    AttributeSet,
    FunctionAssigned,
    FunctionEnded,
    FunctionsReprioritised,
    Interaction,
    PersonRegistered,
)

PERSON_SCOPED = (PersonRegistered, FunctionAssigned, FunctionEnded, FunctionsReprioritised, AttributeSet, Interaction)


@dataclass(frozen=True)
class LastInteraction:
    event_id: str
    channel: str
    direction: str
    status: str
    provider: str
    at: datetime


@dataclass(frozen=True)
class PersonView:
    person_id: str
    given_name: str | None = None
    family_name: str | None = None
    registered_at: datetime | None = None
    interactions: Mapping[str, int] = field(default_factory=dict)
    events_applied: int = 0
    last_interaction: LastInteraction | None = None
    last_event_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    person_id: str
    event_id: str
    event_type: str
    channel: str | None
    occurred_at: datetime
    raw_data: bytes  # the event's data, JSON, as it was published
    topic: str
    partition: int
    offset: int

    @property
    def data(self) -> dict[str, Any]:
        return json.loads(self.raw_data)


def concerns_person(fact: Fact) -> bool:
    return isinstance(fact.data, PERSON_SCOPED)


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
    registration = (view.registered_at, view.given_name, view.family_name)
    last_event_at = view.last_event_at
    for fact in facts:
        at, data = fact.time, fact.data
        if last_event_at is None or at > last_event_at:
            last_event_at = at
        if isinstance(data, Interaction):
            counts[data.channel] = counts.get(data.channel, 0) + 1
            if latest is None or (at, fact.event_id) > (latest.at, latest.event_id):
                latest = LastInteraction(fact.event_id, data.channel, data.direction, data.status, data.provider, at)
        elif isinstance(data, PersonRegistered):
            candidate = (at, data.given_name, data.family_name)
            if registration[0] is None or candidate < registration:
                registration = candidate
    return PersonView(
        person_id=view.person_id,
        given_name=registration[1],
        family_name=registration[2],
        registered_at=registration[0],
        interactions=counts,
        events_applied=view.events_applied + len(facts),
        last_interaction=latest,
        last_event_at=last_event_at,
    )


def timeline_entry(fact: Fact) -> TimelineEntry:
    data = fact.data
    return TimelineEntry(
        person_id=fact.subject,
        event_id=fact.event_id,
        event_type=fact.event_type,
        channel=data.channel if isinstance(data, Interaction) else None,
        occurred_at=fact.time,
        raw_data=fact.raw_data,
        topic=fact.topic,
        partition=fact.partition,
        offset=fact.offset,
    )


# --- storage form (JSON) --------------------------------------------------------------------


def view_to_json(view: PersonView) -> dict[str, Any]:
    # Written out by hand: dataclasses.asdict deep-copies and was the projector's top cost.
    last = view.last_interaction
    return {
        "person_id": view.person_id,
        "given_name": view.given_name,
        "family_name": view.family_name,
        "registered_at": _iso(view.registered_at),
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
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def view_from_json(raw: Mapping[str, Any]) -> PersonView:
    raw = dict(raw)
    for key in ("registered_at", "last_event_at"):
        raw[key] = datetime.fromisoformat(raw[key]) if raw.get(key) else None
    if raw.get("last_interaction"):
        last = dict(raw["last_interaction"])
        last["at"] = datetime.fromisoformat(last["at"])
        raw["last_interaction"] = LastInteraction(**last)
    return PersonView(**raw)
