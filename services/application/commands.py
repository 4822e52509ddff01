"""Running a command: a use case over the aggregates, retried when a concurrent request saved the
same aggregates first, answered with the places of its events in the event store."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from eventsourcing.persistence import IntegrityError

from channels.kafka import Position
from projections.ports import StoreUnavailable
from services.application.crossview import Crossview
from services.application.relay import EVENT_STORE, Marks, Relay, RelayPositions

T = TypeVar("T")


class ConcurrentUpdateError(Exception):
    """Other requests kept changing the same aggregates: nothing was stored, retry later (503)."""


def run_retrying(use_case: Callable[[Crossview], T], app: Crossview, attempts: int = 5) -> T:
    """Run a use case; when a concurrent request saved the same aggregate first (the event store's
    version check), run it again on what is stored now. A failed save stores nothing, and every use
    case loads what it changes, so running it again is safe."""
    for attempt in range(attempts):
        try:
            return use_case(app)
        except IntegrityError:
            time.sleep(random.uniform(0, 0.01 * 2**attempt))
    raise ConcurrentUpdateError(f"the same records changed concurrently {attempts} times; nothing was stored")


@dataclass
class Commands:
    """Runs a use case and answers once its events are stored, with their places in the event store:
    never waiting for the relay, which carries them to the log behind the answer, in whichever
    process holds the relay lock. ``landed`` tells a reader when they reached the log, and where."""

    app: Crossview
    relay: Relay
    checkpoints: RelayPositions

    def run(self, use_case: Callable[[Crossview], T]) -> tuple[T, list[Position]]:
        with self.app.recording_notifications() as stored:
            result = run_retrying(use_case, self.app)
        if stored:
            self.relay.nudge()  # the relay of this process, when it holds the lock, goes at once
        return result, [stored_position(notification_id) for notification_id in stored]

    def landed(self, notification_id: int) -> Marks | None:
        return self.checkpoints.landed(notification_id)

    def relayed(self, positions: list[Position]) -> bool:
        """Whether the relay already carried these stored events to the log. Asked after the
        command is stored: a database gone meanwhile answers "not yet", never an error that
        would make the client send a stored command again."""
        try:
            return not positions or self.landed(positions[-1].offset) is not None
        except StoreUnavailable:
            return False


def stored_position(notification_id: int) -> Position:
    """A stored event's place, written like a log position so that a client treats both alike:
    ``event-store:0:<notification id>`` is a valid min_position."""
    return Position(EVENT_STORE, 0, notification_id)


class SynchronousCommands(Commands):
    """The embedded default relays inside the command, so a command's events are in the view at once."""

    def run(self, use_case: Callable[[Crossview], T]) -> tuple[T, list[Position]]:
        result, positions = super().run(use_case)
        self.relay_all()
        return result, positions

    def relay_all(self) -> None:
        while self.relay.relay_once():
            pass
