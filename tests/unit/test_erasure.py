"""Erasure and export on the embedded default: after an erasure nothing readable of the person is
left anywhere Crossview keeps data, and everybody else is as they were."""

import json

import pytest

from services.application.auth import Role
from tests.tokens import bearer

ADVISOR = bearer(Role.ADVISOR, subject="alice@advisors")
ADMIN = bearer(Role.ADMIN, subject="root@admins")
SECRETS = ("Fabien", "Bellemare", "fabien", "+33612345678", "STOP")


@pytest.fixture
def client(demo_client):
    return demo_client


@pytest.fixture
def demo(client):
    return client.app.state.crossview.demo


def everything_kept(client) -> str:
    """Every byte Crossview keeps in the embedded default: the log, the event store, the read models."""
    crossview = client.app.state.crossview
    log = crossview.ingest.publisher
    records = [r for topic in crossview.settings.event_topics for r in log.records(topic)]
    stored = crossview.commands.app.recorder._stored_events
    store = crossview.store
    return "\n".join(
        [
            *(repr((r.key, r.value, r.headers)) for r in records),
            *(repr(s.state) for s in stored),
            repr(store._views),
            repr([e.raw_data for e in store._entries.values()]),
        ]
    )


def test_the_export_holds_the_persons_data_and_is_on_their_trail(client, demo):
    fabien = str(demo.fabien)
    answer = client.get(f"/v1/persons/{fabien}/export", headers=ADMIN)
    assert answer.status_code == 200 and "attachment" in answer.headers["content-disposition"]
    document = answer.json()
    assert document["people"][0]["family_name"] == "Bellemare"
    assert {e["channel"] for e in document["timeline"]} >= {"sms", "email", "web", "call"}
    assert len(document["history"]) == 4
    kinds = [e["kind"] for e in client.get(f"/v1/persons/{fabien}/audit", headers=ADMIN).json()["entries"]]
    assert "export" in kinds
    assert client.get(f"/v1/persons/{fabien}/export", headers=ADVISOR).status_code == 403


def test_personal_fields_are_sealed_on_the_log(client, demo):
    crossview = client.app.state.crossview
    log = crossview.ingest.publisher
    values = b"".join(r.value for topic in crossview.settings.event_topics for r in log.records(topic))
    assert b"Bellemare" not in values and b"+33612345678" not in values
    view = client.get(f"/v1/persons/{demo.fabien}", headers=ADVISOR).json()
    assert view["family_name"] == "Bellemare"  # the projector unsealed them


def test_after_an_erasure_nothing_readable_of_the_person_is_left(client, demo):
    fabien = str(demo.fabien)
    claire = client.get("/v1/search", params={"q": "dubois"}, headers=ADVISOR).json()["results"][0]["person_id"]
    before = {claire: client.get(f"/v1/persons/{claire}", headers=ADVISOR).json()}
    assert fabien in json.dumps(before[claire]["links"])
    assert any(s in everything_kept(client) for s in SECRETS[:2])  # the read models held him in clear

    erased = client.delete(f"/v1/persons/{fabien}", headers=ADMIN)
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"] == [fabien] and erased.json()["purged"] is True

    kept = everything_kept(client)
    for secret in SECRETS:
        assert secret not in kept, secret
    gone = client.get(f"/v1/persons/{fabien}", headers=ADVISOR)
    assert gone.status_code == 410 and "Bellemare" not in gone.text
    assert client.get("/v1/search", params={"q": "bellemare"}, headers=ADVISOR).json()["results"] == []
    for person_id, view in before.items():  # everybody else as they were, but for Fabien in their links
        after = client.get(f"/v1/persons/{person_id}", headers=ADVISOR).json()
        assert fabien not in json.dumps(after["links"])
        assert {k: v for k, v in after.items() if k not in ("links", "freshness")} == {
            k: v for k, v in view.items() if k not in ("links", "freshness")
        }
    again = client.delete(f"/v1/persons/{fabien}", headers=ADMIN)
    assert again.status_code == 200 and again.json()["already"] is True
    trail = client.get(f"/v1/persons/{fabien}/audit", headers=ADMIN).json()["entries"]
    assert any(e["kind"] == "erasure" and e["actor"] == "root@admins" for e in trail)  # the trail survives


def test_his_number_is_free_for_whoever_uses_it_next(client, demo):
    client.delete(f"/v1/persons/{demo.fabien}", headers=ADMIN)
    crossview = client.app.state.crossview
    resolved, _ = crossview.commands.run(lambda app: app.resolve_contact_point("phone", "+33612345678"))
    assert str(resolved.person_id) != str(demo.fabien)


def test_only_admins_erase(client, demo):
    assert client.delete(f"/v1/persons/{demo.fabien}", headers=ADVISOR).status_code == 403
    assert client.get(f"/v1/persons/{demo.fabien}", headers=ADVISOR).status_code == 200
