"""One contract, every log: the in-memory log of the embedded default and Kafka must behave alike
for what the rest of Crossview relies on (positions, per-key order, end offsets, binary mode), and
so must their dead letters."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from channels.kafka import KafkaDeadLetters, KafkaPublisher, KafkaReplay, Position, end_offsets
from channels.memory import MemoryDeadLetters, MemoryLog
from schemas.envelope import CloudEvent, WireRecord, to_binary
from schemas.events import INTERACTIONS
from services.adapters.dead_letters import read_dead_letters
from services.demo.data import synthetic_interactions


@dataclass
class Log:
    """The log as the contract sees it: publish, the end offsets, and every record of a topic."""

    topic: str
    publish: Callable[[str, list[CloudEvent]], list[Position]]
    end_offsets: Callable[[str], dict[tuple[str, int], int]]
    records: Callable[[str], list[WireRecord]]


def _kafka_records(bootstrap: str, topic: str) -> list[WireRecord]:
    ends = {tp: end for tp, end in end_offsets(bootstrap, [topic]).items() if end}
    replay, read, records = KafkaReplay(bootstrap, dict.fromkeys(ends, 0)), {}, []
    deadline = time.monotonic() + 30
    try:
        while any(read.get(tp, 0) < end for tp, end in ends.items()) and time.monotonic() < deadline:
            for record in replay.poll(1000):
                records.append(record)
                read[record.topic, record.partition] = record.offset + 1
    finally:
        replay.close()
    return records


@pytest.fixture(params=["memory", "kafka"])
def log(request) -> Iterator[Log]:
    if request.param == "memory":
        memory = MemoryLog(4)
        yield Log("t.interactions", memory.publish, lambda topic: memory.end_offsets([topic]), memory.records)
        return
    settings, publisher = request.getfixturevalue("settings"), request.getfixturevalue("publisher")
    yield Log(
        settings.topic(INTERACTIONS),
        publisher.publish,
        lambda topic: end_offsets(settings.kafka_bootstrap, [topic]),
        lambda topic: _kafka_records(settings.kafka_bootstrap, topic),
    )


def by_partition(records: list[WireRecord]) -> dict[int, list[WireRecord]]:
    found: dict[int, list[WireRecord]] = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        found.setdefault(record.partition, []).append(record)
    return found


def test_a_published_event_comes_back_in_binary_mode_where_its_position_says(log):
    events = list(synthetic_interactions(people=3, per_person=2))
    positions = log.publish(log.topic, events)
    assert [p.topic for p in positions] == [log.topic] * len(events)
    records = {(r.partition, r.offset): r for r in log.records(log.topic)}
    for event, position in zip(events, positions, strict=True):
        record = records[(position.partition, position.offset)]
        key, value, headers = to_binary(event)
        assert (record.key, record.value) == (key, value)
        assert set(headers) <= set(record.headers)


def test_one_persons_events_share_a_partition_in_the_order_they_were_published(log):
    events = list(synthetic_interactions(people=4, per_person=3))
    positions = log.publish(log.topic, events)
    partition_of: dict[str, set[int]] = {}
    for event, position in zip(events, positions, strict=True):
        partition_of.setdefault(event.subject, set()).add(position.partition)
    assert all(len(partitions) == 1 for partitions in partition_of.values())
    for records in by_partition(log.records(log.topic)).values():
        assert [r.offset for r in records] == list(range(len(records)))  # dense, from 0
    published = [e.id for e in events]
    for person in partition_of:
        read = [dict(r.headers)["ce_id"].decode() for r in log.records(log.topic) if r.key == person.encode()]
        assert read == [i for i, e in zip(published, events, strict=True) if e.subject == person]


def test_the_end_offsets_count_every_partitions_records(log):
    assert set(log.end_offsets(log.topic).values()) == {0}
    positions = log.publish(log.topic, list(synthetic_interactions(people=5, per_person=2)))
    expected: dict[tuple[str, int], int] = {}
    for p in positions:
        expected[(p.topic, p.partition)] = max(expected.get((p.topic, p.partition), 0), p.offset + 1)
    ends = log.end_offsets(log.topic)
    assert len(ends) == 4 and {tp: end for tp, end in ends.items() if end} == expected


# --- dead letters ---------------------------------------------------------------------------------


@dataclass
class DeadLetters:
    sink: MemoryDeadLetters | KafkaDeadLetters
    listed: Callable[[], list[tuple[bytes | None, bytes | None, str, tuple[str, int, int]]]]


@pytest.fixture(params=["memory", "kafka"])
def dead_letters(request) -> DeadLetters:
    if request.param == "memory":
        memory = MemoryDeadLetters()
        return DeadLetters(
            memory, lambda: [(r.key, r.value, reason, (r.topic, r.partition, r.offset)) for r, reason in memory.letters]
        )
    settings = request.getfixturevalue("settings")
    publisher: KafkaPublisher = request.getfixturevalue("publisher")
    return DeadLetters(
        KafkaDeadLetters(publisher, settings.dead_letter_topic),
        lambda: [
            (d.record.key, d.record.value, d.reason, (d.origin_topic, d.origin_partition, d.origin_offset))
            for d in read_dead_letters(settings)
        ],
    )


def test_a_dead_letter_keeps_the_record_its_reason_and_where_it_came_from(dead_letters):
    (event,) = synthetic_interactions(people=1, per_person=1)
    key, value, headers = to_binary(event)
    dead_letters.sink.send(WireRecord("t.interactions", 2, 41, key, value, tuple(headers)), "UnknownEventType: x.v9")
    dead_letters.sink.send(WireRecord("t.interactions", 2, 42, key, b"{not json", ()), "EnvelopeError: not JSON")
    dead_letters.sink.flush()
    assert dead_letters.listed() == [
        (key, value, "UnknownEventType: x.v9", ("t.interactions", 2, 41)),
        (key, b"{not json", "EnvelopeError: not JSON", ("t.interactions", 2, 42)),
    ]


def test_nothing_sent_nothing_listed(dead_letters):
    dead_letters.sink.flush()
    assert dead_letters.listed() == []
