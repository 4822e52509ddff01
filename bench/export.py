"""Export throughput (`crossview export`), next to the bare consume rate measured in the same run.

- bare consume: the export's own reader (channels.kafka.KafkaReplay, no consumer group) reading
  every record of the exported topics, nothing else; measured before and after the export, the
  better one kept;
- export: the whole first export of the log (decode, unseal, pseudonymise, Parquet by family and
  day, the state), without the read-model snapshots (no projector runs here), in one process, then
  with one worker process per core (the default on a log this size); then a second export of the
  same directory, which finds nothing new (what an incremental run costs when idle).

The events are sealed as in production (their personal fields open with each person's data key).
BENCH_EXPORT_EVENTS sets the number of events (default 1,000,000; the issue's goal: export
>= 100,000 events/s), BENCH_EXPORT_PEOPLE the people they are spread over (default a tenth).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import fresh_namespace, log, write_result
from channels.kafka import KafkaPublisher, KafkaReplay, end_offsets
from projections.log_export import Filter
from projections.postgres_store import open_pool
from services.application.ingest import Ingest
from services.bootstrap import data_keys, export, export_topics
from services.demo.data import synthetic_interactions
from services.settings import Settings

EVENTS = int(os.environ.get("BENCH_EXPORT_EVENTS", "1000000"))
PEOPLE = int(os.environ.get("BENCH_EXPORT_PEOPLE", str(max(EVENTS // 10, 1))))
WORKERS = os.cpu_count() or 1  # the default of `crossview export` on a log this size
GOAL = 100_000  # events/s


def produce(settings: Settings) -> float:
    publisher = KafkaPublisher(settings.kafka_bootstrap, linger_ms=20)
    pool = open_pool(settings.database_url, max_size=2)
    ingest = Ingest(publisher, settings, data_keys(settings, pool))
    started, chunk, produced = time.perf_counter(), [], 0
    for event in synthetic_interactions(people=PEOPLE, per_person=max(EVENTS // PEOPLE, 1), body_bytes=70):
        chunk.append(event)
        if len(chunk) == 10_000:
            ingest.publish(chunk)
            produced += len(chunk)
            chunk = []
            log(f"produced {produced:,}/{EVENTS:,}")
    if chunk:
        ingest.publish(chunk)
        produced += len(chunk)
    rate = produced / (time.perf_counter() - started)
    publisher.close()
    pool.close()
    return rate


def bare_consume(settings: Settings) -> tuple[int, float]:
    """(records read, records/s): every record of the exported topics, read and dropped."""
    ends = {p: o for p, o in end_offsets(settings.kafka_bootstrap, export_topics(settings)).items() if o}
    replay = KafkaReplay(settings.kafka_bootstrap, dict.fromkeys(ends, 0))
    reached, read, started = dict.fromkeys(ends, 0), 0, time.perf_counter()
    try:
        while any(reached[p] < end for p, end in ends.items()):
            for record in replay.poll(500):
                reached[(record.topic, record.partition)] = record.offset + 1
                read += 1
    finally:
        replay.close()
    return read, read / (time.perf_counter() - started)


def directory_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main() -> None:
    with fresh_namespace() as settings:
        log(f"export: producing {EVENTS:,} sealed events for {PEOPLE:,} people")
        produce_rate = produce(settings)
        records, consume_before = bare_consume(settings)
        log(f"bare consume: {consume_before:,.0f} records/s")
        root = Path(tempfile.mkdtemp(prefix="crossview-export-bench-"))
        try:
            started = time.perf_counter()
            alone = export(settings, root / "alone", Filter(), snapshots=False, workers=1)
            alone_s = time.perf_counter() - started
            log(f"export, one process: {alone.records / alone_s:,.0f} events/s")
            started = time.perf_counter()
            result = export(settings, root / "export", Filter(), snapshots=False, workers=WORKERS)
            export_s = time.perf_counter() - started
            started = time.perf_counter()
            again = export(settings, root / "export", Filter(), snapshots=False)
            idle_s = time.perf_counter() - started
            size = directory_bytes(root / "export")
        finally:
            shutil.rmtree(root, ignore_errors=True)
        _, consume_after = bare_consume(settings)
    bare = max(consume_before, consume_after)
    rate = result.records / export_s
    log(f"export: {rate:,.0f} events/s ({rate / bare:.2f} of bare consume {bare:,.0f}/s)")
    path = write_result(
        "export",
        {
            "events": records,
            "people": PEOPLE,
            "produce_events_per_s": round(produce_rate),
            "bare_consume_events_per_s": round(bare),
            "bare_consume_runs": [round(consume_before), round(consume_after)],
            "export_workers": WORKERS,
            "export_events_per_s": round(rate),
            "export_one_process_events_per_s": round(alone.records / alone_s),
            "export_seconds": round(export_s, 2),
            "ratio_to_bare_consume": round(rate / bare, 3),
            "rows_written": sum(result.rows.values()),
            "parquet_bytes": size,
            "bytes_per_event": round(size / max(records, 1), 1),
            "idle_incremental_seconds": round(idle_s, 2),
            "idle_incremental_records": again.records,
            "goal_events_per_s": GOAL,
            "goal_met": rate >= GOAL,
        },
    )
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
