"""The AsyncAPI 3.0 document of the event log: which topics carry which event types, as
CloudEvents in Kafka's binary mode (``ce_*`` headers, the person id as key). Generated from the
models beside the JSON Schemas it points to, and checked for drift the same way."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from schemas.envelope import CONTENT_TYPE
from schemas.events import AUDIT, DOMAIN, EVENT_TYPES, INTERACTIONS

ASYNCAPI_FILE = Path(__file__).parent / "asyncapi.json"
DEAD_LETTERS = "deadletter"
NAMESPACE = {"namespace": {"description": "CROSSVIEW_NAMESPACE: the prefix of every topic.", "default": "crossview"}}
STREAMS = {
    INTERACTIONS: "Interactions reported by the channel adapters and the Python client, and by any producer "
    "using the CloudEvents Kafka binding; key = person id, or a contact point (mailto:..., tel:...) that "
    "the projector resolves and publishes again under the person's id.",
    DOMAIN: "Domain events, written only by the relay from the event store; key = aggregate id.",
    AUDIT: "Who read or changed whose data, written by the API before it answers; key = the person id "
    "(or what else the access concerns).",
}


def _headers(event_type: str) -> dict[str, Any]:
    text = {"type": "string", "minLength": 1}
    # Interactions may come from producers outside Crossview, with CloudEvents' optional attributes
    # left out: the key stands for ce_subject, the record's timestamp for ce_time.
    outside = EVENT_TYPES[event_type].stream == INTERACTIONS
    optional = {"ce_subject", "ce_time"} if outside else set()
    required = ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_subject", "ce_time"]
    return {
        "type": "object",
        "required": [name for name in required if name not in optional],
        "properties": {
            "ce_specversion": {"const": "1.0"},
            "ce_id": {**text, "description": "Unique per event; a provider's retry keeps it (duplicates dropped)."},
            "ce_source": {**text, "description": "Who reported it: a provider, or the relay."},
            "ce_type": {"const": event_type},
            "ce_subject": {
                **text,
                "description": "The person (or aggregate) id; also the record key."
                + (" Absent: the key is the subject." if outside else ""),
            },
            "ce_time": {
                "type": "string",
                "format": "date-time",
                "description": "When it happened, with a zone."
                + (" Absent: the record's Kafka timestamp." if outside else ""),
            },
            "content-type": {"type": "string", "pattern": "^application/([^;]+\\+)?json(;.*)?$"}
            if outside
            else {"const": CONTENT_TYPE},
        },
    }


def _message(event_type: str) -> dict[str, Any]:
    model = EVENT_TYPES[event_type]
    return {
        "name": event_type,
        "title": model.__name__,
        "summary": inspect.getdoc(model) or event_type,
        "contentType": CONTENT_TYPE,
        "headers": _headers(event_type),
        "payload": {"$ref": f"json/{event_type}.json"},
        "bindings": {"kafka": {"key": {"type": "string", "description": "ce_subject"}, "bindingVersion": "0.5.0"}},
    }


def _refs(event_types: list[str]) -> dict[str, Any]:
    return {t: {"$ref": f"#/components/messages/{t}"} for t in event_types}


def asyncapi_document(version: str) -> dict[str, Any]:
    """The document for release ``version`` of Crossview (the package's version)."""
    by_stream = {s: sorted(t for t, m in EVENT_TYPES.items() if m.stream == s) for s in STREAMS}
    by_stream[DEAD_LETTERS] = sorted(EVENT_TYPES)
    channels = {
        stream: {
            "address": f"{{namespace}}.{stream}",
            "description": description,
            "parameters": NAMESPACE,
            "messages": _refs(by_stream[stream]),
        }
        for stream, description in STREAMS.items()
    }
    channels[DEAD_LETTERS] = {
        "address": f"{{namespace}}.{DEAD_LETTERS}",
        "description": "Records the projector could not apply, unchanged, with the headers dlq_reason and "
        "dlq_origin ({topic, partition, offset}); `crossview dead-letters` lists and replays them.",
        "parameters": NAMESPACE,
        "messages": _refs(by_stream[DEAD_LETTERS]),
    }

    def operation(action: str, stream: str, summary: str) -> dict[str, Any]:
        return {
            "action": action,
            "channel": {"$ref": f"#/channels/{stream}"},
            "summary": summary,
            "messages": [{"$ref": f"#/channels/{stream}/messages/{t}"} for t in by_stream[stream]],
        }

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Crossview event log",
            "version": version,
            "description": "Every interaction with a person and every change of their functions, as "
            "CloudEvents 1.0 in Kafka's binary mode. Payloads are the JSON Schemas in schemas/json/.",
        },
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": {
            "reportInteraction": operation("send", INTERACTIONS, "Adapters publish what a channel reported."),
            "relayDomainEvent": operation("send", DOMAIN, "The relay publishes every stored domain event, in order."),
            "projectInteraction": operation("receive", INTERACTIONS, "The projector folds them into the views."),
            "projectDomainEvent": operation("receive", DOMAIN, "The projector folds them into the views."),
            "recordAccess": operation("send", AUDIT, "The API records who reads or changes whose data."),
            "projectAccess": operation("receive", AUDIT, "The projector keeps each person's audit trail."),
            "deadLetter": operation("send", DEAD_LETTERS, "The projector parks what it cannot apply."),
        },
        "components": {"messages": {t: _message(t) for t in sorted(EVENT_TYPES)}},
    }
