"""The CloudEvents 1.0 envelope every Crossview event travels in.

Structured mode (one JSON document) at HTTP edges; binary mode on Kafka, where the
attributes ride in ``ce_*`` headers, the key is the subject (the person id) so one
person's events keep their order, and the value is the event data as JSON.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

CONTENT_TYPE = "application/json"


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event in structured mode; ``subject`` is the id of the person it concerns."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=200, description="Unique per source; a retry keeps the id.")
    source: str = Field(min_length=1, max_length=500, description="Who produced it, as a URI reference.")
    type: str = Field(
        min_length=1, max_length=200, description="Versioned event type, e.g. crossview.interaction.sms.v1"
    )
    subject: str = Field(min_length=1, max_length=200, description="The id of the person (or organisation) concerned.")
    time: AwareDatetime = Field(description="When it happened, with a time zone.")
    datacontenttype: Literal["application/json"] = CONTENT_TYPE
    data: dict[str, Any]

    @field_validator("time")
    @classmethod
    def _an_instant_of_the_calendar(cls, time: datetime) -> datetime:
        # 0001-01-01T00:00+14:00 is in year 0 in UTC: no calendar of ours (Python's, psycopg's) holds it.
        try:
            time.astimezone(UTC)
        except OverflowError as error:
            raise ValueError("out of the calendar once in UTC (years 1 to 9999)") from error
        return time


class WireRecord(NamedTuple):
    """One Kafka record as read or written: the binary-mode form of a CloudEvent."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


class EnvelopeError(ValueError):
    """A Kafka record that is not a well-formed binary-mode CloudEvent."""


_JSON = CONTENT_TYPE.encode()
_REQUIRED_HEADERS = ("ce_specversion", "ce_id", "ce_source", "ce_type", "ce_subject", "ce_time")


def to_binary(event: CloudEvent) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """Key, value and headers of the Kafka record carrying ``event``."""
    headers = [
        ("ce_specversion", event.specversion.encode()),
        ("ce_id", event.id.encode()),
        ("ce_source", event.source.encode()),
        ("ce_type", event.type.encode()),
        ("ce_subject", event.subject.encode()),
        ("ce_time", event.time.isoformat().encode()),
        ("content-type", event.datacontenttype.encode()),
    ]
    value = json.dumps(event.data, separators=(",", ":"), ensure_ascii=False).encode()
    return event.subject.encode(), value, headers


class Attributes(NamedTuple):
    """The CloudEvents attributes of a binary-mode record, checked."""

    id: str
    source: str
    type: str
    subject: str
    time: datetime


def read_attributes(record: WireRecord) -> Attributes:
    """The checked ``ce_*`` headers of a record, or EnvelopeError saying what is wrong."""
    # The projector's hot path: a well-formed record is read in one go; anything else is read
    # again, header by header, to say what is wrong.
    headers = dict(record.headers)
    try:
        if headers["ce_specversion"] == b"1.0" and headers.get("content-type", _JSON) == _JSON:
            time = datetime.fromisoformat(headers["ce_time"].decode())
            identity = [headers[name].decode() for name in ("ce_id", "ce_source", "ce_type", "ce_subject")]
            if time.tzinfo is not None and all(identity):
                return Attributes(*identity, time)
    except (KeyError, AttributeError, ValueError):
        pass
    return _checked_attributes(record)


def _checked_attributes(record: WireRecord) -> Attributes:
    try:  # the last of a repeated header counts; others than ours (tracing, say) may carry any bytes
        headers = {
            name: raw.decode()
            for name, raw in dict(record.headers).items()
            if raw is not None and (name.startswith("ce_") or name == "content-type")
        }
    except (UnicodeDecodeError, AttributeError) as error:
        raise EnvelopeError(f"header is not UTF-8 bytes: {error}") from error
    missing = [name for name in _REQUIRED_HEADERS if not headers.get(name)]
    if missing:
        raise EnvelopeError(f"missing CloudEvents header(s): {', '.join(missing)}")
    if headers["ce_specversion"] != "1.0":
        raise EnvelopeError(f"unsupported CloudEvents specversion {headers['ce_specversion']!r}")
    if headers.get("content-type", CONTENT_TYPE) != CONTENT_TYPE:
        raise EnvelopeError(f"unsupported content-type {headers['content-type']!r}; expected {CONTENT_TYPE}")
    try:
        time = datetime.fromisoformat(headers["ce_time"])
    except ValueError as error:
        raise EnvelopeError(f"invalid CloudEvents attribute ce_time: {error}") from error
    if time.tzinfo is None:
        raise EnvelopeError("invalid CloudEvents attribute ce_time: no time zone")
    return Attributes(headers["ce_id"], headers["ce_source"], headers["ce_type"], headers["ce_subject"], time)


def from_binary(record: WireRecord) -> CloudEvent:
    """The CloudEvent a Kafka record carries, or EnvelopeError saying what is wrong."""
    attributes = read_attributes(record)
    if record.value is None:
        raise EnvelopeError("record has no value (event data)")
    try:
        data = json.loads(record.value)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EnvelopeError(f"event data is not JSON: {error}") from error
    if not isinstance(data, dict):
        raise EnvelopeError("event data must be a JSON object")
    try:
        return CloudEvent(
            id=attributes.id,
            source=attributes.source,
            type=attributes.type,
            subject=attributes.subject,
            time=attributes.time,
            data=data,
        )
    except ValidationError as error:
        raise EnvelopeError(f"invalid CloudEvents attribute: {error}") from error
