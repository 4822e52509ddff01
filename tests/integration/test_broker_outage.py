"""A broker that goes away during ingest: 503 while it is away, nothing accepted is lost."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from services.bootstrap import production
from services.demo.data import synthetic_interactions
from services.http.app import create_app
from tests.live import ProjectorThread, SpareBroker, caught_up, wait_until
from tests.tokens import EVERY_ROLE


def test_ingest_answers_503_while_the_broker_is_down_and_loses_nothing_once_it_is_back(settings, store, tmp_path):
    broker = SpareBroker(tmp_path / "spare-broker")
    broker.start()
    outage = settings.model_copy(update={"kafka_bootstrap": broker.bootstrap, "ack_timeout_s": 3})
    events = [e.model_dump(mode="json") for e in synthetic_interactions(people=3, per_person=4, seed=31)]
    try:
        with TestClient(create_app(lambda: production(outage, relay_in_process=False)), headers=EVERY_ROLE) as client:
            assert client.post("/v1/events", json=events[:6]).status_code == 202

            broker.kill()
            refused = client.post("/v1/events", json=events[6:])
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"] == "5"
            assert refused.headers["content-type"] == "application/problem+json"

            broker.start()
            for _attempt in range(15):  # the provider retries until it gets a 2xx
                retried = client.post("/v1/events", json=events[6:])
                if retried.status_code != 503:
                    break
                time.sleep(2)
            assert retried.status_code == 202, retried.text

        with ProjectorThread(outage):
            wait_until(caught_up(store, outage), 90, "the projector on the restarted broker")
        applied = sum(store.person(p).events_applied for p in {e["subject"] for e in events})
        assert applied == len(events)  # every accepted event once: none lost, none doubled
    finally:
        broker.kill()
