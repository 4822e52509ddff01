"""Fabien's story end to end over HTTP, against `crossview serve` and `crossview projector` on the
real broker and database: an SMS promotion with its code, a web checkout left at step 2 of 3 (the
promotion visible to the website there), then his call: the advisor sees the step, stalled, and a
complementary offer with its reason; the call's outcome moves the journey and he accepts."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta

import httpx

from tests.e2e.test_http import wait_for_http
from tests.live import crossview_process, free_port
from tests.scenario import Scenario
from tests.tokens import EVERY_ROLE

WRITE_KEY = "shop-write-key"
SEGMENT = {"authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}
MOBILE = "+33612345678"
EMAIL = "fabien@fabulous-garden.example"


def promotion(fabien: str, at: datetime) -> dict:
    return {
        "specversion": "1.0",
        "id": "SM-spring-fabien",
        "source": "sms-gateway",
        "type": "crossview.interaction.sms.v1",
        "subject": fabien,
        "time": at.isoformat(),
        "data": {
            "direction": "outbound",
            "provider": "sms-gateway",
            "provider_id": "SM-spring-fabien",
            "status": "delivered",
            "from_number": "+33140000000",
            "to_number": MOBILE,
            "body": "Spring promotion: -20% on garden furniture with the code SPRING20",
            "campaign": "spring-promo",
        },
    }


def checkout(step: int, name: str, at: datetime) -> dict:
    """What the shop's analytics.js sends at each checkout step (the documented journey event)."""
    return {
        "type": "track",
        "messageId": f"ajs-checkout-{step}",
        "userId": "fabien-shop-42",
        "timestamp": at.isoformat(),
        "event": "Journey Step Reached",
        "properties": {
            "journey_id": "CHK-2041",
            "journey_type": "purchase",
            "step": step,
            "step_count": 3,
            "step_name": name,
        },
        "context": {"page": {"url": f"https://shop.example/checkout/{step}"}},
    }


def eventually(read, until, what: str, timeout_s: float = 30):
    deadline = time.monotonic() + timeout_s
    while True:
        found = read()
        if until(found):
            return found
        assert time.monotonic() < deadline, f"{what}: still {found}"
        time.sleep(0.2)


def test_fabiens_promotion_stalled_checkout_and_call(settings, tmp_path):
    port, log = free_port(), tmp_path / "crossview.log"
    env = {"CROSSVIEW_SEGMENT_WRITE_KEY": WRITE_KEY, "CROSSVIEW_JOURNEY_STALL_MINUTES": "30"}
    projector = crossview_process(settings, "projector", log=log)
    server = crossview_process(settings, "serve", "--port", str(port), log=log, env=env)
    now = datetime.now(UTC)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/v1/health", server, log)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, headers=EVERY_ROLE) as client:
            scenario = Scenario(client)
            ids = scenario.build()
            fabien = ids["fabien"]
            scenario.command("put", f"/v1/persons/{fabien}/attributes/mobile_phone", {"value": MOBILE})
            scenario.command(
                "put",
                f"/v1/persons/{fabien}/attributes/email",
                {"value": EMAIL, "function_id": ids["fn"]["Fabulous Garden"]},
            )
            # The administrator's catalogue: the promotion's offer, and what completes a purchase.
            scenario.command(
                "put", "/v1/offer-catalogue/SPRING20", {"label": "-20% on garden furniture", "campaign": "spring-promo"}
            )
            scenario.command(
                "put",
                "/v1/offer-catalogue/IRRIGATION-KIT",
                {"label": "Irrigation add-on, installed", "suggested": True, "reason": "Completes a garden furniture purchase",
                 "relationships": ["client"], "journey_types": ["purchase"]},
            )  # fmt: skip

            # Two days ago, the SMS promotion with its code.
            sent = client.post("/v1/events", json=promotion(fabien, now - timedelta(days=2)))
            assert sent.status_code == 202, sent.text
            # Two hours ago, on the web: he signs in (his shop id with his email), then reaches the
            # checkout's payment step, and stops there.
            identify = {"type": "identify", "messageId": "ajs-identify-1", "userId": "fabien-shop-42",
                        "timestamp": (now - timedelta(hours=2, minutes=5)).isoformat(), "traits": {"email": EMAIL}}  # fmt: skip
            for message in (
                identify,
                checkout(1, "Basket", now - timedelta(hours=2, minutes=3)),
                checkout(2, "Payment", now - timedelta(hours=2)),
            ):
                answer = client.post("/v1/ingest/segment", json=message, headers=SEGMENT)
                assert answer.status_code == 200, answer.text
            eventually(
                lambda: client.get(f"/v1/persons/{fabien}").json()["journeys"],
                lambda journeys: journeys and journeys[0]["step"] == 2,
                "the checkout in Fabien's view",
            )
            # The website, at the payment step, shows its visitor the promotion he got by SMS.
            shown = client.get("/v1/visitor-offers", params={"user_id": "fabien-shop-42"}).json()
            assert [o["code"] for o in shown["offers"]] == ["SPRING20"] and "Bellemare" not in str(shown)

            # His call: the advisor finds him by the number he calls from, and reads his 360° view.
            found = client.get("/v1/search", params={"q": "06 12 34 56 78"}).json()["results"]
            assert [r["person_id"] for r in found] == [fabien]
            view = scenario.read("get", f"/v1/persons/{fabien}")
            (journey,) = view["journeys"]
            assert (journey["summary"], journey["last_channel"], journey["stalled"]) == (
                "step 2 of 3 — Payment",
                "web",
                True,
            )
            assert journey["idle_seconds"] >= 2 * 3600 - 60
            assert [(o["code"], o["received_on"]) for o in view["offers"]] == [("SPRING20", "sms")]
            assert view["next_offer"]["code"] == "IRRIGATION-KIT"
            assert view["next_offer"]["reason"] == (
                "Completes a garden furniture purchase (organisation is a client; open purchase journey)"
            )
            # He pays on the phone and takes the kit: the call's outcome and his answer are events.
            note = {
                "text": "Paid on the phone with SPRING20; takes the irrigation kit.",
                "outcome": "answered",
                "journey": {"journey_id": "CHK-2041", "step": 3, "step_name": "Confirmation"},
            }
            recorded = client.post(f"/v1/persons/{fabien}/notes", json=note)
            assert recorded.status_code == 202, recorded.text
            scenario.last_position = recorded.json()["positions"][-1]
            scenario.command("post", f"/v1/persons/{fabien}/offers/IRRIGATION-KIT/accept", {"channel": "call"})
            view = scenario.read("get", f"/v1/persons/{fabien}")
            (journey,) = view["journeys"]
            assert (journey["summary"], journey["last_channel"], journey["stalled"]) == (
                "step 3 of 3 — Confirmation",
                "call",
                False,
            )
            assert journey["channels"] == ["call", "web"]
            assert view["next_offer"] is None  # taken; nothing else in the catalogue suits him
            again = client.post(f"/v1/persons/{fabien}/offers/IRRIGATION-KIT/decline")
            assert (again.status_code, again.json()["title"]) == (409, "OfferAlreadyAnsweredError")
    finally:
        for process in (server, projector):
            process.terminate()
            process.wait(timeout=30)
