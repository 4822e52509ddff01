"""Unsubscribes, STOP keywords, complaints and hard bounces change at once what a person may be sent."""

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from projections.person_view import fold
from schemas.events import EmailInteraction, SmsInteraction
from services.bootstrap import embedded
from services.demo.data import event
from services.http.app import create_app
from services.settings import Settings
from tests.conftest import facts_of
from tests.scenario import Scenario
from tests.tokens import EVERY_ROLE

AT = datetime(2026, 11, 20, 10, tzinfo=UTC)
MOBILE = "+33612345678"


def sms(body: str, minutes: int, key: str):
    return event(
        "p",
        SmsInteraction(
            direction="inbound",
            provider="twilio",
            provider_id=key,
            status="received",
            from_number=MOBILE,
            to_number="+33140000000",
            body=body,
        ),
        AT + timedelta(minutes=minutes),
        key,
    )


def email(status: str, minutes: int, key: str, bounce_type: str | None = None):
    return event(
        "p",
        EmailInteraction(
            direction="outbound",
            provider="sendgrid",
            provider_id=key,
            status=status,
            address="Fabien@Example.org",
            bounce_type=bounce_type,
        ),
        AT + timedelta(minutes=minutes),
        key,
    )


@pytest.mark.parametrize(
    ("events", "reachable", "reason"),
    [
        ([sms("STOP", 1, "a")], False, "opted out by SMS (STOP)"),
        ([sms("arret svp", 1, "a")], False, "opted out by SMS (ARRET)"),
        ([sms("STOP", 1, "a"), sms("START", 2, "b")], True, "opted in again by SMS (START)"),
        (
            [sms("START", 2, "b"), sms("STOP", 1, "a")],
            True,
            "opted in again by SMS (START)",
        ),  # time decides, not arrival
        ([sms("Where is my order?", 1, "a")], None, None),
    ],
)
def test_sms_keywords_set_the_reachability_of_the_number(events, reachable, reason):
    view = fold(facts_of(events))["p"]
    state = view.reachability.get(f"sms:{MOBILE}")
    assert (state["reachable"], state["reason"]) == (reachable, reason) if reachable is not None else state is None


@pytest.mark.parametrize(
    ("status", "bounce_type", "reachable"),
    [
        ("unsubscribe", None, False),
        ("spamreport", None, False),
        ("bounce", "bounce", False),
        ("bounce", "blocked", None),
        ("delivered", None, None),
        ("open", None, None),
    ],
)
def test_email_events_that_change_reachability(status, bounce_type, reachable):
    state = fold(facts_of([email(status, 1, "x", bounce_type)]))["p"].reachability.get("email:fabien@example.org")
    assert (state["reachable"] if state else None) == reachable


def test_a_stop_from_a_persons_mobile_removes_them_from_sms_targeting_at_once():
    with TestClient(
        create_app(lambda: embedded(Settings(insecure_skip_signatures=True), with_demo=False)), headers=EVERY_ROLE
    ) as client:
        scenario = Scenario(client)
        ids = scenario.build()
        scenario.command("put", f"/v1/persons/{ids['fabien']}/attributes/mobile_phone", {"value": "06 12 34 56 78"})
        selection = {"title_codes": ["MANAGING_DIRECTOR"], "channel": "sms", "as_of": "2026-11-23"}
        assert client.post("/v1/targetings", json=selection).json()["count"] == 1

        stop = "MessageSid=SM1&SmsStatus=received&From=%2B33612345678&To=%2B33140000000&Body=STOP"
        assert (
            client.post(
                "/v1/ingest/twilio/sms", content=stop, headers={"content-type": "application/x-www-form-urlencoded"}
            ).status_code
            == 200
        )
        view = client.get(f"/v1/persons/{ids['fabien']}").json()
        assert [(r["address"], r["reachable"], r["reason"]) for r in view["reachability"]] == [
            (MOBILE, False, "opted out by SMS (STOP)")
        ]
        assert client.post("/v1/targetings", json=selection).json()["count"] == 0
        assert client.post("/v1/targetings", json={**selection, "channel": None}).json()["count"] == 1


def test_a_contact_point_of_someone_else_is_refused_as_an_attribute():
    with TestClient(create_app(lambda: embedded(Settings(), with_demo=False)), headers=EVERY_ROLE) as client:
        scenario = Scenario(client)
        fabien = scenario.build()["fabien"]
        claire = scenario.command("post", "/v1/persons", {"given_name": "Claire", "family_name": "Dubois"}, 201)
        scenario.command("put", f"/v1/persons/{fabien}/attributes/mobile_phone", {"value": MOBILE})
        taken = client.put(f"/v1/persons/{claire}/attributes/mobile_phone", json={"value": MOBILE})
        assert (taken.status_code, taken.json()["title"]) == (409, "ContactPointTakenError")
        assert fabien not in taken.text  # an error never names another person


def test_a_malformed_phone_number_is_a_422_naming_the_value():
    with TestClient(create_app(lambda: embedded(Settings(), with_demo=False)), headers=EVERY_ROLE) as client:
        fabien = Scenario(client).build()["fabien"]
        answer = client.put(f"/v1/persons/{fabien}/attributes/mobile_phone", json={"value": "call me maybe"})
        assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "body.value"
