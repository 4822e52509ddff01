"""Analysts read people pseudonymised: every personal value replaced by a stable, keyed pseudonym,
the rest (ids, functions, counts, statuses) as advisors see it; in clear with the personal-data grant."""

import json

import pytest

from services.application.auth import Role
from tests.tokens import bearer

ADVISOR, ANALYST = bearer(Role.ADVISOR), bearer(Role.ANALYST, subject="ana@analysts")
GRANTED = bearer(Role.ANALYST, Role.PERSONAL_DATA)
PERSONAL = ("Fabien", "Bellemare", "+33612345678", "fabien@fabulous-garden.example", "STOP", "Checkout")


@pytest.fixture
def client(demo_client):
    return demo_client


def masked(text: str) -> list[str]:
    return [value for value in PERSONAL if value in text]


@pytest.mark.parametrize(
    "path", ["/v1/persons/{id}", "/v1/persons/{id}/timeline?limit=500", "/v1/persons/{id}/history"]
)
def test_an_analyst_sees_the_same_answer_with_pseudonyms_for_personal_values(client, fabien, path):
    url = path.format(id=fabien)
    clear, seen = client.get(url, headers=ADVISOR), client.get(url, headers=ANALYST)
    assert clear.status_code == seen.status_code == 200
    assert masked(clear.text) or "history" in path  # there was something to hide
    assert masked(seen.text) == []
    clear_doc, seen_doc = clear.json(), seen.json()
    assert seen_doc.keys() == clear_doc.keys()
    if "interactions" in clear_doc:
        assert seen_doc["interactions"] == clear_doc["interactions"]
        assert [f["function_id"] for f in seen_doc["functions"]] == [f["function_id"] for f in clear_doc["functions"]]
        assert seen_doc["family_name"].startswith("~") and seen_doc["family_name"] != clear_doc["family_name"]


def test_pseudonyms_are_stable_so_analysts_can_still_count_and_join(client, fabien):
    first = client.get(f"/v1/persons/{fabien}", headers=ANALYST).json()
    again = client.get(f"/v1/persons/{fabien}", headers=bearer(Role.ANALYST, subject="another analyst")).json()
    assert first["family_name"] == again["family_name"]
    roster = client.post("/v1/targetings", json={"relationships": ["client"]}, headers=ANALYST).json()
    assert first["family_name"] in json.dumps(roster) and not masked(json.dumps(roster))


def test_the_personal_data_grant_shows_values_in_clear(client, fabien):
    assert client.get(f"/v1/persons/{fabien}", headers=GRANTED).json()["family_name"] == "Bellemare"


def test_analysts_cannot_search_people_by_name_nor_change_them(client, fabien):
    assert client.get("/v1/search", params={"q": "bellemare"}, headers=ANALYST).status_code == 403
    assert (
        client.put(
            f"/v1/persons/{fabien}/name", json={"given_name": "A", "family_name": "B"}, headers=ANALYST
        ).status_code
        == 403
    )


def test_an_analysts_reads_are_on_the_persons_trail(client, fabien):
    client.get(f"/v1/persons/{fabien}", headers=ANALYST)
    trail = client.get(f"/v1/persons/{fabien}/audit", headers=bearer(Role.ADMIN)).json()["entries"]
    assert any(e["actor"] == "ana@analysts" and e["roles"] == ["analyst"] for e in trail)
