"""The ports the projector and the queries need; adapters live in memory_store and postgres_store."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from projections.analytics import CampaignEvent, FunctionCount
from projections.as_of import Checkpoint, Cut
from projections.audit_view import AuditEntry
from projections.directory import Colleague, Criteria, PersonContext, References
from projections.person_model import PersonView
from projections.reference_view import Key as ReferenceKey
from projections.request_queue import QueueQuery, QueueRow
from projections.timeline import TimelineEntry
from schemas.envelope import WireRecord

Partition = tuple[str, int]  # (topic, partition)


class StaleOffsets(RuntimeError):
    """The stored offset of a partition is not where this projector started its batch:
    another member took the partition over and moved on. The batch must not be committed."""


class StoreUnavailable(RuntimeError):
    """The read models' storage did not answer (a database restarting, a connection cut): nothing
    of the batch was committed, so the projector resumes from the stored offsets once it answers."""


class TransactionLost(RuntimeError):
    """The store gave up one transaction to let a concurrent one finish (a deadlock, a
    serialisation failure): nothing of it is committed, and it is tried again."""


class GenerationChanged(RuntimeError):
    """A rebuild switched the active read model: reload offsets from the new generation."""


class ProjectionTransaction(Protocol):
    def claim(self, entries: Sequence[TimelineEntry]) -> set[str]:
        """Record the entries whose event ids were never seen; return those ids."""

    def views(self, person_ids: Iterable[str]) -> dict[str, PersonView]: ...

    def save_views(
        self,
        views: Iterable[PersonView],
        profile_changed: Iterable[str] = (),
        before: Mapping[str, PersonView] | None = None,
    ) -> None:
        """Store the views; ``profile_changed`` names the people whose functions, attributes or name
        changed, whose search and roster entries must be rewritten; ``before``, the views as they
        were before this batch (those the projector kept as well as those read here), tells which
        rows of the other read models (the service desk's queue) changed."""

    def references(self, keys: Iterable[ReferenceKey]) -> dict[ReferenceKey, dict[str, Any]]: ...

    def save_references(self, documents: Mapping[ReferenceKey, dict[str, Any]]) -> None: ...

    def record_campaign_reach(self, rows: set[tuple[str, str, str, str]]) -> None:
        """Add (campaign, channel, indicator, person) facts; one already there changes nothing."""

    def redact_timelines(self, person_ids: Iterable[str]) -> None:
        """Empty the data of every timeline entry of these (erased) people, and drop their
        checkpoints (projections/as_of.py); the entries stay, so a duplicate of their events is
        still known as one."""

    def save_checkpoints(self, checkpoints: Iterable[Checkpoint]) -> None:
        """Keep these views aside for time travel (projections/as_of.py); one already there stays."""

    def record_audit(self, entries: Sequence[AuditEntry]) -> None:
        """Add access records; one already there (same event id) changes nothing."""

    def save_documents(
        self,
        views: Iterable[PersonView],
        organisations: Iterable[str],
        changed_references: Iterable[tuple[str, str]],
        day: date,
    ) -> None:
        """Keep ready 360° documents (a store may keep none): those of ``views`` and the links of
        ``organisations`` as of ``day``; whatever shows a changed reference (an organisation
        ``("organisation", id)`` or a title ``("titles", code)``) made again or marked stale."""

    def advance(self, new: Mapping[Partition, int], expected: Mapping[Partition, int]) -> None:
        """Move each partition's offset from ``expected`` to ``new``; StaleOffsets if it is elsewhere."""

    def announce(self, person_ids: Iterable[str]) -> None:
        """Tell every API process, once this transaction commits (and only then), that these people's
        read models changed (projections/changes.py)."""


class ProjectionStore(Protocol):
    """Where the person view and timeline live, with the offsets they reflect."""

    def transaction(self) -> AbstractContextManager[ProjectionTransaction]:
        """One atomic unit: the rows and the offsets are written together or not at all."""

    def offsets(self, partitions: Iterable[Partition]) -> dict[Partition, int]:
        """The next offset to read for each partition (0 when never read)."""

    def position(self) -> dict[Partition, int]:
        """Every partition's next offset: the point in the log the read model reflects."""

    def person(self, person_id: str) -> PersonView | None: ...

    def persons(self, person_ids: Iterable[str]) -> dict[str, PersonView]: ...

    def reference_data(self, organisation_ids: Iterable[str]) -> References:
        """The given organisations and every function title."""

    def person_document(self, person_id: str, day: date) -> tuple[str, list[tuple[str, list[str], list[str]]]] | None:
        """The ready parts of the person's 360° view on ``day`` (person_document.splice puts them
        together), or None where none holds: the view is then made from ``person_context``."""

    def ready_360(
        self, person_id: str, day: date
    ) -> tuple[tuple[str, list[tuple[str, list[str], list[str]]]] | None, dict[str, dict[str, Any]]]:
        """``person_document`` and the offer catalogue a 360° answer needs with it (kept by the
        store between changes: the answer's one read stays one)."""

    async def ready_360_async(
        self, person_id: str, day: date, rider: Any = None
    ) -> tuple[tuple[str, list[tuple[str, list[str], list[str]]]] | None, dict[str, dict[str, Any]]]:
        """``ready_360`` for the event loop, without a thread; ``rider``: a write (statement and
        parameters) made in the read's own statement, where the store can (else it must be None)."""

    def refresh_documents(self, day: date, limit: int) -> int:
        """Make again up to ``limit`` ready documents that went stale; how many."""

    def person_context(self, person_id: str, day: date, links: int) -> PersonContext:
        """What a 360° view needs, at once: the person's view (None if unknown), the references of
        their functions active on ``day`` (at least those organisations, and every title), and the
        first ``links`` people of each of those organisations (as ``colleagues`` gives them)."""

    def search_candidates(self, query: str, day: date, limit: int) -> tuple[list[PersonView], References]:
        """People who may match ``query`` (a superset of directory.matches), with their references."""

    async def search_candidates_async(self, query: str, day: date, limit: int) -> tuple[list[PersonView], References]:
        """``search_candidates`` for the event loop, without a thread."""

    def search_candidates_at(self, query: str, cut: Cut, limit: int) -> list[str]:
        """Up to ``limit`` ids of people who may have matched ``query`` as the log stood at the cut:
        a superset of those who did (projections/search_at.py), whom the answer folds at the cut."""

    def people_of(self, organisation_id: str, day: date, include_past: bool) -> list[PersonView]:
        """People with a function at the organisation: active on ``day``, or ever if include_past."""

    def colleagues(self, organisation_ids: Iterable[str], day: date, excluding: str, first: int) -> list[Colleague]:
        """For each organisation, the first ``first`` people other than ``excluding`` with a function
        active there on ``day``, in (family name, given name, person id) order, missing names as "" and
        in code point order; one row for each of their active functions there. A bounded read,
        whatever the organisation's size."""

    def targeting_candidates(self, criteria: Criteria, day: date) -> tuple[list[PersonView], References]:
        """People with at least one function that may meet ``criteria``, with their references."""

    def organisation(self, organisation_id: str) -> dict[str, Any] | None: ...

    def attribute_policy(self) -> dict[str, str]:
        """The projected attribute ownership policy: attribute -> "person" or "function"."""

    def offer_catalogue(self) -> dict[str, dict[str, Any]]:
        """The projected offer catalogue: code -> terms (reference_view.catalogue_offers)."""

    def request_kinds(self) -> dict[str, dict[str, Any]]:
        """The projected kinds of service request: code -> label, service_level_hours, retired."""

    def campaign_counts(self, campaign: str) -> dict[tuple[str, str], int]:
        """Distinct people per (channel, indicator) of the campaign."""

    def campaign_events(self, campaign: str | None = None, cut: Cut | None = None) -> list[CampaignEvent]:
        """Each person's first moment at each status of each message of ``campaign`` (None: every
        campaign): what projections/analytics.py makes the indicators over time of. With a ``cut``,
        only from the events it keeps (time travel: projections/as_of.py)."""

    def function_interaction_counts(self, cut: Cut | None = None) -> list[FunctionCount]:
        """Interactions per (title code, organisation id, channel) of the functions they were
        attributed to, from every person view; (None, None, channel) for those attributed to none.
        With a ``cut``, from the events it keeps (analytics.function_counts_at)."""

    def lead_rules(self) -> dict[str, Any]:
        """The projected lead rules: {"sizes": {medium, large}, "routes": {size: {channel, owner}}}."""

    def lead_pipeline(self) -> list[tuple[str, str, str, str, int]]:
        """Leads per (stage, owner, source, prescriber), every lead once: projections/leads.pipeline
        reads them."""

    def service_request_queue(self, query: QueueQuery) -> list[QueueRow]:
        """One page of the service requests of everyone (projections/request_queue.py): those the
        query keeps, breached first, then the earliest due."""

    def audit_of(self, subjects: Sequence[str], limit: int) -> list[AuditEntry]:
        """The access records of ``subjects`` (a person's ids: theirs and those joined into them), newest first."""

    def timeline(
        self,
        person_id: str,
        limit: int,
        before: tuple[datetime, str] | None = None,
        only: TimelineFilter | None = None,
        cut: Cut | None = None,
    ) -> list[TimelineEntry]:
        """Newest first; ``before`` is the (occurred_at, event_id) of the last entry of the previous page;
        with a ``cut``, only the events it keeps (a message's statuses as they were then)."""

    def events_as_of(self, person_id: str, cut: Cut) -> tuple[Checkpoint | None, list[TimelineEntry]]:
        """The person's own events the cut keeps, less those in the returned checkpoint (the one with
        the most events among those that serve the cut; None if none does): as_of.view_as_of folds them."""

    def timeline_after(
        self, person_ids: Sequence[str], marks: Mapping[Partition, int], limit: int
    ) -> list[TimelineEntry]:
        """The timeline entries of these people (one per event, not grouped) at or past each partition's
        mark (0 where none), in log order on each partition: what a live stream has not sent yet."""


@dataclass(frozen=True)
class TimelineFilter:
    """Part of a timeline: one channel's entries, or the interactions attributed to one function."""

    channel: str | None = None
    function_id: str | None = None

    def keeps(self, entry: TimelineEntry) -> bool:
        return (self.channel is None or entry.channel == self.channel) and (
            self.function_id is None or entry.data.get("function_id") == self.function_id
        )


class ContactPointRouter(Protocol):
    """Puts events that a producer keyed by a contact point (``mailto:``, ``tel:``) where they
    belong: each is published again, the same event (same id), under the person the contact point
    leads to (a provisional one when nobody has it yet), so it lands on that person's partition."""

    def reroute(self, addressed: Sequence[tuple[WireRecord, str, str]]) -> list[tuple[WireRecord, str]]:
        """Publish (record, kind, address) again under their people, acknowledged; returns the
        records that cannot be (an invalid address), with the reason, for the dead letters.
        StoreUnavailable or a broker error: nothing is to be taken as done."""


class DeadLetterSink(Protocol):
    def send(self, record: WireRecord, reason: str) -> None: ...

    def flush(self) -> None:
        """Return only once every dead letter sent is durably stored."""
