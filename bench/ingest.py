"""Ingest throughput: the Python client and the HTTP adapters, next to a bare kafka-python send loop.

- bare: a KafkaProducer (acks=all, idempotent) sending records already serialised;
- client: channels.client.CrossviewClient.send (schema validation + CloudEvents binary mode);
- http: POST /v1/events in batches of 500 from 4 concurrent clients, to `crossview serve`;
- webhook: signed Twilio SMS webhooks one by one from 16 concurrent clients (identity resolution
  in the event store included), with their latency.
ratio = client rate / bare rate (aim: >= 0.8).
"""

from __future__ import annotations

import asyncio
import random
import time
from urllib.parse import urlencode

import httpx
from kafka import KafkaProducer

from bench.common import RESULTS, bearer, crossview_server, fresh_namespace, latency_summary, log, write_result
from channels.client import CrossviewClient
from channels.twilio import signature
from schemas.envelope import to_binary
from services.application.auth import Role
from services.demo.data import synthetic_interactions
from services.settings import Settings

EVENTS = 100_000
WEBHOOKS = 2_000
TOKEN = "bench-token"
PUBLIC_BASE_URL = "https://crm.example.org"  # what the server is told Twilio calls: signatures cover it
SMS_WEBHOOK = "/v1/ingest/twilio/sms"
TWILIO_SETTINGS = {"CROSSVIEW_TWILIO_AUTH_TOKEN": TOKEN, "CROSSVIEW_PUBLIC_BASE_URL": PUBLIC_BASE_URL}


def signed_sms(message_sid: str, from_number: str, body: str = "Bonjour") -> tuple[str, dict[str, str]]:
    """An inbound SMS as Twilio posts it to SMS_WEBHOOK: the form, and its headers with the
    X-Twilio-Signature a server with TWILIO_SETTINGS accepts."""
    params = [
        ("MessageSid", message_sid),
        ("SmsStatus", "received"),
        ("From", from_number),
        ("To", "+33140000000"),
        ("Body", body),
        ("AccountSid", "AC" + "0" * 32),
        ("NumMedia", "0"),
    ]
    return urlencode(params), {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": signature(PUBLIC_BASE_URL + SMS_WEBHOOK, params, TOKEN),
    }


def bare(settings: Settings, records) -> float:
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        batch_size=256 * 1024,
    )
    started = time.perf_counter()
    for key, value, headers in records:
        producer.send(settings.topic("interactions"), key=key, value=value, headers=headers)
    producer.flush()
    rate = len(records) / (time.perf_counter() - started)
    producer.close()
    return rate


def client(settings: Settings, events) -> float:
    with CrossviewClient(settings.kafka_bootstrap, settings.namespace) as crossview:
        started = time.perf_counter()
        for event in events:
            crossview.send(event)
        crossview.flush()
        return len(events) / (time.perf_counter() - started)


async def _http(base: str, events, headers: dict | None = None) -> float:
    batches = [events[i : i + 500] for i in range(0, len(events), 500)]

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60, headers=headers) as http:
            while batches:
                answer = await http.post("/v1/events", json=[e.model_dump(mode="json") for e in batches.pop()])
                answer.raise_for_status()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(4)))
    return len(events) / (time.perf_counter() - started)


async def _webhooks(base: str) -> tuple[list[float], float]:
    rng = random.Random(3)
    url = f"{base}{SMS_WEBHOOK}"
    forms = [signed_sms(f"SM{n:032x}", f"+3361{rng.randrange(200):07d}") for n in range(WEBHOOKS)]
    latencies: list[float] = []

    async def worker() -> None:
        async with httpx.AsyncClient(timeout=60) as http:
            while forms:
                body, headers = forms.pop()
                started = time.perf_counter()
                answer = await http.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                answer.raise_for_status()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(16)))
    return latencies, WEBHOOKS / (time.perf_counter() - started)


def http_adapters(settings: Settings, events) -> dict:
    with (
        (RESULTS / "ingest-server.log").open("w") as logs,
        crossview_server(settings, logs, **TWILIO_SETTINGS) as base,
    ):
        rate = asyncio.run(_http(base, events, bearer(Role.ADAPTER)))
        latencies, webhook_rate = asyncio.run(_webhooks(base))
    latency = latency_summary(latencies)
    return {
        "canonical_batches_events_per_s": round(rate),
        "twilio_webhooks_per_s": round(webhook_rate),
        "twilio_webhook_p50_ms": latency["p50_ms"],
        "twilio_webhook_p99_ms": latency["p99_ms"],
    }


def main() -> dict:
    events = list(synthetic_interactions(people=10_000, per_person=EVENTS // 10_000, body_bytes=70, seed=17))
    with fresh_namespace() as settings:
        log(f"bare kafka-python send loop, {EVENTS:,} records, acks=all...")
        bare_rate = bare(settings, [to_binary(e) for e in events])
        log(f"  {bare_rate:,.0f} records/s")
        log("Python client...")
        client_rate = client(settings, events)
        log(f"  {client_rate:,.0f} events/s")
        log("HTTP: canonical batches, then signed Twilio webhooks...")
        http = http_adapters(settings, events[:20_000])
        log(f"  {http}")
    result = {
        "command": "make bench",
        "events": EVENTS,
        "bare_producer_per_s": round(bare_rate),
        "client_per_s": round(client_rate),
        "http": http,
        "ratio": round(client_rate / bare_rate, 3),
        "goal": {"ratio_at_least": 0.8},
    }
    path = write_result("ingest", result)
    log(f"ratio (client / bare producer) {result['ratio']} -> {path}")
    return result
