"""The in-memory projection store: the embedded default and the unit tests."""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from projections.analytics import CampaignEvent, FunctionCount, function_counts, function_counts_at
from projections.as_of import Checkpoint, Cut, best_checkpoint
from projections.audit_view import AuditEntry
from projections.changes import Announcements
from projections.directory import Colleague, Criteria, PersonContext, References, colleagues_of, matches
from projections.leads import pipeline_rows
from projections.person_model import PersonView
from projections.person_view import one_row_per_message
from projections.ports import Partition, StaleOffsets, TimelineFilter
from projections.reference_view import (
    LEAD_RULES,
    OFFERS,
    ORGANISATION,
    POLICY,
    REQUEST_KINDS,
    TITLES,
    Key,
    catalogue_offers,
    lead_rules,
    policy_levels,
    request_kinds,
)
from projections.request_queue import QueueQuery, QueueRow, page_of, queue_rows
from projections.search_at import TRACED, may_have_matched
from projections.timeline import TimelineEntry


class _MemoryTransaction:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self.entries: dict[str, TimelineEntry] = {}
        self.saved: dict[str, PersonView] = {}
        self.saved_references: dict[Key, dict[str, Any]] = {}
        self.offsets: dict[Partition, int] = {}
        self.campaign_rows: set[tuple[str, str, str, str]] = set()
        self.audit: dict[str, AuditEntry] = {}
        self.redacted: set[str] = set()
        self.announced: set[str] = set()
        self.checkpoints: list[Checkpoint] = []

    def announce(self, person_ids: Iterable[str]) -> None:
        self.announced.update(person_ids)

    def redact_timelines(self, person_ids: Iterable[str]) -> None:
        self.redacted.update(person_ids)

    def record_audit(self, entries: Sequence[AuditEntry]) -> None:
        self.audit.update((e.event_id, e) for e in entries if e.event_id not in self._store._audit)

    def save_documents(self, views, organisations, changed_references, day) -> None:
        """The memory store keeps no ready documents: its views are in memory already."""

    def record_campaign_reach(self, rows: set[tuple[str, str, str, str]]) -> None:
        self.campaign_rows |= rows

    def save_checkpoints(self, checkpoints: Iterable[Checkpoint]) -> None:
        self.checkpoints += list(checkpoints)

    def claim(self, entries: Sequence[TimelineEntry]) -> set[str]:
        new: dict[str, TimelineEntry] = {}
        for e in entries:  # the first occurrence wins, as on PostgreSQL: its place in the log is the event's
            if e.event_id not in self._store._entries and e.event_id not in self.entries:
                new.setdefault(e.event_id, e)
        self.entries.update(new)
        return set(new)

    def views(self, person_ids: Iterable[str]) -> dict[str, PersonView]:
        known = {**self._store._views, **self.saved}
        return {pid: known[pid] for pid in person_ids if pid in known}

    def save_views(
        self,
        views: Iterable[PersonView],
        profile_changed: Iterable[str] = (),
        before: Mapping[str, PersonView] | None = None,
    ) -> None:
        self.saved.update((view.person_id, view) for view in views)

    def references(self, keys: Iterable[Key]) -> dict[Key, dict[str, Any]]:
        known = {**self._store._references, **self.saved_references}
        return {key: known[key] for key in keys if key in known}

    def save_references(self, documents: Mapping[Key, dict[str, Any]]) -> None:
        self.saved_references.update(documents)

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
        self._references: dict[Key, dict[str, Any]] = {}
        self._offsets: dict[Partition, int] = {}
        self._campaign_rows: set[tuple[str, str, str, str]] = set()
        self._audit: dict[str, AuditEntry] = {}
        self._checkpoints: dict[str, list[Checkpoint]] = defaultdict(list)
        self._queue: dict[str, list[QueueRow]] = {}  # holder id -> the service desk queue's rows of their view
        self.announcements = Announcements()  # told at each commit, as PostgreSQL's NOTIFY tells listeners

    @contextmanager
    def transaction(self) -> Iterator[_MemoryTransaction]:
        with self._lock:
            tx = _MemoryTransaction(self)
            yield tx
            self._entries.update(tx.entries)
            for entry in tx.entries.values():
                self._by_person[entry.person_id].append(entry)
            self._views.update(tx.saved)
            for view in tx.saved.values():
                if view.service_requests or view.person_id in self._queue:
                    self._queue[view.person_id] = queue_rows(view)
            self._references.update(tx.saved_references)
            self._offsets.update(tx.offsets)
            self._campaign_rows |= tx.campaign_rows
            for checkpoint in tx.checkpoints:
                self._checkpoints[checkpoint.view.person_id].append(checkpoint)
            self._audit.update(tx.audit)
            for person_id in tx.redacted:
                self._checkpoints.pop(person_id, None)  # their views kept for time travel held their data
                entries = [e._replace(raw_data=b"{}") for e in self._by_person.get(person_id, [])]
                self._by_person[person_id] = entries
                self._entries.update((e.event_id, e) for e in entries)
        self.announcements.announce(tx.announced)  # after the commit, outside the lock: as a NOTIFY

    def offsets(self, partitions: Iterable[Partition]) -> dict[Partition, int]:
        with self._lock:
            return {p: self._offsets.get(p, 0) for p in partitions}

    def position(self) -> dict[Partition, int]:
        with self._lock:
            return dict(self._offsets)

    def audit_of(self, subjects: Sequence[str], limit: int) -> list[AuditEntry]:
        with self._lock:
            found = [e for e in self._audit.values() if e.subject in subjects]
        return sorted(found, key=lambda e: (e.at, e.event_id), reverse=True)[:limit]

    def person(self, person_id: str) -> PersonView | None:
        with self._lock:
            return self._views.get(person_id)

    def persons(self, person_ids: Iterable[str]) -> dict[str, PersonView]:
        with self._lock:
            return {pid: self._views[pid] for pid in person_ids if pid in self._views}

    def timeline(
        self,
        person_id: str,
        limit: int,
        before: tuple[datetime, str] | None = None,
        only: TimelineFilter | None = None,
        cut: Cut | None = None,
    ) -> list[TimelineEntry]:
        with self._lock:
            kept = [
                e
                for e in self._by_person.get(person_id, ())
                if (only is None or only.keeps(e)) and (cut is None or cut.keeps_entry(e))
            ]
        entries = one_row_per_message(kept)
        if before is not None:
            entries = [e for e in entries if (e.occurred_at, e.event_id) < before]
        return entries[:limit]

    def events_as_of(self, person_id: str, cut: Cut) -> tuple[Checkpoint | None, list[TimelineEntry]]:
        with self._lock:
            checkpoint = best_checkpoint(self._checkpoints.get(person_id, ()), cut)
            entries = [
                e
                for e in self._by_person.get(person_id, ())
                if cut.keeps_entry(e) and (checkpoint is None or not checkpoint.holds(e))
            ]
        return checkpoint, entries

    def timeline_after(
        self, person_ids: Sequence[str], marks: Mapping[Partition, int], limit: int
    ) -> list[TimelineEntry]:
        with self._lock:
            found = [
                e
                for pid in dict.fromkeys(person_ids)
                for e in self._by_person.get(pid, ())
                if e.offset >= marks.get((e.topic, e.partition), 0)
            ]
        return sorted(found, key=lambda e: (e.topic, e.partition, e.offset))[:limit]

    # --- directory queries: every view is a candidate; directory.py decides ----------------------

    def _all_references(self) -> References:
        with self._lock:
            organisations = {i: doc for (kind, i), doc in self._references.items() if kind == ORGANISATION}
            titles = self._references.get((TITLES, TITLES), {}).get("titles", {})
        return References(organisations, titles)

    def reference_data(self, organisation_ids: Iterable[str]) -> References:
        return self._all_references()

    def person_document(self, person_id: str, day: date) -> None:
        return None

    def ready_360(self, person_id: str, day: date) -> tuple[None, dict[str, dict[str, Any]]]:
        return None, self.offer_catalogue()

    async def ready_360_async(
        self, person_id: str, day: date, rider: None = None
    ) -> tuple[None, dict[str, dict[str, Any]]]:
        assert rider is None, "no statement to carry a write here"  # the embedded Auditor never rides
        return self.ready_360(person_id, day)

    def refresh_documents(self, day: date, limit: int) -> int:
        return 0

    def person_context(self, person_id: str, day: date, links: int) -> PersonContext:
        view = self.person(person_id)
        organisation_ids = list(dict.fromkeys(f.organisation_id for f in view.active_functions(day))) if view else []
        colleagues = self.colleagues(organisation_ids, day, person_id, links) if organisation_ids else []
        return PersonContext(view, self._all_references(), colleagues)

    def search_candidates(self, query: str, day: date, limit: int) -> tuple[list[PersonView], References]:
        with self._lock:
            views = list(self._views.values())
        return views, self._all_references()

    async def search_candidates_async(self, query: str, day: date, limit: int) -> tuple[list[PersonView], References]:
        """In a thread, and only those who match: here every person is read and checked, which the
        event loop must not wait for while it serves others."""
        return await asyncio.to_thread(self._matching, query, day, limit)

    def _matching(self, query: str, day: date, limit: int) -> tuple[list[PersonView], References]:
        views, refs = self.search_candidates(query, day, limit)
        return [v for v in views if v.merged_into is None and matches(v, refs, query, day)], refs

    def search_candidates_at(self, query: str, cut: Cut, limit: int) -> list[str]:
        words, refs = query.lower().split(), self._all_references()
        with self._lock:
            people = {pid: [e for e in entries if e.event_type in TRACED] for pid, entries in self._by_person.items()}
        found = (
            pid
            for pid, entries in sorted(people.items())
            if may_have_matched((e for e in entries if cut.keeps_entry(e)), words, refs)
        )
        return [pid for _, pid in zip(range(limit), found, strict=False)]

    def people_of(self, organisation_id: str, day: date, include_past: bool) -> list[PersonView]:
        with self._lock:
            views = list(self._views.values())
        return [
            v
            for v in views
            if any(
                f.organisation_id == organisation_id and (include_past or f.is_active_on(day))
                for f in v.functions.values()
            )
        ]

    def colleagues(self, organisation_ids: Iterable[str], day: date, excluding: str, first: int) -> list[Colleague]:
        with self._lock:
            views = list(self._views.values())
        return colleagues_of(views, organisation_ids, day, excluding, first)

    def targeting_candidates(self, criteria: Criteria, day: date) -> tuple[list[PersonView], References]:
        with self._lock:
            views = [v for v in self._views.values() if v.functions]
        return views, self._all_references()

    def campaign_counts(self, campaign: str) -> dict[tuple[str, str], int]:
        with self._lock:
            rows = [row for row in self._campaign_rows if row[0] == campaign]
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for _, channel, indicator, _ in rows:
            counts[(channel, indicator)] += 1
        return dict(counts)

    # --- analytics (projections/analytics.py folds what these return) --------------------------

    def campaign_events(self, campaign: str | None = None, cut: Cut | None = None) -> list[CampaignEvent]:
        with self._lock:
            entries = [
                e for e in self._entries.values() if e.channel is not None and (cut is None or cut.keeps_entry(e))
            ]
        firsts: dict[tuple, datetime] = {}
        lasts: dict[tuple, datetime] = {}
        for entry in entries:
            data = entry.data
            if data.get("campaign") is None or (campaign is not None and data["campaign"] != campaign):
                continue
            provider = (entry.message_key or "::").split(":")[1]
            key = (
                data["campaign"],
                entry.channel,
                entry.person_id,
                provider,
                entry.status or "",
                data.get("canonical_status"),
                data.get("bounce_type"),
            )
            if key not in firsts or entry.occurred_at < firsts[key]:
                firsts[key] = entry.occurred_at
            if key not in lasts or entry.occurred_at > lasts[key]:
                lasts[key] = entry.occurred_at
        return [
            CampaignEvent(c, ch, p, at, pr, s, cs, b, lasts[(c, ch, p, pr, s, cs, b)])
            for (c, ch, p, pr, s, cs, b), at in firsts.items()
        ]

    def function_interaction_counts(self, cut: Cut | None = None) -> list[FunctionCount]:
        with self._lock:
            if cut is not None:
                entries = [e for e in self._entries.values() if cut.keeps_entry(e)]
            else:
                views = list(self._views.values())
        return function_counts_at(entries) if cut is not None else function_counts(views)

    def lead_rules(self) -> dict[str, Any]:
        with self._lock:
            return lead_rules(self._references.get((LEAD_RULES, LEAD_RULES)))

    def lead_pipeline(self) -> list[tuple[str, str, str, str, int]]:
        with self._lock:
            # a lead lives in the view of the person its events are keyed by: each lead once
            leads = {lead_id: lead for view in self._views.values() for lead_id, lead in view.leads.items()}
        return pipeline_rows(leads.values())

    def service_request_queue(self, query: QueueQuery) -> list[QueueRow]:
        with self._lock:
            rows = [row for rows in self._queue.values() for row in rows]
        return page_of(rows, query)

    def organisation(self, organisation_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._references.get((ORGANISATION, organisation_id))

    def attribute_policy(self) -> dict[str, str]:
        with self._lock:
            return policy_levels(self._references.get((POLICY, POLICY)))

    def offer_catalogue(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return catalogue_offers(self._references.get((OFFERS, OFFERS)))

    def request_kinds(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return request_kinds(self._references.get((REQUEST_KINDS, REQUEST_KINDS)))
