"""Decoding Kafka records into typed facts, the input of every fold."""

from __future__ import annotations

import json
from datetime import datetime
from typing import NamedTuple

from schemas.envelope import CloudEvent, EnvelopeError, WireRecord, read_attributes
from schemas.events import EventData, InvalidEventData, UnknownEventType, parse_data, parse_data_json


class UndecodableRecord(ValueError):
    """A record that is not an event this version can read; it belongs in the dead-letter topic."""


class Fact(NamedTuple):
    """A decoded event and where it sits in the log; ``raw_data`` is its data as the JSON it came in."""

    event_id: str
    event_type: str
    subject: str
    time: datetime
    data: EventData
    raw_data: bytes
    topic: str
    partition: int
    offset: int


def decode(record: WireRecord) -> Fact:
    """The fact a record carries. The hot path of every projection: pydantic parses the JSON
    and checks it in one pass, and no intermediate CloudEvent is built."""
    try:
        attributes = read_attributes(record)
        if record.value is None:
            raise EnvelopeError("record has no value (event data)")
        data = parse_data_json(attributes.type, record.value)
    except InvalidEventData as error:
        if not _is_json_object(record.value):
            raise UndecodableRecord(f"EnvelopeError: event data is not a JSON object: {error}") from error
        raise UndecodableRecord(f"InvalidEventData: {error}") from error
    except (EnvelopeError, UnknownEventType) as error:
        raise UndecodableRecord(f"{type(error).__name__}: {error}") from error
    if record.key is not None and record.key != attributes.subject.encode():
        raise UndecodableRecord(
            f"KeyMismatch: record key {record.key!r} is not the subject {attributes.subject!r}; "
            "a person's events must share a partition to keep their order"
        )
    return Fact(
        attributes.id,
        attributes.type,
        attributes.subject,
        attributes.time,
        data,
        record.value,
        record.topic,
        record.partition,
        record.offset,
    )


def fact_of(event: CloudEvent, topic: str = "", partition: int = 0, offset: int = 0) -> Fact:
    """A fact straight from a CloudEvent (embedded use and tests)."""
    return Fact(
        event.id,
        event.type,
        event.subject,
        event.time,
        parse_data(event),
        json.dumps(event.data).encode(),
        topic,
        partition,
        offset,
    )


def _is_json_object(raw: bytes) -> bool:
    try:
        return isinstance(json.loads(raw), dict)
    except ValueError:
        return False
