"""CloudEvents over HTTP, in the three content modes of the HTTP protocol binding (CloudEvents 1.0):

- structured: one event as a JSON document (``application/cloudevents+json``);
- binary: the attributes in ``ce-*`` headers (percent-encoded), the event's data as the body, its
  ``datacontenttype`` as the request's Content-Type;
- batched: a JSON array of structured events (``application/cloudevents-batch+json``).

A plain ``application/json`` body is read as before: one structured event or an array of them.
``time`` is optional in the specification: an event without one is stamped with its arrival, and
the caller is told which events were. Extension attributes (``traceparent``, ``partitionkey``...)
are accepted and not kept: Crossview's envelope has no place for them. Pure: no web framework.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import unquote

from pydantic import ValidationError

from channels.webhook_fields import NotJson, load_json
from schemas.envelope import CONTENT_TYPE, CloudEvent

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
BINARY_PREFIX = "ce-"
# The attributes Crossview's envelope keeps; any other is an extension, accepted and left out.
KEPT = ("specversion", "id", "source", "type", "subject", "time", "datacontenttype")
TimeSource = Literal["event", "arrival"]


@dataclass(frozen=True)
class Received:
    """One event as it arrived: where its fields are in the request (for the problem's field
    names), and whether its time is the sender's or its arrival."""

    event: CloudEvent | None  # None: its envelope is invalid (``errors`` say why)
    time_source: TimeSource
    attributes_at: str  # "body", "body.3", or "header.ce-" (binary mode)
    data_at: str  # "body.data", "body.3.data", or "body" (binary mode)
    errors: tuple[tuple[str, str], ...] = ()  # (field, message)


class NotCloudEvents(ValueError):
    """The request is no CloudEvent in any mode: ``field`` says where."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json(content_type: Any) -> bool:
    if content_type is not None and not isinstance(content_type, str):
        return False
    kind = media_type(content_type)
    return kind in ("", CONTENT_TYPE) or kind.endswith("+json")


def received(headers: Mapping[str, str], body: bytes, arrived: datetime) -> list[Received]:
    """The events of one request (``headers`` in lower case), each checked; NotCloudEvents when
    the request is not readable as CloudEvents at all."""
    kind = media_type(headers.get("content-type"))
    if kind not in (STRUCTURED, BATCH) and headers.get(f"{BINARY_PREFIX}specversion") is not None:
        return [_binary(headers, body, arrived)]
    document = _json(body)
    if kind == BATCH and not isinstance(document, list):
        raise NotCloudEvents("body", f"{BATCH} is a JSON array of events")
    if kind == STRUCTURED and not isinstance(document, dict):
        raise NotCloudEvents("body", f"{STRUCTURED} is one event, a JSON object")
    if isinstance(document, list):
        return [_structured(raw, f"body.{i}", arrived) for i, raw in enumerate(document)]
    if kind not in (STRUCTURED, BATCH, CONTENT_TYPE, ""):
        raise NotCloudEvents(
            "header.Content-Type", f"{kind!r}: send {STRUCTURED}, {BATCH}, or ce-* headers (binary mode)"
        )
    return [_structured(document, "body", arrived)]


def _json(body: bytes) -> Any:
    try:
        return load_json(body)
    except NotJson as error:
        raise NotCloudEvents("body", str(error)) from error


def _structured(raw: Any, where: str, arrived: datetime) -> Received:
    if not isinstance(raw, dict):
        return Received(None, "event", where, f"{where}.data", ((where, "an event is a JSON object"),))
    errors = []
    if "data_base64" in raw:
        errors.append((f"{where}.data_base64", "only JSON data is read: send it as data"))
    if "data" in raw and not is_json(raw.get("datacontenttype")):
        errors.append((f"{where}.datacontenttype", f"only JSON data is read, not {raw['datacontenttype']!r}"))
    attributes = {name: raw[name] for name in KEPT if name in raw and name != "datacontenttype"}
    return _checked(attributes, raw.get("data"), where, f"{where}.", f"{where}.data", arrived, errors)


def _binary(headers: Mapping[str, str], body: bytes, arrived: datetime) -> Received:
    errors = []
    attributes = {
        name: unquote(headers[f"{BINARY_PREFIX}{name}"])
        for name in KEPT
        if f"{BINARY_PREFIX}{name}" in headers and name != "datacontenttype"
    }
    if not is_json(headers.get("content-type")):
        errors.append(("header.Content-Type", f"only JSON data is read, not {headers['content-type']!r}"))
        data = None
    else:
        try:
            data = load_json(body)
        except NotJson as error:
            errors.append(("body", str(error)))
            data = None
    return _checked(attributes, data, "header.ce-", "header.ce-", "body", arrived, errors)


def _checked(
    attributes: dict[str, Any],
    data: Any,
    where: str,
    attribute_prefix: str,
    data_at: str,
    arrived: datetime,
    errors: list[tuple[str, str]],
) -> Received:
    source: TimeSource = "event" if attributes.get("time") not in (None, "") else "arrival"
    if source == "arrival":
        attributes["time"] = arrived
    if data is None and not errors:
        errors.append((data_at, "the event's data (a JSON object) is required"))
    try:
        event = CloudEvent(**attributes, data=data if isinstance(data, dict) else {}) if not errors else None
    except ValidationError as error:
        errors += [(f"{attribute_prefix}{'.'.join(str(p) for p in e['loc'])}", e["msg"]) for e in error.errors()]
        event = None
    if event is not None and not isinstance(data, dict):
        errors.append((data_at, "the event's data must be a JSON object"))
        event = None
    return Received(event, source, where, data_at, tuple(errors))
