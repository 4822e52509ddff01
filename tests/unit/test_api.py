"""The HTTP API on the embedded default (in-memory log and store): same routes as in production."""

import pytest
from fastapi.testclient import TestClient

from services.bootstrap import embedded
from services.demo.data import seed_scenario
from services.http.app import create_app
from services.settings import Settings
from tests.tokens import EVERY_ROLE

SMS = {
    "id": "SM-1",
    "source": "test",
    "type": "crossview.interaction.sms.v1",
    "time": "2026-11-20T10:00:00+01:00",
    "data": {
        "direction": "inbound",
        "provider": "twilio",
        "provider_id": "SM-1",
        "status": "received",
        "from_number": "+33612345678",
        "to_number": "+33140000000",
        "body": "STOP",
    },
}


@pytest.fixture
def client():
    with TestClient(create_app(lambda: embedded(Settings())), headers=EVERY_ROLE) as client:
        yield client


@pytest.fixture
def fabien(client):
    return client.app.state.crossview.demo.fabien


@pytest.fixture
def sms(fabien):
    return {**SMS, "subject": fabien}


def test_fabiens_view_is_served_with_the_position_it_reflects(client, fabien, sms):
    body = client.get(f"/v1/persons/{fabien}").json()
    assert body["given_name"] == "Fabien"
    assert body["interactions"] == {"sms": 1, "email": 1, "web": 3, "call": 1}  # web: a page and 2 checkout steps
    position = {k: v for k, v in body["freshness"]["position"].items() if not k.startswith("crossview.audit")}
    assert sum(position.values()) == len(seed_scenario()[0]) and body["freshness"]["caught_up"]  # audit aside


def test_an_accepted_event_is_in_the_view_when_read_at_its_position(client, fabien, sms):
    answer = client.post("/v1/events", json=sms)
    assert answer.status_code == 202
    position = answer.json()["positions"][0]
    body = client.get(f"/v1/persons/{fabien}", params={"min_position": position}).json()
    assert body["interactions"]["sms"] == 2 and body["freshness"]["caught_up"]


def test_a_retried_event_is_counted_once(client, fabien, sms):
    client.post("/v1/events", json=sms)
    client.post("/v1/events", json=[sms])
    assert client.get(f"/v1/persons/{fabien}").json()["interactions"]["sms"] == 2


def test_an_unknown_person_is_a_404_problem(client, fabien, sms):
    answer = client.get("/v1/persons/nobody")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["title"] == "Person not found"


def test_invalid_event_data_is_a_422_naming_each_field(client, fabien, sms):
    bad = {**sms, "data": {**sms["data"], "direction": "sideways"}}
    del bad["data"]["to_number"]
    answer = client.post("/v1/events", json=bad)
    assert answer.status_code == 422
    fields = {e["field"] for e in answer.json()["errors"]}
    assert fields == {"body.data.direction", "body.data.to_number"}


def test_a_batch_with_one_bad_event_publishes_nothing(client, fabien, sms):
    bad = {**sms, "id": "SM-2", "type": "crossview.interaction.fax.v1"}
    answer = client.post("/v1/events", json=[{**sms, "id": "SM-3"}, bad])
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {"field": "body.1.type", "message": "unknown event type 'crossview.interaction.fax.v1'"}
    ]
    assert client.get(f"/v1/persons/{fabien}").json()["interactions"]["sms"] == 1


def test_domain_events_cannot_be_forged_through_ingest(client, fabien, sms):
    forged = {**sms, "type": "crossview.function.ended.v1", "data": {"function_id": "f", "exited_on": "2026-01-01"}}
    answer = client.post("/v1/events", json=forged)
    assert answer.status_code == 422
    assert "written by the relay only" in answer.json()["errors"][0]["message"]


def test_a_missing_envelope_attribute_is_named(client, fabien, sms):
    answer = client.post("/v1/events", json={k: v for k, v in sms.items() if k != "source"})
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["body.source"]


def test_an_event_without_time_is_stamped_on_arrival_and_the_answer_says_so(client, fabien, sms):
    answer = client.post("/v1/events", json=[{k: v for k, v in sms.items() if k != "time"}, {**sms, "id": "SM-9"}])
    assert answer.status_code == 202
    assert answer.json()["time_sources"] == ["arrival", "event"]
    assert answer.json()["times"][1] == "2026-11-20T10:00:00+01:00"


def test_the_timeline_pages_newest_first(client, fabien, sms):
    first = client.get(f"/v1/persons/{fabien}/timeline", params={"limit": 4}).json()
    second = client.get(f"/v1/persons/{fabien}/timeline", params={"limit": 4, "before": first["next_page"]}).json()
    entries = first["entries"] + second["entries"]
    everything = client.get(f"/v1/persons/{fabien}/timeline").json()["entries"]
    assert [e["channel"] for e in everything if e["channel"]] == ["call", "web", "web", "web", "email", "sms"]
    assert entries == everything[:8]
    assert len(entries) == 8 and second["next_page"] is not None
    times = [e["occurred_at"] for e in entries]
    assert times == sorted(times, reverse=True)


def test_a_broken_cursor_is_a_422(client, fabien, sms):
    answer = client.get(f"/v1/persons/{fabien}/timeline", params={"before": "garbage"})
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "query.before"


def test_waiting_for_a_position_never_reached_says_so(client, fabien, sms):
    body = client.get(f"/v1/persons/{fabien}", params={"min_position": "crossview.interactions:0:999", "wait_ms": 50})
    assert body.json()["freshness"]["caught_up"] is False


def test_the_openapi_page_documents_the_routes(client, fabien, sms):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/events", "/v1/persons/{person_id}", "/v1/persons/{person_id}/timeline"} <= set(paths)
