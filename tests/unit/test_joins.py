"""Joining two people: one history, one set of contact points, later events to the survivor."""

from datetime import date

import pytest
from fastapi.testclient import TestClient

from domain.contact_point import Resolved
from domain.errors import JoinError
from services.application.crossview import Crossview
from services.bootstrap import embedded
from services.http.app import create_app
from services.settings import Settings
from tests.scenario import Scenario
from tests.tokens import EVERY_ROLE

STOP = "MessageSid=SM{n}&SmsStatus=received&From=%2B33699999999&To=%2B33140000000&Body={body}"
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def client():
    with TestClient(
        create_app(lambda: embedded(Settings(insecure_skip_signatures=True), with_demo=False)), headers=EVERY_ROLE
    ) as c:
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
    anne = scenario.command("post", "/v1/persons", {"given_name": "Anne", "family_name": "Dupont"}, 201)
    elsewhere = client.post(f"/v1/persons/{anne}/joins", json={"absorbed_id": claire})
    assert elsewhere.status_code == 409 and fabien not in elsewhere.text  # an error never names another person
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


def test_undoing_a_join_gives_each_person_back_their_history_and_contact_points(client):
    scenario = Scenario(client)
    fabien = scenario.build()["fabien"]
    sms = STOP.format(n=1, body="Bonjour")
    assert client.post("/v1/ingest/twilio/sms", content=sms, headers=FORM).status_code == 200
    store = client.app.state.crossview.store
    (other,) = [v.person_id for v in store._views.values() if v.provisional]
    scenario.command("post", f"/v1/persons/{fabien}/joins", {"absorbed_id": other})
    during = STOP.format(n=2, body="Encore+moi")  # reaches Fabien while the two are one
    assert client.post("/v1/ingest/twilio/sms", content=during, headers=FORM).status_code == 200
    assert scenario.read("get", f"/v1/persons/{fabien}")["interactions"] == {"sms": 2}

    scenario.command("delete", f"/v1/persons/{fabien}/joins/{other}")
    assert scenario.read("get", f"/v1/persons/{fabien}")["interactions"] == {"sms": 1}  # the one sent meanwhile
    restored = scenario.read("get", f"/v1/persons/{other}")
    assert (restored["person_id"], restored["interactions"]) == (other, {"sms": 1})
    after = STOP.format(n=3, body="Et+maintenant")  # the number leads to its own person again
    assert client.post("/v1/ingest/twilio/sms", content=after, headers=FORM).status_code == 200
    assert scenario.read("get", f"/v1/persons/{other}")["interactions"] == {"sms": 2}
    found = client.get("/v1/search", params={"q": "+33699999999"}).json()["results"]
    assert [r["person_id"] for r in found] == [other]

    again = client.delete(f"/v1/persons/{fabien}/joins/{other}")
    assert (again.status_code, again.json()["title"]) == (409, "JoinError")
    scenario.command("post", f"/v1/persons/{fabien}/joins", {"absorbed_id": other})  # and joined again
    assert scenario.read("get", f"/v1/persons/{fabien}")["interactions"] == {"sms": 3}


def test_an_email_carried_by_a_function_goes_back_to_that_function():
    app = Crossview(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    claire = app.register_person("Claire", "Dubois")
    organisation = app.register_organisation("Initech", "company", "client")
    app.define_title("BUYER", "Buyer")
    function = app.assign_function(claire, organisation, "BUYER", date(2026, 1, 5))
    app.set_attribute(claire, "email", "claire@initech.example", function)
    fabien = app.register_person("Fabien", "Bellemare")
    app.join_people(fabien, claire)
    assert app.find_contact_point("email", "claire@initech.example") == Resolved(fabien, None)
    app.separate_people(fabien, claire)
    assert app.find_contact_point("email", "claire@initech.example") == Resolved(claire, function)
    assert app.repository.get(fabien).contact_points == []
    assert app.repository.get(claire).merged_into is None


def test_an_advisor_names_the_unknown_caller(client):
    sms = STOP.format(n=1, body="Bonjour")
    assert client.post("/v1/ingest/twilio/sms", content=sms, headers=FORM).status_code == 200
    (caller,) = [v.person_id for v in client.app.state.crossview.store._views.values() if v.provisional]
    scenario = Scenario(client)
    scenario.command("put", f"/v1/persons/{caller}/name", {"given_name": "Claire", "family_name": "Dubois"})
    view = scenario.read("get", f"/v1/persons/{caller}")
    assert (view["given_name"], view["family_name"], view["provisional"], view["interactions"]) == (
        "Claire",
        "Dubois",
        False,
        {"sms": 1},
    )
    assert [r["person_id"] for r in client.get("/v1/search", params={"q": "claire dubois"}).json()["results"]] == [
        caller
    ]
    unnamed = client.put(f"/v1/persons/{caller}/name", json={"given_name": "", "family_name": "Dubois"})
    assert unnamed.status_code == 422 and unnamed.json()["errors"][0]["field"] == "body.given_name"
