"""Scaling the API out: commands and ingest with 1, 2 and 3 `crossview serve` processes on the real
services, in the same run, the same clients spread evenly over the processes.

- commands: 8 concurrent clients registering people (POST /v1/persons, advisor token); each answer
  comes once the events are stored — the relay, in whichever process holds its lock, publishes
  behind the answers;
- ingest: 4 concurrent clients posting batches of 100 interactions (POST /v1/events, adapter token),
  answered once the broker acknowledged.
Goal: throughput grows with the processes, p99 does not (ratios to the single process).
Long work shows its progress; the result goes to bench/results/scale.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import time
from pathlib import Path

import httpx

from bench.common import bearer, crossview_server, fresh_namespace, latency_summary, log, write_result
from services.application.auth import Role
from services.demo.data import synthetic_interactions

ROOT = Path(__file__).resolve().parents[1]
PROCESSES = (1, 2, 3)
COMMANDS = int(os.environ.get("BENCH_SCALE_COMMANDS", "1500"))
COMMAND_CLIENTS = 8
BATCHES = int(os.environ.get("BENCH_SCALE_BATCHES", "300"))
BATCH = 100
INGEST_CLIENTS = 4


async def _load(bases: list[str], clients: int, requests: list[tuple[str, object]], headers: dict) -> dict:
    """Send ``requests`` (path, JSON body) from ``clients`` concurrent clients, each bound to one
    process in turn; the throughput and the latency of every answer."""
    queue, latencies = list(requests), []

    async def client(base: str) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60, headers=headers) as http:
            while queue:
                path, body = queue.pop()
                started = time.perf_counter()
                answer = await http.post(path, json=body)
                latencies.append(time.perf_counter() - started)
                answer.raise_for_status()

    started = time.perf_counter()
    await asyncio.gather(*(client(base) for base, _ in zip(itertools.cycle(bases), range(clients), strict=False)))
    elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        **latency_summary(latencies),
    }


def _measure(settings, processes: int, logs, round_: int) -> dict:
    with contextlib.ExitStack() as servers:
        bases = [servers.enter_context(crossview_server(settings, logs)) for _ in range(processes)]
        advisor, adapter = bearer(Role.ADVISOR), bearer(Role.ADAPTER)
        warm = [("/v1/persons", {"given_name": "Warm", "family_name": "Up"})] * 50
        asyncio.run(_load(bases, COMMAND_CLIENTS, warm, advisor))
        people = [
            ("/v1/persons", {"given_name": f"Fabien{round_}x{n}", "family_name": "Bellemare"}) for n in range(COMMANDS)
        ]
        commands = asyncio.run(_load(bases, COMMAND_CLIENTS, people, advisor))
        events = [
            e.model_dump(mode="json")
            for e in synthetic_interactions(people=2_000, per_person=BATCHES * BATCH // 2_000, seed=processes + round_)
        ]
        batches = [("/v1/events", events[i : i + BATCH]) for i in range(0, len(events), BATCH)]
        ingest = asyncio.run(_load(bases, INGEST_CLIENTS, batches, adapter))
        ingest["events_per_s"] = round(ingest["requests_per_s"] * BATCH)
    return {"commands": commands, "ingest": ingest}


def main() -> dict:
    results: dict[int, dict] = {}
    with fresh_namespace() as settings, open(ROOT / "bench" / "results" / "scale-processes.log", "w") as logs:
        for processes in PROCESSES:
            log(f"{processes} API process(es): {COMMANDS} commands, {BATCHES} ingest batches of {BATCH}...")
            results[processes] = _measure(settings, processes, logs, processes)
            c, i = results[processes]["commands"], results[processes]["ingest"]
            log(
                f"  commands {c['requests_per_s']}/s p99 {c['p99_ms']} ms; "
                f"ingest {i['events_per_s']} events/s p99 {i['p99_ms']} ms"
            )
    one = results[1]
    result = {
        "command": "make bench (or: .venv/bin/python -m bench scale)",
        "processes": {str(n): r for n, r in results.items()},
        "ratio_to_one_process": {
            str(n): {
                "commands_rate": round(r["commands"]["requests_per_s"] / one["commands"]["requests_per_s"], 3),
                "commands_p99": round(r["commands"]["p99_ms"] / one["commands"]["p99_ms"], 3),
                "ingest_rate": round(r["ingest"]["requests_per_s"] / one["ingest"]["requests_per_s"], 3),
                "ingest_p99": round(r["ingest"]["p99_ms"] / one["ingest"]["p99_ms"], 3),
            }
            for n, r in results.items()
        },
        "goal": "throughput grows with the processes (rate ratio > 1), p99 does not (p99 ratio <= 1)",
    }
    path = write_result("scale", result)
    log(f"ratios to one process {result['ratio_to_one_process']} -> {path}")
    return result
