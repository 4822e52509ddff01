"""Everything Crossview does with Kafka, in one module; the rest of the code sees small ports.

- topics are created explicitly, with their partitions and infinite retention (no auto-create);
- the producer is idempotent with acks=all and keys every record by its subject (the person id);
- the consumer never auto-commits: the projector keeps its offsets in PostgreSQL with its writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.partitioner.default import DefaultPartitioner, murmur2

from schemas.envelope import CloudEvent, WireRecord, to_binary

log = logging.getLogger(__name__)

INFINITE_RETENTION = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}


T = TypeVar("T")


class BrokerUnavailable(RuntimeError):
    """The broker did not acknowledge in time: nothing may be reported as accepted."""


@dataclass(frozen=True)
class Position:
    """Where an acknowledged record landed: what a client may later wait for."""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"


def _connected(client: Callable[..., T], bootstrap: str, **config) -> T:
    """A client of the broker at ``bootstrap``; BrokerUnavailable, in a sentence, when none answers."""
    try:
        return client(bootstrap_servers=bootstrap, **config)
    except KafkaError as error:
        raise BrokerUnavailable(f"Kafka at {bootstrap} does not answer ({error})") from error


def _admin(bootstrap: str) -> KafkaAdminClient:
    return _connected(KafkaAdminClient, bootstrap, client_id="crossview-admin")


def ensure_topics(bootstrap: str, partitions_by_topic: dict[str, int], timeout_s: float = 30) -> None:
    """Create the topics that do not exist yet, and wait until the broker serves all of them."""
    admin = _admin(bootstrap)
    try:
        existing = set(admin.list_topics())
        _check_partition_counts(admin, {t: n for t, n in partitions_by_topic.items() if t in existing})
        missing = [
            NewTopic(name, num_partitions=count, replication_factor=1, topic_configs=INFINITE_RETENTION)
            for name, count in partitions_by_topic.items()
            if name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process created it first
                admin.create_topics(missing, timeout_ms=int(timeout_s * 1000))
        deadline = time.monotonic() + timeout_s
        while not set(partitions_by_topic) <= set(admin.list_topics()):
            if time.monotonic() > deadline:
                raise BrokerUnavailable(f"topics {sorted(partitions_by_topic)} not served after {timeout_s}s")
            time.sleep(0.2)
    finally:
        admin.close()


def _check_partition_counts(admin: KafkaAdminClient, expected: dict[str, int]) -> None:
    """Refuse to run on topics whose partition count differs from the settings: a person's events
    must land on the same partition number of every topic (see projections/projector.py)."""
    if not expected:
        return
    for description in admin.describe_topics(list(expected)):
        name, count = description["name"], len(description["partitions"])
        if count != expected[name]:
            raise ValueError(
                f"topic {name} has {count} partitions but CROSSVIEW_PARTITIONS is {expected[name]}: "
                "set it to the topics' count (every person-scoped topic must have the same count)"
            )


def _settle(future: asyncio.Future, result, error) -> None:
    if not future.done():
        future.set_exception(error) if error is not None else future.set_result(result)


_hash_of_key = functools.lru_cache(maxsize=200_000)(murmur2)


class KeyPartitioner(DefaultPartitioner):
    """Kafka's default partitioner (murmur2 of the key, as the Java client: a person's events land on
    the same partition number of every topic), remembering each key's hash and each topic's
    partitions. A person's events share a key, and hashing it in pure Python, and sorting the
    partitions again, cost a fifth of a send (BENCHMARKS.md)."""

    def __init__(self) -> None:
        self._partitions: dict[str, list[int]] = {}

    def partition(self, topic, key, serialized_key, value, serialized_value, cluster):  # noqa: PLR0913 - kafka's
        partitions = self._partitions.get(topic)
        if serialized_key is None or (partitions is None and topic not in cluster.topics()):
            return super().partition(topic, key, serialized_key, value, serialized_value, cluster)
        if partitions is None:
            # A topic's partitions never change here: ensure_topics refuses a count other than the settings'.
            partitions = self._partitions[topic] = sorted(cluster.partitions_for_topic(topic))
        return partitions[(_hash_of_key(serialized_key) & 0x7FFFFFFF) % len(partitions)]


class KafkaPublisher:
    """Publishes CloudEvents in binary mode; returns only once the broker acknowledged them."""

    def __init__(self, bootstrap: str, ack_timeout_s: float = 10, **tuning) -> None:
        self._ack_timeout_s = ack_timeout_s
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=tuning.pop("linger_ms", 5),
            partitioner=tuning.pop("partitioner", KeyPartitioner()),
            batch_size=tuning.pop("batch_size", 256 * 1024),
            compression_type=tuning.pop("compression_type", None),
            max_block_ms=int(ack_timeout_s * 1000),
            request_timeout_ms=int(ack_timeout_s * 1000),
            delivery_timeout_ms=int(ack_timeout_s * 1000) + 1000,
            **tuning,
        )

    def publish(self, topic: str, events: Sequence[CloudEvent]) -> list[Position]:
        """Send all ``events`` and wait for every acknowledgement; BrokerUnavailable if any is missing."""
        try:
            futures = []
            for event in events:
                key, value, headers = to_binary(event)
                futures.append(self._producer.send(topic, key=key, value=value, headers=headers))
            self._producer.flush(timeout=self._ack_timeout_s)
            return [self._position(future.get(timeout=self._ack_timeout_s)) for future in futures]
        except KafkaError as error:
            raise BrokerUnavailable(f"Kafka did not acknowledge: {error}") from error

    async def publish_async(self, topic: str, events: Sequence[CloudEvent]) -> list[Position]:
        """``publish`` for the event loop: no thread held while the broker acknowledges, and no flush,
        so records sent by many concurrent requests leave together (within linger_ms)."""
        loop = asyncio.get_running_loop()
        waiting = []
        try:
            for event in events:
                key, value, headers = to_binary(event)
                sent = self._producer.send(topic, key=key, value=value, headers=headers)
                acknowledged = loop.create_future()
                sent.add_callback(lambda meta, f=acknowledged: loop.call_soon_threadsafe(_settle, f, meta, None))
                sent.add_errback(lambda error, f=acknowledged: loop.call_soon_threadsafe(_settle, f, None, error))
                waiting.append(acknowledged)
            metadata = await asyncio.wait_for(asyncio.gather(*waiting), self._ack_timeout_s)
        except (KafkaError, TimeoutError) as error:
            raise BrokerUnavailable(f"Kafka did not acknowledge: {error}") from error
        return [self._position(meta) for meta in metadata]

    def send_raw(self, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]):
        """Queue one record as it is (tests and the dead-letter sink); returns the send future."""
        return self._producer.send(topic, key=key, value=value, headers=headers)

    def flush(self) -> None:
        try:
            self._producer.flush(timeout=self._ack_timeout_s)
        except KafkaError as error:
            raise BrokerUnavailable(f"Kafka did not acknowledge: {error}") from error

    def close(self) -> None:
        self._producer.close(timeout=self._ack_timeout_s)

    @staticmethod
    def _position(metadata) -> Position:
        return Position(metadata.topic, metadata.partition, metadata.offset)


class KafkaDeadLetters:
    """Writes undecodable or inapplicable records to the dead-letter topic, with the reason."""

    def __init__(self, publisher: KafkaPublisher, topic: str) -> None:
        self._publisher = publisher
        self._topic = topic
        self._pending = []

    def send(self, record: WireRecord, reason: str) -> None:
        origin = {"topic": record.topic, "partition": record.partition, "offset": record.offset}
        headers = list(record.headers) + [
            ("dlq_reason", reason.encode()),
            ("dlq_origin", json.dumps(origin).encode()),
        ]
        self._pending.append(self._publisher.send_raw(self._topic, record.key, record.value, headers))

    def flush(self) -> None:
        """Block until every dead letter is acknowledged (before the offsets move past them)."""
        pending, self._pending = self._pending, []
        self._publisher.flush()
        for future in pending:
            if future.failed():
                raise BrokerUnavailable(f"dead letter not acknowledged: {future.exception}")


def _wire(message) -> WireRecord:
    return WireRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        headers=tuple(message.headers or ()),
        timestamp_ms=message.timestamp,
    )


# The most records one poll hands the projector. It only matters when the projector is behind (live,
# a poll returns what has arrived): a larger batch writes a person's view once for several of their
# events and spreads each transaction's fixed cost; 20,000 cut the CPU an event by about a fifth
# against 5,000, in the projector and in PostgreSQL (BENCHMARKS.md), for ~40 MB held per batch.
BATCH_RECORDS = 20_000


class KafkaSource:
    """A consumer-group member that never commits to Kafka; the caller seeks and keeps offsets.

    ``on_assigned(partitions)`` must return the offset to start each partition from;
    ``on_revoked(partitions)`` is told which partitions this member no longer owns.
    """

    def __init__(
        self,
        bootstrap: str,
        group_id: str,
        topics: Iterable[str],
        on_assigned: Callable[[list[tuple[str, int]]], dict[tuple[str, int], int]],
        on_revoked: Callable[[list[tuple[str, int]]], None],
        max_records: int = BATCH_RECORDS,
        **tuning,
    ) -> None:
        self._max_records = max_records
        self._consumer = _connected(
            KafkaConsumer,
            bootstrap,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=max_records,
            fetch_max_bytes=tuning.pop("fetch_max_bytes", 64 * 1024 * 1024),
            max_partition_fetch_bytes=tuning.pop("max_partition_fetch_bytes", 8 * 1024 * 1024),
            session_timeout_ms=tuning.pop("session_timeout_ms", 10_000),
            # Range gives a member the same partition numbers on every topic: it owns its people outright.
            partition_assignment_strategy=[RangePartitionAssignor],
            heartbeat_interval_ms=tuning.pop("heartbeat_interval_ms", 2_000),
            **tuning,
        )
        consumer = self._consumer

        class _Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                on_revoked([(tp.topic, tp.partition) for tp in revoked])

            def on_partitions_assigned(self, assigned):
                starts = on_assigned([(tp.topic, tp.partition) for tp in assigned])
                for (topic, partition), offset in starts.items():
                    consumer.seek(TopicPartition(topic, partition), offset)

        self._consumer.subscribe(topics=list(topics), listener=_Listener())

    def poll(self, timeout_ms: int = 500) -> list[WireRecord]:
        """The next records; BrokerUnavailable if the consumer failed, or the error of a rebalance
        callback as it was raised (the client wraps it), so the caller can tell what to retry."""
        try:
            batches = self._consumer.poll(timeout_ms=timeout_ms, max_records=self._max_records)
        except KafkaError as error:
            cause = error.__cause__
            if isinstance(cause, Exception) and not isinstance(cause, KafkaError):
                raise cause from error
            raise BrokerUnavailable(f"Kafka consumer failed: {error}") from error
        return [_wire(message) for messages in batches.values() for message in messages]

    def seek(self, starts: dict[tuple[str, int], int]) -> None:
        for (topic, partition), offset in starts.items():
            self._consumer.seek(TopicPartition(topic, partition), offset)

    def assignment(self) -> list[tuple[str, int]]:
        return [(tp.topic, tp.partition) for tp in self._consumer.assignment()]

    def close(self) -> None:
        self._consumer.close(autocommit=False)


def end_offsets(bootstrap: str, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    """The next offset to be written on every partition of ``topics`` (what 'caught up' means)."""
    consumer = _connected(KafkaConsumer, bootstrap, enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(topic, p) for topic in topics for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        return {(tp.topic, tp.partition): offset for tp, offset in consumer.end_offsets(partitions).items()}
    finally:
        consumer.close(autocommit=False)


def log_extents(
    bootstrap: str, partitions: Iterable[tuple[str, int]], timeout_s: float
) -> dict[tuple[str, int], tuple[int, int]]:
    """The first and the next offset of each partition, for probes that must answer in bounded time:
    BrokerUnavailable once ``timeout_s`` is spent. The partitions are named, not looked up, since
    a metadata lookup may wait for the broker without a limit."""
    wanted = [TopicPartition(topic, partition) for topic, partition in partitions]
    deadline = time.monotonic() + timeout_s

    def left_ms() -> int:
        return max(1, int((deadline - time.monotonic()) * 1000))

    try:
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            bootstrap_timeout_ms=left_ms(),
            request_timeout_ms=left_ms(),
        )
    except KafkaError as error:
        raise BrokerUnavailable(f"Kafka at {bootstrap} does not answer ({error})") from error
    try:
        firsts = consumer.beginning_offsets(wanted, timeout_ms=left_ms())
        ends = consumer.end_offsets(wanted, timeout_ms=left_ms())
    except KafkaError as error:
        raise BrokerUnavailable(f"Kafka at {bootstrap} did not give the offsets in {timeout_s}s ({error})") from error
    finally:
        consumer.close(autocommit=False)
    return {(tp.topic, tp.partition): (firsts[tp], ends[tp]) for tp in wanted}


class KafkaReplay:
    """Reads every partition of ``topics`` from given offsets with no consumer group (rebuilds, analysts)."""

    def __init__(self, bootstrap: str, starts: dict[tuple[str, int], int], max_records: int = BATCH_RECORDS) -> None:
        self._max_records = max_records
        self._consumer = _connected(
            KafkaConsumer,
            bootstrap,
            enable_auto_commit=False,
            max_poll_records=max_records,
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )
        partitions = [TopicPartition(topic, partition) for topic, partition in starts]
        self._consumer.assign(partitions)
        for tp in partitions:
            self._consumer.seek(tp, starts[(tp.topic, tp.partition)])

    def poll(self, timeout_ms: int = 500) -> list[WireRecord]:
        batches = self._consumer.poll(timeout_ms=timeout_ms, max_records=self._max_records)
        return [_wire(message) for messages in batches.values() for message in messages]

    def seek(self, starts: dict[tuple[str, int], int]) -> None:
        for (topic, partition), offset in starts.items():
            self._consumer.seek(TopicPartition(topic, partition), offset)

    def close(self) -> None:
        self._consumer.close(autocommit=False)
