"""The relay: carries every stored domain event to Kafka, in order, at least once.

It follows the application's notification log from the position it last recorded, publishes
each event (acknowledged by the broker) and only then records the new position. A crash between
the two republishes the same events with the same ids, which the projector drops as duplicates.
One relay is active per namespace at a time (a PostgreSQL advisory lock), so order holds.

Commands never wait for it: they answer with the notification ids of what they stored, and a
reader waits until the relay's checkpoint passed them and the read model passed that checkpoint's
marks (``landed``). Any process can read the checkpoints, whichever process relays.
"""

from __future__ import annotations

import bisect
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from eventsourcing.persistence import InterfaceError, OperationalError

from channels.kafka import BrokerUnavailable, Position
from channels.memory import MemoryDeadLetters
from projections.ports import DeadLetterSink, StoreUnavailable
from schemas.envelope import CloudEvent, WireRecord
from services.application.crossview import Crossview
from services.application.wire import to_cloud_event, wire_data

log = logging.getLogger(__name__)

EVENT_STORE = "event-store"  # the origin a relay's dead letter names: the notification log, not a topic


Marks = dict[tuple[str, int], int]  # (topic, partition) -> the highest offset published there


@dataclass(frozen=True)
class Checkpoint:
    """How far the relay got: every notification up to ``notification_id`` is on the log, and no
    partition holds a relayed record beyond ``marks`` (cumulative over every relay before it)."""

    notification_id: int = 0
    marks: Marks = field(default_factory=dict)


class RelayPositions(Protocol):
    def load(self) -> Checkpoint: ...

    def save(self, checkpoint: Checkpoint) -> None: ...

    def landed(self, notification_id: int) -> Marks | None:
        """The marks of the first checkpoint at or past ``notification_id``: once the read model has
        passed them, it holds that stored event. None while it is not relayed."""
        ...


class MemoryRelayPositions:
    def __init__(self, keep: int = 10_000) -> None:
        self._checkpoints: list[Checkpoint] = []
        self._keep = keep

    def load(self) -> Checkpoint:
        return self._checkpoints[-1] if self._checkpoints else Checkpoint()

    def save(self, checkpoint: Checkpoint) -> None:
        self._checkpoints.append(checkpoint)
        del self._checkpoints[: -self._keep]

    def landed(self, notification_id: int) -> Marks | None:
        ids = [c.notification_id for c in self._checkpoints]
        at = bisect.bisect_left(ids, notification_id)
        return self._checkpoints[at].marks if at < len(ids) else None


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
        self._wake = threading.Event()

    def relay_once(self) -> int:
        """Publish the next notifications; returns how many were read. A stored event that cannot
        be published (outside the event contract, say) is dead-lettered with the reason, and the
        relay goes on: nothing stored can stall the log."""
        checkpoint = self._positions.load()
        notifications = self._app.recorder.select_notifications(start=checkpoint.notification_id + 1, limit=self._batch)
        if not notifications:
            return 0
        pending, refused = [], 0
        for notification in notifications:
            try:
                event = self._app.mapper.to_domain_event(notification)
                data = wire_data(event)
                if data is not None:
                    pending.append(to_cloud_event(event, data))
            except Exception as error:  # noqa: BLE001 - whatever the cause, one event must not stop the others
                self._dead_letters.send(_dead_letter(notification), f"{type(error).__name__}: {error}"[:2000])
                log.error("relay: stored event %s cannot be published; dead-lettered: %s", notification.id, error)
                refused += 1
        marks = dict(checkpoint.marks)
        for position in self._publish(pending) if pending else []:
            where = (position.topic, position.partition)
            marks[where] = max(marks.get(where, -1), position.offset)
        if refused:
            self._dead_letters.flush()  # acknowledged before the position moves past them
        self._positions.save(Checkpoint(notifications[-1].id, marks))
        return len(notifications)

    def nudge(self) -> None:
        """Something was just stored: relay now rather than at the next idle poll."""
        self._wake.set()

    def lag(self) -> int:
        """Notifications stored but not yet recorded as published (by whichever relay is active)."""
        return last_notification_id(self._app) - self._positions.load().notification_id

    def run(self, stop: threading.Event, idle_s: float = 0.05, lock: Callable[[], bool] = lambda: True) -> None:
        """Relay until ``stop``; ``lock()`` says whether this process may be the active relay."""
        while not stop.is_set():
            try:
                if lock() and self.relay_once():
                    continue
            except (BrokerUnavailable, StoreUnavailable, OperationalError, InterfaceError) as error:
                log.warning("relay: %s; retrying in 1 s", error)  # away for a while: one line a second
                stop.wait(1)
            except Exception:  # anything else is a bug worth its traceback; the relay still goes on
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
