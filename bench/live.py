"""Live stream: from a webhook's 2xx to the change arriving on an open stream, beside the freshness
bench's send->commit in the same run; and how many open streams one API process holds.

`crossview serve` (one process) and `crossview projector` on the real services, in a fresh namespace:
- latency, at each of RATES events/s of background load: WATCHED people each have a stream open
  (GET /v1/persons/{id}/stream, Server-Sent Events); PROBES_PER_S signed Twilio SMS webhooks a
  second (POST /v1/ingest/twilio/sms, one by one, from each watched person's number in turn) on a
  fixed schedule; each latency runs from the webhook's 2xx (the broker acknowledged the event) to
  its change read off the stream (matched by MessageSid). The background load is POST /v1/events
  batches of interactions for BACKGROUND_PEOPLE other people, BATCHES_PER_S batches a second of
  rate / BATCHES_PER_S events each, sent on schedule from a process of its own;
- send->commit: bench/freshness.py's own run at the same rate (its namespace, its projector), so
  the ratio compares the stream with what the projector alone takes on the same machine that run;
- streams: STREAMS streams on STREAMS different people opened on the one API process; its resident
  memory (VmRSS) before and after; then one interaction for each of those people in batches, and
  how many streams got theirs (and how soon after the batch's 202): the streams are held, not only
  open.
Every client (streams, probes) is one asyncio process with plain sockets; the background load is
another process (httpx). time.monotonic is one clock for both.
Goals (issue 12): p99 under 250 ms at 2,000 events/s; p99 / send->commit p99 <= 2; 1,000 streams.
Smaller runs, to check the bench itself: BENCH_LIVE_RATES, BENCH_LIVE_SECONDS, BENCH_LIVE_STREAMS,
BENCH_LIVE_PROBES_PER_S, BENCH_LIVE_FRESHNESS_SECONDS.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bench import freshness
from bench.common import (
    RESULTS,
    bearer,
    crossview_server_process,
    environment_of,
    fresh_namespace,
    latency_summary,
    log,
    write_result,
)
from bench.ingest import SMS_WEBHOOK, TWILIO_SETTINGS, signed_sms
from services.application.auth import Role
from services.demo.data import synthetic_interactions

RATES = tuple(int(r) for r in os.environ.get("BENCH_LIVE_RATES", "200,2000").split(","))
SECONDS = int(os.environ.get("BENCH_LIVE_SECONDS", "30"))
PROBES_PER_S = int(os.environ.get("BENCH_LIVE_PROBES_PER_S", "20"))
STREAMS = int(os.environ.get("BENCH_LIVE_STREAMS", "1000"))
FRESHNESS_SECONDS = int(os.environ.get("BENCH_LIVE_FRESHNESS_SECONDS", "10"))
WATCHED = 20
BACKGROUND_PEOPLE = 2_000
BATCHES_PER_S = 20
BATCH = 500  # events a request when creating or touching the streams' people
OPENING_AT_ONCE = 50  # streams being opened concurrently
CONTEXT = multiprocessing.get_context("spawn")


# --- a Server-Sent Events reader on a plain asyncio connection -------------------------------


class _Stream:
    """One person's stream; ``follow`` notes when each change arrived, by its provider id."""

    def __init__(self, base: str, person_id: str, headers: dict[str, str]) -> None:
        url = urlsplit(base)
        self.host, self.port, self.person_id = url.hostname, url.port, person_id
        head = {"Host": f"{url.hostname}:{url.port}", "Accept": "text/event-stream", **headers}
        self.request = (
            f"GET /v1/persons/{person_id}/stream HTTP/1.1\r\n".encode()
            + "".join(f"{k}: {v}\r\n" for k, v in head.items()).encode()
            + b"\r\n"
        )

    async def open(self) -> None:
        """Connects and waits for the stream's `ready`: from then on, every change is sent."""
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(self.request)
        status = (await self.reader.readline()).split()
        chunked = False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            chunked |= name.strip().lower() == b"transfer-encoding" and b"chunked" in value.lower()
        if status[1:2] != [b"200"] or not chunked:
            raise RuntimeError(f"stream of {self.person_id}: {b' '.join(status).decode()} (chunked: {chunked})")
        self.buffer = b""
        name, _ = await self._next()
        if name != "ready":
            raise RuntimeError(f"stream of {self.person_id}: {name} before ready")

    async def _next(self) -> tuple[str, dict]:
        """The next event (comments skipped): its name and data."""
        while True:
            while b"\n\n" not in self.buffer:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                if size == 0:
                    raise ConnectionError(f"stream of {self.person_id} ended")
                self.buffer += (await self.reader.readexactly(size + 2))[:-2]
            block, self.buffer = self.buffer.split(b"\n\n", 1)
            name, data = "message", []
            for line in block.decode().split("\n"):
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data.append(line[6:])
            if data:
                return name, json.loads("\n".join(data))

    async def follow(self, arrived: dict[str, float]) -> None:
        while True:
            name, change = await self._next()
            if name == "change":
                arrived.setdefault(change["data"]["provider_id"], time.monotonic())

    def close(self) -> None:
        self.writer.close()


async def _open_all(streams: list[_Stream]) -> None:
    gate = asyncio.Semaphore(OPENING_AT_ONCE)

    async def one(stream: _Stream) -> None:
        async with gate:
            await stream.open()

    await asyncio.gather(*(one(s) for s in streams))


# --- background load, in a process of its own ------------------------------------------------


def _background(base: str, headers: dict, rate: int, seconds: int, seed: int, ready, start, results) -> None:
    """POST /v1/events batches on a fixed schedule from the instant ``start`` gives."""
    per_batch = max(1, rate // BATCHES_PER_S)
    count = rate * seconds
    events = synthetic_interactions(
        people=BACKGROUND_PEOPLE, per_person=count // BACKGROUND_PEOPLE + 1, body_bytes=70, seed=seed
    )
    bodies = []
    while len(bodies) * per_batch < count:
        bodies.append(json.dumps([next(events).model_dump(mode="json") for _ in range(per_batch)]).encode())

    async def run(start_at: float) -> tuple[int, int, list[float], float]:
        sent, errors, latencies = 0, 0, []
        limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60, limits=limits) as http:

            async def post(n: int, body: bytes) -> None:
                nonlocal sent, errors
                due = start_at + n * per_batch / rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                answer = await http.post("/v1/events", content=body, headers={"content-type": "application/json"})
                latencies.append(time.monotonic() - due)
                if answer.status_code == 202:
                    sent += per_batch
                else:
                    errors += 1

            await asyncio.gather(*(post(n, body) for n, body in enumerate(bodies)))
        return sent, errors, latencies, time.monotonic() - start_at

    ready.set()
    results.put(asyncio.run(run(start.get(timeout=120))))


# --- the measures -----------------------------------------------------------------------------


async def _watched_people(base: str) -> list[tuple[str, str]]:
    """(person id, number) of WATCHED people made by a first webhook from their number (identity
    resolution makes each a person), found by phone search once projected."""
    numbers = [f"+3362{n:07d}" for n in range(WATCHED)]
    people = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        for number in numbers:
            body, headers = signed_sms(f"SMwarm{number[1:]}", number, "Hello")
            (await http.post(SMS_WEBHOOK, content=body, headers=headers)).raise_for_status()
        deadline = time.monotonic() + 60
        for number in numbers:
            while True:
                found = await http.get("/v1/search", params={"q": number}, headers=bearer(Role.ADVISOR))
                found.raise_for_status()
                if results := found.json()["results"]:
                    people.append((results[0]["person_id"], number))
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"nobody found by {number} 60 s after its webhook")
                await asyncio.sleep(0.2)
    return people


async def _latency(base: str, watched: list[tuple[str, str]], rate: int) -> dict:
    """Webhook 2xx -> change on the stream, with ``rate`` events/s of background load."""
    streams = [_Stream(base, person, bearer(Role.ADVISOR)) for person, _ in watched]
    await _open_all(streams)
    arrived: dict[str, float] = {}
    readers = [asyncio.create_task(s.follow(arrived)) for s in streams]
    ready, start, results = CONTEXT.Event(), CONTEXT.Queue(), CONTEXT.Queue()
    background = CONTEXT.Process(
        target=_background, args=(base, bearer(Role.ADAPTER), rate, SECONDS, rate, ready, start, results)
    )
    background.start()
    await asyncio.get_running_loop().run_in_executor(None, ready.wait, 300)
    start_at = time.monotonic() + 1
    start.put(start_at)
    answered: dict[str, float] = {}
    webhook, errors = [], 0
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:

        async def probe(n: int) -> None:
            nonlocal errors
            _, number = watched[n % len(watched)]
            message_sid = f"SM{rate:08d}{n:024x}"
            body, headers = signed_sms(message_sid, number, f"Probe {n}")
            await asyncio.sleep(max(0.0, start_at + n / PROBES_PER_S - time.monotonic()))
            sent = time.monotonic()
            answer = await http.post(SMS_WEBHOOK, content=body, headers=headers)
            at = time.monotonic()
            webhook.append(at - sent)
            if answer.is_success:
                answered[message_sid] = at
            else:
                errors += 1

        await asyncio.gather(*(probe(n) for n in range(SECONDS * PROBES_PER_S)))
    sent, failed, background_latencies, took = await asyncio.get_running_loop().run_in_executor(
        None, results.get, True, 600
    )
    background.join(timeout=60)
    deadline = time.monotonic() + 10  # the last changes on their way
    while time.monotonic() < deadline and not answered.keys() <= arrived.keys():
        await asyncio.sleep(0.05)
    for reader, stream in zip(readers, streams, strict=True):
        reader.cancel()
        stream.close()
    latencies = [arrived[sid] - at for sid, at in answered.items() if sid in arrived]
    return {
        "background_rate_per_s": rate,
        "background_achieved_per_s": round(sent / took),
        "background_errors": failed,
        "background_post": latency_summary(background_latencies),
        "webhooks": len(answered),
        "webhook_errors": errors,
        "webhook_answer": latency_summary(webhook),
        "lost": len(answered) - len(latencies),
        "webhook_2xx_to_stream": latency_summary(latencies) if latencies else None,
    }


def _rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return round(int(next(line.split()[1] for line in status if line.startswith("VmRSS:"))) / 1024, 1)


def _sms(person_id: str, key: str) -> dict:
    return {
        "id": key,
        "source": "crossview/bench",
        "type": "crossview.interaction.sms.v1",
        "subject": person_id,
        "time": datetime.now(UTC).isoformat(),
        "data": {
            "direction": "inbound",
            "provider": "twilio",
            "provider_id": key,
            "status": "received",
            "from_number": "+33612345678",
            "to_number": "+33140000000",
            "body": "Bonjour",
        },
    }


async def _post_sms(http: httpx.AsyncClient, people: list[str], label: str) -> tuple[list[str], dict[str, float]]:
    """One SMS for each person, in batches: their positions, and when each batch was answered."""
    positions, answered = [], {}
    for i in range(0, len(people), BATCH):
        keys = [f"{label}-{person}" for person in people[i : i + BATCH]]
        answer = await http.post(
            "/v1/events", json=[_sms(p, k) for p, k in zip(people[i : i + BATCH], keys, strict=True)]
        )
        answer.raise_for_status()
        at = time.monotonic()
        positions += answer.json()["positions"]
        answered |= dict.fromkeys(keys, at)
    return positions, answered


async def _capacity(base: str, pid: int) -> dict:
    """STREAMS streams on one API process: its memory before and after, and whether they all get
    their person's next change."""
    people = [str(uuid.uuid4()) for _ in range(STREAMS)]
    async with httpx.AsyncClient(base_url=base, timeout=60, headers=bearer(Role.ADAPTER)) as http:
        positions, _ = await _post_sms(http, people, "first")
        last_of = {}
        for position in positions:
            topic_partition, offset = position.rsplit(":", 1)
            last_of[topic_partition] = max(last_of.get(topic_partition, -1), int(offset))
        for topic_partition, offset in last_of.items():  # every person projected before their stream opens
            seen = await http.get(
                f"/v1/persons/{people[0]}",
                params={"min_position": f"{topic_partition}:{offset}", "wait_ms": 20000},
                headers=bearer(Role.ADVISOR),
            )
            if not seen.json()["freshness"]["caught_up"]:
                raise RuntimeError(f"{topic_partition}:{offset} not projected in 20 s")
        await asyncio.sleep(2)  # the server settles after the requests
        before = _rss_mib(pid)
        streams = [_Stream(base, person, bearer(Role.ADVISOR)) for person in people]
        started = time.monotonic()
        await _open_all(streams)
        opening = time.monotonic() - started
        await asyncio.sleep(2)
        after = _rss_mib(pid)
        arrived: dict[str, float] = {}
        readers = [asyncio.create_task(s.follow(arrived)) for s in streams]
        _, answered = await _post_sms(http, people, "next")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not answered.keys() <= arrived.keys():
            await asyncio.sleep(0.05)
        health = await http.get("/v1/health")
    for reader, stream in zip(readers, streams, strict=True):
        reader.cancel()
        stream.close()
    delivered = [arrived[key] - at for key, at in answered.items() if key in arrived]
    return {
        "streams_opened": len(streams),
        "opening_s": round(opening, 2),
        "rss_before_mib": before,
        "rss_after_mib": after,
        "rss_per_stream_kib": round((after - before) * 1024 / len(streams), 1),
        "changes_delivered": len(delivered),
        "delivery_after_batch_2xx": latency_summary(delivered) if delivered else None,
        "health_while_open": health.status_code,
    }


def main() -> dict:
    RESULTS.mkdir(exist_ok=True)
    runs = []
    with (
        fresh_namespace() as settings,
        (RESULTS / "live-processes.log").open("w") as logs,
        crossview_server_process(settings, logs, **TWILIO_SETTINGS) as (base, server),
    ):
        projector = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "projector"],
            env=environment_of(settings),
            stdout=logs,
            stderr=subprocess.STDOUT,
        )
        try:
            log(f"{WATCHED} people made by webhooks, found by phone search...")
            watched = asyncio.run(_watched_people(base))
            for rate in RATES:
                log(
                    f"{rate:,} events/s of background load for {SECONDS} s, {PROBES_PER_S} webhooks/s on {WATCHED} streams..."
                )
                run = asyncio.run(_latency(base, watched, rate))
                log(f"  webhook 2xx -> stream {run['webhook_2xx_to_stream']}, lost {run['lost']}")
                runs.append(run)
            log(f"{STREAMS:,} streams on the one API process...")
            capacity = asyncio.run(_capacity(base, server.pid))
            log(f"  {capacity}")
        finally:
            projector.terminate()
            projector.wait(timeout=30)
    for run in runs:  # the freshness bench's send -> commit, at the same rate, in this run
        rate = run["background_rate_per_s"]
        log(f"send -> commit at {rate:,} events/s (bench/freshness.py, {FRESHNESS_SECONDS} s)...")
        fresh = freshness.run(rate, FRESHNESS_SECONDS, wait_for_each=rate <= freshness.RATE)
        run["send_to_commit"] = {
            "sent": fresh["sent"],
            "achieved_rate_per_s": fresh["achieved_rate_per_s"],
            **fresh["crossview_projected"],
        }
        if run["webhook_2xx_to_stream"]:
            run["ratio"] = round(run["webhook_2xx_to_stream"]["p99_ms"] / fresh["crossview_projected"]["p99_ms"], 2)
    result = {
        "command": "make bench (or: .venv/bin/python -m bench live)",
        "seconds_per_rate": SECONDS,
        # not empty: sizes other than the bench's own (a check of the bench, not its figures)
        "overrides": {k: v for k, v in sorted(os.environ.items()) if k.startswith("BENCH_LIVE_")},
        "probes": f"signed Twilio SMS webhooks, {PROBES_PER_S}/s on a fixed schedule, one by one (httpx), "
        f"on {WATCHED} open streams (one per watched person)",
        "background_load": f"POST /v1/events batches of rate/{BATCHES_PER_S} interactions, {BATCHES_PER_S} "
        f"batches/s on a fixed schedule (httpx, up to 16 connections, a process of its own), for "
        f"{BACKGROUND_PEOPLE:,} people nobody watches",
        "clients": "streams and probes: one asyncio process (streams on plain sockets); background load: "
        "another process; crossview serve (1 process) and crossview projector: processes of their own",
        "rates": runs,
        "streams": capacity,
        "goal": {"p99_ms_under_at_2000": 250, "ratio_at_most": 2, "streams_per_process": 1000},
    }
    path = write_result("live", result)
    log(f"-> {path}")
    return result
