"""The CloudEvents 1.0 envelope every Crossview event travels in.

Structured mode (one JSON document) at HTTP edges; binary mode on Kafka, where the
attributes ride in ``ce_*`` headers, the key is the subject (the person id) so one
person's events keep their order, and the value is the event data as JSON.

Records written by others with the CloudEvents Kafka binding (any SDK) are read as well: without
``ce_subject`` the key is the subject, without ``ce_time`` the record's own Kafka timestamp is the
time, and ``content-type`` may carry parameters (``application/json; charset=utf-8``).
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
    timestamp_ms: int | None = None  # the record's Kafka timestamp (create or log-append time)


class EnvelopeError(ValueError):
    """A Kafka record that is not a well-formed binary-mode CloudEvent."""


_JSON = CONTENT_TYPE.encode()
_REQUIRED_HEADERS = ("ce_specversion", "ce_id", "ce_source", "ce_type")


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
    if not _is_json(headers.get("content-type", CONTENT_TYPE)):
        raise EnvelopeError(f"unsupported content-type {headers['content-type']!r}; expected {CONTENT_TYPE}")
    return Attributes(
        headers["ce_id"], headers["ce_source"], headers["ce_type"], _subject(headers, record), _time(headers, record)
    )


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == CONTENT_TYPE or (media_type.startswith("application/") and media_type.endswith("+json"))


def _subject(headers: dict[str, str], record: WireRecord) -> str:
    """``ce_subject``, or else the record's key: a producer keys a person's events by their id."""
    if headers.get("ce_subject"):
        return headers["ce_subject"]
    try:
        key = record.key.decode() if record.key else ""
    except (UnicodeDecodeError, AttributeError) as error:
        raise EnvelopeError(f"no ce_subject, and the key is not UTF-8: {error}") from error
    if not key:
        raise EnvelopeError("missing CloudEvents header(s): ce_subject (and no key to stand for it)")
    return key


def _time(headers: dict[str, str], record: WireRecord) -> datetime:
    """``ce_time`` (optional in CloudEvents), or else the record's Kafka timestamp."""
    if not headers.get("ce_time"):
        if record.timestamp_ms is None or record.timestamp_ms < 0:
            raise EnvelopeError("missing CloudEvents header(s): ce_time (and no record timestamp)")
        try:
            return datetime.fromtimestamp(record.timestamp_ms / 1000, UTC)
        except (OverflowError, OSError, ValueError) as error:
            raise EnvelopeError(f"no ce_time, and the record timestamp is out of range: {error}") from error
    try:
        time = datetime.fromisoformat(headers["ce_time"])
    except ValueError as error:
        raise EnvelopeError(f"invalid CloudEvents attribute ce_time: {error}") from error
    if time.tzinfo is None:
        raise EnvelopeError("invalid CloudEvents attribute ce_time: no time zone")
    return time


# A producer that knows the customer's address but not their person id keys the event by it, as a
# URI (mailto:, tel:) or Crossview's own kinds: the projector has it resolved and re-keyed.
CONTACT_POINT_SCHEMES = {"mailto": "email", "email": "email", "tel": "phone", "phone": "phone"}


def contact_point_of(subject: str) -> tuple[str, str] | None:
    """(kind, address) when a subject names a contact point ("mailto:fabien@...", "tel:+336...")
    rather than a person id; None otherwise."""
    scheme, colon, address = subject.partition(":")
    kind = CONTACT_POINT_SCHEMES.get(scheme.lower()) if colon else None
    return (kind, address) if kind and address else None


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
