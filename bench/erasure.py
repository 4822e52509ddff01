"""How long an erasure takes, end to end on the real services: `DELETE /v1/persons/{id}` from the
request to the answer, which comes once the erasure is recorded and relayed, the person's keys are
destroyed, their aggregates are gone from the event store, and the live projector has purged the
read models (`purged: true`). People with functions, attributes, contact points and interactions
on every channel; `crossview serve` and `crossview projector` in their own processes.
Aim: under a second each (p99)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from bench.common import bearer, crossview_server, fresh_namespace, latency_summary, log, write_result
from bench.query import LiveProjection
from services.application.auth import Role

ROOT = Path(__file__).resolve().parents[1]
PEOPLE = 40


def _person(http: httpx.Client, n: int, organisation: str) -> str:
    person = http.post("/v1/persons", json={"given_name": f"Given{n}", "family_name": f"Family{n}"}).json()["id"]
    function = http.post(
        f"/v1/persons/{person}/functions",
        json={"organisation_id": organisation, "title_code": "MANAGER", "entered_on": "2020-01-01"},
    ).json()["id"]
    for name, value, on in (("mobile_phone", f"+336{n:08d}", None), ("postal_address", f"{n} rue des Lilas", function)):
        http.put(f"/v1/persons/{person}/attributes/{name}", json={"value": value, "function_id": on}).raise_for_status()
    events = [
        {
            "id": f"bench-{n}-{kind}",
            "source": "bench",
            "type": f"crossview.interaction.{kind}.v1",
            "subject": person,
            "time": "2026-11-20T10:00:00+00:00",
            "data": {
                "direction": "inbound",
                "provider": "bench",
                "provider_id": f"{n}-{kind}",
                "status": "received",
                **data,
            },
        }
        for kind, data in (
            ("sms", {"from_number": f"+336{n:08d}", "to_number": "+33140000000", "body": "Bonjour"}),
            ("email", {"address": f"person{n}@example.org", "subject_line": "Devis"}),
            ("web", {"action": "page", "name": "Checkout"}),
            ("call", {"from_number": f"+336{n:08d}", "to_number": "+33140000000", "notes": "Rappeler"}),
        )
    ]
    http.post("/v1/events", json=events, headers=bearer(Role.ADAPTER)).raise_for_status()
    return person


def main() -> dict:
    with (
        fresh_namespace() as settings,
        open(ROOT / "bench" / "results" / "erasure-processes.log", "w") as logs,
        LiveProjection(settings, logs),
        crossview_server(settings, logs) as base,
        httpx.Client(base_url=base, timeout=30, headers=bearer(Role.ADVISOR)) as http,
    ):
        admin = bearer(Role.ADMIN)
        http.put("/v1/titles/MANAGER", json={"label": "Manager"}, headers=admin).raise_for_status()
        organisation = http.post(
            "/v1/organisations", json={"name": "Bench Org", "kind": "company", "relationship": "client"}
        ).json()["id"]
        log(f"{PEOPLE} people with functions, attributes and interactions on every channel...")
        people = [_person(http, n, organisation) for n in range(PEOPLE)]
        time.sleep(3)  # the projector catches up
        latencies, unpurged = [], 0
        for person in people:
            started = time.perf_counter()
            answer = http.delete(f"/v1/persons/{person}", headers=admin)
            latencies.append(time.perf_counter() - started)
            answer.raise_for_status()
            unpurged += not answer.json()["purged"]
    summary = latency_summary(latencies)
    result = {
        "command": "make bench (or: .venv/bin/python -m bench erasure)",
        "people": PEOPLE,
        "erasure": {**summary, "max_ms": round(max(latencies) * 1000, 2), "not_purged_in_time": unpurged},
        "goal": {"p99_ms_at_most": 1000},
    }
    path = write_result("erasure", result)
    log(f"erasure p50 {summary['p50_ms']} ms, p99 {summary['p99_ms']} ms -> {path}")
    return result
