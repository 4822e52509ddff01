"""Leads on the real broker and database: a lead from Segment's own Track call ("Lead Submitted",
the fixture's payload unchanged) delivered twice and created once; a referral credited to a
prescriber; qualified, routed, converted (the organisation a client) or lost; the pipeline's
figures from PostgreSQL; a ready 360° document with leads equals the view made without it."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import pytest
from eventsourcing.application import AggregateNotFoundError
from fastapi.testclient import TestClient

from services.bootstrap import production
from services.http.app import create_app
from services.http.routes.webhooks.web import TRACKING_API
from tests.integration.test_adapters import SECRETS, segment_post
from tests.live import ProjectorThread, caught_up, wait_until
from tests.scenario import Scenario
from tests.tokens import EVERY_ROLE

FIXTURES = Path(__file__).parents[1] / "fixtures" / "segment"


def test_a_web_lead_counted_once_a_referral_converted_and_the_pipeline_from_postgresql(settings, store):
    configured = settings.model_copy(update=SECRETS)
    with (
        ProjectorThread(configured),
        TestClient(create_app(lambda: production(configured)), headers=EVERY_ROLE) as client,
    ):
        scenario = Scenario(client)
        ids = scenario.build()
        fabien, org, fn = ids["fabien"], ids["org"], ids["fn"]
        scenario.command(
            "put",
            f"/v1/persons/{fabien}/attributes/email",
            {"value": "fabien@fabulous-garden.example", "function_id": fn["Fabulous Garden"]},
        )
        for _delivery in range(2):  # Segment retries: the second delivery creates nothing more
            segment_post(client, "identify")  # the browser's visitor is Fabien from now on
            segment_post(client, "lead_submitted")
        wait_until(caught_up(store, configured), 60, "the projector")
        leads = f"/v1/persons/{fabien}/leads"
        (web,) = scenario.read("get", leads)["leads"]
        assert (web["source"], web["product"], web["stage"]) == ("web", "garden-maintenance-contract", "new")

        scenario.command("post", f"{leads}/{web['lead_id']}/qualify", {})  # 85 employees: medium
        scenario.command("post", f"{leads}/{web['lead_id']}/route", {})
        scenario.command("post", f"{leads}/{web['lead_id']}/lose", {"reason": "budget frozen until spring"})

        referral = scenario.command(
            "post",
            leads,
            {"product": "fleet-insurance", "source": "referral", "function_id": fn["Social Networks"],
             "prescriber_id": org["Croissance+"], "budget": 150_000},
            201,
        )  # fmt: skip
        scenario.command("post", f"{leads}/{referral}/qualify", {})
        scenario.command("post", f"{leads}/{referral}/route", {"owner": "amelie"})
        scenario.command("post", f"{leads}/{referral}/convert")
        scenario.command("post", leads, {"product": "payroll", "source": "call"}, 201)

        view = scenario.read("get", f"/v1/persons/{fabien}")
        assert [(lead["stage"], lead["size"], lead["owner"]) for lead in view["leads"]] == [
            ("new", None, None),
            ("converted", "large", "amelie"),
            ("lost", "medium", "advisors"),
        ]
        converted = view["leads"][1]
        assert (converted["prescriber_name"], converted["channel"]) == ("Croissance+", "key_account_manager")
        organisation = client.get(f"/v1/organisations/{org['Social Networks']}")  # read after the view caught up
        assert organisation.json()["relationship"] == "client"

        figures = scenario.read("get", "/v1/leads/pipeline")
        assert figures["created"] == 3
        assert figures["by_stage"] == {"new": 1, "qualified": 0, "routed": 0, "converted": 1, "lost": 1}
        assert (figures["win_rate"], figures["conversion_rate"]) == (0.5, 0.3333)
        assert figures["by_source"]["web"]["by_stage"]["lost"] == 1
        assert figures["by_source"]["referral"]["win_rate"] == 1.0
        assert set(figures["by_owner"]) == {"advisors", "amelie", "unassigned"}
        credited = figures["by_prescriber"][org["Croissance+"]]  # the referral, credited to Croissance+
        assert (credited["name"], credited["created"], credited["by_stage"]["converted"]) == ("Croissance+", 1, 1)
        assert store.lead_pipeline() == [
            ("converted", "amelie", "referral", org["Croissance+"], 1),
            ("lost", "advisors", "web", "", 1),
            ("new", "", "call", "", 1),
        ]

        # Fabien asks to be erased: his leads leave the event store, the pipeline keeps its figures.
        answer = client.delete(f"/v1/persons/{fabien}")
        assert answer.status_code == 200, answer.text
        with pytest.raises(AggregateNotFoundError):
            client.app.state.crossview.commands.app.repository.get(uuid.UUID(referral))
        wait_until(caught_up(store, configured), 60, "the projector")
        assert client.get(f"/v1/persons/{fabien}").status_code == 410
        assert sum(n for *_, n in store.lead_pipeline()) == 3


def test_an_identify_carrying_a_lead_creates_it_once_for_the_person_it_identifies(settings, store):
    """Segment's own Identify call (the fixture's payload unchanged), delivered twice and once more
    through the Tracking API: one lead, Fabien's, a reply to its campaign. A form id the site gives
    creates its lead once whatever message carries it (analytics.js sends kept traits again); a
    malformed lead trait is refused naming the field, and nothing of that call is recorded; one
    without its product is accepted (the visitor is recorded) and creates no lead."""
    configured = settings.model_copy(update=SECRETS)
    auth = {"authorization": "Basic " + base64.b64encode(f"{SECRETS['segment_write_key']}:".encode()).decode()}
    message = json.loads((FIXTURES / "identify_lead.json").read_text())
    with (
        ProjectorThread(configured),
        TestClient(create_app(lambda: production(configured)), headers=EVERY_ROLE) as client,
    ):
        scenario = Scenario(client)
        ids = scenario.build()
        fabien, garden = ids["fabien"], ids["fn"]["Fabulous Garden"]
        scenario.command(
            "put", f"/v1/persons/{fabien}/attributes/email",
            {"value": "fabien@fabulous-garden.example", "function_id": garden},
        )  # fmt: skip
        for _delivery in range(2):  # Segment retries: the second delivery creates nothing more
            segment_post(client, "identify_lead")
        again = client.post(f"{TRACKING_API}/v1/identify", json=message, headers=auth)  # the other door, same message
        assert again.status_code == 200, again.text
        for message_id in ("ajs-form-1", "ajs-form-2"):  # kept traits sent again with a later identify
            kept = {**message, "messageId": message_id}
            kept["traits"] = {**message["traits"], "lead": {"product": "payroll", "submission_id": "quote-4217"}}
            assert client.post("/v1/ingest/segment", json=kept, headers=auth).status_code == 200

        malformed = {**message, "messageId": "ajs-bad-1", "userId": "someone-else"}
        malformed["traits"] = {"email": "someone@else.example", "lead": {"product": "fleet", "budget": "12k"}}
        refused = client.post("/v1/ingest/segment", json=malformed, headers=auth)
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == ["body.traits.lead.budget"]

        incomplete = {**message, "messageId": "ajs-no-product", "userId": "claire-shop-7"}
        incomplete["traits"] = {"email": "claire@social-networks.example", "lead": {"budget": 9000}}
        accepted = client.post("/v1/ingest/segment", json=incomplete, headers=auth)
        assert accepted.status_code == 200, accepted.text  # who she is still counts; no lead without a product

        wait_until(caught_up(store, configured), 60, "the projector")
        assert client.get("/v1/search", params={"q": "someone@else.example"}).json()["results"] == []  # nobody made
        (claire,) = client.get("/v1/search", params={"q": "claire@social-networks.example"}).json()["results"]
        assert scenario.read("get", f"/v1/persons/{claire['person_id']}/leads")["leads"] == []
        leads = scenario.read("get", f"/v1/persons/{fabien}/leads")["leads"]
        by_product = {lead["product"]: lead for lead in leads}
        assert sorted(by_product) == ["irrigation-kit", "payroll"] and len(leads) == 2
        web = by_product["irrigation-kit"]
        assert (web["source"], web["campaign"], web["stage"]) == ("campaign", "spring-garden", "new")
        assert by_product["payroll"]["source"] == "web"
        assert web["function_id"] is None  # the visitor's user id leads to Fabien himself, as for a track
        assert scenario.command("post", f"/v1/persons/{fabien}/leads/{web['lead_id']}/qualify", {}) == "medium"
        assert sum(n for *_, n in store.lead_pipeline()) == 2


def test_ready_documents_with_leads_equal_the_views_and_both_stores_count_the_same_pipeline(settings, store):
    from projections.memory_store import MemoryStore
    from services.demo.leads import synthetic_leads
    from tests.integration.test_person_documents import AT, EVENTS, PEOPLE, Feed, check_everyone

    memory = MemoryStore()
    feed = Feed(settings, store, memory)
    feed.send(EVENTS)
    feed.send(list(synthetic_leads(PEOPLE[:24], 1, AT)))
    feed.refresh()
    assert check_everyone(store, memory) == len(PEOPLE)
    assert store.lead_pipeline() == memory.lead_pipeline()
    assert sum(n for *_, n in store.lead_pipeline()) == 24
    stages = {stage for stage, *_ in store.lead_pipeline()}
    assert stages == {"new", "qualified", "routed", "converted", "lost"}


def test_the_lead_rules_an_administrator_sets_read_the_same_from_both_stores(settings, store):
    from projections.memory_store import MemoryStore
    from schemas.lead_events import LeadRoute, LeadRulesSet, LeadSizeRule
    from services.demo.data import event
    from tests.integration.test_person_documents import AT, Feed

    memory = MemoryStore()
    feed = Feed(settings, store, memory)
    assert store.lead_rules() == memory.lead_rules()  # the defaults, before any decision
    rules = LeadRulesSet(
        medium=LeadSizeRule(employees=10, products=["payroll"]),
        large=LeadSizeRule(budget=50_000),
        routes={
            "small": LeadRoute(channel="contact_centre", owner="desk"),
            "medium": LeadRoute(channel="advisor", owner="claire"),
            "large": LeadRoute(channel="key_account_manager", owner="kam"),
        },
    )
    feed.send([event("lead-rules", rules, AT, "rules:1")])
    assert store.lead_rules() == memory.lead_rules()
    assert store.lead_rules()["sizes"]["medium"] == {"employees": 10, "budget": None, "products": ["payroll"]}
    assert store.lead_rules()["routes"]["medium"] == {"channel": "advisor", "owner": "claire"}
