"""Leads over HTTP on the embedded default: created, qualified by the rules, routed, converted (the
organisation becomes a client), lost; the rules referential; the pipeline; the errors by name."""

import uuid

import pytest
from eventsourcing.application import AggregateNotFoundError
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


@pytest.fixture
def scenario(client):
    return Scenario(client).build()


def ok(answer, status=200):
    assert answer.status_code == status, answer.text
    return answer.json()


def test_a_referral_is_qualified_routed_and_converted_and_social_networks_becomes_a_client(client, scenario):
    fabien, org, fn = scenario["fabien"], scenario["org"], scenario["fn"]
    leads = f"/v1/persons/{fabien}/leads"
    lead = ok(
        client.post(
            leads,
            json={
                "product": "fleet-insurance",
                "source": "referral",
                "function_id": fn["Social Networks"],
                "prescriber_id": org["Croissance+"],
                "employees": 320,
            },
        ),
        201,
    )["id"]
    assert ok(client.post(f"{leads}/{lead}/qualify", json={}))["id"] == "large"
    assert ok(client.post(f"{leads}/{lead}/route", json={}))["id"] == "key-accounts"
    view = ok(client.get(f"/v1/persons/{fabien}", params=AS_OF))
    (shown,) = view["leads"]
    assert (shown["stage"], shown["size"], shown["channel"], shown["owner"], shown["source"]) == (
        "routed",
        "large",
        "key_account_manager",
        "key-accounts",
        "referral",
    )
    assert (shown["prescriber_id"], shown["prescriber_name"]) == (org["Croissance+"], "Croissance+")
    assert shown["organisation_id"] == org["Social Networks"]
    assert shown["rule"] == "320 employees >= 250"

    ok(client.post(f"{leads}/{lead}/convert"))
    assert ok(client.get(f"/v1/organisations/{org['Social Networks']}"))["relationship"] == "client"
    credited = ok(client.get("/v1/leads/pipeline"))["by_prescriber"]
    assert {k: (v["name"], v["by_stage"]["converted"]) for k, v in credited.items()} == {
        org["Croissance+"]: ("Croissance+", 1)
    }
    again = client.post(f"{leads}/{lead}/lose", json={"reason": "too late"})
    assert again.status_code == 409 and again.json()["title"] == "LeadClosedError"


def test_the_pipeline_counts_by_stage_owner_and_source_with_both_rates(client, scenario):
    fabien = scenario["fabien"]
    leads = f"/v1/persons/{fabien}/leads"
    ids = [ok(client.post(leads, json={"product": p, "source": "call", "budget": b}), 201)["id"] for p, b in
           [("a", 500), ("b", 30_000), ("c", 200_000), ("d", None)]]  # fmt: skip
    for lead in ids[:3]:
        ok(client.post(f"{leads}/{lead}/qualify", json={}))
        ok(client.post(f"{leads}/{lead}/route", json={}))
    ok(client.post(f"{leads}/{ids[0]}/convert"))
    ok(client.post(f"{leads}/{ids[1]}/lose", json={"reason": "chose a competitor"}))
    figures = ok(client.get("/v1/leads/pipeline"))
    assert figures["created"] == 4
    assert figures["by_stage"] == {"new": 1, "qualified": 0, "routed": 1, "converted": 1, "lost": 1}
    assert (figures["win_rate"], figures["conversion_rate"]) == (0.5, 0.25)
    assert figures["by_owner"]["contact-centre"]["by_stage"]["converted"] == 1
    assert figures["by_owner"]["advisors"]["win_rate"] == 0.0
    assert figures["by_owner"]["unassigned"]["created"] == 1
    assert figures["by_source"]["call"]["created"] == 4

    listed = ok(client.get(leads))
    assert listed["open"] == 2
    assert [lead["stage"] for lead in listed["leads"]][:2] == ["routed", "new"] or [
        lead["stage"] for lead in listed["leads"]
    ][:2] == ["new", "routed"]
    assert {lead["stage"] for lead in listed["leads"][2:]} == {"converted", "lost"}


@pytest.mark.parametrize(
    ("step", "body", "title"),
    [
        ("route", {}, "LeadTransitionError"),
        ("convert", None, "LeadTransitionError"),
        ("qualify", {"size": "large"}, "QualificationOverrideError"),
    ],
)
def test_a_move_the_stages_do_not_allow_is_a_named_409(client, scenario, step, body, title):
    leads = f"/v1/persons/{scenario['fabien']}/leads"
    lead = ok(client.post(leads, json={"product": "fleet"}), 201)["id"]
    answer = (
        client.post(f"{leads}/{lead}/{step}", json=body) if body is not None else client.post(f"{leads}/{lead}/{step}")
    )
    assert answer.status_code == 409, answer.text
    assert answer.json()["title"] == title


def test_an_override_with_a_reason_wins_over_the_rules(client, scenario):
    leads = f"/v1/persons/{scenario['fabien']}/leads"
    lead = ok(client.post(leads, json={"product": "fleet", "employees": 3}), 201)["id"]
    body = {"size": "large", "reason": "a group of forty franchises behind it"}
    assert ok(client.post(f"{leads}/{lead}/qualify", json=body))["id"] == "large"
    (shown,) = ok(client.get(leads))["leads"]
    assert (shown["size"], shown["rule"], shown["reason"]) == ("large", None, "a group of forty franchises behind it")


def test_a_referral_by_an_organisation_that_is_no_prescriber_is_refused_by_name(client, scenario):
    leads = f"/v1/persons/{scenario['fabien']}/leads"
    answer = client.post(
        leads, json={"product": "x", "source": "referral", "prescriber_id": scenario["org"]["Delta Telecom"]}
    )
    assert answer.status_code == 409 and answer.json()["title"] == "NotAPrescriberError"
    missing = client.post(leads, json={"product": "x", "source": "referral"})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "body.prescriber_id"


def test_administrators_set_the_rules_and_rules_that_contradict_themselves_are_named(client, scenario):
    rules = ok(client.get("/v1/lead-rules"))
    assert rules["routes"]["large"] == {"channel": "key_account_manager", "owner": "key-accounts"}
    changed = {
        **rules,
        "medium": {"employees": 10, "budget": None, "products": ["payroll"]},
        "routes": {**rules["routes"], "medium": {"channel": "advisor", "owner": "claire"}},
    }
    position = ok(client.put("/v1/lead-rules", json=changed))["positions"][-1]
    read = ok(client.get("/v1/lead-rules", params={"min_position": position, "wait_ms": 5000}))
    assert read["medium"]["products"] == ["payroll"]

    leads = f"/v1/persons/{scenario['fabien']}/leads"
    lead = ok(client.post(leads, json={"product": "payroll"}), 201)["id"]
    assert ok(client.post(f"{leads}/{lead}/qualify", json={}))["id"] == "medium"
    assert ok(client.post(f"{leads}/{lead}/route", json={}))["id"] == "claire"

    wrong = client.put("/v1/lead-rules", json={**changed, "medium": {"employees": 500}})
    assert wrong.status_code == 409 and wrong.json()["title"] == "LeadRulesError"
    assert "sizes.medium.employees" in wrong.json()["detail"]


def test_another_persons_lead_is_not_found_through_this_person(client, scenario):
    leads = f"/v1/persons/{scenario['fabien']}/leads"
    lead = ok(client.post(leads, json={"product": "fleet"}), 201)["id"]
    claire = ok(client.post("/v1/persons", json={"given_name": "Claire", "family_name": "Martin"}), 201)["id"]
    answer = client.post(f"/v1/persons/{claire}/leads/{lead}/qualify", json={})
    assert answer.status_code == 404


def test_erasing_a_person_takes_their_leads_out_of_the_event_store_and_the_pipeline_keeps_its_figures(client, scenario):
    fabien = scenario["fabien"]
    leads = f"/v1/persons/{fabien}/leads"
    lead = ok(client.post(leads, json={"product": "fleet"}), 201)["id"]
    ok(client.post(f"{leads}/{lead}/lose", json={"reason": "his wife said no"}))
    ok(client.delete(f"/v1/persons/{fabien}"))
    app = client.app.state.crossview.commands.app
    with pytest.raises(AggregateNotFoundError):
        app.repository.get(uuid.UUID(lead))
    assert client.get(leads).status_code == 410
    figures = ok(client.get("/v1/leads/pipeline"))
    assert (figures["created"], figures["by_stage"]["lost"]) == (1, 1)
