"""The relay: carries every stored domain event to Kafka, in order, at least once.

It follows the application's notification log from the position it last recorded, publishes
each event (acknowledged by the broker) and only then records the new position. A crash between
the two republishes the same events with the same ids, which the projector drops as duplicates.
One relay is active per namespace at a time (a PostgreSQL advisory lock), so order holds.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from eventsourcing.domain import DomainEvent

from channels.kafka import Position
from domain.contact_point import ContactPoint
from domain.erasure import Erasure
from domain.organisation import Organisation
from domain.person import Person
from domain.referential import AttributePolicy, TitleReferential
from schemas.envelope import CloudEvent
from schemas.events import (
    AttributeLevelSet,
    AttributeSet,
    ContactPointAdded,
    ContactPointRemoved,
    EventData,
    FunctionAssigned,
    FunctionEnded,
    FunctionsReprioritised,
    OrganisationRegistered,
    OrganisationRelationshipChanged,
    PersonErased,
    PersonJoined,
    PersonMerged,
    PersonRegistered,
    PersonRenamed,
    PersonRestored,
    PersonSeparated,
    TitleDefined,
    TitleRetired,
)
from services.application import Crossview

log = logging.getLogger(__name__)

SOURCE = "crossview/relay"


def wire_data(event: DomainEvent) -> EventData | None:
    """The wire event for a stored domain event; None for bookkeeping events nobody reads."""
    match event:
        case Person.Registered():
            return PersonRegistered(
                given_name=event.given_name,
                family_name=event.family_name,
                provisional=getattr(event, "provisional", False),
            )
        case Person.Renamed():
            return PersonRenamed(given_name=event.given_name, family_name=event.family_name)
        case Person.ContactPointAdded():
            return ContactPointAdded(kind=event.kind, address=event.address)
        case Person.Joined():
            return PersonJoined(absorbed_id=event.absorbed_id)
        case Person.MergedInto():
            return PersonMerged(survivor_id=event.survivor_id)
        case Person.Separated():
            return PersonSeparated(absorbed_id=event.absorbed_id)
        case Person.Restored():
            return PersonRestored(former_survivor_id=event.former_survivor_id)
        case Person.ContactPointRemoved():
            return ContactPointRemoved(kind=event.kind, address=event.address)
        case Person.FunctionAssigned():
            return FunctionAssigned(
                function_id=event.function_id,
                organisation_id=event.organisation_id,
                title_code=event.title_code,
                entered_on=event.entered_on,
                exits_on=event.exits_on,
            )
        case Person.FunctionEnded():
            return FunctionEnded(function_id=event.function_id, exited_on=event.exited_on)
        case Person.FunctionsReprioritised():
            return FunctionsReprioritised(function_ids=event.function_ids)
        case Person.AttributeSet():
            return AttributeSet(name=event.name, value=event.value, function_id=event.function_id)
        case Organisation.Registered():
            return OrganisationRegistered(name=event.name, kind=event.kind, relationship=event.relationship)
        case Organisation.RelationshipChanged():
            return OrganisationRelationshipChanged(relationship=event.relationship, since=event.since)
        case TitleReferential.TitleDefined():
            return TitleDefined(code=event.code, label=event.label)
        case TitleReferential.TitleRetired():
            return TitleRetired(code=event.code)
        case Erasure.Erased():
            return PersonErased(erased_on=event.erased_on)
        case AttributePolicy.LevelSet():
            return AttributeLevelSet(attribute=event.attribute, level=event.level)
        case (
            TitleReferential.Started()
            | AttributePolicy.Started()
            | ContactPoint.Claimed()
            | ContactPoint.CarrierChanged()
            | ContactPoint.Reassigned()
        ):
            return None  # bookkeeping of the write side: the index lives in the event store
    raise TypeError(f"no wire event for {type(event).__qualname__}: add one to services/relay.py")


def to_cloud_event(event: DomainEvent, data: EventData) -> CloudEvent:
    originator: uuid.UUID = event.originator_id
    # An erasure is about the person, whose own aggregate is gone from the store: their id is the subject.
    subject = event.person_id if isinstance(event, Erasure.Erased) else str(originator)
    return CloudEvent(
        id=f"{originator}:{event.originator_version}",  # the same stored event always gets the same id
        source=SOURCE,
        type=data.event_type,
        subject=subject,
        time=event.timestamp,
        data=data.model_dump(mode="json"),
    )


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
    def __init__(self, app: Crossview, publish: Publish, positions: RelayPositions, batch: int = 500) -> None:
        self._app = app
        self._publish = publish
        self._positions = positions
        self._batch = batch
        self._published = threading.Condition()
        self._last_id = positions.load()
        self._recent: OrderedDict[int, Position] = OrderedDict()  # notification id -> where it landed
        self._wake = threading.Event()

    def relay_once(self) -> int:
        """Publish the next notifications; returns how many were read."""
        start = self._positions.load() + 1
        notifications = self._app.recorder.select_notifications(start=start, limit=self._batch)
        if not notifications:
            return 0
        pending = []
        for notification in notifications:
            event = self._app.mapper.to_domain_event(notification)
            data = wire_data(event)
            if data is not None:
                pending.append((notification.id, to_cloud_event(event, data)))
        positions = self._publish([cloud for _, cloud in pending]) if pending else []
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
