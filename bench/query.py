"""360° view query latency at 16 concurrent clients over 100,000 people, with the projector running,
next to the same SQL from a bare psycopg loop in the same run.

- fill: 100,000 synthetic people (functions, attributes, organisations) projected into PostgreSQL;
- api: `crossview serve` in its own process, 16 concurrent HTTP clients asking random people's
  360° views, while `crossview projector` runs and a trickle of interactions flows;
- bare: 16 threads, one connection each, running the statements the 360° view runs, no HTTP.
ratio = API p99 / bare p99 (aim: <= 2.5).
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psycopg

from bench.common import bearer, crossview_server, environment_of, fresh_namespace, latency_summary, log, write_result
from channels.kafka import KafkaPublisher
from channels.memory import MemoryDeadLetters, MemoryLog
from projections.postgres_store import PostgresStore, open_pool
from projections.projector import Projector
from schemas.events import stream_of
from services.application.auth import Role
from services.application.ingest import Ingest
from services.demo.data import synthetic_interactions, synthetic_people
from services.settings import Settings

PEOPLE = int(os.environ.get("BENCH_PEOPLE", "100000"))
CLIENTS = 16
REQUESTS = 4000
ROOT = Path(__file__).resolve().parents[1]


def fill(settings: Settings) -> list[str]:
    """Project the synthetic people straight into PostgreSQL through the real projector code."""
    pool = open_pool(settings.database_url, max_size=2)
    store = PostgresStore(pool, settings.namespace)
    projector = Projector(store, MemoryDeadLetters())
    memory_log = MemoryLog(settings.partitions, on_append=lambda records: _in_batches(projector, records))
    projector.assign([p for topic in settings.event_topics for p in memory_log.partitions_of(topic)])
    people, chunk, done = [], [], 0
    for event in synthetic_people(PEOPLE, seed=9):
        chunk.append(event)
        if event.type == "crossview.person.registered.v1":
            people.append(event.subject)
        if len(chunk) == 20_000:
            done += _project(memory_log, projector, settings, chunk)
            log(f"filled {len(people):,}/{PEOPLE:,} people ({done:,} events)")
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


class LiveProjection:
    """`crossview projector` and a trickle of interactions, running through both measurements."""

    def __init__(self, settings: Settings, logs) -> None:
        self.settings, self.logs = settings, logs
        self.stop = threading.Event()

    def __enter__(self) -> LiveProjection:
        self.projector = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "projector"],
            env=environment_of(self.settings),
            stdout=self.logs,
            stderr=subprocess.STDOUT,
        )
        self.trickle = threading.Thread(target=_trickle, args=(self.settings, self.stop), daemon=True)
        self.trickle.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.trickle.join(timeout=30)
        self.projector.terminate()
        self.projector.wait(timeout=30)


def api(settings: Settings, people: list[str], logs) -> dict:
    advisor = bearer(Role.ADVISOR, "bench")
    with crossview_server(settings, logs) as base:
        asyncio.run(_api_load(base, people[:200], advisor))  # warm-up
        latencies, rate = asyncio.run(_api_load(base, people, advisor))
    return _summary(latencies, rate)


def _trickle(settings: Settings, stop: threading.Event) -> None:
    """A few interactions a second while the queries run: the projector is live, not idle."""
    publisher = KafkaPublisher(settings.kafka_bootstrap)
    ingest = Ingest(publisher, settings, None)  # background load: clear events are as good
    events = iter(synthetic_interactions(people=1000, per_person=1000, seed=4))
    while not stop.wait(0.1):
        ingest.publish([next(events) for _ in range(20)])
    publisher.close()


def bare(settings: Settings, people: list[str]) -> dict:
    """The statements of one 360° view, run straight on psycopg by 16 threads."""
    schema = f'"{settings.namespace}_g1"'
    meta = f'"{settings.namespace}_meta"'
    rng = random.Random(1)
    queue = [rng.choice(people) for _ in range(REQUESTS)]
    latencies: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            while True:
                with lock:
                    if not queue:
                        return
                    person = queue.pop()
                started = time.perf_counter()
                conn.execute(f"SELECT generation FROM {meta}.active WHERE projection = 'person_view'").fetchone()
                conn.execute(f"SELECT topic, partition, next_offset FROM {schema}.offsets").fetchall()
                view = conn.execute(f"SELECT view FROM {schema}.person_view WHERE person_id = %s", (person,)).fetchone()
                organisations = [f["organisation_id"] for f in view[0]["functions"].values()]
                for organisation in organisations:
                    ids = [
                        r[0]
                        for r in conn.execute(
                            f"SELECT DISTINCT person_id FROM {schema}.person_function WHERE organisation_id = %s "
                            "AND entered_on <= current_date AND (exits_on IS NULL OR exits_on >= current_date)",
                            (organisation,),
                        ).fetchall()
                    ]
                    conn.execute(f"SELECT view FROM {schema}.person_view WHERE person_id = ANY(%s)", (ids,)).fetchall()
                conn.execute(
                    f"SELECT kind, id, view FROM {schema}.reference WHERE (kind = 'organisation' AND "
                    "id = ANY(%s)) OR kind = 'titles'",
                    (organisations,),
                ).fetchall()
                with lock:
                    latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return _summary(latencies, REQUESTS / (time.perf_counter() - started))


def _summary(latencies: list[float], rate: float) -> dict:
    return {"requests": len(latencies), "requests_per_s": round(rate), **latency_summary(latencies)}


def main() -> dict:
    with fresh_namespace() as settings:
        log(f"filling PostgreSQL with {PEOPLE:,} synthetic people through the projector...")
        people = fill(settings)
        with open(ROOT / "bench" / "results" / "query-processes.log", "w") as logs, LiveProjection(settings, logs):
            log("bare psycopg: the 360° view's statements, 16 threads, projector running...")
            raw = bare(settings, people)
            log(f"  p50 {raw['p50_ms']} ms, p99 {raw['p99_ms']} ms, {raw['requests_per_s']} req/s")
            log("API: GET /v1/persons/{id}, 16 concurrent clients, projector running...")
            served = api(settings, people, logs)
        log(f"  p50 {served['p50_ms']} ms, p99 {served['p99_ms']} ms, {served['requests_per_s']} req/s")
    result = {
        "command": "make bench",
        "people": PEOPLE,
        "clients": CLIENTS,
        "bare_sql": raw,
        "api": served,
        "ratio": round(served["p99_ms"] / raw["p99_ms"], 3),
        "goal": {"ratio_at_most": 2.5},
    }
    path = write_result("query", result)
    log(f"ratio (API p99 / bare p99) {result['ratio']} -> {path}")
    return result
