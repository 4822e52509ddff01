"""An in-memory event log with the publisher's interface: the embedded default (``crossview demo``).

Records are kept in binary mode, partitioned by key like Kafka, and handed to ``on_append``
synchronously, so the embedded read model is up to date when ``publish`` returns.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Sequence

from channels.kafka import Position
from schemas.envelope import CloudEvent, WireRecord, to_binary


class MemoryLog:
    def __init__(self, partitions: int, on_append: Callable[[list[WireRecord]], object] = lambda records: None) -> None:
        self._partitions = partitions
        self._records: dict[tuple[str, int], list[WireRecord]] = {}
        self._lock = threading.Lock()
        self.on_append = on_append

    def partitions_of(self, topic: str) -> list[tuple[str, int]]:
        return [(topic, p) for p in range(self._partitions)]

    def publish(self, topic: str, events: Sequence[CloudEvent]) -> list[Position]:
        with self._lock:
            appended = []
            for event in events:
                key, value, headers = to_binary(event)
                partition = zlib.crc32(key) % self._partitions
                log = self._records.setdefault((topic, partition), [])
                record = WireRecord(topic, partition, len(log), key, value, tuple(headers))
                log.append(record)
                appended.append(record)
            self.on_append(appended)
        return [Position(r.topic, r.partition, r.offset) for r in appended]

    async def publish_async(self, topic: str, events: Sequence[CloudEvent]) -> list[Position]:
        return self.publish(topic, events)

    def end_offsets(self, topics: list[str]) -> dict[tuple[str, int], int]:
        """The next offset of every partition of ``topics``, as Kafka's end offsets."""
        with self._lock:
            return {p: len(self._records.get(p, ())) for topic in topics for p in self.partitions_of(topic)}

    def records(self, topic: str) -> list[WireRecord]:
        with self._lock:
            return [r for (t, _), log in sorted(self._records.items()) if t == topic for r in log]


class MemoryDeadLetters:
    """Dead letters of the embedded default: kept in memory and logged, for the operator to see."""

    def __init__(self) -> None:
        self.letters: list[tuple[WireRecord, str]] = []

    def send(self, record: WireRecord, reason: str) -> None:
        self.letters.append((record, reason))

    def flush(self) -> None:
        """Nothing to wait for: the list is the store."""
