"""Readiness and metrics on the real broker and database: real numbers, real outages."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter

from fastapi.testclient import TestClient
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from projections.postgres_store import open_pool
from schemas.events import INTERACTIONS
from services.adapters.audit_outbox import PostgresAuditOutbox
from services.adapters.probes import LiveSources, Probes
from services.adapters.relay_positions import PostgresRelayPositions
from services.application.ingest import Ingest
from services.application.relay import Relay, last_notification_id
from services.bootstrap import event_store, production, run_relay
from services.demo.data import synthetic_interactions
from services.http.app import create_app
from services.http.metrics import HttpMetrics
from tests.conftest import named, samples
from tests.live import ProjectorThread, TcpProxy, wait_until


def scrape(client: TestClient) -> dict:
    answer = client.get("/metrics")
    assert answer.status_code == 200, answer.text
    return samples(answer.text)


def projector_lag(client: TestClient) -> dict[tuple[str, int], float]:
    lag = named(scrape(client), "crossview_projector_lag")
    return {(dict(labels)["topic"], int(dict(labels)["partition"])): value for labels, value in lag.items()}


def test_projector_lag_per_partition_sums_to_what_was_published_while_it_was_stopped_then_reaches_zero(
    settings, publisher
):
    positions = publisher.publish(settings.topic(INTERACTIONS), list(synthetic_interactions(people=9, per_person=5)))
    published = Counter((p.topic, p.partition) for p in positions)
    assert len(published) > 1  # the test means something only if several partitions got events
    with TestClient(create_app(lambda: production(settings, relay_in_process=False))) as client:
        lag = projector_lag(client)
        assert len(lag) == len(settings.event_topics) * settings.partitions
        assert sum(lag.values()) == 45
        assert {partition: behind for partition, behind in lag.items() if behind} == published
        with ProjectorThread(settings):
            wait_until(lambda: sum(projector_lag(client).values()) == 0, 60, "the projector's lag to reach 0")
        assert set(projector_lag(client).values()) == {0}


def test_a_dead_letter_is_counted_on_the_dead_letter_topic(settings, publisher):
    (event,) = synthetic_interactions(people=1, per_person=1)
    publisher.publish(settings.topic(INTERACTIONS), [event])
    publisher.send_raw(settings.topic(INTERACTIONS), event.subject.encode(), b"{not json", [("ce_id", b"bad-1")])
    publisher.flush()
    with TestClient(create_app(lambda: production(settings, relay_in_process=False))) as client:
        assert named(scrape(client), "crossview_dead_letters") == {(): 0}
        with ProjectorThread(settings):
            wait_until(
                lambda: named(scrape(client), "crossview_dead_letters") == {(): 1}, 60, "the dead letter to be counted"
            )
            wait_until(lambda: sum(projector_lag(client).values()) == 0, 60, "the projector to move past it")


def test_readiness_names_the_relay_while_it_is_behind_and_passes_once_it_has_published(settings):
    writer = event_store(settings)
    try:
        for n in range(3):
            writer.register_person("Fabien", f"Bellemare {n}")
        stored = last_notification_id(writer)
    finally:
        writer.close()
    behind = settings.model_copy(update={"ready_max_relay_lag": stored - 1})
    with TestClient(create_app(lambda: production(behind, relay_in_process=False))) as client:
        assert named(scrape(client), "crossview_relay_lag") == {(): stored}
        answer = client.get("/readyz")
        assert answer.status_code == 503 and answer.json()["failed"] == ["relay"], answer.text
        assert answer.json()["checks"]["relay"]["detail"].startswith(f"{stored} notifications behind")
        stop = threading.Event()
        relay = threading.Thread(target=run_relay, args=(settings, stop), daemon=True)
        relay.start()
        try:
            wait_until(lambda: client.get("/readyz").status_code == 200, 60, "the relay to catch up")
            assert named(scrape(client), "crossview_relay_lag") == {(): 0}
        finally:
            stop.set()
            relay.join(timeout=30)


def test_readiness_names_the_database_when_its_port_closes_answers_in_bounded_time_and_recovers(settings):
    info = conninfo_to_dict(settings.database_url)
    with TcpProxy(str(info.get("host", "127.0.0.1")), int(info.get("port", 5432))) as proxy:
        via_proxy = settings.model_copy(
            update={"database_url": make_conninfo(settings.database_url, host="127.0.0.1", port=str(proxy.port))}
        )
        with TestClient(create_app(lambda: production(via_proxy, relay_in_process=False))) as client:
            assert client.get("/readyz").status_code == 200
            proxy.close()

            started = time.monotonic()
            answer = client.get("/readyz")
            elapsed = time.monotonic() - started
            body = answer.json()
            assert answer.status_code == 503 and "database" in body["failed"], answer.text
            assert body["checks"]["kafka"]["ok"] and not body["checks"]["database"]["ok"]
            assert elapsed < via_proxy.probe_timeout_s + 1.5
            assert str(proxy.port) not in answer.text  # the reason is in the log, not in an open answer

            metrics = scrape(client)
            assert named(metrics, "crossview_up") == {(("dependency", "database"),): 0, (("dependency", "kafka"),): 1}
            assert named(metrics, "crossview_projector_lag") == {}  # needs the database: left out, not made up
            assert named(metrics, "crossview_dead_letters") == {(): 0}  # the broker still answers

            proxy.reopen()
            wait_until(lambda: client.get("/readyz").status_code == 200, 60, "readiness once the database is back")
            assert named(scrape(client), "crossview_up")[(("dependency", "database"),)] == 1


def test_with_the_broker_down_a_scrape_and_a_readiness_check_answer_in_bounded_time(settings, store):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    pool = open_pool(settings.database_url, max_size=2)
    writer = event_store(settings)
    relay = Relay(writer, Ingest(None, settings, None).publish, PostgresRelayPositions(pool, settings.namespace))
    outbox = PostgresAuditOutbox(pool, settings.database_url, settings.namespace)
    probes = Probes(
        LiveSources(
            f"127.0.0.1:{closed}",
            settings.database_url,
            settings.event_topics,
            settings.dead_letter_topic,
            settings.partitions,
            store,
            relay,
            outbox.backlog,
        ),
        timeout_s=1.0,
    )
    try:
        started = time.monotonic()
        checks = probes.readiness()
        metrics = samples(HttpMetrics().exposition(probes.snapshot()).decode())
        elapsed = time.monotonic() - started
        assert {name for name, check in checks.items() if not check.ok} == {"kafka"}
        assert named(metrics, "crossview_up") == {(("dependency", "database"),): 1, (("dependency", "kafka"),): 0}
        assert named(metrics, "crossview_relay_lag") == {(): 0}
        assert named(metrics, "crossview_audit_outbox_backlog") == {(): 0}  # PostgreSQL's, so it answers
        assert named(metrics, "crossview_projector_lag") == {} and named(metrics, "crossview_dead_letters") == {}
        assert elapsed < 2 * (1.0 + 1.5)
    finally:
        probes.close()
        writer.close()
        pool.close()
