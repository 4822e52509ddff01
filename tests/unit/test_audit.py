"""Who saw and changed whom: every read of a person's data and every change leaves a record, written
before the answer; an administrator reads a person's trail."""

import pytest

from channels.kafka import BrokerUnavailable
from services.application.auth import Role
from tests.tokens import bearer

ALICE = bearer(Role.ADVISOR, subject="alice@advisors")
ROOT = bearer(Role.ADMIN, subject="root@admins")


@pytest.fixture
def client(demo_client):
    return demo_client


def trail(client, person_id: str) -> list[dict]:
    answer = client.get(f"/v1/persons/{person_id}/audit", headers=ROOT)
    assert answer.status_code == 200, answer.text
    return answer.json()["entries"]


def test_an_advisors_reads_and_changes_of_fabien_are_on_his_trail(client, fabien):
    assert client.get(f"/v1/persons/{fabien}", headers=ALICE).status_code == 200
    assert client.get(f"/v1/persons/{fabien}/timeline", headers=ALICE).status_code == 200
    renamed = client.put(
        f"/v1/persons/{fabien}/name", json={"given_name": "Fabien", "family_name": "Bellemare"}, headers=ALICE
    )
    assert renamed.status_code == 200
    entries = trail(client, fabien)
    mine = [
        (e["actor"], e["roles"], e["kind"], e["operation"], e["method"]) for e in entries if e["actor"] != "root@admins"
    ]
    assert mine == [
        ("alice@advisors", ["advisor"], "change", "rename_person", "PUT"),
        ("alice@advisors", ["advisor"], "read", "timeline", "GET"),
        ("alice@advisors", ["advisor"], "read", "person_360", "GET"),
    ]
    assert all(e["client"] == "testclient" and e["via"] == "token" for e in entries)
    assert entries[0]["path"] == f"/v1/persons/{fabien}/audit"  # reading the trail is on it too


def test_a_trail_names_only_its_person(client, fabien):
    other = client.post("/v1/persons", json={"given_name": "Ada", "family_name": "Lovelace"}, headers=ALICE).json()
    assert client.get(f"/v1/persons/{other['id']}", headers=ALICE).status_code == 200
    assert {e["path"] for e in trail(client, fabien)} == {f"/v1/persons/{fabien}/audit"}


def test_reads_without_personal_data_leave_no_record_and_refused_callers_see_nothing(client, fabien):
    assert client.get("/v1/titles", headers=bearer(Role.ANALYST)).status_code == 200
    assert client.get(f"/v1/persons/{fabien}", headers=bearer(Role.ADAPTER)).status_code == 403
    assert client.get(f"/v1/persons/{fabien}/audit", headers=ALICE).status_code == 403  # the trail is admins'
    assert [e["operation"] for e in trail(client, fabien)] == ["person_audit"]


def test_nothing_is_disclosed_when_the_record_cannot_be_written(client, fabien):
    def broker_down(events):
        raise BrokerUnavailable("no broker")

    client.app.state.crossview.auditor._publish = broker_down
    answer = client.get(f"/v1/persons/{fabien}", headers=ALICE)
    assert answer.status_code == 503 and "Bellemare" not in answer.text
    renamed = client.put(f"/v1/persons/{fabien}/name", json={"given_name": "X", "family_name": "Y"}, headers=ALICE)
    assert renamed.status_code == 503
    assert client.app.state.crossview.store.person(fabien).family_name == "Bellemare"  # nothing changed
