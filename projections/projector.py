"""The projector: Kafka batches in, read-model rows and offsets out, in one transaction.

Exactly-once effect comes from three rules: the offsets are stored with the rows they produced;
a member seeks to those stored offsets whenever it is given partitions; and a commit only moves
an offset from where this member started (a member that lost a partition cannot overwrite newer
work). Duplicated events (a producer's retry) are dropped by event id inside the same transaction.

A person's events all land on the same partition *number* of every person-scoped topic (same
key, same partition count, Kafka's default key partitioner), and the group's range assignor
gives a member the same numbers on every topic: so a member owns its people outright, and keeps
their views in memory between batches instead of reading them back. The cache is dropped whenever
ownership may have changed (assignment, revocation, a fenced or failed commit).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from projections.as_of import CHECKPOINT_EVERY, Checkpoint, checkpoints_within, crosses_checkpoint
from projections.audit_view import audit_entries, concerns_audit
from projections.campaigns import campaign_rows
from projections.data_keys import DataKeys, Keys
from projections.facts import Fact, UndecodableRecord, decode
from projections.person_document import changed_references, links_touched, today
from projections.person_model import PersonView
from projections.person_view import changes_profile, concerns_person, fold
from projections.ports import (
    ContactPointRouter,
    DeadLetterSink,
    GenerationChanged,
    Partition,
    ProjectionStore,
    StaleOffsets,
    StoreUnavailable,
    TransactionLost,
)
from projections.reference_view import concerns_reference, fold_references, key_of
from projections.timeline import timeline_entry
from schemas.envelope import WireRecord, contact_point_of
from schemas.sealing import PERSONAL_BY_TYPE

log = logging.getLogger(__name__)
REFRESH_BATCH = 500  # stale 360° documents made again between two batches
_SEALABLE_TYPES = {event_type.encode() for event_type in PERSONAL_BY_TYPE}


@dataclass
class BatchOutcome:
    records: int = 0
    applied: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    rerouted: int = 0  # keyed by a contact point: published again under their person


class NotCoPartitioned(RuntimeError):
    """The member was given different partition numbers on different topics."""


def check_co_partitioned(partitions: Iterable[Partition]) -> None:
    numbers_by_topic: dict[str, set[int]] = {}
    for topic, number in partitions:
        numbers_by_topic.setdefault(topic, set()).add(number)
    distinct = {frozenset(numbers) for numbers in numbers_by_topic.values()}
    if len(distinct) > 1:
        raise NotCoPartitioned(
            f"assignment {sorted(partitions)} gives different partition numbers per topic; the person-scoped "
            "topics must have the same partition count and the group must use the range assignor"
        )


class RecordSource(Protocol):
    def poll(self, timeout_ms: int = 500) -> list[WireRecord]: ...

    def seek(self, starts: dict[Partition, int]) -> None: ...


class Projector:
    def __init__(
        self,
        store: ProjectionStore,
        dead_letters: DeadLetterSink,
        max_cached_views: int = 200_000,
        keys: DataKeys | None = None,
        router: ContactPointRouter | None = None,
        refreshes_documents: bool = True,
        checkpoint_every: int = CHECKPOINT_EVERY,
        window: Callable[[Fact], bool] | None = None,
    ) -> None:
        self._store = store
        self._checkpoint_every = checkpoint_every  # a person's view kept aside this many events apart (as_of.py)
        self._window = window  # a replay's: the events it folds (None: all)
        self._refreshes_documents = refreshes_documents  # one member of a process does (the person views')
        self._router = router  # re-keys events keyed by a contact point (None: they are dead-lettered)
        self._keys = keys  # the subjects' data keys, to unseal personal fields (None: events are clear)
        self._dead_letters = dead_letters
        self._positions: dict[Partition, int] = {}  # next offset per owned partition, as stored
        self._owned: list[Partition] = []  # what the group gave this member, positioned or not
        self._unpositioned = False  # owned partitions whose stored offsets could not be read yet
        self._views: dict[str, PersonView] = {}  # committed views of the people this member owns
        self._max_cached_views = max_cached_views
        self.totals = BatchOutcome()

    # --- partition ownership (called on every rebalance) -------------------------------------

    def assign(self, partitions: Iterable[Partition]) -> dict[Partition, int]:
        """Own ``partitions`` from their stored offsets; returns where to seek."""
        partitions = list(partitions)
        check_co_partitioned(partitions)
        # Until the stored offsets are read, nothing is applied: a store that fails here (the
        # database restarting during a rebalance) leaves the member owning partitions it must
        # not consume from wherever the consumer happens to be; ``run`` positions them later.
        self._owned, self._positions, self._unpositioned = partitions, {}, True
        self._views.clear()
        starts = self._store.offsets(partitions)
        self._positions, self._unpositioned = dict(starts), False
        log.info("assigned %s", {f"{t}:{p}": o for (t, p), o in sorted(starts.items())})
        return starts

    def revoke(self, partitions: Iterable[Partition]) -> None:
        for partition in partitions:
            self._positions.pop(partition, None)
        revoked = set(partitions)
        self._owned = [p for p in self._owned if p not in revoked]
        self._views.clear()

    def positions(self) -> dict[Partition, int]:
        return dict(self._positions)

    # --- one batch ------------------------------------------------------------------------------

    def process(self, records: Sequence[WireRecord]) -> BatchOutcome:
        outcome = BatchOutcome(records=len(records))
        new_offsets: dict[Partition, int] = {}
        facts: list[Fact] = []
        dead: list[tuple[WireRecord, str]] = []
        addressed: list[tuple[WireRecord, str, str]] = []
        keys = self._keys_of(records)
        for record in records:
            partition = (record.topic, record.partition)
            start = self._positions.get(partition)
            if start is None or record.offset < start:
                continue  # not ours any more, or already applied before a re-seek
            new_offsets[partition] = max(new_offsets.get(partition, start), record.offset + 1)
            try:
                fact = decode(record, keys)
            except UndecodableRecord as error:
                dead.append((record, str(error)))
                continue
            point = contact_point_of(fact.subject)
            if self._window is not None and not self._window(fact):
                continue  # outside a replay's window: passed over, its offset moves on
            if point is None:
                facts.append(fact)
            else:
                addressed.append((record, *point))
        if not new_offsets:
            return outcome

        if addressed:  # published again under their people, acknowledged, before the offsets move
            refused = self._reroute(addressed)
            dead += refused
            outcome.rerouted = len(addressed) - len(refused)

        if dead:  # written and acknowledged before the offsets move past them
            for record, reason in dead:
                self._dead_letters.send(record, reason)
            self._dead_letters.flush()
            outcome.dead_lettered = len(dead)

        known = [fact for fact in facts if concerns_person(fact) or concerns_reference(fact)]
        try:
            with self._store.transaction() as tx:
                fresh_ids = tx.claim([timeline_entry(fact) for fact in known])
                fresh, seen = [], set()
                for fact in known:
                    if fact.event_id in fresh_ids and fact.event_id not in seen:
                        seen.add(fact.event_id)
                        fresh.append(fact)
                person_facts = [fact for fact in fresh if concerns_person(fact)]
                people = {fact.subject for fact in person_facts}
                views = {pid: self._views[pid] for pid in people if pid in self._views}
                views.update(tx.views(people - views.keys()))
                folded = fold(person_facts, views)
                profiled = {f.subject for f in person_facts if changes_profile(f)}
                tx.save_views(folded.values(), profiled, before=views)
                tx.save_checkpoints(self._checkpoints(person_facts, views, folded))
                tx.announce(people)  # live push: told at commit, with the rows (projections/changes.py)
                tx.redact_timelines(p for p in people if folded[p].erased_on is not None)
                tx.record_campaign_reach(campaign_rows(person_facts))
                reference_facts = [fact for fact in fresh if concerns_reference(fact)]
                changed: set[tuple[str, str]] = set()
                if reference_facts:
                    before = tx.references({key_of(fact) for fact in reference_facts})
                    after = fold_references(reference_facts, before)
                    tx.save_references(after)
                    changed = changed_references(before, after)
                # Last, so that they show this batch's references: the ready 360° documents of
                # everyone touched, and the links of every organisation whose people changed.
                tx.save_documents(
                    folded.values(),
                    {org for p in profiled for org in links_touched(views.get(p), folded[p])},
                    changed,
                    today(),
                )
                tx.record_audit([entry for fact in facts if concerns_audit(fact) for entry in audit_entries(fact)])
                tx.advance(new_offsets, {p: self._positions[p] for p in new_offsets})
        except BaseException:
            self._views.clear()
            raise
        self._positions.update(new_offsets)
        if self._keys is not None:
            self._keys.forget(p for p in people if folded[p].erased_on is not None)
        if len(self._views) + len(folded) > self._max_cached_views:
            self._views.clear()
        self._views.update(folded)
        outcome.applied = len(fresh)
        outcome.duplicates = len(known) - len(fresh)
        self._add(outcome)
        return outcome

    def _checkpoints(
        self, facts: Sequence[Fact], before: dict[str, PersonView], after: dict[str, PersonView]
    ) -> list[Checkpoint]:
        """The checkpoints of the people this batch took past a multiple of ``checkpoint_every``
        events (as_of.checkpoints_within: the batch's facts of theirs folded again, in chunks)."""
        crossed = {p for p in after if crosses_checkpoint(before.get(p), after[p], self._checkpoint_every)}
        if not crossed:
            return []
        facts_of: dict[str, list[Fact]] = {}
        for fact in facts:
            if fact.subject in crossed:
                facts_of.setdefault(fact.subject, []).append(fact)
        made = []
        for person_id, theirs in facts_of.items():
            number = theirs[0].partition  # the same on every topic: a person's key
            starts = {(t, n): o for (t, n), o in self._positions.items() if n == number}
            made += checkpoints_within(person_id, before.get(person_id), theirs, starts, self._checkpoint_every)
        return made

    def _reroute(self, addressed: list[tuple[WireRecord, str, str]]) -> list[tuple[WireRecord, str]]:
        if self._router is None:
            return [
                (record, f"keyed by the contact point {kind}:{address!r}, which this projector cannot resolve")
                for record, kind, address in addressed
            ]
        return self._router.reroute(addressed)

    def _keys_of(self, records: Sequence[WireRecord]) -> dict[str, Keys | None] | None:
        """The keys of the people whose events in the batch may be sealed: only event types with
        personal fields (organisations, referentials and audit records have no key to look up, and
        a subject without one is not cached, so asking would cost a query every batch)."""
        if self._keys is None:
            return None
        subjects = {
            r.key.decode("utf-8", "replace")
            for r in records
            if r.key is not None and next((v for n, v in r.headers if n == "ce_type"), None) in _SEALABLE_TYPES
        }
        return self._keys.all_of(subjects) if subjects else {}

    def _add(self, outcome: BatchOutcome) -> None:
        for name in ("records", "applied", "duplicates", "dead_lettered", "rerouted"):
            setattr(self.totals, name, getattr(self.totals, name) + getattr(outcome, name))

    # --- the loop ---------------------------------------------------------------------------

    def run(
        self,
        source: RecordSource,
        stop: threading.Event,
        poll_timeout_ms: int = 500,
        transient: tuple[type[BaseException], ...] = (),
        retry_s: float = 1.0,
    ) -> None:
        """Poll and project until ``stop`` is set. Fencing, a store that does not answer, or any of the
        ``transient`` errors (the broker away while dead letters are written, say) leave nothing
        committed: the member waits, re-reads its stored offsets and seeks back to them, so the
        records of the failed batch are read again, and no person is needed to restart it."""
        failures = (StoreUnavailable, *transient)
        refreshed_at, stale_left = 0.0, False
        while not stop.is_set():
            try:
                if self._unpositioned:
                    source.seek(self.assign(list(self._owned)))
                    log.info("projecting again from the stored offsets")
                # While stale documents are left, an idle log is not waited on: they are made back to back.
                records = source.poll(0 if stale_left else poll_timeout_ms)
                self.process(records)
                # Stale documents (a new day, a renamed organisation, a new format) are made again
                # between batches: a few hundred when idle or once a second, so a busy log keeps its pace.
                if self._refreshes_documents and (not records or time.monotonic() - refreshed_at >= 1.0):
                    stale_left = self._store.refresh_documents(today(), REFRESH_BATCH) >= REFRESH_BATCH
                    refreshed_at = time.monotonic()
            except (StaleOffsets, GenerationChanged, TransactionLost) as reason:
                log.warning("batch not committed (%s); resuming from the stored offsets", reason)
                self._unpositioned = True
            except failures as error:
                log.warning("batch not committed (%s: %s); retrying in %.0fs", type(error).__name__, error, retry_s)
                self._unpositioned = True
                stop.wait(retry_s)
