"""Decoding Kafka records into typed facts, the input of every fold."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

from pydantic_core import PydanticSerializationError, from_json, to_json

from projections.data_keys import Keys
from schemas.envelope import CloudEvent, EnvelopeError, WireRecord, read_attributes
from schemas.events import EventData, InvalidEventData, UnknownEventType, parse_data, parse_data_json
from schemas.sealing import PERSONAL_BY_TYPE, SealError, unseal


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


def decode(record: WireRecord, keys: Mapping[str, Keys | None] | None = None) -> Fact:
    """The fact a record carries. The hot path of every projection: pydantic parses the JSON
    and checks it in one pass, and no intermediate CloudEvent is built.

    With ``keys`` (subject -> key versions, None for an erased subject), an event whose type has
    personal fields is unsealed first (schemas/sealing.py); its ``raw_data`` is then the clear data."""
    value = record.value
    try:
        attributes = read_attributes(record)
        if value is None:
            raise EnvelopeError("record has no value (event data)")
        if keys is not None and attributes.type in PERSONAL_BY_TYPE:
            try:
                sealed = from_json(value)
            except ValueError as error:
                raise EnvelopeError(f"event data is not a JSON object: {error}") from error
            if not isinstance(sealed, dict):
                raise EnvelopeError("event data is not a JSON object")
            clear = unseal(attributes.type, attributes.id, attributes.subject, sealed, keys.get(attributes.subject, {}))
            value = to_json(clear)
        if _unstorable(value) or any("\x00" in a for a in (attributes.id, attributes.source, attributes.subject)):
            raise UnstorableText("a NUL character or a lone surrogate, which PostgreSQL text cannot hold")
        data = parse_data_json(attributes.type, value)
    except SealError as error:
        raise UndecodableRecord(f"SealError: {error}") from error
    except UnstorableText as error:
        raise UndecodableRecord(f"UnstorableText: {error}") from error
    except PydanticSerializationError as error:  # unsealed text that cannot be written back as UTF-8
        raise UndecodableRecord(f"UnstorableText: {error}") from error
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UndecodableRecord(f"EnvelopeError: event data is not a JSON object: {error}") from error
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
        value,
        record.topic,
        record.partition,
        record.offset,
    )


class UnstorableText(ValueError):
    """Text PostgreSQL cannot store: the edge refuses it, but a record can come from elsewhere."""


# JSON escapes of NUL, and of a surrogate half without its other half.
_UNSTORABLE = re.compile(
    rb"\\u0000|\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def _unstorable(value: bytes) -> bool:
    return b"\\u" in value and _UNSTORABLE.search(value) is not None


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
