"""Search, roster, targeting and the 360° view answer the same on PostgreSQL as in memory.

Both stores are fed the same log through the same projector; every query goes through the HTTP
routes, so what is compared is what an advisor would see.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from projections.memory_store import MemoryStore
from services.application.audit import Auditor
from services.bootstrap import authenticator
from services.container import Container
from services.demo.data import seed_scenario, synthetic_people
from services.http.app import create_app
from tests.projecting import project
from tests.tokens import EVERY_ROLE

SCENARIO, IDS = seed_scenario()
EVENTS = [*SCENARIO, *synthetic_people(300, seed=5)]
AS_OF = "2026-11-23"


async def _unrecorded(accesses) -> None:
    return None


@pytest.fixture
def clients(settings, store):
    memory = MemoryStore()
    project(memory, settings, EVENTS)
    project(store, settings, EVENTS)
    apps = [
        create_app(
            lambda s=s: Container(
                settings,
                s,
                None,
                None,
                mode="test",
                authenticator=authenticator(settings),
                auditor=Auditor(_unrecorded),  # this contract compares reads; the audit has its own tests
                eraser=None,
            )
        )
        for s in (memory, store)
    ]
    with TestClient(apps[0], headers=EVERY_ROLE) as in_memory, TestClient(apps[1], headers=EVERY_ROLE) as on_postgres:
        yield in_memory, on_postgres


def _steady(body: Any) -> Any:
    """``body`` without what the clock moves between two reads (a journey's seconds since its last
    step: the two stores answer a second apart now and then)."""
    if isinstance(body, dict):
        return {k: _steady(v) for k, v in body.items() if k != "idle_seconds"}
    if isinstance(body, list):
        return [_steady(v) for v in body]
    return body


def same(clients, method: str, url: str, **kwargs) -> dict:
    answers = [getattr(client, method)(url, **kwargs) for client in clients]
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    bodies = [_steady({k: v for k, v in a.json().items() if k != "freshness"}) for a in answers]
    assert bodies[0] == bodies[1]
    return bodies[0]


@pytest.mark.parametrize(
    "query",
    [
        "bellemare",
        "fabulous garden",
        "treasurer",
        "+33612345678",
        "tresorier@croissance-plus.example",
        "delta",
        "martin",
        "p17.f0",
        "garden 1",
    ],
)
def test_search_answers_alike(clients, query):
    body = same(clients, "get", "/v1/search", params={"q": query, "as_of": AS_OF, "limit": 200})
    assert body["query"] == query  # and `same` compared every result of both stores


def test_search_finds_fabien_by_organisation_title_and_contact_but_never_by_an_ended_function(clients):
    def people(q):
        body = same(clients, "get", "/v1/search", params={"q": q, "as_of": AS_OF})
        return {r["person_id"] for r in body["results"]}

    for q in ("Bellemare", "Fabulous Garden", "Croissance+", "treasurer", "+33612345678"):
        assert IDS.fabien in people(q), q
    assert IDS.fabien not in people("Delta Telecom")  # his function there ended in 2020


def test_rosters_answer_alike_with_and_without_past_people(clients):
    for organisation in IDS.organisations.values():
        for include_past in ("false", "true"):
            same(
                clients,
                "get",
                f"/v1/organisations/{organisation}/people",
                params={"as_of": AS_OF, "include_past": include_past},
            )
    delta = same(
        clients,
        "get",
        f"/v1/organisations/{IDS.organisations['delta-telecom']}/people",
        params={"as_of": AS_OF, "include_past": "true"},
    )
    assert [(r["given_name"], r["function"]["active"]) for r in delta["people"]] == [("Fabien", False)]


@pytest.mark.parametrize("mode", ["per_function", "per_person"])
@pytest.mark.parametrize(
    "criteria",
    [
        {"title_codes": ["TREASURER", "MANAGING_DIRECTOR", "CIO"]},
        {"relationships": ["prescriber"]},
        {"relationships": ["client", "prospect"], "title_codes": ["BOARD_MEMBER", "MAYOR"]},
        {"active_only": False},
    ],
)
def test_targetings_answer_alike(clients, criteria, mode):
    body = same(clients, "post", "/v1/targetings", json={**criteria, "mode": mode, "as_of": AS_OF})
    assert body["count"] == len(body["rows"]) > 0
    if mode == "per_person":
        assert len({r["person_id"] for r in body["rows"]}) == body["count"]


def test_the_360_views_answer_alike(clients):
    body = same(clients, "get", f"/v1/persons/{IDS.fabien}", params={"as_of": AS_OF})
    assert [f["title"]["code"] for f in body["functions"]] == ["MANAGING_DIRECTOR", "BOARD_MEMBER", "TREASURER"]
    assert body["links"][0]["people"][0]["family_name"] == "Dubois"
    history = same(clients, "get", f"/v1/persons/{IDS.fabien}/history", params={"as_of": AS_OF})
    assert history["functions"][0]["title"]["code"] == "FINANCE_DIRECTOR" and not history["functions"][0]["active"]
    assert date.fromisoformat(history["functions"][0]["exits_on"]) == date(2020, 12, 31)


def test_campaign_indicators_answer_alike(clients):
    body = same(clients, "get", "/v1/campaigns/spring-promo")
    assert body["channels"]["sms"]["counts"]["delivered"] == 1
    assert body["channels"]["email"]["counts"]["opened"] == 1


def test_the_timeline_and_its_parts_answer_alike(clients):
    def channels(**params):
        body = same(clients, "get", f"/v1/persons/{IDS.fabien}/timeline", params=params)
        return sorted(e["channel"] for e in body["entries"] if e["channel"])

    assert channels() == ["call", "email", "sms", "web", "web", "web"]  # web: a page and two checkout steps
    assert channels(channel="sms") == ["sms"]
    garden = IDS.functions["fabulous-garden"]
    assert channels(function_id=garden) == ["email"]  # the email carried by that function
    assert channels(function_id=garden, channel="call") == []
    for client in clients:
        unknown = client.get(f"/v1/persons/{IDS.fabien}/timeline", params={"function_id": "nope"})
        assert (unknown.status_code, unknown.json()["title"]) == (404, "Function not found")
