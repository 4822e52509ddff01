"""Commands over HTTP on the embedded default: the seed's scenario, the rules, the error codes."""

import pytest
from fastapi.testclient import TestClient

from services.bootstrap import embedded
from services.http.app import create_app
from services.settings import Settings
from tests.scenario import Scenario
from tests.tokens import EVERY_ROLE

AS_OF = {"as_of": "2026-11-23"}


@pytest.fixture
def client():
    with TestClient(create_app(lambda: embedded(Settings(), with_demo=False)), headers=EVERY_ROLE) as client:
        yield client


def ok(answer, status=200):
    assert answer.status_code == status, answer.text
    return answer.json()


def created(client, url, body):
    return ok(client.post(url, json=body), 201)["id"]


@pytest.fixture
def scenario(client):
    return Scenario(client).build()


def test_the_seed_scenario_built_by_commands_shows_in_the_360_view(client, scenario):
    view = ok(client.get(f"/v1/persons/{scenario['fabien']}", params=AS_OF))
    assert view["main_function"]["title"]["label"] == "Managing director"
    assert [(f["organisation"]["name"], f["organisation"]["relationship"]) for f in view["functions"]] == [
        ("Fabulous Garden", "client"),
        ("Social Networks", "prospect"),
        ("Croissance+", "prescriber"),
    ]
    history = ok(client.get(f"/v1/persons/{scenario['fabien']}/history", params=AS_OF))
    assert [(f["organisation"]["name"], f["active"]) for f in history["functions"]][0] == ("Delta Telecom", False)


def test_reordering_makes_treasurer_the_main_function_and_changes_a_per_person_targeting(client, scenario):
    fn, fabien = scenario["fn"], scenario["fabien"]
    selection = {"title_codes": ["TREASURER", "MANAGING_DIRECTOR"], "mode": "per_person", **AS_OF}
    before = ok(client.post("/v1/targetings", json=selection))
    assert [r["function"]["title"]["code"] for r in before["rows"]] == ["MANAGING_DIRECTOR"]
    both = ok(client.post("/v1/targetings", json={**selection, "mode": "per_function"}))
    assert sorted(r["function"]["title"]["code"] for r in both["rows"]) == ["MANAGING_DIRECTOR", "TREASURER"]

    order = [fn["Croissance+"], fn["Fabulous Garden"], fn["Social Networks"], fn["Delta Telecom"]]
    ok(client.put(f"/v1/persons/{fabien}/functions/order", json={"function_ids": order}))
    assert ok(client.get(f"/v1/persons/{fabien}", params=AS_OF))["main_function"]["title"]["code"] == "TREASURER"
    after = ok(client.post("/v1/targetings", json=selection))
    assert [r["function"]["title"]["code"] for r in after["rows"]] == ["TREASURER"]


def test_a_command_answers_with_the_positions_of_its_events_for_read_your_writes(client, scenario):
    answer = ok(client.put(f"/v1/persons/{scenario['fabien']}/attributes/mobile_phone", json={"value": "+33612345678"}))
    assert answer["relayed"] and len(answer["positions"]) == 2  # the contact point, then the attribute
    view = ok(client.get(f"/v1/persons/{scenario['fabien']}", params={"min_position": answer["positions"][-1]}))
    assert view["freshness"]["caught_up"]
    assert {"name": "mobile_phone", "value": "+33612345678", "level": "person", "function_id": None} in view[
        "attributes"
    ]


def test_rules_answer_409_with_the_rule_named(client, scenario):
    fabien, fn, org = scenario["fabien"], scenario["fn"], scenario["org"]
    cases = [
        (
            client.post(
                f"/v1/persons/{fabien}/functions",
                json={"organisation_id": org["Croissance+"], "title_code": "TREASURER", "entered_on": "2025-01-01"},
            ),
            "DuplicateActiveFunctionError",
        ),
        (
            client.post(
                f"/v1/persons/{fabien}/functions",
                json={
                    "organisation_id": org["Croissance+"],
                    "title_code": "BOARD_MEMBER",
                    "entered_on": "2025-01-01",
                    "exits_on": "2024-01-01",
                },
            ),
            "ExitBeforeEntryError",
        ),
        (
            client.put(f"/v1/persons/{fabien}/functions/order", json={"function_ids": [fn["Croissance+"]]}),
            "NotAPermutationError",
        ),
        (client.put(f"/v1/persons/{fabien}/attributes/email", json={"value": "f@example.org"}), "AttributeLevelError"),
    ]
    for answer, rule in cases:
        assert answer.status_code == 409, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["title"] == rule


def test_unknown_things_answer_404_and_malformed_input_422_naming_the_field(client, scenario):
    fabien, org = scenario["fabien"], scenario["org"]
    unknown_org = client.post(
        f"/v1/persons/{fabien}/functions",
        json={"organisation_id": fabien, "title_code": "TREASURER", "entered_on": "2025-01-01"},
    )
    assert unknown_org.status_code == 404
    unknown_title = client.post(
        f"/v1/persons/{fabien}/functions",
        json={"organisation_id": org["Croissance+"], "title_code": "GARDENER", "entered_on": "2025-01-01"},
    )
    assert (unknown_title.status_code, unknown_title.json()["title"]) == (404, "UnknownTitleError")
    assert client.get("/v1/persons/nobody").status_code == 404
    assert client.get("/v1/organisations/nobody/people").status_code == 404
    bad_date = client.post(
        f"/v1/persons/{fabien}/functions",
        json={"organisation_id": org["Croissance+"], "title_code": "TREASURER", "entered_on": "yesterday"},
    )
    assert bad_date.status_code == 422
    assert [e["field"] for e in bad_date.json()["errors"]] == ["body.entered_on"]
    assert client.post("/v1/persons/not-a-uuid/functions", json={}).status_code == 422


def test_a_retired_title_stays_readable_but_cannot_be_given(client, scenario):
    ok(client.post("/v1/titles/TREASURER/retire"))
    answer = client.post(
        f"/v1/persons/{scenario['fabien']}/functions",
        json={
            "organisation_id": scenario["org"]["Fabulous Garden"],
            "title_code": "TREASURER",
            "entered_on": "2025-01-01",
        },
    )
    assert (answer.status_code, answer.json()["title"]) == (409, "RetiredTitleError")
    view = ok(client.get(f"/v1/persons/{scenario['fabien']}", params=AS_OF))
    assert {"code": "TREASURER", "label": "Treasurer", "retired": True} in [f["title"] for f in view["functions"]]


def test_time_is_real_a_function_is_active_only_between_its_dates(client, scenario):
    fabien, org = scenario["fabien"], scenario["org"]
    created(
        client,
        f"/v1/persons/{fabien}/functions",
        {"organisation_id": org["Social Networks"], "title_code": "MANAGING_DIRECTOR", "entered_on": "2027-01-01"},
    )
    now = ok(client.get(f"/v1/persons/{fabien}", params=AS_OF))
    later = ok(client.get(f"/v1/persons/{fabien}", params={"as_of": "2027-06-01"}))
    assert len(now["functions"]) == 3 and len(later["functions"]) == 4
    past = ok(client.get(f"/v1/persons/{fabien}", params={"as_of": "2016-01-01"}))
    assert [f["title"]["code"] for f in past["functions"]] == ["FINANCE_DIRECTOR"]
    assert not ok(client.get("/v1/search", params={"q": "delta", **AS_OF}))["results"]
    assert ok(client.get("/v1/search", params={"q": "delta", "as_of": "2016-01-01"}))["results"]


def test_an_organisation_changing_status_changes_targeting_by_status(client, scenario):
    prospects = {"relationships": ["prospect"], "mode": "per_function", **AS_OF}
    assert ok(client.post("/v1/targetings", json=prospects))["count"] == 1
    ok(
        client.put(
            f"/v1/organisations/{scenario['org']['Social Networks']}/relationship",
            json={"relationship": "client", "since": "2026-11-01"},
        )
    )
    assert ok(client.post("/v1/targetings", json=prospects))["count"] == 0


def test_the_attribute_policy_is_an_administrators_decision(client, scenario):
    assert ok(client.get("/v1/attribute-policy"))["levels"]["email"] == "function"
    ok(client.put("/v1/attribute-policy/email", json={"level": "person"}))
    ok(client.put(f"/v1/persons/{scenario['fabien']}/attributes/email", json={"value": "fabien@example.org"}))
    assert ok(client.get("/v1/attribute-policy"))["levels"]["email"] == "person"


def test_the_attribute_policy_is_read_from_its_projection_with_the_position_it_reflects(client):
    changed = ok(client.put("/v1/attribute-policy/postal_address", json={"level": "person"}))
    (position,) = changed["positions"]
    crossview = client.app.state.crossview
    body = ok(client.get("/v1/attribute-policy", params={"min_position": position}))
    assert body["levels"] == crossview.store.attribute_policy() == crossview.commands.app.attribute_levels()
    assert body["levels"]["postal_address"] == "person" and body["freshness"]["caught_up"]
    marks = crossview.commands.landed(int(position.rsplit(":", 1)[1]))  # where the relay put the change
    assert marks and all(body["freshness"]["position"][f"{t}:{p}"] > offset for (t, p), offset in marks.items())


def test_the_referential_and_organisations_are_readable(client, scenario):
    titles = ok(client.get("/v1/titles"))["titles"]
    assert titles["TREASURER"] == {"label": "Treasurer", "retired": False}
    garden = ok(client.get(f"/v1/organisations/{scenario['org']['Fabulous Garden']}"))
    assert (garden["name"], garden["kind"], garden["relationship"]) == ("Fabulous Garden", "company", "client")
    assert client.get("/v1/organisations/nobody").status_code == 404
