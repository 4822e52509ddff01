"""The relay: carries every stored domain event to Kafka, in order, at least once.

It follows the application's notification log from the position it last recorded, publishes
each event (acknowledged by the broker) and only then records the new position. A crash between
the two republishes the same events with the same ids, which the projector drops as duplicates.
One relay is active per namespace at a time (a PostgreSQL advisory lock), so order holds.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from channels.kafka import Position
from channels.memory import MemoryDeadLetters
from projections.ports import DeadLetterSink
from schemas.envelope import CloudEvent, WireRecord
from services.application import Crossview
from services.wire import to_cloud_event, wire_data

log = logging.getLogger(__name__)

EVENT_STORE = "event-store"  # the origin a relay's dead letter names: the notification log, not a topic


class RelayPositions(Protocol):
    def load(self) -> int: ...

    def save(self, notification_id: int) -> None: ...


class MemoryRelayPositions:
    def __init__(self) -> None:
        self.notification_id = 0

    def load(self) -> int:
        return self.notification_id

    def save(self, notification_id: int) -> None:
        self.notification_id = notification_id


class Publish(Protocol):
    def __call__(self, events: list[CloudEvent]) -> list[Position]: ...


class Relay:
    def __init__(
        self,
        app: Crossview,
        publish: Publish,
        positions: RelayPositions,
        batch: int = 500,
        dead_letters: DeadLetterSink | None = None,
    ) -> None:
        self._app = app
        self._publish = publish
        self._positions = positions
        self._batch = batch
        self._dead_letters = dead_letters if dead_letters is not None else MemoryDeadLetters()
        self._published = threading.Condition()
        self._last_id = positions.load()
        self._recent: OrderedDict[int, Position] = OrderedDict()  # notification id -> where it landed
        self._wake = threading.Event()

    def relay_once(self) -> int:
        """Publish the next notifications; returns how many were read. A stored event that cannot
        be published (outside the event contract, say) is dead-lettered with the reason, and the
        relay goes on: nothing stored can stall the log."""
        start = self._positions.load() + 1
        notifications = self._app.recorder.select_notifications(start=start, limit=self._batch)
        if not notifications:
            return 0
        pending, refused = [], 0
        for notification in notifications:
            try:
                event = self._app.mapper.to_domain_event(notification)
                data = wire_data(event)
                if data is not None:
                    pending.append((notification.id, to_cloud_event(event, data)))
            except Exception as error:  # noqa: BLE001 - whatever the cause, one event must not stop the others
                self._dead_letters.send(_dead_letter(notification), f"{type(error).__name__}: {error}"[:2000])
                log.error("relay: stored event %s cannot be published; dead-lettered: %s", notification.id, error)
                refused += 1
        positions = self._publish([cloud for _, cloud in pending]) if pending else []
        if refused:
            self._dead_letters.flush()  # acknowledged before the position moves past them
        last_id = notifications[-1].id
        self._positions.save(last_id)
        with self._published:
            self._last_id = last_id
            for (notification_id, _), position in zip(pending, positions, strict=True):
                self._recent[notification_id] = position
            while len(self._recent) > 10_000:
                self._recent.popitem(last=False)
            self._published.notify_all()
        return len(notifications)

    def positions_of(self, first_id: int, last_id: int, timeout_s: float) -> list[Position] | None:
        """Where notifications first_id..last_id landed on Kafka, once relayed; None on time-out."""
        self._wake.set()
        with self._published:
            if not self._published.wait_for(lambda: self._last_id >= last_id, timeout=timeout_s):
                return None
            return [self._recent[i] for i in range(first_id, last_id + 1) if i in self._recent]

    def lag(self) -> int:
        """Notifications stored but not yet recorded as published (by whichever relay is active)."""
        return last_notification_id(self._app) - self._positions.load()

    def run(self, stop: threading.Event, idle_s: float = 0.05, lock: Callable[[], bool] = lambda: True) -> None:
        """Relay until ``stop``; ``lock()`` says whether this process may be the active relay."""
        while not stop.is_set():
            try:
                if lock() and self.relay_once():
                    continue
            except Exception:  # the broker or the database is away: say so, wait, try again
                log.exception("relay: publishing failed; retrying")
                stop.wait(1)
            self._wake.wait(idle_s)
            self._wake.clear()


def last_notification_id(app: Crossview) -> int:
    return app.recorder.max_notification_id() or 0


def _dead_letter(notification) -> WireRecord:
    """A stored event as a dead letter: where it is in the notification log, and what it holds."""
    value = {
        "notification_id": notification.id,
        "originator_id": str(notification.originator_id),
        "originator_version": notification.originator_version,
        "topic": notification.topic,
        "state": bytes(notification.state).decode(errors="replace"),
    }
    return WireRecord(
        topic=EVENT_STORE,
        partition=0,
        offset=notification.id,
        key=str(notification.originator_id).encode(),
        value=json.dumps(value).encode(),
        headers=(
            ("ce_type", notification.topic.encode()),
            ("ce_id", f"{notification.originator_id}:{notification.originator_version}".encode()),
        ),
    )
