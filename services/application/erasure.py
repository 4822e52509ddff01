"""Erasing a person at their request (GDPR article 17), in the order that leaves nothing behind.

1. The erasure is recorded (an ``Erasure`` aggregate): the relay carries it to the log, where every
   projection turns the person's view into counts alone and empties their timeline.
2. Their data keys are destroyed: every personal field they ever had on the log is unreadable.
3. Their own aggregates (the person, the contact points that lead to them, the service requests
   opened for them, their leads) leave the event store: nothing there names them, and their
   addresses are free for whoever uses them next.
Each step can be repeated, so a request that failed half-way is simply sent again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from channels.kafka import Position
from projections.data_keys import DataKeys
from services.application.crossview import Crossview

Purge = Callable[[list[uuid.UUID]], None]  # removes these aggregates' stored events


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
        family, theirs = self.app.erasure_plan(person_id)
        today = datetime.now(UTC).date()
        _, positions = self.run(lambda app: app.record_erasure(family, today))
        self.keys.destroy([str(p) for p in family])
        self.purge([*family, *theirs, *self.app.leads_of(family)])
        return Erased([str(p) for p in family], positions)
