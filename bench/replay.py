"""Replay and time travel (issue 14), next to the bare consume rate measured in the same run.

- bare consume: kafka-python reading every record of the event topics from offset 0, nothing else
  (as bench/projector.py reads, with the projector's poll size);
- replay: `crossview replay --until T --into NAME` (services.bootstrap.replay) over the same log, T
  past every event, with one process, then with one per core (`--workers`): records a second, from
  its start to its end; ratio = the faster replay's rate / bare consume rate (goal: at least 0.5);
- as_of: GET /v1/persons/{id}?as_of=INSTANT through `crossview serve`, for one person with
  BENCH_REPLAY_HISTORY events (default 10,000), instants drawn at random over their history, one
  client sending its next request when the answer came (goal: p99 at most 50 ms), beside the same
  person's live view (GET /v1/persons/{id}).

The log: BENCH_REPLAY_EVENTS interactions (default 1,000,000) of 10 each for BENCH_REPLAY_EVENTS/10
people, then the one person's history; the live projector folds it all first (it keeps the
checkpoints time travel starts from). BENCH_REPLAY_QUERIES requests of each kind (default 500).
"""

from __future__ import annotations

import os
import random
import threading
import time
from datetime import timedelta

from kafka import KafkaConsumer, TopicPartition

from bench.clients import http_closed
from bench.common import bearer, crossview_server, fresh_namespace, log, write_result
from channels.kafka import BATCH_RECORDS, KafkaPublisher, end_offsets
from projections.postgres_store import PostgresStore, open_pool
from services.application.auth import Role
from services.application.ingest import Ingest
from services.bootstrap import collect_garbage_rarely, replay, run_projector
from services.demo.data import synthetic_interactions
from services.settings import Settings

EVENTS = int(os.environ.get("BENCH_REPLAY_EVENTS", "1000000"))
HISTORY = int(os.environ.get("BENCH_REPLAY_HISTORY", "10000"))
QUERIES = int(os.environ.get("BENCH_REPLAY_QUERIES", "500"))
PER_PERSON = 10
WORKERS = min(os.cpu_count() or 1, 6)  # replay --workers: one process a core (at most one a partition)


def produce(settings: Settings) -> tuple[int, str, list]:
    """The crowd's interactions, then one person's long history; (events, that person, their events)."""
    publisher = KafkaPublisher(settings.kafka_bootstrap, linger_ms=20)
    ingest, chunk, sent = Ingest(publisher, settings, None), [], 0
    crowd = synthetic_interactions(people=max(EVENTS // PER_PERSON, 1), per_person=PER_PERSON, seed=5)
    for event in crowd:
        chunk.append(event)
        if len(chunk) == 10_000:
            sent += len(ingest.publish(chunk))
            chunk = []
            log(f"produced {sent:,}/{EVENTS:,}")
    history = list(synthetic_interactions(people=1, per_person=HISTORY, seed=6))
    for start in range(0, len(chunk + history), 10_000):
        sent += len(ingest.publish((chunk + history)[start : start + 10_000]))
    publisher.close()
    return sent, history[0].subject, history


def bare_consume(settings: Settings, total: int) -> float:
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        max_poll_records=BATCH_RECORDS,  # as the projector polls
        fetch_max_bytes=64 * 2**20,
        max_partition_fetch_bytes=8 * 2**20,
    )
    consumer.assign([TopicPartition(topic, p) for topic in settings.event_topics for p in range(settings.partitions)])
    consumer.seek_to_beginning()
    read, started = 0, time.perf_counter()
    while read < total:
        read += sum(len(records) for records in consumer.poll(timeout_ms=1000).values())
    rate = read / (time.perf_counter() - started)
    consumer.close()
    return rate


def project_live(settings: Settings) -> float:
    """The live projector until it caught up with the log; its seconds."""
    targets = end_offsets(settings.kafka_bootstrap, settings.event_topics)
    stop = threading.Event()
    thread = threading.Thread(target=run_projector, args=(settings, stop), kwargs={"report_every_s": 3600})
    started = time.perf_counter()
    thread.start()
    pool = open_pool(settings.database_url, max_size=1)
    store = PostgresStore(pool, settings.namespace)
    while not all(store.position().get(p, 0) >= o for p, o in targets.items()):
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    stop.set()
    thread.join()
    pool.close()
    return seconds


def measure(settings: Settings) -> dict:
    log(f"producing {EVENTS:,} interactions, then one person's {HISTORY:,}...")
    total, person, history = produce(settings)
    log("bare consume of the event topics...")
    bare = bare_consume(settings, total)
    log(f"  {bare:,.0f} records/s")
    log("the live projector folds the log (and keeps its checkpoints)...")
    live_seconds = project_live(settings)
    log(f"  {total / live_seconds:,.0f} events/s")
    collect_garbage_rarely()  # as `crossview replay` does
    until = max(e.time for e in history) + timedelta(days=1)
    replays = {}
    for workers in dict.fromkeys((1, WORKERS)):
        started = time.perf_counter()
        _, totals, _ = replay(settings, f"bench_{workers}", until, workers=workers)
        seconds = time.perf_counter() - started
        replays[workers] = {"workers": workers, "records": totals.records, "seconds": round(seconds, 2)}
        replays[workers]["per_s"] = round(totals.records / seconds)
        log(
            f"replay, {workers} process(es): {totals.records:,} records in {seconds:.1f} s, {totals.records / seconds:,.0f}/s"
        )
    first, last = history[0].time, history[-1].time
    rng = random.Random(3)
    instants = [(first + (last - first) * rng.random()).isoformat().replace("+00:00", "Z") for _ in range(QUERIES)]
    advisor = bearer(Role.ADVISOR, "bench")
    with open(os.devnull, "w") as logs, crossview_server(settings, logs) as base:
        live_paths = [f"/v1/persons/{person}"] * QUERIES
        as_of_paths = [f"/v1/persons/{person}?as_of={instant}" for instant in instants]
        http_closed(base, advisor, live_paths[:50] + as_of_paths[:50], 1, 1)  # warm-up
        log("the live 360° view of the person, one client...")
        live = http_closed(base, advisor, live_paths, 1, 1).summary()
        log(f"  {live}")
        log("their 360° view as of random instants of their history, one client...")
        as_of = http_closed(base, advisor, as_of_paths, 1, 1).summary()
        log(f"  {as_of}")
    return {
        "events": total,
        "bare_consume_per_s": round(bare),
        "live_projector_per_s": round(total / live_seconds),
        "replay": list(replays.values()),
        "ratio": round(max(r["per_s"] for r in replays.values()) / bare, 3),
        "person_events": HISTORY,
        "live_360": live,
        "as_of_360": as_of,
    }


def main() -> dict:
    with fresh_namespace() as settings:
        measured = measure(settings)
    result = {
        "command": "python -m bench replay",
        **measured,
        "goal": {"ratio_at_least": 0.5, "as_of_360_p99_ms_at_most": 50},  # issue 14, at 1,000,000 events
        "what": {
            "bare_consume_per_s": "kafka-python reading every record of the event topics, nothing else",
            "replay": "crossview replay --until (past every event) --into bench: decode, fold, rows and offsets "
            "in one transaction a batch, into a generation of its own",
            "as_of_360": "GET /v1/persons/{id}?as_of=INSTANT through crossview serve: token, audit record, the "
            "person's best checkpoint and later events read, folded, the answer built",
        },
    }
    path = write_result("replay", result)
    log(f"replay/bare consume {result['ratio']}, as_of p99 {measured['as_of_360']['p99_ms']} ms -> {path}")
    return result
