"""The in-memory projection store: the embedded default and the unit tests."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime

from projections.person_view import PersonView, TimelineEntry
from projections.ports import Partition, StaleOffsets


class _MemoryTransaction:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self.entries: dict[str, TimelineEntry] = {}
        self.saved: dict[str, PersonView] = {}
        self.offsets: dict[Partition, int] = {}

    def claim(self, entries: Sequence[TimelineEntry]) -> set[str]:
        new = {
            e.event_id: e for e in entries if e.event_id not in self._store._entries and e.event_id not in self.entries
        }
        self.entries.update(new)
        return set(new)

    def views(self, person_ids: Iterable[str]) -> dict[str, PersonView]:
        return {
            pid: self.saved.get(pid) or self._store._views[pid]
            for pid in person_ids
            if pid in self.saved or pid in self._store._views
        }

    def save_views(self, views: Iterable[PersonView]) -> None:
        self.saved.update((view.person_id, view) for view in views)

    def advance(self, new: Mapping[Partition, int], expected: Mapping[Partition, int]) -> None:
        for partition, offset in new.items():
            stored = self._store._offsets.get(partition, 0)
            if stored != expected[partition] or offset <= stored:
                raise StaleOffsets(f"{partition}: stored {stored}, expected {expected[partition]}, new {offset}")
        self.offsets.update(new)


class MemoryStore:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._views: dict[str, PersonView] = {}
        self._entries: dict[str, TimelineEntry] = {}
        self._by_person: dict[str, list[TimelineEntry]] = defaultdict(list)
        self._offsets: dict[Partition, int] = {}

    @contextmanager
    def transaction(self) -> Iterator[_MemoryTransaction]:
        with self._lock:
            tx = _MemoryTransaction(self)
            yield tx
            self._entries.update(tx.entries)
            for entry in tx.entries.values():
                self._by_person[entry.person_id].append(entry)
            self._views.update(tx.saved)
            self._offsets.update(tx.offsets)

    def offsets(self, partitions: Iterable[Partition]) -> dict[Partition, int]:
        with self._lock:
            return {p: self._offsets.get(p, 0) for p in partitions}

    def position(self) -> dict[Partition, int]:
        with self._lock:
            return dict(self._offsets)

    def person(self, person_id: str) -> PersonView | None:
        with self._lock:
            return self._views.get(person_id)

    def timeline(self, person_id: str, limit: int, before: tuple[datetime, str] | None = None) -> list[TimelineEntry]:
        with self._lock:
            entries = sorted(
                self._by_person.get(person_id, ()), key=lambda e: (e.occurred_at, e.event_id), reverse=True
            )
        if before is not None:
            entries = [e for e in entries if (e.occurred_at, e.event_id) < before]
        return entries[:limit]
