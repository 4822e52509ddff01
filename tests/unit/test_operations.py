"""Liveness, readiness and metrics on the embedded default and on in-memory sources."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient
from prometheus_client import generate_latest

from channels.memory import MemoryDeadLetters, MemoryLog
from projections.memory_store import MemoryStore
from projections.projector import Projector
from schemas.envelope import WireRecord
from services.adapters.probes import EmbeddedSources, LogState, Probes
from services.application.crossview import Crossview
from services.application.relay import MemoryRelayPositions, Relay
from services.bootstrap import embedded
from services.demo.data import synthetic_interactions
from services.http.app import create_app
from services.http.metrics import HttpMetrics
from services.settings import Settings
from tests.conftest import named, samples
from tests.tokens import EVERY_ROLE

TOPICS = ["t.interactions", "t.domain"]


@pytest.fixture
def client():
    with TestClient(create_app(lambda: embedded(Settings())), headers=EVERY_ROLE) as client:
        yield client


def test_livez_answers_alive_without_touching_anything(client):
    answer = client.get("/livez")
    assert (answer.status_code, answer.json()) == (200, {"status": "alive"})


def test_the_demo_is_ready_and_names_each_check(client):
    answer = client.get("/readyz")
    body = answer.json()
    assert answer.status_code == 200 and body["status"] == "ready" and body["failed"] == []
    assert set(body["checks"]) == {"kafka", "database", "relay"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["relay"]["detail"] == "0 notifications behind"


def test_requests_are_counted_by_route_template_so_no_person_id_becomes_a_label(client):
    fabien = client.app.state.crossview.demo.fabien
    for _ in range(3):
        assert client.get(f"/v1/persons/{fabien}").status_code == 200
    assert client.get("/v1/persons/not-a-person").status_code in (404, 422)
    client.get("/no/such/page")
    text = client.get("/metrics").text
    assert str(fabien) not in text and "not-a-person" not in text and "/no/such/page" not in text
    metrics = samples(text)
    requests = named(metrics, "crossview_http_requests_total")
    assert requests[(("method", "GET"), ("route", "/v1/persons/{person_id}"), ("status", "200"))] == 3
    assert requests[(("method", "GET"), ("route", "unmatched"), ("status", "404"))] == 1
    latency = named(metrics, "crossview_http_request_duration_seconds_count")
    assert latency[(("method", "GET"), ("route", "/v1/persons/{person_id}"))] == 4


def test_a_made_up_method_is_counted_as_other():
    metrics = HttpMetrics()
    metrics.observe("unmatched", "BREW", 405, 0.001)
    requests = named(samples(generate_latest(metrics.registry).decode()), "crossview_http_requests_total")
    assert requests == {(("method", "other"), ("route", "unmatched"), ("status", "405")): 1}


def test_the_demo_reports_every_dependency_up_and_nothing_behind(client):
    metrics = samples(client.get("/metrics").text)
    assert named(metrics, "crossview_up") == {(("dependency", "database"),): 1, (("dependency", "kafka"),): 1}
    lag = named(metrics, "crossview_projector_lag")
    assert len(lag) == len(Settings().event_topics) * Settings().partitions and set(lag.values()) == {0}
    assert named(metrics, "crossview_dead_letters") == {(): 0}
    assert named(metrics, "crossview_relay_lag") == {(): 0}


class Stopped:
    """In-memory sources whose projector and relay the test runs by hand."""

    def __init__(self, partitions: int = 3) -> None:
        self.store, self.dead = MemoryStore(), MemoryDeadLetters()
        self.projector = Projector(self.store, self.dead)
        self.log = MemoryLog(partitions)  # not wired to the projector: it is stopped
        self.projector.assign([p for topic in TOPICS for p in self.log.partitions_of(topic)])
        self.app = Crossview(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        self.relay = Relay(self.app, lambda events: self.log.publish(TOPICS[1], events), MemoryRelayPositions())
        self.probes = Probes(EmbeddedSources(self.log, self.dead, self.store, self.relay, TOPICS), max_relay_lag=2)

    def run_projector(self) -> None:
        self.projector.process([r for topic in TOPICS for r in self.log.records(topic)])


def test_projector_lag_per_partition_sums_to_what_was_published_and_falls_to_zero_once_projected():
    sources = Stopped()
    positions = sources.log.publish(TOPICS[0], list(synthetic_interactions(people=5, per_person=4)))
    lag = sources.probes.snapshot().projector_lag
    assert sum(lag.values()) == 20
    for partition in {(p.topic, p.partition) for p in positions}:
        assert lag[partition] == sum(1 for p in positions if (p.topic, p.partition) == partition)
    sources.run_projector()
    assert set(sources.probes.snapshot().projector_lag.values()) == {0}


def test_a_dead_letter_is_counted():
    sources = Stopped()
    sources.log.publish(TOPICS[0], list(synthetic_interactions(people=1, per_person=1)))
    assert sources.probes.snapshot().dead_letters == 0
    sources.projector.process([WireRecord(TOPICS[0], 0, 1, b"k", b"{not json", (("ce_id", b"bad"),))])
    assert sources.probes.snapshot().dead_letters == 1


def test_readiness_fails_naming_the_relay_when_it_is_too_far_behind_and_recovers_once_it_caught_up():
    sources = Stopped()
    for n in range(3):
        sources.app.register_person("Fabien", f"Bellemare {n}")
    assert sources.probes.snapshot().relay_lag == 3
    checks = sources.probes.readiness()
    assert not checks["relay"].ok and "3 notifications behind" in checks["relay"].detail
    assert checks["kafka"].ok and checks["database"].ok
    while sources.relay.relay_once():
        pass
    assert sources.probes.readiness()["relay"].ok and sources.probes.snapshot().relay_lag == 0


class Hanging:
    """A database that accepts and never answers; the broker answers."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.pings = 0

    def log(self, timeout_s: float) -> LogState:
        return LogState({("t.interactions", 0): 4}, dead_letters=0)

    def ping_database(self, timeout_s: float) -> str:
        self.pings += 1
        self.release.wait(30)
        return "late"

    def projected(self) -> dict:
        self.release.wait(30)
        return {}

    def relay_lag(self) -> int:
        self.release.wait(30)
        return 0

    def audit_backlog(self) -> int:
        self.release.wait(30)
        return 0


def test_a_hanging_database_makes_readiness_fail_in_bounded_time_naming_it():
    sources = Hanging()
    probes = Probes(sources, timeout_s=0.3)
    try:
        started = time.monotonic()
        checks = probes.readiness()
        assert time.monotonic() - started < 1.5
        assert {name for name, check in checks.items() if not check.ok} == {"database", "relay"}
        assert checks["kafka"].ok and "no answer within 0.3s" in checks["database"].detail
        snapshot = probes.snapshot()
        assert snapshot.up == {"kafka": True, "database": False}
        assert snapshot.projector_lag is None and snapshot.relay_lag is None and snapshot.dead_letters == 0
        assert snapshot.audit_backlog is None
    finally:
        sources.release.set()
        probes.close()


def test_probes_that_keep_coming_while_the_database_hangs_join_the_call_in_flight_instead_of_piling_up():
    sources = Hanging()
    probes = Probes(sources, timeout_s=0.02)
    try:
        for _ in range(3):
            assert not probes.readiness()["database"].ok
            assert probes.snapshot().up["database"] is False
        assert sources.pings == 1
        assert probes.readiness()["kafka"].ok  # the broker's check still gets a thread
        sources.release.set()
        wait_for = time.monotonic() + 5
        while not probes.readiness()["database"].ok and time.monotonic() < wait_for:
            time.sleep(0.05)
        assert probes.readiness()["database"].detail == "late" and sources.pings >= 2
    finally:
        sources.release.set()
        probes.close()


def test_a_failing_dependency_is_reported_without_its_message_which_may_name_hosts():
    class Refusing(Hanging):
        def ping_database(self, timeout_s: float) -> str:
            raise ConnectionRefusedError("connection to db.internal.example:5432 refused")

    probes = Probes(Refusing(), timeout_s=0.3)
    try:
        check = probes.readiness()["database"]
        assert not check.ok and check.detail == "ConnectionRefusedError: does not answer"
    finally:
        probes.sources.release.set()
        probes.close()


def test_the_operations_endpoints_are_in_the_openapi_document_under_their_tag(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/livez", "/readyz", "/metrics"):
        assert paths[path]["get"]["tags"] == ["operations"], path
    assert "503" in paths["/readyz"]["get"]["responses"]
    assert "text/plain; version=0.0.4; charset=utf-8" in paths["/metrics"]["get"]["responses"]["200"]["content"]


def test_the_health_route_is_unchanged(client):
    body = client.get("/v1/health").json()
    assert body["status"] == "ok" and body["mode"] == "embedded"
