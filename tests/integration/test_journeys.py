"""Journeys and offers on the real broker and database: a purchase journey moved by Segment's own
checkout event (its fixture, unchanged), by a Twilio SMS reply and by an advisor's call outcome,
each delivered twice and counted once; an SMS promotion's offer asked by the website with the
visitor's identifiers. (Fabien is joined with his browser's visitor here, so his 360° view is made
from the views; tests/integration/test_person_documents.py checks the ready documents.)"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from fastapi.testclient import TestClient

from services.bootstrap import production
from services.http.app import create_app
from tests.integration.test_adapters import SECRETS, segment_post
from tests.live import ProjectorThread, caught_up, wait_until
from tests.scenario import Scenario
from tests.tokens import EVERY_ROLE

FIXTURES = Path(__file__).parents[1] / "fixtures"
MOBILE = "+33612345678"


def twilio_reply(client, body: str, sid: str) -> None:
    """An inbound SMS as Twilio posts it (the fixture's fields), signed over the public URL."""
    from channels import twilio

    form = {
        "ToCountry": "FR",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "FromCountry": "FR",
        "To": "+33140000000",
        "MessagingServiceSid": "MG9752274e9e519418a7406176694466fa",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": "AC25e16e9a716a4a1786a7c83f58e30482",
        "From": MOBILE,
        "ApiVersion": "2010-04-01",
    }
    signed = twilio.signature(
        "http://testserver/v1/ingest/twilio/sms", list(form.items()), SECRETS["twilio_auth_token"]
    )
    answer = client.post(
        "/v1/ingest/twilio/sms",
        content=urlencode(form),
        headers={"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signed},
    )
    assert answer.status_code == 200, answer.text


def promotion(fabien: str) -> dict:
    """The SMS gateway's report of the promotion it delivered, as it publishes it (POST /v1/events)."""
    return {
        "specversion": "1.0",
        "id": "SM-promo-spring",
        "source": "sms-gateway",
        "type": "crossview.interaction.sms.v1",
        "subject": fabien,
        "time": (datetime.now(UTC) - timedelta(days=3)).isoformat(),
        "data": {
            "direction": "outbound",
            "provider": "sms-gateway",
            "provider_id": "SM-promo-spring",
            "status": "delivered",
            "from_number": "+33140000000",
            "to_number": MOBILE,
            "body": "Spring: -20% on garden furniture with the code SPRING20",
            "campaign": "spring-promo",
        },
    }


def journey_rows(scenario, fabien: str) -> list[str]:
    rows = scenario.read("get", f"/v1/persons/{fabien}/timeline", params={"limit": 500})["entries"]
    return sorted(r["event_type"] for r in rows if r["event_type"].startswith("crossview.journey."))


def test_a_journey_crosses_web_sms_and_call_once_each_and_the_web_gets_the_visitors_offers(settings, store):
    configured = settings.model_copy(update=SECRETS)
    with (
        ProjectorThread(configured),
        TestClient(create_app(lambda: production(configured)), headers=EVERY_ROLE) as client,
    ):
        scenario = Scenario(client)
        ids = scenario.build()
        fabien = ids["fabien"]
        scenario.command("put", f"/v1/persons/{fabien}/attributes/mobile_phone", {"value": MOBILE})
        scenario.command(
            "put",
            f"/v1/persons/{fabien}/attributes/email",
            {"value": "fabien@fabulous-garden.example", "function_id": ids["fn"]["Fabulous Garden"]},
        )
        scenario.command(
            "put", "/v1/offer-catalogue/SPRING20", {"label": "-20% on furniture", "campaign": "spring-promo"}
        )
        scenario.command(
            "put",
            "/v1/offer-catalogue/IRRIGATION-KIT",
            {"label": "Irrigation add-on", "suggested": True, "reason": "Completes a garden purchase",
             "relationships": ["client"], "journey_types": ["purchase"]},
        )  # fmt: skip
        for _delivery in range(2):  # every provider retries: the second delivery changes nothing
            assert client.post("/v1/events", json=promotion(fabien)).status_code == 202
            segment_post(client, "identify")  # the browser's anonymous id is Fabien's from now on
            segment_post(client, "track")  # Segment's "Checkout Step Viewed", checkout co-123, step 2
        wait_until(caught_up(store, configured), 60, "the projector")
        view = scenario.read("get", f"/v1/persons/{fabien}")
        (journey,) = view["journeys"]
        assert (journey["journey_id"], journey["journey_type"], journey["step"]) == ("co-123", "purchase", 2)
        assert (journey["last_channel"], journey["stalled"]) == ("web", True)  # the fixture's step is days old
        assert [o["code"] for o in view["offers"]] == ["SPRING20"]
        assert view["next_offer"]["code"] == "IRRIGATION-KIT"

        for _delivery in range(2):
            twilio_reply(client, "CO-123 OK", "SM5e8c0d1b2a3f4e5d6c7b8a9f0e1d2c3b")
        wait_until(caught_up(store, configured), 60, "the projector")
        (journey,) = scenario.read("get", f"/v1/persons/{fabien}")["journeys"]
        assert (journey["step"], journey["last_channel"], journey["stalled"]) == (3, "sms", False)

        offers = client.get(
            "/v1/visitor-offers", params={"user_id": "97980cfea0067", "anonymous_id": "507f191e810c19729de860ea"}
        )
        assert offers.status_code == 200, offers.text
        assert [o["code"] for o in offers.json()["offers"]] == ["SPRING20"]
        assert offers.json()["next_offer"]["code"] == "IRRIGATION-KIT" and fabien not in offers.text
        # An identifier that leads to nobody changes nothing; one of another person would (unit tests).
        unknown = client.get("/v1/visitor-offers", params={"user_id": "97980cfea0067", "email": "new@example.org"})
        assert unknown.json() == offers.json()

        note = {
            "text": "Paid by phone",
            "outcome": "answered",
            "journey": {"journey_id": "co-123", "state": "completed"},
        }
        answer = client.post(f"/v1/persons/{fabien}/notes", json=note)
        assert answer.status_code == 202, answer.text
        scenario.last_position = answer.json()["positions"][-1]
        accepted = client.post(f"/v1/persons/{fabien}/offers/IRRIGATION-KIT/accept", json={"channel": "call"})
        assert accepted.status_code == 200, accepted.text
        scenario.last_position = accepted.json()["positions"][-1]
        view = scenario.read("get", f"/v1/persons/{fabien}")
        (journey,) = view["journeys"]
        assert (journey["state"], journey["last_channel"], journey["channels"]) == (
            "completed",
            "call",
            ["call", "sms", "web"],
        )
        assert view["next_offer"] is None  # accepted; nothing else suits him
        assert journey_rows(scenario, fabien) == [
            "crossview.journey.completed.v1",
            "crossview.journey.step-reached.v1",
            "crossview.journey.step-reached.v1",
        ]


def test_a_visitor_nobody_knows_and_a_retried_track_with_a_bad_step(settings, store):
    configured = settings.model_copy(update=SECRETS)
    with TestClient(create_app(lambda: production(configured)), headers=EVERY_ROLE) as client:
        assert client.get("/v1/visitor-offers", params={"anonymous_id": str(uuid.uuid4())}).json() == {
            "offers": [],
            "next_offer": None,
        }
        auth = "Basic " + base64.b64encode(f"{SECRETS['segment_write_key']}:".encode()).decode()
        bad = client.post(
            "/v1/ingest/segment",
            json={"type": "track", "messageId": "m-1", "anonymousId": "a-1", "event": "Journey Step Reached",
                  "properties": {"journey_id": "Q-1", "step": -1}},
            headers={"authorization": auth},
        )  # fmt: skip
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body.properties.step"
