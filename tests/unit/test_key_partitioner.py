"""The producer's partitioner remembers hashes, and places every key exactly where Kafka's default does."""

from __future__ import annotations

import uuid

from kafka.partitioner.default import DefaultPartitioner

from channels.kafka import KeyPartitioner


class Cluster:
    """The two questions a partitioner asks of the cluster's metadata."""

    def __init__(self, partitions: dict[str, set[int]]) -> None:
        self._partitions = partitions

    def topics(self):
        return set(self._partitions)

    def partitions_for_topic(self, topic):
        return self._partitions[topic]

    def available_partitions_for_topic(self, topic):
        return self._partitions[topic]


def test_every_key_lands_where_kafkas_default_partitioner_puts_it_on_every_topic():
    cluster = Cluster({"t.interactions": set(range(6)), "t.domain": set(range(6)), "t.other": {0, 1, 2}})
    ours, kafkas = KeyPartitioner(), DefaultPartitioner()
    keys = [str(uuid.uuid4()).encode() for _ in range(2_000)] + [b"fabien", b"", "Élise".encode()]
    for topic in ("t.interactions", "t.domain", "t.other"):
        for key in keys * 2:  # the second time from the remembered hash
            assert ours.partition(topic, key, key, b"v", b"v", cluster) == kafkas.partition(
                topic, key, key, b"v", b"v", cluster
            )


def test_a_record_without_key_goes_to_some_partition_of_its_topic():
    cluster = Cluster({"t.audit": {0, 1, 2}})
    assert KeyPartitioner().partition("t.audit", None, None, b"v", b"v", cluster) in {0, 1, 2}
