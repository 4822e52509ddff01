"""Time travel: a person's view as the log stood at an instant or a position, as a pure fold.

The same fold as the live projector (person_view.fold), over the person's own events as the
timeline read model keeps them (every distinct event of theirs, its data in clear, with its place
in the log). Which events count is a ``Cut``:

- ``until``: the events whose own time (CloudEvents ``time``) is at or before the instant. A late
  event (one that happened before ``until`` but reached the log after) counts once it arrived: an
  answer about the past can change while late events keep coming.
- ``position``: the events before a log position (the next offset per partition, the form of
  every answer's ``freshness.position``). Arrival order decides alone, and an answer at a position
  never changes: the way to reproduce one exactly. A partition the position does not name
  contributes nothing.

Both hold when both are given. Within the events kept, the fold decides as it always does:
interactions by their time (the latest, consent), domain events in the order they were stored.

To stay fast for people with long histories, the projector keeps *checkpoints*: now and then a
person's view with the log bounds it reflects (every event of theirs before those offsets, none
after). A checkpoint serves a cut when all its events fall inside it; the answer is then the
checkpoint folded with the person's later events that the cut keeps. Interactions fold in any
order and domain events keep theirs (one partition), so this is the same view as folding
everything from the start (tests/unit/test_as_of.py checks it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from projections.facts import Fact
from projections.person_model import PersonView
from projections.person_view import fold
from projections.timeline import TimelineEntry
from schemas.events import parse_data_json

Partition = tuple[str, int]  # (topic, partition)
# A person's view is kept aside each time they reach a multiple of this many events: an answer at a
# cut folds at most this many events onto the best checkpoint (a few milliseconds), and a person with
# 10,000 events keeps forty views (their sizes grow with the messages counted).
CHECKPOINT_EVERY = 250


@dataclass(frozen=True)
class Cut:
    """Which events of the log a time-travelled answer reflects (see the module's docstring)."""

    until: datetime | None = None
    position: Mapping[Partition, int] | None = None

    def keeps(self, topic: str, partition: int, offset: int, occurred_at: datetime) -> bool:
        if self.until is not None and occurred_at > self.until:
            return False
        return self.position is None or offset < self.position.get((topic, partition), 0)

    def keeps_entry(self, entry: TimelineEntry) -> bool:
        return self.keeps(entry.topic, entry.partition, entry.offset, entry.occurred_at)


@dataclass(frozen=True)
class Checkpoint:
    """A person's view with the bounds of the log it reflects: every event of theirs on each of these
    partitions before the offset is in it, none after (partitions not named: none of theirs)."""

    view: PersonView
    bounds: Mapping[Partition, int] = field(default_factory=dict)

    def serves(self, cut: Cut) -> bool:
        return serves(self.view.last_event_at, self.bounds, cut)

    def holds(self, entry: TimelineEntry) -> bool:
        return entry.offset < self.bounds.get((entry.topic, entry.partition), 0)


def serves(last_event_at: datetime | None, bounds: Mapping[Partition, int], cut: Cut) -> bool:
    """Whether every event of a checkpoint (its latest time, its bounds) is one the cut keeps."""
    if cut.until is not None and last_event_at is not None and last_event_at > cut.until:
        return False
    if cut.position is None:
        return True
    return all(offset <= cut.position.get(where, 0) for where, offset in bounds.items() if offset > 0)


def best_checkpoint(checkpoints: Iterable[Checkpoint], cut: Cut) -> Checkpoint | None:
    """The checkpoint with the most events that serves the cut, if any."""
    serving = [c for c in checkpoints if c.serves(cut)]
    return max(serving, key=lambda c: c.view.events_applied, default=None)


def crosses_checkpoint(before: PersonView | None, after: PersonView, every: int = CHECKPOINT_EVERY) -> bool:
    """Whether a batch took the person past a multiple of ``every`` events: time to keep a checkpoint."""
    return after.events_applied // every > (before.events_applied if before else 0) // every


def checkpoints_within(
    person_id: str,
    before: PersonView | None,
    facts: Iterable[Fact],
    starts: Mapping[Partition, int],
    every: int = CHECKPOINT_EVERY,
) -> list[Checkpoint]:
    """The person's view each time one batch's ``facts`` (theirs, new, in the order they are folded)
    take them to a multiple of ``every`` events, with its bounds: on each of their partitions, just
    past the last of their events folded in, or where the batch started (``starts``) if none was."""
    view, bounds, chunk, made = before, dict(starts), [], []
    applied = before.events_applied if before else 0
    for fact in facts:
        chunk.append(fact)
        bounds[(fact.topic, fact.partition)] = fact.offset + 1
        if (applied + len(chunk)) % every == 0:
            view = fold(chunk, {person_id: view} if view is not None else None)[person_id]
            applied, chunk = view.events_applied, []
            made.append(Checkpoint(view, dict(bounds)))
    return made


def fact_of_entry(entry: TimelineEntry) -> Fact:
    """The fact a timeline row keeps (its data as it was published, in clear)."""
    return Fact(
        entry.event_id,
        entry.event_type,
        entry.person_id,
        entry.occurred_at,
        parse_data_json(entry.event_type, entry.raw_data),
        entry.raw_data,
        entry.topic,
        entry.partition,
        entry.offset,
    )


def view_as_of(
    person_id: str, entries: Iterable[TimelineEntry], cut: Cut, checkpoint: Checkpoint | None = None
) -> PersonView | None:
    """The person's view as the cut sees the log: the checkpoint (one that serves the cut) folded with
    their other events that the cut keeps; None when the cut keeps nothing of theirs."""
    start = checkpoint if checkpoint is not None and checkpoint.serves(cut) else None
    kept = sorted(
        (e for e in entries if cut.keeps_entry(e) and (start is None or not start.holds(e))),
        key=lambda e: (e.topic, e.partition, e.offset),  # each topic in log order: the domain events' order
    )
    if not kept:
        return start.view if start is not None else None
    views = {person_id: start.view} if start is not None else None
    return fold((fact_of_entry(e) for e in kept), views).get(person_id)
