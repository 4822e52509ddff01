"""The attribute policy on the real stack: changed through its aggregate, read from its projection."""

from __future__ import annotations

from fastapi.testclient import TestClient

from services.bootstrap import production
from services.http.app import create_app
from tests.live import ProjectorThread
from tests.tokens import EVERY_ROLE


def test_a_policy_change_reaches_the_read_side_through_the_relay_kafka_and_the_projector(settings, store):
    with ProjectorThread(settings), TestClient(create_app(lambda: production(settings)), headers=EVERY_ROLE) as client:
        assert client.get("/v1/attribute-policy").json()["levels"]["email"] == "function"
        answer = client.put("/v1/attribute-policy/email", json={"level": "person"})
        assert answer.status_code == 200, answer.text  # stored; the read below waits for the relay
        policy = client.get(
            "/v1/attribute-policy", params={"min_position": answer.json()["positions"][-1], "wait_ms": 15000}
        ).json()
    assert policy["freshness"]["caught_up"]
    assert policy["levels"] == {"mobile_phone": "person", "email": "person", "postal_address": "function"}
    assert store.attribute_policy() == policy["levels"]
