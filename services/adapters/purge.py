"""Removing erased aggregates' stored events from the event store, in PostgreSQL or in memory."""

from __future__ import annotations

import threading
import uuid

import psycopg
from psycopg import sql

from domain.erasure import Purged
from services.application.crossview import Crossview
from services.application.erasure import Purge
from services.settings import Settings


def postgres_purge(settings: Settings, app: Crossview) -> Purge:
    statement = sql.SQL("DELETE FROM {schema}.{table} WHERE originator_id = ANY(%s)").format(
        schema=sql.Identifier(f"{settings.namespace}_events"),
        table=sql.Identifier(app.recorder.events_table_name),  # type: ignore[attr-defined]
    )

    def purge(aggregate_ids: list[uuid.UUID]) -> None:
        with psycopg.connect(settings.database_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(statement, (aggregate_ids,))

    return purge


def memory_purge(app: Crossview) -> Purge:
    """The in-memory event store keeps a list (the notification log) and an index by aggregate: the
    aggregates leave the index, and each of their entries in the list becomes a ``Purged`` event."""
    recorder = app.recorder
    lock: threading.Lock = recorder._database_lock  # type: ignore[attr-defined]

    def purge(aggregate_ids: list[uuid.UUID]) -> None:
        with lock:
            for aggregate_id in aggregate_ids:
                index = recorder._stored_events_index.pop(str(aggregate_id), {})  # type: ignore[attr-defined]
                for position in index.values():
                    stored = recorder._stored_events[position]  # type: ignore[attr-defined]
                    purged = Purged(stored.originator_id, stored.originator_version, Purged.create_timestamp())
                    recorder._stored_events[position] = app.mapper.to_stored_event(purged)  # type: ignore[attr-defined]

    return purge
