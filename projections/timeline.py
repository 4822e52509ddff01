"""The timeline read model's row: one event of a person (or an organisation), as it was published."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, NamedTuple

from projections.facts import Fact
from schemas.events import Interaction, models_of

_INTERACTION_MODELS = models_of(Interaction)


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
