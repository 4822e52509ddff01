"""The PostgreSQL projection store: one generation's read models with the offsets they reflect.

Its parts: the pool (postgres_pool), the generations and their DDL (postgres_generations), the
projector's transaction (postgres_transaction) and the queries (postgres_queries); this module
puts them behind the one port (ports.ProjectionStore).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from projections.as_of import Checkpoint, Cut
from projections.ports import GenerationChanged, Partition, TimelineFilter, TransactionLost
from projections.postgres_analytics import AnalyticsQueries
from projections.postgres_as_of import cut_condition, events_as_of
from projections.postgres_changes import channel_of
from projections.postgres_documents import Documents
from projections.postgres_generations import Generations
from projections.postgres_pool import DatabaseUnavailable, LoopConnections, open_pool, where
from projections.postgres_queries import PostgresQueries
from projections.postgres_request_queue import RequestQueueQueries
from projections.postgres_transaction import PostgresTransaction
from projections.timeline import TimelineEntry
from schemas.statuses import MEANINGS, PROVIDER_STATUSES, meaning

# The composition root and the tests open the pool where they build the store.
__all__ = ["DatabaseUnavailable", "PostgresStore", "open_pool", "where"]

# The lifecycle stage of a provider's status (the one table of schemas/statuses.py, as
# person_view.status_stage reads it), so SQL picks a message's latest status as the in-memory store does.
_STAGE_SQL = (
    "coalesce(CASE split_part(message_key, ':', 2) || ':' || status "
    + " ".join(
        f"WHEN '{provider}:{status}' THEN {meaning(mapped).stage}"
        for provider, statuses in PROVIDER_STATUSES.items()
        for status, mapped in statuses.items()
    )
    + " END, CASE status "
    + " ".join(f"WHEN '{status}' THEN {stage}" for status, (stage, *_) in MEANINGS.items())
    + " END, 1)"
)


class PostgresStore(PostgresQueries, AnalyticsQueries, RequestQueueQueries):
    """Reads and writes one generation; with ``follow_active`` it always targets the active one."""

    def __init__(self, pool: ConnectionPool, namespace: str, generation: int | None = None) -> None:
        self._pool = pool
        self._loop_connections = LoopConnections(pool.conninfo, pool.max_size)
        self._composed = {}
        self._namespace = namespace
        self._generations = Generations(pool, namespace)
        self.follow_active = generation is None
        self._read_generation_at = float("-inf")
        self._read_generation_cached = 0
        self.install()
        self.generation = generation if generation is not None else self.active_generation()

    # --- generations ------------------------------------------------------------------------

    def install(self) -> None:
        """Create the meta tables and generation 1 if this namespace is new (safe to race)."""
        self._generations.install()

    def active_generation(self) -> int:
        return self._generations.active_generation()

    def new_generation(self) -> int:
        """An empty, inactive generation for a rebuild."""
        return self._generations.new_generation()

    def activate(self, generation: int) -> int:
        """Point queries and the live projector at ``generation``; drop the one before the previous."""
        return self._generations.activate(generation)

    # --- the projector's side ---------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[PostgresTransaction]:
        try:
            with self._pool.connection() as conn, conn.transaction():
                if self.follow_active:
                    # FOR SHARE holds off a rebuild's switch until this batch is committed.
                    active = self._generations.locked_active(conn, "SHARE")
                    if active != self.generation:
                        self.generation = active
                        raise GenerationChanged(f"active generation is now {active}")
                live = channel_of(self._namespace) if self.follow_active else None  # a rebuild announces nothing
                yield PostgresTransaction(conn, self._generations.schema(self.generation), live)
        except psycopg.errors.TransactionRollback as error:  # a deadlock, say: the batch is tried again
            raise TransactionLost(str(error).strip()) from error

    def refresh_documents(self, day: date, limit: int) -> int:
        """Rewrite up to ``limit`` stale documents and links rows (each in a transaction of its
        own); how many were rewritten."""
        done = 0
        for refresh in (Documents.refresh_people, Documents.refresh_organisations):
            with self.transaction() as tx:
                done += refresh(tx.documents(), day, limit)
        return done

    def offsets(self, partitions: Iterable[Partition]) -> dict[Partition, int]:
        stored = self._all_offsets(self.generation)
        return {p: stored.get(p, 0) for p in partitions}

    def _all_offsets(self, generation: int) -> dict[Partition, int]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                sql.SQL("SELECT topic, partition, next_offset FROM {schema}.offsets").format(
                    schema=self._generations.schema(generation)
                )
            ).fetchall()
        return {(topic, partition): offset for topic, partition, offset in rows}

    # --- queries (always the active generation) ---------------------------------------------

    def _read_generation(self) -> int:
        """The generation queries read. Looked up at most once a second: after a rebuild's switch the
        previous generation is kept one more round, so a query that still reads it finishes."""
        if not self.follow_active:
            return self.generation
        now = time.monotonic()
        if now - self._read_generation_at > 1.0:
            self._read_generation_cached = self.active_generation()
            self._read_generation_at = now
        return self._read_generation_cached

    def _read_schema(self) -> sql.Identifier:
        return self._generations.schema(self._read_generation())

    def position(self) -> dict[Partition, int]:
        return self._all_offsets(self._read_generation())

    def events_as_of(self, person_id: str, cut: Cut) -> tuple[Checkpoint | None, list[TimelineEntry]]:
        return events_as_of(self._rows, person_id, cut)

    def timeline(
        self,
        person_id: str,
        limit: int,
        before: tuple[datetime, str] | None = None,
        only: TimelineFilter | None = None,
        cut: Cut | None = None,
    ) -> list[TimelineEntry]:
        # One row per message (its latest event, with every status it went through), newest first.
        page = "WHERE (occurred_at, event_id) < (%s, %s)" if before else ""
        only = only or TimelineFilter()
        travelled, cut_params = cut_condition(cut, {}) if cut is not None else ("true", [])
        rows = self._rows(
            f"WITH events AS (SELECT *, coalesce(message_key, event_id) AS message, {_STAGE_SQL} AS stage "
            "  FROM {schema}.timeline WHERE person_id = %s "
            "  AND (%s::text IS NULL OR channel = %s) AND (%s::text IS NULL OR data->>'function_id' = %s) "
            f"  AND {travelled}), "
            "latest AS (SELECT DISTINCT ON (message) * FROM events "
            "  ORDER BY message, stage DESC, occurred_at DESC, event_id DESC) "
            "SELECT person_id, event_id, event_type, channel, occurred_at, data::text, topic, partition, kafka_offset, "
            "  message_key, status, (SELECT array_agg(e.status ORDER BY e.stage, e.occurred_at, e.event_id) "
            "    FROM events e WHERE e.message = latest.message AND e.status IS NOT NULL) "
            f"FROM latest {page} ORDER BY occurred_at DESC, event_id DESC LIMIT %s",
            (
                person_id,
                only.channel,
                only.channel,
                only.function_id,
                only.function_id,
                *cut_params,
                *(before or ()),
                limit,
            ),
        )
        return [TimelineEntry(*row[:5], row[5].encode(), *row[6:11], tuple(row[11] or ())) for row in rows]
