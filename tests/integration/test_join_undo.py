"""A join of two people with history on several channels, and its undo, through the real broker
and database: views, timelines and search follow both ways, nothing lost or counted twice."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from services.bootstrap import production
from services.http.app import create_app
from tests.live import ProjectorThread, caught_up, wait_until
from tests.scenario import Scenario
from tests.tokens import EVERY_ROLE

FIXTURES = Path(__file__).parents[1] / "fixtures"
FORM = {"content-type": "application/x-www-form-urlencoded"}


def test_a_join_of_two_histories_and_its_undo_on_postgres(settings, store):
    configured = settings.model_copy(update={"insecure_skip_signatures": True})
    with (
        ProjectorThread(configured),
        TestClient(create_app(lambda: production(configured)), headers=EVERY_ROLE) as client,
    ):
        scenario = Scenario(client)
        ids = scenario.build()
        fabien, garden = ids["fabien"], ids["fn"]["Fabulous Garden"]
        scenario.command(
            "put",
            f"/v1/persons/{fabien}/attributes/email",
            {"value": "fabien@fabulous-garden.example", "function_id": garden},
        )
        # Fabien's emails; an unknown caller texts and calls from a number Fabien never gave.
        sendgrid = client.post("/v1/ingest/sendgrid", content=(FIXTURES / "sendgrid" / "batch.json").read_bytes())
        assert sendgrid.status_code == 200
        for path, name in (("sms", "inbound_sms"), ("voice", "call_completed")):
            body = (FIXTURES / "twilio" / f"{name}.form").read_bytes()
            assert client.post(f"/v1/ingest/twilio/{path}", content=body, headers=FORM).status_code == 200
        wait_until(caught_up(store, configured), 60, "the projector")
        (caller,) = [r["person_id"] for r in client.get("/v1/search", params={"q": "+33612345678"}).json()["results"]]
        alone = {fabien: {"email": 1}, caller: {"sms": 1, "call": 1}}  # one email, eleven reports
        for person, interactions in alone.items():
            assert scenario.read("get", f"/v1/persons/{person}")["interactions"] == interactions

        scenario.command("post", f"/v1/persons/{fabien}/joins", {"absorbed_id": caller})
        joined = scenario.read("get", f"/v1/persons/{fabien}", params={"as_of": "2026-11-23"})
        assert joined["interactions"] == {"email": 1, "sms": 1, "call": 1}
        assert joined["functions"][0]["interactions"] == {"email": 1}
        timeline = scenario.read("get", f"/v1/persons/{caller}/timeline", params={"limit": 500})
        assert timeline["person_id"] == fabien
        assert sorted({e["channel"] for e in timeline["entries"] if e["channel"]}) == ["call", "email", "sms"]
        assert [r["person_id"] for r in client.get("/v1/search", params={"q": "+33612345678"}).json()["results"]] == [
            fabien
        ]

        scenario.command("delete", f"/v1/persons/{fabien}/joins/{caller}")
        for person, interactions in alone.items():
            view = scenario.read("get", f"/v1/persons/{person}")
            assert (view["person_id"], view["interactions"]) == (person, interactions)
        found = client.get("/v1/search", params={"q": "+33612345678"}).json()["results"]
        assert [r["person_id"] for r in found] == [caller]
