"""The relay on the real event store (PostgreSQL) and broker: in order, at least once, no duplicates downstream."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient

from projections.postgres_store import open_pool
from services.adapters.relay_positions import PostgresRelayPositions
from services.application.ingest import Ingest
from services.application.relay import Checkpoint, Relay
from services.bootstrap import event_store, production
from services.http.app import create_app
from tests.live import ProjectorThread, caught_up, wait_until
from tests.tokens import EVERY_ROLE


def test_commands_reach_the_360_view_through_the_relay_kafka_and_the_projector(settings, store):
    with ProjectorThread(settings), TestClient(create_app(lambda: production(settings)), headers=EVERY_ROLE) as client:
        assert client.put("/v1/titles/TREASURER", json={"label": "Treasurer"}).status_code == 200
        org = client.post(
            "/v1/organisations", json={"name": "Croissance+", "kind": "association", "relationship": "prescriber"}
        ).json()["id"]
        person = client.post("/v1/persons", json={"given_name": "Fabien", "family_name": "Bellemare"}).json()["id"]
        answer = client.post(
            f"/v1/persons/{person}/functions",
            json={"organisation_id": org, "title_code": "TREASURER", "entered_on": "2024-09-15"},
        )
        assert answer.status_code == 201, answer.text  # stored; the read below waits for the relay and projector
        view = client.get(
            f"/v1/persons/{person}", params={"min_position": answer.json()["positions"][-1], "wait_ms": 15000}
        ).json()
    assert view["freshness"]["caught_up"]
    assert view["main_function"]["organisation"]["name"] == "Croissance+"
    assert view["main_function"]["title"]["label"] == "Treasurer"


def test_a_relay_that_crashed_before_recording_its_position_republishes_and_nothing_counts_twice(
    settings, store, publisher
):
    app = event_store(settings)
    pool = open_pool(settings.database_url, max_size=2)
    positions = PostgresRelayPositions(pool, settings.namespace)
    try:
        person = app.register_person("Fabien", "Bellemare")
        app.set_attribute(person, "mobile_phone", "+33612345678")

        class CrashAfterPublish(PostgresRelayPositions):
            def save(self, checkpoint: Checkpoint) -> None:
                raise RuntimeError("crashed between publish and save")

        crashing = CrashAfterPublish(pool, settings.namespace)
        with pytest.raises(RuntimeError, match="crashed"):
            Relay(app, Ingest(publisher, settings, None).publish, crashing).relay_once()
        assert positions.load().notification_id == 0  # nothing recorded: the next relay starts over
        app.set_attribute(person, "mobile_phone", "+33699999999")
        relay = Relay(app, Ingest(publisher, settings, None).publish, positions)
        while relay.relay_once():
            pass
        assert (
            positions.load().notification_id == 7
        )  # per number: the claim in the index, the contact point, the attribute
        with ProjectorThread(settings) as running:
            wait_until(caught_up(store, settings), 60, "the projector")
        view = store.person(str(person))
        assert view.events_applied == 5  # registered, and per number its contact point and the attribute
        assert view.attributes == {"mobile_phone": "+33699999999"}
        assert running.projector.totals.duplicates == 3  # the first relay's three, republished
    finally:
        app.close()
        pool.close()


def test_only_one_relay_holds_the_lock_of_a_namespace(settings):
    pool = open_pool(settings.database_url, max_size=2)
    first, second = PostgresRelayPositions(pool, settings.namespace), PostgresRelayPositions(pool, settings.namespace)
    try:
        assert first.hold_lock(settings.database_url)
        assert not second.hold_lock(settings.database_url)
        first.release()  # the server frees the lock when that session ends, a moment later
        wait_until(lambda: second.hold_lock(settings.database_url), 10, "the lock to pass to the second relay")
    finally:
        second.release()
        pool.close()


def test_the_relay_keeps_the_order_of_a_persons_events(settings, store):
    app = event_store(settings)
    try:
        person = app.register_person("Fabien", "Bellemare")
        org = app.register_organisation("Fabulous Garden", "company", "client")
        app.define_title("MD", "Managing director")
        function = app.assign_function(person, org, "MD", date(2021, 1, 4))
        for day in range(1, 20):
            app.set_attribute(person, "mobile_phone", f"+336000000{day:02d}")
        app.end_function(person, function, date(2025, 1, 31))
        with ProjectorThread(settings), TestClient(create_app(lambda: production(settings)), headers=EVERY_ROLE):
            wait_until(
                lambda: (v := store.person(str(person))) is not None and v.events_applied == 41,
                60,
                "the relayed events",
            )
        view = store.person(str(person))
        assert view.attributes == {"mobile_phone": "+33600000019"}
        assert view.functions[function].exits_on == date(2025, 1, 31)
    finally:
        app.close()
