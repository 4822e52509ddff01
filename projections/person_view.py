"""The person view and timeline read model: pure folds, no I/O.

``apply`` is commutative over distinct events (counters add up, the latest interaction is the
maximum by time then id, the registration is the earliest), so the view is the same whatever the
batching and whatever the interleaving of the interactions and domain topics.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
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


@dataclass(frozen=True)
class TimelineEntry:
    person_id: str
    event_id: str
    event_type: str
    channel: str | None
    occurred_at: datetime
    data: Mapping[str, Any]
    topic: str
    partition: int
    offset: int


def concerns_person(fact: Fact) -> bool:
    return isinstance(fact.data, PERSON_SCOPED)


def apply(view: PersonView | None, fact: Fact) -> PersonView:
    """The view after one more (new, person-scoped) event."""
    view = view or PersonView(person_id=fact.subject)
    at, data = fact.envelope.time, fact.data
    if isinstance(data, PersonRegistered) and (
        view.registered_at is None
        or (at, data.given_name, data.family_name) < (view.registered_at, view.given_name, view.family_name)
    ):
        view = replace(view, given_name=data.given_name, family_name=data.family_name, registered_at=at)
    if isinstance(data, Interaction):
        counts = dict(view.interactions)
        counts[data.channel] = counts.get(data.channel, 0) + 1
        latest = view.last_interaction
        if latest is None or (at, fact.event_id) > (latest.at, latest.event_id):
            latest = LastInteraction(fact.event_id, data.channel, data.direction, data.status, data.provider, at)
        view = replace(view, interactions=counts, last_interaction=latest)
    last_event_at = at if view.last_event_at is None else max(view.last_event_at, at)
    return replace(view, events_applied=view.events_applied + 1, last_event_at=last_event_at)


def fold(facts: Iterable[Fact], views: Mapping[str, PersonView] | None = None) -> dict[str, PersonView]:
    """Every person's view after ``facts`` (assumed new and distinct), starting from ``views``."""
    result = dict(views or {})
    for fact in facts:
        if concerns_person(fact):
            result[fact.subject] = apply(result.get(fact.subject), fact)
    return result


def timeline_entry(fact: Fact) -> TimelineEntry:
    data = fact.data
    return TimelineEntry(
        person_id=fact.subject,
        event_id=fact.event_id,
        event_type=fact.envelope.type,
        channel=data.channel if isinstance(data, Interaction) else None,
        occurred_at=fact.envelope.time,
        data=data.model_dump(mode="json"),
        topic=fact.topic,
        partition=fact.partition,
        offset=fact.offset,
    )


# --- storage form (JSON) --------------------------------------------------------------------


def view_to_json(view: PersonView) -> dict[str, Any]:
    raw = asdict(view)
    raw["interactions"] = dict(view.interactions)
    for key in ("registered_at", "last_event_at"):
        raw[key] = raw[key].isoformat() if raw[key] else None
    if view.last_interaction:
        raw["last_interaction"]["at"] = view.last_interaction.at.isoformat()
    return raw


def view_from_json(raw: Mapping[str, Any]) -> PersonView:
    raw = dict(raw)
    for key in ("registered_at", "last_event_at"):
        raw[key] = datetime.fromisoformat(raw[key]) if raw.get(key) else None
    if raw.get("last_interaction"):
        last = dict(raw["last_interaction"])
        last["at"] = datetime.fromisoformat(last["at"])
        raw["last_interaction"] = LastInteraction(**last)
    return PersonView(**raw)
