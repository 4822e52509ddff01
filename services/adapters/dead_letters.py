"""Dead letters for an operator: what the projector could not apply, and why; and their replay.

A record goes to the dead-letter topic with its original key, value and headers, plus the reason
(``dlq_reason``) and where it came from (``dlq_origin``). Once the cause is fixed (a version that
reads the new event type is deployed, say), replaying sends the record back to its origin topic
unchanged; the projector drops it if it was applied meanwhile (same event id), and dead-letters
it again if it still cannot be applied.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from channels.kafka import BrokerUnavailable, KafkaPublisher, KafkaReplay, end_offsets
from schemas.envelope import WireRecord
from services.settings import Settings

DLQ_HEADERS = ("dlq_reason", "dlq_origin")


@dataclass(frozen=True)
class DeadLetter:
    record: WireRecord  # as it sits in the dead-letter topic
    reason: str
    origin_topic: str
    origin_partition: int
    origin_offset: int

    @property
    def place(self) -> str:
        """Where it sits in the dead-letter topic: "partition:offset"."""
        return f"{self.record.partition}:{self.record.offset}"

    @property
    def event_type(self) -> str | None:
        return next((raw.decode(errors="replace") for name, raw in self.record.headers if name == "ce_type"), None)

    @property
    def original_headers(self) -> list[tuple[str, bytes]]:
        return [(name, raw) for name, raw in self.record.headers if name not in DLQ_HEADERS]


def read_dead_letters(settings: Settings) -> list[DeadLetter]:
    """Every dead letter of the namespace, oldest first within each partition."""
    ends = {tp: end for tp, end in end_offsets(settings.kafka_bootstrap, [settings.dead_letter_topic]).items() if end}
    if not ends:
        return []
    source, records, read = KafkaReplay(settings.kafka_bootstrap, dict.fromkeys(ends, 0)), [], {}
    deadline = time.monotonic() + settings.ack_timeout_s * 6
    try:
        while any(read.get(partition, 0) < end for partition, end in ends.items()):
            if time.monotonic() > deadline:
                raise BrokerUnavailable(f"could not read {settings.dead_letter_topic} to its end; is Kafka up?")
            for record in source.poll(1000):
                records.append(record)
                read[record.topic, record.partition] = record.offset + 1
    finally:
        source.close()
    return [_dead_letter(r) for r in sorted(records, key=lambda r: (r.partition, r.offset))]


def _dead_letter(record: WireRecord) -> DeadLetter:
    headers = {name: raw for name, raw in record.headers}
    origin = json.loads(headers.get("dlq_origin") or b"{}")
    return DeadLetter(
        record,
        (headers.get("dlq_reason") or b"").decode(errors="replace"),
        str(origin.get("topic", "")),
        int(origin.get("partition", -1)),
        int(origin.get("offset", -1)),
    )


def replay(
    settings: Settings,
    letters: Iterable[DeadLetter],
    progress: Callable[[DeadLetter], None] = lambda letter: None,
) -> int:
    """Send each dead letter back to its origin topic as it first came; returns how many."""
    publisher, sent = KafkaPublisher(settings.kafka_bootstrap, ack_timeout_s=settings.ack_timeout_s), []
    try:
        for letter in letters:
            record = letter.record
            sent.append(publisher.send_raw(letter.origin_topic, record.key, record.value, letter.original_headers))
            progress(letter)
        publisher.flush()
        if any(future.failed() for future in sent):
            raise BrokerUnavailable("some replayed records were not acknowledged: replay them again")
    finally:
        publisher.close()
    return len(sent)
