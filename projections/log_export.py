"""The log as analysts' tables: each record a row of its event family's table, typed columns.

A family is an event type without its ``crossview.`` prefix and version (``interaction_sms``), so
the versions of one type share a table. Its columns: the CloudEvents attributes (``id``, ``source``,
``type``, ``subject``, ``time``), where the record sits on the log (``kafka_topic``,
``kafka_partition``, ``kafka_offset``), then the data's fields, typed from the event models.

Personal fields (schemas/sealing.py) are never written in clear: each becomes a pseudonym keyed by
the subject's own first data key, so the same value of one person always gives the same pseudonym
(analysts count and join), and erasing the person — destroying their keys — leaves every pseudonym
ever exported unlinkable to anything: crypto-shredding reaches the exports. An erased subject's
fields read ``erased``. Records this version cannot read go to the ``undecodable`` table with the
reason, so the tables together hold exactly the log's records.
"""

from __future__ import annotations

import functools
import hmac
import json
import re
import types
import typing
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any, Literal, NamedTuple

from projections.data_keys import Keys
from projections.facts import UndecodableRecord, decode
from schemas.envelope import WireRecord, contact_point_of
from schemas.events import EVENT_TYPES, EventData, Interaction, models_of
from schemas.sealing import ERASED, PERSONAL_BY_TYPE

UNDECODABLE = "undecodable"
# Column kinds; the Parquet writer maps them to Arrow types.
Kind = Literal["string", "int", "bool", "date", "timestamp", "strings", "json"]
ATTRIBUTE_COLUMNS: tuple[tuple[str, Kind], ...] = (
    ("id", "string"),
    ("source", "string"),
    ("type", "string"),
    ("subject", "string"),
    ("time", "timestamp"),
    ("kafka_topic", "string"),
    ("kafka_partition", "int"),
    ("kafka_offset", "int"),
)
UNDECODABLE_COLUMNS: tuple[tuple[str, Kind], ...] = (
    ("kafka_topic", "string"),
    ("kafka_partition", "int"),
    ("kafka_offset", "int"),
    ("kafka_timestamp", "timestamp"),
    ("type", "string"),
    ("reason", "string"),
)
_INTERACTIONS = models_of(Interaction)


@functools.lru_cache(maxsize=1024)
def family_of(event_type: str) -> str:
    """``crossview.interaction.sms.v1`` -> ``interaction_sms``: one table for every version of a type."""
    name = re.sub(r"\.v\d+$", "", event_type.removeprefix("crossview."))
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or UNDECODABLE


def _kind(annotation: Any) -> Kind:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(annotation) if a is not type(None)] or [str]
        return _kind(inner)
    if origin is Literal:
        return "string"
    if origin is list:
        return "strings"
    if origin is dict or annotation is dict:
        return "json"
    if annotation is bool:
        return "bool"
    if annotation is int:
        return "int"
    if annotation is datetime:
        return "timestamp"
    if annotation is date:
        return "date"
    return "string"


def _data_column(name: str) -> str:
    return f"data_{name}" if name in {c for c, _ in ATTRIBUTE_COLUMNS} or name == "day" else name


def columns_of(family: str) -> list[tuple[str, Kind]]:
    """Every column of a family's table, over all the versions of its type (the union of their fields)."""
    if family == UNDECODABLE:
        return list(UNDECODABLE_COLUMNS)
    columns: dict[str, Kind] = dict(ATTRIBUTE_COLUMNS)
    for event_type, model in sorted(EVENT_TYPES.items()):
        if family_of(event_type) == family:
            for name, field in model.model_fields.items():
                columns.setdefault(_data_column(name), _kind(field.annotation))
    return list(columns.items())


FAMILIES = sorted({family_of(t) for t in EVENT_TYPES} | {UNDECODABLE})


class Row(NamedTuple):
    family: str
    day: date  # of the event's time in UTC (of the record's timestamp for an undecodable one)
    values: dict[str, Any]


class Pseudonyms:
    """Pseudonyms of personal values: keyed by each subject's first data key (so erasure makes them
    meaningless for good); subjects that are contact points (records a producer keyed by an address,
    which the projector published again under the person) with the export's own secret."""

    def __init__(self, keys: Mapping[str, Keys | None], secret: bytes) -> None:
        self._keys = keys
        self._secret = secret

    def of(self, subject: str, value: Any) -> Any:
        if value is None:
            return None
        keys = self._keys.get(subject, {})
        if keys is None:
            return "{}" if isinstance(value, dict) else ERASED
        # A subject with no data key had nothing sealed (events from before sealing, or a producer
        # that bypassed it: clear on the log already): the export's own secret keys their pseudonyms.
        key = keys[min(keys)] if keys else self._secret
        if isinstance(value, dict):  # free-form properties: their names and shape, every value a pseudonym
            return json.dumps(_leaves_pseudonymised(key, value), sort_keys=True, ensure_ascii=False)
        return _pseudonym(key, value if isinstance(value, str) else json.dumps(value, sort_keys=True))

    def subject(self, subject: str) -> str:
        """A subject as it may be shown: a person id as it is, a contact point's address pseudonymised."""
        kind = contact_point_of(subject)
        if kind is None:
            return subject
        scheme, _, address = subject.partition(":")
        return f"{scheme}:{self.of(subject, address)}"


def _leaves_pseudonymised(key: bytes, value: Any) -> Any:
    """``value`` with every text and number in it a pseudonym (a number may be a phone number);
    names of properties, true, false and null as they are: what was set, and how often, still counts."""
    if isinstance(value, dict):
        return {str(name): _leaves_pseudonymised(key, inner) for name, inner in value.items()}
    if isinstance(value, list):
        return [_leaves_pseudonymised(key, inner) for inner in value]
    if value is None or isinstance(value, bool):
        return value
    return _pseudonym(key, value if isinstance(value, str) else json.dumps(value))


@functools.lru_cache(maxsize=100_000)  # a person's number or address comes back in each of their events
def _pseudonym(key: bytes, text: str) -> str:
    return "~" + hmac.digest(key, text.encode(), "sha256").hex()[:16]


def row_of(record: WireRecord, keys: Mapping[str, Keys | None], pseudonyms: Pseudonyms) -> Row:
    """The record as a row of its family's table (or of ``undecodable``, with the reason)."""
    try:
        fact = decode(record, keys)
    except UndecodableRecord as error:
        return _undecodable(record, str(error))
    family = family_of(fact.event_type)
    values = {
        "id": fact.event_id,
        "type": fact.event_type,
        "subject": pseudonyms.subject(fact.subject),
        "time": fact.time.astimezone(UTC),
        "kafka_topic": record.topic,
        "kafka_partition": record.partition,
        "kafka_offset": record.offset,
    }
    values["source"] = dict(record.headers).get("ce_source", b"").decode(errors="replace")
    values.update(_data_values(fact.event_type, fact.subject, fact.data, pseudonyms))
    return Row(family, values["time"].date(), values)


@functools.lru_cache(maxsize=1024)
def _fields_of(event_type: str) -> tuple[tuple[str, str, bool], ...]:
    """(field, its column, whether personal) of each field of the type's model: once per type."""
    personal = PERSONAL_BY_TYPE.get(event_type, ())
    return tuple((name, _data_column(name), name in personal) for name in EVENT_TYPES[event_type].model_fields)


def _data_values(event_type: str, subject: str, data: EventData, pseudonyms: Pseudonyms) -> dict[str, Any]:
    values = {}
    for name, column, personal in _fields_of(event_type):
        value = getattr(data, name)
        if personal:
            value = pseudonyms.of(subject, value)
        elif isinstance(value, dict):
            value = json.dumps(value, sort_keys=True, default=str)
        values[column] = value
    if type(data) in _INTERACTIONS:
        values["canonical_status"] = data.lifecycle  # older events carry none: mapped as the folds map it
    return values


def _undecodable(record: WireRecord, reason: str) -> Row:
    headers = dict(record.headers)
    moment = datetime.fromtimestamp(max(record.timestamp_ms or 0, 0) / 1000, UTC)
    event_type = headers.get("ce_type")
    return Row(
        UNDECODABLE,
        moment.date(),
        {
            "kafka_topic": record.topic,
            "kafka_partition": record.partition,
            "kafka_offset": record.offset,
            "kafka_timestamp": moment,
            "type": event_type.decode(errors="replace") if isinstance(event_type, bytes) else None,
            "reason": reason,
        },
    )


def subjects_to_open(records: Iterable[WireRecord]) -> set[str]:
    """The subjects whose keys a batch needs: those of event types with personal fields."""
    subjects = set()
    for record in records:
        headers = dict(record.headers)
        event_type = headers.get("ce_type", b"")
        if isinstance(event_type, bytes) and event_type.decode(errors="replace") in PERSONAL_BY_TYPE:
            subject = headers.get("ce_subject") or record.key
            if isinstance(subject, bytes):
                subjects.add(subject.decode(errors="replace"))
    return subjects


class Filter(NamedTuple):
    """Which rows an export keeps: event time from ``since`` to ``until`` (both inclusive, as a
    replay's window), of the given families or types (none: all)."""

    since: datetime | None = None
    until: datetime | None = None
    types: frozenset[str] = frozenset()

    def keeps(self, row: Row) -> bool:
        moment = row.values.get("time") or row.values.get("kafka_timestamp")
        if self.since is not None and moment < self.since:
            return False
        if self.until is not None and moment > self.until:
            return False
        return not self.types or row.family in self.types or row.values.get("type") in self.types

    def describe(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "types": sorted(self.types),
        }
