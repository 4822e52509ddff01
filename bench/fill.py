"""The quick fill: synthetic people projected straight into PostgreSQL through the projector code
(no event store, no relay, no Kafka), and a closed-loop httpx client of the 360° view. What the
auth benchmark uses; the query benchmark loads through the real pipeline (bench/load.py)."""

from __future__ import annotations

import asyncio
import os
import random
import time

import httpx

from bench.common import latency_summary, log
from channels.memory import MemoryDeadLetters, MemoryLog
from projections.postgres_store import PostgresStore, open_pool
from projections.projector import Projector
from schemas.events import stream_of
from services.demo.data import synthetic_people
from services.settings import Settings

CLIENTS = 16
REQUESTS = 4000


def fill(settings: Settings) -> list[str]:
    """Project BENCH_PEOPLE synthetic people straight into PostgreSQL through the real projector code."""
    people_count = int(os.environ.get("BENCH_PEOPLE", "100000"))
    pool = open_pool(settings.database_url, max_size=2)
    store = PostgresStore(pool, settings.namespace)
    projector = Projector(store, MemoryDeadLetters())
    memory_log = MemoryLog(settings.partitions, on_append=lambda records: _in_batches(projector, records))
    projector.assign([p for topic in settings.event_topics for p in memory_log.partitions_of(topic)])
    people, chunk, done = [], [], 0
    for event in synthetic_people(people_count, seed=9):
        chunk.append(event)
        if event.type == "crossview.person.registered.v1":
            people.append(event.subject)
        if len(chunk) == 20_000:
            done += _project(memory_log, projector, settings, chunk)
            log(f"filled {len(people):,}/{people_count:,} people ({done:,} events)")
            chunk = []
    _project(memory_log, projector, settings, chunk)
    pool.close()
    return people


def _project(memory_log: MemoryLog, projector: Projector, settings: Settings, events) -> int:
    for topic in settings.event_topics:
        batch = [e for e in events if settings.topic(stream_of(e.type)) == topic]
        if batch:
            memory_log.publish(topic, batch)  # projected as it is appended (on_append)
    return len(events)


def _in_batches(projector: Projector, records) -> None:
    for start in range(0, len(records), 5000):
        projector.process(records[start : start + 5000])


async def _api_load(base: str, people: list[str], headers: dict | None = None) -> tuple[list[float], float]:
    rng = random.Random(1)
    queue = [rng.choice(people) for _ in range(REQUESTS)]
    latencies: list[float] = []

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30, headers=headers) as http:
            while queue:
                person = queue.pop()
                started = time.perf_counter()
                answer = await http.get(f"/v1/persons/{person}")
                latencies.append(time.perf_counter() - started)
                answer.raise_for_status()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return latencies, REQUESTS / (time.perf_counter() - started)


def _summary(latencies: list[float], rate: float) -> dict:
    return {"requests": len(latencies), "requests_per_s": round(rate), **latency_summary(latencies)}
