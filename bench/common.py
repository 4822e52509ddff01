"""What every benchmark shares: a fresh namespace, the machine's description, the result file."""

from __future__ import annotations

import json
import os
import platform
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import psycopg
from kafka import KafkaAdminClient

from services.bootstrap import create_topics
from services.settings import Settings

RESULTS = Path(__file__).parent / "results"


def machine() -> dict:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kb = int(
        next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(memory_kb / 2**20, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


@contextmanager
def fresh_namespace(partitions: int = 6):
    settings = Settings(namespace=f"bench{uuid.uuid4().hex[:8]}", partitions=partitions)
    create_topics(settings)
    try:
        yield settings
    finally:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            for (schema,) in conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (f"{settings.namespace}\\_%",)
            ).fetchall():
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        admin.delete_topics([*settings.event_topics, settings.dead_letter_topic])
        admin.close()


def write_result(name: str, result: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    result = {
        "benchmark": name,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        **result,
    }
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)
