"""Freshness: how long after an event is sent the read model holds it, next to Kafka's own delay.

Events go one at a time at RATE a second for SECONDS (acks=all, 500 people), then in runs of their
own at each of HIGHER_RATES (each event sent at its scheduled instant by one of SENDERS processes,
without waiting for the previous one's acknowledgement: one sender waiting for each
acknowledgement cannot go past about a thousand a second), while two readers follow the topic,
both already caught up:
- bare: a kafka-python consumer in its own process: from the send to the record in its hands;
- Crossview: `crossview projector` in its own process: from the send to the PostgreSQL commit
  that holds the event (its partition's stored offset passing it, read every millisecond, so
  the figure is at most about a millisecond late).
ratio = Crossview p99 / bare p99. No issue sets a goal; the product brief says the view is
fresh within milliseconds of the event.
"""

from __future__ import annotations

import bisect
import multiprocessing
import subprocess
import sys
import threading
import time
from itertools import islice

import psycopg
from kafka import KafkaConsumer, TopicPartition

from bench.common import RESULTS, environment_of, fresh_namespace, latency_summary, log, write_result
from channels.kafka import KafkaPublisher
from projections.postgres_store import PostgresStore, open_pool
from schemas.envelope import to_binary
from schemas.events import INTERACTIONS
from services.demo.data import synthetic_interactions
from services.settings import Settings

RATE = 200
SECONDS = 15
HIGHER_RATES = (2000, 5000)
HIGHER_SECONDS = 10
PEOPLE = 500


def _bare_reader(settings: Settings, ready, stop, results) -> None:
    """Child process: follows the topic from its end; reports when each record reached it."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    partitions = [TopicPartition(settings.topic(INTERACTIONS), p) for p in range(settings.partitions)]
    consumer.assign(partitions)
    consumer.seek_to_end()
    for tp in partitions:
        consumer.position(tp)  # resolve "end" now, before the first event is sent
    ready.set()
    arrived = {}
    while not stop.is_set():
        for records in consumer.poll(timeout_ms=100).values():
            now = time.monotonic()
            for record in records:
                arrived[(record.partition, record.offset)] = now
    consumer.close()
    results.put(arrived)


class _OffsetWatch(threading.Thread):
    """Reads the projector's stored offsets every millisecond; notes when each one moved."""

    def __init__(self, settings: Settings, schema: str) -> None:
        super().__init__(daemon=True)
        self.settings, self.schema, self.stop = settings, schema, threading.Event()
        self.moves: list[tuple[float, int, int]] = []  # (when, partition, next offset)

    def run(self) -> None:
        statement = f"SELECT partition, next_offset FROM {self.schema}.offsets WHERE topic = %s"
        topic, known = self.settings.topic(INTERACTIONS), {}
        with psycopg.connect(self.settings.database_url, autocommit=True) as conn:
            while not self.stop.is_set():
                rows = conn.execute(statement, (topic,), prepare=True).fetchall()
                now = time.monotonic()
                for partition, offset in rows:
                    if known.get(partition) != offset:
                        known[partition] = offset
                        self.moves.append((now, partition, offset))
                time.sleep(0.001)


def _projected_at(moves: list[tuple[float, int, int]]):
    """When each (partition, offset) was first held by the read model: the first move of its
    partition's stored offset past it (moves come in time order, offsets only grow)."""
    by_partition: dict[int, tuple[list[int], list[float]]] = {}
    for when, partition, next_offset in moves:
        offsets, times = by_partition.setdefault(partition, ([], []))
        offsets.append(next_offset)
        times.append(when)

    def at(partition: int, offset: int) -> float | None:
        offsets, times = by_partition.get(partition, ([], []))
        k = bisect.bisect_right(offsets, offset)
        return times[k] if k < len(times) else None

    return at


SENDERS = 2  # processes sharing the schedule: one kafka-python sender tops out near 1,500 a second


def _sender(
    settings: Settings, topic: str, records, rate: int, first: int, step: int, start_at: float, results
) -> None:
    """Child process: sends records first, first + step, ... each at start_at + n / rate (not
    waiting for acknowledgements); reports (when sent, partition, offset) of each, and when it ended."""
    publisher = KafkaPublisher(settings.kafka_bootstrap, linger_ms=0)
    futures = []
    for n in range(first, len(records), step):
        time.sleep(max(0.0, start_at + n / rate - time.monotonic()))
        futures.append((time.monotonic(), publisher.send_raw(topic, *records[n])))
    ended = time.monotonic()
    publisher.flush()
    results.put(
        ([(at, meta.partition, meta.offset) for at, future in futures for meta in [future.get(timeout=30)]], ended)
    )
    publisher.close()


def _send_in_processes(context, settings: Settings, topic: str, records, rate: int) -> tuple[list, float]:
    """The schedule shared by SENDERS processes (monotonic clocks are the machine's: comparable)."""
    results = context.Queue()
    start_at = time.monotonic() + 3  # every sender started and connected
    senders = [
        context.Process(target=_sender, args=(settings, topic, records, rate, k, SENDERS, start_at, results))
        for k in range(SENDERS)
    ]
    for sender in senders:
        sender.start()
    parts = [results.get(timeout=600) for _ in senders]
    for sender in senders:
        sender.join(timeout=30)
    sent = sorted(entry for part, _ in parts for entry in part)
    return sent, max(ended for _, ended in parts) - start_at


def _wait_for_projector(settings: Settings, store: PostgresStore, publisher: KafkaPublisher, events) -> None:
    """Sends one event and waits until the projector has stored it: the group is formed."""
    publisher.publish(settings.topic(INTERACTIONS), [next(events)])
    deadline = time.monotonic() + 120
    while not store.position():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the projector stored nothing in 120 s (see {RESULTS / 'freshness-projector.log'})")
        time.sleep(0.2)


def run(rate: int, seconds: int, wait_for_each: bool) -> dict:
    """One run in a namespace of its own: ``rate`` events a second for ``seconds``."""
    total = rate * seconds
    RESULTS.mkdir(exist_ok=True)
    with fresh_namespace() as settings, open(RESULTS / "freshness-projector.log", "a") as logs:
        events = synthetic_interactions(people=PEOPLE, per_person=total // PEOPLE + 2, body_bytes=70)
        publisher = KafkaPublisher(settings.kafka_bootstrap, linger_ms=0)
        projector = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "projector"],
            env=environment_of(settings),
            stdout=logs,
            stderr=subprocess.STDOUT,
        )
        context = multiprocessing.get_context("spawn")
        ready, stop, results = context.Event(), context.Event(), context.Queue()
        reader = context.Process(target=_bare_reader, args=(settings, ready, stop, results))
        pool = open_pool(settings.database_url, max_size=1)
        store = PostgresStore(pool, settings.namespace)
        watch = _OffsetWatch(settings, f"{settings.namespace}_g{store.generation}")
        topic = settings.topic(INTERACTIONS)
        try:
            log("starting `crossview projector` and a bare consumer, waiting until both follow the topic...")
            _wait_for_projector(settings, store, publisher, events)
            reader.start()
            ready.wait(60)
            watch.start()
            how = (
                "each acknowledged before the next"
                if wait_for_each
                else f"by {SENDERS} processes, not waiting for acknowledgements"
            )
            log(f"sending {total:,} events one at a time, {rate:,} a second ({how})...")
            batch = list(islice(events, total))
            if wait_for_each:
                sent = []  # (when sent, partition, offset)
                started = time.monotonic()
                for n, event in enumerate(batch):
                    time.sleep(max(0.0, started + n / rate - time.monotonic()))
                    at = time.monotonic()
                    (position,) = publisher.publish(topic, [event])
                    sent.append((at, position.partition, position.offset))
                sending = time.monotonic() - started
            else:
                sent, sending = _send_in_processes(context, settings, topic, [to_binary(e) for e in batch], rate)
            time.sleep(2)  # the last events reach both readers
            stop.set()
            arrived = results.get(timeout=60)
            reader.join(timeout=30)
            watch.stop.set()
            watch.join(timeout=10)
        finally:
            projector.terminate()
            projector.wait(timeout=30)
            publisher.close()
            pool.close()
    bare = [arrived[(p, o)] - at for at, p, o in sent if (p, o) in arrived]
    projected_at = _projected_at(watch.moves)
    projected = [projected_at(p, o) for _, p, o in sent]
    crossview = [when - at for (at, _, _), when in zip(sent, projected, strict=True) if when is not None]
    if len(bare) < total or len(crossview) < total:
        raise RuntimeError(f"missing events: bare saw {len(bare)}, the projector {len(crossview)} of {total}")
    result = {
        "events": total,
        "rate_per_s": rate,
        "achieved_rate_per_s": round(total / sending),
        "sent": "one at a time, " + how,
        "people": PEOPLE,
        "bare_kafka": latency_summary(bare),
        "crossview_projected": latency_summary(crossview),
        "ratio": round(latency_summary(crossview)["p99_ms"] / latency_summary(bare)["p99_ms"], 2),
    }
    log(
        f"{rate:,}/s: bare Kafka {result['bare_kafka']}, projected {result['crossview_projected']}; ratio {result['ratio']}"
    )
    return result


def main() -> dict:
    (RESULTS / "freshness-projector.log").unlink(missing_ok=True)
    first = run(RATE, SECONDS, wait_for_each=True)
    higher = [run(rate, HIGHER_SECONDS, wait_for_each=False) for rate in HIGHER_RATES]
    result = {"command": "make bench", **first, "higher_rates": higher}
    path = write_result("freshness", result)
    log(f"-> {path}")
    return result
