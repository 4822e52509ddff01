"""Journeys and offers: the facts channels carry, the folds, the eligibility rules of the next offer,
the catalogue's and the answers' rules (named errors), and the API that serves them."""

import base64
import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from domain.errors import OfferAlreadyAnsweredError, OfferNotValidError, OfferWindowError, UnknownOfferError
from domain.offers import Offer
from projections.engagement import engagement, engagement_inputs, next_offer
from projections.person_document import engagement_json
from projections.person_view import fold
from projections.reference_view import OFFERS, catalogue_offers, fold_references
from schemas.engagement_api import EngagementOut
from schemas.events import SmsInteraction, WebInteraction
from schemas.journey_events import JourneyAbandoned, JourneyCompleted, JourneyStepReached
from services.application import offers
from services.application.crossview import Crossview
from services.application.journeys import JourneyPropertyError, journey_fact_of, journey_facts
from services.bootstrap import embedded
from services.demo.data import event
from services.http.app import create_app
from services.settings import Settings
from tests.conftest import facts_of
from tests.tokens import EVERY_ROLE

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
STALL = timedelta(minutes=30)
SEGMENT_KEY = "w-r-i-t-e-k-e-y"


def track(name: str, properties: dict, provider_id: str = "m1") -> WebInteraction:
    return WebInteraction(
        direction="inbound",
        provider="segment",
        provider_id=provider_id,
        status="received",
        action="track",
        name=name,
        properties=properties,
    )


def sms_reply(body: str, provider_id: str = "SM9") -> SmsInteraction:
    return SmsInteraction(
        direction="inbound",
        provider="twilio",
        provider_id=provider_id,
        status="received",
        from_number="+33612345678",
        to_number="+33140000000",
        body=body,
    )


def journey_events(person: str, steps: list[tuple[WebInteraction | SmsInteraction, datetime]]) -> list:
    events = []
    for n, (data, at) in enumerate(steps):
        carrier = event(person, data, at, f"{person}:{n}")
        events += [carrier, *journey_facts(carrier, data)]
    return events


def shown(events, catalogue=None, now=NOW) -> dict:
    view = fold(facts_of(events))["fabien"]
    from projections.directory import References

    return engagement(engagement_inputs(view, References(), now.date()), catalogue or {}, now, STALL)


# --- the facts channels carry ----------------------------------------------------------------------


def test_a_tracked_journey_step_carries_the_documented_properties():
    fact = journey_fact_of(
        track(
            "Journey Step Reached",
            {"journey_id": "Q-7", "journey_type": "quote", "step": "2", "step_count": 3, "step_name": "Terms"},
        )
    )
    assert isinstance(fact, JourneyStepReached)
    assert (fact.journey_id, fact.journey_type, fact.step, fact.step_count, fact.step_name, fact.channel) == (
        "Q-7",
        "quote",
        2,
        3,
        "Terms",
        "web",
    )
    assert isinstance(journey_fact_of(track("Journey Completed", {"journey_id": "Q-7"})), JourneyCompleted)
    assert journey_fact_of(track("Product Viewed", {"journey_id": "Q-7"})) is None


def test_segments_own_checkout_events_move_a_purchase_journey_named_by_the_checkout():
    fact = journey_fact_of(track("Checkout Step Viewed", {"checkout_id": "co-123", "step": 2}))
    assert (fact.journey_id, fact.journey_type, fact.step) == ("co-123", "purchase", 2)
    assert isinstance(journey_fact_of(track("Order Completed", {"checkout_id": "co-123"})), JourneyCompleted)
    assert journey_fact_of(track("Checkout Step Viewed", {"step": 2})) is None  # no checkout: a web event only


@pytest.mark.parametrize(
    ("properties", "field"),
    [
        ({"step": 2}, "properties.journey_id"),
        ({"journey_id": "Q-7", "step": "two"}, "properties.step"),
        ({"journey_id": "Q-7", "step": 0}, "properties.step"),
        ({"journey_id": "x" * 201}, "properties.journey_id"),
    ],
)
def test_a_tracked_journey_step_that_breaks_the_contract_names_the_property(properties, field):
    with pytest.raises(JourneyPropertyError) as refused:
        journey_fact_of(track("Journey Step Reached", properties))
    assert refused.value.field == field


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("CHK-2041 OK", JourneyStepReached),
        ("chk-2041 oui!", JourneyStepReached),
        ("CHK-2041 NON", JourneyAbandoned),
        ("Bonjour merci", None),  # no reference: a digit is needed
        ("STOP", None),
        ("CHK-2041 maybe", None),
    ],
)
def test_an_sms_reply_with_a_reference_and_a_word_moves_the_journey(body, expected):
    fact = journey_fact_of(sms_reply(body))
    assert (type(fact) if fact else None) is expected
    if fact is not None:
        assert fact.channel == "sms" and fact.journey_id.upper() == "CHK-2041"


# --- the fold ----------------------------------------------------------------------------------


def test_a_checkout_started_on_the_web_and_confirmed_by_sms_is_at_its_next_step():
    t0 = NOW - timedelta(hours=2)
    events = journey_events(
        "fabien",
        [
            (track("Journey Step Reached", {"journey_id": "CHK-2041", "journey_type": "purchase", "step": 1, "step_count": 3, "step_name": "Basket"}, "a"), t0),
            (track("Journey Step Reached", {"journey_id": "CHK-2041", "step": 2, "step_name": "Payment"}, "b"), t0 + timedelta(minutes=5)),
        ],
    )  # fmt: skip
    (journey,) = shown(events)["journeys"]
    assert (journey["summary"], journey["last_channel"], journey["stalled"]) == ("step 2 of 3 — Payment", "web", True)
    assert journey["idle_seconds"] == int(timedelta(hours=1, minutes=55).total_seconds())
    assert not shown(events, now=t0 + timedelta(minutes=20))["journeys"][0]["stalled"]

    replied = events + journey_events("fabien", [(sms_reply("chk-2041 OK"), t0 + timedelta(hours=1))])
    (journey,) = shown(replied)["journeys"]
    assert (journey["step"], journey["step_name"], journey["last_channel"]) == (3, None, "sms")
    assert journey["channels"] == ["sms", "web"] and journey["journey_type"] == "purchase"


def test_completion_and_abandonment_end_a_journey_and_the_latest_fact_decides_whatever_the_order():
    t0 = NOW - timedelta(hours=2)
    steps = [
        (track("Journey Step Reached", {"journey_id": "Q-1", "journey_type": "quote", "step": 1, "step_count": 2}, "a"), t0),
        (sms_reply("Q-1 NO"), t0 + timedelta(minutes=10)),
    ]  # fmt: skip
    events = journey_events("fabien", steps)
    (journey,) = shown(events)["journeys"]
    assert (journey["state"], journey["stalled"], journey["reason"]) == ("abandoned", False, "replied NO by SMS")
    assert shown(list(reversed(events))) == shown(events)
    done = events + journey_events(
        "fabien", [(track("Journey Completed", {"journey_id": "Q-1"}, "c"), t0 + timedelta(minutes=20))]
    )
    (journey,) = shown(done)["journeys"]
    assert (journey["state"], journey["step"], journey["summary"]) == ("completed", 2, "completed")


def test_a_reply_to_a_journey_nobody_tracked_shows_nothing():
    assert shown(journey_events("fabien", [(sms_reply("ZZ-99 OK"), NOW)]))["journeys"] == []


# --- offers: what a person holds, and what to suggest ------------------------------------------------


def catalogue(*defined: Offer) -> dict:
    app = Crossview(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    for offer in defined:
        offers.define_offer(app, offer)
    from services.application.relay import MemoryRelayPositions, Relay

    published = []
    relay = Relay(app, lambda batch: published.extend(batch) or [], MemoryRelayPositions())
    while relay.relay_once():
        pass
    documents = fold_references(facts_of(published), {})
    return catalogue_offers(documents.get((OFFERS, OFFERS)))


INPUTS = {
    "journeys": {},
    "campaigns": {},
    "answers": {},
    "relationships": ["client", "prescriber"],
    "title_codes": ["MANAGING_DIRECTOR", "TREASURER"],
    "products": ["furniture"],
}


def test_the_next_offer_meets_every_rule_it_sets_and_the_most_specific_wins_with_its_reason():
    offered = catalogue(
        Offer("ANY", "For everyone", suggested=True),
        Offer("CLIENTS", "For clients", suggested=True, reason="Loyalty", relationships=("client",)),
        Offer("KIT", "Irrigation kit", suggested=True, reason="Completes", relationships=("client",), products=("furniture",)),
        Offer("MAYORS", "For mayors", suggested=True, title_codes=("MAYOR",)),
        Offer("NOT-SUGGESTED", "Campaign only", campaign="spring", relationships=("client",), products=("furniture",)),
    )  # fmt: skip
    chosen = next_offer(INPUTS, offered, NOW.date(), [])
    assert chosen["code"] == "KIT"
    assert chosen["reason"] == "Completes (organisation is a client; holds furniture)"
    assert next_offer({**INPUTS, "answers": {"KIT": {}}}, offered, NOW.date(), [])["code"] == "CLIENTS"
    prospect = {**INPUTS, "relationships": ["prospect"], "products": []}
    assert next_offer(prospect, offered, NOW.date(), [])["reason"] == "offered to everyone"


def test_an_open_journey_of_the_type_makes_an_offer_eligible_and_a_finished_one_does_not():
    offered = catalogue(Offer("KIT", "Kit", suggested=True, journey_types=("purchase",)))
    t0 = NOW - timedelta(hours=1)
    started = journey_events("fabien", [(track("Journey Step Reached", {"journey_id": "C-1", "journey_type": "purchase", "step": 1}), t0)])  # fmt: skip
    assert shown(started, offered)["next_offer"]["reason"] == "open purchase journey"
    done = started + journey_events("fabien", [(track("Journey Completed", {"journey_id": "C-1"}, "m2"), NOW)])
    assert shown(done, offered)["next_offer"] is None


def test_a_campaign_received_on_one_channel_is_an_offer_held_until_it_expires_is_withdrawn_or_is_answered():
    until = NOW.date() + timedelta(days=3)
    offered = catalogue(Offer("SPRING20", "-20%", campaign="spring-promo", valid_until=until))
    promo = SmsInteraction(
        direction="outbound",
        provider="twilio",
        provider_id="SM-p",
        status="delivered",
        from_number="+33140000000",
        to_number="+33612345678",
        body="-20% with SPRING20",
        campaign="spring-promo",
    )
    events = [event("fabien", promo, NOW - timedelta(days=1), "promo")]
    (held,) = shown(events, offered)["offers"]
    assert (held["code"], held["received_on"], held["valid_until"]) == ("SPRING20", "sms", until.isoformat())
    assert shown(events, offered, now=NOW + timedelta(days=4))["offers"] == []
    assert shown(events, {"SPRING20": {**offered["SPRING20"], "withdrawn": True}})["offers"] == []


# --- the rules of the catalogue and of answers ---------------------------------------------------------


def test_the_catalogue_and_the_answers_refuse_what_breaks_a_rule_by_name():
    app = Crossview(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    with pytest.raises(OfferWindowError):
        offers.define_offer(app, Offer("X", "x", valid_from=date(2026, 5, 1), valid_until=date(2026, 4, 1)))
    with pytest.raises(UnknownOfferError):
        offers.withdraw_offer(app, "X")
    offers.define_offer(app, Offer("KIT", "Kit", suggested=True))
    offers.define_offer(app, Offer("OLD", "Old", valid_until=date(2026, 1, 1)))
    person = app.register_person("Fabien", "Bellemare")
    with pytest.raises(UnknownOfferError):
        offers.answer_offer(app, person, "NOPE", "accepted", "call", NOW.date())
    with pytest.raises(OfferNotValidError):
        offers.answer_offer(app, person, "OLD", "accepted", "call", NOW.date())
    offers.answer_offer(app, person, "KIT", "declined", "web", NOW.date())
    with pytest.raises(OfferAlreadyAnsweredError):
        offers.answer_offer(app, person, "KIT", "accepted", "call", NOW.date())
    offers.withdraw_offer(app, "KIT")
    other = app.register_person("Claire", "Dubois")
    with pytest.raises(OfferNotValidError):
        offers.answer_offer(app, other, "KIT", "accepted", "call", NOW.date())
    offers.define_offer(app, Offer("KIT", "Kit", suggested=True))  # defined again: valid again
    offers.answer_offer(app, other, "KIT", "accepted", "call", NOW.date())


# --- over the API (embedded) ---------------------------------------------------------------------------


@pytest.fixture
def client():
    settings = Settings(segment_write_key=SEGMENT_KEY, insecure_skip_signatures=False)
    with TestClient(create_app(lambda: embedded(settings)), headers=EVERY_ROLE) as client:
        yield client


def segment(client, message: dict):
    auth = "Basic " + base64.b64encode(f"{SEGMENT_KEY}:".encode()).decode()
    return client.post(
        "/v1/ingest/segment",
        content=json.dumps(message),
        headers={"authorization": auth, "content-type": "application/json"},
    )


def test_fabiens_360_shows_his_stalled_checkout_his_sms_promotion_and_a_complementary_offer(client):
    fabien = client.app.state.crossview.demo.fabien
    view = client.get(f"/v1/persons/{fabien}").json()
    (journey,) = view["journeys"]
    assert (journey["summary"], journey["last_channel"], journey["stalled"]) == ("step 2 of 3 — Payment", "web", True)
    assert [(o["code"], o["received_on"]) for o in view["offers"]] == [("SPRING20", "sms")]
    assert view["next_offer"]["code"] == "IRRIGATION-KIT" and "open purchase journey" in view["next_offer"]["reason"]


def test_a_tracked_journey_with_a_bad_step_is_refused_naming_the_property(client):
    answer = segment(
        client,
        {"type": "track", "messageId": "m-bad", "userId": "u-1", "event": "Journey Step Reached", "properties": {"journey_id": "Q-1", "step": "two"}},
    )  # fmt: skip
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "body.properties.step"


def test_the_website_gets_its_visitors_offers_and_nobody_elses(client):
    demo = client.app.state.crossview.demo
    mine = client.get("/v1/visitor-offers", params={"email": "FABIEN@fabulous-garden.example"}).json()
    assert [o["code"] for o in mine["offers"]] == ["SPRING20"] and "Bellemare" not in json.dumps(mine)
    assert segment(client, {"type": "identify", "messageId": "i-1", "userId": "claire-1", "traits": {"email": "claire@example.org"}}).status_code == 200  # fmt: skip
    # Claire's user id with Fabien's email: two people, so nobody's offers.
    mixed = client.get("/v1/visitor-offers", params={"user_id": "claire-1", "email": "fabien@fabulous-garden.example"})
    assert mixed.json() == {"offers": [], "next_offer": None}
    assert client.get("/v1/visitor-offers", params={"user_id": "nobody"}).json()["offers"] == []
    assert client.get("/v1/visitor-offers").json()["errors"][0]["field"] == "query.user_id"
    assert (
        client.get("/v1/visitor-offers", params={"email": "not-an-email"}).json()["errors"][0]["field"] == "query.email"
    )
    assert demo.fabien not in json.dumps(mine)


def test_accepting_an_offer_is_an_event_once_and_it_is_suggested_no_more(client):
    fabien = client.app.state.crossview.demo.fabien
    accepted = client.post(f"/v1/persons/{fabien}/offers/IRRIGATION-KIT/accept", json={"channel": "call"})
    assert accepted.status_code == 200, accepted.text
    again = client.post(f"/v1/persons/{fabien}/offers/IRRIGATION-KIT/decline")
    assert (again.status_code, again.json()["title"]) == (409, "OfferAlreadyAnsweredError")
    assert client.post(f"/v1/persons/{fabien}/offers/NOPE/accept").status_code == 404
    assert client.post(f"/v1/persons/{uuid.uuid4()}/offers/IRRIGATION-KIT/accept").status_code == 404
    assert client.get(f"/v1/persons/{fabien}").json()["next_offer"]["code"] == "ASSOCIATION-PACK"
    timeline = client.get(f"/v1/persons/{fabien}/timeline", params={"limit": 100}).json()["entries"]
    assert "crossview.offer.accepted.v1" in {e["event_type"] for e in timeline}


def test_a_call_outcome_moves_the_journey_and_is_refused_when_its_journey_is_malformed(client):
    fabien = client.app.state.crossview.demo.fabien
    note = {"text": "Paid by phone", "outcome": "answered", "journey": {"journey_id": "CHK-2041", "step": 3, "step_name": "Confirmation"}}  # fmt: skip
    answer = client.post(f"/v1/persons/{fabien}/notes", json=note)
    assert answer.status_code == 202 and answer.json()["accepted"] == 2
    (journey,) = client.get(f"/v1/persons/{fabien}").json()["journeys"]
    assert (journey["summary"], journey["last_channel"]) == ("step 3 of 3 — Confirmation", "call")
    bad = client.post(
        f"/v1/persons/{fabien}/notes", json={"text": "x", "journey": {"journey_id": "CHK-2041", "step": 0}}
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"].endswith("journey.step")


def test_the_catalogue_is_the_administrators_and_its_rules_are_named(client):
    bad = client.put(
        "/v1/offer-catalogue/X", json={"label": "x", "valid_from": "2026-05-01", "valid_until": "2026-04-01"}
    )
    assert (bad.status_code, bad.json()["title"]) == (409, "OfferWindowError")
    assert client.put("/v1/offer-catalogue/X", json={"label": "x", "relationships": ["friend"]}).status_code == 422
    assert client.post("/v1/offer-catalogue/NOPE/withdraw").status_code == 404
    assert client.put("/v1/offer-catalogue/X", json={"label": "x"}).status_code == 200
    assert client.get("/v1/offer-catalogue").json()["offers"]["X"]["label"] == "x"


def test_the_advisors_console_shows_the_step_the_offers_and_the_next_offer_with_its_reason(client):
    fabien = client.app.state.crossview.demo.fabien
    page = client.get(f"/people/{fabien}", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "step 2 of 3 — Payment" in page.text and 'class="tag stalled"' in page.text
    assert "SPRING20" in page.text and "open purchase journey" in page.text
    assert 'data-action="offer-answer" data-answer="accept" data-code="IRRIGATION-KIT"' in page.text


def test_a_promotion_that_never_reached_the_person_gives_no_offer():
    offered = catalogue(Offer("SPRING20", "-20%", campaign="spring-promo"))
    sms = dict(direction="outbound", provider="twilio", from_number="+33140000000", to_number="+33612345678")
    failed = SmsInteraction(**sms, provider_id="SM-f", status="undelivered", campaign="spring-promo")
    queued = SmsInteraction(**sms, provider_id="SM-q", status="queued", campaign="spring-promo")
    assert shown([event("fabien", failed, NOW, "f"), event("fabien", queued, NOW, "q")], offered)["offers"] == []
    delivered = queued.model_copy(update={"status": "delivered"})
    assert [o["code"] for o in shown([event("fabien", delivered, NOW, "d")], offered)["offers"]] == ["SPRING20"]


def test_an_adapter_publishes_journey_events_itself_and_a_bad_one_is_refused_naming_the_field(client):
    fabien = client.app.state.crossview.demo.fabien
    fact = {
        "specversion": "1.0",
        "id": "quote-7-step-1",
        "source": "quote-engine",
        "type": "crossview.journey.step-reached.v1",
        "subject": fabien,
        "data": {"journey_id": "Q-7", "journey_type": "quote", "step": 1, "step_count": 2, "channel": "api",
                 "provider": "quote-engine", "provider_id": "q7-1"},
    }  # fmt: skip
    assert client.post("/v1/events", json=fact).status_code == 202
    journeys = client.get(f"/v1/persons/{fabien}").json()["journeys"]
    assert ("Q-7", "step 1 of 2", "api") in {(j["journey_id"], j["summary"], j["last_channel"]) for j in journeys}
    bad = client.post("/v1/events", json={**fact, "id": "bad", "data": {**fact["data"], "channel": "fax"}})
    assert bad.status_code == 422 and "body.data.channel" in {e["field"] for e in bad.json()["errors"]}


def test_the_consoles_note_form_offers_the_open_journeys_a_call_can_move(client):
    fabien = client.app.state.crossview.demo.fabien
    page = client.get(f"/people/{fabien}", headers={"accept": "text/html"}).text
    assert '<option value="CHK-2041">purchase CHK-2041 · step 2 of 3 — Payment</option>' in page


def test_the_360_view_writes_journeys_and_offers_exactly_as_their_model_does():
    """The ready document's engagement skips the model's round trip (engagement_json): same bytes."""
    offered = catalogue(
        Offer("SPRING20", "-20%", campaign="spring-promo", valid_until=NOW.date() + timedelta(days=3)),
        Offer("KIT", "Irrigation kit", suggested=True, reason="Completes", journey_types=("purchase",)),
    )
    promo = SmsInteraction(
        direction="outbound", provider="twilio", provider_id="SM-p", status="delivered",
        from_number="+33140000000", to_number="+33612345678", body="-20% with SPRING20", campaign="spring-promo",
    )  # fmt: skip
    t0 = NOW - timedelta(hours=2, microseconds=250)
    events = [event("fabien", promo, NOW - timedelta(days=1), "promo")] + journey_events(
        "fabien",
        [
            (track("Journey Step Reached", {"journey_id": "C-1", "journey_type": "purchase", "step": 2}, "a"), t0),
            (track("Journey Step Reached", {"journey_id": "Q-1", "journey_type": "quote", "step": 1}, "b"), t0),
            (track("Journey Abandoned", {"journey_id": "Q-1", "reason": "too dear"}, "c"), NOW),
        ],
    )
    made = shown(events, offered)
    assert made["journeys"] and made["offers"] and made["next_offer"]
    elsewhere = {**made, "journeys": [made["journeys"][0] | {"started_at": "2026-11-30T10:30:00.5+02:00"}]}
    for engaged in (made, elsewhere, {"journeys": [], "offers": [], "next_offer": None}):
        assert engagement_json(engaged) == EngagementOut(**engaged).model_dump_json()


def test_the_latest_step_is_the_latest_in_time_whatever_offset_its_event_was_written_with():
    paris = timezone(timedelta(hours=2))
    early = datetime(2026, 11, 30, 10, 30, tzinfo=paris)  # 08:30 UTC
    later = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    steps = [
        (track("Journey Step Reached", {"journey_id": "Q-1", "journey_type": "quote", "step": 2}, "b"), later),
        (track("Journey Step Reached", {"journey_id": "Q-1", "step": 1}, "a"), early),
    ]
    (journey,) = shown(journey_events("fabien", steps))["journeys"]
    assert journey["step"] == 2 and journey["started_at"] == "2026-11-30T08:30:00+00:00"
