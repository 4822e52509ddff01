"""What the advisor's console needs from the API: a reorder of what they see, a number found as it is
said, counts that match the timeline, and a demo that is the same at every start."""

import html
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from services.bootstrap import embedded
from services.http.app import create_app
from services.settings import Settings
from tests.tokens import EVERY_ROLE


@pytest.fixture
def client():
    with TestClient(create_app(lambda: embedded(Settings())), headers=EVERY_ROLE) as client:
        yield client


@pytest.fixture
def demo(client):
    return client.app.state.crossview.demo


def order_of(client, person_id: str) -> list[tuple[str, int | None]]:
    history = client.get(f"/v1/persons/{person_id}/history").json()["functions"]
    return sorted(((f["organisation"]["name"], f["priority"]) for f in history), key=lambda r: (r[1] is None, r[1]))


def test_the_active_functions_alone_can_be_reordered_and_the_ended_one_keeps_its_place_after_them(client, demo):
    f = demo.functions
    active = [f["croissance-plus"], f["fabulous-garden"], f["social-networks"]]
    answer = client.put(f"/v1/persons/{demo.fabien}/functions/order", json={"function_ids": active})
    assert answer.status_code == 200, answer.text
    view = client.get(f"/v1/persons/{demo.fabien}", params={"min_position": answer.json()["positions"][-1]}).json()
    assert view["main_function"]["title"]["label"] == "Treasurer"
    assert [(x["organisation"]["name"], x["priority"]) for x in view["functions"]] == [
        ("Croissance+", 1),
        ("Fabulous Garden", 2),
        ("Social Networks", 3),
    ]
    assert order_of(client, demo.fabien)[-1] == ("Delta Telecom", None)  # ended: no rank among the active


def test_every_function_can_still_be_listed_and_anything_else_is_refused_naming_the_active_ones(client, demo):
    f = demo.functions
    every = [f["social-networks"], f["delta-telecom"], f["croissance-plus"], f["fabulous-garden"]]
    assert client.put(f"/v1/persons/{demo.fabien}/functions/order", json={"function_ids": every}).status_code == 200
    assert [name for name, _ in order_of(client, demo.fabien)] == [
        "Social Networks",
        "Croissance+",
        "Fabulous Garden",
        "Delta Telecom",
    ]
    for bad in ([f["croissance-plus"], f["fabulous-garden"]], [*every[:3], every[0]], [f["delta-telecom"]]):
        refused = client.put(f"/v1/persons/{demo.fabien}/functions/order", json={"function_ids": bad})
        assert (refused.status_code, refused.json()["title"]) == (409, "NotAPermutationError")
        assert "active functions" in refused.json()["detail"]


@pytest.mark.parametrize(
    "typed", ["06 12 34 56 78", "06.12.34.56.78", "06-12-34-56-78", "+33 6 12 34 56 78", "0033612345678", "0612345678"]
)
def test_a_number_is_found_in_any_common_format(client, demo, typed):
    answer = client.get("/v1/search", params={"q": typed})
    assert answer.status_code == 200, answer.text
    assert [r["person_id"] for r in answer.json()["results"]] == [demo.fabien]
    assert answer.json()["query"] == typed


def test_a_number_in_another_country_format_follows_the_default_country_code():
    settings = Settings(default_country_code="44")
    with TestClient(create_app(lambda: embedded(settings)), headers=EVERY_ROLE) as client:
        assert client.get("/v1/search", params={"q": "06 12 34 56 78"}).json()["results"] == []
        assert len(client.get("/v1/search", params={"q": "+33 6 12 34 56 78"}).json()["results"]) == 1


def test_words_that_are_not_a_number_are_searched_as_they_are(client, demo):
    assert [r["person_id"] for r in client.get("/v1/search", params={"q": "Bellemare"}).json()["results"]] == [
        demo.fabien
    ]
    assert len(client.get("/v1/search", params={"q": "56 78"}).json()["results"]) == 1  # too short: two words


def sms(person_id: str, provider_id: str, status: str, n: int) -> dict:
    return {
        "id": f"{provider_id}-{status}",
        "source": "test",
        "type": "crossview.interaction.sms.v1",
        "subject": person_id,
        "time": datetime(2026, 11, 20, 10, n, tzinfo=UTC).isoformat(),
        "data": {
            "direction": "outbound",
            "provider": "twilio",
            "provider_id": provider_id,
            "status": status,
            "from_number": "+33140000000",
            "to_number": "+33612345678",
            "body": "Your appointment is confirmed",
        },
    }


def test_the_counts_are_interactions_one_per_message_and_equal_the_timeline_rows_per_channel(client, demo):
    # Delivery reports arrive out of order and twice: still two messages.
    reports = [
        sms(demo.fabien, "SM-a", "delivered", 3),
        sms(demo.fabien, "SM-a", "queued", 1),
        sms(demo.fabien, "SM-a", "sent", 2),
        sms(demo.fabien, "SM-b", "queued", 4),
        sms(demo.fabien, "SM-a", "sent", 2),
    ]
    answer = client.post("/v1/events", json=reports)
    assert answer.status_code == 202, answer.text
    view = client.get(f"/v1/persons/{demo.fabien}", params={"min_position": answer.json()["positions"][-1]}).json()
    rows = client.get(f"/v1/persons/{demo.fabien}/timeline", params={"limit": 500}).json()["entries"]
    per_channel: dict[str, int] = {}
    for row in rows:
        if row["channel"]:
            per_channel[row["channel"]] = per_channel.get(row["channel"], 0) + 1
    assert view["interactions"] == per_channel == {"sms": 3, "email": 1, "web": 3, "call": 1}


def test_the_demo_has_the_same_ids_at_every_start_and_its_interactions_lie_in_the_past():
    starts = []
    for _ in range(2):
        with TestClient(create_app(lambda: embedded(Settings())), headers=EVERY_ROLE) as client:
            demo = client.app.state.crossview.demo
            timeline = client.get(f"/v1/persons/{demo.fabien}/timeline").json()["entries"]
            starts.append((demo, sorted(e["event_id"] for e in timeline if e["channel"])))
            now = datetime.now(UTC)
            assert all(datetime.fromisoformat(e["occurred_at"]) < now for e in timeline if e["channel"])
    assert starts[0] == starts[1]


def test_the_consoles_cookie_signs_changes_only_with_the_consoles_header_and_never_outside_the_demo():
    with TestClient(create_app(lambda: embedded(Settings()))) as browser:
        assert browser.get("/", headers={"accept": "text/html"}, follow_redirects=False).headers["location"] == (
            "/sign-in?next=/"
        )
        assert browser.post("/v1/console/demo-session").status_code == 200  # the cookie is set
        fabien = browser.app.state.crossview.demo.fabien
        assert browser.get(f"/people/{fabien}").status_code == 200
        note = {"text": "Asked for a callback"}
        forged = browser.post(f"/v1/persons/{fabien}/notes", json=note)  # another site's form would look so
        assert forged.status_code == 403 and "x-crossview-console" in forged.json()["detail"]
        assert (
            browser.post(f"/v1/persons/{fabien}/notes", json=note, headers={"X-Crossview-Console": "1"}).status_code
            == 202
        )
    with TestClient(create_app(lambda: embedded(Settings(), with_demo=False))) as elsewhere:
        assert elsewhere.post("/v1/console/demo-session").status_code == 404


@pytest.mark.parametrize(
    ("asked", "kept"),
    [
        ("/people/abc?tab=timeline", "/people/abc?tab=timeline"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),  # a browser reads it as //evil.example
        ("/\t/evil.example", "/"),  # a browser drops the tab
        ("https://evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
def test_sign_in_sends_the_browser_back_only_to_a_path_of_this_site(asked, kept):
    with TestClient(create_app(lambda: embedded(Settings()))) as browser:
        page = browser.get("/sign-in", params={"next": asked}).text
        assert f'data-next="{html.escape(kept)}"' in page
