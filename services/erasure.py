"""Erasing a person at their request (GDPR article 17), in the order that leaves nothing behind.

1. The erasure is recorded (an ``Erasure`` aggregate): the relay carries it to the log, where every
   projection turns the person's view into counts alone and empties their timeline.
2. Their data keys are destroyed: every personal field they ever had on the log is unreadable.
3. Their own aggregates (the person, and the contact points that lead to them) leave the event
   store: nothing there names them, and their addresses are free for whoever uses them next.
Each step can be repeated, so a request that failed half-way is simply sent again.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from channels.kafka import Position
from domain.erasure import Purged
from projections.data_keys import DataKeys
from services.application import Crossview
from services.settings import Settings

Purge = Callable[[list[uuid.UUID]], None]  # removes these aggregates' stored events


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


@dataclass(frozen=True)
class Erased:
    person_ids: list[str]
    positions: list[Position]  # where the erasures are stored (event-store positions, for min_position)
    already: bool = False


@dataclass
class Eraser:
    run: Callable  # Commands.run: a use case, then the positions of its events
    app: Crossview
    keys: DataKeys
    purge: Purge

    def erase(self, person_id: uuid.UUID) -> Erased:
        if self.app.is_erased(person_id):
            return Erased([str(person_id)], [], already=True)
        family, contact_points = self.app.erasure_plan(person_id)
        today = datetime.now(UTC).date()
        _, positions = self.run(lambda app: app.record_erasure(family, today))
        self.keys.destroy([str(p) for p in family])
        self.purge([*family, *contact_points])
        return Erased([str(p) for p in family], positions)
