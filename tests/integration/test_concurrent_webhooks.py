"""On PostgreSQL and Kafka: concurrent webhooks about one contact race on the same aggregates; the
event store's version check makes one of them retry, never fail."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi.testclient import TestClient

from services.bootstrap import production
from services.http.app import create_app
from tests.tokens import EVERY_ROLE

FIXTURES = Path(__file__).parents[1] / "fixtures" / "connect"


def test_concurrent_amazon_connect_events_and_records_of_one_contact_all_land(settings):
    record = json.loads((FIXTURES / "contact_record.json").read_text())
    event = json.loads((FIXTURES / "disconnected.json").read_text())
    bodies = []
    for i in range(12):  # every other one names the caller; the others are the contact's anonymous events
        if i % 2:
            bodies.append({**record, "LastUpdateTimestamp": f"2026-11-20T09:18:{i:02d}Z"})
        else:
            anonymous = {**event, "id": f"event-{i}", "detail": {**event["detail"]}}
            anonymous["detail"].pop("customerEndpoint", None)
            bodies.append(anonymous)
    open_settings = settings.model_copy(update={"insecure_skip_signatures": True})
    with TestClient(
        create_app(lambda: production(open_settings)), raise_server_exceptions=False, headers=EVERY_ROLE
    ) as client:
        with ThreadPoolExecutor(max_workers=12) as pool:
            answers = list(pool.map(lambda body: client.post("/v1/ingest/connect", json=body), bodies))
        assert [a.status_code for a in answers] == [200] * len(bodies), [
            a.text for a in answers if a.status_code != 200
        ]
        app = client.app.state.crossview.commands.app
        caller = app.find_contact_point("phone", "+33612345678")
        contact = app.find_contact_point("contact", record["ContactId"])
    assert caller is not None and contact is not None
    assert caller.person_id == contact.person_id  # the contact leads to its caller
