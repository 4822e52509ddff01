"""Campaign indicators on hand-computed examples: totals, days, rates and what each rate is over —
including a campaign whose provider never reported a delivery (opened 1 of 2 sent is 0.5, not 0.0)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from projections.analytics import (
    CampaignEvent,
    campaign_days,
    campaign_list,
    first_reached,
    interaction_mix,
    last_active,
)
from projections.campaigns import indicators_of
from services.application.auth import Role, development_token
from services.bootstrap import embedded
from services.http.app import create_app
from services.settings import Settings

D1 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
D2 = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)


def email(person: str, at: datetime, status: str, campaign: str = "spring") -> CampaignEvent:
    return CampaignEvent(campaign, "email", person, at, "sendgrid", status, status)


SPRING = [  # Alice opens and clicks, Bob is delivered a day late, Carol bounces, Dan is sent on day 2
    email("alice", D1, "sent"),
    email("alice", D1, "delivered"),
    email("alice", D2, "opened"),
    email("alice", D2, "clicked"),
    email("bob", D1, "sent"),
    email("bob", D2, "delivered"),
    email("carol", D1, "sent"),
    email("carol", D1, "bounced"),
    email("dan", D2, "sent"),
]
# A provider that reports opens but no delivery: Eve and Frank sent, Eve opened.
AUTUMN = [
    email("eve", D1, "sent", "autumn"),
    email("eve", D2, "opened", "autumn"),
    email("frank", D1, "sent", "autumn"),
]


def test_the_rates_of_a_campaign_with_delivery_reports_are_over_sent_and_over_delivered():
    spring = indicators_of({"sent": 4, "delivered": 2, "opened": 1, "clicked": 1, "bounced": 1})
    assert spring["rates"] == {
        "delivered": 0.5,  # 2 of 4 sent
        "bounced": 0.25,  # 1 of 4 sent
        "opened": 0.5,  # 1 of 2 delivered
        "clicked": 0.5,
        "unsubscribed": 0.0,
        "complaints": 0.0,
    }
    assert spring["denominators"]["opened"] == {"indicator": "delivered", "people": 2}
    assert spring["denominators"]["bounced"] == {"indicator": "sent", "people": 4}
    assert spring["delivery_reported"] is True


def test_with_no_delivery_reported_engagement_is_over_what_was_sent_and_says_so():
    autumn = indicators_of({"sent": 2, "opened": 1})
    assert autumn["rates"]["opened"] == 0.5  # 1 of 2 sent, not "opened 1, rate 0.0"
    assert autumn["denominators"]["opened"] == {"indicator": "sent", "people": 2}
    assert autumn["rates"]["delivered"] is None and autumn["delivery_reported"] is False  # not 0 %: unknown
    assert indicators_of({})["rates"]["opened"] is None  # nobody sent: no rate, rather than a 0


def test_a_campaign_day_by_day_counts_people_on_the_day_they_first_reached_each_indicator():
    days = campaign_days(first_reached(SPRING + AUTUMN), "spring")["email"]
    assert [d["day"].isoformat() for d in days] == ["2026-03-02", "2026-03-03"]
    first, second = days
    assert {k: v for k, v in first["new"].items() if v} == {"sent": 3, "delivered": 1, "bounced": 1}
    assert {k: v for k, v in second["new"].items() if v} == {"sent": 1, "delivered": 1, "opened": 1, "clicked": 1}
    # the rates of a day are over the people so far: day 1, 1 delivered of 3 sent; day 2, the totals
    assert first["rates"]["delivered"] == 0.3333 and first["rates"]["opened"] == 0.0
    assert second["counts"] == {
        "sent": 4,
        "delivered": 2,
        "opened": 1,
        "clicked": 1,
        "bounced": 1,
        "unsubscribed": 0,
        "complaints": 0,
    }
    assert second["rates"]["opened"] == 0.5 and second["denominators"]["opened"]["indicator"] == "delivered"
    autumn = campaign_days(first_reached(AUTUMN), "autumn")["email"]
    assert autumn[-1]["rates"]["opened"] == 0.5 and autumn[-1]["denominators"]["opened"]["indicator"] == "sent"


def test_campaigns_are_listed_with_their_channels_people_and_days():
    assert campaign_list(first_reached(SPRING + AUTUMN)) == [
        {"campaign": "autumn", "channels": ["email"], "people_sent": 2, "first_day": D1.date(), "last_day": D2.date()},
        {"campaign": "spring", "channels": ["email"], "people_sent": 4, "first_day": D1.date(), "last_day": D2.date()},
    ]


def test_a_campaign_that_writes_again_to_people_it_reached_runs_to_its_last_message():
    week = [  # the same two people written to every day for a week: nobody new after the first
        CampaignEvent("weekly", "email", person, D1 + timedelta(days=n), "sendgrid", "sent", "sent", None, None)
        for n in range(7)
        for person in ("alice", "bob")
    ]
    firsts = [e._replace(last_at=D1 + timedelta(days=6)) for e in week if e.at == D1]  # as the stores give them
    for events in (week, firsts):
        (listed,) = campaign_list(first_reached(events), last_active(events))
        assert (listed["first_day"], listed["last_day"], listed["people_sent"]) == (
            D1.date(),
            D1.date() + timedelta(days=6),
            2,
        )
        days = campaign_days(first_reached(events), "weekly", last_active(events))["email"]
        assert [d["new"]["sent"] for d in days] == [2, 0, 0, 0, 0, 0, 0]  # nobody new: the totals still add up
        assert days[-1]["counts"]["sent"] == 2


def test_interactions_are_mixed_by_organisation_status_and_function_title():
    counts = [("MD", "garden", "email", 3), ("MD", "garden", "sms", 1), ("TREASURER", "croissance", "email", 2)]
    counts += [(None, None, "web", 4), (None, None, "email", 0)]
    organisations = {"garden": {"relationship": "client"}, "croissance": {"relationship": "prescriber"}}
    mix = interaction_mix(counts, organisations, {"MD": {"label": "Managing director"}})
    assert mix["by_organisation_status"] == [
        {"status": "client", "channels": {"email": 3, "sms": 1}, "total": 4},
        {"status": "prescriber", "channels": {"email": 2}, "total": 2},
        {"status": "none", "channels": {"web": 4}, "total": 4},
    ]
    assert [(t["title_code"], t["label"], t["total"]) for t in mix["by_function_title"]] == [
        ("MD", "Managing director", 4),
        ("TREASURER", "TREASURER", 2),
    ]


def _email_event(n: int, person: str, status: str, campaign: str) -> dict:
    return {
        "specversion": "1.0",
        "id": f"{campaign}-{person}-{status}-{n}",
        "source": "mail-gateway",
        "type": "crossview.interaction.email.v1",
        "subject": person,
        "time": f"2026-03-0{2 + n % 2}T09:00:00Z",
        "data": {
            "direction": "outbound",
            "provider": "sendgrid",
            "provider_id": f"{campaign}-{person}",
            "status": status,
            "address": f"{person}@example.org",
            "campaign": campaign,
        },
    }


@pytest.fixture
def client():
    settings = Settings()
    roles = [Role.ANALYST, Role.ADAPTER]
    token = development_token(settings.development_signing_key, "ana", roles)
    with TestClient(create_app(lambda: embedded(settings)), headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def test_the_api_lists_campaigns_and_gives_their_days_with_each_rates_denominator(client):
    events = [
        _email_event(0, "p1", "processed", "launch"),
        _email_event(1, "p1", "open", "launch"),
        _email_event(0, "p2", "processed", "launch"),
    ]
    assert client.post("/v1/events", json=events).status_code == 202
    listed = client.get("/v1/campaigns").json()["campaigns"]
    assert {c["campaign"]: c["people_sent"] for c in listed}["launch"] == 2
    days = client.get("/v1/campaigns/launch/days").json()["channels"]["email"]
    assert days[-1]["counts"]["opened"] == 1
    assert days[-1]["rates"]["opened"] == 0.5 and days[-1]["denominators"]["opened"] == {
        "indicator": "sent",
        "people": 2,
    }
    totals = client.get("/v1/campaigns/launch").json()["channels"]["email"]
    assert totals["rates"]["opened"] == 0.5 and totals["delivery_reported"] is False
    assert client.get("/v1/campaigns/nothing-like-it/days").status_code == 404
    mix = client.get("/v1/analytics/interactions").json()
    assert sum(s["total"] for s in mix["by_organisation_status"]) >= 2


def test_a_campaign_whose_name_holds_a_slash_is_reachable_and_a_name_too_long_is_refused(client):
    assert client.post("/v1/events", json=[_email_event(0, "p1", "processed", "promo/2026")]).status_code == 202
    assert client.get("/v1/campaigns/promo%2F2026").json()["channels"]["email"]["counts"]["sent"] == 1
    assert client.get("/v1/campaigns/promo%2F2026/days").json()["channels"]["email"][-1]["counts"]["sent"] == 1
    for path in (f"/v1/campaigns/{'x' * 201}", f"/v1/campaigns/{'x' * 201}/days"):
        refused = client.get(path)
        assert refused.status_code == 422 and "campaign" in refused.text


def test_the_indicators_are_for_analysts_and_admins():
    settings = Settings()
    advisor = development_token(settings.development_signing_key, "alice", [Role.ADVISOR])
    with TestClient(create_app(lambda: embedded(settings))) as client:
        for path in ("/v1/campaigns", "/v1/analytics/interactions", "/v1/campaigns/x/days"):
            assert client.get(path).status_code == 401
            assert client.get(path, headers={"Authorization": f"Bearer {advisor}"}).status_code == 403
