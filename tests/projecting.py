"""Events projected into a store without a broker: an in-memory log and the real projector, in
batches like a live one, so PostgreSQL and memory can be fed the same log and compared."""

from __future__ import annotations

from collections.abc import Sequence

from channels.memory import MemoryDeadLetters, MemoryLog
from projections.projector import Projector
from schemas.envelope import CloudEvent
from schemas.events import stream_of


def project(store, settings, events: Sequence[CloudEvent], batch: int = 700) -> None:
    log = MemoryLog(settings.partitions)
    projector = Projector(store, MemoryDeadLetters())
    projector.assign([p for topic in settings.event_topics for p in log.partitions_of(topic)])
    for topic in settings.event_topics:
        log.publish(topic, [e for e in events if settings.topic(stream_of(e.type)) == topic])
        for start in range(0, len(log.records(topic)), batch):
            projector.process(log.records(topic)[start : start + batch])
