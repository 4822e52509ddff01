"""The audit trail on the real services: records on their own Kafka topic (in groups, each keyed
by the API process that recorded it), projected into PostgreSQL, and read back by an administrator."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from kafka import KafkaConsumer

from services.application.auth import Role
from services.bootstrap import production
from services.http.app import create_app
from tests.live import ProjectorThread, wait_until
from tests.tokens import bearer

ALICE = bearer(Role.ADVISOR, subject="alice@advisors")
ROOT = bearer(Role.ADMIN, subject="root@admins")


def test_an_advisors_read_is_on_the_audit_topic_and_in_the_persons_trail(settings):
    with ProjectorThread(settings), TestClient(create_app(lambda: production(settings))) as client:
        made = client.post("/v1/persons", json={"given_name": "Fabien", "family_name": "Bellemare"}, headers=ALICE)
        fabien = made.json()["id"]
        read = client.get(f"/v1/persons/{fabien}", params={"min_position": made.json()["positions"][-1]}, headers=ALICE)
        assert read.status_code == 200 and read.json()["family_name"] == "Bellemare"

        def on_the_trail() -> bool:
            entries = client.get(f"/v1/persons/{fabien}/audit", headers=ROOT).json()["entries"]
            return any(e["actor"] == "alice@advisors" and e["operation"] == "person_360" for e in entries)

        wait_until(on_the_trail, 30, "the advisor's read in the person's audit trail")

    consumer = KafkaConsumer(
        settings.topic("audit"),
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    records = list(consumer)
    consumer.close()
    groups = [r for r in records if dict(r.headers)["ce_type"] == b"crossview.audit.accesses-recorded.v1"]
    assert groups and len(groups) == len(records)
    reads = [
        access
        for r in groups
        for access in json.loads(r.value)["accesses"]
        if access["subject"] == fabien and access["operation"] == "person_360"
    ]
    assert len(reads) == 1 and reads[0]["actor"] == "alice@advisors" and reads[0]["roles"] == ["advisor"]
    assert {r.key for r in groups} == {dict(groups[0].headers)["ce_subject"]}  # one API process, one key
