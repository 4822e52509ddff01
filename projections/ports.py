"""The ports the projector and the queries need; adapters live in memory_store and postgres_store."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from projections.person_view import PersonView, TimelineEntry
from schemas.envelope import WireRecord

Partition = tuple[str, int]  # (topic, partition)


class StaleOffsets(RuntimeError):
    """The stored offset of a partition is not where this projector started its batch:
    another member took the partition over and moved on. The batch must not be committed."""


class GenerationChanged(RuntimeError):
    """A rebuild switched the active read model: reload offsets from the new generation."""


class ProjectionTransaction(Protocol):
    def claim(self, entries: Sequence[TimelineEntry]) -> set[str]:
        """Record the entries whose event ids were never seen; return those ids."""

    def views(self, person_ids: Iterable[str]) -> dict[str, PersonView]: ...

    def save_views(self, views: Iterable[PersonView]) -> None: ...

    def advance(self, new: Mapping[Partition, int], expected: Mapping[Partition, int]) -> None:
        """Move each partition's offset from ``expected`` to ``new``; StaleOffsets if it is elsewhere."""


class ProjectionStore(Protocol):
    """Where the person view and timeline live, with the offsets they reflect."""

    def transaction(self) -> AbstractContextManager[ProjectionTransaction]:
        """One atomic unit: the rows and the offsets are written together or not at all."""

    def offsets(self, partitions: Iterable[Partition]) -> dict[Partition, int]:
        """The next offset to read for each partition (0 when never read)."""

    def position(self) -> dict[Partition, int]:
        """Every partition's next offset: the point in the log the read model reflects."""

    def person(self, person_id: str) -> PersonView | None: ...

    def timeline(self, person_id: str, limit: int, before: tuple[datetime, str] | None = None) -> list[TimelineEntry]:
        """Newest first; ``before`` is the (occurred_at, event_id) of the last entry of the previous page."""


class DeadLetterSink(Protocol):
    def send(self, record: WireRecord, reason: str) -> None: ...

    def flush(self) -> None:
        """Return only once every dead letter sent is durably stored."""
