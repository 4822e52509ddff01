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
        drop_namespace(settings)


def drop_namespace(settings: Settings) -> None:
    """Drop the namespace's schemas and topics (shared services: never leave a benchmark's behind)."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        for (schema,) in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (f"{settings.namespace}\\_%",)
        ).fetchall():
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    existing = set(admin.list_topics())
    admin.delete_topics([t for t in [*settings.event_topics, settings.dead_letter_topic] if t in existing])
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


def environment_of(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment a `crossview` process needs to work on the benchmark's namespace."""
    return {
        **os.environ,
        "CROSSVIEW_NAMESPACE": settings.namespace,
        "CROSSVIEW_PARTITIONS": str(settings.partitions),
        **extra,
    }


@contextmanager
def crossview_server(  # noqa: PLR0913 - the process, its options, its environment
    settings, logs, module: str = "services.cli", workers: int = 1, options: tuple[str, ...] = (), **environment: str
):
    """`crossview serve` in its own process on a free port (with ``workers`` API processes and the
    serve ``options``), until the block ends; yields its URL. A local trial (the benchmark's
    services use the default password and the demo keys)."""
    with crossview_server_process(settings, logs, module, workers, options, **environment) as (base, _):
        yield base


@contextmanager
def crossview_server_process(  # noqa: PLR0913 - as crossview_server
    settings, logs, module: str = "services.cli", workers: int = 1, options: tuple[str, ...] = (), **environment: str
):
    """As ``crossview_server``, yielding (URL, process): with one worker, the process is the API
    process itself (its memory can be read)."""
    import random
    import subprocess
    import sys

    import httpx

    port = 18000 + random.randrange(2000)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            module,
            "serve",
            "--port",
            str(port),
            *(["--workers", str(workers)] if workers > 1 else []),
            *options,
        ],
        env=environment_of(settings, CROSSVIEW_LOCAL_TRIAL="1", **environment),
        stdout=logs,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        yield base, server
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextmanager
def crossview_command(settings, logs, command: str):
    """`crossview <command>` in its own process on the benchmark's namespace until the block ends:
    `relay` beside servers started with ``options=("--no-relay",)`` is the scaled deployment (an
    API process's event loop serves requests alone; the relays' work is counted all the same)."""
    import subprocess
    import sys

    relay = subprocess.Popen(
        [sys.executable, "-m", "services.cli", command],
        env=environment_of(settings),
        stdout=logs,
        stderr=subprocess.STDOUT,
    )
    try:
        yield relay
    finally:
        relay.terminate()
        relay.wait(timeout=30)


def bearer(role, subject: str = "bench") -> dict[str, str]:
    """A development token the benchmark's servers accept (they run with the demo signing key)."""
    from services.application.auth import development_token
    from services.settings import DEMO_SIGNING_KEY

    return {"Authorization": f"Bearer {development_token(DEMO_SIGNING_KEY, subject, [role])}"}


def latency_summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "p50_ms": round(ordered[len(ordered) // 2] * 1000, 2),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 2),
    }
