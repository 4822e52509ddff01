"""Decoding Kafka records into typed facts, the input of every fold."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.envelope import CloudEvent, EnvelopeError, WireRecord, from_binary
from schemas.events import EventData, InvalidEventData, UnknownEventType, parse_data


class UndecodableRecord(ValueError):
    """A record that is not an event this version can read; it belongs in the dead-letter topic."""


@dataclass(frozen=True, slots=True)
class Fact:
    """A decoded event and where it sits in the log."""

    envelope: CloudEvent
    data: EventData
    topic: str
    partition: int
    offset: int

    @property
    def event_id(self) -> str:
        return self.envelope.id

    @property
    def subject(self) -> str:
        return self.envelope.subject


def decode(record: WireRecord) -> Fact:
    try:
        envelope = from_binary(record)
        data = parse_data(envelope)
    except (EnvelopeError, UnknownEventType, InvalidEventData) as error:
        raise UndecodableRecord(f"{type(error).__name__}: {error}") from error
    if record.key is not None and record.key != envelope.subject.encode():
        raise UndecodableRecord(
            f"KeyMismatch: record key {record.key!r} is not the subject {envelope.subject!r}; "
            "a person's events must share a partition to keep their order"
        )
    return Fact(envelope, data, record.topic, record.partition, record.offset)
