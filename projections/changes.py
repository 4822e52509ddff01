"""Live push: who is told that a person's read model changed, and where a stream of changes stands.

The projector announces the people a batch changed in the transaction that writes them (on
PostgreSQL a NOTIFY, delivered at commit to every listening process: postgres_changes; in memory
at commit). An announcement only wakes the streams that follow one of those people; each stream
then reads what is new for it from the timeline, past its own marks, so an announcement lost or
repeated loses or repeats nothing, and a slow reader holds up nobody but itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping

from projections.ports import Partition

Marks = dict[Partition, int]  # the next offset a stream has not delivered yet, per partition


class Announcements:
    """In-process fan-out of "these people changed" to the streams that follow them. Thread-safe;
    a wake-up must not block (it is called from the announcing thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._followers: dict[str, set[Callable[[], None]]] = {}

    def subscribe(self, person_ids: Iterable[str], wake: Callable[[], None]) -> Callable[[], None]:
        """Call ``wake`` whenever one of ``person_ids`` changes; returns the unsubscribe function."""
        ids = list(dict.fromkeys(person_ids))
        with self._lock:
            for person_id in ids:
                self._followers.setdefault(person_id, set()).add(wake)

        def unsubscribe() -> None:
            with self._lock:
                for person_id in ids:
                    followers = self._followers.get(person_id)
                    if followers is not None:
                        followers.discard(wake)
                        if not followers:
                            del self._followers[person_id]

        return unsubscribe

    def announce(self, person_ids: Iterable[str]) -> None:
        with self._lock:
            wakes = {wake for person_id in person_ids for wake in self._followers.get(person_id, ())}
        for wake in wakes:
            wake()

    def announce_everyone(self) -> None:
        """Wake every stream (after a listener reconnected: what it missed is read from the store)."""
        with self._lock:
            wakes = {wake for followers in self._followers.values() for wake in followers}
        for wake in wakes:
            wake()

    def followed(self) -> int:
        with self._lock:
            return len(self._followers)


def render_marks(marks: Mapping[Partition, int]) -> str:
    """A stream's place as ``topic:partition:offset`` of the last change delivered on each partition
    (the positions commands and ingest answer with), comma-separated: its SSE event id."""
    return ",".join(
        f"{topic}:{partition}:{offset - 1}" for (topic, partition), offset in sorted(marks.items()) if offset
    )


def parse_marks(text: str) -> Marks:
    """The inverse of render_marks; ValueError for anything else."""
    marks: Marks = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        topic, partition, offset = part.rsplit(":", 2)
        if not topic or int(partition) < 0 or int(offset) < 0:
            raise ValueError(f"{part!r} is not topic:partition:offset")
        marks[(topic, int(partition))] = max(marks.get((topic, int(partition)), 0), int(offset) + 1)
    return marks
