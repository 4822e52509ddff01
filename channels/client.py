"""The Python client for channel adapters that publish canonical events straight to Kafka.

    from channels.client import CrossviewClient
    with CrossviewClient("127.0.0.1:9092") as client:
        client.send(event)            # validated, queued; returns a future
        positions = client.publish([event, ...])   # waits until the broker acknowledged

Every event is checked against the JSON Schema of its type before it leaves; domain events
(functions, registrations) are refused: only the relay writes those.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from channels.kafka import KafkaPublisher, Position
from schemas.envelope import CloudEvent, to_binary
from schemas.events import INTERACTIONS, parse_data, stream_of


class RefusedEvent(ValueError):
    """The event cannot be published: not a known interaction type, or data that breaks its schema."""


class CrossviewClient:
    def __init__(
        self,
        bootstrap: str = "127.0.0.1:9092",
        namespace: str = "crossview",
        ack_timeout_s: float = 10,
        **producer_tuning,
    ) -> None:
        self._topic = f"{namespace}.{INTERACTIONS}"
        self._publisher = KafkaPublisher(bootstrap, ack_timeout_s=ack_timeout_s, **producer_tuning)

    def send(self, event: CloudEvent):
        """Validate and queue one event; the returned future resolves to its record metadata."""
        self._check(event)
        key, value, headers = to_binary(event)
        return self._publisher.send_raw(self._topic, key, value, headers)

    def publish(self, events: Iterable[CloudEvent]) -> list[Position]:
        """Validate every event first (all or nothing), send them, and wait for every acknowledgement."""
        events = list(events)
        for event in events:
            self._check(event)
        return self._publisher.publish(self._topic, events)

    def flush(self) -> None:
        self._publisher.flush()

    def close(self) -> None:
        self._publisher.close()

    def __enter__(self) -> CrossviewClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @staticmethod
    def _check(event: CloudEvent) -> None:
        for text in _texts(event.model_dump()):
            if "\x00" in text or not _is_unicode(text):
                raise RefusedEvent(f"event {event.id}: a NUL character or a lone surrogate, which no view can hold")
        try:
            parse_data(event)
            if stream_of(event.type) != INTERACTIONS:
                raise RefusedEvent(f"{event.type} is a domain event: only the relay publishes those")
        except ValueError as error:
            if isinstance(error, RefusedEvent):
                raise
            raise RefusedEvent(f"event {event.id}: {error}") from error


def _texts(value: Any) -> Iterator[str]:
    """Every string of a document: keys and values, at any depth."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _texts(key)
            yield from _texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _texts(item)


def _is_unicode(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
