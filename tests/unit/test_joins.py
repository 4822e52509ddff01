"""Joining two people: one history, one set of contact points, later events to the survivor."""

import pytest
from fastapi.testclient import TestClient

from domain.errors import JoinError
from services.api import create_app
from services.application import Crossview
from services.bootstrap import embedded
from services.settings import Settings
from tests.scenario import Scenario

STOP = "MessageSid=SM{n}&SmsStatus=received&From=%2B33699999999&To=%2B33140000000&Body={body}"
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def client():
    with TestClient(create_app(lambda: embedded(Settings(insecure_skip_signatures=True), with_demo=False))) as c:
        yield c


def test_an_unknown_number_then_a_join_gives_the_survivor_the_whole_history(client):
    scenario = Scenario(client)
    fabien = scenario.build()["fabien"]
    for n, body in enumerate(["Bonjour", "Ma+commande+est+en+retard"]):
        assert (
            client.post("/v1/ingest/twilio/sms", content=STOP.format(n=n, body=body), headers=FORM).status_code == 200
        )
    store = client.app.state.crossview.store
    (provisional,) = [v.person_id for v in store._views.values() if v.provisional]

    scenario.command("post", f"/v1/persons/{fabien}/joins", {"absorbed_id": provisional})
    view = scenario.read("get", f"/v1/persons/{fabien}", params={"as_of": "2026-11-23"})
    assert view["interactions"] == {"sms": 2} and view["given_name"] == "Fabien"
    assert view["main_function"]["title"]["code"] == "MANAGING_DIRECTOR"
    timeline = scenario.read("get", f"/v1/persons/{fabien}/timeline")["entries"]
    assert [e["channel"] for e in timeline].count("sms") == 2

    # Later messages from that number go straight to Fabien: no new provisional person.
    assert client.post("/v1/ingest/twilio/sms", content=STOP.format(n=9, body="STOP"), headers=FORM).status_code == 200
    view = scenario.read("get", f"/v1/persons/{fabien}")
    assert view["interactions"] == {"sms": 3}
    assert [(r["address"], r["reachable"]) for r in view["reachability"]] == [("+33699999999", False)]
    assert sum(1 for v in store._views.values() if v.provisional) == 1  # the joined one, nobody new

    # The joined person's id leads to the survivor; search shows one person.
    assert client.get(f"/v1/persons/{provisional}").json()["person_id"] == fabien
    found = client.get("/v1/search", params={"q": "+33699999999"}).json()["results"]
    assert [r["person_id"] for r in found] == [fabien]


def test_joins_are_refused_with_a_named_rule(client):
    scenario = Scenario(client)
    fabien = scenario.build()["fabien"]
    claire = scenario.command("post", "/v1/persons", {"given_name": "Claire", "family_name": "Dubois"}, 201)
    same = client.post(f"/v1/persons/{fabien}/joins", json={"absorbed_id": fabien})
    assert (same.status_code, same.json()["title"]) == (409, "JoinError")
    scenario.command("post", f"/v1/persons/{fabien}/joins", {"absorbed_id": claire})
    again = client.post(f"/v1/persons/{fabien}/joins", json={"absorbed_id": claire})
    assert (again.status_code, again.json()["title"]) == (409, "JoinError")
    assert client.post(f"/v1/persons/{fabien}/joins", json={"absorbed_id": "nope"}).status_code == 422


def test_a_join_moves_the_contact_points_in_the_index():
    app = Crossview(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    provisional = app.resolve_contact_point("phone", "+33699999999").person_id
    fabien = app.register_person("Fabien", "Bellemare")
    with pytest.raises(JoinError):
        app.join_people(fabien, fabien)
    app.join_people(fabien, provisional)
    assert app.resolve_contact_point("phone", "06 99 99 99 99").person_id == fabien
    assert ("phone", "+33699999999") in app.repository.get(fabien).contact_points
    assert app.repository.get(provisional).merged_into == str(fabien)
