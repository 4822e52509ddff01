"""What the door and the audit cost: the 360° query and HTTP ingest with authentication and audit
on (`crossview serve`: a bearer token checked, roles checked, an audit record committed before each
360° answer, relayed to its Kafka topic), beside the same server with both taken off (bench/unguarded.py),
in the same run, on the same data, with the projector running. Every server runs as a scaled
deployment does, `serve --no-relay` beside one `crossview relay` process (which carries the audit
records to their topic): the API's event loop serves requests alone, and the relay's work is
counted all the same, on the same machine.

- query: 16 concurrent clients asking random people's 360° views (advisor token);
- ingest: POST /v1/events, batches of 500 from 4 concurrent clients (adapter token).
A third server keeps the door but records nothing, to tell the two costs apart. Each runs twice,
alternating; rates are averaged. ratio = rate with / rate without (aim >= 0.9).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from bench.common import bearer, crossview_command, crossview_server, fresh_namespace, log, write_result
from bench.fill import _api_load, _summary, fill
from bench.ingest import _http
from bench.query import LiveProjection
from channels.kafka import end_offsets
from projections.postgres_store import PostgresStore, open_pool
from services.application.auth import Role
from services.demo.data import synthetic_interactions

ROOT = Path(__file__).resolve().parents[1]
EVENTS = 20_000
ROUNDS = int(os.environ.get("BENCH_AUTH_ROUNDS", "2"))  # each variant this many times, alternating


def _settled(settings, most: int = 1_000, timeout_s: float = 180) -> None:
    """Wait until the projector is nearly caught up (the trickle keeps it a little behind): the
    previous variant's ingest, projected during this variant's queries, would weigh on them."""
    pool = open_pool(settings.database_url, max_size=1)
    store = PostgresStore(pool, settings.namespace)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ends = end_offsets(settings.kafka_bootstrap, settings.event_topics)
            projected = store.position()
            if sum(end - projected.get(partition, 0) for partition, end in ends.items()) <= most:
                return
            time.sleep(0.5)
        log(f"  (the projector was still more than {most:,} records behind after {timeout_s:.0f} s)")
    finally:
        pool.close()


def _measure(settings, people, events, logs, variant: str) -> dict:
    """variant: "on" (crossview serve), "door" (the door without the audit), "off" (neither)."""
    module = "services.cli" if variant == "on" else "bench.unguarded"
    advisor = bearer(Role.ADVISOR) if variant != "off" else {}
    adapter = bearer(Role.ADAPTER) if variant != "off" else {}
    keep_door = {"BENCH_KEEP_DOOR": "1"} if variant == "door" else {}
    with crossview_server(settings, logs, module=module, options=("--no-relay",), **keep_door) as base:
        _settled(settings)
        asyncio.run(_api_load(base, people[:200], advisor))  # warm-up
        latencies, rate = asyncio.run(_api_load(base, people, advisor))
        ingest_rate = asyncio.run(_http(base, events, adapter))
    return {"query": _summary(latencies, rate), "ingest_events_per_s": round(ingest_rate)}


def _mean(runs: list[dict]) -> dict:
    return {
        "query_requests_per_s": round(sum(r["query"]["requests_per_s"] for r in runs) / len(runs)),
        "query_p99_ms": round(sum(r["query"]["p99_ms"] for r in runs) / len(runs), 2),
        "ingest_events_per_s": round(sum(r["ingest_events_per_s"] for r in runs) / len(runs)),
        "runs": runs,
    }


def main() -> dict:
    people_count = int(os.environ.get("BENCH_AUTH_PEOPLE", "20000"))
    os.environ["BENCH_PEOPLE"] = str(people_count)
    with fresh_namespace() as settings:
        import bench.query

        bench.query.PEOPLE = people_count
        log(f"filling PostgreSQL with {people_count:,} synthetic people...")
        people = fill(settings)
        with (
            open(ROOT / "bench" / "results" / "auth-processes.log", "w") as logs,
            LiveProjection(settings, logs),
            crossview_command(settings, logs, "relay"),
        ):
            runs: dict[str, list[dict]] = {"on": [], "door": [], "off": []}
            for round_ in range(ROUNDS):
                for n, variant in enumerate(runs):
                    events = list(synthetic_interactions(people=2_000, per_person=10, seed=100 + round_ * 3 + n))
                    log(f"round {round_ + 1}: authentication and audit {variant}...")
                    runs[variant].append(_measure(settings, people, events, logs, variant))
                    log(f"  {runs[variant][-1]}")
    on, door, off = _mean(runs["on"]), _mean(runs["door"]), _mean(runs["off"])
    result = {
        "command": "make bench (or: .venv/bin/python -m bench auth)",
        "people": people_count,
        "with_auth_and_audit": on,
        "with_auth_without_audit": door,
        "without": off,
        "ratio": {
            "query_rate": round(on["query_requests_per_s"] / off["query_requests_per_s"], 3),
            "ingest_rate": round(on["ingest_events_per_s"] / off["ingest_events_per_s"], 3),
            "query_rate_door_alone": round(door["query_requests_per_s"] / off["query_requests_per_s"], 3),
        },
        "goal": {"ratio_at_least": 0.9},
    }
    path = write_result("auth", result)
    log(f"ratio (with / without) {result['ratio']} -> {path}")
    return result
