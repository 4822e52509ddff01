"""A join and its undo through the real broker and database: the views, the timelines and search
follow both ways."""

from __future__ import annotations

from fastapi.testclient import TestClient

from services.api import create_app
from services.bootstrap import production
from tests.live import ProjectorThread, caught_up, wait_until
from tests.scenario import Scenario

SMS = "MessageSid=SMjoin{n}&SmsStatus=received&From=%2B33699999999&To=%2B33140000000&Body=Bonjour"


def test_a_join_undone_on_postgres_gives_each_person_their_own_history(settings, store):
    configured = settings.model_copy(update={"insecure_skip_signatures": True})
    with ProjectorThread(configured), TestClient(create_app(lambda: production(configured))) as client:
        scenario = Scenario(client)
        fabien = scenario.build()["fabien"]
        form = {"content-type": "application/x-www-form-urlencoded"}
        for n in range(2):
            assert client.post("/v1/ingest/twilio/sms", content=SMS.format(n=n), headers=form).status_code == 200
        wait_until(caught_up(store, configured), 60, "the projector")
        (stranger,) = [r["person_id"] for r in client.get("/v1/search", params={"q": "+33699999999"}).json()["results"]]

        scenario.command("post", f"/v1/persons/{fabien}/joins", {"absorbed_id": stranger})
        assert scenario.read("get", f"/v1/persons/{fabien}")["interactions"] == {"sms": 2}
        assert scenario.read("get", f"/v1/persons/{stranger}")["person_id"] == fabien

        scenario.command("delete", f"/v1/persons/{fabien}/joins/{stranger}")
        assert scenario.read("get", f"/v1/persons/{fabien}")["interactions"].get("sms", 0) == 0
        restored = scenario.read("get", f"/v1/persons/{stranger}")
        assert (restored["person_id"], restored["interactions"]) == (stranger, {"sms": 2})
        timeline = scenario.read("get", f"/v1/persons/{stranger}/timeline")["entries"]
        assert [e["channel"] for e in timeline].count("sms") == 2
        found = client.get("/v1/search", params={"q": "+33699999999"}).json()["results"]
        assert [r["person_id"] for r in found] == [stranger]
