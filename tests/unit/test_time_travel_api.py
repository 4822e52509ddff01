"""Time travel through the HTTP API on the embedded default: the 360° view, history and timeline as
the log stood at an instant or a position, each the pure fold of the events the cut keeps."""

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.as_of import Cut, fact_of_entry
from projections.person_document import LINKS_SHOWN, document_organisations, person_360
from projections.person_view import fold
from schemas.api import Freshness
from services.application.auth import Role
from services.bootstrap import embedded
from services.http.app import create_app
from services.http.routes.travelled import moment_at
from services.settings import Settings
from tests.tokens import EVERY_ROLE, bearer

LIVE_ONLY = ("freshness", "time_travel")
FRESH = Freshness(position={}, caught_up=True)


def sms(fabien: str, n: int, at: datetime, body: str = "Bonjour") -> dict:
    return {
        "id": f"SM-travel-{n}",
        "source": "test",
        "type": "crossview.interaction.sms.v1",
        "subject": fabien,
        "time": at.isoformat(),
        "data": {
            "direction": "inbound",
            "provider": "twilio",
            "provider_id": f"SM-travel-{n}",
            "status": "received",
            "from_number": "+33612345678",
            "to_number": "+33140000000",
            "body": body,
        },
    }


@pytest.fixture
def client():
    with TestClient(create_app(lambda: embedded(Settings())), headers=EVERY_ROLE) as client:
        yield client


@pytest.fixture
def story(client):
    """Fabien (the demo's), then three text messages a few milliseconds apart: the second is a STOP."""
    fabien = client.app.state.crossview.demo.fabien
    start = datetime.now(UTC)
    moments = [start + timedelta(milliseconds=20 * n) for n in (1, 2, 3)]
    for n, (at, body) in enumerate(zip(moments, ["Bonjour", "STOP", "Merci"], strict=True)):
        assert client.post("/v1/events", json=sms(fabien, n, at, body)).status_code == 202
    time.sleep(0.1)  # every message is in the past now
    return fabien, moments


def without(body: dict, *keys: str) -> dict:
    return {k: v for k, v in body.items() if k not in keys}


def pure_fold_at(client, person_id: str, until: datetime):
    """The pure fold of the person's stored events up to ``until``, from the start (no checkpoint)."""
    store = client.app.state.crossview.store
    kept = sorted(
        (e for e in store._by_person[person_id] if e.occurred_at <= until),
        key=lambda e: (e.topic, e.partition, e.offset),
    )
    return fold(fact_of_entry(e) for e in kept)[person_id]


def test_the_live_view_is_the_view_as_of_now(client, story):
    fabien, _ = story
    live = client.get(f"/v1/persons/{fabien}").json()
    now = client.get(f"/v1/persons/{fabien}", params={"as_of": datetime.now(UTC).isoformat()}).json()
    assert "time_travel" not in live
    assert without(now, *LIVE_ONLY) == without(live, *LIVE_ONLY)
    assert now["time_travel"]["until"] and now["time_travel"]["at_position"] == now["freshness"]["position"]


def test_the_view_as_of_an_instant_counts_only_what_had_happened(client, story):
    fabien, (first, second, third) = story
    for until, sms_count, reachable in [(first, 2, True), (second, 3, False), (third, 4, False)]:
        body = client.get(f"/v1/persons/{fabien}", params={"as_of": until.isoformat()}).json()
        folded = pure_fold_at(client, fabien, until)
        assert body["interactions"] == dict(folded.interactions) and body["interactions"]["sms"] == sms_count
        assert body["events_applied"] == folded.events_applied
        assert body["last_interaction"]["event_id"] == folded.last_interaction.event_id
        stop = [r for r in body["reachability"] if r["address"] == "+33612345678"]
        assert (stop[0]["reachable"] if stop else True) is reachable
        assert body["time_travel"]["until"].startswith(until.strftime("%Y-%m-%dT%H:%M:%S"))


def test_the_timeline_and_history_as_of_an_instant_hold_what_was_on_the_log_then(client, story):
    fabien, (first, _, third) = story
    live = client.get(f"/v1/persons/{fabien}/timeline").json()
    then = client.get(f"/v1/persons/{fabien}/timeline", params={"as_of": first.isoformat()}).json()
    assert "time_travel" not in live and then["time_travel"]["until"]
    later = {e["event_id"] for e in live["entries"]} - {e["event_id"] for e in then["entries"]}
    assert len(later) == 2 and all(datetime.fromisoformat(e["occurred_at"]) <= first for e in then["entries"])
    history = client.get(f"/v1/persons/{fabien}/history", params={"as_of": third.isoformat()}).json()
    assert [f["function_id"] for f in history["functions"]] == [
        f["function_id"] for f in client.get(f"/v1/persons/{fabien}/history").json()["functions"]
    ]
    before_anything = client.get(f"/v1/persons/{fabien}", params={"as_of": "2001-01-01T00:00:00Z"})
    assert before_anything.status_code == 404


def test_an_answer_at_its_position_never_changes_even_when_late_events_arrive(client, story):
    fabien, (first, *_) = story
    asked = client.get(f"/v1/persons/{fabien}", params={"as_of": first.isoformat()}).json()
    position = ",".join(f"{where}:{offset}" for where, offset in asked["time_travel"]["at_position"].items())
    late = first - timedelta(milliseconds=5)  # happened before the instant, arrives now
    sent = client.post("/v1/events", json=sms(fabien, 9, late, "En retard"))
    assert sent.status_code == 202
    again = client.get(f"/v1/persons/{fabien}", params={"as_of": first.isoformat(), "at_position": position}).json()
    mine = {"min_position": sent.json()["positions"][-1]}  # read my write: the position waits for it
    now = client.get(f"/v1/persons/{fabien}", params={"as_of": first.isoformat(), **mine}).json()
    assert without(again, "freshness") == without(asked, "freshness")
    assert now["interactions"]["sms"] == asked["interactions"]["sms"] + 1  # the late event counts once arrived


def test_a_position_alone_keeps_only_the_events_before_it(client, story):
    fabien, _ = story
    live = client.get(f"/v1/persons/{fabien}").json()
    position = ",".join(f"{where}:{offset}" for where, offset in live["freshness"]["position"].items())
    sent = client.post("/v1/events", json=sms(fabien, 10, datetime.now(UTC), "Encore"))
    assert sent.status_code == 202
    assert (
        client.get(f"/v1/persons/{fabien}", params={"min_position": sent.json()["positions"][-1]}).json()[
            "interactions"
        ]
        != live["interactions"]
    )
    pinned = client.get(f"/v1/persons/{fabien}", params={"at_position": position}).json()
    assert pinned["interactions"] == live["interactions"] and pinned["time_travel"]["until"] is None


def test_an_analyst_travels_with_values_pseudonymised(client, story):
    fabien, (first, *_) = story
    body = client.get(f"/v1/persons/{fabien}", params={"as_of": first.isoformat()}, headers=bearer(Role.ANALYST)).json()
    assert body["given_name"] != "Fabien" and body["time_travel"]["until"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"as_of": "2026-11-30T14:05:00"}, "query.as_of"),  # no offset: which 14:05?
        ({"as_of": "yesterday"}, "query.as_of"),
        ({"at_position": "crossview.domain:0"}, "query.at_position"),
        ({"as_of": "9999-12-31T23:59:59-05:00"}, "query.as_of"),  # past year 9999 in UTC
        ({"as_of": "２０２６-11-30"}, "query.as_of"),  # fullwidth digits
        ({"at_position": "crossview.domain:0:３"}, "query.at_position"),
        ({"at_position": "crossview.domain:0:1,crossview.domain:0:2"}, "query.at_position"),  # which one?
        ({"at_position": "elsewhere.domain:0:1"}, "query.at_position"),  # a topic this log has not: never reached
        ({"at_position": "crossview.domain:6:1"}, "query.at_position"),  # six partitions: 0 to 5
    ],
)
def test_a_malformed_cut_is_a_422_naming_the_field(client, params, field):
    fabien = client.app.state.crossview.demo.fabien
    answer = client.get(f"/v1/persons/{fabien}", params=params)
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == field


def test_an_erased_person_is_not_shown_at_any_time(client, story):
    fabien, (first, *_) = story
    assert client.delete(f"/v1/persons/{fabien}").status_code == 200
    assert client.get(f"/v1/persons/{fabien}", params={"as_of": first.isoformat()}).status_code == 410
    assert client.get(f"/v1/persons/{fabien}/timeline", params={"as_of": first.isoformat()}).status_code == 410


def test_a_position_the_read_model_has_not_reached_is_refused(client):
    fabien = client.app.state.crossview.demo.fabien
    live = client.get(f"/v1/persons/{fabien}").json()
    ahead = ",".join(f"{where}:{offset + 1000}" for where, offset in live["freshness"]["position"].items())
    answer = client.get(f"/v1/persons/{fabien}", params={"at_position": ahead})
    assert answer.status_code == 409 and "min_position" in answer.json()["detail"]


def test_a_read_model_nobody_replayed_is_a_404(client):
    fabien = client.app.state.crossview.demo.fabien
    answer = client.get(f"/v1/persons/{fabien}", params={"model": "nobody_made_it"})
    assert answer.status_code == 404 and "crossview replay" in answer.json()["detail"]


def test_the_cut_reaches_the_folds_own_rules(client, story):
    """The view at a cut is built by the one fold: a Cut with the live position gives the live view."""
    fabien, _ = story
    store = client.app.state.crossview.store
    cut = Cut(None, store.position())
    checkpoint, entries = store.events_as_of(fabien, cut)
    assert checkpoint is None and len(entries) == store.person(fabien).events_applied


def test_the_roster_as_of_an_instant_holds_the_functions_recorded_by_then(client):
    demo = client.app.state.crossview.demo
    garden = demo.organisations["fabulous-garden"]
    before = datetime.now(UTC)
    time.sleep(0.01)
    claire = client.post("/v1/persons", json={"given_name": "Claire", "family_name": "Zola"}).json()["id"]
    given = client.post(
        f"/v1/persons/{claire}/functions",
        json={"organisation_id": garden, "title_code": "TREASURER", "entered_on": "2020-01-01"},
    )
    assert given.status_code == 201, given.text
    mine = {"min_position": given.json()["positions"][-1]}
    live = client.get(f"/v1/organisations/{garden}/people", params=mine).json()
    then = client.get(f"/v1/organisations/{garden}/people", params={"as_of": before.isoformat()}).json()
    now = client.get(f"/v1/organisations/{garden}/people", params={"as_of": datetime.now(UTC).isoformat()}).json()
    assert claire in {r["person_id"] for r in live["people"]} - {r["person_id"] for r in then["people"]}
    assert then["people"] and "time_travel" not in live and then["time_travel"]["until"]
    assert without(now, *LIVE_ONLY) == without(live, *LIVE_ONLY)


# --- the property, through the API -------------------------------------------------------------

MESSAGE = st.tuples(
    st.sampled_from(["sms", "email"]),
    st.integers(0, 2880),  # minutes into the two days before now
    st.sampled_from(["Bonjour", "STOP", "START", "delivered", "opened", "bounced", "unsubscribed"]),
    st.integers(0, 5),  # which message: status reports of one message share it
)


def interaction(fabien: str, n: int, kind: str, at: datetime, word: str, message: int) -> dict:
    if kind == "sms":  # a text from Fabien; the reports of one message share its provider id
        text = sms(fabien, n, at, word)
        return {**text, "id": f"SM-p-{n}", "data": {**text["data"], "provider_id": f"SM-p-{message}"}}
    return {
        "id": f"EM-p-{n}",
        "source": "test",
        "type": "crossview.interaction.email.v1",
        "subject": fabien,
        "time": at.isoformat(),
        "data": {
            "direction": "outbound",
            "provider": "sendgrid",
            "provider_id": f"sg-p-{message}",
            "status": word if word in ("delivered", "opened", "bounced", "unsubscribed") else "processed",
            "address": "fabien@fabulous-garden.example",
        },
    }


@pytest.fixture(scope="module")
def shared_client():
    with TestClient(create_app(lambda: embedded(Settings())), headers=EVERY_ROLE) as client:
        yield client


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=st.lists(MESSAGE, min_size=1, max_size=12), instants=st.lists(st.integers(-10, 2890), max_size=4))
def test_the_360_view_as_of_any_instant_is_the_pure_fold_of_the_events_up_to_it(shared_client, messages, instants):
    client = shared_client
    fabien = client.app.state.crossview.demo.fabien
    store = client.app.state.crossview.store
    base = datetime.now(UTC) - timedelta(days=2)
    first = len(store._by_person[fabien])
    batch = [
        interaction(fabien, first + n, kind, base + timedelta(minutes=minutes), word, message)
        for n, (kind, minutes, word, message) in enumerate(messages)
    ]
    sent = client.post("/v1/events", json=batch)
    assert sent.status_code == 202, sent.text
    mine = {"min_position": sent.json()["positions"][-1]}
    for minutes in instants:
        until = base + timedelta(minutes=minutes)
        body = client.get(f"/v1/persons/{fabien}", params={"as_of": until.isoformat(), **mine})
        folded = (
            pure_fold_at(client, fabien, until)
            if until >= min(e.occurred_at for e in store._by_person[fabien])
            else None
        )
        if folded is None:
            assert body.status_code == 404
            continue
        day = until.date()
        refs = store.reference_data(document_organisations(folded, day))
        colleagues = store.colleagues(document_organisations(folded, day), day, fabien, LINKS_SHOWN)
        # Journeys and offers as judged at that instant, by the catalogue of then.
        moment = moment_at(
            store, Cut(until), timedelta(minutes=client.app.state.crossview.settings.journey_stall_minutes)
        )
        want = json.loads(person_360(folded, refs, colleagues, day, FRESH, moment).model_dump_json())
        assert without(body.json(), *LIVE_ONLY) == without(want, *LIVE_ONLY)
    live = client.get(f"/v1/persons/{fabien}", params=mine).json()
    now = client.get(f"/v1/persons/{fabien}", params={"as_of": datetime.now(UTC).isoformat(), **mine}).json()
    assert without(now, *LIVE_ONLY) == without(live, *LIVE_ONLY)


def test_a_targeting_as_of_an_instant_reaches_the_population_of_then(client):
    demo = client.app.state.crossview.demo
    garden = demo.organisations["fabulous-garden"]
    selection = {"organisation_ids": [garden], "mode": "per_function"}
    before = datetime.now(UTC)
    time.sleep(0.01)
    claire = client.post("/v1/persons", json={"given_name": "Claire", "family_name": "Zola"}).json()["id"]
    given = client.post(
        f"/v1/persons/{claire}/functions",
        json={"organisation_id": garden, "title_code": "TREASURER", "entered_on": "2020-01-01"},
    )
    mine = {"min_position": given.json()["positions"][-1]}
    live = client.post("/v1/targetings", json=selection, params=mine).json()
    then = client.post("/v1/targetings", json={**selection, "as_of": before.isoformat()}).json()
    now = client.post("/v1/targetings", json={**selection, "as_of": datetime.now(UTC).isoformat()}).json()
    assert claire in {r["person_id"] for r in live["rows"]} - {r["person_id"] for r in then["rows"]}
    assert then["rows"] and then["time_travel"]["until"] and "time_travel" not in live
    assert without(now, *LIVE_ONLY) == without(live, *LIVE_ONLY)
    dated = client.post("/v1/targetings", json={**selection, "as_of": before.date().isoformat()}).json()
    assert "time_travel" not in dated and dated["count"] == live["count"]  # a date keeps its meaning
    wrong = client.post("/v1/targetings", json={**selection, "at_position": "nowhere"})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "body.at_position"
    for refused in (
        {"as_of": "2026-11-30T14:05:00"},  # no offset
        {"as_of": "2026-11-30T00:00:00"},  # no offset either, though it looks like a day
        {"as_of": 12345},  # a number is no instant
        {"as_of": "9999-12-31T23:59:59-05:00"},  # past year 9999 in UTC
        {"at_position": ""},
    ):
        answer = client.post("/v1/targetings", json={**selection, **refused})
        assert answer.status_code == 422, refused
        assert answer.json()["errors"][0]["field"] == f"body.{next(iter(refused))}", answer.json()


def test_a_join_travels_the_two_people_are_apart_before_it_and_one_after():
    settings = Settings(insecure_skip_signatures=True)
    with TestClient(create_app(lambda: embedded(settings)), headers=EVERY_ROLE) as client:
        _join_travels(client)


def _join_travels(client) -> None:
    fabien = client.app.state.crossview.demo.fabien
    text = "MessageSid=SM77&SmsStatus=received&From=%2B33699999999&To=%2B33140000000&Body=Bonjour"
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert client.post("/v1/ingest/twilio/sms", content=text, headers=form).status_code == 200
    store = client.app.state.crossview.store
    (provisional,) = [v.person_id for v in store._views.values() if v.provisional]
    time.sleep(0.01)
    before = datetime.now(UTC)
    time.sleep(0.01)
    joined = client.post(f"/v1/persons/{fabien}/joins", json={"absorbed_id": provisional})
    assert joined.status_code == 200, joined.text
    mine = {"min_position": joined.json()["positions"][-1]}
    after = client.get(f"/v1/persons/{provisional}", params=mine).json()
    apart = client.get(f"/v1/persons/{provisional}", params={"as_of": before.isoformat()}).json()
    fabien_then = client.get(f"/v1/persons/{fabien}", params={"as_of": before.isoformat()}).json()
    fabien_now = client.get(f"/v1/persons/{fabien}", params={"as_of": datetime.now(UTC).isoformat(), **mine}).json()
    assert after["person_id"] == fabien and apart["person_id"] == provisional and apart["provisional"]
    assert fabien_now["interactions"]["sms"] == fabien_then["interactions"]["sms"] + 1
