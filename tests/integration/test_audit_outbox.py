"""The audit outbox on the real services: access records kept in PostgreSQL while the broker is
away, carried to the audit topic once it is back, each exactly once even when two processes drain
the one outbox at the same time."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime

from kafka import KafkaConsumer

from channels.kafka import BrokerUnavailable, KafkaPublisher
from projections.postgres_store import open_pool
from services.adapters.audit_outbox import AuditOutboxRelay, PostgresAuditOutbox
from services.application.audit import access
from services.application.auth import Caller, Role
from services.application.ingest import Ingest


def _accesses(count: int) -> list[dict]:
    caller = Caller(subject="alice@advisors", roles=frozenset({Role.ADVISOR}), via="token")
    return [
        access(
            caller,
            "read",
            "person_360",
            "GET",
            f"/v1/persons/p{n}",
            "127.0.0.1",
            {"person_id": f"p{n}"},
            datetime.now(UTC),
        )
        for n in range(count)
    ]


def accesses_on_the_topic(settings) -> list[dict]:
    consumer = KafkaConsumer(
        settings.topic("audit"),
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    try:
        return [a for record in consumer for a in json.loads(record.value)["accesses"]]
    finally:
        consumer.close()


def test_records_kept_while_the_broker_is_away_reach_the_topic_once_it_is_back(settings):
    pool = open_pool(settings.database_url, max_size=5)
    publisher = KafkaPublisher(settings.kafka_bootstrap, ack_timeout_s=10)
    try:

        def broker_away(events):
            raise BrokerUnavailable("the broker does not answer")

        outbox = PostgresAuditOutbox(pool, settings.database_url, settings.namespace)
        stranded = AuditOutboxRelay(pool, settings.namespace, broker_away)
        kept = _accesses(3)
        kept[0]["path"] = "/v1/persons/p0\nwith a line break"  # rows are lines on the way in: escaped
        asyncio.run(outbox.keep(kept))  # durable: it returns although nothing reached Kafka
        assert outbox.backlog() == 3
        try:
            stranded.relay_once()
            raise AssertionError("the relay claimed a publication the broker never acknowledged")
        except BrokerUnavailable:
            pass
        assert outbox.backlog() == 3  # nothing lost: the rows stay until published

        later = AuditOutboxRelay(pool, settings.namespace, Ingest(publisher, settings, None).publish)
        assert later.relay_once() == 3 and outbox.backlog() == 0
        on_topic = accesses_on_the_topic(settings)
        assert sorted(a["id"] for a in on_topic) == sorted(a["id"] for a in kept)
        assert {a["subject"] for a in on_topic} == {"p0", "p1", "p2"}
        assert [a["path"] for a in on_topic if a["subject"] == "p0"] == ["/v1/persons/p0\nwith a line break"]
    finally:
        publisher.close()
        pool.close()


def test_two_processes_draining_one_outbox_publish_each_record_once(settings):
    pool = open_pool(settings.database_url, max_size=8)
    publisher = KafkaPublisher(settings.kafka_bootstrap, ack_timeout_s=10)
    publish = Ingest(publisher, settings, None).publish
    try:
        outbox = PostgresAuditOutbox(pool, settings.database_url, settings.namespace)
        first = AuditOutboxRelay(pool, settings.namespace, publish)
        second = AuditOutboxRelay(pool, settings.namespace, publish)
        kept = _accesses(5_000)

        async def keep_in_rounds() -> None:
            await asyncio.gather(*(outbox.keep(kept[start : start + 250]) for start in range(0, len(kept), 250)))

        asyncio.run(keep_in_rounds())
        stops = [first.start(), second.start()]  # both drain at once, as two API processes would
        for stop in stops:
            stop()  # each drains what it can before it stops
        assert outbox.backlog() == 0
        ids = [a["id"] for a in accesses_on_the_topic(settings)]
        assert len(ids) == len(set(ids)) == 5_000 and set(ids) == {a["id"] for a in kept}
    finally:
        publisher.close()
        pool.close()


def test_a_relay_stopping_takes_what_was_kept_before_it_with_it(settings):
    pool = open_pool(settings.database_url, max_size=5)
    publisher = KafkaPublisher(settings.kafka_bootstrap, ack_timeout_s=10)
    try:
        outbox = PostgresAuditOutbox(pool, settings.database_url, settings.namespace)
        stop = AuditOutboxRelay(pool, settings.namespace, Ingest(publisher, settings, None).publish).start()
        kept = _accesses(10)
        done = threading.Event()

        async def keep() -> None:
            await outbox.keep(kept)
            done.set()

        asyncio.run(keep())
        stop()
        assert done.is_set() and outbox.backlog() == 0
        assert {a["id"] for a in accesses_on_the_topic(settings)} == {a["id"] for a in kept}
    finally:
        publisher.close()
        pool.close()


def test_a_record_committed_after_a_later_one_is_published_by_the_next_sweep(settings):
    """The relay reads on from the last row it took; a row numbered before it but committed after
    (a slower transaction) is behind that cursor, and a step from the first row takes it."""
    pool = open_pool(settings.database_url, max_size=5)
    publisher = KafkaPublisher(settings.kafka_bootstrap, ack_timeout_s=10)
    try:
        outbox = PostgresAuditOutbox(pool, settings.database_url, settings.namespace)
        relay = AuditOutboxRelay(pool, settings.namespace, Ingest(publisher, settings, None).publish)
        slow, quick = _accesses(2)
        table = f'"{settings.namespace}_meta".audit_outbox'
        with pool.connection() as held, held.transaction():
            held.execute(f"INSERT INTO {table} (access) VALUES (%s)", (json.dumps(slow),))  # numbered first...
            asyncio.run(outbox.keep([quick]))  # ...committed second
            assert relay.relay_once() == 1  # the quick one: the cursor is now past the slow one's number
        # the slow one is committed now (the block's end), behind the cursor
        assert relay.relay_once() == 0 and outbox.backlog() == 1
        relay._swept = float("-inf")  # the sweep is due (every SWEEP_EVERY_S)
        assert relay.relay_once() == 1 and outbox.backlog() == 0
        assert sorted(a["id"] for a in accesses_on_the_topic(settings)) == sorted([slow["id"], quick["id"]])
    finally:
        publisher.close()
        pool.close()
