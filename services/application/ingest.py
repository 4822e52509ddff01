"""Publishing: every event is sealed (its personal fields encrypted with its subject's data key),
then routed to the topic of its stream, acknowledged by the broker or an error."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from channels.kafka import Position
from projections.data_keys import DataKeys
from schemas.envelope import CloudEvent
from schemas.events import stream_of
from schemas.sealing import PERSONAL_BY_TYPE, seal
from services.settings import Settings


class Publisher(Protocol):
    """What both Kafka and the embedded log offer: publish to a topic, return acknowledged positions."""

    def publish(self, topic: str, events: Sequence[CloudEvent]) -> list[Position]: ...

    async def publish_async(self, topic: str, events: Sequence[CloudEvent]) -> list[Position]: ...


@dataclass
class Ingest:
    """Seals each event's personal fields with its subject's data key, then routes it to the topic
    of its stream, keeping the order of the caller's list."""

    publisher: Publisher
    settings: Settings
    keys: DataKeys | None  # None publishes clear events: only tests of the log's mechanics do

    def publish(self, events: Sequence[CloudEvent]) -> list[Position]:
        events = self._sealed(events)
        positions: list[Position | None] = [None] * len(events)
        for topic, indexes in self._by_topic(events).items():
            for index, position in zip(
                indexes, self.publisher.publish(topic, [events[i] for i in indexes]), strict=True
            ):
                positions[index] = position
        return positions  # type: ignore[return-value]

    async def publish_async(self, events: Sequence[CloudEvent]) -> list[Position]:
        """``publish`` on the event loop (each topic's events in turn): the audit records' path."""
        events = self._sealed(events)
        positions: list[Position | None] = [None] * len(events)
        for topic, indexes in self._by_topic(events).items():
            landed = await self.publisher.publish_async(topic, [events[i] for i in indexes])
            for index, position in zip(indexes, landed, strict=True):
                positions[index] = position
        return positions  # type: ignore[return-value]

    def _by_topic(self, events: Sequence[CloudEvent]) -> dict[str, list[int]]:
        by_topic: dict[str, list[int]] = {}
        for index, event in enumerate(events):
            by_topic.setdefault(self.settings.topic(stream_of(event.type)), []).append(index)
        return by_topic

    def _sealed(self, events: Sequence[CloudEvent]) -> list[CloudEvent]:
        personal = {e.subject for e in events if e.type in PERSONAL_BY_TYPE}
        if not personal or self.keys is None:
            return list(events)
        keys = self.keys.current(personal)
        return [
            e.model_copy(update={"data": seal(e.type, e.id, e.subject, e.data, keys[e.subject])})
            if e.subject in personal and e.type in PERSONAL_BY_TYPE
            else e
            for e in events
        ]
