"""Search at a cut: for random histories of names, contacts and functions and random instants, the
people the memory store gives as candidates hold everyone who matched then (folded at the cut and
asked directory.matches), and the answer is exactly those; through the API, an instant finds the
old name, a date keeps its meaning, a query too broad to fold is a 422 naming q."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.as_of import Cut, fact_of_entry, view_as_of
from projections.directory import matches
from projections.memory_store import MemoryStore
from projections.reference_view import ORGANISATION, fold_references
from schemas.events import (
    AttributeSet,
    ContactPointAdded,
    FunctionAssigned,
    OrganisationRegistered,
    PersonRegistered,
    PersonRenamed,
    TitleDefined,
)
from services.bootstrap import embedded
from services.demo.data import DEMO_NAMESPACE, event
from services.http.app import create_app
from services.http.routes import travelled
from services.settings import Settings
from tests.projecting import project
from tests.tokens import EVERY_ROLE

START = datetime(2026, 3, 1, tzinfo=UTC)
NAMES = ["Zola", "Quinet", "Martin", "Léa", "Anne"]
GARDEN = str(uuid.uuid5(DEMO_NAMESPACE, "search-at:garden"))
BASE = [
    event(
        str(uuid.uuid5(DEMO_NAMESPACE, "search-at:titles")),
        TitleDefined(code="TREASURER", label="Treasurer"),
        START,
        "t",
    ),
    event(GARDEN, OrganisationRegistered(name="Fabulous Garden", kind="company", relationship="client"), START, "g"),
]
WORDS = ["zola", "quinet", "mart", "léa", "anne", "garden", "treasurer", "anne zola", "+3361", "zola@"]

CHANGE = st.tuples(
    st.integers(0, 3),  # whose
    st.sampled_from(["registered", "renamed", "email", "phone", "function"]),
    st.integers(0, len(NAMES) - 1),
    st.integers(0, 120),  # minutes after START
)


def person(n: int) -> str:
    return str(uuid.uuid5(DEMO_NAMESPACE, f"search-at:person:{n}"))


def history(changes: list[tuple[int, str, int, int]]) -> list:
    events = list(BASE)
    for k, (who, kind, name, minute) in enumerate(changes):
        first, last = NAMES[name], NAMES[(name + 1 + who) % len(NAMES)]
        data = {
            "registered": PersonRegistered(given_name=first, family_name=last),
            "renamed": PersonRenamed(given_name=first, family_name=last),
            "email": AttributeSet(name="email", value=f"{last.lower()}@example.org"),
            "phone": ContactPointAdded(kind="phone", address=f"+336{name}{who}000000"),
            "function": FunctionAssigned(
                function_id=f"f{k}", organisation_id=GARDEN, title_code="TREASURER", entered_on=START.date()
            ),
        }[kind]
        events.append(event(person(who), data, START + timedelta(minutes=minute), f"search-at:{k}"))
    return events


def matched_at(store: MemoryStore, query: str, cut: Cut) -> set[str]:
    """Everyone folded at the cut and asked directory.matches: the answer search must give."""
    refs = store.reference_data(())
    organisations = fold_references(
        [fact_of_entry(e) for e in store._by_person.get(GARDEN, []) if cut.keeps_entry(e)], {}
    )
    refs = type(refs)({GARDEN: organisations[(ORGANISATION, GARDEN)]} if organisations else {}, refs.titles)
    found = set()
    for who in range(4):
        entries = [e for e in store._by_person.get(person(who), []) if cut.keeps_entry(e)]
        entries.sort(key=lambda e: (e.topic, e.partition, e.offset))
        view = view_as_of(person(who), entries, cut)
        if view is not None and matches(view, refs, query, cut.until.date()):
            found.add(person(who))
    return found


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(CHANGE, min_size=1, max_size=14), st.integers(-1, 121), st.sampled_from(WORDS))
def test_the_candidates_at_a_cut_hold_everyone_who_matched_then(changes, minute, query):
    store = MemoryStore()
    project(store, Settings(), history(changes), batch=5)
    cut = Cut(START + timedelta(minutes=minute, seconds=30))
    expected = matched_at(store, query, cut)
    assert expected <= set(store.search_candidates_at(query, cut, 100))
    views, refs = travelled.search_people_at(store, query, cut)
    answered = {v.person_id for v in views if v.merged_into is None and matches(v, refs, query, cut.until.date())}
    assert answered == expected


@pytest.fixture
def client():
    with TestClient(create_app(lambda: embedded(Settings())), headers=EVERY_ROLE) as client:
        yield client


def test_a_search_as_of_an_instant_finds_the_name_of_then(client):
    claire = client.post("/v1/persons", json={"given_name": "Claire", "family_name": "Zola"}).json()["id"]
    time.sleep(0.02)
    before = datetime.now(UTC)
    time.sleep(0.02)
    renamed = client.put(f"/v1/persons/{claire}/name", json={"given_name": "Claire", "family_name": "Quinet"})
    mine = {"min_position": renamed.json()["positions"][-1]}
    then = client.get("/v1/search", params={"q": "zola", "as_of": before.isoformat()}).json()
    assert [r["person_id"] for r in then["results"]] == [claire] and then["time_travel"]["until"]
    assert client.get("/v1/search", params={"q": "zola", **mine}).json()["results"] == []
    assert client.get("/v1/search", params={"q": "quinet", "as_of": before.isoformat()}).json()["results"] == []
    dated = client.get("/v1/search", params={"q": "quinet", "as_of": before.date().isoformat()}).json()
    assert [r["person_id"] for r in dated["results"]] == [claire] and "time_travel" not in dated


def test_a_search_too_broad_to_fold_at_a_cut_is_a_422_naming_q(client, monkeypatch):
    monkeypatch.setattr(travelled, "CANDIDATES_AT_CUT", 0)
    answer = client.get("/v1/search", params={"q": "bellemare", "as_of": datetime.now(UTC).isoformat()})
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "query.q"
    naive = client.get("/v1/search", params={"q": "bellemare", "as_of": "2026-11-30T14:05:00"})
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "query.as_of"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/search",
        "/v1/campaigns",
        "/v1/campaigns/{campaign}",
        "/v1/campaigns/{campaign}/days",
        "/v1/analytics/interactions",
    ],
)
def test_the_openapi_document_says_search_and_indicators_travel(client, path):
    operation = client.get("/openapi.json").json()["paths"][path]["get"]
    parameters = {p["name"]: p.get("description", "") for p in operation["parameters"]}
    assert "RFC 3339" in parameters["as_of"] and "log position" in parameters["at_position"]
    assert "as_of" in operation["description"] and "409" in operation["responses"]


@pytest.mark.parametrize("query", ["bellemare", "garden", "treasurer", "06 12 34 56 78", "nobody-has-this"])
def test_a_search_as_of_now_is_the_live_search(client, query):
    live = client.get("/v1/search", params={"q": query}).json()
    now = client.get("/v1/search", params={"q": query, "as_of": datetime.now(UTC).isoformat()}).json()
    assert "time_travel" not in live and now["time_travel"]["until"]
    assert {k: v for k, v in now.items() if k not in ("freshness", "time_travel")} == {
        k: v for k, v in live.items() if k != "freshness"
    }
