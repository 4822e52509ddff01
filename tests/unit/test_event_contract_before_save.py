"""Nothing outside the event contract is stored, and nothing stored can stall the relay."""

import json

import pytest
from eventsourcing.application import Application, ProcessingEvent
from fastapi.testclient import TestClient
from pydantic import ValidationError

from channels.kafka import Position
from channels.memory import MemoryDeadLetters
from services.application.crossview import Crossview
from services.application.relay import EVENT_STORE, MemoryRelayPositions, Relay
from services.application.wire import check_contract
from services.bootstrap import embedded
from services.http.app import create_app
from services.settings import Settings
from tests.tokens import EVERY_ROLE

TOO_LONG = "T" * 101


@pytest.fixture
def client():
    with TestClient(create_app(lambda: embedded(Settings(), with_demo=False)), headers=EVERY_ROLE) as client:
        yield client


def stored_events(client) -> list:
    app = client.app.state.crossview.commands.app
    return [app.mapper.to_domain_event(n) for n in app.recorder.select_notifications(start=1, limit=100_000)]


def store_unchecked(app: Crossview, *aggregates) -> None:
    """What an older version could store: the events, without the contract check."""
    processing = ProcessingEvent()
    processing.collect_events(*aggregates)
    Application._record(app, processing)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("put", f"/v1/titles/{TOO_LONG}", {"label": "Treasurer"}),
        ("post", f"/v1/titles/{TOO_LONG}/retire", None),
        ("put", f"/v1/attribute-policy/{TOO_LONG}", {"level": "function"}),
        ("put", "/v1/persons/{person}/attributes/" + TOO_LONG, {"value": "blue"}),
    ],
)
def test_a_path_name_longer_than_the_event_contract_allows_is_refused_and_stores_nothing(client, method, path, body):
    person = client.post("/v1/persons", json={"given_name": "Fabien", "family_name": "Bellemare"}).json()["id"]
    before = stored_events(client)
    answer = client.request(method, path.format(person=person), json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"].startswith("path.")
    assert len(stored_events(client)) == len(before)
    assert client.put("/v1/titles/TREASURER", json={"label": "Treasurer"}).status_code == 200
    assert client.post("/v1/persons", json={"given_name": "Anne", "family_name": "Dupont"}).status_code == 201


def test_a_use_case_cannot_store_an_event_the_wire_contract_refuses():
    app = Crossview(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    with pytest.raises(ValidationError):
        app.define_title(TOO_LONG, "Treasurer")
    with pytest.raises(ValidationError):
        app.set_attribute_level("x" * 101, "function")
    assert app.recorder.max_notification_id() in (None, 0)
    app.define_title("TREASURER", "Treasurer")
    check_contract(app.mapper.to_domain_event(n) for n in app.recorder.select_notifications(start=1, limit=100))


def test_a_stored_event_outside_the_contract_is_dead_lettered_and_the_relay_goes_on():
    app = Crossview(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    published, positions, dead_letters = [], MemoryRelayPositions(), MemoryDeadLetters()
    relay = Relay(
        app,
        lambda events: published.extend(events) or [Position("t", 0, 0)] * len(events),
        positions,
        dead_letters=dead_letters,
    )
    titles = app._titles()
    titles.define_title(TOO_LONG, "Stored by an older version")
    store_unchecked(app, titles)  # the referential's start and the bad title
    person = app.register_person("Fabien", "Bellemare")
    while relay.relay_once():
        pass
    assert [e.type for e in published] == ["crossview.person.registered.v1"]
    assert published[0].subject == str(person)
    assert positions.load().notification_id == app.recorder.max_notification_id()
    [(record, reason)] = dead_letters.letters
    assert record.topic == EVENT_STORE and record.offset == 2
    assert "code" in reason and "100 characters" in reason
    assert json.loads(record.value)["topic"].endswith("TitleDefined")
